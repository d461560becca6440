//! `/staff/visits/{id}/rooms/{room}/desk` — the leader's desk (接待台): the room's queue, 叫号, the
//! dossier of the batch at the table, recording the reception (issues, 交办 cases), 改换接待室 to another
//! room before the reception starts, and 标记未到 once a window has ended. What each action does
//! to the queue is `consult::reception`; this file parses, renders and answers.
//!
//! Staff may open any room's desk; a leader only the rooms where they sit. Any other room is a 404.

use crate::consult::desk_rules::may_correct;
use crate::consult::pages::desk_dossier::{Current, load_current};
use crate::consult::pages::desk_form::{FormState, Purpose, RecordForm, record_form};
use crate::consult::pages::hm;
use crate::consult::pages::reception_form::{self, RecordInput};
use crate::consult::reception::{self, Choices, DeskError, DeskRoom, NoShows, Recorded, Recorder};
use crate::error::AppError;
use crate::followup::assign::Assigned;
use crate::prepare::lifecycle::RegistrationStatus as Status;
use crate::privacy::{Column, Keys};
use crate::state::AppState;
use crate::web::auth::{CurrentUser, Role};
use crate::web::form::{Choice, Form};
use crate::web::page::{Layout, Page, render_status};
use crate::web::{Ctx, FlashLink, redirect_with_flash, redirect_with_flash_links};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::PgConnection;

// ---------------------------------------------------------------------------------------------
// Who may sit at which desk
// ---------------------------------------------------------------------------------------------

/// Staff open any room's desk; a leader only a room where they sit (DESIGN §2 "own rooms").
pub fn may_open_desk(role: Role, sits_in_room: bool) -> bool {
    match role {
        Role::Staff => true,
        Role::Leader => sits_in_room,
        _ => false,
    }
}

/// The room of the visit if this user may work at its desk; unknown or not theirs → 404.
pub(super) async fn open_room(
    conn: &mut PgConnection,
    user: &CurrentUser,
    visit_id: i64,
    room_id: i64,
) -> Result<DeskRoom, AppError> {
    let room = reception::desk_room(conn, visit_id, room_id, user.leader_id).await?;
    if !may_open_desk(user.role, room.sits) {
        return Err(AppError::NotFound);
    }
    Ok(room)
}

pub(super) fn desk_url(visit_id: i64, room_id: i64) -> String {
    format!("/staff/visits/{visit_id}/rooms/{room_id}/desk")
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

struct ReceivedEntry {
    reg: i64,
    number: i32,
    code: String,
    name: String,
    correctable: bool,
}

struct QueueEntry {
    reg: i64,
    number: i32,
    code: String,
    name: String,
    category: String,
    persons: i32,
    expected: String,
    checked_in: String,
}

#[derive(Template)]
#[template(path = "consult/desk.html")]
struct DeskPage {
    layout: Layout,
    visit_id: i64,
    room_id: i64,
    room_name: String,
    location: String,
    visit_title: String,
    leaders: String,
    departments: String,
    pending: usize,
    waiting: usize,
    received: usize,
    no_show: usize,
    current: Option<Current>,
    form: Option<RecordForm>,
    queue: Vec<QueueEntry>,
    not_arrived: Vec<QueueEntry>,
    other_rooms: Vec<Choice>,
    /// The batches received here, newest first; the user's own of today may be corrected.
    received_list: Vec<ReceivedEntry>,
    /// A refused action, said at the top of the page.
    notice: String,
    /// A refused transfer: (registration, message) shown beside its room select.
    transfer_error: Option<(i64, String)>,
}

impl DeskPage {
    fn transfer_error_for(&self, reg: &i64) -> String {
        match &self.transfer_error {
            Some((r, m)) if r == reg => m.clone(),
            _ => String::new(),
        }
    }
}

async fn queue_entries(
    conn: &mut PgConnection,
    keys: &Keys,
    room_id: i64,
    status: Status,
) -> Result<Vec<QueueEntry>, AppError> {
    // The leader's own room: a few people, shown in full (decrypted here, one room at a time).
    sqlx::query!(
        r#"SELECT g.id, g.queue_number AS "queue_number!", g.code, g.name, g.name_cipher, g.name_key_id, g.persons, g.expected_at, g.checked_in_at,
                  COALESCE(p.name || ' / ', '') || c.name AS "category!"
           FROM registrations g JOIN categories c ON c.id = g.category_id LEFT JOIN categories p ON p.id = c.parent_id
           WHERE g.room_id = $1 AND g.status = $2 ORDER BY g.queue_number"#,
        room_id,
        status.as_str()
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(QueueEntry {
            reg: r.id,
            number: r.queue_number,
            code: r.code,
            name: keys.open(Column::REGISTRATION_NAME, r.id, r.name, r.name_cipher, r.name_key_id)?,
            category: r.category,
            persons: r.persons,
            expected: hm(r.expected_at),
            checked_in: hm(r.checked_in_at),
        })
    })
    .collect()
}

