//! `/reset/{token}`: the public page where the holder of a reset link sets a new password (DESIGN
//! §7). Using it ends the account's sessions and API tokens; the link works once, for 24 hours.

use crate::admin::resets;
use crate::state::AppState;
use crate::web::form::{Errors, Form};
use crate::web::page::{Layout, Page, render_status};
use crate::web::password::{check_password, hash_password};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "web/reset.html")]
struct ResetPage {
    layout: Layout,
    /// None: the link is unknown, used, expired or its account inactive.
    username: Option<String>,
    display_name: String,
    errors: Errors,
}

fn page(ctx: &Ctx, holder: Option<resets::Holder>, errors: Errors) -> ResetPage {
    ResetPage {
        layout: ctx.layout("设置新密码"),
        display_name: holder
            .as_ref()
            .map(|h| h.display_name.clone())
            .unwrap_or_default(),
        username: holder.map(|h| h.username),
        errors,
    }
}

/// The form, or a clear page (410 Gone) when the link no longer works.
pub async fn form_page(State(state): State<AppState>, ctx: Ctx, Path(token): Path<String>) -> Page {
    let holder = resets::holder(&state.db, &token, state.clock.now()).await?;
    let status = if holder.is_some() {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    Ok(render_status(
        status,
        &page(&ctx, holder, Errors::default()),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    new: String,
    confirm: String,
}

/// Set the password (the policy of every password); then the holder signs in with it.
pub async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    Form(f): Form<ResetForm>,
) -> Page {
    let now = state.clock.now();
    let Some(holder) = resets::holder(&state.db, &token, now).await? else {
        return Ok(render_status(
            StatusCode::GONE,
            &page(&ctx, None, Errors::default()),
        ));
    };
    let mut errors = Errors::default();
    if let Err(problem) = check_password(&holder.username, &f.new) {
        errors.add("new", problem);
    }
    if f.confirm != f.new {
        errors.add("confirm", "两次输入的新密码不一致");
    }
    if !errors.is_empty() {
        let refused = page(&ctx, Some(holder), errors);
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &refused));
    }
    let hash = hash_password(f.new).await?;
    let mut tx = state.db.begin().await?;
    if !resets::complete(&mut tx, &token, &hash, now, ctx.ip).await? {
        return Ok(render_status(
            StatusCode::GONE,
            &page(&ctx, None, Errors::default()),
        ));
    }
    tx.commit().await?;
    let done = "新密码已设置，该账号原有的登录和 API 令牌已全部失效。请用新密码登录。";
    Ok(redirect_with_flash(&state, "/login", done))
}
