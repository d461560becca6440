//! The purge (DESIGN §7): what traffic leaves behind and nobody needs any more — expired
//! sessions, used registration-form tokens past their expiry, idempotency keys past their window
//! and ended rate-limit windows. Every instance ticks (`app::housekeeping`); an advisory lock lets
//! one of them purge per tick.

use crate::config::Timeouts;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

/// The advisory lock key of the purge ("xfpurge").
const LOCK: i64 = 0x0078_6670_7572_6765;

/// How long each kind of row is kept.
pub struct Windows {
    pub sessions: Timeouts,
    /// An Idempotency-Key answers retries for this long.
    pub idempotency: Duration,
}

/// Rows removed by one purge.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub form_tokens: u64,
    pub idempotency_keys: u64,
    pub rate_limits: u64,
}

/// Purge once; None when another instance is purging right now.
pub async fn run(db: &PgPool, now: DateTime<Utc>, w: &Windows) -> sqlx::Result<Option<Purged>> {
    let mut tx = db.begin().await?;
    let got = sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock($1) AS "got!""#, LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !got {
        return Ok(None);
    }
    let sessions = sqlx::query!(
        "DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2",
        now - w.sessions.idle,
        now - w.sessions.absolute
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let form_tokens = sqlx::query!("DELETE FROM form_tokens WHERE expires_at < $1", now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let idempotency_keys = sqlx::query!(
        "DELETE FROM idempotency_keys WHERE created_at < $1",
        now - w.idempotency
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let rate_limits = crate::web::rate_limit::purge(&mut *tx, now).await?;
    tx.commit().await?;
    Ok(Some(Purged {
        sessions,
        form_tokens,
        idempotency_keys,
        rate_limits,
    }))
}
