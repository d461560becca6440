//! `/supervision`: the supervisor's dashboard (DESIGN §4 supervision) and 督办.
//!
//! The numbers come from `case_tallies`, kept by a trigger in the same transaction as every case
//! change (migration 0006), so they are exact and cheap over 10^6 cases; a visit filter counts
//! that visit's cases directly with the same key function. The rules (rates, score, ranking,
//! highlight, the 通报 cut-off) are the pure functions below.

use crate::audit::{self, Entry};
use crate::clock::{china_date, china_instant, china_minute, cn_date};
use crate::error::AppError;
use crate::followup::jobs::notify_department;
use crate::followup::workdays::Calendar;
use crate::reports::xlsx::{self, Cell, Sheet};
use crate::state::AppState;
use crate::web::form::Errors;
use crate::web::page::{Layout, Page, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, Duration, NaiveDate, NaiveTime};
use serde::Deserialize;
use serde_json::json;

/// The 三率 weights (percent, summing to 100) and the satisfaction bar below which a row is highlighted.
#[derive(Clone, Debug)]
pub struct Weights {
    pub response: u32,
    pub resolution: u32,
    pub satisfaction: u32,
    pub highlight_below_pct: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            response: 30,
            resolution: 35,
            satisfaction: 35,
            highlight_below_pct: 85.0,
        }
    }
}

/// The counts of one department, one leader, or everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub assigned: i64,
    pub responsive: i64,
    pub open: i64,
    pub due_soon: i64,
    pub overdue: i64,
    pub closed: i64,
    pub closed_in_period: i64,
    pub resolved: i64,
    pub on_time: i64,
    pub rated: i64,
    pub satisfied: i64,
}

/// A share in percent; none when there is nothing to divide by.
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

impl Tally {
    /// 响应率: signed in time and citizen told in time, over cases assigned.
    pub fn response_rate(&self) -> Option<f64> {
        rate(self.responsive, self.assigned)
    }
    /// 解决率: closed as resolved, over closed.
    pub fn resolution_rate(&self) -> Option<f64> {
        rate(self.resolved, self.closed)
    }
    /// 满意率: (满意 + 基本满意) over rated.
    pub fn satisfaction_rate(&self) -> Option<f64> {
        rate(self.satisfied, self.rated)
    }
    pub fn closure_rate(&self) -> Option<f64> {
        rate(self.closed, self.assigned)
    }
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(self.on_time, self.closed)
    }
}

/// The weighted score over the rates that exist (weights of missing rates are left out); none
/// without any rate.
pub fn score(t: &Tally, w: &Weights) -> Option<f64> {
    let parts = [
        (t.response_rate(), w.response),
        (t.resolution_rate(), w.resolution),
        (t.satisfaction_rate(), w.satisfaction),
    ];
    let (sum, weight) = parts
        .iter()
        .filter_map(|(r, w)| r.map(|r| (r * *w as f64, *w as f64)))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    (weight > 0.0).then(|| sum / weight)
}

/// Competition ranking by score, highest first (equal scores share a rank: 1, 1, 3); rows
/// without a score come last, unranked. Returns the rank of each input row, in input order.
pub fn ranks(scores: &[Option<f64>]) -> Vec<Option<usize>> {
    let key = |s: f64| (s * 100.0).round() as i64; // equal at the shown precision
    scores
        .iter()
        .map(|s| {
            s.map(|s| {
                1 + scores
                    .iter()
                    .filter(|o| o.is_some_and(|o| key(o) > key(s)))
                    .count()
            })
        })
        .collect()
}

/// Below the bar (a rate that does not exist is not highlighted).
pub fn highlighted(r: Option<f64>, w: &Weights) -> bool {
    r.is_some_and(|r| r < w.highlight_below_pct)
}

/// Cases first urged on or before this day are on the 通报 list today: still open
/// `wd` working days after the urge.
pub fn report_cutoff(calendar: &Calendar, today: NaiveDate, wd: u32) -> NaiveDate {
    let mut day = today;
    while calendar.add(day, wd) > today {
        day -= Duration::days(1);
    }
    day
}

pub fn pct(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{r:.1}%"))
}

