//! Cross-cutting HTTP: who is calling, from where, and what every page needs.

pub mod assets;
pub mod auth;
pub mod elder;
pub mod errors;
pub mod export;
pub mod form;
pub mod json;
pub mod login;
pub mod metrics;
pub mod page;
pub mod pages;
pub mod password;
pub mod qr;
pub mod rate_limit;
pub mod second_factor;
pub mod session;
pub mod tokens;
pub mod totp;
pub mod xlsx;

use crate::state::AppState;
use crate::web::auth::CurrentUser;
pub use crate::web::page::FlashLink;
use crate::web::page::{FlashMessage, Layout, NavLink, UserBox, WayBack, nav_for};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{HOST, HeaderValue, REFERER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use std::net::{IpAddr, SocketAddr};

/// The client's address: the peer, or X-Forwarded-For when the peer is a trusted proxy (DESIGN §7).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// A one-shot message carried to the next page in a short-lived cookie.
#[derive(Clone, Debug)]
struct Flash(String);

const FLASH_COOKIE: &str = "xf_flash";

fn client_ip(req: &Request, trusted: &[IpAddr]) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if !trusted.contains(&peer) {
        return peer;
    }
    // The right-most address not added by one of our own proxies is the client.
    req.headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// Runs before every route: resolves the client IP, the signed-in user and the flash message.
pub async fn context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ip = client_ip(&req, &state.config.trusted_proxies);
    req.extensions_mut().insert(ClientIp(ip));
    let jar = CookieJar::from_headers(req.headers());
    let secure = state.config.secure_cookies;
    if let Some(user) = tokens::bearer(&req) {
        // An API token is tried on /api paths only; a bad one leaves the request anonymous (→ 401).
        match tokens::lookup(&state.db, user, state.clock.now(), state.config.demo_mode).await {
            Ok(Some(user)) => {
                req.extensions_mut().insert(user);
            }
            Ok(None) => {}
            Err(e) => return json::ApiError::from(e).into_response(),
        }
    } else if let Some(token) = session::from_jar(&jar, secure).map(str::to_owned) {
        match session::lookup(&state.db, &token, state.clock.now(), &state.timeouts()).await {
            Ok(Some(user)) => {
                req.extensions_mut().insert(user);
            }
            Ok(None) => {}
            Err(e) => return crate::error::AppError::from(e).into_response(),
        }
    }
    let flash = jar
        .get(&session::cookie_name(FLASH_COOKIE, secure))
        .and_then(|c| hex::decode(c.value()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if let Some(message) = &flash {
        req.extensions_mut().insert(Flash(message.clone()));
    }
    let user = req.extensions().get::<CurrentUser>().cloned();
    let path = req.uri().path().to_owned();
    let mode = Mode::new(req.extensions(), req.method(), req.uri());
    let previous = came_from(&req, state.config.public_url.as_deref());
    let mut response = next.run(req).await;
    // API errors keep their message for `json::as_json`; pages get the user's own layout.
    let api = json::is_api(&path);
    if !api {
        let demo = state.demo_present();
        response = errors::render_carried(response, || {
            let home = match &user {
                Some(u) => auth::home_for(u.role).to_owned(),
                None => format!("{}/", mode.at()),
            };
            let ctx = Ctx {
                user,
                ip,
                path,
                flash: None,
                demo,
                mode,
            };
            (ctx.layout("出错了"), WayBack { previous, home })
        });
    }
    // Shown once: clear it as soon as a page (not a redirect) has carried it.
    if flash.is_some() && !response.status().is_redirection() {
        let mut removal = flash_cookie(String::new(), state.config.secure_cookies);
        removal.make_removal();
        if let Ok(v) = HeaderValue::from_str(&removal.to_string()) {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    response
}

/// The page of this site the request came from (its Referer, on our host or the configured
/// public URL), for the error page's 返回上一页.
fn came_from(req: &Request, public_url: Option<&str>) -> Option<String> {
    let headers = req.headers();
    let referer = headers.get(REFERER)?.to_str().ok()?;
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let public = public_url
        .and_then(|u| u.trim().parse::<Uri>().ok())
        .and_then(|u| u.authority().map(|a| a.as_str().to_owned()));
    let hosts: Vec<&str> = host.into_iter().chain(public.as_deref()).collect();
    errors::own_page(referer, &hosts)
}

fn flash_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((session::cookie_name(FLASH_COOKIE, secure), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
}

/// Post/Redirect/Get with a message for the next page.
pub fn redirect_with_flash(state: &AppState, to: &str, message: &str) -> Response {
    redirect_with_flash_links(state, to, message, &[])
}

/// Post/Redirect/Get with a message and links to what the action made.
pub fn redirect_with_flash_links(
    state: &AppState,
    to: &str,
    message: &str,
    links: &[FlashLink],
) -> Response {
    let stored = FlashMessage::store(message, links);
    let cookie = flash_cookie(hex::encode(stored), state.config.secure_cookies);
    let mut response = Redirect::to(to).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

/// What every page handler needs to build its layout.
pub struct Ctx {
    pub user: Option<CurrentUser>,
    pub ip: IpAddr,
    path: String,
    flash: Option<String>,
    demo: bool,
    mode: Mode,
}

/// The version of the site a request asked for (长辈版 or not), and where its switch leads.
#[derive(Clone, Debug, Default)]
struct Mode {
    elder: bool,
    switch_href: String,
}

impl Mode {
    fn new(extensions: &axum::http::Extensions, method: &Method, uri: &Uri) -> Mode {
        let elder = extensions.get::<elder::ElderMode>().is_some();
        let get = method == Method::GET;
        Mode {
            elder,
            switch_href: elder::switch_href(elder, get, uri.path(), uri.query()),
        }
    }

    /// The prefix of every link and form action on the page.
    fn at(&self) -> &'static str {
        if self.elder { elder::PREFIX } else { "" }
    }
}

impl Ctx {
    pub fn layout(&self, title: &str) -> Layout {
        Layout {
            title: title.into(),
            user: self.user.as_ref().map(|u| UserBox {
                display_name: u.display_name.clone(),
                role_label: u.role.label().into(),
            }),
            nav: nav_for(self.user.as_ref(), &self.path)
                .into_iter()
                .map(|link| NavLink {
                    href: format!("{}{}", self.mode.at(), link.href),
                    ..link
                })
                .collect(),
            demo: self.demo,
            flash: self.flash.as_deref().map(FlashMessage::parse),
            at: self.mode.at(),
            switch_href: self.mode.switch_href.clone(),
        }
    }

    /// The signed-in account's jurisdiction: it sees this and everything below (None: nothing).
    pub fn root(&self) -> Option<i64> {
        self.user.as_ref().and_then(|u| u.jurisdiction_id)
    }

    /// The audit actor for this request; pages behind the guard always have a user.
    pub fn actor(&self) -> crate::audit::Actor {
        match &self.user {
            Some(u) => crate::audit::Actor::user(u, self.ip),
            None => crate::audit::Actor {
                id: None,
                name: "anonymous".into(),
                role: None,
                ip: Some(self.ip),
                jurisdiction_id: None,
            },
        }
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Ctx {
            user: parts.extensions.get::<CurrentUser>().cloned(),
            ip: parts
                .extensions
                .get::<ClientIp>()
                .map(|c| c.0)
                .unwrap_or(IpAddr::from([127, 0, 0, 1])),
            path: parts.uri.path().to_owned(),
            flash: parts.extensions.get::<Flash>().map(|f| f.0.clone()),
            demo: state.demo_present(),
            mode: Mode::new(&parts.extensions, &parts.method, &parts.uri),
        })
    }
}

/// The site's absolute base for links on notices and posters: the configured public URL, or
/// the host the request came to.
pub fn base_url(config: &crate::config::Config, headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    public_base(config.public_url.as_deref(), host)
}

/// The site's absolute base: the configured public URL, or `http://{Host}`.
pub fn public_base(configured: Option<&str>, host: Option<&str>) -> String {
    if let Some(url) = configured.map(str::trim).filter(|u| !u.is_empty()) {
        return url.trim_end_matches('/').to_owned();
    }
    // Only a plausible host name and port: the Host header is the client's to choose.
    let host = host
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_base_prefers_configuration_and_distrusts_odd_hosts() {
        assert_eq!(
            public_base(Some("https://xf.gov.cn/"), Some("evil")),
            "https://xf.gov.cn"
        );
        assert_eq!(
            public_base(None, Some("127.0.0.1:8101")),
            "http://127.0.0.1:8101"
        );
        assert_eq!(public_base(None, Some("a\"><script>")), "http://localhost");
    }
}
