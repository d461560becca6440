//! The two-level tree of 问题类别 (statutory classes × subject areas) and the departments each
//! category goes to by default. Names are unique among siblings; a category never changes level.

use super::{NameTaken, unique_violation};
use crate::audit::{self, Actor, Entry};
use crate::error::{AppError, AppResult};
use sqlx::{PgConnection, PgExecutor};

/// A category as stored, with its parent's name and its default departments.
pub struct Category {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub parent_name: Option<String>,
    pub name: String,
    pub active: bool,
    pub department_ids: Vec<i64>,
}

pub async fn find(db: impl PgExecutor<'_>, id: i64) -> AppResult<Category> {
    sqlx::query_as!(
        Category,
        r#"SELECT c.id, c.parent_id, p.name AS "parent_name?", c.name, c.active,
                  COALESCE(ARRAY(SELECT department_id FROM category_departments WHERE category_id = c.id ORDER BY department_id), '{}') AS "department_ids!"
           FROM categories c LEFT JOIN categories p ON p.id = c.parent_id WHERE c.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)
}

/// A sibling under `parent_id` (not `id` itself) already has this name.
pub async fn name_taken(
    db: impl PgExecutor<'_>,
    parent_id: Option<i64>,
    name: &str,
    id: Option<i64>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM categories WHERE parent_id IS NOT DISTINCT FROM $1 AND name = $2 AND id IS DISTINCT FROM $3) AS "e!""#,
        parent_id,
        name,
        id
    )
    .fetch_one(db)
    .await
}

/// A checked category form; the departments are ones the form offered.
pub struct CategoryInput {
    /// `None` for a statutory class; ignored by `update` (the level never changes).
    pub parent_id: Option<i64>,
    pub name: String,
    pub department_ids: Vec<i64>,
    /// Ignored by `create`: a new category is active.
    pub active: bool,
}

/// A new category, last among its siblings.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    c: &CategoryInput,
) -> AppResult<Result<i64, NameTaken>> {
    let (parent_id, name) = (c.parent_id, &c.name);
    if name_taken(&mut *conn, parent_id, name, None).await? {
        return Ok(Err(NameTaken));
    }
    let inserted = sqlx::query_scalar!(
        "INSERT INTO categories (parent_id, name, sort_order)
             VALUES ($1, $2, (SELECT COALESCE(max(sort_order), 0) + 1 FROM categories WHERE parent_id IS NOT DISTINCT FROM $1))
             RETURNING id",
        parent_id,
        name
    )
    .fetch_one(&mut *conn)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if unique_violation(&e) => return Ok(Err(NameTaken)),
        Err(e) => return Err(e.into()),
    };
    sqlx::query!("INSERT INTO category_departments (category_id, department_id) SELECT $1, unnest($2::bigint[])", id, &c.department_ids)
        .execute(&mut *conn)
        .await?;
    let detail = serde_json::json!({"name": name, "parent_id": parent_id, "department_ids": c.department_ids});
    let entry = Entry::ok("category.create")
        .on("category", id)
        .detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Ok(id))
}

/// Rename, (de)activate and set the default departments; the audit entry keeps what it was.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    c: &CategoryInput,
) -> AppResult<Result<(), NameTaken>> {
    sqlx::query_scalar!("SELECT id FROM categories WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let old = find(&mut *conn, id).await?;
    if name_taken(&mut *conn, old.parent_id, &c.name, Some(id)).await? {
        return Ok(Err(NameTaken));
    }
    let updated = sqlx::query!(
        "UPDATE categories SET name = $2, active = $3 WHERE id = $1",
        id,
        c.name,
        c.active
    )
    .execute(&mut *conn)
    .await;
    match updated {
        Ok(_) => {}
        Err(e) if unique_violation(&e) => return Ok(Err(NameTaken)),
        Err(e) => return Err(e.into()),
    }
    set_departments(&mut *conn, id, &c.department_ids, actor.jurisdiction_id).await?;
    let detail = serde_json::json!({
        "name": c.name, "active": c.active, "department_ids": c.department_ids,
        "from": {"name": old.name, "active": old.active, "department_ids": old.department_ids},
    });
    let entry = Entry::ok("category.update")
        .on("category", id)
        .detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Ok(()))
}

/// The category's departments within `reach` (the editor's jurisdiction) become `department_ids`;
/// those of other jurisdictions stay, as their administrators set them.
async fn set_departments(
    conn: &mut PgConnection,
    id: i64,
    department_ids: &[i64],
    reach: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"DELETE FROM category_departments cd USING departments d
           WHERE cd.category_id = $1 AND cd.department_id <> ALL($2) AND d.id = cd.department_id
             AND CASE WHEN d.jurisdiction_id IS NULL
                      THEN EXISTS (SELECT 1 FROM jurisdictions WHERE id = $3 AND parent_id IS NULL)
                      ELSE d.jurisdiction_id IN (SELECT jurisdiction_subtree($3)) END"#,
        id,
        department_ids,
        reach
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO category_departments (category_id, department_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        id,
        department_ids
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
