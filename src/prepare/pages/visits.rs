//! `/staff/visits`: plan a visit (下访活动) and see, on its page, what is still missing before the day.

use crate::clock::china_date;
use crate::clock::{cn_date, cn_minute};
use crate::error::AppError;
use crate::prepare::notice_text::Facts;
use crate::prepare::pages::visit_form::{Options, VisitForm, channels_of, parse_date, validate};
use crate::prepare::plan::{self, CHANNELS, hours};
use crate::prepare::scope;
use crate::prepare::visit_store::{self, Valid, facts};
use crate::state::AppState;
use crate::web::base_url;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;

use crate::prepare::visit_store::PLANNABLE;

// ---------------------------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------------------------

struct VisitRow {
    id: i64,
    title: String,
    county: String,
    date: String,
    hours: String,
    leader: String,
    status: String,
    registrations: i64,
}

impl VisitRow {
    fn status_label(&self) -> &'static str {
        plan::status_label(&self.status)
    }
    fn badge(&self) -> &'static str {
        plan::status_badge(&self.status)
    }
}

#[derive(Template)]
#[template(path = "prepare/visits.html")]
struct VisitsPage {
    layout: Layout,
    sections: Vec<(&'static str, Vec<VisitRow>)>,
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> Page {
    let today = china_date(state.clock.now());
    let (mut upcoming, mut past) = (Vec::new(), Vec::new());
    for (date, row) in visit_rows(&state.db, ctx.root()).await? {
        let section = if date >= today {
            &mut upcoming
        } else {
            &mut past
        };
        section.push(row);
    }
    upcoming.reverse(); // the next one first
    render(&VisitsPage {
        layout: ctx.layout("下访活动"),
        sections: vec![("即将进行", upcoming), ("已经过去", past)],
    })
}

/// The visits within `root`'s reach (DESIGN §11), latest first, each with its date.
async fn visit_rows(
    db: &sqlx::PgPool,
    root: Option<i64>,
) -> sqlx::Result<Vec<(NaiveDate, VisitRow)>> {
    let rows = sqlx::query!(
        r#"SELECT v.id, v.title, c.name AS county, v.visit_date, v.starts_at, v.ends_at, v.status,
                  l.name || '（' || l.title || '）' AS "leader!",
                  (SELECT count(*) FROM registrations r WHERE r.visit_id = v.id AND r.status NOT IN ('cancelled', 'rejected')) AS "registrations!"
           FROM visits v JOIN jurisdictions c ON c.id = v.county_id JOIN leaders l ON l.id = v.lead_leader_id
           WHERE visit_in_scope(v.county_id, v.organiser_id, $1)
           ORDER BY v.visit_date DESC, v.id DESC LIMIT 500"#,
        root
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let row = VisitRow {
                id: r.id,
                title: r.title,
                county: r.county,
                date: format!(
                    "{}（{}）",
                    cn_date(r.visit_date),
                    plan::weekday(r.visit_date)
                ),
                hours: hours(r.starts_at, r.ends_at),
                leader: r.leader,
                status: r.status,
                registrations: r.registrations,
            };
            (r.visit_date, row)
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Create and edit
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "prepare/visit_form.html")]
struct FormPage {
    layout: Layout,
    /// None: a new visit.
    id: Option<i64>,
    form: VisitForm,
    errors: Errors,
    options: Options,
    /// The first notice is out: date, time and venue change only through a correction notice.
    announced: bool,
    default_close: String,
}

impl FormPage {
    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("/staff/visits/{id}/edit"),
            None => "/staff/visits/new".into(),
        }
    }
}

fn earliest_date(state: &AppState) -> NaiveDate {
    let today = china_date(state.clock.now());
    today
        .checked_add_days(Days::new(state.config.notice_days.first))
        .unwrap_or(today)
}

async fn form_page(
    state: &AppState,
    ctx: &Ctx,
    id: Option<i64>,
    form: VisitForm,
    errors: Errors,
    announced: bool,
) -> Result<FormPage, AppError> {
    let title = if id.is_some() {
        "修改下访活动"
    } else {
        "新建下访活动"
    };
    let default_close = match parse_date(&form.visit_date) {
        Some(d) => format!(
            "留空则为 {}",
            cn_minute(plan::registration_closes_at(
                d,
                None,
                state.config.registration_close_time
            ))
        ),
        None => format!(
            "留空则为接访前一日 {}",
            state.config.registration_close_time.format("%H:%M")
        ),
    };
    Ok(FormPage {
        layout: ctx.layout(title),
        id,
        form,
        errors,
        options: Options::load(state, ctx.root(), id).await?,
        announced,
        default_close,
    })
}

