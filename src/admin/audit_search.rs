//! The auditor's filtered read of the audit log, newest first, a page at a time. Nobody can change it.
//! An auditor reads the entries of their jurisdiction's subtree (DESIGN §2); entries of no
//! jurisdiction (an unknown name typed at the login form, anonymous acts on nothing known) belong
//! to the deployment and only the auditor of a root jurisdiction (a province) reads them.

use crate::web::auth::Role;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

pub const PAGE_SIZE: i64 = 50;

/// What to look for; `None` means any.
pub struct AuditQuery<'a> {
    /// A prefix of the action (`user.` finds every user action).
    pub action: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub success: Option<bool>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// From 0, `PAGE_SIZE` entries a page.
    pub page: i64,
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

/// How many entries match, and the requested page of them.
pub async fn search(
    db: impl PgExecutor<'_> + Copy,
    q: &AuditQuery<'_>,
) -> sqlx::Result<(i64, Vec<AuditEntry>)> {
    Ok((count(db, q).await?, page(db, q).await?))
}

async fn count(db: impl PgExecutor<'_>, q: &AuditQuery<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_log
           WHERE ($1::text IS NULL OR action LIKE $1 || '%') AND ($2::text IS NULL OR actor_name = $2)
             AND ($3::bool IS NULL OR success = $3) AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
             AND (jurisdiction_id IN (SELECT jurisdiction_subtree($6))
                  OR object_jurisdiction_id IN (SELECT jurisdiction_subtree($6))
                  OR (jurisdiction_id IS NULL AND EXISTS (SELECT 1 FROM jurisdictions WHERE id = $6 AND parent_id IS NULL)))"#,
        q.action,
        q.actor,
        q.success,
        q.from,
        q.to,
        q.within
    )
    .fetch_one(db)
    .await
}

async fn page(db: impl PgExecutor<'_>, q: &AuditQuery<'_>) -> sqlx::Result<Vec<AuditEntry>> {
    Ok(sqlx::query!(
        r#"SELECT at, actor_name, role, host(ip) AS ip, action, object_type, object_id, success, detail FROM audit_log
           WHERE ($1::text IS NULL OR action LIKE $1 || '%') AND ($2::text IS NULL OR actor_name = $2)
             AND ($3::bool IS NULL OR success = $3) AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
             AND (jurisdiction_id IN (SELECT jurisdiction_subtree($8))
                  OR object_jurisdiction_id IN (SELECT jurisdiction_subtree($8))
                  OR (jurisdiction_id IS NULL AND EXISTS (SELECT 1 FROM jurisdictions WHERE id = $8 AND parent_id IS NULL)))
           ORDER BY at DESC, id DESC LIMIT $6 OFFSET $7"#,
        q.action,
        q.actor,
        q.success,
        q.from,
        q.to,
        PAGE_SIZE,
        q.page * PAGE_SIZE,
        q.within
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
