//! `/lookup`: a citizen finds their registration with 登记编号 + 手机号码后四位, sees its status,
//! and may cancel it. A wrong pair and an unknown code get the very same answer.

use crate::prepare::booking;
use crate::prepare::registration;
use crate::public::registration_status::{
    LookupForm, Proven, StatusPage, find, limited, status_page,
};
use crate::state::AppState;
use crate::web::form::{Errors, Form};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "public/lookup.html")]
struct LookupPage {
    layout: Layout,
    form: LookupForm,
    errors: Errors,
}

pub async fn page(ctx: Ctx) -> Page {
    render(&LookupPage {
        layout: ctx.layout("登记查询"),
        form: LookupForm::default(),
        errors: Errors::default(),
    })
}

/// The same words and status for an unknown code and a wrong phone: nothing says the code exists.
fn not_found(ctx: &Ctx, form: LookupForm) -> Page {
    let mut errors = Errors::default();
    errors.add(
        "code",
        "未找到与该登记编号和手机号码后四位相符的登记，请核对后重试。",
    );
    Ok(render_status(
        StatusCode::NOT_FOUND,
        &LookupPage {
            layout: ctx.layout("登记查询"),
            form,
            errors,
        },
    ))
}

/// `POST /lookup` → the status page.
pub async fn lookup(State(state): State<AppState>, ctx: Ctx, Form(f): Form<LookupForm>) -> Page {
    if let Err(too_many) = limited(&state, &ctx).await {
        return Ok(too_many);
    }
    let Some(id) = find(&state, &f).await? else {
        return not_found(&ctx, f);
    };
    render(&status_page(&state, &ctx, id, &f, None).await?)
}

/// The status page's cancel button carries the proof; the confirmation page adds `confirm=yes`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CancelForm {
    code: String,
    phone_last4: String,
    confirm: String,
}

/// 确认取消: the registration's summary and the button that cancels it.
#[derive(Template)]
#[template(path = "public/cancel.html")]
struct ConfirmPage {
    layout: Layout,
    s: StatusPage,
}

const NOT_CANCELLABLE: &str = "该登记已无法取消（已取消、已接谈或接访日已到）。";

/// `POST /lookup/cancel`: the same proof again (carried by the status page); first the 确认取消
/// page, and only its confirming POST cancels (one tap must not undo a registration).
pub async fn cancel(State(state): State<AppState>, ctx: Ctx, Form(c): Form<CancelForm>) -> Page {
    if let Err(too_many) = limited(&state, &ctx).await {
        return Ok(too_many);
    }
    let f = LookupForm {
        code: c.code,
        phone_last4: c.phone_last4,
    };
    let id = match find(&state, &f).await? {
        Some(Proven::Registration(id)) => id,
        Some(Proven::Case(_)) => {
            return Ok(redirect_with_flash(&state, "/lookup", NOT_CANCELLABLE));
        }
        None => return not_found(&ctx, f),
    };
    if c.confirm != "yes" {
        let s = status_page(&state, &ctx, Proven::Registration(id), &f, None).await?;
        if !s.cancellable {
            return Ok(redirect_with_flash(&state, "/lookup", NOT_CANCELLABLE));
        }
        return render(&ConfirmPage {
            layout: ctx.layout("确认取消登记"),
            s,
        });
    }
    let mut tx = state.db.begin().await?;
    let done = booking::cancel(&mut tx, id, &ctx.actor(), state.clock.now()).await?;
    tx.commit().await?;
    let message = if done {
        format!("登记 {} 已取消。", registration::normalize_code(&f.code))
    } else {
        NOT_CANCELLABLE.to_owned()
    };
    Ok(redirect_with_flash(&state, "/lookup", &message))
}

#[derive(Template)]
#[template(path = "followup/document_print.html")]
struct DocumentPage {
    layout: Layout,
    back: String,
    d: crate::followup::documents::read::Document,
}

/// `POST /lookup/documents/{doc}`: a document addressed to the citizen, with the same proof as
/// the status page (a wrong one, or a document not theirs, answers like an unknown code).
pub async fn document(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::Path(doc): axum::extract::Path<i64>,
    Form(f): Form<LookupForm>,
) -> Page {
    if let Err(too_many) = limited(&state, &ctx).await {
        return Ok(too_many);
    }
    let found = match find(&state, &f).await? {
        Some(proven) => {
            let cases = proven.case_ids(&state).await?;
            crate::followup::documents::read::citizen_document(&state.db, &state.keys, &cases, doc)
                .await?
        }
        None => None,
    };
    let Some(d) = found else {
        return not_found(&ctx, f);
    };
    let layout = ctx.layout(d.kind.title());
    let back = format!("{}/lookup", layout.at);
    render(&DocumentPage { layout, back, d })
}
