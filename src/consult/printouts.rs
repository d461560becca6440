//! What staff print for the day: each room's list (A4, for the door and the leader's table) and
//! the queue ticket handed over at check-in or to a walk-in (80 mm receipt printer). Reads only;
//! names are the stored masks (王某某), as on every list.

use crate::error::AppError;
use chrono::NaiveDate;
use sqlx::PgConnection;

/// One batch of a room's list.
pub struct ListRow {
    pub queue_number: i32,
    pub name: String,
    pub persons: i32,
    pub category: String,
    /// HH:MM, China time.
    pub expected: String,
}

pub struct RoomList {
    pub visit_title: String,
    pub visit_date: NaiveDate,
    pub room: String,
    pub location: String,
    pub rows: Vec<ListRow>,
}

/// The room's queue in order: every batch scheduled or checked in there, or already called or
/// received. Another visit's room → 404.
pub async fn room_list(
    conn: &mut PgConnection,
    visit_id: i64,
    room_id: i64,
) -> Result<RoomList, AppError> {
    let head = sqlx::query!(
        "SELECT v.title, v.visit_date, r.name, r.location FROM rooms r JOIN visits v ON v.id = r.visit_id
         WHERE r.id = $2 AND r.visit_id = $1",
        visit_id,
        room_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let rows = sqlx::query_as!(
        ListRow,
        r#"SELECT g.queue_number AS "queue_number!", COALESCE(g.name_mask, '') AS "name!", g.persons,
                  COALESCE(p.name || ' / ', '') || c.name AS "category!",
                  COALESCE(to_char(g.expected_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI'), '') AS "expected!"
           FROM registrations g JOIN categories c ON c.id = g.category_id LEFT JOIN categories p ON p.id = c.parent_id
           WHERE g.room_id = $1 AND g.queue_number IS NOT NULL
             AND g.status IN ('scheduled', 'checked_in', 'called', 'received')
           ORDER BY g.queue_number"#,
        room_id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(RoomList {
        visit_title: head.title,
        visit_date: head.visit_date,
        room: head.name,
        location: head.location,
        rows,
    })
}

/// A queue ticket: what the citizen needs to find their room and follow their turn.
pub struct Ticket {
    pub visit_title: String,
    pub code: String,
    pub room: String,
    pub location: String,
    pub queue_number: i32,
    pub persons: i32,
    /// HH:MM, China time.
    pub expected: String,
}

/// The ticket of a registration of the visit: None while it has no place in a room's queue
/// (not yet scheduled, or already received); another visit's → 404.
pub async fn ticket(
    conn: &mut PgConnection,
    visit_id: i64,
    reg: i64,
) -> Result<Option<Ticket>, AppError> {
    let row = sqlx::query!(
        r#"SELECT v.title AS visit_title, g.code, r.name AS "room?", r.location AS "location?", g.queue_number, g.persons,
                  g.status IN ('scheduled', 'checked_in', 'called') AS "queued!",
                  COALESCE(to_char(g.expected_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI'), '') AS "expected!"
           FROM registrations g JOIN visits v ON v.id = g.visit_id LEFT JOIN rooms r ON r.id = g.room_id
           WHERE g.id = $2 AND g.visit_id = $1"#,
        visit_id,
        reg
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(
        match (row.queued, row.room, row.location, row.queue_number) {
            (true, Some(room), Some(location), Some(queue_number)) => Some(Ticket {
                visit_title: row.visit_title,
                code: row.code,
                room,
                location,
                queue_number,
                persons: row.persons,
                expected: row.expected,
            }),
            _ => None,
        },
    )
}
