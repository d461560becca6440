//! The administrators' reach (DESIGN §2): a jurisdiction and everything below it. Accounts,
//! departments and leaders not yet placed in the tree (no jurisdiction) belong to the deployment:
//! only an administrator of a root jurisdiction (a province) reaches them; the same holds for
//! audit entries without one (an unknown name typed at the login form).

use crate::error::{AppError, AppResult};
use crate::web::form::Choice;
use sqlx::PgExecutor;

/// Whether jurisdiction `j` (`None`: unplaced) is within `viewer`'s subtree (`None` reaches nothing).
pub async fn contains(
    db: impl PgExecutor<'_>,
    viewer: Option<i64>,
    j: Option<i64>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"SELECT jurisdiction_reaches($1, $2) AS "e!""#, viewer, j)
        .fetch_one(db)
        .await
}

/// `Ok` when the account `id` exists and is within `viewer`'s subtree; otherwise 404, exactly like
/// an unknown id.
pub async fn account(db: impl PgExecutor<'_>, viewer: Option<i64>, id: i64) -> AppResult<()> {
    let reached = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = $2 AND jurisdiction_reaches($1, u.jurisdiction_id)) AS "e!""#,
        viewer,
        id
    )
    .fetch_one(db)
    .await?;
    reached.then_some(()).ok_or(AppError::NotFound)
}

/// The provinces, cities and counties in `viewer`'s subtree for a select, in code order (a city
/// right above its counties), indented by level so that thousands of counties stay usable.
pub async fn choices(db: impl PgExecutor<'_>, viewer: Option<i64>) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        r#"SELECT j.id, repeat('　', array_position(ARRAY['province', 'city', 'county'], j.level) - 1) || j.name AS "label!"
           FROM jurisdictions j
           WHERE j.id IN (SELECT jurisdiction_subtree($1)) AND j.level <> 'township'
           ORDER BY j.code"#,
        viewer
    )
    .fetch_all(db)
    .await
}

/// `Ok` when department `id` exists and is within `viewer`'s subtree; otherwise 404.
pub async fn department(db: impl PgExecutor<'_>, viewer: Option<i64>, id: i64) -> AppResult<()> {
    let reached = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM departments d WHERE d.id = $2 AND jurisdiction_reaches($1, d.jurisdiction_id)) AS "e!""#,
        viewer,
        id
    )
    .fetch_one(db)
    .await?;
    reached.then_some(()).ok_or(AppError::NotFound)
}

/// `Ok` when leader `id` exists and its jurisdiction (`leaders.county_id`) is within `viewer`'s
/// subtree; otherwise 404.
pub async fn leader(db: impl PgExecutor<'_>, viewer: Option<i64>, id: i64) -> AppResult<()> {
    let reached = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM leaders l WHERE l.id = $2 AND jurisdiction_reaches($1, l.county_id)) AS "e!""#,
        viewer,
        id
    )
    .fetch_one(db)
    .await?;
    reached.then_some(()).ok_or(AppError::NotFound)
}
