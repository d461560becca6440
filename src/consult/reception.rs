//! The reception store (接谈): what the leader's desk does to a room's queue, each in the caller's
//! transaction — 叫号, recording a reception with its issues (交办 issues become cases through
//! `followup::assign`), 改换接待室 (another room) before the reception starts, and 标记未到. Every
//! change is audited and announced to the visit's boards (`crate::live`).

use crate::admin::category_groups;
use crate::audit::{self, Actor, Entry};
use crate::consult::board;
use crate::consult::desk_rules::{case_title, is_no_show, no_show_from, transferable};
use crate::consult::queue_moves::{self, stored_status};
use crate::consult::schedule_store::lock_visit;
use crate::crypto::free_text;
use crate::crypto::{Column, Keys};
use crate::error::AppError;
use crate::followup::CaseRules;
use crate::followup::assign::{self, NewCase, Source};
use crate::prepare::lifecycle::{RegistrationStatus as Status, staff_status_label as status_label};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use std::convert::Infallible;

/// The room of a desk, as its handlers need it.
pub struct DeskRoom {
    pub visit_id: i64,
    pub id: i64,
    pub name: String,
    pub location: String,
    pub visit_title: String,
    pub deadline_days: i32,
    pub slot_minutes: i32,
    /// Whether the leader asking sits in this room.
    pub sits: bool,
}

/// The room of the visit (unknown → not found), and whether `leader_id` sits in it.
pub async fn desk_room(
    conn: &mut PgConnection,
    visit_id: i64,
    room_id: i64,
    leader_id: Option<i64>,
) -> Result<DeskRoom, AppError> {
    let r = sqlx::query!(
        r#"SELECT r.name, r.location, v.title, v.deadline_days, v.slot_minutes,
                  EXISTS (SELECT 1 FROM room_leaders rl WHERE rl.room_id = r.id AND rl.leader_id = $3) AS "sits!"
           FROM rooms r JOIN visits v ON v.id = r.visit_id WHERE r.id = $1 AND r.visit_id = $2"#,
        room_id,
        visit_id,
        leader_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(DeskRoom {
        visit_id,
        id: room_id,
        name: r.name,
        location: r.location,
        visit_title: r.title,
        deadline_days: r.deadline_days,
        slot_minutes: r.slot_minutes,
        sits: r.sits,
    })
}

/// Why the desk did not do what was asked; the transaction is to be rolled back.
#[derive(Debug)]
pub enum DeskError<E = Infallible> {
    /// The queue is not in a state that allows it (shown on the desk, 409).
    Refused(String),
    /// 改换接待室 of this registration without another room of the visit picked.
    NoOtherRoom(i64),
    /// The recorded reception did not validate against what the selects offer.
    Invalid(E),
    Failed(AppError),
}

impl<E> DeskError<E> {
    /// The same error with the invalid input turned into what the caller shows again.
    pub fn map_invalid<F>(self, f: impl FnOnce(E) -> F) -> DeskError<F> {
        match self {
            Self::Refused(m) => DeskError::Refused(m),
            Self::NoOtherRoom(reg) => DeskError::NoOtherRoom(reg),
            Self::Invalid(e) => DeskError::Invalid(f(e)),
            Self::Failed(e) => DeskError::Failed(e),
        }
    }
}

impl<E> From<AppError> for DeskError<E> {
    fn from(e: AppError) -> Self {
        Self::Failed(e)
    }
}

impl<E> From<sqlx::Error> for DeskError<E> {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(e.into())
    }
}

// ---------------------------------------------------------------------------------------------
// 叫号
// ---------------------------------------------------------------------------------------------

pub struct Called {
    pub code: String,
    pub queue_number: i32,
}

