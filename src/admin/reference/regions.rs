//! The jurisdiction tree in the database (DESIGN §11): the shipped provinces, cities and counties
//! upserted by code at start-up (skipped when all are there), and townships imported per county.

use super::region_rules::{self, LineError};
use crate::web::form::Choice;
use sqlx::{PgConnection, PgPool};

/// Upsert the shipped list unless every code is already there. Returns the rows written.
/// Names and parents follow the file; a government body the sysadmin renamed is kept.
pub async fn ensure_shipped(db: &PgPool) -> sqlx::Result<usize> {
    let rows = region_rules::shipped();
    let codes: Vec<String> = rows.iter().map(|r| r.code.clone()).collect();
    let present = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM jurisdictions WHERE code = ANY($1)"#,
        &codes
    )
    .fetch_one(db)
    .await?;
    if present == codes.len() as i64 {
        return Ok(0);
    }
    upsert_shipped(db, &rows, &codes).await?;
    Ok(rows.len())
}

/// One upsert of every row, then each row's parent by code.
async fn upsert_shipped(
    db: &PgPool,
    rows: &[region_rules::Region],
    codes: &[String],
) -> sqlx::Result<()> {
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let levels: Vec<String> = rows.iter().map(|r| r.level.to_string()).collect();
    let parents: Vec<String> = rows.iter().map(|r| r.parent_code.clone()).collect();
    let governments: Vec<String> = rows.iter().map(|r| r.government.clone()).collect();
    let mut tx = db.begin().await?;
    // Several instances may start together.
    sqlx::query!("SELECT pg_advisory_xact_lock(7263003)")
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO jurisdictions (code, name, level, government)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level",
        codes,
        &names,
        &levels,
        &governments
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE jurisdictions j SET parent_id = p.id
         FROM unnest($1::text[], $2::text[]) f(code, parent_code)
         JOIN jurisdictions p ON p.code = f.parent_code
         WHERE j.code = f.code AND j.parent_id IS DISTINCT FROM p.id",
        codes,
        &parents
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Why a township file was refused.
#[derive(Debug)]
pub enum ImportError {
    Line(LineError),
    UnknownCounty { line: usize, code: String },
    Db(sqlx::Error),
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Line(e) => e.fmt(f),
            Self::UnknownCounty { line, code } => write!(
                f,
                "第 {line} 行 (line {line})：区县代码 {code} 不存在 (no county with code {code})"
            ),
            Self::Db(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ImportError {}

impl From<LineError> for ImportError {
    fn from(e: LineError) -> Self {
        Self::Line(e)
    }
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

/// Load a township CSV (`code,name,county_code`) into the tree: all lines or none, upserted by
/// code, so that importing the same file again changes nothing. Returns the townships in the file.
pub async fn import_townships(conn: &mut PgConnection, text: &str) -> Result<usize, ImportError> {
    let rows = region_rules::parse_townships(text)?;
    let wanted: Vec<String> = rows.iter().map(|r| r.county_code.clone()).collect();
    let known: std::collections::HashSet<String> = sqlx::query_scalar!(
        "SELECT code FROM jurisdictions WHERE code = ANY($1) AND level IN ('city', 'county')",
        &wanted
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    if let Some(r) = rows.iter().find(|r| !known.contains(&r.county_code)) {
        return Err(ImportError::UnknownCounty {
            line: r.line,
            code: r.county_code.clone(),
        });
    }
    let codes: Vec<String> = rows.iter().map(|r| r.code.clone()).collect();
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let counties: Vec<String> = rows.iter().map(|r| r.county_code.clone()).collect();
    let governments: Vec<String> = rows
        .iter()
        .map(|r| region_rules::government(&r.name, "township"))
        .collect();
    sqlx::query!(
        "INSERT INTO jurisdictions (code, name, level, parent_id, government)
         SELECT f.code, f.name, 'township', c.id, f.government
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) f(code, name, county, government)
         JOIN jurisdictions c ON c.code = f.county
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, level = 'township', parent_id = EXCLUDED.parent_id",
        &codes,
        &names,
        &counties,
        &governments
    )
    .execute(&mut *conn)
    .await?;
    Ok(rows.len())
}

/// The counties within `root`'s subtree (`None`: none) for a select, labelled by name in code order.
pub async fn working_counties(db: &PgPool, root: Option<i64>) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        r#"SELECT j.id, j.name AS label FROM jurisdictions j
           WHERE j.level = 'county' AND j.id IN (SELECT jurisdiction_subtree($1))
           ORDER BY j.code"#,
        root
    )
    .fetch_all(db)
    .await
}