pub async fn new_page(State(state): State<AppState>, ctx: Ctx) -> Page {
    let options = Options::load(&state, ctx.root(), None).await?;
    let form = VisitForm {
        // One county is the common case.
        county_id: if options.counties.len() == 1 {
            options.counties[0].id.to_string()
        } else {
            String::new()
        },
        visit_date: earliest_date(&state).to_string(),
        starts_at: "08:00".into(),
        ends_at: "17:00".into(),
        slot_minutes: "15".into(),
        deadline_days: "60".into(),
        ..VisitForm::default()
    };
    render(&form_page(&state, &ctx, None, form, Errors::default(), false).await?)
}

pub async fn create(State(state): State<AppState>, ctx: Ctx, Form(f): Form<VisitForm>) -> Page {
    let mut errors = Errors::default();
    let options = Options::load(&state, ctx.root(), None).await?;
    let Some(v) = validate(&f, &options, &mut errors, Some(earliest_date(&state))) else {
        let page = form_page(&state, &ctx, None, f, errors, false).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let user = ctx.user.as_ref().ok_or(AppError::Forbidden)?;
    let mut tx = state.db.begin().await?;
    let organiser = scope::organiser(user.jurisdiction_id, v.county_id);
    let id = visit_store::create(&mut tx, &v, organiser, user.id, &ctx.actor()).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{id}"),
        &format!("已创建下访活动：{}。下一步：生成并发布一次公告。", v.title),
    ))
}

/// The visit as stored, as its edit form shows it, with its status.
async fn stored_form(db: &sqlx::PgPool, id: i64) -> Result<(VisitForm, String), AppError> {
    let v = sqlx::query!(
        r#"SELECT title, county_id, lead_leader_id, visit_date, starts_at, ends_at, venue, address, scope, slot_minutes,
                  registration_closes_at, deadline_days, status, checkin_opens_eve,
                  COALESCE(ARRAY(SELECT leader_id FROM visit_leaders WHERE visit_id = $1), '{}') AS "leader_ids!",
                  COALESCE(ARRAY(SELECT department_id FROM visit_departments WHERE visit_id = $1), '{}') AS "department_ids!"
           FROM visits WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)?;
    let form = VisitForm {
        title: v.title,
        county_id: v.county_id.to_string(),
        lead_leader_id: v.lead_leader_id.to_string(),
        leader_ids: v.leader_ids.iter().map(i64::to_string).collect(),
        visit_date: v.visit_date.to_string(),
        starts_at: v.starts_at.format("%H:%M").to_string(),
        ends_at: v.ends_at.format("%H:%M").to_string(),
        venue: v.venue,
        address: v.address,
        scope: v.scope,
        department_ids: v.department_ids.iter().map(i64::to_string).collect(),
        slot_minutes: v.slot_minutes.to_string(),
        registration_closes_at: v
            .registration_closes_at
            .map(|t| {
                t.with_timezone(&chrono_tz::Asia::Shanghai)
                    .format("%Y-%m-%dT%H:%M")
                    .to_string()
            })
            .unwrap_or_default(),
        deadline_days: v.deadline_days.to_string(),
        checkin_opens_eve: v.checkin_opens_eve.then(|| "on".into()),
    };
    Ok((form, v.status))
}

pub async fn edit_page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let (form, status) = stored_form(&state.db, id).await?;
    refuse_unless_plannable(&status)?;
    let announced = status != "draft";
    let errors = Errors::default();
    render(&form_page(&state, &ctx, Some(id), form, errors, announced).await?)
}

fn refuse_unless_plannable(status: &str) -> Result<(), AppError> {
    if PLANNABLE.contains(&status) {
        Ok(())
    } else {
        Err(AppError::Conflict(format!(
            "该下访活动{}，不能再修改。",
            plan::status_label(status)
        )))
    }
}