/// The batches received in the room, newest first, and whether this user may correct each.
async fn received_entries(
    conn: &mut PgConnection,
    keys: &Keys,
    room_id: i64,
    ctx: &Ctx,
    now: DateTime<Utc>,
) -> Result<Vec<ReceivedEntry>, AppError> {
    let user_id = ctx.user.as_ref().map_or(0, |u| u.id);
    sqlx::query!(
        r#"SELECT g.id, g.queue_number AS "queue_number!", g.code, g.name, g.name_cipher, g.name_key_id,
                  r.recorded_by, r.ended_at AS "ended_at!"
           FROM registrations g JOIN receptions r ON r.registration_id = g.id
           WHERE g.room_id = $1 AND g.status = 'received' AND r.ended_at IS NOT NULL ORDER BY r.ended_at DESC"#,
        room_id
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(ReceivedEntry {
            reg: r.id,
            number: r.queue_number,
            code: r.code,
            name: keys.open(Column::REGISTRATION_NAME, r.id, r.name, r.name_cipher, r.name_key_id)?,
            correctable: may_correct(r.recorded_by, user_id, r.ended_at, now),
        })
    })
    .collect()
}

async fn desk_page(
    state: &AppState,
    ctx: &Ctx,
    room: &DeskRoom,
    form: Option<FormState>,
    notice: String,
    transfer_error: Option<(i64, String)>,
) -> Result<DeskPage, AppError> {
    let mut conn = state.db.acquire().await?;
    let people = sqlx::query!(
        r#"SELECT ARRAY(SELECT l.name || '（' || l.title || '）' FROM room_leaders rl JOIN leaders l ON l.id = rl.leader_id
                        WHERE rl.room_id = $1 ORDER BY rl.leader_id) AS "leaders!",
                  ARRAY(SELECT d.name FROM room_departments rd JOIN departments d ON d.id = rd.department_id
                        WHERE rd.room_id = $1 ORDER BY d.name) AS "departments!""#,
        room.id
    )
    .fetch_one(&mut *conn)
    .await?;
    let counts = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE status = 'scheduled') AS "pending!", count(*) FILTER (WHERE status = 'checked_in') AS "waiting!",
                  count(*) FILTER (WHERE status = 'received') AS "received!", count(*) FILTER (WHERE status = 'no_show') AS "no_show!"
           FROM registrations WHERE room_id = $1"#,
        room.id
    )
    .fetch_one(&mut *conn)
    .await?;
    let current = load_current(&mut conn, &state.keys, room).await?;
    let form = match &current {
        Some((c, category_id)) => {
            let purpose = Purpose {
                action: format!("{}/{}/record", desk_url(room.visit_id, room.id), c.reg),
                submit: "保存接谈记录",
                kept: Vec::new(),
            };
            Some(record_form(&mut conn, room, Some(*category_id), form, purpose).await?)
        }
        None => None,
    };
    let other_rooms = sqlx::query_as!(Choice, "SELECT id, name AS label FROM rooms WHERE visit_id = $1 AND id <> $2 ORDER BY sort_order, id", room.visit_id, room.id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(DeskPage {
        layout: ctx.layout(&format!("接待台：{}", room.name)),
        visit_id: room.visit_id,
        room_id: room.id,
        room_name: room.name.clone(),
        location: room.location.clone(),
        visit_title: room.visit_title.clone(),
        leaders: people.leaders.join("、"),
        departments: people.departments.join("、"),
        pending: counts.pending as usize,
        waiting: counts.waiting as usize,
        received: counts.received as usize,
        no_show: counts.no_show as usize,
        current: current.map(|(c, _)| c),
        form,
        queue: queue_entries(&mut conn, &state.keys, room.id, Status::CheckedIn).await?,
        not_arrived: queue_entries(&mut conn, &state.keys, room.id, Status::Scheduled).await?,
        other_rooms,
        received_list: received_entries(&mut conn, &state.keys, room.id, ctx, state.clock.now())
            .await?,
        notice,
        transfer_error,
    })
}

