//! `/staff/visits/{id}/schedule`: 自动排接 over the pure scheduler (`consult::scheduler`), the queues
//! per room with the schedule's quality, moving one registration by hand (which locks it), and
//! 发布排接.

use std::collections::{BTreeSet, HashMap};

use crate::consult::pages::hm;
use crate::consult::publish;
use crate::consult::schedule_store::{self, Move, MoveRefused, QueueNumber, Row};
use crate::consult::scheduler::{self, Window};
use crate::error::AppError;
use crate::prepare::registration::window_label;
use crate::state::AppState;
use crate::web::form::{Errors, Form};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

struct QueueRow {
    reg: i64,
    queue_number: i32,
    code: String,
    name: String,
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

/// A registration not placed in any room, placed by hand from its row.
struct Other {
    reg: i64,
    code: String,
    name: String,
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
    let l = schedule_store::load(&mut conn, id).await?;
    let s = schedule_store::stored(&l);
    let q = scheduler::quality(&l.input, &s);
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
                    name: by_id[&a.registration_id].name_mask.clone(),
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
        reg: r.id,
        code: r.code.clone(),
        name: r.name_mask.clone(),
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
    let s = schedule_store::auto_schedule(&mut tx, id, &ctx.actor()).await?;
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

/// Move one registration by hand (room, queue number; empty: the last) and lock it so automatic
/// runs keep it. Also places a registration the scheduler left out.
pub async fn move_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, reg)): Path<(i64, i64)>,
    Form(f): Form<MoveForm>,
) -> Page {
    let m = Move {
        room_id: f.room_id.trim().parse::<i64>().ok(),
        queue_number: QueueNumber::parse(&f.queue_number),
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    match schedule_store::move_registration(&mut tx, id, reg, &m, now, &ctx.actor()).await? {
        Ok(code) => {
            tx.commit().await?;
            Ok(redirect_with_flash(
                &state,
                &format!("/staff/visits/{id}/schedule"),
                &format!("已安排 {code} 的排接并锁定。"),
            ))
        }
        Err(refused) => {
            drop(tx);
            let errors = move_errors(&refused);
            let page = schedule_page(&state, &ctx, id, Some((reg, f, errors))).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

/// A refused move's reasons, beside their fields.
fn move_errors(refused: &MoveRefused) -> Errors {
    let mut errors = Errors::default();
    if refused.room {
        errors.add("room_id", "请选择本次活动的接待室");
    }
    if refused.number {
        errors.add(
            "queue_number",
            "请填写 1 到 9999 之间的排队号，或留空排在最后",
        );
    }
    if refused.number_taken {
        errors.add("queue_number", "该接待室已有这个排队号");
    }
    errors
}

/// `POST /staff/visits/{id}/schedule/publish`
pub async fn publish(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let told = publish::publish(&mut tx, id, now, &ctx.actor()).await?;
    tx.commit().await?;
    let msg = if told.is_empty() {
        "排接已发布；没有需要重新通知的登记。".to_owned()
    } else {
        format!("排接已发布，已通知 {} 位登记人。", told.len())
    };
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{id}/schedule"),
        &msg,
    ))
}