/// After the first notice the public was told a time and a place: only a correction changes them.
fn needs_correction(old: &visit_store::Locked, v: &Valid, errors: &mut Errors) {
    let hint = "一次公告已发布，更改须通过“更正公告”";
    if v.visit_date != old.visit_date {
        errors.add(
            "visit_date",
            format!("{hint}（原接访日期 {}）", cn_date(old.visit_date)),
        );
    }
    if v.starts_at != old.starts_at {
        errors.add(
            "starts_at",
            format!("{hint}（原开始时间 {}）", old.starts_at.format("%H:%M")),
        );
    }
    if v.ends_at != old.ends_at {
        errors.add(
            "ends_at",
            format!("{hint}（原结束时间 {}）", old.ends_at.format("%H:%M")),
        );
    }
    if v.venue != old.venue {
        errors.add("venue", format!("{hint}（原接访地点 {}）", old.venue));
    }
    if v.address != old.address {
        errors.add("address", format!("{hint}（原详细地址 {}）", old.address));
    }
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<VisitForm>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let old = visit_store::lock(&mut tx, id).await?;
    refuse_unless_plannable(&old.status)?;
    let announced = old.status != "draft";
    let mut errors = Errors::default();
    let options = Options::load(&state, ctx.root(), Some(id)).await?;
    let date_changed = parse_date(&f.visit_date) != Some(old.visit_date);
    let earliest = (date_changed && !announced).then(|| earliest_date(&state));
    let valid = validate(&f, &options, &mut errors, earliest);
    if let Some(v) = valid.as_ref().filter(|_| announced) {
        needs_correction(&old, v, &mut errors);
    }
    let Some(v) = valid.filter(|_| errors.is_empty()) else {
        drop(tx);
        let page = form_page(&state, &ctx, Some(id), f, errors, announced).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    visit_store::update(&mut tx, id, &v, &ctx.actor()).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{id}"),
        "已保存。",
    ))
}

// ---------------------------------------------------------------------------------------------
// The visit's page: the stage checklist, and cancellation
// ---------------------------------------------------------------------------------------------

pub struct CheckItem {
    pub label: &'static str,
    pub done: bool,
    pub detail: String,
    pub href: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CancelForm {
    cancel_reason: String,
    cancel_channels: Vec<String>,
}

impl CancelForm {
    fn has_channel(&self, c: &&str) -> bool {
        self.cancel_channels.iter().any(|x| x == c)
    }

    /// The fields checked on their own; the channels are required once the visit was announced.
    fn cancellation(&self) -> (Errors, visit_store::Cancellation) {
        let mut errors = Errors::default();
        let reason = text(
            &mut errors,
            "cancel_reason",
            "取消原因",
            &self.cancel_reason,
            1,
            200,
        );
        let channels = channels_of(&self.cancel_channels).unwrap_or_default();
        let fields_ok = errors.is_empty();
        let request = visit_store::Cancellation {
            reason,
            channels,
            fields_ok,
        };
        (errors, request)
    }
}

#[derive(Template)]
#[template(path = "prepare/visit.html")]
struct VisitPage {
    layout: Layout,
    id: i64,
    status: String,
    facts: Facts,
    county_leaders: String,
    slot_minutes: i32,
    deadline_days: i32,
    checklist: Vec<CheckItem>,
    cancellable: bool,
    cancel: CancelForm,
    errors: Errors,
    channels: [&'static str; 6],
}

impl VisitPage {
    fn status_label(&self) -> &'static str {
        plan::status_label(&self.status)
    }
    fn badge(&self) -> &'static str {
        plan::status_badge(&self.status)
    }
    fn closes(&self) -> String {
        cn_minute(self.facts.closes_at)
    }
}

