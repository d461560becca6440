//! What an issued document does to its case (DESIGN §4: the clocks follow the documents). The
//! 受理告知书 is the written acceptance: the 60-day closure clock restarts on its date. The
//! 不予受理告知书 ends the case as `not_accepted`. An approved extension takes effect when its
//! 延期告知书 tells the citizen. The 处理意见书 is the answer closure needs. Corrections only
//! supersede: they change nothing here.

use super::{event, lock};
use crate::crypto::Keys;
use crate::error::AppError;
use crate::followup::case_row;
use crate::followup::documents::rules::{self, Kind};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sqlx::PgConnection;

/// Lock the case and ask whether `kind` may be issued on it now (Conflict with the reason).
pub async fn check_issue(
    conn: &mut PgConnection,
    case_id: i64,
    kind: Kind,
) -> Result<(), AppError> {
    lock(&mut *conn, case_id).await?;
    let row = case_row::load(&mut *conn, case_id, None)
        .await?
        .ok_or(AppError::NotFound)?;
    rules::may_issue(kind, row.state(), row.document_facts())
        .map_err(|why| AppError::Conflict(why.into()))
}

/// The issued document, as the case's effects need it.
pub struct Issued<'a> {
    pub id: i64,
    pub kind: Kind,
    pub number: &'a str,
    pub on: NaiveDate,
    pub by: i64,
}

/// Apply document `d`'s effect on its case (locked by `check_issue`), with its case event.
pub async fn written(
    conn: &mut PgConnection,
    keys: &Keys,
    case_id: i64,
    d: &Issued<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let mut data = json!({ "document_id": d.id, "number": d.number });
    let kind = match d.kind {
        Kind::Acceptance => {
            let due = sqlx::query_scalar!(
                r#"UPDATE cases SET acceptance_notified_at = $2, due_on = $3::date + deadline_days,
                                    extended_due_on = $3::date + deadline_days + extension_days
                   WHERE id = $1 RETURNING due_on AS "due!""#,
                case_id,
                now,
                d.on
            )
            .fetch_one(&mut *conn)
            .await?;
            data["due_on"] = json!(due);
            "acceptance_notified"
        }
        Kind::NonAcceptance => {
            sqlx::query!(
                "UPDATE cases SET status = 'not_accepted', acceptance_notified_at = $2 WHERE id = $1",
                case_id,
                now
            )
            .execute(&mut *conn)
            .await?;
            "not_accepted"
        }
        Kind::Extension => {
            let due = sqlx::query_scalar!(
                r#"UPDATE cases c SET extension_days = e.days, extended_due_on = c.due_on + e.days
                   FROM (SELECT (data->>'days')::int AS days FROM case_events
                         WHERE case_id = $1 AND kind = 'extension_approved' ORDER BY id DESC LIMIT 1) e
                   WHERE c.id = $1 RETURNING c.extended_due_on AS "due!""#,
                case_id
            )
            .fetch_one(&mut *conn)
            .await?;
            data["due_on"] = json!(due);
            "extension_notified"
        }
        // The written answer that closure needs (`CaseRow::opinion_issued`).
        Kind::Opinion => "opinion_issued",
        _ => return Ok(()),
    };
    event(conn, keys, case_id, kind, Some(d.by), now, "", data).await
}
