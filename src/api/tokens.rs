//! API tokens (DESIGN §2): a user's own bearer tokens carry the user's own role. Only a SHA-256
//! of a token is stored; the token itself is shown once, at creation.

use crate::app::AppState;
use crate::audit::{self, Entry};
use crate::clock::china_minute;
use crate::error::AppError;
use crate::web::auth::{CurrentUser, Role};
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash, session};
use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{PgExecutor, PgPool};

/// Recognisable in logs and secret scanners; the rest is 256 random bits.
const PREFIX: &str = "xft_";

/// The bearer token of an /api request, if it carries one.
pub fn bearer(req: &Request) -> Option<&str> {
    if !crate::api::is_api(req.uri().path()) {
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

/// The user behind a live token of an active account, with that account's role.
pub async fn lookup(
    db: &PgPool,
    token: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<CurrentUser>> {
    let hash = session::hash(token);
    let Some(row) = sqlx::query!(
        r#"SELECT t.id AS token_id, t.last_used_at, u.id, u.username, u.display_name, u.role, u.department_id, u.leader_id
           FROM api_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active"#,
        hash
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    // A role that may not hold tokens (it changed since) gets nothing from an old token.
    let Some(role) = Role::parse(&row.role).filter(|r| may_hold(*r)) else {
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

/// Revoke every live token of a user; returns how many.
pub async fn revoke_all(
    db: impl PgExecutor<'_>,
    user_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        now
    )
    .execute(db)
    .await?
    .rows_affected())
}

pub async fn active_count(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL"#,
        user_id
    )
    .fetch_one(db)
    .await?)
}

// ---- /me/tokens -----------------------------------------------------------------------------

struct TokenRow {
    id: i64,
    name: String,
    created: String,
    last_used: String,
    revoked: String,
}

#[derive(Template)]
#[template(path = "account/tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<TokenRow>,
    name: String,
    errors: Errors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    name: String,
}

async fn tokens_page(
    state: &AppState,
    ctx: &Ctx,
    user: &CurrentUser,
    name: String,
    errors: Errors,
) -> Result<TokensPage, AppError> {
    let tokens = sqlx::query!(
        "SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY revoked_at IS NOT NULL, created_at DESC, id DESC",
        user.id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|t| TokenRow {
        id: t.id,
        name: t.name,
        created: china_minute(t.created_at),
        last_used: t.last_used_at.map(china_minute).unwrap_or_else(|| "未使用".into()),
        revoked: t.revoked_at.map(china_minute).unwrap_or_default(),
    })
    .collect();
    Ok(TokensPage {
        layout: ctx.layout("API 访问令牌"),
        tokens,
        name,
        errors,
    })
}

/// `GET /me/tokens`
pub async fn list(State(state): State<AppState>, ctx: Ctx, user: CurrentUser) -> Page {
    render(&tokens_page(&state, &ctx, &user, String::new(), Errors::default()).await?)
}

/// `POST /me/tokens`: a new token, shown once on the next page.
pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Form(f): Form<TokenForm>,
) -> Page {
    let mut errors = Errors::default();
    let name = text(&mut errors, "name", "令牌名称", &f.name, 1, 60);
    if !errors.is_empty() {
        let page = tokens_page(&state, &ctx, &user, f.name, errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let token = format!("{PREFIX}{}", session::new_token());
    let mut tx = state.db.begin().await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        user.id,
        name,
        session::hash(&token),
        state.clock.now()
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("api_token.create")
            .on("api_token", id)
            .detail(serde_json::json!({"name": name})),
    )
    .await?;
    tx.commit().await?;
    let message = format!(
        "已创建令牌「{name}」：{token}（只显示这一次，请立即复制保存；调用时放在请求头 Authorization: Bearer 之后）"
    );
    Ok(redirect_with_flash(&state, "/me/tokens", &message))
}

/// `POST /me/tokens/{id}/revoke`: only one's own tokens (others' are unknown: 404).
pub async fn revoke(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let done = sqlx::query_scalar!(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND user_id = $2 RETURNING name",
        id,
        user.id,
        state.clock.now()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("api_token.revoke").on("api_token", id),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        "/me/tokens",
        &format!("令牌「{done}」已吊销。"),
    ))
}

/// `POST /admin/users/{id}/revoke-tokens`: the sysadmin revokes every token of an account.
pub async fn admin_revoke_all(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> Page {
    let mut tx = state.db.begin().await?;
    sqlx::query_scalar!("SELECT id FROM users WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let n = revoke_all(&mut *tx, id, state.clock.now()).await?;
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("api_token.revoke_all")
            .on("user", id)
            .detail(serde_json::json!({"revoked": n})),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/users/{id}"),
        &format!("已吊销 {n} 个 API 访问令牌。"),
    ))
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
