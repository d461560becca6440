//! `/admin/calendar`: the exceptions to the weekend rule that working days are counted with (DESIGN §4):
//! statutory holidays on weekdays (放假) and the weekend days worked in exchange (调休上班).

use crate::admin::reference::calendar::{self, YEARS, is_weekend, parse_day, weekday_label};
use crate::clock::china_date;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

/// (form value, label, is_workday)
const KINDS: [(&str, &str, bool); 2] = [("holiday", "放假", false), ("workday", "调休上班", true)];

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct YearQuery {
    year: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DayForm {
    day: String,
    /// "holiday" or "workday"
    kind: String,
    note: String,
}

struct DayRow {
    day: String,
    weekday: &'static str,
    weekend: bool,
    is_workday: bool,
    note: String,
}

#[derive(Template)]
#[template(path = "admin/calendar.html")]
struct CalendarPage {
    layout: Layout,
    year: i32,
    prev: Option<i32>,
    next: Option<i32>,
    days: Vec<DayRow>,
    holidays: usize,
    workdays: usize,
    kinds: Vec<(&'static str, &'static str)>,
    form: DayForm,
    errors: Errors,
}

async fn calendar_page(
    state: &AppState,
    ctx: &Ctx,
    year: i32,
    form: DayForm,
    errors: Errors,
) -> Result<CalendarPage, AppError> {
    let (from, to) = (
        NaiveDate::from_ymd_opt(year, 1, 1),
        NaiveDate::from_ymd_opt(year, 12, 31),
    );
    let days: Vec<DayRow> = sqlx::query!(
        "SELECT day, is_workday, note FROM calendar_days WHERE day BETWEEN $1 AND $2 ORDER BY day",
        from,
        to
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|r| DayRow {
        day: r.day.format("%Y-%m-%d").to_string(),
        weekday: weekday_label(r.day),
        weekend: is_weekend(r.day),
        is_workday: r.is_workday,
        note: r.note,
    })
    .collect();
    Ok(CalendarPage {
        layout: ctx.layout(&format!("工作日历：{year} 年")),
        year,
        prev: Some(year - 1).filter(|y| YEARS.contains(y)),
        next: Some(year + 1).filter(|y| YEARS.contains(y)),
        holidays: days.iter().filter(|d| !d.is_workday).count(),
        workdays: days.iter().filter(|d| d.is_workday).count(),
        days,
        kinds: KINDS.iter().map(|(v, l, _)| (*v, *l)).collect(),
        form,
        errors,
    })
}

fn this_year(state: &AppState) -> i32 {
    china_date(state.clock.now()).year()
}

/// `?year=YYYY`; missing or unusable → the current year in Asia/Shanghai.
pub async fn list(State(state): State<AppState>, ctx: Ctx, Query(q): Query<YearQuery>) -> Page {
    let year = q
        .year
        .trim()
        .parse()
        .ok()
        .filter(|y| YEARS.contains(y))
        .unwrap_or_else(|| this_year(&state));
    render(&calendar_page(&state, &ctx, year, DayForm::default(), Errors::default()).await?)
}

impl DayForm {
    /// The day and whether it is worked; a weekday cannot be made a 调休上班 day.
    fn validate(&self, errors: &mut Errors) -> Option<(NaiveDate, bool, String)> {
        let day = parse_day(&self.day);
        if day.is_none() {
            errors.add("day", "请填写正确的日期，如 2026-10-01");
        }
        let is_workday = KINDS
            .iter()
            .find(|(v, _, _)| *v == self.kind)
            .map(|(_, _, w)| *w);
        match (is_workday, day) {
            (None, _) => errors.add("kind", "请选择类型"),
            (Some(true), Some(d)) if !is_weekend(d) => errors.add(
                "kind",
                format!(
                    "调休上班只能设在周六或周日（{d} 是{}，本来就是工作日）",
                    weekday_label(d)
                ),
            ),
            _ => {}
        }
        let note = text(errors, "note", "说明", &self.note, 0, 40);
        Some((day?, is_workday?, note)).filter(|_| errors.is_empty())
    }
}

/// Set (insert or replace) one day's exception.
pub async fn set(State(state): State<AppState>, ctx: Ctx, Form(f): Form<DayForm>) -> Page {
    let mut errors = Errors::default();
    let Some((day, is_workday, note)) = f.validate(&mut errors) else {
        let year = parse_day(&f.day)
            .map(|d| d.year())
            .unwrap_or_else(|| this_year(&state));
        let page = calendar_page(&state, &ctx, year, f, errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let mut tx = state.db.begin().await?;
    calendar::set(&mut tx, &ctx.actor(), day, is_workday, &note).await?;
    tx.commit().await?;
    let kind = if is_workday { "调休上班" } else { "放假" };
    let message = format!("已设置：{day}（{}）{kind}。", weekday_label(day));
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/calendar?year={}", day.year()),
        &message,
    ))
}

/// Remove one day's exception: it follows the weekend rule again.
pub async fn delete(State(state): State<AppState>, ctx: Ctx, Path(day): Path<String>) -> Page {
    let day = parse_day(&day).ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin().await?;
    calendar::delete(&mut tx, &ctx.actor(), day).await?;
    tx.commit().await?;
    let message = format!("已删除 {day} 的设置，该日恢复按周末规则计算。");
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/calendar?year={}", day.year()),
        &message,
    ))
}
