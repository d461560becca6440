//! 长辈版: the large-text, high-contrast version of every page, carried in the URL (`/elder/...`)
//! so that each version of a page has its own address and stays cacheable. One middleware strips
//! the prefix and marks the request; the layout then renders every link and form action with the
//! prefix (`Layout::at`), and a redirect's `Location` is put back inside the mode here.

use axum::extract::Request;
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::Response;

/// The path prefix of 长辈版.
pub const PREFIX: &str = "/elder";

/// Marks a request made inside 长辈版.
#[derive(Clone, Copy, Debug)]
pub struct ElderMode;

/// The path inside the mode, if `path` is one of its addresses (`/elder` is its home page).
pub fn strip(path: &str) -> Option<&str> {
    match path.strip_prefix(PREFIX)? {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

/// A same-site address carried into the mode; other addresses (absolute, already inside) as they are.
pub fn carry(location: &str) -> Option<String> {
    let inside = location.starts_with('/') && !location.starts_with("//");
    (inside && strip(location).is_none()).then(|| format!("{PREFIX}{location}"))
}

/// Middleware: `/elder/...` is served as `...` marked `ElderMode`; its redirects stay in the mode.
pub async fn mode(mut req: Request, next: Next) -> Response {
    let Some(path) = strip(req.uri().path()) else {
        return next.run(req).await;
    };
    let rest = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let Ok(uri) = rest.parse::<Uri>() else {
        return next.run(req).await;
    };
    *req.uri_mut() = uri;
    req.extensions_mut().insert(ElderMode);
    let mut response = next.run(req).await;
    let carried = response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(carry)
        .and_then(|l| HeaderValue::from_str(&l).ok());
    if let Some(location) = carried {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// Where the "长辈版"/"标准版" switch of a page leads: the same address in the other version.
/// A page answering a POST has no address of its own; the lookup's answers switch to the lookup.
pub fn switch_href(elder: bool, get: bool, path: &str, query: Option<&str>) -> String {
    let path = if !get && path.starts_with("/lookup") {
        "/lookup"
    } else {
        path
    };
    let query = query
        .filter(|_| get)
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    match (elder, path) {
        (true, _) => format!("{path}{query}"),
        (false, "/") => format!("{PREFIX}/{query}"),
        (false, _) => format!("{PREFIX}{path}{query}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_prefix_as_a_whole_segment_enters_the_mode() {
        assert_eq!(strip("/elder"), Some("/"));
        assert_eq!(strip("/elder/"), Some("/"));
        assert_eq!(strip("/elder/visits/3"), Some("/visits/3"));
        assert_eq!(strip("/elderly"), None);
        assert_eq!(strip("/visits/3"), None);
    }

    #[test]
    fn redirects_are_carried_into_the_mode_once() {
        assert_eq!(carry("/lookup").as_deref(), Some("/elder/lookup"));
        assert_eq!(carry("/elder/lookup"), None);
        assert_eq!(carry("//evil.example/"), None);
        assert_eq!(carry("https://xf.gov.cn/"), None);
    }

    #[test]
    fn the_switch_leads_to_the_same_page_in_the_other_version() {
        assert_eq!(switch_href(false, true, "/", None), "/elder/");
        assert_eq!(
            switch_href(false, true, "/schedule", Some("month=2026-05")),
            "/elder/schedule?month=2026-05"
        );
        assert_eq!(switch_href(true, true, "/visits/3", None), "/visits/3");
        assert_eq!(switch_href(true, false, "/lookup/cancel", None), "/lookup");
        assert_eq!(
            switch_href(false, false, "/visits/3/register", None),
            "/elder/visits/3/register"
        );
    }
}
