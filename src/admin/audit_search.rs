//! The auditor's filtered read of the audit log, newest first, a page at a time. Nobody can change it.
//! An auditor reads the entries of their jurisdiction's subtree (DESIGN §2); entries of no
//! jurisdiction (an unknown name typed at the login form, anonymous acts on nothing known) belong
//! to the deployment and only the auditor of a root jurisdiction (a province) reads them.

use crate::audit::{self, Actor, Entry};
use crate::web::auth::Role;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

pub const PAGE_SIZE: i64 = 50;
/// Entries in one export at most (a county's year is far fewer).
pub const EXPORT_ROWS: i64 = 50_000;

/// What to look for; `None` means any.
#[derive(Default)]
pub struct AuditQuery<'a> {
    /// Exactly this action.
    pub action: Option<&'a str>,
    /// A prefix of the action (`user.` finds every user action).
    pub action_prefix: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub success: Option<bool>,
    pub object_type: Option<&'a str>,
    pub object_id: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// The auditor's jurisdiction (`None`: nothing).
    pub within: Option<i64>,
}

pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor_name: String,
    pub role: Option<Role>,
    pub ip: Option<String>,
    pub action: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub success: bool,
    pub detail: serde_json::Value,
}

/// How many entries match, and page `page` (from 0) of them.
pub async fn search(
    db: impl PgExecutor<'_> + Copy,
    q: &AuditQuery<'_>,
    page: i64,
) -> sqlx::Result<(i64, Vec<AuditEntry>)> {
    let entries = fetch(db, q, PAGE_SIZE, page * PAGE_SIZE).await?;
    Ok((count(db, q).await?, entries))
}

/// The entries an export holds (the first `EXPORT_ROWS`), the export itself recorded with
/// `detail` (the filter as the auditor chose it).
pub async fn export(
    db: &PgPool,
    actor: &Actor,
    q: &AuditQuery<'_>,
    mut detail: serde_json::Value,
) -> sqlx::Result<Vec<AuditEntry>> {
    let entries = fetch(db, q, EXPORT_ROWS, 0).await?;
    detail["count"] = entries.len().into();
    audit::record(db, actor, Entry::ok("audit.export").detail(detail)).await?;
    Ok(entries)
}

async fn count(db: impl PgExecutor<'_>, q: &AuditQuery<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_log
           WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR starts_with(action, $2))
             AND ($3::text IS NULL OR actor_name = $3) AND ($4::bool IS NULL OR success = $4)
             AND ($5::text IS NULL OR object_type = $5) AND ($6::text IS NULL OR object_id = $6)
             AND ($7::timestamptz IS NULL OR at >= $7) AND ($8::timestamptz IS NULL OR at < $8)
             AND (jurisdiction_id IN (SELECT jurisdiction_subtree($9))
                  OR object_jurisdiction_id IN (SELECT jurisdiction_subtree($9))
                  OR (jurisdiction_id IS NULL AND EXISTS (SELECT 1 FROM jurisdictions WHERE id = $9 AND parent_id IS NULL)))"#,
        q.action,
        q.action_prefix,
        q.actor,
        q.success,
        q.object_type,
        q.object_id,
        q.from,
        q.to,
        q.within
    )
    .fetch_one(db)
    .await
}

/// Newest first, `limit` entries from `offset`.
async fn fetch(
    db: impl PgExecutor<'_>,
    q: &AuditQuery<'_>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<AuditEntry>> {
    Ok(sqlx::query!(
        r#"SELECT at, actor_name, role, host(ip) AS ip, action, object_type, object_id, success, detail FROM audit_log
           WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR starts_with(action, $2))
             AND ($3::text IS NULL OR actor_name = $3) AND ($4::bool IS NULL OR success = $4)
             AND ($5::text IS NULL OR object_type = $5) AND ($6::text IS NULL OR object_id = $6)
             AND ($7::timestamptz IS NULL OR at >= $7) AND ($8::timestamptz IS NULL OR at < $8)
             AND (jurisdiction_id IN (SELECT jurisdiction_subtree($9))
                  OR object_jurisdiction_id IN (SELECT jurisdiction_subtree($9))
                  OR (jurisdiction_id IS NULL AND EXISTS (SELECT 1 FROM jurisdictions WHERE id = $9 AND parent_id IS NULL)))
           ORDER BY at DESC, id DESC LIMIT $10 OFFSET $11"#,
        q.action,
        q.action_prefix,
        q.actor,
        q.success,
        q.object_type,
        q.object_id,
        q.from,
        q.to,
        q.within,
        limit,
        offset
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| AuditEntry {
        at: r.at,
        actor_name: r.actor_name,
        role: r.role.and_then(|s| Role::parse(&s)),
        ip: r.ip,
        action: r.action,
        object_type: r.object_type,
        object_id: r.object_id,
        success: r.success,
        detail: r.detail,
    })
    .collect())
}
