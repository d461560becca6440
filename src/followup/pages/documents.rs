//! `/cases/{id}/documents/…`: a case's documents in writing — draft, edit, issue, correct,
//! deliver, print (DESIGN §4). Anyone who may see the case reads them; each kind is drafted and
//! issued by its own side (`rules::may_draft`).

use crate::clock::{china_date, china_minute};
use crate::error::AppError;
use crate::followup::case_row;
use crate::followup::documents::read::{self, Document, METHODS};
use crate::followup::documents::rules::{self, Kind};
use crate::followup::documents::store;
use crate::followup::state::Side;
use crate::state::AppState;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;

/// How the user stands to case `id`; 404 when they may not see it.
pub(super) async fn side(state: &AppState, ctx: &Ctx, id: i64) -> Result<Side, AppError> {
    let user = ctx.user.as_ref().ok_or(AppError::Forbidden)?;
    case_row::load(&state.db, id, user.jurisdiction_id)
        .await?
        .and_then(|row| row.side_of(user))
        .ok_or(AppError::NotFound)
}

/// The document, if the user sees its case and it belongs there; and whether they issue its kind.
pub(super) async fn document(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    doc: i64,
) -> Result<(Document, bool), AppError> {
    let side = side(state, ctx, id).await?;
    let d = read::load(&state.db, &state.keys, id, doc)
        .await?
        .ok_or(AppError::NotFound)?;
    let mine = rules::may_draft(d.kind, side);
    Ok((d, mine))
}

/// The document, for the side that issues its kind; 403 for the others who see it.
async fn own_document(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    doc: i64,
) -> Result<Document, AppError> {
    match document(state, ctx, id, doc).await? {
        (d, true) => Ok(d),
        (_, false) => Err(AppError::Forbidden),
    }
}

/// The kinds `side` may draft on a case, for the case page's 起草 form.
pub fn draftable(side: Side) -> Vec<(&'static str, &'static str)> {
    Kind::ALL
        .into_iter()
        .filter(|k| rules::may_draft(*k, side))
        .map(|k| (k.as_str(), k.title()))
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewForm {
    kind: String,
}

/// `POST /cases/{id}/documents`: a new draft of the chosen kind.
pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<NewForm>,
) -> Page {
    let side = side(&state, &ctx, id).await?;
    let kind = Kind::parse(&f.kind).ok_or(AppError::BadRequest("请选择文书种类".into()))?;
    if !rules::may_draft(kind, side) {
        return Err(AppError::Forbidden);
    }
    let supervisor_jurisdiction = ctx.root();
    let mut tx = state.db.begin().await?;
    let (keys, now) = (&*state.keys, state.clock.now());
    let drafted = store::draft(
        &mut tx,
        keys,
        id,
        kind,
        supervisor_jurisdiction,
        &ctx.actor(),
        now,
    )
    .await?
    .ok_or(AppError::Conflict(
        "该交办件没有可出具此文书的上级机关".into(),
    ))?;
    tx.commit().await?;
    let to = format!("/cases/{id}/documents/{drafted}");
    Ok(redirect_with_flash(
        &state,
        &to,
        "已按交办件生成草稿，请核对后印发。",
    ))
}

#[derive(Template)]
#[template(path = "followup/document.html")]
struct DocumentPage {
    layout: Layout,
    case_id: i64,
    d: Document,
    mine: bool,
    addressee: String,
    body: String,
    errors: Errors,
    methods: [(&'static str, &'static str); 4],
    today: String,
    hash: String,
    issued_at: String,
    attachments: super::attachments::Section,
}

async fn page(
    state: &AppState,
    ctx: &Ctx,
    case_id: i64,
    d: Document,
    mine: bool,
    errors: Errors,
) -> Result<DocumentPage, AppError> {
    let title = d.number.clone().map_or_else(
        || format!("{}（草稿）", d.kind.title()),
        |n| format!("{} {n}", d.kind.title()),
    );
    Ok(DocumentPage {
        attachments: super::attachments::section(
            state,
            case_id,
            Some(d.id),
            side(state, ctx, case_id).await?,
        )
        .await?,
        layout: ctx.layout(&title),
        case_id,
        addressee: d.addressee.clone(),
        body: d.body.clone(),
        hash: d.text_hash.as_deref().map(hex::encode).unwrap_or_default(),
        issued_at: d.issued_at.map(china_minute).unwrap_or_default(),
        d,
        mine,
        errors,
        methods: METHODS,
        today: china_date(state.clock.now()).to_string(),
    })
}

