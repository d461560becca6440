//! `POST /cases/{id}/hearing`: a supervisor of the reviewing body's jurisdiction records a 听证 on
//! the open 复核; its days move the due date (`reviews::store::record_hearing`).

use super::cases::{ActionForm, case_page};
use crate::error::AppError;
use crate::followup::reviews::store;
use crate::followup::transitions::CaseError;
use crate::state::AppState;
use crate::web::form::{Errors, Form};
use crate::web::page::{Page, render_status};
use crate::web::{Ctx, redirect_with_flash};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;

fn date(errors: &mut Errors, field: &'static str, value: &str) -> NaiveDate {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").unwrap_or_else(|_| {
        errors.add(field, "请填写日期");
        NaiveDate::MIN
    })
}

pub async fn hearing(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Page {
    let user = ctx.user.clone().ok_or(AppError::Forbidden)?;
    let mut errors = Errors::default();
    let dates = (
        date(&mut errors, "hearing_from", &f.hearing_from),
        date(&mut errors, "hearing_to", &f.hearing_to),
    );
    if errors.is_empty() {
        let (mut tx, actor, keys) = (state.db.begin().await?, ctx.actor(), &*state.keys);
        let (now, rules) = (state.clock.now(), &state.config.case_rules);
        match store::record_hearing(&mut tx, id, &user, dates, &actor, keys, now, rules).await {
            Ok(due) => {
                tx.commit().await?;
                let said = format!(
                    "已记录听证，复核期限顺延至 {}。",
                    crate::clock::cn_date(due)
                );
                return Ok(redirect_with_flash(&state, &format!("/cases/{id}"), &said));
            }
            Err(CaseError::Refused(why)) => errors.add("action", why),
            Err(CaseError::Field(field, why)) => errors.add(field, why),
            Err(CaseError::App(e)) => return Err(e),
        }
    }
    let page = case_page(&state, &ctx, id, f, errors, "hearing").await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
