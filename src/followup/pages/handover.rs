//! 离任交接 `/leaders/{id}/handover`: every open case a departing leader owns moves to a successor
//! in one transaction (`transitions::hand_over`), with a record of exactly what moved.

use crate::error::AppError;
use crate::followup::handover::{self, OpenCase, Record};
use crate::followup::transitions::{self, Handover};
use crate::state::AppState;
use crate::web::form::{Choice, opt_id};
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct HandoverForm {
    successor_id: String,
    note: String,
}

#[derive(Template)]
#[template(path = "followup/handover.html")]
struct HandoverPage {
    layout: Layout,
    leader_id: i64,
    leader: String,
    open: Vec<OpenCase>,
    successors: Vec<Choice>,
    records: Vec<Record>,
    form: HandoverForm,
    errors: Errors,
}

async fn page(
    state: &AppState,
    ctx: &Ctx,
    leader_id: i64,
    form: HandoverForm,
    errors: Errors,
) -> Result<HandoverPage, AppError> {
    let within = ctx.user.as_ref().and_then(|u| u.jurisdiction_id);
    let leader = handover::leader_name(&state.db, leader_id, within)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(HandoverPage {
        layout: ctx.layout(&format!("离任交接：{leader}")),
        leader_id,
        leader,
        open: handover::open_cases(&state.db, leader_id).await?,
        successors: handover::successors(&state.db, leader_id, within).await?,
        records: handover::records(&state.db, leader_id).await?,
        form,
        errors,
    })
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(&page(&state, &ctx, id, HandoverForm::default(), Errors::default()).await?)
}

pub async fn perform(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(from): Path<i64>,
    Form(f): Form<HandoverForm>,
) -> Page {
    let within = ctx
        .user
        .as_ref()
        .ok_or(AppError::Forbidden)?
        .jurisdiction_id;
    let mut errors = Errors::default();
    let note = text(&mut errors, "note", "交接说明", &f.note, 0, 1000);
    let to = match opt_id(&f.successor_id) {
        Some(to) if transitions::successor_ok(&state.db, from, to, within).await? => Some(to),
        _ => {
            errors.add("successor_id", "请选择接任领导（不能是本人）");
            None
        }
    };
    let Some(to) = to.filter(|_| errors.is_empty()) else {
        let p = page(&state, &ctx, from, f, errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p));
    };
    let h = Handover {
        from,
        to,
        note: &note,
        within,
    };
    let mut tx = state.db.begin().await?;
    let moved =
        transitions::hand_over(&mut tx, &h, &ctx.actor(), state.clock.now(), &state.keys).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/leaders/{from}/handover"),
        &format!("已完成离任交接，移交交办件 {} 件。", moved.len()),
    ))
}