/// The document's page again with why an upload was refused beside its field (422).
pub(super) async fn refused_upload(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    doc: i64,
    why: &str,
) -> Page {
    let (d, mine) = document(state, ctx, id, doc).await?;
    let mut errors = Errors::default();
    errors.add("file", why);
    let p = page(state, ctx, id, d, mine, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
}

/// `GET /cases/{id}/documents/{doc}`.
pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(i64, i64)>,
) -> Page {
    let (d, mine) = document(&state, &ctx, id, doc).await?;
    render(&page(&state, &ctx, id, d, mine, Errors::default()).await?)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EditForm {
    addressee: String,
    body: String,
}

/// `POST /cases/{id}/documents/{doc}`: save the draft's text.
pub async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(i64, i64)>,
    Form(f): Form<EditForm>,
) -> Page {
    let d = own_document(&state, &ctx, id, doc).await?;
    let mut errors = Errors::default();
    let addressee = text(&mut errors, "addressee", "送达对象", &f.addressee, 1, 60);
    let body = text(&mut errors, "body", "正文", &f.body, 1, 5000);
    if !errors.is_empty() {
        let mut p = page(&state, &ctx, id, d, true, errors).await?;
        (p.addressee, p.body) = (f.addressee, f.body);
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p));
    }
    let mut tx = state.db.begin().await?;
    store::save(
        &mut tx,
        &state.keys,
        id,
        doc,
        &addressee,
        &body,
        &ctx.actor(),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/cases/{id}/documents/{doc}"),
        "草稿已保存。",
    ))
}

/// `POST /cases/{id}/documents/{doc}/issue`: number it and freeze it.
pub async fn issue(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(i64, i64)>,
) -> Page {
    let d = own_document(&state, &ctx, id, doc).await?;
    let mut tx = state.db.begin().await?;
    let (keys, now) = (&*state.keys, state.clock.now());
    let number = match store::issue(&mut tx, keys, id, doc, &ctx.actor(), now).await {
        // Not now for this case (a draft too early or too late): said beside the button.
        Err(AppError::Conflict(why)) => {
            let mut errors = Errors::default();
            errors.add("issue", why);
            let p = page(&state, &ctx, id, d, true, errors).await?;
            return Ok(render_status(StatusCode::CONFLICT, &p));
        }
        other => other?,
    };
    tx.commit().await?;
    let message = format!("已印发，文号 {number}。请记录送达。");
    Ok(redirect_with_flash(
        &state,
        &format!("/cases/{id}/documents/{doc}"),
        &message,
    ))
}

/// `POST /cases/{id}/documents/{doc}/correct`: a correction draft that will supersede it.
pub async fn correct(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(i64, i64)>,
) -> Page {
    own_document(&state, &ctx, id, doc).await?;
    let mut tx = state.db.begin().await?;
    let new = store::correct(
        &mut tx,
        &state.keys,
        id,
        doc,
        &ctx.actor(),
        state.clock.now(),
    )
    .await?;
    tx.commit().await?;
    let to = format!("/cases/{id}/documents/{new}");
    Ok(redirect_with_flash(
        &state,
        &to,
        "已生成更正文书草稿，印发后原文书即被替代。",
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeliveryForm {
    method: String,
    delivered_on: String,
    reference: String,
}

/// `POST /cases/{id}/documents/{doc}/deliveries`: record a 送达 (by SMS: send it now).
pub async fn deliver(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(i64, i64)>,
    Form(f): Form<DeliveryForm>,
) -> Page {
    let d = own_document(&state, &ctx, id, doc).await?;
    let today = china_date(state.clock.now());
    let mut errors = Errors::default();
    let Some((on, reference)) = checked_delivery(&f, today, d.issued_on, &mut errors) else {
        let p = page(&state, &ctx, id, d, true, errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p));
    };
    let service = store::Service {
        method: &f.method,
        delivered_on: on,
        reference: &reference,
    };
    let mut tx = state.db.begin().await?;
    store::deliver(&mut tx, id, doc, &service, &ctx.actor(), state.clock.now()).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/cases/{id}/documents/{doc}"),
        "送达已记录。",
    ))
}

/// The delivery form checked: a known method, a date between issuing and today (by SMS: today).
fn checked_delivery(
    f: &DeliveryForm,
    today: NaiveDate,
    issued_on: Option<NaiveDate>,
    errors: &mut Errors,
) -> Option<(NaiveDate, String)> {
    if !METHODS.iter().any(|(m, _)| *m == f.method) {
        errors.add("method", "请选择送达方式");
    }
    let on = match NaiveDate::parse_from_str(f.delivered_on.trim(), "%Y-%m-%d") {
        _ if f.method == "sms" => Some(today),
        Ok(on) if on <= today && issued_on.is_some_and(|i| on >= i) => Some(on),
        _ => {
            errors.add("delivered_on", "送达日期应在印发日期与今天之间");
            None
        }
    };
    let reference = text(
        errors,
        "reference",
        "备注（如挂号信单号）",
        &f.reference,
        0,
        60,
    );
    on.filter(|_| errors.is_empty()).map(|on| (on, reference))
}

#[derive(Template)]
#[template(path = "followup/document_print.html")]
struct PrintPage {
    layout: Layout,
    back: String,
    d: Document,
}

/// `GET /cases/{id}/documents/{doc}/print`: the A4 layout (a draft prints with 草稿 across it).
pub async fn print(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(i64, i64)>,
) -> Page {
    let (d, _) = document(&state, &ctx, id, doc).await?;
    render(&PrintPage {
        layout: ctx.layout(d.kind.title()),
        back: format!("/cases/{id}/documents/{doc}"),
        d,
    })
}
