//! Signing in and out, and changing one's own password (DESIGN §7).

use crate::audit::{self, Actor, Entry};
use crate::state::AppState;
use crate::web::auth::{CurrentUser, Role};
use crate::web::form::{Errors, Form};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash, session};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::{HeaderValue, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use std::sync::OnceLock;

/// The same words for an unknown user, a wrong password and a locked account: no hint which it was.
const LOGIN_FAILED: &str = "用户名或密码错误。连续输错 5 次，账号将被锁定 30 分钟。";

/// Password policy: ≥ 8 characters, 3 of 4 classes, not containing the username.
pub fn check_password(username: &str, password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 8 {
        return Err("密码至少 8 位");
    }
    if n > 128 {
        return Err("密码不能超过 128 位");
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|&&c| c).count() < 3 {
        return Err("密码须包含大写字母、小写字母、数字、符号中的至少三类");
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err("密码不能包含用户名");
    }
    Ok(())
}

/// argon2id hashing is slow on purpose: keep it off the async workers.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || password_auth::generate_hash(password)).await?)
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || password_auth::verify_password(password, &hash).is_ok())
        .await
        .unwrap_or(false)
}

/// A real hash to verify against for unknown users, so their answer takes as long as a wrong password.
fn dummy_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password_auth::generate_hash("xiafang-dummy-password"))
        .clone()
}

/// Where a role lands after signing in.
pub fn home_for(role: Role) -> &'static str {
    match role {
        Role::Sysadmin => "/admin/users",
        Role::Auditor => "/audit",
        Role::Leader => "/me/today",
        _ => "/",
    }
}

/// Only local paths: never an open redirect to another site.
fn safe_next(next: &str) -> Option<&str> {
    (next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\")).then_some(next)
}

#[derive(Template)]
#[template(path = "web/login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    error: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    next: String,
}

