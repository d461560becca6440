//! Arrivals at the reception hall, each in the caller's transaction: finding a visit's registrations
//! by blind index (签到 search, never decrypting), checking one in (签到), and `place` — putting a
//! batch in the best competent room's queue (现场登记, and check-ins of confirmed but never
//! scheduled registrations).

use crate::audit::{self, Actor, Entry};
use crate::consult::checkin_rules::{self, CheckIn, Query, expected_at};
use crate::consult::queue_moves::{self, QueuePlace, stored_status};
use crate::consult::{board, schedule_store, scheduler};
use crate::error::AppError;
use crate::prepare::lifecycle::Event;
use crate::privacy::{Field, Keys};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::HashMap;

pub struct Placed {
    pub room_id: i64,
    pub room_name: String,
    pub queue_number: i32,
}

/// Check in `reg` to `chosen` (staff's pick; must be a room of the visit) or to the best competent
/// room, with the room's next queue number and an expected time: `event` is `CheckIn` of a
/// confirmed registration or `PlaceWalkIn` of a walk-in. None: no competent room and no valid
/// pick. The caller holds `schedule_store::lock_visit`, so numbers are not handed out twice.
pub async fn place(
    conn: &mut sqlx::PgConnection,
    visit_id: i64,
    reg: i64,
    event: Event,
    chosen: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<Placed>, AppError> {
    let r = sqlx::query!(
        "SELECT g.category_id, g.slots, g.status, v.slot_minutes FROM registrations g JOIN visits v ON v.id = g.visit_id WHERE g.id = $1 AND g.visit_id = $2",
        reg,
        visit_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let rooms = schedule_store::competent_rooms(&mut *conn, visit_id).await?;
    let room_id = match chosen.filter(|c| rooms.iter().any(|(r, _)| r.id == *c)) {
        Some(c) => c,
        None => {
            let waiting: HashMap<i64, usize> = sqlx::query!(
                r#"SELECT room_id AS "room_id!", count(*) AS "n!" FROM registrations
                   WHERE visit_id = $1 AND status = 'checked_in' AND room_id IS NOT NULL GROUP BY room_id"#,
                visit_id
            )
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|w| (w.room_id, w.n as usize))
            .collect();
            let plain: Vec<scheduler::Room> = rooms.iter().map(|(r, _)| r.clone()).collect();
            match scheduler::best_room(&plain, r.category_id, &waiting) {
                Some(id) => id,
                None => return Ok(None),
            }
        }
    };
    let q = schedule_store::room_tail(&mut *conn, room_id, r.slot_minutes).await?;
    let at = QueuePlace {
        room_id,
        queue_number: q.next,
        expected_at: expected_at(now, q.free_at),
    };
    queue_moves::place_in_queue(&mut *conn, reg, stored_status(&r.status)?, event, &at, now)
        .await?;
    let room_name = rooms
        .into_iter()
        .find(|(r, _)| r.id == room_id)
        .map(|(_, n)| n)
        .unwrap_or_default();
    Ok(Some(Placed {
        room_id,
        room_name,
        queue_number: q.next,
    }))
}

/// A registration found by the check-in search.
pub struct Candidate {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub id_number_mask: String,
    pub phone_mask: Option<String>,
    pub status: String,
    pub queue_number: Option<i32>,
    pub room: Option<String>,
}

/// What a search found: this visit's matches, and whether other visits of its host had some.
pub struct Found {
    pub here: Vec<Candidate>,
    pub elsewhere: bool,
}

/// Registrations matching the query, this visit's first (at most 20, merged ones left out). Only
/// the host's own visits are searched: another jurisdiction's registrations stay unseen (§11).
pub async fn find(
    conn: &mut PgConnection,
    keys: &Keys,
    id: i64,
    query: &Query,
) -> Result<Found, AppError> {
    let (code, phone_index, id_index) = match query {
        Query::Code(c) => (Some(c.clone()), None, None),
        Query::Phone(p) => (None, Some(keys.blind_index(Field::Phone, p)), None),
        Query::IdNumber(n) => (None, None, Some(keys.blind_index(Field::IdNumber, n))),
    };
    let rows = sqlx::query!(
        r#"SELECT g.id, g.visit_id, g.code, COALESCE(g.name_mask, g.name) AS "name!", g.id_number_mask, g.phone_mask, g.status, g.queue_number, rm.name AS "room?"
           FROM registrations g LEFT JOIN rooms rm ON rm.id = g.room_id JOIN visits gv ON gv.id = g.visit_id
           WHERE (g.code = $1 OR g.phone_index = $2 OR g.id_number_index = $3) AND g.merged_into_id IS NULL
             AND gv.county_id = (SELECT county_id FROM visits WHERE id = $4)
           ORDER BY g.visit_id = $4 DESC, g.id DESC LIMIT 20"#,
        code,
        phone_index,
        id_index,
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    let (here, elsewhere): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.visit_id == id);
    Ok(Found {
        elsewhere: !elsewhere.is_empty(),
        here: here
            .into_iter()
            .map(|r| Candidate {
                id: r.id,
                code: r.code,
                name: crate::privacy::mask_name(&r.name),
                id_number_mask: r.id_number_mask,
                phone_mask: r.phone_mask,
                status: r.status,
                queue_number: r.queue_number,
                room: r.room,
            })
            .collect(),
    })
}

/// The outcome of 签到: queued (room name, queue number), or refused with the reason.
pub enum CheckedIn {
    Queued {
        code: String,
        room: String,
        queue_number: i32,
    },
    Refused {
        code: String,
        why: String,
    },
    /// 签到 is not open yet (the visit's day, or the afternoon before).
    NotOpen(String),
}

/// 签到 of one registration of the visit, under the visit's lock: a scheduled batch joins its
/// room's queue, a confirmed one is placed in the best room; audited and announced to the boards.
pub async fn check_in(
    tx: &mut PgConnection,
    id: i64,
    reg: i64,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<CheckedIn, AppError> {
    schedule_store::lock_visit(&mut *tx, id).await?;
    let v = sqlx::query!(
        "SELECT visit_date, checkin_opens_eve FROM visits WHERE id = $1",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if let Some(why) = checkin_rules::not_open(now, v.visit_date, v.checkin_opens_eve) {
        return Ok(CheckedIn::NotOpen(why));
    }
    let r = sqlx::query!(
        r#"SELECT g.code, g.status, g.queue_number, rm.name AS "room?" FROM registrations g LEFT JOIN rooms rm ON rm.id = g.room_id
           WHERE g.id = $1 AND g.visit_id = $2 FOR UPDATE OF g"#,
        reg,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let from = stored_status(&r.status)?;
    let (room, number) = match checkin_rules::check_in(from) {
        CheckIn::Refuse(why) => {
            let why = why.to_string();
            return Ok(CheckedIn::Refused { code: r.code, why });
        }
        CheckIn::Queue => {
            queue_moves::check_in_scheduled(&mut *tx, reg, from, now).await?;
            (
                r.room.unwrap_or_default(),
                r.queue_number.unwrap_or_default(),
            )
        }
        CheckIn::Place => match place(&mut *tx, id, reg, Event::CheckIn, None, now).await? {
            Some(p) => (p.room_name, p.queue_number),
            None => {
                let why = "没有对口的接待室，请先在排接页面为其手动安排接待室后再签到。".into();
                return Ok(CheckedIn::Refused { code: r.code, why });
            }
        },
    };
    let detail = serde_json::json!({ "visit_id": id, "from": r.status, "room": room, "queue_number": number });
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("registration.checkin")
            .on("registration", reg)
            .detail(detail),
    )
    .await?;
    board::announce(&mut *tx, id).await?;
    Ok(CheckedIn::Queued {
        code: r.code,
        room,
        queue_number: number,
    })
}
