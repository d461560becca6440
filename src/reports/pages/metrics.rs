//! `/metrics` for the monitoring system: the HTTP metrics and the business ones (`reports::metrics`).

use crate::clock::china_date;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

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
    if !crate::web::metrics::bearer_matches(&headers, expected) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "bearer token required",
        )
            .into_response();
    }
    metrics::gauge!("db_pool_connections").set(state.db.size() as f64);
    metrics::gauge!("db_pool_idle_connections").set(state.db.num_idle() as f64);
    let today = china_date(state.clock.now());
    // The HTTP metrics still answer when the database does not; the missing gauges say so.
    let business = crate::reports::metrics::read(&state.db, today)
        .await
        .map(|s| s.render())
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading the business metrics failed");
            String::new()
        });
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render() + &business,
    )
        .into_response()
}
