//! Password reset links (DESIGN §2, §7): the security administrator issues a one-time link valid
//! 24 hours and hands it to the account holder, who sets a password of their own with it. Nobody
//! sees another account's usable password; only a hash of the link's token is stored.

use crate::audit::{self, Actor, Entry};
use crate::error::{AppError, AppResult};
use crate::web::auth::Role;
use crate::web::session;
use crate::web::tokens::revoke_all;
use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgExecutor};
use std::net::IpAddr;

/// How long a link works.
pub fn valid_for() -> Duration {
    Duration::hours(24)
}

/// A link just issued: its token is shown once, in the response of the request that made it.
pub struct Issued {
    pub token: String,
    pub username: String,
    pub expires_at: DateTime<Utc>,
}

/// Issue a reset link for account `user_id`; earlier unused links of the account stop working.
pub async fn issue(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    now: DateTime<Utc>,
) -> AppResult<Issued> {
    super::scope::account(&mut *conn, actor.jurisdiction_id, user_id).await?;
    let username = sqlx::query_scalar!(
        "SELECT username FROM users WHERE id = $1 FOR UPDATE",
        user_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let voided = sqlx::query!(
        "DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL",
        user_id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let token = session::new_token();
    let expires_at = now + valid_for();
    sqlx::query!(
        "INSERT INTO password_resets (token_hash, user_id, issued_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        session::hash(&token),
        user_id,
        actor.id,
        now,
        expires_at
    )
    .execute(&mut *conn)
    .await?;
    let detail = serde_json::json!({"expires_at": expires_at, "voided": voided});
    let entry = Entry::ok("password.reset_link")
        .on("user", user_id)
        .detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Issued {
        token,
        username,
        expires_at,
    })
}

/// The account a link opens, while the link is unused, unexpired and the account active.
pub struct Holder {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    role: Option<String>,
}

impl Holder {
    fn actor(&self, ip: IpAddr) -> Actor {
        Actor {
            id: Some(self.user_id),
            name: self.username.clone(),
            role: self.role.as_deref().and_then(Role::parse).map(Role::as_str),
            ip: Some(ip),
            jurisdiction_id: None,
        }
    }
}

/// Whom a link would let set a password, if it still works.
pub async fn holder(
    db: impl PgExecutor<'_>,
    token: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Holder>> {
    sqlx::query_as!(
        Holder,
        "SELECT u.id AS user_id, u.username, u.display_name, u.role
         FROM password_resets r JOIN users u ON u.id = r.user_id
         WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND u.active",
        session::hash(token),
        now
    )
    .fetch_optional(db)
    .await
}

/// Use a link: the account's password becomes `password_hash` (already checked against the policy
/// and hashed), its lockout is lifted, its sessions end and its API tokens are revoked, and the
/// link is spent. `false` when the link no longer works (used meanwhile, expired, account off).
pub async fn complete(
    conn: &mut PgConnection,
    token: &str,
    password_hash: &str,
    now: DateTime<Utc>,
    ip: IpAddr,
) -> AppResult<bool> {
    let hash = session::hash(token);
    // Re-checked under the row lock: two submits of one link set the password once.
    let Some(holder) = sqlx::query_as!(
        Holder,
        "SELECT u.id AS user_id, u.username, u.display_name, u.role
         FROM password_resets r JOIN users u ON u.id = r.user_id
         WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND u.active
         FOR UPDATE OF r",
        hash,
        now
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(false);
    };
    sqlx::query!(
        "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1",
        hash,
        now
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE users SET password_hash = $2, must_change_password = false, password_changed_at = $3,
                failed_logins = 0, locked_until = NULL WHERE id = $1",
        holder.user_id,
        password_hash,
        now
    )
    .execute(&mut *conn)
    .await?;
    session::end_all(&mut *conn, holder.user_id).await?;
    let revoked = revoke_all(&mut *conn, holder.user_id, now).await?;
    let detail = serde_json::json!({"tokens_revoked": revoked});
    let entry = Entry::ok("password.reset")
        .on("user", holder.user_id)
        .detail(detail);
    audit::record(&mut *conn, &holder.actor(ip), entry).await?;
    Ok(true)
}