/// Call the next checked-in batch by queue number. Calls of one room are serialised on the room
/// row, so two concurrent calls never call one batch, nor a second while one is at the table.
pub async fn call_next(
    tx: &mut PgConnection,
    room: &DeskRoom,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<Called, DeskError> {
    let room_id = room.id;
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
        let n = n.map(|n| n.to_string()).unwrap_or_default();
        return Err(DeskError::Refused(format!(
            "第 {n} 号还在接待中：请先登记接谈情况，再叫下一位。"
        )));
    }
    let called = queue_moves::call_next(&mut *tx, room_id, now).await?;
    let Some(c) = called else {
        return Err(DeskError::Refused(
            "排队中没有已签到的来访群众，暂无可叫的号。".into(),
        ));
    };
    board::announce(&mut *tx, room.visit_id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("desk.call")
            .on("registration", c.id)
            .detail(json!({ "room_id": room_id, "queue_number": c.queue_number })),
    )
    .await?;
    Ok(Called {
        code: c.code,
        queue_number: c.queue_number,
    })
}

// ---------------------------------------------------------------------------------------------
// 登记接谈情况
// ---------------------------------------------------------------------------------------------

/// What the selects offer: anything else is refused.
pub struct Choices<'a> {
    pub categories: &'a [i64],
    pub departments: &'a [i64],
    pub leaders: &'a [i64],
}

/// 交办: who handles it, who owns it, within how many days.
#[derive(Debug, PartialEq)]
pub struct Assignment {
    pub lead: i64,
    pub co: Vec<i64>,
    pub owner: i64,
    pub deadline_days: i32,
}

/// One validated 诉求事项; `outcome` is one of the outcome codes (DESIGN §6).
#[derive(Debug, PartialEq)]
pub struct NewIssue {
    pub category_id: i64,
    pub summary: String,
    pub outcome: &'static str,
    pub reason: Option<String>,
    pub assignment: Option<Assignment>,
}

/// A validated reception: what was said, 会商意见, and at least one issue.
#[derive(Debug)]
pub struct NewReception {
    pub statement: String,
    pub consultation: String,
    pub issues: Vec<NewIssue>,
}

/// What was recorded: the registration's code, how many issues, the codes of the cases made.
pub struct Recorded {
    pub code: String,
    pub issues: usize,
    pub cases: Vec<String>,
}

/// Who records, under which case rules, when.
pub struct Recorder<'a> {
    pub user_id: i64,
    /// Seal what was said and 会商意见.
    pub keys: &'a Keys,
    pub actor: &'a Actor,
    pub rules: &'a CaseRules,
    pub now: DateTime<Utc>,
}

