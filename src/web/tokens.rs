//! API tokens as credentials (DESIGN §2): a user's own bearer tokens carry the user's own role.
//! Only a SHA-256 of a token is stored. The `/me/tokens` pages are `api::tokens`.

use crate::web::auth::{CurrentUser, Role};
use crate::web::session;
use axum::extract::Request;
use axum::http::header;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

/// Recognisable in logs and secret scanners; the rest is 256 random bits.
pub const PREFIX: &str = "xft_";

/// The bearer token of an /api request, if it carries one.
pub fn bearer(req: &Request) -> Option<&str> {
    if !crate::web::json::is_api(req.uri().path()) {
        return None;
    }
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `last_used_at` is refreshed at most once a minute, so that calls are not all writes.
fn needs_touch(last_used_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|t| now - t > chrono::Duration::minutes(1))
}

/// The user behind a live (unrevoked, unexpired) token of an active account that has its second
/// factor (or is a demo account while the server runs in demo mode), with its role.
pub async fn lookup(
    db: &PgPool,
    token: &str,
    now: DateTime<Utc>,
    demo_mode: bool,
) -> sqlx::Result<Option<CurrentUser>> {
    let hash = session::hash(token);
    let Some(row) = sqlx::query!(
        r#"SELECT t.id AS token_id, t.last_used_at, u.id, u.username, u.display_name, u.role, u.department_id, u.leader_id,
                  u.jurisdiction_id
           FROM api_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.active
             AND (u.totp_secret IS NOT NULL OR (u.is_demo AND $3))"#,
        hash,
        now,
        demo_mode
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    // A role that may not hold tokens (it changed since) gets nothing from an old token.
    let Some(role) = row
        .role
        .as_deref()
        .and_then(Role::parse)
        .filter(|r| may_hold(*r))
    else {
        return Ok(None);
    };
    if needs_touch(row.last_used_at, now) {
        sqlx::query!(
            "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
            row.token_id,
            now
        )
        .execute(db)
        .await?;
    }
    Ok(Some(CurrentUser {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        role,
        department_id: row.department_id,
        leader_id: row.leader_id,
        jurisdiction_id: row.jurisdiction_id,
        // The forced password change is a matter of the web sign-in; a token was made after it.
        must_change_password: false,
        session_hash: None,
    }))
}

/// Roles with own API tokens (DESIGN §2): not the sysadmin nor the auditor.
pub fn may_hold(role: Role) -> bool {
    matches!(
        role,
        Role::Staff | Role::Leader | Role::Handler | Role::Supervisor
    )
}

/// Revoke every live token of a user; returns how many. Expired ones stay shown as expired.
pub async fn revoke_all(
    db: impl PgExecutor<'_>,
    user_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
        user_id,
        now
    )
    .execute(db)
    .await?
    .rows_affected())
}

/// How many of a user's tokens still work at `now`.
pub async fn active_count(
    db: impl PgExecutor<'_>,
    user_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2"#,
        user_id,
        now
    )
    .fetch_one(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_working_roles_hold_tokens() {
        let holders: Vec<Role> = Role::ALL.into_iter().filter(|r| may_hold(*r)).collect();
        assert_eq!(
            holders,
            [Role::Staff, Role::Leader, Role::Handler, Role::Supervisor]
        );
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute() {
        let now: DateTime<Utc> = "2026-11-22T01:00:00Z".parse().unwrap();
        assert!(needs_touch(None, now));
        assert!(!needs_touch(Some(now - chrono::Duration::seconds(30)), now));
        assert!(needs_touch(Some(now - chrono::Duration::seconds(61)), now));
    }
}
