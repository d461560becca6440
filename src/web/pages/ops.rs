//! Operations: liveness, readiness, Prometheus metrics.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    if crate::db::is_migrated(&state.db).await {
        "ok".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable or not migrated",
        )
            .into_response()
    }
}

/// Whether the request carries `Authorization: Bearer <token>` for the configured token. Hashes
/// are compared, so the time taken says nothing about how much of a guess was right.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    given.is_some_and(|g| Sha256::digest(g) == Sha256::digest(expected))
}

/// `GET /metrics` (DESIGN §7): only with the configured bearer token (`XIAFANG_METRICS_TOKEN`);
/// none configured → 404, as if there were no such page; a missing or wrong token → 401.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = state
        .config
        .metrics_token
        .as_deref()
        .filter(|t| !t.is_empty())
    else {
        return crate::error::AppError::NotFound.into_response();
    };
    if !bearer_matches(&headers, expected) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "bearer token required",
        )
            .into_response();
    }
    metrics::gauge!("db_pool_connections").set(state.db.size() as f64);
    metrics::gauge!("db_pool_idle_connections").set(state.db.num_idle() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