/// What the desk of `visit` may record: any category, the departments and leaders of the host's
/// line (`seats_at_visit`: never a sibling county's).
async fn choice_ids(
    conn: &mut PgConnection,
    visit: i64,
) -> sqlx::Result<(Vec<i64>, Vec<i64>, Vec<i64>)> {
    let categories = category_groups(&mut *conn, &[])
        .await?
        .into_iter()
        .flat_map(|g| g.options)
        .map(|c| c.id)
        .collect();
    let departments = sqlx::query_scalar!(
        "SELECT id FROM departments WHERE active AND seats_at_visit(jurisdiction_id, $1)",
        visit
    )
    .fetch_all(&mut *conn)
    .await?;
    let leaders = sqlx::query_scalar!(
        "SELECT id FROM leaders WHERE active AND seats_at_visit(county_id, $1)",
        visit
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((categories, departments, leaders))
}

/// Record the reception of the batch at the table: `check` validates the form against what the
/// selects offer, then the reception, its leaders and issues are stored, a case is made for each
/// 交办 issue, and the registration is marked received.
pub async fn record<E>(
    tx: &mut PgConnection,
    room: &DeskRoom,
    reg: i64,
    check: impl FnOnce(&Choices) -> Result<NewReception, E>,
    by: &Recorder<'_>,
) -> Result<Recorded, DeskError<E>> {
    let g = sqlx::query!(
        "SELECT status, called_at, code FROM registrations WHERE id = $1 AND visit_id = $2 AND room_id = $3 FOR UPDATE",
        reg,
        room.visit_id,
        room.id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let from = stored_status(&g.status)?;
    let Some(called_at) = g.called_at.filter(|_| from == Status::Called) else {
        return Err(DeskError::Refused(format!(
            "{} 不在接待中（可能已登记或已改换接待室），请查看当前接待。",
            g.code
        )));
    };
    let (categories, departments, leaders) = choice_ids(&mut *tx, room.visit_id).await?;
    let choices = Choices {
        categories: &categories,
        departments: &departments,
        leaders: &leaders,
    };
    let valid = check(&choices).map_err(DeskError::Invalid)?;
    let reception_id = insert_reception(&mut *tx, room, reg, called_at, &valid, by).await?;
    let cases = insert_issues(&mut *tx, room.visit_id, reception_id, &valid.issues, by).await?;
    queue_moves::receive(&mut *tx, reg, from).await?;
    board::announce(&mut *tx, room.visit_id).await?;
    let detail =
        json!({ "reception_id": reception_id, "issues": valid.issues.len(), "cases": cases });
    audit::record(
        &mut *tx,
        by.actor,
        Entry::ok("desk.record")
            .on("registration", reg)
            .detail(detail),
    )
    .await?;
    Ok(Recorded {
        code: g.code,
        issues: valid.issues.len(),
        cases,
    })
}

/// The reception row and the room's leaders as its leaders.
async fn insert_reception(
    tx: &mut PgConnection,
    room: &DeskRoom,
    reg: i64,
    called_at: DateTime<Utc>,
    valid: &NewReception,
    by: &Recorder<'_>,
) -> sqlx::Result<i64> {
    let (visit_id, room_id) = (room.visit_id, room.id);
    // The id first: the texts' ciphertexts are bound to it.
    let reception_id = sqlx::query_scalar!(
        r#"SELECT nextval(pg_get_serial_sequence('receptions', 'id')) AS "id!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    let statement = free_text::seal(
        by.keys,
        Column::RECEPTION_STATEMENT,
        reception_id,
        &valid.statement,
    )?;
    let consultation = free_text::seal(
        by.keys,
        Column::RECEPTION_CONSULTATION,
        reception_id,
        &valid.consultation,
    )?;
    sqlx::query!(
        "INSERT INTO receptions (id, visit_id, registration_id, room_id, started_at, ended_at, recorded_by,
                                 statement_cipher, statement_key_id, consultation_cipher, consultation_key_id)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        reception_id,
        visit_id,
        reg,
        room_id,
        called_at,
        by.now.max(called_at),
        by.user_id,
        statement.cipher,
        statement.key_id,
        consultation.cipher,
        consultation.key_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("INSERT INTO reception_leaders (reception_id, leader_id) SELECT $1, leader_id FROM room_leaders WHERE room_id = $2", reception_id, room_id)
        .execute(&mut *tx)
        .await?;
    Ok(reception_id)
}

/// The issues of a reception; each 交办 issue becomes a case. Returns the cases' codes.
async fn insert_issues(
    tx: &mut PgConnection,
    visit_id: i64,
    reception_id: i64,
    issues: &[NewIssue],
    by: &Recorder<'_>,
) -> sqlx::Result<Vec<String>> {
    let mut codes = Vec::new();
    for issue in issues {
        let issue_id = sqlx::query_scalar!(
            r#"SELECT nextval(pg_get_serial_sequence('issues', 'id')) AS "id!""#
        )
        .fetch_one(&mut *tx)
        .await?;
        // What the citizen was told when not accepted: sealed to the issue.
        let reason = issue.reason.as_deref().unwrap_or_default();
        let reason = free_text::seal(by.keys, Column::ISSUE_NOT_ACCEPTED_REASON, issue_id, reason)?;
        sqlx::query!(
            "INSERT INTO issues (id, visit_id, reception_id, category_id, summary, outcome,
                                 not_accepted_reason_cipher, not_accepted_reason_key_id)
             OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            issue_id,
            visit_id,
            reception_id,
            issue.category_id,
            issue.summary,
            issue.outcome,
            reason.cipher,
            reason.key_id
        )
        .execute(&mut *tx)
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
                assign::assign(&mut *tx, by.rules, &case, by.actor, by.now)
                    .await?
                    .code,
            );
        }
    }
    Ok(codes)
}

