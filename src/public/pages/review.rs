//! `POST /lookup/{case}/review`: the citizen asks for 复查 (or 复核) from the `/lookup` status
//! page, choosing the reviewing body. As with the rating, the form carries the proof again.

use crate::error::AppError;
use crate::followup::reviews::store;
use crate::followup::transitions::CaseError;
use crate::public::registration_status::{self as lookup, Draft};
use crate::state::AppState;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Page, render_status};
use crate::web::{Ctx, redirect_with_flash};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReviewForm {
    code: String,
    phone_last4: String,
    reasons: String,
    reviewer: String,
}

/// Check the form and, if it passes, record the request: the message for the citizen, or the
/// errors beside the fields.
async fn submit(
    state: &AppState,
    ctx: &Ctx,
    case_id: i64,
    f: &ReviewForm,
) -> Result<Result<String, Errors>, AppError> {
    let mut errors = Errors::default();
    let reasons = text(&mut errors, "reasons", "申请理由", &f.reasons, 1, 2000);
    let (now, rules, keys) = (state.clock.now(), &state.config.case_rules, &*state.keys);
    if let Some((field, why)) =
        store::citizen_refusal(&state.db, case_id, &f.reviewer, now, rules).await?
    {
        errors.add(field, why);
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let (mut tx, actor) = (state.db.begin().await?, ctx.actor());
    match store::request_online(
        &mut tx,
        case_id,
        &reasons,
        &f.reviewer,
        &actor,
        now,
        rules,
        keys,
    )
    .await
    {
        Ok(said) => {
            tx.commit().await?;
            return Ok(Ok(said));
        }
        Err(CaseError::Refused(why)) => errors.add("review", why),
        Err(CaseError::Field(field, why)) => errors.add(field, why),
        Err(CaseError::App(e)) => return Err(e),
    }
    Ok(Err(errors))
}

/// `POST /lookup/{case}/review`.
pub async fn request(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(case_code): Path<String>,
    Form(f): Form<ReviewForm>,
) -> Page {
    if let Err(too_many) = lookup::limited(&state, &ctx).await {
        return Ok(too_many);
    }
    let (proof, reg, case_id) =
        lookup::proven_case(&state, &f.code, &f.phone_last4, &case_code).await?;
    let errors = match submit(&state, &ctx, case_id, &f).await? {
        Ok(said) => return Ok(redirect_with_flash(&state, "/lookup", &said)),
        Err(errors) => errors,
    };
    let draft = Draft {
        case_code,
        reasons: f.reasons,
        reviewer: f.reviewer,
        errors,
        ..Draft::default()
    };
    let page = lookup::status_page(&state, &ctx, reg, &proof, Some(draft)).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