// ---------------------------------------------------------------------------------------------
// Filters and queries
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct FilterForm {
    pub visit: String,
    pub month: String,
    pub department: String,
    pub leader: String,
}

#[derive(Default, Debug)]
pub struct Filter {
    pub visit: Option<i64>,
    pub month: Option<NaiveDate>,
    pub department: Option<i64>,
    pub leader: Option<i64>,
}

/// Parse the filter; a malformed value gets a message beside its field and is ignored.
pub fn parse_filter(f: &FilterForm, errors: &mut Errors) -> Filter {
    let id = |errors: &mut Errors, field: &'static str, v: &str| -> Option<i64> {
        let v = v.trim();
        if v.is_empty() {
            return None;
        }
        let parsed = v.parse::<i64>().ok().filter(|n| *n > 0);
        if parsed.is_none() {
            errors.add(field, "请从列表中选择");
        }
        parsed
    };
    let month = match f.month.trim() {
        "" => None,
        m => {
            let d = NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok();
            if d.is_none() {
                errors.add("month", "月份格式应为 2026-11");
            }
            d
        }
    };
    Filter {
        visit: id(errors, "visit", &f.visit),
        month,
        department: id(errors, "department", &f.department),
        leader: id(errors, "leader", &f.leader),
    }
}

pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

impl std::ops::AddAssign<&Tally> for Tally {
    fn add_assign(&mut self, o: &Tally) {
        self.assigned += o.assigned;
        self.responsive += o.responsive;
        self.open += o.open;
        self.due_soon += o.due_soon;
        self.overdue += o.overdue;
        self.closed += o.closed;
        self.closed_in_period += o.closed_in_period;
        self.resolved += o.resolved;
        self.on_time += o.on_time;
        self.rated += o.rated;
        self.satisfied += o.satisfied;
    }
}

/// The tallies of one (department, leader) pair.
pub struct TallyRow {
    pub department_id: i64,
    pub leader_id: i64,
    pub tally: Tally,
}

/// Totals by department, by leader, and overall (the pairs rolled up; ids in ascending order).
pub fn roll_up(rows: &[TallyRow]) -> (Vec<(i64, Tally)>, Vec<(i64, Tally)>, Tally) {
    use std::collections::BTreeMap;
    let (mut by_dept, mut by_leader, mut total) = (
        BTreeMap::<i64, Tally>::new(),
        BTreeMap::<i64, Tally>::new(),
        Tally::default(),
    );
    for r in rows {
        *by_dept.entry(r.department_id).or_default() += &r.tally;
        *by_leader.entry(r.leader_id).or_default() += &r.tally;
        total += &r.tally;
    }
    (
        by_dept.into_iter().collect(),
        by_leader.into_iter().collect(),
        total,
    )
}

