//! `/staff/duty`: a county's duty rota (值守接访) for a month — who is on duty at the 矛调中心 on
//! each working day, set by hand or in turn. A city's staff pick one of its counties.

use crate::admin::reference::regions::working_counties;
use crate::clock::china_date;
use crate::duty::rota;
use crate::duty::store::{self, County, Duty, Env, Leader};
use crate::error::AppError;
use crate::prepare::plan;
use crate::state::AppState;
use crate::web::form::{Choice, Form};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, base_url, redirect_with_flash};
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{Datelike, NaiveDate};

struct DayRow {
    date: NaiveDate,
    workday: bool,
    note: String,
    /// Still to be set or changed (a working day after today).
    open: bool,
    /// The leader id the select shows ("" for nobody).
    selected: String,
    error: String,
    duty: Option<Duty>,
}

impl DayRow {
    fn field(&self) -> String {
        format!("day_{}", self.date)
    }
    fn label(&self) -> String {
        self.date.format("%-m月%-d日").to_string()
    }
    fn weekday(&self) -> &'static str {
        plan::weekday(self.date)
    }
    fn kind(&self) -> &'static str {
        match (self.workday, plan::weekday(self.date)) {
            (true, "星期六" | "星期日") => "调休上班",
            (true, _) => "工作日",
            (false, _) => "休息日",
        }
    }
    fn is_selected(&self, id: &i64) -> bool {
        self.selected == id.to_string()
    }
    fn status_label(&self) -> &'static str {
        self.duty
            .as_ref()
            .map_or("", |d| plan::status_label(&d.status))
    }
}

#[derive(Template)]
#[template(path = "duty/rota.html")]
struct RotaPage {
    layout: Layout,
    counties: Vec<Choice>,
    county: Option<County>,
    /// Why there is no rota to show (no county chosen, none in reach).
    message: String,
    month: String,
    month_label: String,
    prev: String,
    next: String,
    days: Vec<DayRow>,
    leaders: Vec<Leader>,
    refused: usize,
}

impl RotaPage {
    fn working_days(&self) -> usize {
        self.days.iter().filter(|d| d.workday).count()
    }
    fn set_days(&self) -> usize {
        self.days.iter().filter(|d| d.duty.is_some()).count()
    }
    fn open_days(&self) -> usize {
        self.days
            .iter()
            .filter(|d| d.open && d.duty.is_none())
            .count()
    }
    fn rota_url(&self, month: &str) -> String {
        match &self.county {
            Some(c) => format!("/staff/duty?county={}&month={month}", c.id),
            None => format!("/staff/duty?month={month}"),
        }
    }
}

fn value<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

fn query_pairs(query: Option<String>) -> Vec<(String, String)> {
    query
        .and_then(|q| serde_urlencoded::from_str(&q).ok())
        .unwrap_or_default()
}

/// The county asked for, if in the viewer's reach (404 otherwise, like an unknown id); without
/// one, the only county in reach. Err(counties): a choice to make (or none to make).
async fn chosen(
    state: &AppState,
    ctx: &Ctx,
    asked: &str,
) -> Result<Result<County, Vec<Choice>>, AppError> {
    let counties = working_counties(&state.db, ctx.root()).await?;
    let pick = match asked.trim() {
        "" if counties.len() == 1 => &counties[0],
        "" => return Ok(Err(counties)),
        id => counties
            .iter()
            .find(|c| c.id.to_string() == id)
            .ok_or(AppError::NotFound)?,
    };
    Ok(Ok(County {
        id: pick.id,
        name: pick.label.clone(),
    }))
}

fn month_of(asked: &str, state: &AppState) -> NaiveDate {
    let today = china_date(state.clock.now());
    plan::parse_month(asked).unwrap_or_else(|| today.with_day0(0).unwrap_or(today))
}

