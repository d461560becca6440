//! 督办 (a supervisor urges a case) and 离任交接 (a departing leader's open cases move to a
//! successor): writes on cases that are no transition of their state.

use super::{CaseError, event};
use crate::audit::{self, Actor, Entry};
use crate::crypto::Keys;
use crate::error::AppError;
use crate::followup::jobs::notify_department;
use crate::followup::state::RUNNING;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgExecutor};

/// A 督办: the case, the supervisor's jurisdiction (a case outside its subtree — the visit's host
/// and organiser — is not found) and the 督办意见 (sealed on the event; empty from the lists).
pub struct Urge<'a> {
    pub id: i64,
    pub within: Option<i64>,
    pub text: &'a str,
}

/// 督办 (supervisors): an `urged` event with its text, the first urge date if none, a
/// notification to the lead department, an audit row. Returns the case code.
pub async fn urge(
    tx: &mut PgConnection,
    keys: &Keys,
    urge: &Urge<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<String, CaseError> {
    let (id, within) = (urge.id, urge.within);
    let case = sqlx::query!(
        "SELECT c.code, c.title, c.status, c.lead_department_id FROM cases c JOIN visits v ON v.id = c.visit_id
         WHERE c.id = $1 AND (v.county_id IN (SELECT jurisdiction_subtree($2)) OR v.organiser_id IN (SELECT jurisdiction_subtree($2)))
         FOR UPDATE OF c",
        id,
        within
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if !RUNNING.contains(&case.status.as_str()) {
        return Err(AppError::Conflict("该交办件已办结，无需督办。".into()).into());
    }
    event(tx, keys, id, "urged", actor.id, now, urge.text, json!({})).await?;
    sqlx::query!(
        "UPDATE cases SET first_urged_at = $2 WHERE id = $1 AND first_urged_at IS NULL",
        id,
        now
    )
    .execute(&mut *tx)
    .await?;
    let params = json!({"case_code": case.code, "title": case.title});
    notify_department(tx, case.lead_department_id, "case.urge", params).await?;
    let detail = json!({ "code": case.code });
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("case.urge").on("case", id).detail(detail),
    )
    .await?;
    Ok(case.code)
}

/// Open cases (a handover moves these): the deadline states and a running 复查.
pub const OPEN: [&str; 5] = [
    "assigned",
    "accepted",
    "returned",
    "closure_submitted",
    "in_review",
];

/// A handover to perform: from a leader to an active successor (checked by `successor_ok`).
pub struct Handover<'a> {
    pub from: i64,
    pub to: i64,
    pub note: &'a str,
    /// The acting supervisor's jurisdiction: both leaders lie within its subtree.
    pub within: Option<i64>,
}

/// The successor is another, active leader within `within`'s subtree.
pub async fn successor_ok(
    db: impl PgExecutor<'_>,
    from: i64,
    to: i64,
    within: Option<i64>,
) -> sqlx::Result<bool> {
    if from == to {
        return Ok(false);
    }
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM leaders WHERE id = $1 AND active
                          AND COALESCE(county_id, $2) IN (SELECT jurisdiction_subtree($2))) AS "e!""#,
        to,
        within
    )
    .fetch_one(db)
    .await
}

/// 离任交接: every open case of `from` moves to `to`, with a record of exactly what moved, an
/// event per case and an audit row. Returns the ids moved.
pub async fn hand_over(
    tx: &mut PgConnection,
    h: &Handover<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
    keys: &Keys,
) -> Result<Vec<i64>, CaseError> {
    let (from, to) = (h.from, h.to);
    let user_id = actor.id.ok_or(AppError::Forbidden)?;
    let open_states: Vec<String> = OPEN.iter().map(|s| s.to_string()).collect();
    sqlx::query_scalar!(
        "SELECT id FROM leaders WHERE id = $1 AND COALESCE(county_id, $2) IN (SELECT jurisdiction_subtree($2))",
        from,
        h.within
    )
    .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    // The row locks hold off concurrent transitions; they then see a bumped version (409).
    let moved: Vec<i64> = sqlx::query_scalar!(
        "UPDATE cases SET owner_leader_id = $2 WHERE id IN (SELECT id FROM cases WHERE owner_leader_id = $1 AND status = ANY($3) FOR UPDATE)
         RETURNING id",
        from,
        to,
        &open_states
    )
    .fetch_all(&mut *tx)
    .await?;
    let handover = sqlx::query_scalar!(
        "INSERT INTO handovers (from_leader_id, to_leader_id, performed_by, at, note) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        from,
        to,
        user_id,
        now,
        h.note
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO handover_cases (handover_id, case_id) SELECT $1, unnest($2::bigint[])",
        handover,
        &moved
    )
    .execute(&mut *tx)
    .await?;
    for id in &moved {
        let data = json!({ "from_leader_id": from, "to_leader_id": to, "handover_id": handover });
        event(
            &mut *tx,
            keys,
            *id,
            "handed_over",
            Some(user_id),
            now,
            h.note,
            data,
        )
        .await?;
    }
    let detail = json!({ "from_leader_id": from, "to_leader_id": to, "cases": moved });
    let entry = Entry::ok("leader.handover")
        .on("handover", handover)
        .detail(detail);
    audit::record(&mut *tx, actor, entry).await?;
    Ok(moved)
}