/// The tallies under `filter` per (department, leader) pair, as of `today`.
pub async fn tallies(
    db: &sqlx::PgPool,
    filter: &Filter,
    today: NaiveDate,
) -> sqlx::Result<Vec<TallyRow>> {
    let period = filter.month.unwrap_or_else(|| month_start(today));
    // Without a visit the pivoted summaries (migration 0008); a visit's few hundred cases are
    // counted directly with the same key function. Due soon / overdue read only due days from
    // today on: overdue = open with a due date − not yet due.
    let rows = sqlx::query!(
        r#"WITH k AS (
               SELECT c.lead_department_id AS department_id, c.owner_leader_id AS leader_id, k.month, k.bucket, k.day, 1::bigint AS n
               FROM cases c
               CROSS JOIN LATERAL case_tally_keys(c.status, c.assigned_at, c.accept_due_on, c.accepted_at, c.acceptance_notified_at,
                                                  c.effective_due_on, c.closed_at, c.result, c.rating) k
               WHERE c.visit_id = $1::bigint
           ), m AS (
               SELECT department_id, leader_id, month, assigned, responsive, open, open_dated, closed, resolved, on_time, rated,
                      satisfied, closed_in
               FROM case_month_tallies WHERE $1::bigint IS NULL
               UNION ALL
               SELECT department_id, leader_id, CASE WHEN bucket = 'closed_in' THEN day ELSE month END,
                      (bucket = 'assigned')::int, (bucket = 'responsive')::int, (bucket = 'open')::int,
                      (bucket = 'open' AND day <> 'infinity')::int, (bucket = 'closed')::int, (bucket = 'resolved')::int,
                      (bucket = 'on_time')::int, (bucket = 'rated')::int, (bucket = 'satisfied')::int, (bucket = 'closed_in')::int
               FROM k
           ), d AS (
               SELECT department_id, leader_id, month, day, n FROM case_open_due WHERE $1::bigint IS NULL AND day >= $5
               UNION ALL
               SELECT department_id, leader_id, month, day, n FROM k WHERE bucket = 'open' AND day >= $5 AND day <> 'infinity'
           ), f AS (
               SELECT department_id, leader_id, month = $6 AS in_period, ($4::date IS NULL OR month = $4) AS in_month,
                      assigned, responsive, open, open_dated, closed, resolved, on_time, rated, satisfied, closed_in,
                      0 AS not_due, 0 AS due_soon
               FROM m WHERE ($2::bigint IS NULL OR department_id = $2) AND ($3::bigint IS NULL OR leader_id = $3)
               UNION ALL
               SELECT department_id, leader_id, false, true, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                      n, CASE WHEN day <= $5 + 7 THEN n ELSE 0 END
               FROM d WHERE ($2::bigint IS NULL OR department_id = $2) AND ($3::bigint IS NULL OR leader_id = $3)
                 AND ($4::date IS NULL OR month = $4)
           )
           SELECT department_id AS "department_id!", leader_id AS "leader_id!",
                  COALESCE(sum(assigned) FILTER (WHERE in_month), 0)::bigint AS "assigned!",
                  COALESCE(sum(responsive) FILTER (WHERE in_month), 0)::bigint AS "responsive!",
                  COALESCE(sum(open) FILTER (WHERE in_month), 0)::bigint AS "open!",
                  COALESCE(sum(due_soon) FILTER (WHERE in_month), 0)::bigint AS "due_soon!",
                  COALESCE(sum(open_dated - not_due) FILTER (WHERE in_month), 0)::bigint AS "overdue!",
                  COALESCE(sum(closed) FILTER (WHERE in_month), 0)::bigint AS "closed!",
                  COALESCE(sum(closed_in) FILTER (WHERE in_period), 0)::bigint AS "closed_in_period!",
                  COALESCE(sum(resolved) FILTER (WHERE in_month), 0)::bigint AS "resolved!",
                  COALESCE(sum(on_time) FILTER (WHERE in_month), 0)::bigint AS "on_time!",
                  COALESCE(sum(rated) FILTER (WHERE in_month), 0)::bigint AS "rated!",
                  COALESCE(sum(satisfied) FILTER (WHERE in_month), 0)::bigint AS "satisfied!"
           FROM f GROUP BY department_id, leader_id"#,
        filter.visit,
        filter.department,
        filter.leader,
        filter.month,
        today,
        period,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TallyRow {
            department_id: r.department_id,
            leader_id: r.leader_id,
            tally: Tally {
                assigned: r.assigned,
                responsive: r.responsive,
                open: r.open,
                due_soon: r.due_soon,
                overdue: r.overdue,
                closed: r.closed,
                closed_in_period: r.closed_in_period,
                resolved: r.resolved,
                on_time: r.on_time,
                rated: r.rated,
                satisfied: r.satisfied,
            },
        })
        .collect())
}

/// A case row of the dashboard's lists (通报, overdue), with its 督办 button.
pub struct CaseLine {
    pub id: i64,
    pub code: String,
    pub title: String,
    pub department: String,
    pub leader: String,
    pub due: String,
    pub urged: String,
}

