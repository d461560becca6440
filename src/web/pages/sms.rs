//! `POST /sms/receipts`: the SMS gateway reports delivery. Public, but only a body signed with the
//! shared secret counts (`notify::gateway::signed`); anything else is refused with 403.

use crate::notify::gateway::{self, Receipts};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

pub async fn receipts(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = state.config.sms.receipt_secret.as_deref() else {
        return (StatusCode::FORBIDDEN, "no receipts are expected").into_response();
    };
    let signature = headers
        .get(gateway::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !gateway::signed(secret, &body, signature) {
        tracing::warn!("an SMS receipt with a wrong signature was refused");
        return (StatusCode::FORBIDDEN, "bad signature").into_response();
    }
    let Ok(receipts) = serde_json::from_slice::<Receipts>(&body) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "not a receipt").into_response();
    };
    let receipts = receipts.into_vec();
    match gateway::record(&state.db, &receipts, state.clock.now()).await {
        Ok(found) => axum::Json(serde_json::json!({"received": receipts.len(), "found": found}))
            .into_response(),
        Err(e) => crate::error::AppError::from(e).into_response(),
    }
}
