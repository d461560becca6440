//! `/staff/visits/{id}/schedule`: 自动排接 over the pure scheduler (`consult::schedule`), the queues
//! per room with the schedule's quality, and moving one registration by hand (which locks it).

use std::collections::{BTreeSet, HashMap};

use crate::audit::{self, Entry};
use crate::consult::schedule::{
    self, Assignment, Input, Locked, Registration, Room, Schedule, Window,
};
use crate::error::AppError;
use crate::prepare::registration::window_label;
use crate::state::AppState;
use crate::web::form::{Errors, Form};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;

/// Statuses the scheduler (re)assigns; later statuses keep their room and number as if locked.
const SCHEDULABLE: [&str; 2] = ["confirmed", "scheduled"];
/// Namespace of the advisory lock that serialises runs of one visit.
pub(crate) const LOCK_SPACE: i32 = 6;

struct Row {
    id: i64,
    code: String,
    category: String,
    category_id: i64,
    window_id: Option<i64>,
    slots: i16,
    priority: bool,
    status: String,
    room_id: Option<i64>,
    queue_number: Option<i32>,
    expected_at: Option<DateTime<Utc>>,
    locked: bool,
}

struct Loaded {
    input: Input,
    rows: Vec<Row>,
    room_names: Vec<(i64, String)>,
}

