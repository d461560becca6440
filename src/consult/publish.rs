//! 发布排接: tell each scheduled registrant their room, queue number and expected time (outbox).
//! A re-publish after moves or a new automatic run tells only those whose assignment changed.

use crate::audit::{self, Actor, Entry};
use crate::consult::schedule_store;
use crate::error::AppError;
use crate::notify;
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use sqlx::PgConnection;

/// What was sent, kept in `registrations.notified_assignment` to compare with on the next publish.
pub fn assignment_key(room_id: i64, queue_number: i32, expected_at: DateTime<Utc>) -> String {
    format!("{room_id}:{queue_number}:{}", expected_at.timestamp())
}

/// The variables of `registration.scheduled`: room, queue number and expected time in China
/// time (no ID or phone numbers).
pub fn message(
    title: &str,
    code: &str,
    room: &str,
    queue_number: i32,
    expected_at: DateTime<Utc>,
) -> serde_json::Value {
    let at = expected_at
        .with_timezone(&Shanghai)
        .format("%-m月%-d日 %H:%M")
        .to_string();
    serde_json::json!({"title": title, "code": code, "room": room, "queue_number": queue_number, "expected_at": at})
}

/// Publish the visit's schedule in the caller's transaction: queue a message to every scheduled
/// registrant whose assignment changed since the last publish. Returns the registrations told.
pub async fn publish(
    tx: &mut PgConnection,
    id: i64,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<Vec<i64>, AppError> {
    schedule_store::lock_visit(&mut *tx, id).await?;
    let title = sqlx::query_scalar!("SELECT title FROM visits WHERE id = $1", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let rows = sqlx::query!(
        r#"SELECT g.id, g.code, g.phone_mask, g.notified_assignment, g.room_id AS "room_id!", g.queue_number AS "queue_number!",
                  g.expected_at AS "expected_at!", rm.name AS room
           FROM registrations g JOIN rooms rm ON rm.id = g.room_id
           WHERE g.visit_id = $1 AND g.status = 'scheduled' ORDER BY g.id"#,
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut told = Vec::new();
    for r in rows {
        let key = assignment_key(r.room_id, r.queue_number, r.expected_at);
        if r.notified_assignment.as_deref() == Some(key.as_str()) {
            continue;
        }
        let mask = r.phone_mask.unwrap_or_else(|| "（无手机号码）".into());
        notify::queue(
            &mut *tx,
            notify::Message {
                registration_id: Some(r.id),
                user_id: None,
                phone_code_id: None,
                recipient_mask: &mask,
                kind: "registration.scheduled",
                params: message(&title, &r.code, &r.room, r.queue_number, r.expected_at),
            },
        )
        .await?;
        sqlx::query!(
            "UPDATE registrations SET notified_assignment = $2 WHERE id = $1",
            r.id,
            key
        )
        .execute(&mut *tx)
        .await?;
        told.push(r.id);
    }
    sqlx::query!(
        "UPDATE visits SET schedule_published_at = $2 WHERE id = $1",
        id,
        now
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("schedule.publish")
            .on("visit", id)
            .detail(serde_json::json!({ "notified": told })),
    )
    .await?;
    Ok(told)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_room_number_and_time_in_china_time() {
        let at: DateTime<Utc> = "2026-12-04T01:45:00Z".parse().unwrap();
        let m = notify::registry::render(
            "registration.scheduled",
            &message("县领导接访日", "ABCD2345", "第3接待室", 12, at),
        )
        .unwrap()
        .body;
        assert!(
            m.contains("您已安排在第3接待室，排号12，预计接谈时间12月4日 09:45"),
            "{m}"
        );
        assert_ne!(assignment_key(1, 12, at), assignment_key(1, 13, at));
        assert_ne!(assignment_key(1, 12, at), assignment_key(2, 12, at));
    }
}
