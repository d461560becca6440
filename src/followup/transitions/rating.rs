//! The citizen's rating (评价) of a closed case, from the lookup page: the case becomes 已评价.

use super::{CaseError, STALE, event, lock};
use crate::audit::{self, Actor, Entry};
use crate::clock::china_date;
use crate::crypto::free_text;
use crate::crypto::{Column, Keys};
use crate::error::AppError;
use crate::followup::CaseRules;
use crate::followup::case_row::{self, CaseRow};
use crate::followup::state::{self, Action, Party, Side};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgExecutor};

/// A rating as the lookup page checked it: one of `RATINGS`, and a comment.
pub struct Rating<'a> {
    pub rating: &'a str,
    pub comment: &'a str,
}

/// Whether the citizen may rate case `case_id` now (the refusal to show beside the form).
pub async fn may_rate(
    db: impl PgExecutor<'_>,
    case_id: i64,
    now: DateTime<Utc>,
    rules: &CaseRules,
) -> Result<CaseRow, CaseError> {
    let row = case_row::load(db, case_id, None)
        .await?
        .ok_or(AppError::NotFound)?;
    let facts = row.facts(china_date(now), rules);
    state::next(
        row.state(),
        Action::Rate,
        &Party::new(Side::Citizen),
        &facts,
    )
    .map_err(|r| CaseError::Refused(r.0))?;
    Ok(row)
}

/// 评价: the case becomes 已评价, with a feedback row, an event and an audit row; returns the
/// message for the citizen.
pub async fn rate(
    conn: &mut PgConnection,
    case_id: i64,
    r: &Rating<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
    rules: &CaseRules,
    keys: &Keys,
) -> Result<String, CaseError> {
    lock(&mut *conn, case_id).await?;
    let row = may_rate(&mut *conn, case_id, now, rules).await?;
    let n = sqlx::query!(
        "UPDATE cases SET status = 'rated', rating = $3 WHERE id = $1 AND version = $2",
        case_id,
        row.version,
        r.rating
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AppError::Conflict(STALE.into()).into());
    }
    let id =
        sqlx::query_scalar!(r#"SELECT nextval(pg_get_serial_sequence('feedback', 'id')) AS "id!""#)
            .fetch_one(&mut *conn)
            .await?;
    let comment = free_text::seal(keys, Column::FEEDBACK_COMMENT, id, r.comment)?;
    sqlx::query!(
        "INSERT INTO feedback (id, case_id, rating, channel, at, comment_cipher, comment_key_id)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, 'online', $4, $5, $6)",
        id,
        case_id,
        r.rating,
        now,
        comment.cipher,
        comment.key_id
    )
    .execute(&mut *conn)
    .await?;
    let data = json!({ "rating": r.rating, "channel": "online" });
    event(
        &mut *conn, keys, case_id, "rated", None, now, r.comment, data,
    )
    .await?;
    let detail = json!({ "rating": r.rating });
    let entry = Entry::ok("case.rate").on("case", case_id).detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(if r.rating == "dissatisfied" {
        format!(
            "已收到您的评价（不满意）。督查部门将研究是否重办；您也可以自收到答复意见之日起 {} 日内申请复查。",
            rules.review_d
        )
    } else {
        "感谢您的评价。".to_owned()
    })
}
