//! `/staff/visits/{id}/registrations/{reg}`: triage of one registration, its actions (unmask,
//! category, confirm, reject, merge, screening decisions) and the way to the next one of the list.
//! Personal numbers are shown by their stored masks; only the audited unmask decrypts.

use crate::clock::china_minute;
use crate::error::AppError;
use crate::prepare::lifecycle::staff_status_label as status_label;
use crate::prepare::registration::{channel_label, window_label};
use crate::prepare::registration_texts;
use crate::prepare::triage_actions::{self as actions, CategoryChange, MergeRefused};
use crate::prepare::triage_list::*;
use crate::state::AppState;
use crate::web::auth::Role;
use crate::web::form::Choice;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use chrono::{DateTime, Utc};
use serde::Deserialize;

struct FlagView {
    id: i64,
    kind: String,
    detail: String,
    decision: String,
    note: String,
    decided: String,
    related_code: String,
    related_id: i64,
}

impl FlagView {
    fn label(&self) -> &'static str {
        flag_label(&self.kind)
    }
    fn decision_label(&self) -> &'static str {
        decision_label(&self.decision)
    }
}

struct Linked {
    id: i64,
    code: String,
}

#[derive(Template)]
#[template(path = "prepare/registration.html")]
struct DetailPage {
    layout: Layout,
    visit_id: i64,
    visit_title: String,
    id: i64,
    code: String,
    channel: String,
    name: String,
    id_mask: String,
    phone_mask: String,
    address: String,
    township: String,
    village: String,
    persons: i32,
    representatives: String,
    category: String,
    grievance: String,
    window: String,
    status: String,
    reject_reason: String,
    room: String,
    queue_number: String,
    expected_at: String,
    consent_at: String,
    created_at: String,
    updated_at: String,
    checked_in_at: String,
    called_at: String,
    created_by: String,
    merged_into: Option<Linked>,
    merged_from: Vec<Linked>,
    survey_item: Option<(i64, String)>,
    flags: Vec<FlagView>,
    candidates: Vec<Linked>,
    categories: Vec<Choice>,
    /// Staff act; a supervisor reads (and may unmask).
    can_act: bool,
    can_unmask: bool,
    /// The clear value of the unmask just asked for: (label, value), shown on this response only.
    unmasked: Option<(&'static str, String)>,
    form: ActionForm,
    errors: Errors,
    flag_error: Option<(i64, String)>,
    /// Its place in the list it was opened from.
    nav: Option<Nav>,
}

/// Where a registration stands in the filtered list, and the links around it.
struct Nav {
    position: usize,
    total: usize,
    prev: Option<String>,
    next: Option<String>,
    /// The next one's id and the filter, carried by 确认 to go on to it.
    after: Option<i64>,
    filter: String,
    list: String,
}

impl DetailPage {
    fn status_label(&self) -> &'static str {
        status_label(&self.status)
    }
    fn channel_label(&self) -> &'static str {
        channel_label(&self.channel)
    }
    fn open_for_triage(&self) -> bool {
        open_for_triage(&self.status)
    }
    fn flag_error_for(&self, flag: &i64) -> &str {
        match &self.flag_error {
            Some((id, m)) if id == flag => m,
            _ => "",
        }
    }
    fn flag_note_for(&self, flag: &FlagView) -> String {
        match &self.flag_error {
            Some((id, _)) if *id == flag.id => self.form.note.clone(),
            _ => flag.note.clone(),
        }
    }
}

/// Every action's fields; each handler reads its own.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ActionForm {
    field: String,
    category_id: String,
    reason: String,
    into: String,
    decision: String,
    note: String,
    /// 确认 from the list: the next registration and the list's filter.
    after: String,
    filter: String,
}

