//! One error type for every handler. It renders a Chinese error page and never shows internals.

use crate::web::page::{Layout, render_status};
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub enum AppError {
    /// Also used for objects the user may not see: no hint that they exist (DESIGN §2).
    NotFound,
    Forbidden,
    /// A state-changing request from another site (CSRF).
    CrossSite,
    /// A state changed under the user's feet (a concurrent transition).
    Conflict(String),
    BadRequest(String),
    /// The database is unreachable or restarting: try again shortly.
    Unavailable,
    /// More requests in flight than the instance serves at once: shed at once, not queued (503).
    Overloaded,
    /// A body beyond `max_body_bytes` (413).
    TooLarge,
    Internal(anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub code: u16,
    pub message: String,
}

/// Left on an error response so that the request-context middleware can render it again with
/// the user's own layout (errors raised outside it keep the plain layout).
#[derive(Clone)]
pub struct ErrorMessage(pub String);

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Forbidden | Self::CrossSite => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::NotFound => "您访问的页面不存在，或您无权查看。".into(),
            Self::Forbidden => "您的账号无权使用此功能。".into(),
            Self::CrossSite => "请求来源不被允许：请从本站页面提交表单。".into(),
            Self::Conflict(m) | Self::BadRequest(m) => m.clone(),
            Self::Unavailable => "系统正忙或正在维护，请稍后再试。".into(),
            Self::Overloaded => "当前访问人数较多，请稍后再试。".into(),
            Self::TooLarge => "提交的内容过大，请删减后重新提交。".into(),
            Self::Internal(_) => "系统内部错误，请稍后再试。如问题持续，请联系管理员。".into(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(e) => tracing::error!(error = ?e, "internal error"),
            Self::Unavailable => tracing::warn!("database unavailable"),
            Self::Overloaded => tracing::debug!("request shed: too many in flight"),
            _ => {}
        }
        let status = self.status();
        let message = self.message();
        let page = ErrorPage {
            layout: Layout::bare("出错了"),
            code: status.as_u16(),
            message: message.clone(),
        };
        let mut response = render_status(status, &page);
        response.extensions_mut().insert(ErrorMessage(message));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, "5".parse().unwrap());
        }
        response
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable
            }
            // 57P01-57P03: the server is shutting down or starting; 08xxx: connection failures.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")) =>
            {
                Self::Unavailable
            }
            _ => Self::Internal(e.into()),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        // A database error carried through anyhow is classified like any other.
        match e.downcast::<sqlx::Error>() {
            Ok(db) => db.into(),
            Err(e) => Self::Internal(e),
        }
    }
}

/// Middleware: the bare 413 of the body limit, the bare 503 of the timeout layer and axum's
/// plain-text 400 for a query or path it cannot parse (e.g. `?page=' OR 1=1`) become the Chinese
/// error page (503 with Retry-After), like every error a handler returns.
/// On /api paths every error then answers JSON instead (`api::as_json`).
pub async fn layer_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = crate::api::is_api(req.uri().path());
    let response = pages(next.run(req).await);
    if api {
        crate::api::as_json(response)
    } else {
        response
    }
}

fn pages(response: Response) -> Response {
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
