//! `POST /staff/visits/{id}/registrations/bulk`: 确认 the ticked registrations or every
//! confirmable one of the filtered list, or 驳回 the ticked ones with one reason after a
//! confirmation step (it works without JavaScript: the step is a page).

use crate::prepare::pages::triage_index::{list_page, list_url};
use crate::prepare::triage_bulk::{self, Bulk, codes, confirmable, summary};
use crate::prepare::triage_list::{Filter, filtered};
use crate::state::AppState;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BulkForm {
    /// The list's filter, as its query string: where to come back to.
    filter: String,
    /// "confirm" (ticked), "confirm_all" (the filtered list) or "reject" (ticked).
    action: String,
    reg: Vec<String>,
    reject_reason: String,
    /// "1" once the 驳回 was confirmed on its step.
    confirmed: String,
}

#[derive(Template)]
#[template(path = "prepare/registrations_reject.html")]
struct RejectStep {
    layout: Layout,
    visit_id: i64,
    back: String,
    filter: String,
    ids: Vec<i64>,
    codes: Vec<String>,
    reason: String,
}

pub async fn bulk(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(visit_id): Path<i64>,
    Form(f): Form<BulkForm>,
) -> Page {
    let filter: Filter = serde_urlencoded::from_str(&f.filter).unwrap_or_default();
    let (bulk, ids) = chosen(&state, visit_id, &filter, &f).await?;
    let mut errors = Errors::default();
    if ids.is_empty() {
        errors.add("reg", "请先勾选要处理的登记");
    }
    let reason = match bulk {
        Bulk::Reject => text(
            &mut errors,
            "reject_reason",
            "驳回理由",
            &f.reject_reason,
            1,
            500,
        ),
        Bulk::Confirm => String::new(),
    };
    if !errors.is_empty() {
        let page = list_page(&state, &ctx, visit_id, filter, errors).await?;
        let page = page.keeping(ids, f.reject_reason);
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    if bulk == Bulk::Reject && f.confirmed != "1" {
        return reject_step(&state, &ctx, visit_id, &filter, ids, reason).await;
    }
    let (actor, now) = (ctx.actor(), state.clock.now());
    let mut tx = state.db.begin().await?;
    let outcome = triage_bulk::apply(&mut tx, visit_id, &ids, bulk, &reason, &actor, now).await?;
    tx.commit().await?;
    let back = list_url(visit_id, &filter);
    Ok(redirect_with_flash(&state, &back, &summary(bulk, &outcome)))
}

/// The action asked for and the registrations it is for: the ticked ones, or for 确认全部 every
/// confirmable one of the filtered list.
async fn chosen(
    state: &AppState,
    visit_id: i64,
    filter: &Filter,
    f: &BulkForm,
) -> sqlx::Result<(Bulk, Vec<i64>)> {
    Ok(match f.action.as_str() {
        "confirm_all" => {
            let list = filtered(&state.db, &state.keys, visit_id, &filter.parse()).await?;
            (Bulk::Confirm, confirmable(&list))
        }
        "reject" => (Bulk::Reject, ticked(&f.reg)),
        _ => (Bulk::Confirm, ticked(&f.reg)),
    })
}

/// The ticked ids, those that are numbers.
fn ticked(reg: &[String]) -> Vec<i64> {
    reg.iter().filter_map(|r| r.trim().parse().ok()).collect()
}

/// Ask before a 驳回: it frees the places and tells each citizen.
async fn reject_step(
    state: &AppState,
    ctx: &Ctx,
    visit_id: i64,
    filter: &Filter,
    ids: Vec<i64>,
    reason: String,
) -> Page {
    let step = RejectStep {
        layout: ctx.layout("确认驳回"),
        visit_id,
        back: list_url(visit_id, filter),
        filter: filter.query(),
        codes: codes(&state.db, visit_id, &ids).await?,
        ids,
        reason,
    };
    Ok(render_status(StatusCode::OK, &step))
}
