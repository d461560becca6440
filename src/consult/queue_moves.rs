//! Every status write of stage 2 (排接, 签到, 叫号, 接谈, 未到): the SQL that applies the lifecycle's
//! `next()` to registrations, in the caller's transaction. The status written is always the one
//! `RegistrationStatus::next` decided; single-row moves start from the status the caller read
//! (locked), set-based moves check the rule once against the status their WHERE clause selects.

use crate::consult::scheduler::Assignment;
use crate::error::AppError;
use crate::prepare::lifecycle::{Event, RegistrationStatus as Status};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A status as stored; anything the lifecycle does not know is a broken invariant.
pub fn stored_status(s: &str) -> Result<Status, AppError> {
    Status::parse(s)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown registration status {s:?}")))
}

/// Where a batch joins a room's queue.
pub struct QueuePlace {
    pub room_id: i64,
    pub queue_number: i32,
    pub expected_at: DateTime<Utc>,
}

/// 签到 into a room's queue chosen now (`Event::CheckIn` of a confirmed registration, or
/// `Event::PlaceWalkIn` of a walk-in booked a moment ago).
pub async fn place_in_queue(
    conn: &mut PgConnection,
    reg: i64,
    from: Status,
    event: Event,
    at: &QueuePlace,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let to = from.next(event)?;
    sqlx::query!(
        "UPDATE registrations SET room_id = $2, queue_number = $3, expected_at = $4, status = $6, checked_in_at = $5 WHERE id = $1",
        reg,
        at.room_id,
        at.queue_number,
        at.expected_at,
        now,
        to.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// 签到 of a scheduled batch: it keeps the room and number it was given.
pub async fn check_in_scheduled(
    conn: &mut PgConnection,
    reg: i64,
    from: Status,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let to = from.next(Event::CheckIn)?;
    sqlx::query!(
        "UPDATE registrations SET status = $3, checked_in_at = $2 WHERE id = $1",
        reg,
        now,
        to.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The batch 叫号 picked.
pub struct CalledBatch {
    pub id: i64,
    pub code: String,
    pub queue_number: i32,
}

/// 叫号: the room's checked-in batch with the lowest number, unless another call took it (SKIP
/// LOCKED, and the status checked again). None: nobody checked in.
pub async fn call_next(
    conn: &mut PgConnection,
    room_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<CalledBatch>, AppError> {
    let to = Status::CheckedIn.next(Event::Call)?;
    let called = sqlx::query_as!(
        CalledBatch,
        r#"UPDATE registrations SET status = $3, called_at = $2
           WHERE id = (SELECT id FROM registrations WHERE room_id = $1 AND status = 'checked_in'
                       ORDER BY queue_number LIMIT 1 FOR UPDATE SKIP LOCKED)
             AND status = 'checked_in'
           RETURNING id, code, queue_number AS "queue_number!""#,
        room_id,
        now,
        to.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(called)
}

/// 接谈 recorded for the batch at the table.
pub async fn receive(conn: &mut PgConnection, reg: i64, from: Status) -> Result<(), AppError> {
    let to = from.next(Event::Receive)?;
    sqlx::query!(
        "UPDATE registrations SET status = $2 WHERE id = $1",
        reg,
        to.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// 标记未到 of the batches `ids` that are still scheduled.
pub async fn mark_no_shows(conn: &mut PgConnection, ids: &[i64]) -> Result<(), AppError> {
    let from = Status::Scheduled;
    let to = from.next(Event::NoShow)?;
    sqlx::query!(
        "UPDATE registrations SET status = $2 WHERE id = ANY($1) AND status = $3",
        ids,
        to.as_str(),
        from.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Take `ids` (confirmed or scheduled, not locked) out of the plan before an automatic run:
/// a scheduled one goes back to confirmed, a confirmed one stays so.
pub async fn unschedule(conn: &mut PgConnection, ids: &[i64]) -> Result<(), AppError> {
    let to = Status::Scheduled.next(Event::Unschedule)?;
    sqlx::query!(
        "UPDATE registrations SET room_id = NULL, queue_number = NULL, expected_at = NULL, status = $2 WHERE id = ANY($1)",
        ids,
        to.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// 排接 of an automatic run: every placed registration (confirmed, just unscheduled) in one
/// statement.
pub async fn schedule_all(conn: &mut PgConnection, placed: &[&Assignment]) -> Result<(), AppError> {
    let to = Status::Confirmed.next(Event::Schedule)?;
    sqlx::query!(
        "UPDATE registrations g SET room_id = a.room, queue_number = a.q, expected_at = a.at, status = $5
         FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::timestamptz[]) AS a(reg, room, q, at) WHERE g.id = a.reg",
        &placed.iter().map(|a| a.registration_id).collect::<Vec<_>>(),
        &placed.iter().map(|a| a.room_id).collect::<Vec<_>>(),
        &placed.iter().map(|a| a.queue_number).collect::<Vec<_>>(),
        &placed.iter().map(|a| a.starts_at).collect::<Vec<_>>(),
        to.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// 排接 by hand: the room and number staff typed, locked so automatic runs keep it.
pub async fn schedule_by_hand(
    conn: &mut PgConnection,
    reg: i64,
    from: Status,
    at: &QueuePlace,
) -> Result<(), AppError> {
    let to = from.next(Event::Schedule)?;
    sqlx::query!(
        "UPDATE registrations SET room_id = $2, queue_number = $3, expected_at = $4, status = $5, schedule_locked = true WHERE id = $1",
        reg,
        at.room_id,
        at.queue_number,
        at.expected_at,
        to.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
