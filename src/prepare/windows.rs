//! Reception windows, the domain: generated from the visit's hours, rooms and slot length, and
//! their capacity adjusted by hand — never below what is booked; added places go to the waiting
//! list first. Only while the visit is still being planned.

use crate::audit::{self, Actor, Entry};
use crate::error::AppError;
use crate::prepare::booking::promote_waiting;
use crate::prepare::plan::{self, WindowPlan};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Statuses in which a visit can still be planned or changed.
const PLANNABLE: [&str; 3] = ["draft", "announced", "closed_for_registration"];

/// Lock the visit and refuse changes once it is past planning.
pub async fn lock_plannable(tx: &mut sqlx::PgConnection, id: i64) -> Result<(), AppError> {
    let status = sqlx::query_scalar!("SELECT status FROM visits WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if !PLANNABLE.contains(&status.as_str()) {
        return Err(AppError::Conflict(format!(
            "该下访活动{}，不能再修改接待室和接访时段。",
            plan::status_label(&status)
        )));
    }
    Ok(())
}

/// (Re)create the visit's windows from its hours, rooms and slot length. Refused (Err with the
/// reason) once a registration holds a window; with `need_rooms`, also while there are no rooms.
pub async fn regenerate_windows(
    tx: &mut PgConnection,
    id: i64,
    need_rooms: bool,
) -> Result<Result<Vec<WindowPlan>, String>, AppError> {
    let v = sqlx::query!(
        r#"SELECT visit_date, starts_at, ends_at, slot_minutes, (SELECT count(*) FROM rooms WHERE visit_id = $1) AS "rooms!"
           FROM visits WHERE id = $1"#,
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    if sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM registrations WHERE visit_id = $1 AND window_id IS NOT NULL) AS "e!""#, id)
        .fetch_one(&mut *tx)
        .await?
    {
        return Ok(Err("已有群众登记了接访时段，不能重新生成；可逐个调整时段容量。".into()));
    }
    if need_rooms && v.rooms == 0 {
        return Ok(Err(
            "请先添加接待室：时段容量 = 接待室数 × 每小时可接号数。".into(),
        ));
    }
    let windows = plan::plan_windows(v.starts_at, v.ends_at, v.rooms, v.slot_minutes as i64);
    sqlx::query!("DELETE FROM reception_windows WHERE visit_id = $1", id)
        .execute(&mut *tx)
        .await?;
    for w in &windows {
        sqlx::query!(
            "INSERT INTO reception_windows (visit_id, starts_at, ends_at, capacity_slots) VALUES ($1, $2, $3, $4)",
            id,
            crate::clock::china_instant(v.visit_date, w.starts),
            crate::clock::china_instant(v.visit_date, w.ends),
            w.capacity
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(Ok(windows))
}

/// 生成接访时段, audited: (how many windows, places in all).
pub async fn generate(
    tx: &mut PgConnection,
    id: i64,
    actor: &Actor,
) -> Result<(usize, i64), AppError> {
    lock_plannable(tx, id).await?;
    let windows = match regenerate_windows(tx, id, true).await? {
        Ok(w) => w,
        Err(message) => return Err(AppError::Conflict(message)),
    };
    let total = plan::total_capacity(&windows);
    let detail = serde_json::json!({"visit_id": id, "windows": windows.len(), "capacity": total});
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("windows.generate").on("visit", id).detail(detail),
    )
    .await?;
    Ok((windows.len(), total))
}

struct Window {
    capacity_slots: i32,
    booked_slots: i32,
}

async fn lock_window(tx: &mut PgConnection, id: i64, window: i64) -> Result<Window, AppError> {
    lock_plannable(tx, id).await?;
    sqlx::query_as!(Window, "SELECT capacity_slots, booked_slots FROM reception_windows WHERE id = $1 AND visit_id = $2 FOR UPDATE", window, id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)
}

/// The window exists and its visit is still being planned (404 / 409 otherwise).
pub async fn check_window(tx: &mut PgConnection, id: i64, window: i64) -> Result<(), AppError> {
    lock_window(tx, id, window).await.map(|_| ())
}

/// Set a window's capacity; Ok(Ok(promoted)), or Ok(Err(why)) when below what is booked.
pub async fn set_capacity(
    tx: &mut PgConnection,
    id: i64,
    window: i64,
    capacity: i32,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Result<usize, String>, AppError> {
    let w = lock_window(tx, id, window).await?;
    let below = format!(
        "已有 {} 个号被登记占用，容量不能少于 {}",
        w.booked_slots, w.booked_slots
    );
    if capacity < w.booked_slots {
        return Ok(Err(below));
    }
    match sqlx::query!(
        "UPDATE reception_windows SET capacity_slots = $2 WHERE id = $1",
        window,
        capacity
    )
    .execute(&mut *tx)
    .await
    {
        Ok(_) => {}
        // The CHECK is the last word (reception_windows_not_overbooked): same message as the pre-check.
        Err(sqlx::Error::Database(e))
            if e.constraint() == Some("reception_windows_not_overbooked") =>
        {
            return Ok(Err(below));
        }
        Err(e) => return Err(e.into()),
    }
    // Added places go to the waiting list first, in the same transaction.
    let promoted = promote_waiting(tx, window, now).await?;
    let detail = serde_json::json!({"visit_id": id, "from": w.capacity_slots, "to": capacity, "booked": w.booked_slots, "promoted": promoted});
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("window.capacity")
            .on("window", window)
            .detail(detail),
    )
    .await?;
    Ok(Ok(promoted))
}
