//! `/supervision/lists`: 三张清单 and cadence compliance (`lists::build`), on a page and one list
//! at a time as Excel.

use crate::audit::{self, Entry};
use crate::error::AppError;
use crate::followup::cadence::Lag;
use crate::followup::lists::{
    self, CADENCE_HEADERS, Filter, Item, Lists, RESPONSIBILITY_HEADERS, RISK_HEADERS, TASK_HEADERS,
};
use crate::followup::{dashboard, inbox};
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::export::{SameOrigin, hidden_fields};
use crate::web::form::{Choice, Form};
use crate::web::page::{Layout, Page, render};
use crate::web::xlsx::{self, Cell, Sheet};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

#[derive(Template)]
#[template(path = "followup/lists.html")]
struct ListsPage {
    layout: Layout,
    filter: Filter,
    /// The filters as hidden fields of the export forms.
    export_fields: Vec<(String, String)>,
    lists: Lists,
    visits: Vec<Choice>,
    departments: Vec<Choice>,
    /// The counties to drill into (a city's or province's account).
    counties: Vec<dashboard::Choice>,
}

async fn build(state: &AppState, ctx: &Ctx, filter: &Filter) -> anyhow::Result<Lists> {
    let (c, within) = (&state.config, within(ctx));
    lists::build(
        &state.db,
        within,
        filter,
        state.clock.now(),
        &c.lists,
        &c.cadence,
        &state.keys,
    )
    .await
}

/// The user's jurisdiction: what the lists cover.
fn within(ctx: &Ctx) -> Option<i64> {
    ctx.user.as_ref().and_then(|u| u.jurisdiction_id)
}

pub async fn page(State(state): State<AppState>, ctx: Ctx, Query(filter): Query<Filter>) -> Page {
    let lists = build(&state, &ctx, &filter).await?;
    let departments = inbox::department_choices(&state.db, within(&ctx)).await?;
    let visits = inbox::visit_choices(&state.db, within(&ctx)).await?;
    let counties = dashboard::county_choices(&state.db, within(&ctx)).await?;
    render(&ListsPage {
        layout: ctx.layout("三张清单"),
        export_fields: hidden_fields(&filter.query()),
        filter,
        lists,
        visits,
        departments,
        counties,
    })
}

fn status_text(i: &Item) -> String {
    if i.is_closed() {
        "已销号".into()
    } else if i.is_overdue() {
        format!("{}（逾期）", i.status)
    } else {
        i.status.to_owned()
    }
}

/// `POST /supervision/lists.xlsx` (`list=risk|task|responsibility|cadence`): one list as Excel,
/// audited; a POST from this site's page (DESIGN §7: the risk list names petitioners).
pub async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    _: SameOrigin,
    Form(filter): Form<Filter>,
) -> Result<Response, AppError> {
    let which = filter.list.trim().to_owned();
    if !["risk", "task", "responsibility", "cadence"].contains(&which.as_str()) {
        return Err(AppError::BadRequest("请选择要导出的清单".into()));
    }
    let lists = build(&state, &ctx, &filter).await?;
    let (name, headers, rows) = sheet(&which, &lists);
    let count = rows.len();
    let bytes = xlsx::workbook(
        name,
        &[Sheet {
            name,
            headers,
            rows,
        }],
    )
    .map_err(xlsx::internal)?;
    let detail = serde_json::json!({"list": which, "count": count, "filter": filter.query()});
    audit::record(
        &state.db,
        &ctx.actor(),
        Entry::ok("supervision.list.export").detail(detail),
    )
    .await?;
    Ok(xlsx::attachment(&format!("{which}.xlsx"), bytes))
}

/// The name, headers and rows of list `which`.
fn sheet(which: &str, lists: &Lists) -> (&'static str, &'static [&'static str], Vec<Vec<Cell>>) {
    let rows = |items: &[Item], row: fn(&Item) -> Vec<Cell>| items.iter().map(row).collect();
    match which {
        "risk" => ("风险清单", &RISK_HEADERS, rows(&lists.risk, risk_row)),
        "task" => ("任务清单", &TASK_HEADERS, rows(&lists.task, task_row)),
        "responsibility" => (
            "责任清单",
            &RESPONSIBILITY_HEADERS,
            rows(&lists.responsibility, responsibility_row),
        ),
        _ => (
            "下访频次",
            &CADENCE_HEADERS,
            lists.cadence.iter().map(cadence_row).collect(),
        ),
    }
}

fn risk_row(i: &Item) -> Vec<Cell> {
    vec![
        i.kind.into(),
        i.code.clone().into(),
        i.subject.clone().into(),
        i.visit.clone().into(),
        i.reasons_text().into(),
        i.department.clone().into(),
        i.leader.clone().into(),
        i.due_text().into(),
        status_text(i).into(),
        i.closed_text().into(),
    ]
}

fn task_row(i: &Item) -> Vec<Cell> {
    vec![
        i.code.clone().into(),
        i.subject.clone().into(),
        i.visit.clone().into(),
        status_text(i).into(),
        i.department.clone().into(),
        i.due_text().into(),
        i.closed_text().into(),
    ]
}

fn responsibility_row(i: &Item) -> Vec<Cell> {
    vec![
        i.department.clone().into(),
        i.co_departments.clone().into(),
        i.leader.clone().into(),
        i.code.clone().into(),
        i.subject.clone().into(),
        i.due_text().into(),
        i.closed_text().into(),
    ]
}

fn cadence_row(l: &Lag) -> Vec<Cell> {
    vec![
        l.name.clone().into(),
        l.title.clone().into(),
        l.level.into(),
        i64::from(l.months).into(),
        l.last_visit.clone().into(),
        l.due.clone().into(),
    ]
}
