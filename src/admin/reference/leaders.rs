//! The leaders who receive citizens: level, portfolio (分管范围), jurisdiction (`county_id`) and
//! categories. The sysadmin reaches only the leaders within their subtree.

use crate::audit::{self, Actor, Entry};
use crate::error::{AppError, AppResult};
use sqlx::PgConnection;

/// Levels of a leader (the `leaders.level` CHECK), with their labels.
pub const LEVELS: [(&str, &str); 4] = [
    ("province", "省级"),
    ("city", "市级"),
    ("county", "县级"),
    ("township", "乡镇级"),
];

pub fn level_label(level: &str) -> &'static str {
    LEVELS
        .iter()
        .find(|(v, _)| *v == level)
        .map(|(_, l)| *l)
        .unwrap_or("未知")
}

/// A checked leader form: the county and categories are ones the form offered.
pub struct LeaderInput {
    pub name: String,
    pub title: String,
    /// One of `LEVELS`.
    pub level: &'static str,
    pub portfolio: String,
    pub county_id: Option<i64>,
    pub category_ids: Vec<i64>,
    /// Only an edit can deactivate; a new leader is active.
    pub active: bool,
}

fn detail(v: &LeaderInput) -> serde_json::Value {
    serde_json::json!({
        "name": v.name, "title": v.title, "level": v.level, "county_id": v.county_id,
        "category_ids": v.category_ids, "active": v.active,
    })
}

pub async fn create(conn: &mut PgConnection, actor: &Actor, v: &LeaderInput) -> AppResult<i64> {
    let id = sqlx::query_scalar!(
        "INSERT INTO leaders (name, title, level, portfolio, county_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        v.name,
        v.title,
        v.level,
        v.portfolio,
        v.county_id
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO leader_categories (leader_id, category_id) SELECT $1, unnest($2::bigint[])",
        id,
        &v.category_ids
    )
    .execute(&mut *conn)
    .await?;
    let entry = Entry::ok("leader.create")
        .on("leader", id)
        .detail(detail(v));
    audit::record(&mut *conn, actor, entry).await?;
    Ok(id)
}

/// Change everything about a leader; the audit entry keeps what it was.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    v: &LeaderInput,
) -> AppResult<()> {
    crate::admin::scope::leader(&mut *conn, actor.jurisdiction_id, id).await?;
    let old = sqlx::query!(
        r#"SELECT name, title, level, county_id, active,
                  COALESCE(ARRAY(SELECT category_id FROM leader_categories WHERE leader_id = $1 ORDER BY category_id), '{}') AS "category_ids!"
           FROM leaders WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    sqlx::query!(
        "UPDATE leaders SET name = $2, title = $3, level = $4, portfolio = $5, county_id = $6, active = $7 WHERE id = $1",
        id,
        v.name,
        v.title,
        v.level,
        v.portfolio,
        v.county_id,
        v.active
    )
    .execute(&mut *conn)
    .await?;
    set_categories(&mut *conn, id, &v.category_ids).await?;
    let mut detail = detail(v);
    detail["from"] = serde_json::json!({
        "name": old.name, "title": old.title, "level": old.level, "county_id": old.county_id,
        "category_ids": old.category_ids, "active": old.active,
    });
    let entry = Entry::ok("leader.update").on("leader", id).detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(())
}

async fn set_categories(
    conn: &mut PgConnection,
    id: i64,
    category_ids: &[i64],
) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM leader_categories WHERE leader_id = $1 AND category_id <> ALL($2)",
        id,
        category_ids
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO leader_categories (leader_id, category_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        id,
        category_ids
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
