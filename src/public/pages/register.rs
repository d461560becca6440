//! `/visits/{id}/register` and the receipt `/registrations/{code}`: a citizen registers from a
//! phone. The receipt is shown only to the browser that submitted (an anonymous receipt cookie).

use crate::clock::china_minute;
use crate::prepare::lifecycle::{RegistrationStatus, citizen_status_label};
use crate::prepare::registration::{self, Channel, RegistrationForm};
use crate::prepare::registration_texts;
use crate::prepare::registration_view::{self, Handled, PageInput};
use crate::state::AppState;
use crate::web::form::Form;
use crate::web::page::{Layout, Page, render};
use crate::web::{Ctx, rate_limit, session};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::header::{HeaderValue, SET_COOKIE};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

/// The anonymous per-browser cookie whose hash marks the registrations this browser submitted.
pub const RECEIPT_COOKIE: &str = "xf_receipt";
const RECEIPT_MAX_AGE_DAYS: i64 = 90;

fn receipt_cookie_name(state: &AppState) -> String {
    session::cookie_name(RECEIPT_COOKIE, state.config.secure_cookies)
}

/// The receipt cookie's value, if the browser sent one.
fn receipt_cookie(state: &AppState, jar: &CookieJar) -> Option<String> {
    jar.get(&receipt_cookie_name(state))
        .map(|c| c.value().to_owned())
}

/// This browser's receipt token, and whether it is new (then it must be set on the response).
fn receipt_token(state: &AppState, jar: &CookieJar) -> (String, bool) {
    match receipt_cookie(state, jar).filter(|v| v.len() == 64) {
        Some(v) => (v, false),
        None => (session::new_token(), true),
    }
}

fn with_receipt_cookie(
    state: &AppState,
    mut response: Response,
    token: &str,
    is_new: bool,
) -> Response {
    if is_new {
        let cookie = Cookie::build((receipt_cookie_name(state), token.to_owned()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.config.secure_cookies)
            .build();
        // Kept for a while, so that the citizen can reopen the receipt in the days before the visit.
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{cookie}; Max-Age={}",
            RECEIPT_MAX_AGE_DAYS * 86_400
        )) {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    response
}

/// `GET /visits/{id}/register`
pub async fn form_page(
    State(state): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Path(id): Path<i64>,
) -> Page {
    let visit = registration_view::load_visit(&state, id).await?;
    let (token, is_new) = receipt_token(&state, &jar);
    let page =
        registration_view::page(&state, &ctx, visit, Channel::Online, PageInput::blank()).await?;
    Ok(with_receipt_cookie(&state, render(&page)?, &token, is_new))
}

/// `POST /visits/{id}/register` → 303 to the receipt, or the form again with what went wrong;
/// with `action=send_code` (获取验证码), the form again once the SMS code is on its way.
pub async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Path(id): Path<i64>,
    Form(f): Form<RegistrationForm>,
) -> Page {
    let (bucket, limit) = (
        format!("register:{}", ctx.ip),
        state.config.register_per_minute,
    );
    if let Err(too_many) = rate_limit::hit(&state.db, &bucket, limit, state.clock.now()).await {
        return Ok(too_many);
    }
    let visit = registration_view::load_visit(&state, id).await?;
    let (token, is_new) = receipt_token(&state, &jar);
    if f.action == "send_code" {
        let response = registration_view::send_code(&state, &ctx, visit, &f).await?;
        return Ok(with_receipt_cookie(&state, response, &token, is_new));
    }
    let response = match registration_view::handle(
        &state,
        &ctx,
        visit,
        Channel::Online,
        f,
        Some(session::hash(&token)),
        None,
    )
    .await?
    {
        Handled::Page(page) => page,
        Handled::Done { code, .. } => {
            Redirect::to(&format!("/registrations/{code}")).into_response()
        }
    };
    Ok(with_receipt_cookie(&state, response, &token, is_new))
}

#[derive(Template)]
#[template(path = "public/receipt.html")]
struct ReceiptPage {
    layout: Layout,
    code: String,
    status: &'static str,
    waitlisted: bool,
    name: String,
    phone_mask: String,
    visit_title: String,
    visit_date: String,
    venue: String,
    address: String,
    window: String,
    submitted_at: String,
}

/// `GET /registrations/{code}`: only for the browser that submitted it; anyone else looks it up.
pub async fn receipt(
    State(state): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Path(code): Path<String>,
) -> Page {
    let to_lookup = || Ok(Redirect::to("/lookup").into_response());
    let Some(cookie) = receipt_cookie(&state, &jar) else {
        return to_lookup();
    };
    let r = sqlx::query!(
        r#"SELECT r.id, r.code, r.status, r.phone_mask, r.created_at, v.title, v.visit_date, v.venue, v.address,
                  w.starts_at AS "window_starts?", w.ends_at AS "window_ends?"
           FROM registrations r JOIN visits v ON v.id = r.visit_id LEFT JOIN reception_windows w ON w.id = r.window_id
           WHERE r.code = $1 AND r.submitted_session_hash = $2"#,
        registration::normalize_code(&code),
        session::hash(&cookie)
    )
    .fetch_optional(&state.db)
    .await?;
    let Some(r) = r else {
        return to_lookup();
    };
    let window = r.window_starts.zip(r.window_ends);
    let texts = registration_texts::open(&state.db, &state.keys, r.id).await?;
    render(&ReceiptPage {
        layout: ctx.layout("登记回执"),
        code: r.code,
        status: citizen_status_label(&r.status),
        waitlisted: RegistrationStatus::parse(&r.status) == Some(RegistrationStatus::Waitlisted),
        name: texts.name,
        phone_mask: r.phone_mask.unwrap_or_default(),
        visit_title: r.title,
        visit_date: crate::clock::cn_date(r.visit_date),
        venue: r.venue,
        address: r.address,
        window: window.map_or_else(String::new, |(s, e)| registration::window_label(s, e)),
        submitted_at: china_minute(r.created_at),
    })
}