async fn load(conn: &mut sqlx::PgConnection, id: i64) -> Result<Loaded, AppError> {
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
        r#"SELECT g.id, g.code, c.name AS category, g.category_id, g.window_id, g.slots, g.status, g.room_id, g.queue_number, g.expected_at,
                  g.schedule_locked AS locked,
                  (COALESCE(s.brought_by_leader, false) OR cardinality(g.representatives) > 0) AS "priority!"
           FROM registrations g JOIN categories c ON c.id = g.category_id
           LEFT JOIN survey_items s ON s.id = g.survey_item_id
           WHERE g.visit_id = $1 AND (g.status = ANY($2) OR (g.room_id IS NOT NULL AND g.status IN ('checked_in', 'called', 'received', 'no_show')))
           ORDER BY g.id"#,
        id,
        &SCHEDULABLE.map(String::from)[..]
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
            .filter(|r| r.locked || !SCHEDULABLE.contains(&r.status.as_str()))
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
fn stored(l: &Loaded) -> Schedule {
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

struct QueueRow {
    reg: i64,
    queue_number: i32,
    code: String,
    category: String,
    at: String,
    late: bool,
    locked: bool,
}

struct RoomQueue {
    id: i64,
    name: String,
    end: String,
    rows: Vec<QueueRow>,
}

struct Other {
    code: String,
    category: String,
    window: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MoveForm {
    pub room_id: String,
    pub queue_number: String,
}

#[derive(Template)]
#[template(path = "consult/schedule.html")]
struct SchedulePage {
    layout: Layout,
    id: i64,
    rooms: Vec<RoomQueue>,
    room_names: Vec<(i64, String)>,
    total: usize,
    matched_pct: String,
    makespan: String,
    lower_bound: String,
    ratio: String,
    longest_wait: i64,
    late: usize,
    unmatched: Vec<Other>,
    unassigned: Vec<Other>,
    /// A refused move: (registration, form, errors).
    moving: Option<(i64, MoveForm, Errors)>,
}

impl SchedulePage {
    fn move_error(&self, reg: &i64, field: &str) -> String {
        match &self.moving {
            Some((r, _, e)) if r == reg => e.get(field).to_string(),
            _ => String::new(),
        }
    }
    fn move_value(&self, reg: &i64, field: &str, stored: String) -> String {
        match &self.moving {
            Some((r, f, _)) if r == reg => {
                if field == "room_id" {
                    f.room_id.clone()
                } else {
                    f.queue_number.clone()
                }
            }
            _ => stored,
        }
    }
}

pub(crate) fn hm(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "—".into(),
        |t| t.with_timezone(&Shanghai).format("%H:%M").to_string(),
    )
}

async fn schedule_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    moving: Option<(i64, MoveForm, Errors)>,
) -> Result<SchedulePage, AppError> {
    let mut conn = state.db.acquire().await?;
    let title = sqlx::query_scalar!("SELECT title FROM visits WHERE id = $1", id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let l = load(&mut conn, id).await?;
    let s = stored(&l);
    let q = schedule::quality(&l.input, &s);
    let by_id: HashMap<i64, &Row> = l.rows.iter().map(|r| (r.id, r)).collect();
    let windows: HashMap<i64, &Window> = l.input.windows.iter().map(|w| (w.id, w)).collect();
    let late: BTreeSet<i64> = s.late.iter().copied().collect();
    let rooms = l
        .room_names
        .iter()
        .map(|(rid, name)| {
            let mut rows: Vec<QueueRow> = s
                .assignments
                .iter()
                .filter(|a| a.room_id == *rid)
                .map(|a| QueueRow {
                    reg: a.registration_id,
                    queue_number: a.queue_number,
                    code: by_id[&a.registration_id].code.clone(),
                    category: by_id[&a.registration_id].category.clone(),
                    at: hm(Some(a.starts_at)),
                    late: late.contains(&a.registration_id),
                    locked: a.locked,
                })
                .collect();
            rows.sort_by_key(|r| r.queue_number);
            let end = q
                .room_ends
                .iter()
                .find(|(r, _)| r == rid)
                .and_then(|(_, e)| *e);
            RoomQueue {
                id: *rid,
                name: name.clone(),
                end: hm(end),
                rows,
            }
        })
        .collect();
    let other = |r: &Row| Other {
        code: r.code.clone(),
        category: r.category.clone(),
        window: r.window_id.and_then(|w| windows.get(&w)).map_or_else(
            || "未选时段".into(),
            |w| window_label(w.starts_at, w.ends_at),
        ),
    };
    let unmatched: Vec<Other> = s.unmatched.iter().map(|r| other(by_id[r])).collect();
    let unassigned: Vec<Other> = l
        .rows
        .iter()
        .filter(|r| r.room_id.is_none() && !s.unmatched.contains(&r.id))
        .map(other)
        .collect();
    Ok(SchedulePage {
        layout: ctx.layout(&format!("排接：{title}")),
        id,
        rooms,
        room_names: l.room_names,
        total: q.registrations,
        matched_pct: format!("{:.1}%", q.matched_share() * 100.0),
        makespan: hm(q.makespan),
        lower_bound: hm(q.lower_bound),
        ratio: q.ratio().map_or_else(|| "—".into(), |r| format!("{r:.2}")),
        longest_wait: q.longest_wait_minutes,
        late: s.late.len(),
        unmatched,
        unassigned,
        moving,
    })
}

pub async fn page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(&schedule_page(&state, &ctx, id, None).await?)
}

/// 自动排接: one transaction, serialised per visit; locked and already-started batches are kept.
pub async fn run(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let mut tx = state.db.begin().await?;
    let s = auto_schedule(&mut tx, id, &ctx.actor()).await?;
    tx.commit().await?;
    let mut msg = format!("已自动排接 {} 批。", s.assignments.len());
    if !s.unmatched.is_empty() {
        msg.push_str(&format!(
            "{} 批没有对口的接待室，请人工安排。",
            s.unmatched.len()
        ));
    }
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{id}/schedule"),
        &msg,
    ))
}