#[derive(Default)]
struct Extra {
    form: ActionForm,
    errors: Errors,
    flag_error: Option<(i64, String)>,
    unmasked: Option<(&'static str, String)>,
}

/// One field's error.
fn field_error(field: &'static str, message: &str) -> Errors {
    let mut errors = Errors::default();
    errors.add(field, message);
    errors
}

impl Extra {
    /// The action form refused, with its field errors.
    fn refused(form: ActionForm, errors: Errors) -> Self {
        Extra {
            form,
            errors,
            ..Extra::default()
        }
    }
}

fn minute(t: Option<DateTime<Utc>>) -> String {
    t.map(china_minute).unwrap_or_default()
}

async fn detail_page(
    state: &AppState,
    ctx: &Ctx,
    visit_id: i64,
    reg_id: i64,
    extra: Extra,
) -> Result<DetailPage, AppError> {
    let visit_title = visit_title(&state.db, visit_id).await?;
    let r = sqlx::query!(
        r#"SELECT r.id, r.code, r.channel, r.id_number_mask, r.phone_mask, r.township, r.village,
                  r.persons, r.category_id, r.status, r.reject_reason, r.queue_number,
                  r.expected_at, r.consent_at, r.created_at, r.updated_at, r.checked_in_at, r.called_at, r.id_number_index,
                  COALESCE(p.name || ' / ', '') || c.name AS "category!",
                  w.starts_at AS "w_start?", w.ends_at AS "w_end?", rm.name AS "room?",
                  m.id AS "merged_id?", m.code AS "merged_code?",
                  s.id AS "survey_id?", s.summary AS "survey_summary?",
                  u.display_name AS "created_by?"
           FROM registrations r
           JOIN categories c ON c.id = r.category_id
           LEFT JOIN categories p ON p.id = c.parent_id
           LEFT JOIN reception_windows w ON w.id = r.window_id
           LEFT JOIN rooms rm ON rm.id = r.room_id
           LEFT JOIN registrations m ON m.id = r.merged_into_id
           LEFT JOIN survey_items s ON s.id = r.survey_item_id
           LEFT JOIN users u ON u.id = r.created_by
           WHERE r.visit_id = $1 AND r.id = $2"#,
        visit_id,
        reg_id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    let texts = registration_texts::open(&state.db, &state.keys, r.id).await?;
    let flags = sqlx::query!(
        r#"SELECT f.id, f.kind, f.detail, f.decision, f.note, f.decided_at, u.display_name AS "decided_by?",
                  rr.id AS "related_id?", rr.code AS "related_code?"
           FROM screening_flags f
           LEFT JOIN users u ON u.id = f.decided_by
           LEFT JOIN registrations rr ON rr.id = f.related_registration_id AND rr.visit_id = $2
           WHERE f.registration_id = $1 ORDER BY f.id"#,
        reg_id,
        visit_id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|f| FlagView {
        id: f.id,
        kind: f.kind,
        detail: f.detail,
        decision: f.decision,
        note: f.note,
        decided: match (f.decided_at, f.decided_by) {
            (Some(at), Some(by)) => format!("{by} · {}", china_minute(at)),
            _ => String::new(),
        },
        related_code: f.related_code.unwrap_or_default(),
        related_id: f.related_id.unwrap_or_default(),
    })
    .collect();
    let merged_from = sqlx::query_as!(
        Linked,
        "SELECT id, code FROM registrations WHERE merged_into_id = $1 ORDER BY id",
        reg_id
    )
    .fetch_all(&state.db)
    .await?;
    // Same ID number in this visit (blind index), still active: the likely merge targets.
    let candidates = sqlx::query_as!(
        Linked,
        "SELECT id, code FROM registrations
         WHERE visit_id = $1 AND id <> $2 AND id_number_index = $3 AND status NOT IN ('cancelled', 'rejected') ORDER BY id",
        visit_id,
        reg_id,
        r.id_number_index
    )
    .fetch_all(&state.db)
    .await?;
    let role = ctx.user.as_ref().map(|u| u.role);
    let form = if extra.errors.is_empty() && extra.flag_error.is_none() {
        ActionForm {
            category_id: r.category_id.to_string(),
            ..extra.form
        }
    } else {
        extra.form
    };
    Ok(DetailPage {
        layout: ctx.layout(&format!("来访登记 {}", r.code)),
        visit_id,
        visit_title,
        id: r.id,
        code: r.code,
        channel: r.channel,
        name: texts.name,
        id_mask: r.id_number_mask,
        phone_mask: r.phone_mask.unwrap_or_default(),
        address: texts.address,
        township: r.township,
        village: r.village,
        persons: r.persons,
        representatives: texts.representatives.join("、"),
        category: r.category,
        grievance: texts.grievance,
        window: match (r.w_start, r.w_end) {
            (Some(s), Some(e)) => window_label(s, e),
            _ => String::new(),
        },
        status: r.status,
        reject_reason: r.reject_reason.unwrap_or_default(),
        room: r.room.unwrap_or_default(),
        queue_number: r.queue_number.map(|n| n.to_string()).unwrap_or_default(),
        expected_at: minute(r.expected_at),
        consent_at: china_minute(r.consent_at),
        created_at: china_minute(r.created_at),
        updated_at: china_minute(r.updated_at),
        checked_in_at: minute(r.checked_in_at),
        called_at: minute(r.called_at),
        created_by: r.created_by.unwrap_or_default(),
        merged_into: r
            .merged_id
            .zip(r.merged_code)
            .map(|(id, code)| Linked { id, code }),
        merged_from,
        survey_item: r.survey_id.zip(r.survey_summary),
        flags,
        candidates,
        categories: category_choices(&state.db).await?,
        can_act: role == Some(Role::Staff),
        can_unmask: role.is_some_and(may_unmask),
        unmasked: extra.unmasked,
        form,
        errors: extra.errors,
        flag_error: extra.flag_error,
        nav: None,
    })
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, reg_id)): Path<(i64, i64)>,
    Query(filter): Query<Filter>,
) -> Page {
    let mut page = detail_page(&state, &ctx, visit_id, reg_id, Extra::default()).await?;
    page.nav = nav(&state, visit_id, reg_id, &filter).await?;
    Ok(render_status(StatusCode::OK, &page))
}

