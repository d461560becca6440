//! One error type for every handler, with its Chinese message; it never shows internals. The web
//! layer renders it as a page (`web::errors`) or as the API's JSON (`web::json`).

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
        // The message rides on the response; `web::errors` renders the page around it.
        let mut response = status.into_response();
        response
            .extensions_mut()
            .insert(ErrorMessage(self.message()));
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