/// Schedule a visit's confirmed registrations in the caller's transaction (also used by the Pujiang demo seed).
pub async fn auto_schedule(
    tx: &mut sqlx::PgConnection,
    id: i64,
    actor: &audit::Actor,
) -> Result<Schedule, AppError> {
    lock_visit(&mut *tx, id).await?;
    let l = load(&mut *tx, id).await?;
    let s = schedule::schedule(&l.input);
    let keep: BTreeSet<i64> = l.input.locked.iter().map(|k| k.registration_id).collect();
    let free: Vec<i64> = l
        .rows
        .iter()
        .filter(|r| !keep.contains(&r.id))
        .map(|r| r.id)
        .collect();
    sqlx::query!(
        "UPDATE registrations SET room_id = NULL, queue_number = NULL, expected_at = NULL, status = 'confirmed' WHERE id = ANY($1)",
        &free
    )
    .execute(&mut *tx)
    .await?;
    let placed: Vec<&Assignment> = s
        .assignments
        .iter()
        .filter(|a| !keep.contains(&a.registration_id))
        .collect();
    sqlx::query!(
        "UPDATE registrations g SET room_id = a.room, queue_number = a.q, expected_at = a.at, status = 'scheduled'
         FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::timestamptz[]) AS a(reg, room, q, at) WHERE g.id = a.reg",
        &placed.iter().map(|a| a.registration_id).collect::<Vec<_>>(),
        &placed.iter().map(|a| a.room_id).collect::<Vec<_>>(),
        &placed.iter().map(|a| a.queue_number).collect::<Vec<_>>(),
        &placed.iter().map(|a| a.starts_at).collect::<Vec<_>>()
    )
    .execute(&mut *tx)
    .await?;
    let detail = serde_json::json!({ "assigned": s.assignments.len(), "kept": keep.len(), "unmatched": s.unmatched, "late": s.late });
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("schedule.run").on("visit", id).detail(detail),
    )
    .await?;
    Ok(s)
}

/// Move one registration by hand (room, queue number) and lock it so automatic runs keep it.
pub async fn move_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, reg)): Path<(i64, i64)>,
    Form(f): Form<MoveForm>,
) -> Page {
    let mut tx = state.db.begin().await?;
    lock_visit(&mut tx, id).await?;
    let r = sqlx::query!(
        "SELECT g.code, g.status, g.expected_at, w.starts_at AS \"window_start?\" FROM registrations g
         LEFT JOIN reception_windows w ON w.id = g.window_id WHERE g.id = $1 AND g.visit_id = $2 FOR UPDATE OF g",
        reg,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if !SCHEDULABLE.contains(&r.status.as_str()) {
        return Err(AppError::NotFound);
    }
    let mut errors = Errors::default();
    let room = f.room_id.trim().parse::<i64>().ok();
    let room = match room {
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
    if room.is_none() {
        errors.add("room_id", "请选择本次活动的接待室");
    }
    let queue = f
        .queue_number
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|q| (1..=9999).contains(q));
    if queue.is_none() {
        errors.add("queue_number", "请填写 1 到 9999 之间的排队号");
    }
    if let (Some(room), Some(queue)) = (room, queue) {
        if sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM registrations WHERE room_id = $1 AND queue_number = $2 AND id <> $3) AS "e!""#, room, queue, reg)
            .fetch_one(&mut *tx)
            .await?
        {
            errors.add("queue_number", "该接待室已有这个排队号");
        }
    }
    let (Some(room), Some(queue)) = (room, queue) else {
        drop(tx);
        return Ok(render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &schedule_page(&state, &ctx, id, Some((reg, f, errors))).await?,
        ));
    };
    if !errors.is_empty() {
        drop(tx);
        return Ok(render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &schedule_page(&state, &ctx, id, Some((reg, f, errors))).await?,
        ));
    }
    let at = r
        .expected_at
        .or(r.window_start)
        .unwrap_or_else(|| state.clock.now());
    sqlx::query!(
        "UPDATE registrations SET room_id = $2, queue_number = $3, expected_at = $4, status = 'scheduled', schedule_locked = true WHERE id = $1",
        reg,
        room,
        queue,
        at
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("schedule.move")
            .on("registration", reg)
            .detail(serde_json::json!({ "room_id": room, "queue_number": queue })),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{id}/schedule"),
        &format!("已调整 {} 的排接并锁定。", r.code),
    ))
}