async fn visit_page(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    id: i64,
    cancel: CancelForm,
    errors: Errors,
) -> Result<VisitPage, AppError> {
    let base = base_url(&state.config, headers);
    let facts = facts(
        &mut *state.db.acquire().await?,
        state.config.registration_close_time,
        id,
        &base,
    )
    .await?;
    let c = sqlx::query!(
        r#"SELECT v.status, v.slot_minutes, v.deadline_days, v.visit_date,
                  (SELECT published_at FROM notices WHERE visit_id = v.id AND kind = 'first' AND status = 'published') AS first_at,
                  (SELECT published_at FROM notices WHERE visit_id = v.id AND kind = 'second' AND status = 'published') AS second_at,
                  (SELECT count(*) FROM rooms WHERE visit_id = v.id) AS "rooms!",
                  (SELECT count(*) FROM reception_windows WHERE visit_id = v.id) AS "windows!",
                  (SELECT COALESCE(sum(capacity_slots), 0) FROM reception_windows WHERE visit_id = v.id) AS "capacity!",
                  (SELECT count(*) FROM survey_items WHERE visit_id = v.id) AS "survey!",
                  (SELECT count(*) FROM registrations WHERE visit_id = v.id) AS "registrations!",
                  (SELECT count(*) FROM registrations WHERE visit_id = v.id AND status = 'submitted') AS "untriaged!",
                  (SELECT count(*) FROM registrations WHERE visit_id = v.id AND status = 'confirmed') AS "unscheduled!",
                  (SELECT count(*) FROM registrations WHERE visit_id = v.id AND room_id IS NOT NULL) AS "scheduled!"
           FROM visits v WHERE v.id = $1"#,
        id
    )
    .fetch_one(&state.db)
    .await?;
    let notices = format!("/staff/visits/{id}/notices");
    let rooms = format!("/staff/visits/{id}/rooms");
    let rules = state.config.notice_days;
    let notice_item = |label, at: Option<DateTime<Utc>>, kind| CheckItem {
        label,
        done: at.is_some(),
        detail: match at {
            Some(t) => format!("已于 {} 发布", cn_minute(t)),
            None => format!(
                "未发布，最迟 {} 发布",
                cn_date(rules.latest(kind, c.visit_date))
            ),
        },
        href: notices.clone(),
    };
    let checklist = vec![
        notice_item("一次公告", c.first_at, "first"),
        notice_item("二次公告", c.second_at, "second"),
        CheckItem {
            label: "接待室",
            done: c.rooms > 0,
            detail: format!("{} 间", c.rooms),
            href: rooms.clone(),
        },
        CheckItem {
            label: "接访时段",
            done: c.windows > 0,
            detail: format!("{} 个时段，共 {} 个号", c.windows, c.capacity),
            href: rooms,
        },
        CheckItem {
            label: "访前调查",
            done: c.survey > 0,
            detail: format!("{} 件", c.survey),
            href: format!("/staff/visits/{id}/survey"),
        },
        CheckItem {
            label: "登记分流",
            done: c.registrations > 0 && c.untriaged == 0,
            detail: format!("共 {} 批，待分流 {} 批", c.registrations, c.untriaged),
            href: format!("/staff/visits/{id}/registrations"),
        },
        CheckItem {
            label: "排接",
            done: c.scheduled > 0 && c.unscheduled == 0,
            detail: format!("已排 {} 批，待排 {} 批", c.scheduled, c.unscheduled),
            href: format!("/staff/visits/{id}/schedule"),
        },
    ];
    let today = china_date(state.clock.now());
    let county_leaders = facts
        .leaders
        .iter()
        .map(|l| format!("{}（{}）", l.name, l.title))
        .collect::<Vec<_>>()
        .join("、");
    Ok(VisitPage {
        layout: ctx.layout(&facts.title),
        id,
        cancellable: PLANNABLE.contains(&c.status.as_str()) && today < c.visit_date,
        status: c.status,
        county_leaders,
        facts,
        slot_minutes: c.slot_minutes,
        deadline_days: c.deadline_days,
        checklist,
        cancel,
        errors,
        channels: CHANNELS,
    })
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Page {
    render(
        &visit_page(
            &state,
            &ctx,
            &headers,
            id,
            CancelForm::default(),
            Errors::default(),
        )
        .await?,
    )
}

/// Cancel the visit: the cancellation notice, the status and a message to every registrant, at once.
pub async fn cancel(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CancelForm>,
) -> Page {
    let (mut errors, request) = f.cancellation();
    let (actor, base_url) = (ctx.actor(), base_url(&state.config, &headers));
    let user = ctx.user.as_ref().ok_or(AppError::Forbidden)?;
    let env = visit_store::CancelEnv {
        now: state.clock.now(),
        user_id: user.id,
        actor: &actor,
        base_url: &base_url,
        close_time: state.config.registration_close_time,
    };
    let mut tx = state.db.begin().await?;
    match visit_store::cancel(&mut tx, id, &request, env).await? {
        Ok(notified) => {
            tx.commit().await?;
            let message = format!("已取消该下访活动，已通知 {notified} 批登记群众。");
            let to = format!("/staff/visits/{id}");
            Ok(redirect_with_flash(&state, &to, &message))
        }
        Err(refusals) => {
            drop(tx);
            for (field, message) in refusals {
                errors.add(field, message);
            }
            let page = visit_page(&state, &ctx, &headers, id, f, errors).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}
