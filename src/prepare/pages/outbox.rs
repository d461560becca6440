//! `/staff/visits/{id}/outbox`: the messages sent to the visit's registrants, whether they went out
//! and whether the gateway reported them delivered (送达).

use crate::clock::china_minute;
use crate::error::AppError;
use crate::notify::gateway::{delivery_label, status_label};
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::page::{Layout, Page, render};
use askama::Template;
use axum::extract::{Path, State};

pub struct Line {
    pub at: String,
    pub recipient: String,
    pub body: String,
    pub status: &'static str,
    pub delivery: String,
}

#[derive(Template)]
#[template(path = "prepare/outbox.html")]
struct OutboxPage {
    layout: Layout,
    id: i64,
    lines: Vec<Line>,
}

/// The newest messages first; a day's registrants get a few each.
const SHOWN: i64 = 2000;

/// `GET /staff/visits/{id}/outbox`
pub async fn page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let title = sqlx::query_scalar!("SELECT title FROM visits WHERE id = $1", id)
        .fetch_optional(&state.db)
        .await?
        .ok_or(AppError::NotFound)?;
    let lines = sqlx::query!(
        "SELECT n.created_at, n.recipient_mask, n.body, n.status, n.gateway_id, n.receipt, n.receipt_error
         FROM notifications n JOIN registrations r ON r.id = n.registration_id
         WHERE r.visit_id = $1 ORDER BY n.id DESC LIMIT $2",
        id,
        SHOWN
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|n| Line {
        at: china_minute(n.created_at),
        recipient: n.recipient_mask,
        body: n.body,
        status: status_label(&n.status),
        delivery: delivery_label(
            &n.status,
            n.gateway_id.as_deref(),
            n.receipt.as_deref(),
            n.receipt_error.as_deref(),
        ),
    })
    .collect();
    render(&OutboxPage {
        layout: ctx.layout(&format!("短信记录：{title}")),
        id,
        lines,
    })
}
