//! `/staff/visits/{id}/checkin`: find a registration by 登记编号, phone or ID number (blind index,
//! never decrypting), 签到 puts it in its room's queue; walk-ins (现场登记) are registered with the
//! registration form's validation and transaction and queued at once (`consult::arrival::place`).

use crate::consult::arrival::{self, CheckedIn, Found};
use crate::consult::checkin_rules::{CheckIn, check_in, classify, not_open};
use crate::consult::{arrival::place, schedule_store};
use crate::error::AppError;
use crate::prepare::booking::{self, Booking, WalkInPlace};
use crate::prepare::lifecycle::Event::PlaceWalkIn;
use crate::prepare::lifecycle::{RegistrationStatus, citizen_status_label as status_label};
use crate::prepare::registration::{Channel, Channel::WalkIn as WALK_IN, RegistrationForm};
use crate::prepare::registration_view::{self, PageInput};
use crate::state::AppState;
use crate::web::form::{Errors, Form};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

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
    /// When 签到 opens, while it is not open yet.
    not_open: Option<String>,
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
        r#"SELECT title, visit_date, checkin_opens_eve, (SELECT count(*) FROM registrations WHERE visit_id = $1 AND status = 'checked_in') AS "waiting!",
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
        not_open: not_open(state.clock.now(), v.visit_date, v.checkin_opens_eve),
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
    let mut conn = state.db.acquire().await?;
    let Found { here, elsewhere } = arrival::find(&mut conn, &state.keys, id, &query).await?;
    drop(conn);
    if here.is_empty() {
        let message = if elsewhere {
            "本次接访活动中未找到该登记：它属于其他接访活动，请核对接访日期；如需今天接谈，请现场登记。"
        } else {
            "未找到相符的登记，请核对后重试；未登记的来访人请现场登记。"
        };
        errors.add("q", message);
        return Ok(render_status(
            StatusCode::NOT_FOUND,
            &checkin_page(&state, &ctx, id, f.q, errors, None).await?,
        ));
    }
    let matches = here.into_iter().map(to_match).collect();
    render(&checkin_page(&state, &ctx, id, f.q, errors, Some(matches)).await?)
}

fn to_match(r: arrival::Candidate) -> Match {
    Match {
        can_check_in: RegistrationStatus::parse(&r.status)
            .is_some_and(|s| matches!(check_in(s), CheckIn::Queue | CheckIn::Place)),
        status: status_label(&r.status),
        id: r.id,
        code: r.code,
        name: r.name,
        id_mask: r.id_number_mask,
        phone_mask: r.phone_mask.unwrap_or_default(),
        room: r.room.unwrap_or_default(),
        queue_number: r.queue_number,
    }
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
    let message = match arrival::check_in(&mut tx, id, reg, now, &ctx.actor()).await? {
        CheckedIn::NotOpen(_) => {
            let page = checkin_page(&state, &ctx, id, String::new(), Errors::default(), None);
            return Ok(render_status(StatusCode::CONFLICT, &page.await?));
        }
        CheckedIn::Refused { code, why } => format!("{code}：{why}"),
        CheckedIn::Queued {
            code,
            room,
            queue_number,
        } => {
            tx.commit().await?;
            let message = format!("已签到：{code}，请到{room}等候，排号 {queue_number}。");
            return Ok(redirect_with_flash(
                &state,
                &after_check_in(id, Some(reg)),
                &message,
            ));
        }
    };
    Ok(redirect_with_flash(&state, &back, &message))
}

/// Where the desk goes once a batch is in a queue: its ticket, to print and hand over.
fn after_check_in(visit: i64, placed: Option<i64>) -> String {
    match placed {
        Some(reg) => format!("/staff/visits/{visit}/checkin/{reg}/ticket"),
        None => format!("/staff/visits/{visit}/checkin"),
    }
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
            schedule_store::lock_visit(&mut tx, id).await?;
            let reg = b.registration_id;
            let Some(p) = place(&mut tx, id, reg, PlaceWalkIn, valid.room_id, now).await? else {
                return registration_view::no_room(&state, &ctx, visit, &f).await;
            };
            crate::live::announce(&mut *tx, id).await?;
            let placed = WalkInPlace::new(p.room_id, p.room_name, p.queue_number);
            booking::finish(&mut tx, &s, b, Some(placed)).await?
        }
    };
    tx.commit().await?;
    let answer = registration_view::answer(&state, &ctx, visit, WALK_IN, &f, outcome).await?;
    let (message, placed) = match answer.walk_in_flash() {
        Ok(done) => done,
        Err(again) => return Ok(again),
    };
    Ok(redirect_with_flash(
        &state,
        &after_check_in(id, placed),
        &message,
    ))
}
