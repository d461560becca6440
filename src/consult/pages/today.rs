//! `/me/today`: a leader's rooms today (Asia/Shanghai), across visits — who else sits there, which
//! departments, the queue — and one click to the desk. Only the rooms where the leader sits. Below,
//! the leader's cases waiting for approval.

use crate::clock::{china_date, cn_date};
use crate::consult::board::{self, QueueRow, RoomRow, Tile};
use crate::error::AppError;
use crate::followup::inbox::{self, Line};
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::auth::CurrentUser;
use crate::web::page::{Layout, Page, render};
use askama::Template;
use axum::extract::State;
use chrono::NaiveDate;
use sqlx::PgPool;

struct TodayRoom {
    visit_id: i64,
    room_id: i64,
    visit_title: String,
    venue: String,
    hours: String,
    others: String,
    departments: String,
    received: i64,
    tile: Tile,
}

#[derive(Template)]
#[template(path = "consult/today.html")]
struct TodayPage {
    layout: Layout,
    date: String,
    rooms: Vec<TodayRoom>,
    /// The leader's cases waiting for approval of their closure.
    lines: Vec<Line>,
}

pub async fn page(State(state): State<AppState>, ctx: Ctx, user: CurrentUser) -> Page {
    let today = china_date(state.clock.now());
    render(&TodayPage {
        layout: ctx.layout("今日接访"),
        date: cn_date(today),
        rooms: rooms(&state.db, user.leader_id, user.jurisdiction_id, today).await?,
        lines: inbox::awaiting_approval(&state.db, &user, today).await?,
    })
}

/// The leader's rooms on `today`, each with the same tile as the public board.
async fn rooms(
    db: &PgPool,
    leader_id: Option<i64>,
    root: Option<i64>,
    today: NaiveDate,
) -> Result<Vec<TodayRoom>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT r.id, r.name, r.location, v.id AS visit_id, v.title, v.venue, v.starts_at, v.ends_at,
                  ARRAY(SELECT l.name || '（' || l.title || '）' FROM room_leaders rl JOIN leaders l ON l.id = rl.leader_id
                        WHERE rl.room_id = r.id AND rl.leader_id <> $1 ORDER BY rl.leader_id) AS "others!",
                  ARRAY(SELECT d.name FROM room_departments rd JOIN departments d ON d.id = rd.department_id
                        WHERE rd.room_id = r.id ORDER BY d.name) AS "departments!",
                  (SELECT count(*) FROM registrations g WHERE g.room_id = r.id AND g.status = 'received') AS "received!"
           FROM rooms r JOIN visits v ON v.id = r.visit_id
           JOIN room_leaders me ON me.room_id = r.id AND me.leader_id = $1
           WHERE v.visit_date = $2 AND v.status NOT IN ('draft', 'cancelled')
             AND visit_in_scope(v.county_id, v.organiser_id, $3)
           ORDER BY v.starts_at, v.id, r.sort_order, r.id"#,
        leader_id,
        today,
        root
    )
    .fetch_all(db)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let queue = sqlx::query_as!(
        QueueRow,
        r#"SELECT room_id AS "room_id!", status, queue_number AS "queue_number!",
                  COALESCE(name_mask, name) AS "name!", called_at
           FROM registrations WHERE room_id = ANY($1) AND status IN ('checked_in', 'called') AND queue_number IS NOT NULL"#,
        &ids
    )
    .fetch_all(db)
    .await?;
    // The same tiles as the public board: now receiving, next numbers, how many wait.
    let room_rows: Vec<RoomRow> = rows
        .iter()
        .map(|r| RoomRow {
            id: r.id,
            name: r.name.clone(),
            location: r.location.clone(),
        })
        .collect();
    let tiles = board::build(&room_rows, &queue);
    Ok(rows
        .into_iter()
        .zip(tiles)
        .map(|(r, tile)| TodayRoom {
            visit_id: r.visit_id,
            room_id: r.id,
            visit_title: r.title,
            venue: r.venue,
            hours: format!(
                "{}–{}",
                r.starts_at.format("%H:%M"),
                r.ends_at.format("%H:%M")
            ),
            others: r.others.join("、"),
            departments: r.departments.join("、"),
            received: r.received,
            tile,
        })
        .collect())
}
