//! Saving the schedule: loading a visit's queues in the scheduler's terms, 自动排接 in one
//! transaction, moving one registration by hand (which locks it), and the per-visit lock that
//! serialises every change of a visit's queues (runs, moves, check-ins, walk-ins, publishing).

use std::collections::{BTreeSet, HashMap};

use crate::audit::{self, Entry};
use crate::consult::checkin_rules::expected_at;
use crate::consult::queue_moves::{self, QueuePlace, stored_status};
use crate::consult::scheduler::{
    self, Assignment, Input, Locked, Registration, Room, Schedule, Window,
};
use crate::error::AppError;
use crate::prepare::lifecycle::RegistrationStatus as Status;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

/// Statuses the scheduler (re)assigns; later statuses keep their room and number as if locked.
pub const SCHEDULABLE: [Status; 2] = [Status::Confirmed, Status::Scheduled];
/// Whether a stored status is one the scheduler (re)assigns.
pub fn schedulable(status: &str) -> bool {
    Status::parse(status).is_some_and(|s| SCHEDULABLE.contains(&s))
}
/// Namespace of the advisory lock that serialises runs of one visit.
pub(crate) const LOCK_SPACE: i32 = 6;

/// A registration of the visit as the schedule page lists it.
pub struct Row {
    pub id: i64,
    pub code: String,
    /// 张某某: lists never show the full name.
    pub name_mask: String,
    pub category: String,
    pub category_id: i64,
    pub window_id: Option<i64>,
    pub slots: i16,
    pub priority: bool,
    pub status: String,
    pub room_id: Option<i64>,
    pub queue_number: Option<i32>,
    pub expected_at: Option<DateTime<Utc>>,
    pub locked: bool,
}

/// A visit's queues: the scheduler's input, the rows behind it, and the room names in order.
pub struct Loaded {
    pub input: Input,
    pub rows: Vec<Row>,
    pub room_names: Vec<(i64, String)>,
}

pub async fn load(conn: &mut sqlx::PgConnection, id: i64) -> Result<Loaded, AppError> {
    let slot_minutes = sqlx::query_scalar!("SELECT slot_minutes FROM visits WHERE id = $1", id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let rooms = competent_rooms(&mut *conn, id).await?;
    let windows = sqlx::query!("SELECT id, starts_at, ends_at, capacity_slots FROM reception_windows WHERE visit_id = $1 ORDER BY starts_at", id)
        .fetch_all(&mut *conn)
        .await?;
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT g.id, g.code, COALESCE(g.name_mask, '') AS "name_mask!", c.name AS category, g.category_id, g.window_id, g.slots, g.status, g.room_id, g.queue_number, g.expected_at,
                  g.schedule_locked AS locked,
                  (COALESCE(s.brought_by_leader, false) OR g.representatives_count > 0 OR COALESCE(cardinality(g.representatives), 0) > 0) AS "priority!"
           FROM registrations g JOIN categories c ON c.id = g.category_id
           LEFT JOIN survey_items s ON s.id = g.survey_item_id
           WHERE g.visit_id = $1 AND (g.status = ANY($2) OR (g.room_id IS NOT NULL AND g.status IN ('checked_in', 'called', 'received', 'no_show')))
           ORDER BY g.id"#,
        id,
        &SCHEDULABLE.map(|s| s.as_str().to_owned())[..]
    )
    .fetch_all(&mut *conn)
    .await?;
    let input = Input {
        rooms: rooms.iter().map(|(r, _)| r.clone()).collect(),
        windows: windows
            .iter()
            .map(|w| Window {
                id: w.id,
                starts_at: w.starts_at,
                ends_at: w.ends_at,
                capacity: w.capacity_slots,
            })
            .collect(),
        slot_minutes: i64::from(slot_minutes),
        registrations: rows
            .iter()
            .map(|r| Registration {
                id: r.id,
                category_id: r.category_id,
                window_id: r.window_id,
                slots: i32::from(r.slots),
                priority: r.priority,
            })
            .collect(),
        locked: rows
            .iter()
            .filter(|r| r.locked || !schedulable(&r.status))
            .filter_map(|r| {
                Some(Locked {
                    registration_id: r.id,
                    room_id: r.room_id?,
                    queue_number: r.queue_number?,
                })
            })
            .collect(),
    };
    Ok(Loaded {
        input,
        rows,
        room_names: rooms.into_iter().map(|(r, name)| (r.id, name)).collect(),
    })
}

