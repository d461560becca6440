//! `/staff/visits/{id}/day`: the day's live counts (DESIGN §4 "the day"), by room and in total.
//! Two grouped queries; the table is a pure function of their rows (`consult::day::tally`).
//! `static/day.js` reloads the counts when the visit's board announces a change; without JS the
//! 刷新 link does it.

use crate::consult::day::{Counts, IssueRow, Line, RegRow, tally};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::page::{Layout, Page, render};
use askama::Template;
use axum::extract::{Path, State};
use sqlx::PgConnection;

#[derive(Template)]
#[template(path = "consult/day.html")]
struct DayPage {
    layout: Layout,
    id: i64,
    lines: Vec<Line>,
    total: Counts,
}

/// `GET /staff/visits/{id}/day`
pub async fn page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let mut conn = state.db.acquire().await?;
    let (title, rooms, regs, issues) = load(&mut conn, id).await?;
    let (lines, total) = tally(&rooms, &regs, &issues);
    render(&DayPage {
        layout: ctx.layout(&format!("当日统计：{title}")),
        id,
        lines,
        total,
    })
}

type Loaded = (String, Vec<(i64, String)>, Vec<RegRow>, Vec<IssueRow>);

/// The visit's title, its rooms in order and the grouped rows the table is counted from.
async fn load(conn: &mut PgConnection, id: i64) -> Result<Loaded, AppError> {
    let title = sqlx::query_scalar!("SELECT title FROM visits WHERE id = $1", id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let rooms: Vec<(i64, String)> = sqlx::query!(
        "SELECT id, name FROM rooms WHERE visit_id = $1 ORDER BY sort_order, id",
        id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.id, r.name))
    .collect();
    let regs = sqlx::query_as!(
        RegRow,
        r#"SELECT room_id, status, count(*) AS "batches!", COALESCE(sum(persons), 0) AS "persons!"
           FROM registrations WHERE visit_id = $1 GROUP BY room_id, status"#,
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    let issues = sqlx::query_as!(
        IssueRow,
        r#"SELECT rc.room_id, i.outcome, count(*) AS "count!" FROM issues i JOIN receptions rc ON rc.id = i.reception_id
           WHERE i.visit_id = $1 AND i.outcome IN ('resolved_on_spot', 'assigned') GROUP BY rc.room_id, i.outcome"#,
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((title, rooms, regs, issues))
}
