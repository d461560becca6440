//! Places in a window: cancellation gives a registration's slots back, and the waiting list
//! moves up, first come first served. Every status written here is decided by the lifecycle.

use crate::audit::{self, Actor, Entry};
use crate::error::AppError;
use crate::notify;
use crate::prepare::lifecycle::{Event, RegistrationStatus as Status};
use crate::prepare::registration::window_label;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Promote waiting registrations of `window_id`, first come first served, while their slots fit.
/// Each promoted registration is notified. Returns how many were promoted.
pub async fn promote_waiting(
    conn: &mut PgConnection,
    window_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let mut promoted = 0;
    loop {
        let Some(next) = sqlx::query!(
            r#"SELECT w.id, r.id AS registration_id, r.slots, r.code, r.phone_mask, v.title, v.visit_date, rw.starts_at, rw.ends_at
               FROM waitlist w JOIN registrations r ON r.id = w.registration_id JOIN visits v ON v.id = r.visit_id
               JOIN reception_windows rw ON rw.id = w.window_id
               WHERE w.window_id = $1 AND w.promoted_at IS NULL AND r.status = 'waitlisted'
               ORDER BY w.created_at, w.id LIMIT 1 FOR UPDATE OF w, r"#,
            window_id
        )
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(promoted);
        };
        let fits = sqlx::query_scalar!(
            "UPDATE reception_windows SET booked_slots = booked_slots + $2 WHERE id = $1 AND booked_slots + $2 <= capacity_slots RETURNING id",
            window_id,
            i32::from(next.slots)
        )
        .fetch_optional(&mut *conn)
        .await?;
        if fits.is_none() {
            return Ok(promoted);
        }
        sqlx::query!(
            "UPDATE waitlist SET promoted_at = $2 WHERE id = $1",
            next.id,
            now
        )
        .execute(&mut *conn)
        .await?;
        let promoted_to = Status::Waitlisted.next(Event::Promote)?;
        set_status(&mut *conn, next.registration_id, promoted_to).await?;
        let when = format!(
            "{} {}",
            next.visit_date.format("%Y年%-m月%-d日"),
            window_label(next.starts_at, next.ends_at)
        );
        let mask = next.phone_mask.unwrap_or_else(|| "（无手机号码）".into());
        notify::queue(
            &mut *conn,
            notify::Message {
                registration_id: Some(next.registration_id),
                user_id: None,
                phone_code_id: None,
                recipient_mask: &mask,
                kind: "registration.promoted",
                params: serde_json::json!({"title": next.title, "code": next.code, "window": when}),
            },
        )
        .await?;
        promoted += 1;
    }
}

/// Give back what a registration leaving the pipeline (cancelled, rejected, merged) held: its
/// slots, and then the window's waiting list moves up; or its own place on the waiting list.
/// Returns how many waiting registrations were promoted.
pub async fn release_place(
    conn: &mut PgConnection,
    registration_id: i64,
    status: Status,
    window_id: Option<i64>,
    slots: i16,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    if status == Status::Waitlisted {
        sqlx::query!(
            "DELETE FROM waitlist WHERE registration_id = $1",
            registration_id
        )
        .execute(&mut *conn)
        .await?;
        return Ok(0);
    }
    let Some(window_id) = window_id.filter(|_| status.holds_slots()) else {
        return Ok(0);
    };
    sqlx::query!(
        "UPDATE reception_windows SET booked_slots = booked_slots - $2 WHERE id = $1",
        window_id,
        i32::from(slots)
    )
    .execute(&mut *conn)
    .await?;
    promote_waiting(conn, window_id, now).await
}

/// Cancel a registration: its slots go back to the window and the waiting list moves up, in the
/// caller's transaction. False when it can no longer be cancelled.
pub async fn cancel(
    conn: &mut PgConnection,
    registration_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(r) = sqlx::query!(
        "SELECT r.status, r.window_id, r.slots, r.visit_id FROM registrations r JOIN visits v ON v.id = r.visit_id
         WHERE r.id = $1 AND v.visit_date > $2 FOR UPDATE OF r",
        registration_id,
        crate::clock::china_date(now)
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(false);
    };
    let from = Status::parse(&r.status).ok_or(AppError::NotFound)?;
    let Ok(to) = from.next(Event::Cancel) else {
        return Ok(false);
    };
    set_status(&mut *conn, registration_id, to).await?;
    let promoted = release_place(conn, registration_id, from, r.window_id, r.slots, now).await?;
    let detail =
        serde_json::json!({"visit_id": r.visit_id, "from": r.status, "promoted": promoted});
    audit::record(
        &mut *conn,
        actor,
        Entry::ok("registration.cancel")
            .on("registration", registration_id)
            .detail(detail),
    )
    .await?;
    Ok(true)
}

/// Write a status `next()` decided.
pub async fn set_status(
    conn: &mut PgConnection,
    registration_id: i64,
    status: Status,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE registrations SET status = $2 WHERE id = $1",
        registration_id,
        status.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
}
