//! Error pages: every error response carries its message (`ErrorMessage`); here it becomes the
//! Chinese error page (or, on /api paths, the JSON error).

use crate::error::{AppError, ErrorMessage};
use crate::web::json;
use crate::web::page::{ErrorPage, Layout, WayBack, render_status};
use axum::http::StatusCode;
use axum::http::header::{self, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// Replace the body of a response that carries an error message with the error page in the
/// layout and with the ways back `frame` gives, keeping its status and headers (Retry-After,
/// cookies).
pub fn render_carried(
    mut response: Response,
    frame: impl FnOnce() -> (Layout, WayBack),
) -> Response {
    let Some(ErrorMessage(message)) = response.extensions_mut().remove::<ErrorMessage>() else {
        return response;
    };
    let status = response.status();
    let (layout, way_back) = frame();
    let page = ErrorPage {
        layout,
        code: status.as_u16(),
        message,
        way_back,
    };
    let headers = std::mem::take(response.headers_mut());
    let mut rendered = render_status(status, &page);
    for (name, value) in headers
        .iter()
        .filter(|(n, _)| *n != CONTENT_LENGTH && *n != CONTENT_TYPE)
    {
        rendered.headers_mut().append(name, value.clone());
    }
    rendered
}

fn bare() -> (Layout, WayBack) {
    (Layout::bare("出错了"), WayBack::home_page())
}

/// The path and query of `referer` when it is a page of this site (its authority one of
/// `hosts`), else None: the error page links back only to our own pages, never elsewhere.
pub fn own_page(referer: &str, hosts: &[&str]) -> Option<String> {
    let uri: axum::http::Uri = referer.parse().ok()?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return None;
    }
    let authority = uri.authority()?.as_str();
    if !hosts.iter().any(|h| h.eq_ignore_ascii_case(authority)) {
        return None;
    }
    let path = uri.path_and_query()?.as_str();
    (path.starts_with('/') && !path.starts_with("//")).then(|| path.to_owned())
}

/// An error as a page with the plain layout (outside the request context: shedding and the like).
pub fn page(error: AppError) -> Response {
    render_carried(error.into_response(), bare)
}

/// Middleware: the bare 413 of the body limit, the bare 503 of the timeout layer and axum's
/// plain-text 400 for a query or path it cannot parse (e.g. `?page=' OR 1=1`) become the Chinese
/// error page (503 with Retry-After), like every error a handler returns.
/// On /api paths every error then answers JSON instead (`json::as_json`).
pub async fn layer_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = json::is_api(req.uri().path());
    let response = pages(next.run(req).await);
    if api {
        json::as_json(response)
    } else {
        render_carried(response, bare)
    }
}

fn pages(response: Response) -> Response {
    if response.extensions().get::<ErrorMessage>().is_some() {
        return response;
    }
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let is_page = kind.as_deref().is_some_and(|v| v.starts_with("text/html"));
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_page => AppError::TooLarge.into_response(),
        // The timeout's 503 has no body at all (readyz's plain-text 503 stays as it is).
        StatusCode::SERVICE_UNAVAILABLE if kind.is_none() => AppError::Unavailable.into_response(),
        StatusCode::BAD_REQUEST if kind.as_deref().is_some_and(|k| k.starts_with("text/plain")) => {
            AppError::BadRequest("链接中的参数无法识别，请检查后重试。".into()).into_response()
        }
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::own_page;

    #[test]
    fn only_our_own_pages_are_a_way_back() {
        let hosts = ["127.0.0.1:8101", "xf.gov.cn"];
        assert_eq!(
            own_page("http://127.0.0.1:8101/staff/visits/3/rooms?tab=1", &hosts).as_deref(),
            Some("/staff/visits/3/rooms?tab=1")
        );
        assert_eq!(
            own_page("https://XF.gov.cn/lookup", &hosts).as_deref(),
            Some("/lookup")
        );
        for foreign in [
            "https://evil.example/staff",
            "http://xf.gov.cn.evil.example/",
            "http://user@xf.gov.cn/",
            "javascript:alert(1)",
            "/staff/visits",
            "//evil.example/x",
            "",
        ] {
            assert_eq!(own_page(foreign, &hosts), None, "{foreign}");
        }
    }
}
