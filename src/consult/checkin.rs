//! `/staff/visits/{id}/checkin`: find a registration by 登记编号, phone or ID number (blind index,
//! never decrypting), 签到 puts it in its room's queue; walk-ins (现场登记) are registered with the
//! registration form's validation and transaction and queued at once (`place`).

use crate::audit::{self, Entry};
use crate::consult::{board, schedule, scheduling};
use crate::error::AppError;
use crate::prepare::booking::{self, Booking, WalkInPlace};
use crate::prepare::lifecycle::citizen_status_label as status_label;
use crate::prepare::registration::{self, Channel, Channel::WalkIn as WALK_IN, RegistrationForm};
use crate::prepare::registration_view::{self, PageInput};
use crate::privacy::{self, Field};
use crate::state::AppState;
use crate::web::form::{Errors, Form};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;

// ---- pure rules ----------------------------------------------------------------------------

/// What the desk typed: a phone (11 digits), an ID number (18 characters, valid check digit) or a code.
#[derive(Debug, PartialEq)]
pub enum Query {
    Code(String),
    Phone(String),
    IdNumber(String),
}

pub fn classify(q: &str) -> Option<Query> {
    let compact: String = q
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if privacy::valid_phone(&compact) {
        return Some(Query::Phone(compact));
    }
    let id = privacy::normalize_id_number(&compact);
    if privacy::valid_id_number(&id) {
        return Some(Query::IdNumber(id));
    }
    let code = registration::normalize_code(&compact);
    let alphabet = registration::CODE_ALPHABET;
    (8..=12)
        .contains(&code.len())
        .then_some(())
        .filter(|_| code.bytes().all(|b| alphabet.contains(&b)))
        .map(|_| Query::Code(code))
}

/// What 签到 does with a registration in this status.
#[derive(Debug, PartialEq)]
pub enum CheckIn {
    /// Scheduled: it already has its room and number.
    Queue,
    /// Confirmed but never scheduled: the best room at once, like a walk-in.
    Place,
    Refuse(&'static str),
}

pub fn check_in(status: &str) -> CheckIn {
    match status {
        "scheduled" => CheckIn::Queue,
        "confirmed" => CheckIn::Place,
        "checked_in" | "called" | "received" => CheckIn::Refuse("该登记已经签到，无需重复签到。"),
        "cancelled" => CheckIn::Refuse("该登记已取消，不能签到。如仍需接谈，请现场登记。"),
        "rejected" => CheckIn::Refuse("该登记未予受理，不能签到。"),
        "no_show" => CheckIn::Refuse("该登记已标记为未到场，不能签到。如仍需接谈，请现场登记。"),
        "submitted" => CheckIn::Refuse("该登记尚未审核确认，请先在登记审核中确认后再签到。"),
        "waitlisted" => CheckIn::Refuse("该登记仍在候补中，不能签到。如需接谈，请现场登记。"),
        _ => CheckIn::Refuse("该登记当前状态不能签到。"),
    }
}

/// The expected time of a batch joining a room's queue now: after the room's last batch, not before now.
pub fn expected_at(now: DateTime<Utc>, room_free_at: Option<DateTime<Utc>>) -> DateTime<Utc> {
    room_free_at.map_or(now, |t| t.max(now))
}

// ---- placing a batch in a room ------------------------------------------------------------

pub struct Placed {
    pub room_id: i64,
    pub room_name: String,
    pub queue_number: i32,
}

/// Check in `reg` to `chosen` (staff's pick; must be a room of the visit) or to the best competent
/// room, with the room's next queue number and an expected time. None: no competent room and no
/// valid pick. The caller holds `scheduling::lock_visit`, so numbers are not handed out twice.
pub async fn place(
    conn: &mut sqlx::PgConnection,
    visit_id: i64,
    reg: i64,
    chosen: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<Placed>, AppError> {
    let r = sqlx::query!(
        "SELECT g.category_id, g.slots, v.slot_minutes FROM registrations g JOIN visits v ON v.id = g.visit_id WHERE g.id = $1 AND g.visit_id = $2",
        reg,
        visit_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let rooms = scheduling::competent_rooms(&mut *conn, visit_id).await?;
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
            let plain: Vec<schedule::Room> = rooms.iter().map(|(r, _)| r.clone()).collect();
            match schedule::best_room(&plain, r.category_id, &waiting) {
                Some(id) => id,
                None => return Ok(None),
            }
        }
    };
    let q = sqlx::query!(
        r#"SELECT COALESCE(max(queue_number), 0) + 1 AS "next!",
                  max(expected_at + make_interval(mins => slots::int * $2::int)) FILTER (WHERE status IN ('scheduled', 'checked_in', 'called')) AS free_at
           FROM registrations WHERE room_id = $1"#,
        room_id,
        r.slot_minutes
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE registrations SET room_id = $2, queue_number = $3, expected_at = $4, status = 'checked_in', checked_in_at = $5 WHERE id = $1",
        reg,
        room_id,
        q.next,
        expected_at(now, q.free_at),
        now
    )
    .execute(&mut *conn)
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

// ---- the page -----------------------------------------------------------------------------

struct Match {
    id: i64,
    code: String,
    name: String,
    id_mask: String,
    phone_mask: String,
    status: &'static str,
    can_check_in: bool,
    room: String,
    queue_number: Option<i32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SearchForm {
    q: String,
}

#[derive(Template)]
#[template(path = "consult/checkin.html")]
struct CheckinPage {
    layout: Layout,
    id: i64,
    q: String,
    errors: Errors,
    searched: bool,
    matches: Vec<Match>,
    waiting: i64,
    checked_in: i64,
}

async fn checkin_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    q: String,
    errors: Errors,
    matches: Option<Vec<Match>>,
) -> Result<CheckinPage, AppError> {
    let v = sqlx::query!(
        r#"SELECT title, (SELECT count(*) FROM registrations WHERE visit_id = $1 AND status = 'checked_in') AS "waiting!",
                  (SELECT count(*) FROM registrations WHERE visit_id = $1 AND checked_in_at IS NOT NULL) AS "checked_in!"
           FROM visits WHERE id = $1"#,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(CheckinPage {
        layout: ctx.layout(&format!("签到：{}", v.title)),
        id,
        q,
        errors,
        searched: matches.is_some(),
        matches: matches.unwrap_or_default(),
        waiting: v.waiting,
        checked_in: v.checked_in,
    })
}

/// `GET /staff/visits/{id}/checkin`
pub async fn page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(&checkin_page(&state, &ctx, id, String::new(), Errors::default(), None).await?)
}

