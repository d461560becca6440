//! The JSON API for integration (12345 hotline, SMS gateway, statistics; DESIGN §5): its handlers
//! in `endpoints`, the token pages in `pages`, the token store in `tokens`; here the JSON body
//! extractor and the OpenAPI document. Errors are JSON of one stable shape (`web::json`).

pub mod endpoints;
pub mod pages;
pub mod tokens;

pub use crate::web::json::{ApiError, ApiResult, as_json, error_body, error_code, is_api};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// A JSON body: anything unreadable is a 400 in the API's error shape (the content type is not
/// insisted on: integrations send what they send).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> ApiJson<T> {
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        serde_json::from_slice(bytes).map(ApiJson).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("请求体不是有效的 JSON：{e}"),
            )
        })
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Self::parse(&bytes).map_err(IntoResponse::into_response)
    }
}

pub const OPENAPI: &str = include_str!("openapi.json");
