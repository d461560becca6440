//! `/me/tokens`: a user's own API tokens, each shown once in the response that creates it; the sysadmin's revoke-all
//! (the transactions are `api::tokens`).

use crate::api::tokens;
use crate::clock::china_minute;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::auth::CurrentUser;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

// ---- /me/tokens -----------------------------------------------------------------------------

struct TokenRow {
    id: i64,
    name: String,
    created: String,
    last_used: String,
    /// 有效期至: the instant the token stops working.
    expires: String,
    expired: bool,
    revoked: String,
}

#[derive(Template)]
#[template(path = "account/tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<TokenRow>,
    name: String,
    errors: Errors,
    /// The token just created: shown in this one response and nowhere else (never in a cookie).
    created: Option<Created>,
}

struct Created {
    name: String,
    token: String,
    until: String,
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
    let now = state.clock.now();
    let tokens = sqlx::query!(
        "SELECT id, name, created_at, last_used_at, expires_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY revoked_at IS NOT NULL, created_at DESC, id DESC",
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
        expires: china_minute(t.expires_at),
        expired: t.expires_at <= now,
        revoked: t.revoked_at.map(china_minute).unwrap_or_default(),
    })
    .collect();
    Ok(TokensPage {
        layout: ctx.layout("API 访问令牌"),
        tokens,
        name,
        errors,
        created: None,
    })
}

/// `GET /me/tokens`
pub async fn list(State(state): State<AppState>, ctx: Ctx, user: CurrentUser) -> Page {
    render(&tokens_page(&state, &ctx, &user, String::new(), Errors::default()).await?)
}

/// `POST /me/tokens`: a new token, shown once in this very response (DESIGN §7: no secret in a
/// cookie, so not through the flash).
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
    let mut tx = state.db.begin().await?;
    let now = state.clock.now();
    let request = tokens::TokenRequest {
        user_id: user.id,
        name: &name,
        ttl: state.config.api_token_ttl,
        demo_mode: state.config.demo_mode,
    };
    let issued = tokens::issue(&mut tx, &ctx.actor(), request, now).await?;
    tx.commit().await?;
    let created = Created {
        name,
        token: issued.token,
        until: china_minute(issued.expires_at),
    };
    let page = tokens_page(&state, &ctx, &user, String::new(), Errors::default()).await?;
    render(&TokensPage {
        created: Some(created),
        ..page
    })
}

/// `POST /me/tokens/{id}/revoke`: only one's own tokens (others' are unknown: 404).
pub async fn revoke(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let now = state.clock.now();
    let done = tokens::revoke(&mut tx, &ctx.actor(), user.id, id, now).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        "/me/tokens",
        &format!("令牌「{done}」已吊销。"),
    ))
}

/// `POST /admin/users/{id}/revoke-tokens`: the security administrator revokes every token of an account.
pub async fn admin_revoke_all(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let n = tokens::revoke_all_of(&mut tx, &ctx.actor(), id, state.clock.now()).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/users/{id}"),
        &format!("已吊销 {n} 个 API 访问令牌。"),
    ))
}
