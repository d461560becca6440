//! `/static/{file}`: the static files of `web::assets`, under their content-hashed names.

use crate::error::AppError;
use crate::web::assets::{Found, find};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The current file, cached for a year. An old name redirects (not cached) rather than answering
/// 404: while instances of two builds run side by side, a page from one asks another for its
/// files, and a page with the newer stylesheet beats an unstyled one.
pub async fn file(Path(name): Path<String>) -> Result<Response, AppError> {
    match find(&name) {
        Found::Current(f) => Ok((
            [
                (header::CONTENT_TYPE, f.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            f.body,
        )
            .into_response()),
        Found::Moved(url) => Ok((
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, url), (header::CACHE_CONTROL, "no-cache")],
        )
            .into_response()),
        Found::Unknown => Err(AppError::NotFound),
    }
}
