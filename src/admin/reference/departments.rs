//! The responsible departments (责任单位) that cases are assigned to: each belongs to a
//! jurisdiction (a new one to the sysadmin's), where its name is unique; the sysadmin reaches only
//! those within their subtree.

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

/// Another department (not `id`) of the same jurisdiction (`id`'s, or `jurisdiction_id` for a new
/// one) already has this name.
pub async fn name_taken(
    db: impl PgExecutor<'_>,
    name: &str,
    id: Option<i64>,
    jurisdiction_id: Option<i64>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM departments WHERE name = $1 AND id IS DISTINCT FROM $2
                  AND jurisdiction_id IS NOT DISTINCT FROM
                      (CASE WHEN $2::bigint IS NULL THEN $3 ELSE (SELECT jurisdiction_id FROM departments WHERE id = $2) END)) AS "e!""#,
        name,
        id,
        jurisdiction_id
    )
    .fetch_one(db)
    .await
}

pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    d: &DepartmentInput,
) -> AppResult<Result<i64, NameTaken>> {
    if name_taken(&mut *conn, &d.name, None, actor.jurisdiction_id).await? {
        return Ok(Err(NameTaken));
    }
    let inserted = sqlx::query_scalar!(
        "INSERT INTO departments (name, short_name, jurisdiction_id) VALUES ($1, $2, $3) RETURNING id",
        d.name,
        d.short_name,
        actor.jurisdiction_id
    )
    .fetch_one(&mut *conn)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if unique_violation(&e) => return Ok(Err(NameTaken)),
        Err(e) => return Err(e.into()),
    };
    let detail = serde_json::json!({
        "name": d.name, "short_name": d.short_name, "jurisdiction_id": actor.jurisdiction_id,
    });
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
    crate::admin::scope::department(&mut *conn, actor.jurisdiction_id, id).await?;
    let old = sqlx::query!(
        "SELECT name, short_name, active FROM departments WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if name_taken(&mut *conn, &d.name, Some(id), None).await? {
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

/// A department of a jurisdiction above `id`'s that may be named its superior body (复查机关).
pub struct SuperiorChoice {
    pub id: i64,
    /// The department's name with its jurisdiction's: 住建局（金华市）.
    pub label: String,
    pub chosen: bool,
}

/// The active departments of the jurisdictions above department `id`'s, those chosen first
/// ticked. A department not yet placed in the tree has none.
pub async fn superior_choices(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Vec<SuperiorChoice>> {
    sqlx::query_as!(
        SuperiorChoice,
        r#"SELECT s.id, s.name || '（' || j.name || '）' AS "label!",
                  EXISTS (SELECT 1 FROM department_superiors ds
                          WHERE ds.department_id = $1 AND ds.superior_department_id = s.id) AS "chosen!"
           FROM departments d
           JOIN jurisdictions j ON j.id IN (SELECT jurisdiction_line(d.jurisdiction_id))
                               AND j.id NOT IN (SELECT jurisdiction_subtree(d.jurisdiction_id))
           JOIN departments s ON s.jurisdiction_id = j.id AND s.active
           WHERE d.id = $1
           ORDER BY j.code, s.name"#,
        id
    )
    .fetch_all(db)
    .await
}

/// A superior that is not an active department of a jurisdiction above the department's.
#[derive(Debug, PartialEq)]
pub struct NotAbove;

/// Replace department `id`'s superior bodies with `chosen`; the audit entry keeps the old list.
pub async fn set_superiors(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    chosen: &[i64],
) -> AppResult<Result<(), NotAbove>> {
    crate::admin::scope::department(&mut *conn, actor.jurisdiction_id, id).await?;
    sqlx::query!("SELECT id FROM departments WHERE id = $1 FOR UPDATE", id)
        .fetch_one(&mut *conn)
        .await?;
    let offered = superior_choices(&mut *conn, id).await?;
    if !chosen.iter().all(|c| offered.iter().any(|o| o.id == *c)) {
        return Ok(Err(NotAbove));
    }
    let before: Vec<i64> = offered.iter().filter(|o| o.chosen).map(|o| o.id).collect();
    sqlx::query!(
        "DELETE FROM department_superiors WHERE department_id = $1",
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO department_superiors (department_id, superior_department_id)
         SELECT $1, s FROM unnest($2::bigint[]) s ON CONFLICT DO NOTHING",
        id,
        chosen
    )
    .execute(&mut *conn)
    .await?;
    let detail = serde_json::json!({ "superiors": chosen, "from": before });
    let entry = Entry::ok("department.superiors")
        .on("department", id)
        .detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Ok(()))
}
