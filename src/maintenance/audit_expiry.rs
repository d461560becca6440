//! Audit-entry expiry (DESIGN §7): entries older than their period are deleted by the owner (the
//! app role cannot). Only a prefix of the log goes — everything before the first entry still
//! kept — so the chain stays whole: `audit::verify` takes the first surviving entry's link as it is.

use super::retention::periods;
use super::rules::Kind;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// What one run deleted, and the first entry it kept.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expired {
    pub entries: u64,
    pub kept_from: i64,
}

/// Delete, `batch` at a time, the entries before the first one not yet due at `now` (an entry
/// belongs to its actor's jurisdiction, else its object's).
pub async fn run(owner: &PgPool, now: DateTime<Utc>, batch: i64) -> anyhow::Result<Expired> {
    let c = periods(owner).await?.cutoffs(Kind::Audit, now);
    // The first entry kept; when none is, all of them up to the last go (this run's own follows).
    let kept_from = sqlx::query_scalar!(
        r#"SELECT COALESCE(min(a.id) FILTER (WHERE a.at > COALESCE(l.cutoff, $3)), max(a.id) + 1, 0) AS "kept_from!"
           FROM audit_log a
           LEFT JOIN unnest($1::bigint[], $2::timestamptz[]) AS l(j, cutoff)
                  ON l.j = COALESCE(a.jurisdiction_id, a.object_jurisdiction_id)"#,
        &c.jurisdictions,
        &c.cutoffs,
        c.default
    )
    .fetch_one(owner)
    .await?;
    let mut entries = 0;
    loop {
        let gone = sqlx::query!(
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE id < $1 ORDER BY id LIMIT $2)",
            kept_from,
            batch
        )
        .execute(owner)
        .await?
        .rows_affected();
        if gone == 0 {
            break;
        }
        entries += gone;
    }
    Ok(Expired { entries, kept_from })
}