/// Open cases first urged on or before `cutoff` (the 通报 list), oldest urge first, and how many.
pub async fn report_list(
    db: &sqlx::PgPool,
    filter: &Filter,
    cutoff: NaiveDate,
    limit: i64,
) -> sqlx::Result<(Vec<CaseLine>, i64)> {
    let before = china_instant(cutoff + Duration::days(1), NaiveTime::MIN);
    // Counted apart from the page of rows: the count reads only the covering index (migration
    // 0008), the rows walk it in order and join names for `limit` of them.
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM cases c
           WHERE c.first_urged_at IS NOT NULL AND c.first_urged_at < $1
             AND c.status IN ('assigned', 'accepted', 'returned', 'closure_submitted')
             AND ($2::bigint IS NULL OR c.visit_id = $2) AND ($3::bigint IS NULL OR c.lead_department_id = $3)
             AND ($4::bigint IS NULL OR c.owner_leader_id = $4)"#,
        before,
        filter.visit,
        filter.department,
        filter.leader,
    )
    .fetch_one(db)
    .await?;
    let rows = sqlx::query!(
        r#"SELECT c.id, c.code, c.title, d.name AS department, l.name AS leader, c.effective_due_on, c.first_urged_at AS "first_urged_at!"
           FROM cases c JOIN departments d ON d.id = c.lead_department_id JOIN leaders l ON l.id = c.owner_leader_id
           WHERE c.first_urged_at IS NOT NULL AND c.first_urged_at < $1
             AND c.status IN ('assigned', 'accepted', 'returned', 'closure_submitted')
             AND ($2::bigint IS NULL OR c.visit_id = $2) AND ($3::bigint IS NULL OR c.lead_department_id = $3)
             AND ($4::bigint IS NULL OR c.owner_leader_id = $4)
           ORDER BY c.first_urged_at, c.id LIMIT $5"#,
        before,
        filter.visit,
        filter.department,
        filter.leader,
        limit
    )
    .fetch_all(db)
    .await?;
    let lines = rows
        .into_iter()
        .map(|r| CaseLine {
            id: r.id,
            code: r.code,
            title: r.title,
            department: r.department,
            leader: r.leader,
            due: r.effective_due_on.map(cn_date).unwrap_or_default(),
            urged: china_minute(r.first_urged_at),
        })
        .collect();
    Ok((lines, total))
}

/// The most overdue open cases under the filter.
async fn overdue_list(
    db: &sqlx::PgPool,
    filter: &Filter,
    today: NaiveDate,
    limit: i64,
) -> sqlx::Result<Vec<CaseLine>> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.code, c.title, d.name AS department, l.name AS leader, c.effective_due_on AS "due!", c.first_urged_at
           FROM cases c JOIN departments d ON d.id = c.lead_department_id JOIN leaders l ON l.id = c.owner_leader_id
           WHERE c.effective_due_on < $1 AND c.status IN ('assigned', 'accepted', 'returned', 'closure_submitted')
             AND ($2::bigint IS NULL OR c.visit_id = $2) AND ($3::bigint IS NULL OR c.lead_department_id = $3)
             AND ($4::bigint IS NULL OR c.owner_leader_id = $4)
             AND ($5::date IS NULL OR c.assigned_at >= $6 AND c.assigned_at < $7)
           ORDER BY c.effective_due_on, c.id LIMIT $8"#,
        today,
        filter.visit,
        filter.department,
        filter.leader,
        filter.month,
        filter.month.map(|m| china_instant(m, NaiveTime::MIN)),
        filter.month.and_then(|m| m.checked_add_months(chrono::Months::new(1))).map(|m| china_instant(m, NaiveTime::MIN)),
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CaseLine {
            id: r.id,
            code: r.code,
            title: r.title,
            department: r.department,
            leader: r.leader,
            due: cn_date(r.due),
            urged: r.first_urged_at.map(china_minute).unwrap_or_default(),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

pub struct Choice {
    pub id: i64,
    pub name: String,
}

pub struct DeptLine {
    pub name: String,
    pub t: Tally,
    pub response: String,
    pub resolution: String,
    pub satisfaction: String,
    pub score: String,
    pub rank: String,
    pub response_low: bool,
    pub resolution_low: bool,
    pub satisfaction_low: bool,
}

pub struct LeaderLine {
    pub name: String,
    pub t: Tally,
    pub closure: String,
    pub on_time: String,
    pub satisfaction: String,
    pub satisfaction_low: bool,
}

/// One bar of a server-side SVG chart.
pub struct Bar {
    pub y: u32,
    pub width: u32,
    pub label: String,
    pub value: String,
    pub low: bool,
}

pub struct Chart {
    pub title: String,
    pub height: u32,
    pub bars: Vec<Bar>,
}

/// Horizontal bars of percentages (0–100), 24 px a row, the bar area 200 px wide.
pub fn chart(title: &str, rows: &[(String, Option<f64>, bool)]) -> Chart {
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, (label, v, low))| Bar {
            y: i as u32 * 24,
            width: v.map_or(0, |v| (v.clamp(0.0, 100.0) * 2.0).round() as u32),
            label: label.chars().take(8).collect(),
            value: pct(*v),
            low: *low,
        })
        .collect::<Vec<_>>();
    Chart {
        title: title.into(),
        height: bars.len() as u32 * 24 + 4,
        bars,
    }
}