/// `POST /staff/visits/{id}/checkin`: search this visit's registrations.
pub async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<SearchForm>,
) -> Page {
    let mut errors = Errors::default();
    let Some(query) = classify(&f.q) else {
        errors.add("q", "请输入登记编号、11 位手机号码或 18 位身份证号");
        return Ok(render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &checkin_page(&state, &ctx, id, f.q, errors, None).await?,
        ));
    };
    let (code, phone_index, id_index) = match &query {
        Query::Code(c) => (Some(c.clone()), None, None),
        Query::Phone(p) => (None, Some(state.keys.blind_index(Field::Phone, p)), None),
        Query::IdNumber(n) => (None, None, Some(state.keys.blind_index(Field::IdNumber, n))),
    };
    let rows = sqlx::query!(
        r#"SELECT g.id, g.visit_id, g.code, g.name, g.id_number_mask, g.phone_mask, g.status, g.queue_number, rm.name AS "room?"
           FROM registrations g LEFT JOIN rooms rm ON rm.id = g.room_id
           WHERE (g.code = $1 OR g.phone_index = $2 OR g.id_number_index = $3) AND g.merged_into_id IS NULL
           ORDER BY g.visit_id = $4 DESC, g.id DESC LIMIT 20"#,
        code,
        phone_index,
        id_index,
        id
    )
    .fetch_all(&state.db)
    .await?;
    let (here, elsewhere): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.visit_id == id);
    if here.is_empty() {
        let message = if elsewhere.is_empty() {
            "未找到相符的登记，请核对后重试；未登记的来访人请现场登记。"
        } else {
            "本次接访活动中未找到该登记：它属于其他接访活动，请核对接访日期；如需今天接谈，请现场登记。"
        };
        errors.add("q", message);
        return Ok(render_status(
            StatusCode::NOT_FOUND,
            &checkin_page(&state, &ctx, id, f.q, errors, None).await?,
        ));
    }
    let matches = here
        .into_iter()
        .map(|r| Match {
            can_check_in: matches!(check_in(&r.status), CheckIn::Queue | CheckIn::Place),
            status: status_label(&r.status),
            id: r.id,
            code: r.code,
            name: r.name,
            id_mask: r.id_number_mask,
            phone_mask: r.phone_mask.unwrap_or_default(),
            room: r.room.unwrap_or_default(),
            queue_number: r.queue_number,
        })
        .collect();
    render(&checkin_page(&state, &ctx, id, f.q, errors, Some(matches)).await?)
}

