//! The JSON error shape every /api path answers in: `{"error": {"code", "message", "fields"}}`.
//! Cross-cutting, so that the guard, the error layer and the API's handlers share it.

use crate::error::{AppError, ErrorMessage};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// The stable machine-readable name of an error status (DESIGN §5; listed in the OpenAPI document).
pub fn error_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        413 => "payload_too_large",
        422 => "validation_failed",
        429 => "rate_limited",
        500..=599 => "unavailable",
        _ => "bad_request",
    }
}

fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "需要有效的访问令牌（Authorization: Bearer …）。",
        404 => "请求的资源不存在，或您无权查看。",
        405 => "该地址不支持此请求方法。",
        _ => "请求无法处理。",
    }
}

/// An error of the API: `{"error": {"code", "message", "fields"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    /// 422 with the messages beside each field, as the forms show them.
    pub fn invalid(errors: &crate::web::form::Errors) -> Self {
        let fields = errors
            .iter()
            .map(|(f, m)| (f.to_owned(), m.to_owned()))
            .collect();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "请按提示修改后重新提交。".into(),
            fields,
        }
    }

    pub fn field(mut self, field: &str, message: &str) -> Self {
        self.fields.insert(field.into(), message.into());
        self
    }
}

pub fn error_body(
    status: StatusCode,
    message: &str,
    fields: &BTreeMap<String, String>,
) -> serde_json::Value {
    serde_json::json!({"error": {"code": error_code(status), "message": message, "fields": fields}})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(error_body(self.status, &self.message, &self.fields)),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        if let AppError::Internal(inner) = &e {
            tracing::error!(error = ?inner, "internal error");
        }
        ApiError::new(e.status(), e.message())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(e).into()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Any error response on an /api path that is not JSON yet (the guard's 403, 404 of unknown
/// paths, the body limit's 413, the 429 of the rate limits, axum's 400s, the timeout's 503)
/// becomes the JSON error with the message it carried; its headers (Retry-After) stay.
pub fn as_json(mut response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match response.extensions_mut().remove::<ErrorMessage>() {
        Some(ErrorMessage(m)) => m,
        None if status == StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge.message(),
        None if status.is_server_error() => AppError::Unavailable.message(),
        None => default_message(status).to_owned(),
    };
    let mut headers = std::mem::take(response.headers_mut());
    headers.remove(header::CONTENT_TYPE);
    headers.remove(header::CONTENT_LENGTH);
    let mut json = (
        status,
        axum::Json(error_body(status, &message, &BTreeMap::new())),
    )
        .into_response();
    json.headers_mut().extend(headers);
    json
}