#[derive(Template)]
#[template(path = "followup/supervision.html")]
struct SupervisionPage {
    layout: Layout,
    form: FilterForm,
    errors: Errors,
    visits: Vec<Choice>,
    dash: Dashboard,
    charts: Vec<Chart>,
    report_wd: u32,
    can_urge: bool,
    weights: Weights,
}

/// Everything the dashboard shows for a filter: the page and its export read the same figures.
struct Dashboard {
    departments: Vec<Choice>,
    leaders: Vec<Choice>,
    total: Tally,
    period: String,
    depts: Vec<DeptLine>,
    leader_lines: Vec<LeaderLine>,
    report: Vec<CaseLine>,
    report_total: i64,
    overdue: Vec<CaseLine>,
}

/// The dashboard with up to `report_rows` cases of the 通报 list and `overdue_rows` overdue ones.
async fn dashboard(
    state: &AppState,
    filter: &Filter,
    report_rows: i64,
    overdue_rows: i64,
) -> Result<Dashboard, AppError> {
    let today = china_date(state.clock.now());
    let w = &state.config.supervision;
    let tally_rows = tallies(&state.db, filter, today).await?;
    let departments = sqlx::query_as!(
        Choice,
        "SELECT id, name FROM departments ORDER BY active DESC, name"
    )
    .fetch_all(&state.db)
    .await?;
    let leaders = sqlx::query_as!(
        Choice,
        "SELECT id, name FROM leaders ORDER BY active DESC, name"
    )
    .fetch_all(&state.db)
    .await?;
    let name_of = |list: &[Choice], id: i64| {
        list.iter()
            .find(|o| o.id == id)
            .map_or_else(|| format!("#{id}"), |o| o.name.clone())
    };

    let (by_dept, by_leader, total) = roll_up(&tally_rows);
    let scores: Vec<Option<f64>> = by_dept.iter().map(|(_, t)| score(t, w)).collect();
    let rank = ranks(&scores);
    let mut depts: Vec<(Option<usize>, DeptLine)> = by_dept
        .iter()
        .zip(scores.iter().zip(rank))
        .map(|((id, t), (s, k))| {
            let t = t.clone();
            (
                k,
                DeptLine {
                    name: name_of(&departments, *id),
                    response: pct(t.response_rate()),
                    resolution: pct(t.resolution_rate()),
                    satisfaction: pct(t.satisfaction_rate()),
                    score: s.map_or("—".into(), |s| format!("{s:.1}")),
                    rank: k.map_or("—".into(), |k| k.to_string()),
                    response_low: highlighted(t.response_rate(), w),
                    resolution_low: highlighted(t.resolution_rate(), w),
                    satisfaction_low: highlighted(t.satisfaction_rate(), w),
                    t,
                },
            )
        })
        .collect();
    depts.sort_by(|a, b| {
        a.0.unwrap_or(usize::MAX)
            .cmp(&b.0.unwrap_or(usize::MAX))
            .then_with(|| a.1.name.cmp(&b.1.name))
    });
    let depts: Vec<DeptLine> = depts.into_iter().map(|(_, d)| d).collect();
    let mut leader_lines: Vec<LeaderLine> = by_leader
        .into_iter()
        .map(|(id, t)| LeaderLine {
            name: name_of(&leaders, id),
            closure: pct(t.closure_rate()),
            on_time: pct(t.on_time_rate()),
            satisfaction: pct(t.satisfaction_rate()),
            satisfaction_low: highlighted(t.satisfaction_rate(), w),
            t,
        })
        .collect();
    leader_lines.sort_by(|a, b| {
        b.t.assigned
            .cmp(&a.t.assigned)
            .then_with(|| a.name.cmp(&b.name))
    });

    let calendar = Calendar::load(&state.db, today - Duration::days(60)).await?;
    let cutoff = report_cutoff(
        &calendar,
        today,
        state.config.case_rules.report_after_urge_wd,
    );
    let (report, report_total) = report_list(&state.db, filter, cutoff, report_rows).await?;
    let overdue = overdue_list(&state.db, filter, today, overdue_rows).await?;
    let period = match filter.month {
        Some(m) => format!("{}年{}月", m.year(), m.month()),
        None => "本月".into(),
    };
    Ok(Dashboard {
        departments,
        leaders,
        total,
        period,
        depts,
        leader_lines,
        report,
        report_total,
        overdue,
    })
}

