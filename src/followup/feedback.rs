//! The citizen's rating (评价) of a closed case, from the `/lookup` status page: there is no
//! session, so the form carries the registration code and the phone's last 4 digits again.

use crate::audit::{self, Entry};
use crate::error::AppError;
use crate::followup::cases::{self, STALE};
use crate::followup::state::{self, Action, Party, Side};
use crate::public::registration_status::{self as lookup, LookupForm};
use crate::state::AppState;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Page, render_status};
use crate::web::{Ctx, redirect_with_flash};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

pub const RATINGS: [&str; 3] = ["satisfied", "basically_satisfied", "dissatisfied"];

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FeedbackForm {
    code: String,
    phone_last4: String,
    rating: String,
    comment: String,
}

/// A refused rating form, shown again under its case.
#[derive(Default)]
pub struct Draft {
    pub case_code: String,
    pub rating: String,
    pub comment: String,
    pub errors: Errors,
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
    let proof = LookupForm {
        code: f.code.clone(),
        phone_last4: f.phone_last4.clone(),
    };
    let Some(reg) = lookup::find(&state, &proof).await? else {
        return Err(AppError::NotFound);
    };
    // The case must come from this registration: the proof opens nothing else.
    let case_id = sqlx::query_scalar!(
        "SELECT c.id FROM cases c JOIN issues i ON i.id = c.issue_id JOIN receptions rc ON rc.id = i.reception_id
         WHERE c.code = $1 AND rc.registration_id = $2",
        case_code,
        reg
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    let row = cases::load(&state.db, case_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let mut errors = Errors::default();
    if !RATINGS.contains(&f.rating.as_str()) {
        errors.add("rating", "请选择满意、基本满意或不满意");
    }
    let comment = text(&mut errors, "comment", "意见建议", &f.comment, 0, 1000);
    let facts = row.facts(crate::clock::china_date(now), &state.config.case_rules);
    if let Err(refusal) = state::next(
        row.state(),
        Action::Rate,
        &Party::new(Side::Citizen),
        &facts,
    ) {
        errors.add("rating", refusal.0);
    }
    if !errors.is_empty() {
        let draft = Draft {
            case_code,
            rating: f.rating,
            comment: f.comment,
            errors,
        };
        let page = lookup::status_page(&state, &ctx, reg, &proof, Some(draft)).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let mut tx = state.db.begin().await?;
    let n = sqlx::query!(
        "UPDATE cases SET status = 'rated', rating = $3 WHERE id = $1 AND version = $2",
        case_id,
        row.version,
        f.rating
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AppError::Conflict(STALE.into()));
    }
    sqlx::query!("INSERT INTO feedback (case_id, rating, comment, channel, at) VALUES ($1, $2, $3, 'online', $4)", case_id, f.rating, comment, now)
        .execute(&mut *tx)
        .await?;
    cases::event(
        &mut *tx,
        case_id,
        "rated",
        None,
        now,
        &comment,
        json!({ "rating": f.rating, "channel": "online" }),
    )
    .await?;
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("case.rate")
            .on("case", case_id)
            .detail(json!({ "rating": f.rating })),
    )
    .await?;
    tx.commit().await?;
    let message = if f.rating == "dissatisfied" {
        format!(
            "已收到您的评价（不满意）。督查部门将研究是否重办；您也可以自收到答复意见之日起 {} 日内申请复查。",
            state.config.case_rules.review_d
        )
    } else {
        "感谢您的评价。".to_owned()
    };
    Ok(redirect_with_flash(&state, "/lookup", &message))
}