/// The page for `county` and the month starting `first`, with what was posted and refused.
async fn rota_page(
    state: &AppState,
    ctx: &Ctx,
    county: Result<County, Vec<Choice>>,
    first: NaiveDate,
    posted: &[(NaiveDate, String)],
    refused: &[(NaiveDate, String)],
) -> Result<RotaPage, AppError> {
    let today = china_date(state.clock.now());
    let month_label = first.format("%Y年%-m月").to_string();
    let (county, counties) = match county {
        Ok(c) => (Some(c), Vec::new()),
        Err(counties) => (None, counties),
    };
    let (mut days, mut leaders) = (Vec::new(), Vec::new());
    if let Some(c) = &county {
        let month = store::month(&state.db, c.id, first).await?;
        leaders = month.leaders;
        for d in month.days {
            let stored = d
                .duty
                .as_ref()
                .map(|x| x.leader_id.to_string())
                .unwrap_or_default();
            let typed = posted.iter().find(|p| p.0 == d.date).map(|p| p.1.clone());
            days.push(DayRow {
                open: d.workday && d.date > today,
                selected: typed.unwrap_or(stored),
                error: refused
                    .iter()
                    .find(|r| r.0 == d.date)
                    .map(|r| r.1.clone())
                    .unwrap_or_default(),
                date: d.date,
                workday: d.workday,
                note: d.note,
                duty: d.duty,
            });
        }
        // A leader no longer eligible still shows on the days they hold.
        for d in days.iter().filter_map(|d| d.duty.as_ref()) {
            if !leaders.iter().any(|l| l.id == d.leader_id) {
                leaders.push(Leader {
                    id: d.leader_id,
                    label: d.leader.clone(),
                });
            }
        }
    }
    let message = match (&county, counties.is_empty()) {
        (Some(_), _) => String::new(),
        (None, false) => "请先选择要安排值守接访的区县。".into(),
        (None, true) => "值守接访按区县安排，您的账号所属的行政区划下没有区县。".into(),
    };
    let title = match &county {
        Some(c) => format!("{}{month_label}值守接访安排", c.name),
        None => format!("{month_label}值守接访安排"),
    };
    Ok(RotaPage {
        layout: ctx.layout(&title),
        counties,
        county,
        message,
        month: first.format("%Y-%m").to_string(),
        month_label,
        prev: plan::prev_month(first).format("%Y-%m").to_string(),
        next: plan::next_month(first).format("%Y-%m").to_string(),
        days,
        leaders,
        refused: refused.len(),
    })
}

fn env<'a>(
    state: &'a AppState,
    ctx: &Ctx,
    actor: &'a crate::audit::Actor,
    base: &'a str,
) -> Result<Env<'a>, AppError> {
    Ok(Env {
        now: state.clock.now(),
        user_id: ctx.user.as_ref().ok_or(AppError::Forbidden)?.id,
        actor,
        base_url: base,
        close_time: state.config.registration_close_time,
        notice_days: &state.config.notice_days,
    })
}

fn back(
    state: &AppState,
    county: &County,
    first: NaiveDate,
    message: &str,
) -> axum::response::Response {
    let to = format!(
        "/staff/duty?county={}&month={}",
        county.id,
        first.format("%Y-%m")
    );
    redirect_with_flash(state, &to, message)
}

pub async fn page(State(state): State<AppState>, ctx: Ctx, RawQuery(query): RawQuery) -> Page {
    let q = query_pairs(query);
    let county = chosen(&state, &ctx, value(&q, "county")).await?;
    let first = month_of(value(&q, "month"), &state);
    render(&rota_page(&state, &ctx, county, first, &[], &[]).await?)
}

/// Save the days the form names (`day_YYYY-MM-DD` = leader id, "" for nobody).
pub async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Form(f): Form<Vec<(String, String)>>,
) -> Page {
    let first = month_of(value(&f, "month"), &state);
    let county = match chosen(&state, &ctx, value(&f, "county")).await? {
        Ok(c) => c,
        Err(choices) => {
            let page = rota_page(&state, &ctx, Err(choices), first, &[], &[]).await?;
            return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let picks = rota::picks(&f);
    let (actor, base) = (ctx.actor(), base_url(&state.config, &headers));
    let env = env(&state, &ctx, &actor, &base)?;
    let mut tx = state.db.begin().await?;
    match store::set_days(&mut tx, &county, first, &picks, &env).await? {
        Ok(changed) => {
            tx.commit().await?;
            let message =
                format!("值守安排已保存，{changed} 天有变动，并已在公开的接访安排中发布。");
            Ok(back(&state, &county, first, &message))
        }
        Err(refused) => {
            drop(tx);
            let page = rota_page(&state, &ctx, Ok(county), first, &picks, &refused).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

/// 按顺序轮流安排: fill the month's open working days with the county's leaders in turn.
pub async fn generate(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Form(f): Form<Vec<(String, String)>>,
) -> Page {
    let first = month_of(value(&f, "month"), &state);
    let county = match chosen(&state, &ctx, value(&f, "county")).await? {
        Ok(c) => c,
        Err(_) => return Ok(redirect_with_flash(&state, "/staff/duty", "请先选择区县。")),
    };
    let (actor, base) = (ctx.actor(), base_url(&state.config, &headers));
    let mut tx = state.db.begin().await?;
    let message =
        match store::generate(&mut tx, &county, first, &env(&state, &ctx, &actor, &base)?).await? {
            Ok(0) => "本月没有待安排的工作日（已过的日期和已安排的日期不变）。".to_owned(),
            Ok(n) => format!("已为 {n} 个工作日按顺序轮流安排值守领导，并在公开的接访安排中发布。"),
            Err(why) => why,
        };
    tx.commit().await?;
    Ok(back(&state, &county, first, &message))
}
