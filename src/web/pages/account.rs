//! The pages for signing in and out and changing one's own password (DESIGN §7); the transactions
//! behind them are in `web::login`.

use crate::audit::{self, Entry};
use crate::state::AppState;
use crate::web::auth::{CurrentUser, Role, home_for};
use crate::web::form::{Errors, Form};
use crate::web::login::{self, Attempt, FactorSetup, Lockout, LoginOutcome, PasswordChange};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::password::ChangeProblem;
use crate::web::rate_limit::{self, LoginLimits};
use crate::web::{Ctx, redirect_with_flash, second_factor, session};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::{HeaderValue, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

/// The same words for an unknown user, a wrong password and a locked account: no hint which it was.
const LOGIN_FAILED: &str = "用户名或密码错误。连续输错 5 次，账号将被锁定 30 分钟。";

/// The right password of an account that has no role yet (DESIGN §2): it is told so, and gets no
/// session — a county office's new colleague waits for the security administrator.
const AWAITING_ROLE: &str = "账号尚未分配角色，暂不能登录。请联系安全管理员分配角色。";

/// Only local paths: never an open redirect to another site.
pub(crate) fn safe_next(next: &str) -> Option<&str> {
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
    // Before the hash: a refused attempt costs no argon2 memory.
    if let Err(too_many) = rate_limit::login(&state.db, ctx.ip, &login_limits(&state), now).await {
        return Ok(too_many);
    }
    let username = f.username.trim().chars().take(40).collect::<String>();
    let attempt = Attempt {
        username: &username,
        password: f.password,
        ip: ctx.ip,
        user_agent: headers.get(USER_AGENT).and_then(|v| v.to_str().ok()),
        old_session: session::from_jar(&jar, state.config.secure_cookies),
        next: safe_next(&f.next).unwrap_or(""),
    };
    let setup = factor_setup(&state);
    let outcome = login::sign_in(&state.db, attempt, now, &lockout(&state), &setup).await?;
    password_step_answer(&state, &ctx, outcome, username, f.next)
}

/// After the password: the page again, the second factor's page, or (demo mode) signed in.
fn password_step_answer(
    state: &AppState,
    ctx: &Ctx,
    outcome: LoginOutcome,
    username: String,
    next: String,
) -> Page {
    let secure = state.config.secure_cookies;
    match outcome {
        LoginOutcome::Refused => login_failed(ctx, username, next, LOGIN_FAILED),
        LoginOutcome::AwaitingRole => login_failed(ctx, username, next, AWAITING_ROLE),
        LoginOutcome::SecondFactor { challenge, enrol } => {
            let to = if enrol {
                "/login/enrol"
            } else {
                "/login/second-factor"
            };
            let cookie = second_factor::cookie(challenge, secure);
            Ok(with_cookie(Redirect::to(to).into_response(), cookie))
        }
        LoginOutcome::SignedIn {
            token,
            role,
            must_change_password,
        } => {
            let to = landing(must_change_password, &next, role);
            let cookie = session::cookie(token, secure);
            Ok(with_cookie(Redirect::to(to).into_response(), cookie))
        }
    }
}

/// Where a signed-in user goes: the forced password change first, else `next` or the role's home.
pub(crate) fn landing(must_change_password: bool, next: &str, role: Role) -> &str {
    if must_change_password {
        "/account/password"
    } else {
        safe_next(next).unwrap_or_else(|| home_for(role))
    }
}

pub(crate) fn factor_setup(state: &AppState) -> FactorSetup<'_> {
    FactorSetup {
        keys: &state.keys,
        demo_mode: state.config.demo_mode,
    }
}

pub(crate) fn login_limits(state: &AppState) -> LoginLimits {
    LoginLimits {
        per_ip: state.config.login_per_ip_per_minute,
        global: state.config.login_per_minute,
    }
}

pub(crate) fn lockout(state: &AppState) -> Lockout {
    Lockout {
        failures: state.config.lockout_failures,
        duration: state.config.lockout_duration,
    }
}

fn login_failed(ctx: &Ctx, username: String, next: String, error: &str) -> Page {
    Ok(render_status(
        StatusCode::UNAUTHORIZED,
        &LoginPage {
            layout: ctx.layout("登录"),
            username,
            next,
            error: error.into(),
        },
    ))
}

pub(crate) fn with_cookie(
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

impl From<PasswordForm> for PasswordChange {
    fn from(f: PasswordForm) -> Self {
        PasswordChange {
            current: f.current,
            new: f.new,
            confirm: f.confirm,
        }
    }
}

/// The form again, every problem beside its field (what was typed is never shown back).
fn password_refused(ctx: &Ctx, user: &CurrentUser, problems: Vec<ChangeProblem>) -> Page {
    let mut errors = Errors::default();
    for p in problems {
        errors.add(p.field(), p.message());
    }
    let page = PasswordPage {
        layout: ctx.layout("修改密码"),
        forced: user.must_change_password,
        errors,
    };
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn change_password(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Form(f): Form<PasswordForm>,
) -> Page {
    let (actor, now) = (ctx.actor(), state.clock.now());
    let (id, name) = (user.id, user.username.as_str());
    let changed = login::change_password(&state.db, &actor, ctx.ip, id, name, f.into(), now);
    let token = match changed.await? {
        Ok(token) => token,
        Err(problems) => return password_refused(&ctx, &user, problems),
    };
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

/// `GET /api/v1/me`: who the API caller is.
pub async fn me(user: CurrentUser) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_this_site() {
        assert_eq!(safe_next("/admin/users?x=1"), Some("/admin/users?x=1"));
        assert_eq!(safe_next("//evil.example/"), None);
        assert_eq!(safe_next("https://evil.example/"), None);
        assert_eq!(safe_next("/\\evil.example"), None);
    }
}
