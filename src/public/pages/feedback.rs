//! `POST /lookup/{case}/feedback`: the citizen rates a closed case from the `/lookup` status
//! page. There is no session, so the form carries the registration code and the phone's last 4
//! digits again.

use crate::error::AppError;
use crate::followup::transitions::{self, CaseError, RATINGS, Rating};
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
pub struct FeedbackForm {
    code: String,
    phone_last4: String,
    rating: String,
    comment: String,
}

/// The rating and comment checked, and whether the case may be rated now (its refusal beside the
/// rating).
async fn validate(
    state: &AppState,
    case_id: i64,
    f: &FeedbackForm,
) -> Result<(String, Errors), AppError> {
    let mut errors = Errors::default();
    if !RATINGS.contains(&f.rating.as_str()) {
        errors.add("rating", "请选择满意、基本满意或不满意");
    }
    let comment = text(&mut errors, "comment", "意见建议", &f.comment, 0, 1000);
    let rules = &state.config.case_rules;
    match transitions::may_rate(&state.db, case_id, state.clock.now(), rules).await {
        Err(CaseError::Refused(why)) => errors.add("rating", why),
        other => drop(other.map_err(AppError::from)?),
    }
    Ok((comment, errors))
}

/// `POST /lookup/{case}/feedback`.
pub async fn rate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(case_code): Path<String>,
    Form(f): Form<FeedbackForm>,
) -> Page {
    if let Err(too_many) = lookup::limited(&state, &ctx).await {
        return Ok(too_many);
    }
    let (proof, proven, case_id) =
        lookup::proven_case(&state, &f.code, &f.phone_last4, &case_code).await?;
    let (now, rules, keys) = (state.clock.now(), &state.config.case_rules, &*state.keys);
    let (comment, errors) = validate(&state, case_id, &f).await?;
    if !errors.is_empty() {
        let draft = Draft {
            case_code,
            rating: f.rating,
            comment: f.comment,
            errors,
            ..Draft::default()
        };
        let page = lookup::status_page(&state, &ctx, proven, &proof, Some(draft)).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let rating = Rating {
        rating: &f.rating,
        comment: &comment,
    };
    let mut tx = state.db.begin().await?;
    let said = transitions::rate(&mut tx, case_id, &rating, &ctx.actor(), now, rules, keys).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(&state, "/lookup", &said))
}
