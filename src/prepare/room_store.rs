//! Reception rooms, the domain: a room of a visit with its leaders, departments and the
//! categories it is competent for; names unique in the visit; a room in use is kept.

use crate::audit::{self, Actor, Entry};
use crate::error::AppError;
use sqlx::PgConnection;

const NAME_TAKEN: &str = "本次活动已有同名接待室";

/// A room as validated.
pub struct Valid {
    pub name: String,
    pub location: String,
    pub leader_ids: Vec<i64>,
    pub department_ids: Vec<i64>,
    pub category_ids: Vec<i64>,
}

async fn write_links(tx: &mut PgConnection, room: i64, v: &Valid) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM room_leaders WHERE room_id = $1", room)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DELETE FROM room_departments WHERE room_id = $1", room)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DELETE FROM room_categories WHERE room_id = $1", room)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO room_leaders (room_id, leader_id) SELECT $1, unnest($2::bigint[])",
        room,
        &v.leader_ids
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO room_departments (room_id, department_id) SELECT $1, unnest($2::bigint[])",
        room,
        &v.department_ids
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO room_categories (room_id, category_id) SELECT $1, unnest($2::bigint[])",
        room,
        &v.category_ids
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn detail(v: &Valid) -> serde_json::Value {
    serde_json::json!({
        "name": v.name, "location": v.location, "leader_ids": v.leader_ids,
        "department_ids": v.department_ids, "category_ids": v.category_ids,
    })
}

/// Add a room; Ok(Err(why)) when the name is taken.
pub async fn create(
    tx: &mut PgConnection,
    id: i64,
    v: &Valid,
    actor: &Actor,
) -> Result<Result<i64, &'static str>, AppError> {
    if sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM rooms WHERE visit_id = $1 AND name = $2) AS "e!""#,
        id,
        v.name
    )
    .fetch_one(&mut *tx)
    .await?
    {
        return Ok(Err(NAME_TAKEN));
    }
    let room = sqlx::query_scalar!(
        "INSERT INTO rooms (visit_id, name, location, sort_order)
         VALUES ($1, $2, $3, (SELECT COALESCE(max(sort_order), 0) + 1 FROM rooms WHERE visit_id = $1)) RETURNING id",
        id,
        v.name,
        v.location
    )
    .fetch_one(&mut *tx)
    .await?;
    write_links(tx, room, v).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("room.create").on("room", room).detail(detail(v)),
    )
    .await?;
    Ok(Ok(room))
}

/// The room of the visit, locked; 404 otherwise.
pub async fn lock(tx: &mut PgConnection, id: i64, room: i64) -> Result<(), AppError> {
    sqlx::query_scalar!(
        "SELECT id FROM rooms WHERE id = $1 AND visit_id = $2 FOR UPDATE",
        room,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(())
}

/// Save a locked room; Ok(Err(why)) when another room has the name.
pub async fn update(
    tx: &mut PgConnection,
    id: i64,
    room: i64,
    v: &Valid,
    actor: &Actor,
) -> Result<Result<(), &'static str>, AppError> {
    if sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM rooms WHERE visit_id = $1 AND name = $2 AND id <> $3) AS "e!""#, id, v.name, room)
        .fetch_one(&mut *tx)
        .await?
    {
        return Ok(Err(NAME_TAKEN));
    }
    sqlx::query!(
        "UPDATE rooms SET name = $2, location = $3 WHERE id = $1",
        room,
        v.name,
        v.location
    )
    .execute(&mut *tx)
    .await?;
    write_links(tx, room, v).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("room.update").on("room", room).detail(detail(v)),
    )
    .await?;
    Ok(Ok(()))
}

/// The name of a room of the visit that may be deleted: nobody has been scheduled into or
/// received in it (404 for another visit's room, 409 with the reason when in use).
pub async fn deletable(tx: &mut PgConnection, id: i64, room: i64) -> Result<String, AppError> {
    let name = sqlx::query_scalar!(
        "SELECT name FROM rooms WHERE id = $1 AND visit_id = $2 FOR UPDATE",
        room,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let in_use = sqlx::query_scalar!(
        r#"SELECT (EXISTS (SELECT 1 FROM registrations WHERE room_id = $1) OR EXISTS (SELECT 1 FROM receptions WHERE room_id = $1)) AS "e!""#,
        room
    )
    .fetch_one(&mut *tx)
    .await?;
    if in_use {
        return Err(AppError::Conflict(format!(
            "已有登记排入接待室“{name}”，不能删除；请先把这些登记改排到其他接待室。"
        )));
    }
    Ok(name)
}

/// Delete a room nobody has been scheduled into or received in; returns its name.
pub async fn delete(
    tx: &mut PgConnection,
    id: i64,
    room: i64,
    actor: &Actor,
) -> Result<String, AppError> {
    let name = deletable(&mut *tx, id, room).await?;
    sqlx::query!("DELETE FROM rooms WHERE id = $1", room)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("room.delete")
            .on("room", room)
            .detail(serde_json::json!({"visit_id": id, "name": name})),
    )
    .await?;
    Ok(name)
}
