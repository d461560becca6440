//! `/visits/{id}/board` (叫号屏) and its live feed `/visits/{id}/board/events` (SSE): the public
//! queue board of a published visit, built by `consult::board`.

use crate::clock::cn_date;
use crate::consult::board::{Board, columns, load, snapshot};
use crate::error::AppError;
use crate::public::published::is_public;
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::page::{Layout, Page, render};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::time::Duration;

#[derive(Template)]
#[template(path = "consult/board.html")]
struct BoardPage {
    layout: Layout,
    id: i64,
    subtitle: String,
    columns: usize,
    board: Board,
}

pub async fn page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    if !is_public(&state.db, id).await? {
        return Err(AppError::NotFound);
    }
    let v = sqlx::query!(
        "SELECT title, visit_date, venue FROM visits WHERE id = $1",
        id
    )
    .fetch_one(&state.db)
    .await?;
    let board = load(&state.db, id).await?;
    render(&BoardPage {
        layout: ctx.layout(&format!("{} · 叫号", v.title)),
        id,
        subtitle: format!("{} · {}", cn_date(v.visit_date), v.venue),
        columns: columns(board.rooms.len()),
        board,
    })
}

/// The full current state first (so a reconnect, whatever its Last-Event-ID, resumes exactly),
/// then a new state after every change.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    if !is_public(&state.db, id).await? {
        return Err(AppError::NotFound);
    }
    let rx = state.board.watch(&state.db, id, snapshot).await?;
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let board = rx.borrow_and_update().clone();
        let event = Event::default()
            .event("board")
            .id(board.version.to_string())
            .retry(Duration::from_secs(2))
            .data(board.json.as_str());
        Some((Ok(event), (rx, false)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