/// `POST /staff/visits/{id}/checkin/{reg}`: 签到.
pub async fn check_in_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, reg)): Path<(i64, i64)>,
) -> Page {
    let back = format!("/staff/visits/{id}/checkin");
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    scheduling::lock_visit(&mut tx, id).await?;
    let r = sqlx::query!(
        r#"SELECT g.code, g.status, g.queue_number, rm.name AS "room?" FROM registrations g LEFT JOIN rooms rm ON rm.id = g.room_id
           WHERE g.id = $1 AND g.visit_id = $2 FOR UPDATE OF g"#,
        reg,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let (room, number) = match check_in(&r.status) {
        CheckIn::Refuse(why) => {
            return Ok(redirect_with_flash(
                &state,
                &back,
                &format!("{}：{why}", r.code),
            ));
        }
        CheckIn::Queue => {
            sqlx::query!(
                "UPDATE registrations SET status = 'checked_in', checked_in_at = $2 WHERE id = $1",
                reg,
                now
            )
            .execute(&mut *tx)
            .await?;
            (
                r.room.unwrap_or_default(),
                r.queue_number.unwrap_or_default(),
            )
        }
        CheckIn::Place => match place(&mut tx, id, reg, None, now).await? {
            Some(p) => (p.room_name, p.queue_number),
            None => {
                let why = "没有对口的接待室，请先在排接页面为其手动安排接待室后再签到。";
                return Ok(redirect_with_flash(
                    &state,
                    &back,
                    &format!("{}：{why}", r.code),
                ));
            }
        },
    };
    let detail = serde_json::json!({ "visit_id": id, "from": r.status, "room": room, "queue_number": number });
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("registration.checkin")
            .on("registration", reg)
            .detail(detail),
    )
    .await?;
    board::announce(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &back,
        &format!("已签到：{}，请到{}等候，排号 {number}。", r.code, room),
    ))
}

// ---- walk-ins -----------------------------------------------------------------------------

/// `GET /staff/visits/{id}/walkin`: the registration form without windows.
pub async fn walk_in_form(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let visit = registration_view::load_visit(&state, id).await?;
    render(
        &registration_view::page(&state, &ctx, visit, Channel::WalkIn, PageInput::blank()).await?,
    )
}

/// `POST /staff/visits/{id}/walkin`: the registration form's validation; booked (prepare) and
/// queued in a room (the best competent one, or staff's pick) in one transaction.
pub async fn walk_in(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<RegistrationForm>,
) -> Page {
    let visit = registration_view::load_visit(&state, id).await?;
    let valid = match registration_view::parse(&state, &ctx, &visit, WALK_IN, &f).await? {
        Ok(valid) => valid,
        Err(again) => return Ok(again),
    };
    let (actor, by) = (ctx.actor(), ctx.user.as_ref().map(|u| u.id));
    let s = registration_view::form_submission(&visit, &valid, WALK_IN, &f, &actor, by, None);
    let (now, rules) = (state.clock.now(), registration_view::booking_rules(&state));
    let mut tx = state.db.begin().await?;
    let outcome = match booking::book(&mut tx, &s, now, &state.keys, rules).await? {
        Booking::Done(outcome) => outcome,
        Booking::Booked(b) => {
            scheduling::lock_visit(&mut tx, id).await?;
            let Some(p) = place(&mut tx, id, b.registration_id, valid.room_id, now).await? else {
                return Ok(registration_view::no_room(&state, &ctx, visit, &f).await?);
            };
            crate::live::announce(&mut *tx, id).await?;
            let placed = WalkInPlace::new(p.room_id, p.room_name, p.queue_number);
            booking::finish(&mut tx, &s, b, Some(placed)).await?
        }
    };
    tx.commit().await?;
    let answer = registration_view::answer(&state, &ctx, visit, WALK_IN, &f, outcome).await?;
    let message = match answer.walk_in_flash() {
        Ok(message) => message,
        Err(again) => return Ok(again),
    };
    let to = format!("/staff/visits/{id}/checkin");
    Ok(redirect_with_flash(&state, &to, &message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_desk_typed() {
        assert_eq!(
            classify(" 138 1234 5678 "),
            Some(Query::Phone("13812345678".into()))
        );
        assert_eq!(
            classify("11010519491231002x"),
            Some(Query::IdNumber("11010519491231002X".into()))
        );
        assert_eq!(classify("abcd 2345"), Some(Query::Code("ABCD2345".into())));
        assert_eq!(
            classify("110105194912310021"),
            None,
            "a wrong check digit is neither an ID nor a code"
        );
        assert_eq!(classify(""), None);
        assert_eq!(classify("ABC"), None);
    }

    #[test]
    fn only_scheduled_or_confirmed_batches_check_in() {
        assert_eq!(check_in("scheduled"), CheckIn::Queue);
        assert_eq!(check_in("confirmed"), CheckIn::Place);
        for s in ["checked_in", "called", "received"] {
            assert_eq!(
                check_in(s),
                CheckIn::Refuse("该登记已经签到，无需重复签到。"),
                "{s}"
            );
        }
        for s in [
            "cancelled",
            "rejected",
            "no_show",
            "submitted",
            "waitlisted",
        ] {
            assert!(matches!(check_in(s), CheckIn::Refuse(_)), "{s}");
        }
    }

    #[test]
    fn a_late_joiner_waits_for_the_room_not_for_the_past() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            expected_at(t("2026-12-04T02:00:00Z"), None),
            t("2026-12-04T02:00:00Z")
        );
        assert_eq!(
            expected_at(t("2026-12-04T02:00:00Z"), Some(t("2026-12-04T01:00:00Z"))),
            t("2026-12-04T02:00:00Z")
        );
        assert_eq!(
            expected_at(t("2026-12-04T02:00:00Z"), Some(t("2026-12-04T03:15:00Z"))),
            t("2026-12-04T03:15:00Z")
        );
    }
}
