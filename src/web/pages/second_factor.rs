//! The second step of signing in (DESIGN §7): `/login/enrol` (first sign-in: QR code and the
//! secret as text, a code confirms it, then the ten recovery codes once) and
//! `/login/second-factor` (动态验证码 or a recovery code). The transactions are
//! `web::second_factor`.

use crate::state::AppState;
use crate::web::auth::CurrentUser;
use crate::web::form::Form;
use crate::web::page::{Layout, Page, UserBox, render_status};
use crate::web::pages::account::{landing, lockout, login_limits, with_cookie};
use crate::web::second_factor::{self, Answer, Outcome, Pending, SignedIn};
use crate::web::{Ctx, rate_limit, redirect_with_flash, session, totp};
use askama::Template;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, HeaderValue, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

const WRONG_CODE: &str = "验证码不正确或已使用。连续输错 5 次，账号将被锁定 30 分钟。";
const EXPIRED: &str = "登录已超时，请重新输入用户名和密码。";

#[derive(Template)]
#[template(path = "web/enrol.html")]
struct EnrolPage {
    layout: Layout,
    username: String,
    qr: String,
    secret: String,
    error: String,
}

#[derive(Template)]
#[template(path = "web/second_factor.html")]
struct CodePage {
    layout: Layout,
    error: String,
}

#[derive(Template)]
#[template(path = "web/recovery_codes.html")]
struct RecoveryPage {
    layout: Layout,
    codes: Vec<String>,
    next: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

/// A page with a secret on it: never kept by the browser or a proxy.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn enrol_page_of(ctx: &Ctx, p: &Pending, status: StatusCode, error: &str) -> Response {
    let page = EnrolPage {
        layout: ctx.layout("绑定双因素认证"),
        username: p.username.clone(),
        qr: totp::qr_svg(&totp::otpauth_url(&p.secret, &p.username)),
        secret: totp::manual_entry(&p.secret),
        error: error.into(),
    };
    no_store(render_status(status, &page))
}

fn code_page_of(ctx: &Ctx, status: StatusCode, error: &str) -> Response {
    let page = CodePage {
        layout: ctx.layout("双因素认证"),
        error: error.into(),
    };
    no_store(render_status(status, &page))
}

/// The challenge behind this browser's cookie, if it is still alive.
async fn current(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<Pending>, crate::error::AppError> {
    let Some(token) = second_factor::from_jar(jar, state.config.secure_cookies).map(str::to_owned)
    else {
        return Ok(None);
    };
    second_factor::pending(&state.db, &state.keys, &token, state.clock.now()).await
}

fn back_to_password(state: &AppState) -> Page {
    Ok(redirect_with_flash(state, "/login", EXPIRED))
}

/// `GET /login/enrol`: the QR code and the secret as text for an account without a second factor.
pub async fn enrol_page(State(state): State<AppState>, ctx: Ctx, jar: CookieJar) -> Page {
    match current(&state, &jar).await? {
        None => back_to_password(&state),
        Some(p) if !p.enrolling => Ok(Redirect::to("/login/second-factor").into_response()),
        Some(p) => Ok(enrol_page_of(&ctx, &p, StatusCode::OK, "")),
    }
}

/// `GET /login/second-factor`: the code of the authenticator app, or a recovery code.
pub async fn code_page(State(state): State<AppState>, ctx: Ctx, jar: CookieJar) -> Page {
    match current(&state, &jar).await? {
        None => back_to_password(&state),
        Some(p) if p.enrolling => Ok(Redirect::to("/login/enrol").into_response()),
        Some(_) => Ok(code_page_of(&ctx, StatusCode::OK, "")),
    }
}

/// `POST /login/enrol` and `POST /login/second-factor`: the challenge decides which it is.
pub async fn answer(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<CodeForm>,
) -> Page {
    let now = state.clock.now();
    // The same limits as the password: every guess of a code is an attempt to sign in.
    if let Err(too_many) = rate_limit::login(&state.db, ctx.ip, &login_limits(&state), now).await {
        return Ok(too_many);
    }
    let Some(challenge) = second_factor::from_jar(&jar, state.config.secure_cookies) else {
        return back_to_password(&state);
    };
    let answer = Answer {
        challenge,
        code: &f.code,
        ip: ctx.ip,
        user_agent: headers.get(USER_AGENT).and_then(|v| v.to_str().ok()),
        old_session: session::from_jar(&jar, state.config.secure_cookies),
    };
    let keys = &state.keys;
    match second_factor::answer(&state.db, keys, answer, now, &lockout(&state)).await? {
        Outcome::SignedIn(signed_in) => Ok(signed_in_answer(&state, &ctx, signed_in)),
        Outcome::Expired => back_to_password(&state),
        Outcome::Refused => match current(&state, &jar).await? {
            Some(p) if p.enrolling => Ok(enrol_page_of(
                &ctx,
                &p,
                StatusCode::UNAUTHORIZED,
                WRONG_CODE,
            )),
            Some(_) => Ok(code_page_of(&ctx, StatusCode::UNAUTHORIZED, WRONG_CODE)),
            None => back_to_password(&state),
        },
    }
}

/// Signed in: the new session's cookie, the challenge's gone; right after enrolment the recovery
/// codes are shown (in this response only), else on to where the user was going.
fn signed_in_answer(state: &AppState, ctx: &Ctx, s: SignedIn) -> Response {
    let secure = state.config.secure_cookies;
    let response = if s.recovery_codes.is_empty() {
        Redirect::to(landing(s.must_change_password, &s.next, s.role)).into_response()
    } else {
        // Signed in by this very response: the header shows who, as on the next page.
        let mut layout = ctx.layout("保存恢复码");
        layout.user = Some(UserBox {
            display_name: s.display_name,
            role_label: s.role.label().into(),
        });
        layout.nav = Vec::new();
        let page = RecoveryPage {
            layout,
            codes: s.recovery_codes,
            next: s.next,
        };
        no_store(render_status(StatusCode::OK, &page))
    };
    let response = with_cookie(response, second_factor::removal(secure));
    with_cookie(response, session::cookie(s.token, secure))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NextForm {
    next: String,
}

/// `POST /login/continue`: the recovery codes are saved; on to where the user was going.
pub async fn finish(user: CurrentUser, Form(f): Form<NextForm>) -> Redirect {
    Redirect::to(landing(user.must_change_password, &f.next, user.role))
}
