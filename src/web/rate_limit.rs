//! Per-IP limits on anonymous forms, counted in Postgres so that they hold across instances
//! (DESIGN §7–8): one row per bucket and minute, `count + 1` in a single statement.

use crate::error::ErrorMessage;
use crate::web::page::{ErrorPage, Layout, WayBack, render_status};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, DurationRound, Utc};
use sqlx::PgExecutor;

/// The fixed one-minute window `now` falls in, and the seconds until the next one.
pub fn window(now: DateTime<Utc>) -> (DateTime<Utc>, i64) {
    let start = now
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or(now);
    let retry_after = (start + chrono::Duration::minutes(1) - now)
        .num_seconds()
        .max(1);
    (start, retry_after)
}

/// Count one request in `bucket`; over `per_minute` → a 429 page with Retry-After.
pub async fn hit(
    db: impl PgExecutor<'_>,
    bucket: &str,
    per_minute: u32,
    now: DateTime<Utc>,
) -> Result<(), Response> {
    let (start, retry_after) = window(now);
    let count = sqlx::query_scalar!(
        "INSERT INTO rate_limits (bucket, window_start, count) VALUES ($1, $2, 1)
         ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count",
        bucket,
        start
    )
    .fetch_one(db)
    .await;
    match count {
        Ok(n) if n as i64 > per_minute as i64 => Err(too_many(retry_after)),
        Ok(_) => Ok(()),
        // A counter is not worth refusing a citizen over: log and let the request through.
        Err(e) => {
            tracing::warn!(error = %e, "rate-limit counter unavailable");
            Ok(())
        }
    }
}

/// The limits on `/login`: one client IP, and every client together.
pub struct LoginLimits {
    pub per_ip: u32,
    pub global: u32,
}

/// Count one sign-in attempt from `ip`; over either limit → a 429 page with Retry-After. The
/// per-IP bucket is counted first, so one client held at its limit stops adding to the global one.
pub async fn login(
    db: &sqlx::PgPool,
    ip: std::net::IpAddr,
    limits: &LoginLimits,
    now: DateTime<Utc>,
) -> Result<(), Response> {
    hit(db, &format!("login:{ip}"), limits.per_ip, now).await?;
    hit(db, "login", limits.global, now).await
}

/// Drop the counters of windows that have ended, each by its own length (the housekeeping loop
/// calls this every minute).
pub async fn purge(db: impl PgExecutor<'_>, now: DateTime<Utc>) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "DELETE FROM rate_limits WHERE window_start + make_interval(secs => window_seconds) <= $1",
        now
    )
    .execute(db)
    .await?
    .rows_affected())
}

fn too_many(retry_after: i64) -> Response {
    let message = format!("您的操作过于频繁，请 {retry_after} 秒后再试。");
    let page = ErrorPage {
        layout: Layout::bare("操作过于频繁"),
        code: 429,
        message: message.clone(),
        way_back: WayBack::home_page(),
    };
    let mut response = render_status(StatusCode::TOO_MANY_REQUESTS, &page);
    response.extensions_mut().insert(ErrorMessage(message));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_minutes() {
        let (start, retry) = window("2026-11-22T01:02:45Z".parse().unwrap());
        assert_eq!(
            start,
            "2026-11-22T01:02:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(retry, 15);
        let (_, retry) = window("2026-11-22T01:02:00Z".parse().unwrap());
        assert_eq!(retry, 60);
    }
}
