//! `/staff/visits/{id}/rooms/{room}/desk` — the leader's desk (接待台): the room's queue, 叫号, the
//! dossier of the batch at the table, recording the reception (issues, 交办 cases), 转办 to another
//! room before the reception starts, and 标记未到 once a window has ended.
//!
//! Staff may open any room's desk; a leader only the rooms where they sit. Any other room is a 404.

use crate::admin::{CategoryGroup, Choice, category_groups};
use crate::audit::{self, Entry};
use crate::clock::china_minute;
use crate::consult::board;
use crate::consult::reception::{self, Choices, IssueInput, OUTCOMES, RecordInput};
use crate::consult::scheduling::{LOCK_SPACE, hm};
use crate::error::AppError;
use crate::followup::assign::{self, NewCase, Source};
use crate::prepare::{lifecycle::staff_status_label as status_label, registration::channel_label};
use crate::state::AppState;
use crate::web::auth::{CurrentUser, Role};
use crate::web::form::{Errors, Form};
use crate::web::page::{Layout, Page, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;
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

/// The room of a desk, as its handlers need it.
pub struct DeskRoom {
    pub visit_id: i64,
    pub id: i64,
    pub name: String,
    pub location: String,
    pub visit_title: String,
    pub deadline_days: i32,
    pub slot_minutes: i32,
}

/// The room of the visit if this user may work at its desk; unknown or not theirs → 404.
pub async fn open_room(
    conn: &mut PgConnection,
    user: &CurrentUser,
    visit_id: i64,
    room_id: i64,
) -> Result<DeskRoom, AppError> {
    let r = sqlx::query!(
        r#"SELECT r.name, r.location, v.title, v.deadline_days, v.slot_minutes,
                  EXISTS (SELECT 1 FROM room_leaders rl WHERE rl.room_id = r.id AND rl.leader_id = $3) AS "sits!"
           FROM rooms r JOIN visits v ON v.id = r.visit_id WHERE r.id = $1 AND r.visit_id = $2"#,
        room_id,
        visit_id,
        user.leader_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if !may_open_desk(user.role, r.sits) {
        return Err(AppError::NotFound);
    }
    Ok(DeskRoom {
        visit_id,
        id: room_id,
        name: r.name,
        location: r.location,
        visit_title: r.title,
        deadline_days: r.deadline_days,
        slot_minutes: r.slot_minutes,
    })
}

fn desk_url(visit_id: i64, room_id: i64) -> String {
    format!("/staff/visits/{visit_id}/rooms/{room_id}/desk")
}

// ---------------------------------------------------------------------------------------------
// Rules: transfer and no-shows
// ---------------------------------------------------------------------------------------------

/// 转办 only before the reception starts: scheduled or checked in, never once called.
pub fn transferable(status: &str) -> bool {
    matches!(status, "scheduled" | "checked_in")
}

/// When a batch that never checked in counts as absent: the end of its window, or for a batch
/// without one (walk-ins), the end of its expected slot(s).
pub fn no_show_from(
    expected_at: DateTime<Utc>,
    window_ends_at: Option<DateTime<Utc>>,
    slot_minutes: i32,
    slots: i16,
) -> DateTime<Utc> {
    window_ends_at.unwrap_or_else(|| {
        expected_at + Duration::minutes(i64::from(slot_minutes) * i64::from(slots.max(1)))
    })
}

/// Whether a registration is a no-show at `now`: never checked in, and its time is over.
pub fn is_no_show(status: &str, from: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    status == "scheduled" && now >= from
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

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

struct Survey {
    summary: String,
    background: String,
    policy_basis: String,
    proposed_handling: String,
    brought_by_leader: bool,
}

struct Earlier {
    code: String,
    visit: String,
    date: String,
    category: String,
    status: &'static str,
}

struct EarlierCase {
    code: String,
    title: String,
    assigned: String,
    status: &'static str,
}

/// The batch at the table and its dossier.
struct Current {
    reg: i64,
    number: i32,
    code: String,
    name: String,
    channel: &'static str,
    id_mask: String,
    phone_mask: String,
    category: String,
    persons: i32,
    representatives: String,
    grievance: String,
    township: String,
    village: String,
    address: String,
    called_at: String,
    survey: Option<Survey>,
    earlier: Vec<Earlier>,
    cases: Vec<EarlierCase>,
}

/// One issue block of the record form.
struct Block {
    index: usize,
    input: IssueInput,
    errors: Errors,
}

impl Block {
    fn name(&self, field: &str) -> String {
        format!("i{}_{field}", self.index)
    }
    fn has_co(&self, id: &i64) -> bool {
        self.input.co.iter().any(|c| c.trim() == id.to_string())
    }
}

struct RecordForm {
    statement: String,
    consultation: String,
    blocks: Vec<Block>,
    errors: Errors,
    categories: Vec<CategoryGroup>,
    departments: Vec<Choice>,
    leaders: Vec<Choice>,
    outcomes: Vec<(&'static str, &'static str)>,
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

/// What the record form shows: typed input and errors, or the defaults for the batch.
struct FormState {
    input: RecordInput,
    invalid: reception::Invalid,
}

async fn load_current(
    conn: &mut PgConnection,
    room: &DeskRoom,
) -> Result<Option<(Current, i64)>, AppError> {
    let Some(g) = sqlx::query!(
        r#"SELECT g.id, g.queue_number AS "queue_number!", g.code, g.name, g.channel, g.id_number_mask, g.phone_mask, g.persons,
                  g.representatives, g.grievance, g.township, g.village, g.address, g.called_at, g.category_id, g.id_number_index,
                  COALESCE(p.name || ' / ', '') || c.name AS "category!",
                  s.summary AS "s_summary?", s.background AS "s_background?", s.policy_basis AS "s_policy?",
                  s.proposed_handling AS "s_handling?", s.brought_by_leader AS "s_brought?"
           FROM registrations g JOIN categories c ON c.id = g.category_id LEFT JOIN categories p ON p.id = c.parent_id
           LEFT JOIN survey_items s ON s.id = g.survey_item_id
           WHERE g.room_id = $1 AND g.status = 'called' ORDER BY g.called_at DESC LIMIT 1"#,
        room.id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let earlier = sqlx::query!(
        r#"SELECT g.code, g.status, g.created_at, v.title, v.visit_date, COALESCE(p.name || ' / ', '') || c.name AS "category!"
           FROM registrations g JOIN visits v ON v.id = g.visit_id
           JOIN categories c ON c.id = g.category_id LEFT JOIN categories p ON p.id = c.parent_id
           WHERE g.id_number_index = $1 AND g.id <> $2 ORDER BY g.created_at DESC LIMIT 50"#,
        g.id_number_index,
        g.id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Earlier {
        code: r.code,
        visit: r.title,
        date: crate::clock::cn_date(r.visit_date),
        category: r.category,
        status: status_label(&r.status),
    })
    .collect();
    let cases = sqlx::query!(
        r#"SELECT k.code, k.title, k.status, k.assigned_at FROM cases k
           JOIN issues i ON i.id = k.issue_id JOIN receptions r ON r.id = i.reception_id
           JOIN registrations g ON g.id = r.registration_id
           WHERE g.id_number_index = $1 ORDER BY k.assigned_at DESC LIMIT 50"#,
        g.id_number_index
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| EarlierCase {
        code: r.code,
        title: r.title,
        assigned: china_minute(r.assigned_at),
        status: crate::followup::state::State::parse(&r.status).map_or("未知", |s| s.label()),
    })
    .collect();
    let survey = match (
        g.s_summary,
        g.s_background,
        g.s_policy,
        g.s_handling,
        g.s_brought,
    ) {
        (
            Some(summary),
            Some(background),
            Some(policy_basis),
            Some(proposed_handling),
            Some(brought_by_leader),
        ) => Some(Survey {
            summary,
            background,
            policy_basis,
            proposed_handling,
            brought_by_leader,
        }),
        _ => None,
    };
    let current = Current {
        reg: g.id,
        number: g.queue_number,
        code: g.code,
        name: g.name,
        channel: channel_label(&g.channel),
        id_mask: g.id_number_mask,
        phone_mask: g.phone_mask.unwrap_or_default(),
        category: g.category,
        persons: g.persons,
        representatives: g.representatives.join("、"),
        grievance: g.grievance,
        township: g.township,
        village: g.village,
        address: g.address,
        called_at: hm(g.called_at),
        survey,
        earlier,
        cases,
    };
    Ok(Some((current, g.category_id)))
}

async fn department_choices(conn: &mut PgConnection, room_id: i64) -> sqlx::Result<Vec<Choice>> {
    // The departments at the table first.
    sqlx::query_as!(
        Choice,
        r#"SELECT d.id, d.name AS label FROM departments d WHERE d.active
           ORDER BY EXISTS (SELECT 1 FROM room_departments rd WHERE rd.room_id = $1 AND rd.department_id = d.id) DESC, d.name"#,
        room_id
    )
    .fetch_all(conn)
    .await
}

async fn leader_choices(conn: &mut PgConnection, room_id: i64) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        r#"SELECT l.id, l.name || '（' || l.title || '）' AS "label!" FROM leaders l WHERE l.active
           ORDER BY EXISTS (SELECT 1 FROM room_leaders rl WHERE rl.room_id = $1 AND rl.leader_id = l.id) DESC, l.name"#,
        room_id
    )
    .fetch_all(conn)
    .await
}

/// The room's leaders in a stable order; the first is the default 包案领导.
async fn room_leader_ids(conn: &mut PgConnection, room_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        "SELECT leader_id FROM room_leaders WHERE room_id = $1 ORDER BY leader_id",
        room_id
    )
    .fetch_all(conn)
    .await
}

/// A block as a fresh form shows it: the batch's category in the first, the room's first leader,
/// the visit's 限期.
fn default_block(
    index: usize,
    category_id: i64,
    owner: Option<i64>,
    deadline_days: i32,
) -> IssueInput {
    IssueInput {
        category: if index == 0 {
            category_id.to_string()
        } else {
            String::new()
        },
        owner: owner.map(|o| o.to_string()).unwrap_or_default(),
        deadline: deadline_days.to_string(),
        ..IssueInput::default()
    }
}

async fn record_form(
    conn: &mut PgConnection,
    room: &DeskRoom,
    category_id: i64,
    state: Option<FormState>,
) -> Result<RecordForm, AppError> {
    let owner = room_leader_ids(&mut *conn, room.id).await?.first().copied();
    let (input, invalid) = match state {
        Some(s) => (s.input, s.invalid),
        None => (RecordInput::default(), reception::Invalid::default()),
    };
    let shown = (input.issues.len().max(reception::BLOCKS_SHOWN) + usize::from(input.more))
        .min(reception::MAX_BLOCKS);
    let mut typed = input.issues.into_iter();
    let mut block_errors = invalid.blocks.into_iter();
    let blocks = (0..shown)
        .map(|index| Block {
            index,
            input: typed
                .next()
                .unwrap_or_else(|| default_block(index, category_id, owner, room.deadline_days)),
            errors: block_errors.next().unwrap_or_default(),
        })
        .collect();
    let kept: Vec<i64> = Vec::new();
    Ok(RecordForm {
        statement: input.statement,
        consultation: input.consultation,
        blocks,
        errors: invalid.errors,
        categories: category_groups(&mut *conn, &kept).await?,
        departments: department_choices(&mut *conn, room.id).await?,
        leaders: leader_choices(&mut *conn, room.id).await?,
        outcomes: OUTCOMES.to_vec(),
    })
}

async fn queue_entries(
    conn: &mut PgConnection,
    room_id: i64,
    status: &str,
) -> sqlx::Result<Vec<QueueEntry>> {
    Ok(sqlx::query!(
        r#"SELECT g.id, g.queue_number AS "queue_number!", g.code, g.name, g.persons, g.expected_at, g.checked_in_at,
                  COALESCE(p.name || ' / ', '') || c.name AS "category!"
           FROM registrations g JOIN categories c ON c.id = g.category_id LEFT JOIN categories p ON p.id = c.parent_id
           WHERE g.room_id = $1 AND g.status = $2 ORDER BY g.queue_number"#,
        room_id,
        status
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| QueueEntry {
        reg: r.id,
        number: r.queue_number,
        code: r.code,
        name: r.name,
        category: r.category,
        persons: r.persons,
        expected: hm(r.expected_at),
        checked_in: hm(r.checked_in_at),
    })
    .collect())
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
    let current = load_current(&mut conn, room).await?;
    let form = match &current {
        Some((_, category_id)) => Some(record_form(&mut conn, room, *category_id, form).await?),
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
        queue: queue_entries(&mut conn, room.id, "checked_in").await?,
        not_arrived: queue_entries(&mut conn, room.id, "scheduled").await?,
        other_rooms,
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

// ---------------------------------------------------------------------------------------------
// 叫号
// ---------------------------------------------------------------------------------------------

/// Call the next checked-in batch by queue number. Calls of one room are serialised on the room
/// row, so two concurrent calls never call one batch, nor a second while one is at the table.
pub async fn call(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path((visit_id, room_id)): Path<(i64, i64)>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let room = open_room(&mut tx, &user, visit_id, room_id).await?;
    sqlx::query!("SELECT id FROM rooms WHERE id = $1 FOR UPDATE", room_id)
        .fetch_one(&mut *tx)
        .await?;
    let at_table = sqlx::query_scalar!(
        "SELECT queue_number FROM registrations WHERE room_id = $1 AND status = 'called' LIMIT 1",
        room_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(n) = at_table {
        drop(tx);
        let n = n.map(|n| n.to_string()).unwrap_or_default();
        return refused(
            &state,
            &ctx,
            &room,
            StatusCode::CONFLICT,
            format!("第 {n} 号还在接待中：请先登记接谈情况，再叫下一位。"),
        )
        .await;
    }
    let now = state.clock.now();
    let called = sqlx::query!(
        r#"UPDATE registrations SET status = 'called', called_at = $2
           WHERE id = (SELECT id FROM registrations WHERE room_id = $1 AND status = 'checked_in'
                       ORDER BY queue_number LIMIT 1 FOR UPDATE SKIP LOCKED)
             AND status = 'checked_in'
           RETURNING id, code, queue_number AS "queue_number!""#,
        room_id,
        now
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(c) = called else {
        drop(tx);
        return refused(
            &state,
            &ctx,
            &room,
            StatusCode::CONFLICT,
            "排队中没有已签到的来访群众，暂无可叫的号。".into(),
        )
        .await;
    };
    board::announce(&mut *tx, visit_id).await?;
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("desk.call")
            .on("registration", c.id)
            .detail(json!({ "room_id": room_id, "queue_number": c.queue_number })),
    )
    .await?;
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

async fn choices(conn: &mut PgConnection) -> sqlx::Result<(Vec<i64>, Vec<i64>, Vec<i64>)> {
    let categories = category_groups(&mut *conn, &[])
        .await?
        .into_iter()
        .flat_map(|g| g.options)
        .map(|c| c.id)
        .collect();
    let departments = sqlx::query_scalar!("SELECT id FROM departments WHERE active")
        .fetch_all(&mut *conn)
        .await?;
    let leaders = sqlx::query_scalar!("SELECT id FROM leaders WHERE active")
        .fetch_all(&mut *conn)
        .await?;
    Ok((categories, departments, leaders))
}

/// Titles of cases are at most 100 characters: the summary, cut.
fn case_title(summary: &str) -> String {
    summary.chars().take(100).collect()
}

pub async fn record(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path((visit_id, room_id, reg)): Path<(i64, i64, i64)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let room = open_room(&mut tx, &user, visit_id, room_id).await?;
    let g = sqlx::query!(
        "SELECT status, called_at, code FROM registrations WHERE id = $1 AND visit_id = $2 AND room_id = $3 FOR UPDATE",
        reg,
        visit_id,
        room_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let Some(called_at) = g.called_at.filter(|_| g.status == "called") else {
        drop(tx);
        return refused(
            &state,
            &ctx,
            &room,
            StatusCode::CONFLICT,
            format!(
                "{} 不在接待中（可能已登记或已转办），请查看当前接待。",
                g.code
            ),
        )
        .await;
    };
    let input = reception::parse(&pairs);
    if input.more {
        drop(tx);
        let form = FormState {
            input,
            invalid: reception::Invalid::default(),
        };
        return Ok(render_status(
            StatusCode::OK,
            &desk_page(&state, &ctx, &room, Some(form), String::new(), None).await?,
        ));
    }
    let (categories, departments, leaders) = choices(&mut tx).await?;
    let valid = match reception::validate(
        &input,
        &Choices {
            categories: &categories,
            departments: &departments,
            leaders: &leaders,
        },
    ) {
        Ok(v) => v,
        Err(invalid) => {
            drop(tx);
            let page = desk_page(
                &state,
                &ctx,
                &room,
                Some(FormState { input, invalid }),
                String::new(),
                None,
            )
            .await?;
            return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let now = state.clock.now();
    let actor = ctx.actor();
    let reception_id = sqlx::query_scalar!(
        "INSERT INTO receptions (visit_id, registration_id, room_id, started_at, ended_at, statement, consultation, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        visit_id,
        reg,
        room_id,
        called_at,
        now.max(called_at),
        valid.statement,
        valid.consultation,
        user.id
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!("INSERT INTO reception_leaders (reception_id, leader_id) SELECT $1, leader_id FROM room_leaders WHERE room_id = $2", reception_id, room_id)
        .execute(&mut *tx)
        .await?;
    let mut codes = Vec::new();
    for issue in &valid.issues {
        let issue_id = sqlx::query_scalar!(
            "INSERT INTO issues (visit_id, reception_id, category_id, summary, outcome, not_accepted_reason) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            visit_id,
            reception_id,
            issue.category_id,
            issue.summary,
            issue.outcome,
            issue.reason
        )
        .fetch_one(&mut *tx)
        .await?;
        if let Some(a) = &issue.assignment {
            let title = case_title(&issue.summary);
            let case = NewCase {
                visit_id,
                source: Source::Issue(issue_id),
                title: &title,
                category_id: issue.category_id,
                lead_department_id: a.lead,
                co_department_ids: &a.co,
                owner_leader_id: a.owner,
                deadline_days: a.deadline_days,
            };
            codes.push(
                assign::assign(&mut tx, &state.config.case_rules, &case, &actor, now)
                    .await?
                    .code,
            );
        }
    }
    sqlx::query!(
        "UPDATE registrations SET status = 'received' WHERE id = $1",
        reg
    )
    .execute(&mut *tx)
    .await?;
    board::announce(&mut *tx, visit_id).await?;
    let detail =
        json!({ "reception_id": reception_id, "issues": valid.issues.len(), "cases": codes });
    audit::record(
        &mut *tx,
        &actor,
        Entry::ok("desk.record")
            .on("registration", reg)
            .detail(detail),
    )
    .await?;
    tx.commit().await?;
    let mut msg = format!(
        "已登记 {} 的接谈情况（{} 项诉求）。",
        g.code,
        valid.issues.len()
    );
    if !codes.is_empty() {
        msg.push_str(&format!("交办件：{}。", codes.join("、")));
    }
    Ok(redirect_with_flash(
        &state,
        &desk_url(visit_id, room_id),
        &msg,
    ))
}

// ---------------------------------------------------------------------------------------------
// 转办到其他接待室
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
    let mut tx = state.db.begin().await?;
    let room = open_room(&mut tx, &user, visit_id, room_id).await?;
    // Queue numbers of the visit are handed out under the scheduler's lock.
    sqlx::query!(
        "SELECT pg_advisory_xact_lock($1, $2::bigint::int)",
        LOCK_SPACE,
        visit_id
    )
    .execute(&mut *tx)
    .await?;
    let g = sqlx::query!("SELECT code, status FROM registrations WHERE id = $1 AND visit_id = $2 AND room_id = $3 FOR UPDATE", reg, visit_id, room_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if !transferable(&g.status) {
        drop(tx);
        let msg = format!(
            "{}（{}）已开始接待或已结束，不能再转办。",
            g.code,
            status_label(&g.status)
        );
        return refused(&state, &ctx, &room, StatusCode::CONFLICT, msg).await;
    }
    let target = match f
        .room_id
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|t| *t != room_id)
    {
        Some(t) => {
            sqlx::query!(
                "SELECT id, name FROM rooms WHERE id = $1 AND visit_id = $2",
                t,
                visit_id
            )
            .fetch_optional(&mut *tx)
            .await?
        }
        None => None,
    };
    let Some(target) = target else {
        drop(tx);
        let page = desk_page(
            &state,
            &ctx,
            &room,
            None,
            String::new(),
            Some((reg, "请选择本次活动的另一个接待室".into())),
        )
        .await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let number = sqlx::query_scalar!(r#"SELECT COALESCE(max(queue_number), 0) + 1 AS "n!" FROM registrations WHERE room_id = $1"#, target.id)
        .fetch_one(&mut *tx)
        .await?;
    // Locked, so that a new automatic run of the scheduler keeps the move.
    sqlx::query!("UPDATE registrations SET room_id = $2, queue_number = $3, schedule_locked = true WHERE id = $1", reg, target.id, number)
        .execute(&mut *tx)
        .await?;
    // One notification per visit refreshes both rooms' tiles.
    board::announce(&mut *tx, visit_id).await?;
    let detail = json!({ "from_room_id": room_id, "to_room_id": target.id, "queue_number": number, "status": g.status });
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("desk.transfer")
            .on("registration", reg)
            .detail(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &desk_url(visit_id, room_id),
        &format!("已将 {} 转到{}，排第 {number} 号。", g.code, target.name),
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
    let rows = sqlx::query!(
        r#"SELECT g.id, g.code, g.status, g.expected_at AS "expected_at!", g.slots, w.ends_at AS "window_ends?"
           FROM registrations g LEFT JOIN reception_windows w ON w.id = g.window_id
           WHERE g.room_id = $1 AND g.status = 'scheduled' AND g.expected_at IS NOT NULL FOR UPDATE OF g"#,
        room_id
    )
    .fetch_all(&mut *tx)
    .await?;
    let now = state.clock.now();
    let (due, later): (Vec<_>, Vec<_>) = rows.iter().partition(|r| {
        is_no_show(
            &r.status,
            no_show_from(r.expected_at, r.window_ends, room.slot_minutes, r.slots),
            now,
        )
    });
    let url = desk_url(visit_id, room_id);
    if due.is_empty() {
        drop(tx);
        let msg = match later
            .iter()
            .map(|r| no_show_from(r.expected_at, r.window_ends, room.slot_minutes, r.slots))
            .min()
        {
            Some(first) => format!(
                "尚未签到的登记还没到所选时段的结束时间，暂不标记未到（最早 {} 后可标记）。",
                hm(Some(first))
            ),
            None => "没有尚未签到的登记。".into(),
        };
        return Ok(redirect_with_flash(&state, &url, &msg));
    }
    let ids: Vec<i64> = due.iter().map(|r| r.id).collect();
    let codes: Vec<&str> = due.iter().map(|r| r.code.as_str()).collect();
    sqlx::query!(
        "UPDATE registrations SET status = 'no_show' WHERE id = ANY($1) AND status = 'scheduled'",
        &ids
    )
    .execute(&mut *tx)
    .await?;
    board::announce(&mut *tx, visit_id).await?;
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("desk.no_show")
            .on("room", room_id)
            .detail(json!({ "registrations": ids, "codes": codes })),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &url,
        &format!("已将 {} 批标记为未到：{}。", ids.len(), codes.join("、")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn staff_open_every_desk_leaders_only_their_rooms() {
        assert!(may_open_desk(Role::Staff, false));
        assert!(may_open_desk(Role::Leader, true));
        assert!(!may_open_desk(Role::Leader, false));
        for role in [
            Role::Handler,
            Role::Supervisor,
            Role::Sysadmin,
            Role::Auditor,
        ] {
            assert!(!may_open_desk(role, true), "{role:?}");
        }
    }

    #[test]
    fn only_batches_not_yet_called_are_transferred() {
        assert!(transferable("scheduled"));
        assert!(transferable("checked_in"));
        for s in ["called", "received", "no_show", "confirmed", "cancelled"] {
            assert!(!transferable(s), "{s}");
        }
    }

    #[test]
    fn absent_after_the_window_ends_or_after_the_slot_without_a_window() {
        let expected = at("2026-12-12T01:15:00Z");
        let window_end = at("2026-12-12T02:00:00Z");
        let from = no_show_from(expected, Some(window_end), 15, 1);
        assert_eq!(from, window_end);
        assert!(!is_no_show("scheduled", from, at("2026-12-12T01:59:59Z")));
        assert!(is_no_show("scheduled", from, window_end));
        // Checked in, called or received: never a no-show, however late.
        assert!(!is_no_show("checked_in", from, at("2026-12-12T09:00:00Z")));
        // A walk-in of 7 persons (two slots) without a window: 30 minutes after its expected time.
        let walk_in = no_show_from(expected, None, 15, 2);
        assert_eq!(walk_in, at("2026-12-12T01:45:00Z"));
    }

    #[test]
    fn case_titles_fit_the_schema() {
        assert_eq!(case_title(&"路".repeat(150)).chars().count(), 100);
    }
}