/// The registration's place in the list under `filter`; None when it is not in it.
async fn nav(
    state: &AppState,
    visit_id: i64,
    reg_id: i64,
    filter: &Filter,
) -> Result<Option<Nav>, AppError> {
    let p = filter.parse();
    let list = listed(
        matching(&state.db, &state.keys, visit_id, &p).await?,
        p.status,
    );
    let Some((position, prev, next)) = neighbours(&list, reg_id) else {
        return Ok(None);
    };
    let query = filter.query();
    let href = |id: i64| format!("{}?{query}", detail_url(visit_id, id));
    Ok(Some(Nav {
        position,
        total: list.len(),
        prev: prev.map(href),
        next: next.map(href),
        after: next,
        list: format!("/staff/visits/{visit_id}/registrations?{query}"),
        filter: query,
    }))
}

/// Re-show the detail page with the user's input and errors (422).
async fn invalid(state: &AppState, ctx: &Ctx, visit_id: i64, reg_id: i64, extra: Extra) -> Page {
    let page = detail_page(state, ctx, visit_id, reg_id, extra).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

fn detail_url(visit_id: i64, reg_id: i64) -> String {
    format!("/staff/visits/{visit_id}/registrations/{reg_id}")
}

/// 查看完整身份证号 / 手机号: decrypt one field, audit it, and show it on this response only.
pub async fn unmask(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, reg_id)): Path<(i64, i64)>,
    Form(f): Form<ActionForm>,
) -> Page {
    if !ctx.user.as_ref().is_some_and(|u| may_unmask(u.role)) {
        return Err(AppError::Forbidden);
    }
    let (label, value) = actions::unmask(
        &state.db,
        &state.keys,
        visit_id,
        reg_id,
        &f.field,
        &ctx.actor(),
    )
    .await?;
    let page = detail_page(
        &state,
        &ctx,
        visit_id,
        reg_id,
        Extra {
            unmasked: Some((label, value)),
            ..Extra::default()
        },
    )
    .await?;
    let mut response = render_status(StatusCode::OK, &page);
    // The clear value must not stay in a cache or come back with the back button.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

pub async fn change_category(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, reg_id)): Path<(i64, i64)>,
    Form(f): Form<ActionForm>,
) -> Page {
    let category = f.category_id.trim().parse::<i64>().ok();
    let mut tx = state.db.begin().await?;
    let done = actions::change_category(&mut tx, visit_id, reg_id, category, &ctx.actor()).await?;
    let message = match done {
        CategoryChange::Unknown => {
            drop(tx);
            let errors = field_error("category_id", "请选择问题类别");
            return invalid(&state, &ctx, visit_id, reg_id, Extra::refused(f, errors)).await;
        }
        CategoryChange::Unchanged => "问题类别未变化。",
        CategoryChange::Changed => "已修改问题类别。",
    };
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &detail_url(visit_id, reg_id),
        message,
    ))
}