pub async fn page(State(state): State<AppState>, ctx: Ctx, Query(form): Query<FilterForm>) -> Page {
    let mut errors = Errors::default();
    let filter = parse_filter(&form, &mut errors);
    let w = &state.config.supervision;
    let dash = dashboard(&state, &filter, 50, 20).await?;
    let visits = sqlx::query_as!(
        Choice,
        r#"SELECT id, to_char(visit_date, 'YYYY-MM-DD') || ' ' || title AS "name!" FROM visits
           WHERE status <> 'cancelled' ORDER BY visit_date DESC, id DESC LIMIT 200"#
    )
    .fetch_all(&state.db)
    .await?;
    let score_rows: Vec<(String, Option<f64>, bool)> = dash
        .depts
        .iter()
        .map(|l| (l.name.clone(), score(&l.t, w), false))
        .collect();
    let sat_rows: Vec<(String, Option<f64>, bool)> = dash
        .depts
        .iter()
        .map(|l| (l.name.clone(), l.t.satisfaction_rate(), l.satisfaction_low))
        .collect();
    let page = SupervisionPage {
        layout: ctx.layout("督查督办"),
        can_urge: ctx
            .user
            .as_ref()
            .is_some_and(|u| u.role == crate::web::auth::Role::Supervisor),
        form,
        visits,
        charts: vec![chart("综合得分", &score_rows), chart("满意率", &sat_rows)],
        dash,
        report_wd: state.config.case_rules.report_after_urge_wd,
        weights: w.clone(),
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render_status(status, &page))
}

/// Cases per list in the export.
const EXPORT_ROWS: i64 = 10_000;

