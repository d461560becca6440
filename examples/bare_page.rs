//! The ceiling for the public notice page in `scripts/bench`: a bare axum + sqlx + askama handler
//! doing one query and one template, with nothing else (no sessions, middleware or layout).
//!
//! DATABASE_URL=... BIND=127.0.0.1:18081 cargo run --release --example bare_page

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use sqlx::PgPool;

#[derive(Template)]
#[template(
    ext = "html",
    source = "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{{ title }}</title></head>\
<body><main><h1>{{ title }}</h1><p>{{ published_at }}</p><div>{{ body }}</div></main></body></html>"
)]
struct NoticePage {
    title: String,
    body: String,
    published_at: String,
}

async fn notice(State(db): State<PgPool>, Path(id): Path<i64>) -> Response {
    let row: Option<(String, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT title, body, published_at FROM notices WHERE id = $1 AND status = 'published'",
    )
    .bind(id)
    .fetch_optional(&db)
    .await
    .unwrap_or(None);
    match row {
        Some((title, body, at)) => match (NoticePage {
            title,
            body,
            published_at: at.to_rfc3339(),
        })
        .render()
        {
            Ok(html) => Html(html).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")?;
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:18081".into());
    let connections = std::env::var("CONNECTIONS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(20);
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections)
        .connect(&url)
        .await?;
    let app = Router::new()
        .route("/notices/{id}", get(notice))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
