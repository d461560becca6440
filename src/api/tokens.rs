//! API tokens held by users (DESIGN §2): issuing one (its secret returned once), revoking one's own,
//! and the sysadmin's revoke-all. Each audited in its transaction; the store and the bearer check
//! are `web::tokens`, the `/me/tokens` pages `api::pages::tokens`.

use crate::audit::{self, Actor, Entry};
use crate::error::{AppError, AppResult};
use crate::web::session;
use crate::web::tokens::{PREFIX, revoke_all};
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

/// A token the user just created: the secret exists only here, the database keeps its hash.
pub struct Issued {
    pub id: i64,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What a new token is: whose, its name (already checked: 1–60 characters), how long it works.
pub struct TokenRequest<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub ttl: Duration,
    /// `serve --demo`: a demo account needs no second factor for a token either.
    pub demo_mode: bool,
}

/// A new token: only for an account that has its second factor (DESIGN §7), since a token
/// signs in without one.
pub async fn issue(
    conn: &mut PgConnection,
    actor: &Actor,
    request: TokenRequest<'_>,
    now: DateTime<Utc>,
) -> AppResult<Issued> {
    let (user_id, name, ttl) = (request.user_id, request.name, request.ttl);
    let enrolled = sqlx::query_scalar!(
        r#"SELECT (totp_secret IS NOT NULL OR (is_demo AND $2)) AS "ok!" FROM users WHERE id = $1 FOR UPDATE"#,
        user_id,
        request.demo_mode
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if !enrolled {
        return Err(AppError::BadRequest(
            "账号尚未绑定双因素认证，不能创建 API 令牌。请先退出并重新登录完成绑定。".into(),
        ));
    }
    let token = format!("{PREFIX}{}", session::new_token());
    let expires_at = now + ttl;
    let id = sqlx::query_scalar!(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        user_id,
        name,
        session::hash(&token),
        now,
        expires_at
    )
    .fetch_one(&mut *conn)
    .await?;
    let entry = Entry::ok("api_token.create")
        .on("api_token", id)
        .detail(serde_json::json!({"name": name, "expires_at": expires_at}));
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Issued {
        id,
        token,
        expires_at,
    })
}

/// Revoke one of `user_id`'s own tokens (others' are unknown: not found); returns its name.
pub async fn revoke(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let name = sqlx::query_scalar!(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND user_id = $2 RETURNING name",
        id,
        user_id,
        now
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let entry = Entry::ok("api_token.revoke").on("api_token", id);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(name)
}

/// The sysadmin revokes every live token of an account; returns how many.
pub async fn revoke_all_of(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    // Only an account within the security administrator's subtree (DESIGN §2); else 404.
    crate::admin::scope::account(&mut *conn, actor.jurisdiction_id, user_id).await?;
    sqlx::query_scalar!("SELECT id FROM users WHERE id = $1 FOR UPDATE", user_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let n = revoke_all(&mut *conn, user_id, now).await?;
    let entry = Entry::ok("api_token.revoke_all")
        .on("user", user_id)
        .detail(serde_json::json!({"revoked": n}));
    audit::record(&mut *conn, actor, entry).await?;
    Ok(n)
}