/// `GET /supervision.xlsx`: the dashboard with the same filters, one sheet per table, for the
/// meeting where departments are ranked and 通报 read out; audited.
pub async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(form): Query<FilterForm>,
) -> Result<Response, AppError> {
    let mut errors = Errors::default();
    let filter = parse_filter(&form, &mut errors);
    if let Some((_, message)) = errors.iter().next() {
        return Err(AppError::BadRequest(message.to_owned()));
    }
    let d = dashboard(&state, &filter, EXPORT_ROWS, EXPORT_ROWS).await?;
    let closed = format!("{}办结", d.period);
    let total = vec![vec![
        d.total.open.into(),
        d.total.due_soon.into(),
        d.total.overdue.into(),
        d.total.closed_in_period.into(),
        d.report_total.into(),
    ]];
    let ranking = d
        .depts
        .iter()
        .map(|l| {
            let t = &l.t;
            vec![
                l.rank.clone().into(),
                l.name.clone().into(),
                t.assigned.into(),
                t.open.into(),
                t.due_soon.into(),
                t.overdue.into(),
                t.closed_in_period.into(),
                l.response.clone().into(),
                l.resolution.clone().into(),
                l.satisfaction.clone().into(),
                l.score.clone().into(),
            ]
        })
        .collect();
    let leaders = d
        .leader_lines
        .iter()
        .map(|l| {
            let t = &l.t;
            vec![
                l.name.clone().into(),
                t.assigned.into(),
                t.open.into(),
                t.due_soon.into(),
                t.overdue.into(),
                t.closed_in_period.into(),
                l.closure.clone().into(),
                l.on_time.clone().into(),
                l.satisfaction.clone().into(),
            ]
        })
        .collect();
    let cases = |lines: &[CaseLine]| -> Vec<Vec<Cell>> {
        lines
            .iter()
            .map(|c| {
                vec![
                    c.code.clone().into(),
                    c.title.clone().into(),
                    c.department.clone().into(),
                    c.leader.clone().into(),
                    c.due.clone().into(),
                    c.urged.clone().into(),
                ]
            })
            .collect()
    };
    let case_headers = [
        "编号",
        "事项",
        "承办单位",
        "包案领导",
        "办结时限",
        "首次催办/督办",
    ];
    let sheets = [
        Sheet {
            name: "总体情况",
            headers: &["在办", "7 日内到期", "已逾期", &closed, "通报名单"],
            rows: total,
        },
        Sheet {
            name: "承办单位三率排名",
            headers: &[
                "排名",
                "承办单位",
                "交办",
                "在办",
                "7 日内到期",
                "逾期",
                &closed,
                "响应率",
                "解决率",
                "满意率",
                "综合得分",
            ],
            rows: ranking,
        },
        Sheet {
            name: "包案领导",
            headers: &[
                "包案领导",
                "包案",
                "在办",
                "7 日内到期",
                "逾期",
                &closed,
                "办结率",
                "按期办结率",
                "满意率",
            ],
            rows: leaders,
        },
        Sheet {
            name: "通报名单",
            headers: &case_headers,
            rows: cases(&d.report),
        },
        Sheet {
            name: "逾期交办件",
            headers: &case_headers,
            rows: cases(&d.overdue),
        },
    ];
    let bytes = xlsx::workbook("督查督办", &sheets).map_err(xlsx::internal)?;
    let detail = json!({"visit": form.visit, "month": form.month, "department": form.department, "leader": form.leader});
    audit::record(
        &state.db,
        &ctx.actor(),
        Entry::ok("supervision.export").detail(detail),
    )
    .await?;
    Ok(xlsx::attachment("supervision.xlsx", bytes))
}

