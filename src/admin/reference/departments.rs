//! The responsible departments (责任单位) that cases are assigned to: names are unique.

use super::{NameTaken, unique_violation};
use crate::audit::{self, Actor, Entry};
use crate::error::{AppError, AppResult};
use sqlx::{PgConnection, PgExecutor};

/// A checked department form.
pub struct DepartmentInput {
    pub name: String,
    pub short_name: String,
    /// Only an edit can deactivate; a new department is active.
    pub active: bool,
}

/// Another department (not `id`) already has this name.
pub async fn name_taken(
    db: impl PgExecutor<'_>,
    name: &str,
    id: Option<i64>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM departments WHERE name = $1 AND id IS DISTINCT FROM $2) AS "e!""#,
        name,
        id
    )
    .fetch_one(db)
    .await
}

pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    d: &DepartmentInput,
) -> AppResult<Result<i64, NameTaken>> {
    if name_taken(&mut *conn, &d.name, None).await? {
        return Ok(Err(NameTaken));
    }
    let inserted = sqlx::query_scalar!(
        "INSERT INTO departments (name, short_name) VALUES ($1, $2) RETURNING id",
        d.name,
        d.short_name
    )
    .fetch_one(&mut *conn)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if unique_violation(&e) => return Ok(Err(NameTaken)),
        Err(e) => return Err(e.into()),
    };
    let detail = serde_json::json!({"name": d.name, "short_name": d.short_name});
    let entry = Entry::ok("department.create")
        .on("department", id)
        .detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Ok(id))
}

/// Rename and (de)activate; the audit entry keeps what it was.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    d: &DepartmentInput,
) -> AppResult<Result<(), NameTaken>> {
    let old = sqlx::query!(
        "SELECT name, short_name, active FROM departments WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if name_taken(&mut *conn, &d.name, Some(id)).await? {
        return Ok(Err(NameTaken));
    }
    let updated = sqlx::query!(
        "UPDATE departments SET name = $2, short_name = $3, active = $4 WHERE id = $1",
        id,
        d.name,
        d.short_name,
        d.active
    )
    .execute(&mut *conn)
    .await;
    match updated {
        Ok(_) => {}
        Err(e) if unique_violation(&e) => return Ok(Err(NameTaken)),
        Err(e) => return Err(e.into()),
    }
    let detail = serde_json::json!({
        "name": d.name, "short_name": d.short_name, "active": d.active,
        "from": {"name": old.name, "short_name": old.short_name, "active": old.active},
    });
    let entry = Entry::ok("department.update")
        .on("department", id)
        .detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Ok(()))
}
