//! Sessions stored in Postgres, so that any instance serves any request.
//!
//! One table joined with `users` in one query per request: the idle and absolute timeouts are read
//! through the injectable clock, and "end every session of this user" is one DELETE. Only a SHA-256
//! of the cookie value is stored, so a copy of the table opens no session.

use crate::web::auth::{CurrentUser, Role};
use axum_extra::extract::cookie::{Cookie, SameSite};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, PgPool};
use std::net::IpAddr;

pub const COOKIE: &str = "xf_session";

/// A cookie's name: over TLS with the `__Host-` prefix, which browsers accept only with
/// `Secure`, `Path=/` and no `Domain`, so that no other host or plain-HTTP page can set it.
pub fn cookie_name(name: &'static str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A fresh random session token (256 bits) — a new id at every login.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub async fn create(
    db: impl PgExecutor<'_>,
    user_id: i64,
    now: DateTime<Utc>,
    ip: IpAddr,
    user_agent: Option<&str>,
) -> sqlx::Result<String> {
    let token = new_token();
    let ua = user_agent.map(|s| s.chars().take(300).collect::<String>());
    sqlx::query!(
        "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, ip, user_agent) VALUES ($1, $2, $3, $3, $4, $5)",
        hash(&token),
        user_id,
        now,
        sqlx::types::ipnet::IpNet::from(ip),
        ua,
    )
    .execute(db)
    .await?;
    Ok(token)
}

pub async fn end(db: impl PgExecutor<'_>, id_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM sessions WHERE id_hash = $1", id_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Logout everywhere: password change, reset, deactivation.
pub async fn end_all(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM sessions WHERE user_id = $1", user_id)
        .execute(db)
        .await?;
    Ok(())
}

pub use crate::config::Timeouts;

/// Why a stored session no longer counts (a pure rule, tested below).
pub fn expired(
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    now: DateTime<Utc>,
    t: &Timeouts,
) -> bool {
    now - last_seen_at > t.idle || now - created_at > t.absolute
}

/// Refresh `last_seen_at` only when it has aged a little, so a page view is not always a write.
fn needs_touch(last_seen_at: DateTime<Utc>, now: DateTime<Utc>, t: &Timeouts) -> bool {
    now - last_seen_at > (t.idle / 10).min(Duration::seconds(60))
}

/// The user behind a session cookie, if the session is alive; expired sessions are deleted.
pub async fn lookup(
    db: &PgPool,
    token: &str,
    now: DateTime<Utc>,
    t: &Timeouts,
) -> sqlx::Result<Option<CurrentUser>> {
    let id_hash = hash(token);
    let Some(row) = sqlx::query!(
        r#"SELECT s.created_at, s.last_seen_at, u.id, u.username, u.display_name, u.role,
                  u.department_id, u.leader_id, u.jurisdiction_id, u.must_change_password, u.active
           FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1"#,
        id_hash
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    // An account without a role (revoked since) has no session.
    let role = row.role.as_deref().and_then(Role::parse);
    if !row.active || role.is_none() || expired(row.created_at, row.last_seen_at, now, t) {
        end(db, &id_hash).await?;
        return Ok(None);
    }
    if needs_touch(row.last_seen_at, now, t) {
        sqlx::query!(
            "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1",
            id_hash,
            now
        )
        .execute(db)
        .await?;
    }
    Ok(Some(CurrentUser {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        role: role.unwrap(),
        department_id: row.department_id,
        leader_id: row.leader_id,
        jurisdiction_id: row.jurisdiction_id,
        must_change_password: row.must_change_password,
        session_hash: Some(id_hash),
    }))
}

/// The session token a request's cookies carry, under the name `secure` gives it.
pub fn from_jar(jar: &axum_extra::extract::cookie::CookieJar, secure: bool) -> Option<&str> {
    jar.get(&cookie_name(COOKIE, secure)).map(|c| c.value())
}

/// The session cookie: HttpOnly, SameSite=Lax, Secure when served over TLS (DESIGN §7).
pub fn cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((cookie_name(COOKIE, secure), token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
}

pub fn removal(secure: bool) -> Cookie<'static> {
    let mut c = cookie(String::new(), secure);
    c.make_removal();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Timeouts {
        Timeouts {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }
    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn idle_for_more_than_thirty_minutes_expires() {
        let login = at("2026-11-22T01:00:00Z");
        assert!(!expired(login, login, at("2026-11-22T01:30:00Z"), &t()));
        assert!(expired(login, login, at("2026-11-22T01:30:01Z"), &t()));
    }

    #[test]
    fn twelve_hours_after_login_expires_even_when_active() {
        let login = at("2026-11-22T01:00:00Z");
        let seen = at("2026-11-22T12:59:00Z");
        assert!(!expired(login, seen, at("2026-11-22T13:00:00Z"), &t()));
        assert!(expired(login, seen, at("2026-11-22T13:00:01Z"), &t()));
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(hash(&a).len(), 32);
        assert_ne!(hash(&a), a.as_bytes());
    }

    #[test]
    fn touching_is_throttled() {
        let seen = at("2026-11-22T01:00:00Z");
        assert!(!needs_touch(seen, at("2026-11-22T01:00:30Z"), &t()));
        assert!(needs_touch(seen, at("2026-11-22T01:01:01Z"), &t()));
    }
}