pub async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, reg_id)): Path<(i64, i64)>,
    Form(f): Form<ActionForm>,
) -> Page {
    let mut tx = state.db.begin().await?;
    actions::confirm(&mut tx, visit_id, reg_id, &ctx.actor()).await?;
    tx.commit().await?;
    // Opened from the list: on to the next one of it, the filter kept.
    let to = match f.after.trim().parse::<i64>() {
        Ok(next) => {
            let filter: Filter = serde_urlencoded::from_str(&f.filter).unwrap_or_default();
            format!("{}?{}", detail_url(visit_id, next), filter.query())
        }
        Err(_) => detail_url(visit_id, reg_id),
    };
    Ok(redirect_with_flash(&state, &to, "已确认该登记。"))
}

pub async fn reject(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, reg_id)): Path<(i64, i64)>,
    Form(f): Form<ActionForm>,
) -> Page {
    let mut errors = Errors::default();
    let reason = text(&mut errors, "reason", "驳回理由", &f.reason, 1, 500);
    if !errors.is_empty() {
        return invalid(&state, &ctx, visit_id, reg_id, Extra::refused(f, errors)).await;
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    actions::reject(&mut tx, visit_id, reg_id, &reason, &ctx.actor(), now).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &detail_url(visit_id, reg_id),
        "已驳回该登记，其占用的接访名额已释放。",
    ))
}

/// Merge a duplicate (this registration) into another registration of the same visit, by code.
pub async fn merge(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, reg_id)): Path<(i64, i64)>,
    Form(f): Form<ActionForm>,
) -> Page {
    let (actor, now) = (ctx.actor(), state.clock.now());
    let mut tx = state.db.begin().await?;
    match actions::merge(&mut tx, visit_id, reg_id, &f.into, &actor, now).await? {
        Ok((code, target)) => {
            tx.commit().await?;
            let message = format!("已将重复登记 {code} 合并到本登记。");
            Ok(redirect_with_flash(
                &state,
                &detail_url(visit_id, target),
                &message,
            ))
        }
        Err(MergeRefused(message)) => {
            drop(tx);
            let errors = field_error("into", message);
            invalid(&state, &ctx, visit_id, reg_id, Extra::refused(f, errors)).await
        }
    }
}

/// 确认 or 排除 one screening flag; 排除 needs a note.
pub async fn decide_flag(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, reg_id, flag_id)): Path<(i64, i64, i64)>,
    Form(f): Form<ActionForm>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let flag = actions::lock_flag(&mut tx, visit_id, reg_id, flag_id).await?;
    let (note, problem) = flag_decision(&f);
    if let Some(message) = problem {
        drop(tx);
        let extra = Extra {
            form: f,
            flag_error: Some((flag_id, message)),
            ..Extra::default()
        };
        return invalid(&state, &ctx, visit_id, reg_id, extra).await;
    }
    let (user, now) = (ctx.user.as_ref().map(|u| u.id), state.clock.now());
    actions::decide_flag(&mut tx, &flag, &f.decision, &note, user, now, &ctx.actor()).await?;
    tx.commit().await?;
    let message = if f.decision == "confirmed" {
        "已确认该筛查提示。"
    } else {
        "已排除该筛查提示。"
    };
    Ok(redirect_with_flash(
        &state,
        &detail_url(visit_id, reg_id),
        message,
    ))
}

/// The note of a 确认/排除, and what is wrong with the form (排除 needs a note).
fn flag_decision(f: &ActionForm) -> (String, Option<String>) {
    let mut errors = Errors::default();
    let note = text(&mut errors, "note", "说明", &f.note, 0, 500);
    let problem = match f.decision.as_str() {
        "confirmed" | "overridden" if !errors.is_empty() => Some(errors.get("note").to_owned()),
        "overridden" if note.is_empty() => Some("排除须填写理由".to_owned()),
        "confirmed" | "overridden" => None,
        _ => Some("请选择确认或排除".to_owned()),
    };
    (note, problem)
}