/// A refused action: the desk again, with the reason on top.
async fn refused(
    state: &AppState,
    ctx: &Ctx,
    room: &DeskRoom,
    status: StatusCode,
    message: String,
) -> Page {
    Ok(render_status(
        status,
        &desk_page(state, ctx, room, None, message, None).await?,
    ))
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path((visit_id, room_id)): Path<(i64, i64)>,
) -> Page {
    let room = open_room(&mut *state.db.acquire().await?, &user, visit_id, room_id).await?;
    Ok(render_status(
        StatusCode::OK,
        &desk_page(&state, &ctx, &room, None, String::new(), None).await?,
    ))
}

/// A refused or failed action: the desk again with the reason (409) or with the form as typed
/// (422; 200 for 再加一项), or the error.
async fn answer(state: &AppState, ctx: &Ctx, room: &DeskRoom, e: DeskError<FormState>) -> Page {
    match e {
        DeskError::Refused(message) => {
            refused(state, ctx, room, StatusCode::CONFLICT, message).await
        }
        DeskError::Invalid(form) => {
            let status = invalid_status(&form.input);
            let page = desk_page(state, ctx, room, Some(form), String::new(), None).await?;
            Ok(render_status(status, &page))
        }
        DeskError::NoOtherRoom(reg) => {
            let error = Some((reg, "请选择本次活动的另一个接待室".into()));
            let page = desk_page(state, ctx, room, None, String::new(), error).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        DeskError::Failed(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// 叫号
// ---------------------------------------------------------------------------------------------

/// Call the next checked-in batch by queue number (`reception::call_next`).
pub async fn call(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path((visit_id, room_id)): Path<(i64, i64)>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let room = open_room(&mut tx, &user, visit_id, room_id).await?;
    let c = match reception::call_next(&mut tx, &room, state.clock.now(), &ctx.actor()).await {
        Ok(c) => c,
        Err(e) => {
            drop(tx);
            return answer(&state, &ctx, &room, e.map_invalid(|never| match never {})).await;
        }
    };
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &desk_url(visit_id, room_id),
        &format!(
            "已叫第 {} 号（{}），请到{}接谈。",
            c.queue_number, c.code, room.name
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// 登记接谈情况
// ---------------------------------------------------------------------------------------------

pub async fn record(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path((visit_id, room_id, reg)): Path<(i64, i64, i64)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Page {
    let input = reception_form::parse(&pairs);
    let actor = ctx.actor();
    let by = recorder(&state, &user, &actor);
    let check = |c: &Choices<'_>| reception_form::submitted(&input, c, false);
    let mut tx = state.db.begin().await?;
    let room = open_room(&mut tx, &user, visit_id, room_id).await?;
    match reception::record(&mut tx, &room, reg, check, &by).await {
        Ok(r) => {
            tx.commit().await?;
            let url = desk_url(visit_id, room_id);
            let links = case_links(&r.cases);
            Ok(redirect_with_flash_links(
                &state,
                &url,
                &recorded_message(&r),
                &links,
            ))
        }
        Err(e) => {
            drop(tx);
            let e = e.map_invalid(|invalid| FormState { input, invalid });
            answer(&state, &ctx, &room, e).await
        }
    }
}

/// Who records a reception from this request.
pub(super) fn recorder<'a>(
    state: &'a AppState,
    user: &CurrentUser,
    actor: &'a crate::audit::Actor,
) -> Recorder<'a> {
    Recorder {
        user_id: user.id,
        keys: &state.keys,
        actor,
        rules: &state.config.case_rules,
        now: state.clock.now(),
    }
}

/// 200 when the form is only shown again (再加一项, an outcome's fields), else 422.
pub(super) fn invalid_status(input: &RecordInput) -> StatusCode {
    match input.redisplay() {
        true => StatusCode::OK,
        false => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn recorded_message(r: &Recorded) -> String {
    let mut msg = format!("已登记 {} 的接谈情况（{} 项诉求）。", r.code, r.issues);
    if !r.cases.is_empty() {
        msg.push_str("交办件：");
    }
    msg
}

/// The cases a reception made, each a link to its page.
pub(super) fn case_links(cases: &[Assigned]) -> Vec<FlashLink> {
    cases
        .iter()
        .map(|c| FlashLink {
            href: format!("/cases/{}", c.id),
            label: c.code.clone(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 改换接待室
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TransferForm {
    room_id: String,
}

pub async fn transfer(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path((visit_id, room_id, reg)): Path<(i64, i64, i64)>,
    Form(f): Form<TransferForm>,
) -> Page {
    let target = f.room_id.trim().parse::<i64>().ok();
    let mut tx = state.db.begin().await?;
    let room = open_room(&mut tx, &user, visit_id, room_id).await?;
    let t = match reception::transfer(&mut tx, &room, reg, target, &ctx.actor()).await {
        Ok(t) => t,
        Err(e) => {
            drop(tx);
            return answer(&state, &ctx, &room, e.map_invalid(|never| match never {})).await;
        }
    };
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &desk_url(visit_id, room_id),
        &format!(
            "已将 {} 转到{}，排第 {} 号。",
            t.code, t.room_name, t.queue_number
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// 标记未到
// ---------------------------------------------------------------------------------------------

pub async fn no_shows(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path((visit_id, room_id)): Path<(i64, i64)>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let room = open_room(&mut tx, &user, visit_id, room_id).await?;
    let now = state.clock.now();
    let msg = match reception::mark_no_shows(&mut tx, &room, now, &ctx.actor()).await? {
        NoShows::Marked(codes) => {
            tx.commit().await?;
            format!("已将 {} 批标记为未到：{}。", codes.len(), codes.join("、"))
        }
        NoShows::NoneDue { first: Some(first) } => format!(
            "尚未签到的登记还没到所选时段的结束时间，暂不标记未到（最早 {} 后可标记）。",
            hm(Some(first))
        ),
        NoShows::NoneDue { first: None } => "没有尚未签到的登记。".into(),
    };
    Ok(redirect_with_flash(
        &state,
        &desk_url(visit_id, room_id),
        &msg,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_open_every_desk_leaders_only_their_rooms() {
        assert!(may_open_desk(Role::Staff, false));
        assert!(may_open_desk(Role::Leader, true));
        assert!(!may_open_desk(Role::Leader, false));
        for role in [
            Role::Handler,
            Role::Supervisor,
            Role::Sysadmin,
            Role::Secadmin,
            Role::Auditor,
        ] {
            assert!(!may_open_desk(role, true), "{role:?}");
        }
    }
}