pub async fn login_page(ctx: Ctx, Query(q): Query<LoginQuery>) -> Page {
    render(&LoginPage {
        layout: ctx.layout("登录"),
        username: String::new(),
        next: q.next,
        error: String::new(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
    next: String,
}

pub async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Page {
    let now = state.clock.now();
    let username = f.username.trim().chars().take(40).collect::<String>();
    let user = sqlx::query!(
        "SELECT id, username, role, password_hash, active, locked_until, must_change_password
         FROM users WHERE lower(username) = lower($1)",
        username
    )
    .fetch_optional(&state.db)
    .await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(dummy_hash);
    let password_ok = verify_password(f.password, hash).await && user.is_some();
    let actor = |id, role| Actor {
        id,
        name: username.clone(),
        role,
        ip: Some(ctx.ip),
    };

    let Some(user) = user else {
        audit::record(
            &state.db,
            &actor(None, None),
            Entry::failed("login").detail(serde_json::json!({"reason": "unknown_user"})),
        )
        .await?;
        return login_failed(&ctx, username, f.next);
    };
    let role = Role::parse(&user.role).map(Role::as_str);
    let locked = user.locked_until.is_some_and(|t| t > now);
    if !password_ok || !user.active || locked {
        let reason = if !user.active {
            "inactive"
        } else if locked {
            "locked"
        } else {
            "wrong_password"
        };
        let mut tx = state.db.begin().await?;
        if reason == "wrong_password" {
            // One statement: concurrent failures cannot lose a count.
            let row = sqlx::query!(
                "UPDATE users SET
                    failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
                    locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END
                 WHERE id = $1 RETURNING locked_until",
                user.id,
                state.config.lockout_failures,
                now + state.config.lockout_duration
            )
            .fetch_one(&mut *tx)
            .await?;
            if row.locked_until.is_some_and(|t| t > now) {
                audit::record(
                    &mut *tx,
                    &actor(Some(user.id), role),
                    Entry::ok("account.locked").on("user", user.id),
                )
                .await?;
            }
        }
        audit::record(
            &mut *tx,
            &actor(Some(user.id), role),
            Entry::failed("login").detail(serde_json::json!({"reason": reason})),
        )
        .await?;
        tx.commit().await?;
        return login_failed(&ctx, username, f.next);
    }

    let mut tx = state.db.begin().await?;
    sqlx::query!(
        "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1",
        user.id
    )
    .execute(&mut *tx)
    .await?;
    // A new session id at every login: whatever session the browser brought is ended.
    if let Some(old) = jar.get(session::COOKIE) {
        session::end(&mut *tx, &session::hash(old.value())).await?;
    }
    let ua = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let token = session::create(&mut *tx, user.id, now, ctx.ip, ua).await?;
    audit::record(&mut *tx, &actor(Some(user.id), role), Entry::ok("login")).await?;
    tx.commit().await?;

    let to = if user.must_change_password {
        "/account/password".to_owned()
    } else {
        safe_next(&f.next)
            .map(str::to_owned)
            .unwrap_or_else(|| home_for(Role::parse(&user.role).unwrap_or(Role::Staff)).to_owned())
    };
    Ok(with_cookie(
        Redirect::to(&to).into_response(),
        session::cookie(token, state.config.secure_cookies),
    ))
}

fn login_failed(ctx: &Ctx, username: String, next: String) -> Page {
    Ok(render_status(
        StatusCode::UNAUTHORIZED,
        &LoginPage {
            layout: ctx.layout("登录"),
            username,
            next,
            error: LOGIN_FAILED.into(),
        },
    ))
}

fn with_cookie(
    mut response: Response,
    cookie: axum_extra::extract::cookie::Cookie<'static>,
) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

pub async fn logout(State(state): State<AppState>, ctx: Ctx, user: CurrentUser) -> Page {
    if let Some(h) = &user.session_hash {
        session::end(&state.db, h).await?;
    }
    audit::record(&state.db, &ctx.actor(), Entry::ok("logout")).await?;
    Ok(with_cookie(
        Redirect::to("/").into_response(),
        session::removal(state.config.secure_cookies),
    ))
}

#[derive(Template)]
#[template(path = "web/password.html")]
struct PasswordPage {
    layout: Layout,
    forced: bool,
    errors: Errors,
}

pub async fn password_page(ctx: Ctx, user: CurrentUser) -> Page {
    render(&PasswordPage {
        layout: ctx.layout("修改密码"),
        forced: user.must_change_password,
        errors: Errors::default(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Form(f): Form<PasswordForm>,
) -> Page {
    let mut errors = Errors::default();
    let hash: String =
        sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", user.id)
            .fetch_one(&state.db)
            .await?;
    if !verify_password(f.current.clone(), hash).await {
        errors.add("current", "当前密码不正确");
    }
    if let Err(m) = check_password(&user.username, &f.new) {
        errors.add("new", m);
    } else if f.new == f.current {
        errors.add("new", "新密码不能与当前密码相同");
    }
    if f.confirm != f.new {
        errors.add("confirm", "两次输入的新密码不一致");
    }
    if !errors.is_empty() {
        let page = PasswordPage {
            layout: ctx.layout("修改密码"),
            forced: user.must_change_password,
            errors,
        };
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let new_hash = hash_password(f.new).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    sqlx::query!(
        "UPDATE users SET password_hash = $2, must_change_password = false, password_changed_at = $3 WHERE id = $1",
        user.id,
        new_hash,
        now
    )
    .execute(&mut *tx)
    .await?;
    // Every other browser signed in as this user is signed out; this one gets a fresh session.
    session::end_all(&mut *tx, user.id).await?;
    let token = session::create(&mut *tx, user.id, now, ctx.ip, None).await?;
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("password.change").on("user", user.id),
    )
    .await?;
    tx.commit().await?;
    let response = redirect_with_flash(
        &state,
        home_for(user.role),
        "密码已修改，其他设备上的登录已全部退出。",
    );
    Ok(with_cookie(
        response,
        session::cookie(token, state.config.secure_cookies),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy() {
        assert_eq!(check_password("zhang", "Ab1!"), Err("密码至少 8 位"));
        assert!(
            check_password("zhang", "abcdefgh1").is_err(),
            "two classes only"
        );
        assert!(check_password("zhang", "abcdefG1").is_ok());
        assert!(check_password("zhang", "abcdef1!").is_ok());
        assert_eq!(
            check_password("zhang", "Zhang123!"),
            Err("密码不能包含用户名")
        );
        assert!(
            check_password("zhang", "密码很长很长Aa1").is_ok(),
            "counts characters, symbols include CJK"
        );
    }

    #[test]
    fn next_must_stay_on_this_site() {
        assert_eq!(safe_next("/admin/users?x=1"), Some("/admin/users?x=1"));
        assert_eq!(safe_next("//evil.example/"), None);
        assert_eq!(safe_next("https://evil.example/"), None);
        assert_eq!(safe_next("/\\evil.example"), None);
    }
}