/// The visit's rooms in order, each with the categories it is competent for, and its name.
pub async fn competent_rooms(
    conn: &mut sqlx::PgConnection,
    visit_id: i64,
) -> sqlx::Result<Vec<(Room, String)>> {
    // A room is competent for its own categories and for those whose default departments sit in it.
    let rooms = sqlx::query!(
        r#"SELECT r.id, r.name,
                  ARRAY(SELECT rc.category_id FROM room_categories rc WHERE rc.room_id = r.id
                        UNION SELECT cd.category_id FROM room_departments rd
                              JOIN category_departments cd ON cd.department_id = rd.department_id WHERE rd.room_id = r.id) AS "categories!"
           FROM rooms r WHERE r.visit_id = $1 ORDER BY r.sort_order, r.id"#,
        visit_id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rooms
        .into_iter()
        .map(|r| {
            (
                Room {
                    id: r.id,
                    categories: r.categories.into_iter().collect(),
                },
                r.name,
            )
        })
        .collect())
}

/// Serialise changes to a visit's queues: automatic runs, moves, check-ins, walk-ins, publishing.
pub async fn lock_visit(conn: &mut sqlx::PgConnection, visit_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock($1, $2::bigint::int)",
        LOCK_SPACE,
        visit_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The schedule as stored, in the scheduler's terms, so its quality is measured the same way.
pub fn stored(l: &Loaded) -> Schedule {
    let slot = Duration::minutes(l.input.slot_minutes);
    let windows: HashMap<i64, &Window> = l.input.windows.iter().map(|w| (w.id, w)).collect();
    let mut s = Schedule::default();
    for r in &l.rows {
        match (r.room_id, r.queue_number, r.expected_at) {
            (Some(room_id), Some(queue_number), Some(at)) => {
                if r.window_id
                    .and_then(|w| windows.get(&w))
                    .is_some_and(|w| at >= w.ends_at)
                {
                    s.late.push(r.id);
                }
                s.assignments.push(Assignment {
                    registration_id: r.id,
                    room_id,
                    queue_number,
                    starts_at: at,
                    ends_at: at + slot * i32::from(r.slots),
                    locked: r.locked,
                })
            }
            _ if !l
                .input
                .rooms
                .iter()
                .any(|room| room.categories.contains(&r.category_id)) =>
            {
                s.unmatched.push(r.id)
            }
            _ => {}
        }
    }
    s
}

/// Schedule a visit's confirmed registrations in the caller's transaction (also used by the Pujiang demo seed).
pub async fn auto_schedule(
    tx: &mut sqlx::PgConnection,
    id: i64,
    actor: &audit::Actor,
) -> Result<Schedule, AppError> {
    lock_visit(&mut *tx, id).await?;
    let l = load(&mut *tx, id).await?;
    let s = scheduler::schedule(&l.input);
    let keep: BTreeSet<i64> = l.input.locked.iter().map(|k| k.registration_id).collect();
    let free: Vec<i64> = l
        .rows
        .iter()
        .filter(|r| !keep.contains(&r.id))
        .map(|r| r.id)
        .collect();
    queue_moves::unschedule(&mut *tx, &free).await?;
    let placed: Vec<&Assignment> = s
        .assignments
        .iter()
        .filter(|a| !keep.contains(&a.registration_id))
        .collect();
    queue_moves::schedule_all(&mut *tx, &placed).await?;
    let detail = serde_json::json!({ "assigned": s.assignments.len(), "kept": keep.len(), "unmatched": s.unmatched, "late": s.late });
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("schedule.run").on("visit", id).detail(detail),
    )
    .await?;
    Ok(s)
}

/// A hand move as typed: the room picked (None when unreadable) and the place in its queue.
pub struct Move {
    pub room_id: Option<i64>,
    pub queue_number: QueueNumber,
}

/// The queue number typed for a move.
pub enum QueueNumber {
    /// Left empty: after the last batch of the room.
    Last,
    Typed(i32),
    Unreadable,
}