// ---------------------------------------------------------------------------------------------
// 改换接待室
// ---------------------------------------------------------------------------------------------

pub struct Transferred {
    pub code: String,
    pub room_name: String,
    pub queue_number: i32,
}

/// Move a batch not yet called to `target` (another room of the visit), at the end of its queue.
pub async fn transfer(
    tx: &mut PgConnection,
    room: &DeskRoom,
    reg: i64,
    target: Option<i64>,
    actor: &Actor,
) -> Result<Transferred, DeskError> {
    let (visit_id, room_id) = (room.visit_id, room.id);
    // Queue numbers of the visit are handed out under the scheduler's lock.
    lock_visit(&mut *tx, visit_id).await?;
    let g = sqlx::query!("SELECT code, status FROM registrations WHERE id = $1 AND visit_id = $2 AND room_id = $3 FOR UPDATE", reg, visit_id, room_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if !transferable(stored_status(&g.status)?) {
        return Err(DeskError::Refused(format!(
            "{}（{}）已开始接待或已结束，不能再改换接待室。",
            g.code,
            status_label(&g.status)
        )));
    }
    let target = match target.filter(|t| *t != room_id) {
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
    let target = target.ok_or(DeskError::NoOtherRoom(reg))?;
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
        actor,
        Entry::ok("desk.transfer")
            .on("registration", reg)
            .detail(detail),
    )
    .await?;
    Ok(Transferred {
        code: g.code,
        room_name: target.name,
        queue_number: number,
    })
}

// ---------------------------------------------------------------------------------------------
// 标记未到
// ---------------------------------------------------------------------------------------------

pub enum NoShows {
    /// The batches marked absent, by code.
    Marked(Vec<String>),
    /// Nothing due yet: when the first not-yet-arrived batch becomes absent, if any.
    NoneDue { first: Option<DateTime<Utc>> },
}

/// Mark the room's batches that never checked in and whose time is over as no-shows.
pub async fn mark_no_shows(
    tx: &mut PgConnection,
    room: &DeskRoom,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<NoShows, AppError> {
    let room_id = room.id;
    let rows = sqlx::query!(
        r#"SELECT g.id, g.code, g.status, g.expected_at AS "expected_at!", g.slots, w.ends_at AS "window_ends?"
           FROM registrations g LEFT JOIN reception_windows w ON w.id = g.window_id
           WHERE g.room_id = $1 AND g.status = 'scheduled' AND g.expected_at IS NOT NULL FOR UPDATE OF g"#,
        room_id
    )
    .fetch_all(&mut *tx)
    .await?;
    let (due, later): (Vec<_>, Vec<_>) = rows.iter().partition(|r| {
        let from = no_show_from(r.expected_at, r.window_ends, room.slot_minutes, r.slots);
        Status::parse(&r.status).is_some_and(|s| is_no_show(s, from, now))
    });
    if due.is_empty() {
        let first = later
            .iter()
            .map(|r| no_show_from(r.expected_at, r.window_ends, room.slot_minutes, r.slots))
            .min();
        return Ok(NoShows::NoneDue { first });
    }
    let ids: Vec<i64> = due.iter().map(|r| r.id).collect();
    let codes: Vec<&str> = due.iter().map(|r| r.code.as_str()).collect();
    queue_moves::mark_no_shows(&mut *tx, &ids).await?;
    board::announce(&mut *tx, room.visit_id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("desk.no_show")
            .on("room", room_id)
            .detail(json!({ "registrations": ids, "codes": codes })),
    )
    .await?;
    Ok(NoShows::Marked(
        codes.into_iter().map(str::to_owned).collect(),
    ))
}
