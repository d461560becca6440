//! `/supervision`: the supervisor's dashboard (DESIGN §4 supervision), its .xlsx export and
//! 督办. The figures are `dashboard::load`; 督办 is `transitions::urge`.

use crate::audit::{self, Entry};
use crate::clock::china_date;
use crate::config::rules::Weights;
use crate::error::AppError;
use crate::followup::dashboard::{self, CaseLine, Choice, Dashboard, DeptLine, Filter};
use crate::followup::pages::cases::{ActionForm, refused};
use crate::followup::scoring::{pct, score};
use crate::followup::transitions;
use crate::state::AppState;
use crate::web::export::{SameOrigin, fields};
use crate::web::form::{self, Errors, Form};
use crate::web::page::{Layout, Page, render_status};
use crate::web::xlsx::{self, Cell, Sheet};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct FilterForm {
    pub visit: String,
    pub month: String,
    pub department: String,
    pub leader: String,
    /// Drill into one county (a city's or province's supervisor).
    pub county: String,
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
        within: None,
        county: id(errors, "county", &f.county),
    }
}

/// The filter for the user: only their jurisdiction's subtree counts.
fn filter_for(ctx: &Ctx, form: &FilterForm, errors: &mut Errors) -> Filter {
    Filter {
        within: ctx.user.as_ref().and_then(|u| u.jurisdiction_id),
        ..parse_filter(form, errors)
    }
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
    /// The filters as hidden fields of the export form (exports are POSTs, DESIGN §7).
    export_fields: Vec<(String, String)>,
    errors: Errors,
    visits: Vec<Choice>,
    dash: Dashboard,
    charts: Vec<Chart>,
    report_wd: u32,
    can_urge: bool,
    weights: Weights,
}

/// The dashboard for `filter` with up to so many rows in its two case lists.
async fn figures(
    state: &AppState,
    filter: &Filter,
    report_rows: i64,
    overdue_rows: i64,
) -> Result<Dashboard, AppError> {
    let scope = dashboard::Scope {
        today: china_date(state.clock.now()),
        weights: &state.config.supervision,
        report_after_urge_wd: state.config.case_rules.report_after_urge_wd,
        report_rows,
        overdue_rows,
    };
    Ok(dashboard::load(&state.db, filter, &scope).await?)
}

/// The score and satisfaction charts of the department ranking.
fn charts(dash: &Dashboard, w: &Weights) -> Vec<Chart> {
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
    vec![chart("综合得分", &score_rows), chart("满意率", &sat_rows)]
}

pub async fn page(State(state): State<AppState>, ctx: Ctx, Query(form): Query<FilterForm>) -> Page {
    let mut errors = Errors::default();
    let filter = filter_for(&ctx, &form, &mut errors);
    let w = &state.config.supervision;
    let dash = figures(&state, &filter, 50, 20).await?;
    let visits = dashboard::visit_choices(&state.db, filter.within).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = SupervisionPage {
        layout: ctx.layout("督查督办"),
        can_urge: ctx
            .user
            .as_ref()
            .is_some_and(|u| u.role == crate::web::auth::Role::Supervisor),
        export_fields: fields(&[
            ("visit", &form.visit),
            ("month", &form.month),
            ("department", &form.department),
            ("leader", &form.leader),
            ("county", &form.county),
        ]),
        form,
        visits,
        charts: charts(&dash, w),
        dash,
        report_wd: state.config.case_rules.report_after_urge_wd,
        weights: w.clone(),
        errors,
    };
    Ok(render_status(status, &page))
}

/// Cases per list in the export.
const EXPORT_ROWS: i64 = 10_000;

/// `POST /supervision.xlsx`: the dashboard with the same filters, one sheet per table, for the
/// meeting where departments are ranked and 通报 read out (cases by title: POST, DESIGN §7); audited.
pub async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    _: SameOrigin,
    Form(form): Form<FilterForm>,
) -> Result<Response, AppError> {
    let mut errors = Errors::default();
    let filter = filter_for(&ctx, &form, &mut errors);
    if let Some((_, message)) = errors.iter().next() {
        return Err(AppError::BadRequest(message.to_owned()));
    }
    let d = figures(&state, &filter, EXPORT_ROWS, EXPORT_ROWS).await?;
    let bytes = workbook(&d)?;
    let detail = json!({"visit": form.visit, "month": form.month, "department": form.department, "leader": form.leader, "county": form.county});
    audit::record(
        &state.db,
        &ctx.actor(),
        Entry::ok("supervision.export").detail(detail),
    )
    .await?;
    Ok(xlsx::attachment("supervision.xlsx", bytes))
}

/// The export's workbook: one sheet per table of the dashboard.
fn workbook(d: &Dashboard) -> Result<Vec<u8>, AppError> {
    let closed = format!("{}办结", d.period);
    let total = vec![vec![
        d.total.open.into(),
        d.total.due_soon.into(),
        d.total.overdue.into(),
        d.total.closed_in_period.into(),
        d.report_total.into(),
    ]];
    let (ranking, leaders) = (ranking_rows(&d.depts), leader_rows(d));
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
            name: "区县排名",
            headers: &[
                "排名",
                "区县",
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
            rows: ranking_rows(&d.counties),
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
            headers: &CASE_HEADERS,
            rows: case_rows(&d.report),
        },
        Sheet {
            name: "逾期交办件",
            headers: &CASE_HEADERS,
            rows: case_rows(&d.overdue),
        },
    ];
    xlsx::workbook("督查督办", &sheets).map_err(xlsx::internal)
}

const CASE_HEADERS: [&str; 6] = [
    "编号",
    "事项",
    "承办单位",
    "包案领导",
    "办结时限",
    "首次催办/督办",
];

/// The department ranking as rows.
fn ranking_rows(lines: &[DeptLine]) -> Vec<Vec<Cell>> {
    lines
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
        .collect()
}

/// The 包案领导 table as rows.
fn leader_rows(d: &Dashboard) -> Vec<Vec<Cell>> {
    d.leader_lines
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
        .collect()
}

/// A list of cases (通报, overdue) as rows.
fn case_rows(lines: &[CaseLine]) -> Vec<Vec<Cell>> {
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
}

/// POST `/cases/{id}/urge` (督办, supervisors): `transitions::urge` in one transaction. From the
/// case page the 督办意见 is required and the answer returns there; the lists' button has no text.
pub async fn urge(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Page {
    let from_case = f.from == "case";
    let mut errors = Errors::default();
    let min = usize::from(from_case);
    let text = form::text(
        &mut errors,
        "urge_text",
        "督办意见",
        &f.urge_text,
        min,
        1000,
    );
    if !errors.is_empty() {
        return refused(&state, &ctx, id, f, errors, "urge").await;
    }
    let within = ctx.user.as_ref().and_then(|u| u.jurisdiction_id);
    let urge = transitions::Urge {
        id,
        within,
        text: &text,
    };
    let (actor, now) = (ctx.actor(), state.clock.now());
    let mut tx = state.db.begin().await?;
    let code = transitions::urge(&mut tx, &state.keys, &urge, &actor, now).await?;
    tx.commit().await?;
    let back = match from_case {
        true => format!("/cases/{id}"),
        false => "/supervision".into(),
    };
    Ok(redirect_with_flash(
        &state,
        &back,
        &format!("已督办：{code}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_or_complain_beside_the_field() {
        let mut e = Errors::default();
        let f = parse_filter(
            &FilterForm {
                visit: "3".into(),
                month: "2026-11".into(),
                department: "".into(),
                leader: "x".into(),
                county: "".into(),
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