impl QueueNumber {
    pub fn parse(typed: &str) -> Self {
        let typed = typed.trim();
        if typed.is_empty() {
            return Self::Last;
        }
        typed.parse().map_or(Self::Unreadable, Self::Typed)
    }
}

/// Why a move was refused, by field.
#[derive(Default)]
pub struct MoveRefused {
    /// No room of this visit was picked.
    pub room: bool,
    /// No number in range was typed.
    pub number: bool,
    /// The room already has this number.
    pub number_taken: bool,
}

/// Move one registration by hand (room, queue number) and lock it so automatic runs keep it.
/// Only confirmed or scheduled registrations move (others: not found). Returns its code.
pub async fn move_registration(
    tx: &mut PgConnection,
    id: i64,
    reg: i64,
    m: &Move,
    now: DateTime<Utc>,
    actor: &audit::Actor,
) -> Result<Result<String, MoveRefused>, AppError> {
    lock_visit(&mut *tx, id).await?;
    let r = sqlx::query!(
        "SELECT g.code, g.status, g.expected_at, w.starts_at AS \"window_start?\", v.slot_minutes FROM registrations g
         JOIN visits v ON v.id = g.visit_id LEFT JOIN reception_windows w ON w.id = g.window_id
         WHERE g.id = $1 AND g.visit_id = $2 FOR UPDATE OF g",
        reg,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let from = stored_status(&r.status)?;
    if !SCHEDULABLE.contains(&from) {
        return Err(AppError::NotFound);
    }
    let room = match m.room_id {
        Some(room) => {
            sqlx::query_scalar!(
                "SELECT id FROM rooms WHERE id = $1 AND visit_id = $2",
                room,
                id
            )
            .fetch_optional(&mut *tx)
            .await?
        }
        None => None,
    };
    // A typed number keeps the batch's time; the last place starts when the room is free.
    let mut at = r.expected_at.or(r.window_start).unwrap_or(now);
    let queue = match (&m.queue_number, room) {
        (QueueNumber::Typed(q), _) => Some(*q),
        (QueueNumber::Last, Some(room)) => {
            let tail = room_tail(&mut *tx, room, r.slot_minutes).await?;
            at = expected_at(r.window_start.unwrap_or(now), tail.free_at);
            Some(tail.next)
        }
        _ => None,
    }
    .filter(|q| (1..=9999).contains(q));
    let mut refused = MoveRefused {
        room: room.is_none(),
        number: queue.is_none() && !matches!((&m.queue_number, room), (QueueNumber::Last, None)),
        number_taken: false,
    };
    if let (Some(room), Some(queue)) = (room, queue) {
        refused.number_taken = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM registrations WHERE room_id = $1 AND queue_number = $2 AND id <> $3) AS "e!""#, room, queue, reg)
            .fetch_one(&mut *tx)
            .await?;
    }
    let (Some(room), Some(queue), false) = (room, queue, refused.number_taken) else {
        return Ok(Err(refused));
    };
    let place = QueuePlace {
        room_id: room,
        queue_number: queue,
        expected_at: at,
    };
    queue_moves::schedule_by_hand(&mut *tx, reg, from, &place).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("schedule.move")
            .on("registration", reg)
            .detail(serde_json::json!({ "room_id": room, "queue_number": queue })),
    )
    .await?;
    Ok(Ok(r.code))
}

/// The end of a room's queue: the next number, and when the room is free of the batches still
/// to be received (None: nobody waits there).
pub struct Tail {
    pub next: i32,
    pub free_at: Option<DateTime<Utc>>,
}

/// The end of `room`'s queue (call under `lock_visit`).
pub async fn room_tail(
    conn: &mut PgConnection,
    room: i64,
    slot_minutes: i32,
) -> sqlx::Result<Tail> {
    let q = sqlx::query!(
        r#"SELECT COALESCE(max(queue_number), 0) + 1 AS "next!",
                  max(expected_at + make_interval(mins => slots::int * $2::int)) FILTER (WHERE status IN ('scheduled', 'checked_in', 'called')) AS free_at
           FROM registrations WHERE room_id = $1"#,
        room,
        slot_minutes
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Tail {
        next: q.next,
        free_at: q.free_at,
    })
}