/// POST `/cases/{id}/urge` (督办, supervisors): an `urged` event, the first urge date if none,
/// a notification to the lead department, an audit row, in one transaction.
pub async fn urge(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let now = state.clock.now();
    let actor = ctx.actor();
    let mut tx = state.db.begin().await?;
    let case = sqlx::query!(
        "SELECT code, title, status, lead_department_id FROM cases WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if !matches!(
        case.status.as_str(),
        "assigned" | "accepted" | "returned" | "closure_submitted"
    ) {
        return Err(AppError::Conflict("该交办件已办结，无需督办。".into()));
    }
    sqlx::query!(
        "INSERT INTO case_events (case_id, kind, actor_id, at) VALUES ($1, 'urged', $2, $3)",
        id,
        actor.id,
        now
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE cases SET first_urged_at = $2 WHERE id = $1 AND first_urged_at IS NULL",
        id,
        now
    )
    .execute(&mut *tx)
    .await?;
    let body = format!(
        "督办：交办件 {}「{}」请加快办理，并及时报告办理进展。",
        case.code, case.title
    );
    notify_department(&mut tx, case.lead_department_id, id, "case.urge", &body).await?;
    audit::record(
        &mut *tx,
        &actor,
        Entry::ok("case.urge")
            .on("case", id)
            .detail(json!({ "code": case.code })),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        "/supervision",
        &format!("已督办：{}", case.code),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(
        assigned: i64,
        responsive: i64,
        closed: i64,
        resolved: i64,
        rated: i64,
        satisfied: i64,
    ) -> Tally {
        Tally {
            assigned,
            responsive,
            closed,
            resolved,
            rated,
            satisfied,
            ..Default::default()
        }
    }

    #[test]
    fn rates_divide_and_say_nothing_without_cases() {
        let x = t(10, 9, 8, 6, 4, 3);
        assert_eq!(x.response_rate(), Some(90.0));
        assert_eq!(x.resolution_rate(), Some(75.0));
        assert_eq!(x.satisfaction_rate(), Some(75.0));
        assert_eq!(x.closure_rate(), Some(80.0));
        assert_eq!(Tally::default().response_rate(), None);
        assert_eq!(pct(Some(85.0)), "85.0%");
        assert_eq!(pct(None), "—");
    }

    #[test]
    fn score_weighs_30_35_35_and_skips_missing_rates() {
        let w = Weights::default();
        // 90×0.30 + 75×0.35 + 75×0.35 = 27 + 26.25 + 26.25 = 79.5
        assert!((score(&t(10, 9, 8, 6, 4, 3), &w).unwrap() - 79.5).abs() < 1e-9);
        // Nothing rated: (90×30 + 75×35) / 65
        let s = score(&t(10, 9, 8, 6, 0, 0), &w).unwrap();
        assert!((s - (90.0 * 30.0 + 75.0 * 35.0) / 65.0).abs() < 1e-9);
        assert_eq!(score(&Tally::default(), &w), None);
        let custom = Weights {
            response: 100,
            resolution: 0,
            satisfaction: 0,
            ..w
        };
        assert_eq!(score(&t(10, 9, 8, 6, 4, 3), &custom), Some(90.0));
    }

    #[test]
    fn ranking_shares_ties_and_puts_unscored_last() {
        assert_eq!(
            ranks(&[Some(70.0), Some(90.0), None, Some(90.0), Some(50.0)]),
            vec![Some(3), Some(1), None, Some(1), Some(4)]
        );
        assert_eq!(ranks(&[]), Vec::<Option<usize>>::new());
    }

    #[test]
    fn below_85_percent_is_highlighted() {
        let w = Weights::default();
        assert!(highlighted(Some(84.9), &w));
        assert!(!highlighted(Some(85.0), &w));
        assert!(!highlighted(None, &w));
    }

    #[test]
    fn the_report_cutoff_is_five_working_days_back() {
        let cal = Calendar::default();
        // Monday 2026-11-30: urged on Monday 23rd or earlier → 5 working days have passed.
        assert_eq!(
            report_cutoff(&cal, "2026-11-30".parse().unwrap(), 5),
            "2026-11-23".parse().unwrap()
        );
        // Sunday 29th: Mon 23 + 5 wd = Mon 30 > 29, so Friday 20th (Fri 20 + 5 = Fri 27 ≤ 29)... and Sat/Sun 21–22 too.
        assert_eq!(
            report_cutoff(&cal, "2026-11-29".parse().unwrap(), 5),
            "2026-11-22".parse().unwrap()
        );
    }

    #[test]
    fn filters_parse_or_complain_beside_the_field() {
        let mut e = Errors::default();
        let f = parse_filter(
            &FilterForm {
                visit: "3".into(),
                month: "2026-11".into(),
                department: "".into(),
                leader: "x".into(),
            },
            &mut e,
        );
        assert_eq!(f.visit, Some(3));
        assert_eq!(f.month, Some("2026-11-01".parse().unwrap()));
        assert_eq!(f.department, None);
        assert_eq!(f.leader, None);
        assert_eq!(e.get("leader"), "请从列表中选择");
        let mut e = Errors::default();
        parse_filter(
            &FilterForm {
                month: "2026-13".into(),
                ..Default::default()
            },
            &mut e,
        );
        assert!(!e.get("month").is_empty());
    }

    #[test]
    fn pairs_roll_up_by_department_leader_and_total() {
        let row = |d, l, assigned| TallyRow {
            department_id: d,
            leader_id: l,
            tally: Tally {
                assigned,
                ..Default::default()
            },
        };
        let (d, l, total) = roll_up(&[row(1, 10, 2), row(1, 11, 3), row(2, 10, 4)]);
        assert_eq!(
            d.iter()
                .map(|(id, t)| (*id, t.assigned))
                .collect::<Vec<_>>(),
            [(1, 5), (2, 4)]
        );
        assert_eq!(
            l.iter()
                .map(|(id, t)| (*id, t.assigned))
                .collect::<Vec<_>>(),
            [(10, 6), (11, 3)]
        );
        assert_eq!(total.assigned, 9);
    }

    #[test]
    fn chart_bars_scale_to_200_px() {
        let c = chart(
            "满意率",
            &[
                ("住建局".into(), Some(50.0), true),
                ("人社局".into(), None, false),
            ],
        );
        assert_eq!(c.bars[0].width, 100);
        assert_eq!(c.bars[1].width, 0);
        assert_eq!(c.bars[1].y, 24);
        assert_eq!(c.height, 52);
    }
}
