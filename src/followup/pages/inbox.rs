//! `/cases` (all cases the user may see, with filters), its .xlsx export, and `/dept/cases` (a
//! handler's inbox by section). The rows are `inbox::lines` and `inbox::sections`.

use crate::audit::{self, Entry};
use crate::clock::china_date;
use crate::error::AppError;
use crate::followup::inbox::{self, EXPORT_HEADERS, Filter, Line, Section};
use crate::followup::state::State as CaseState;
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::export::{SameOrigin, fields};
use crate::web::form::{Choice, Form};
use crate::web::page::{Layout, Page, render};
use crate::web::xlsx::{self, Cell, Sheet};
use askama::Template;
use axum::extract::{Query, State};

#[derive(Template)]
#[template(path = "followup/cases.html")]
struct ListPage {
    layout: Layout,
    lines: Vec<Line>,
    /// More cases match than the page shows.
    more: bool,
    filter: Filter,
    /// The filters as hidden fields of the export form (exports are POSTs, DESIGN §7).
    export_fields: Vec<(String, String)>,
    statuses: Vec<(&'static str, &'static str)>,
    departments: Vec<Choice>,
    leaders: Vec<Choice>,
    visits: Vec<Choice>,
}

/// Rows on the `/cases` page (newest first) and in its export.
const PAGE_ROWS: i64 = 200;
const EXPORT_ROWS: i64 = 10_000;

/// The newest `limit` cases the user may see under `filter`, and whether there are more.
async fn fetch_lines(
    state: &AppState,
    ctx: &Ctx,
    filter: &Filter,
    limit: i64,
) -> Result<(Vec<Line>, bool), AppError> {
    let user = ctx.user.as_ref().ok_or(AppError::Forbidden)?;
    let today = china_date(state.clock.now());
    Ok(inbox::lines(&state.db, user, filter, today, limit).await?)
}

pub async fn list(State(state): State<AppState>, ctx: Ctx, Query(filter): Query<Filter>) -> Page {
    let (lines, more) = fetch_lines(&state, &ctx, &filter, PAGE_ROWS).await?;
    let within = ctx.user.as_ref().and_then(|u| u.jurisdiction_id);
    let departments = inbox::department_choices(&state.db, within).await?;
    let leaders = inbox::leader_choices(&state.db, within).await?;
    let visits = inbox::visit_choices(&state.db, within).await?;
    render(&ListPage {
        layout: ctx.layout("交办件"),
        lines,
        more,
        export_fields: fields(&[
            ("status", &filter.status),
            ("department", &filter.department),
            ("leader", &filter.leader),
            ("visit", &filter.visit),
            ("overdue", &filter.overdue),
            ("dissatisfied", &filter.dissatisfied),
        ]),
        filter,
        statuses: CaseState::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        departments,
        leaders,
        visits,
    })
}

/// One case as a row of the export.
fn export_row(l: &Line) -> Vec<Cell> {
    let left = match l.days_left {
        Some(n) if l.overdue => format!("逾期 {}", -n),
        Some(n) => n.to_string(),
        None => String::new(),
    };
    vec![
        l.code.clone().into(),
        l.title.clone().into(),
        l.status.into(),
        l.department.clone().into(),
        l.leader.clone().into(),
        l.due.clone().into(),
        left.into(),
    ]
}

/// `POST /cases.xlsx`: the `/cases` list with the same filters and scope, as Excel; audited; a
/// POST from this site's page (DESIGN §7).
pub async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    _: SameOrigin,
    Form(filter): Form<Filter>,
) -> Result<axum::response::Response, AppError> {
    let (lines, more) = fetch_lines(&state, &ctx, &filter, EXPORT_ROWS).await?;
    let mut rows: Vec<Vec<Cell>> = lines.iter().map(export_row).collect();
    if more {
        rows.push(vec![
            format!("仅导出最新 {EXPORT_ROWS} 件；请按条件筛选后分批导出。").into(),
        ]);
    }
    let bytes = xlsx::workbook(
        "交办件",
        &[Sheet {
            name: "交办件",
            headers: &EXPORT_HEADERS,
            rows,
        }],
    )
    .map_err(xlsx::internal)?;
    let detail = serde_json::json!({"count": lines.len(), "status": filter.status, "department": filter.department, "leader": filter.leader, "visit": filter.visit});
    audit::record(
        &state.db,
        &ctx.actor(),
        Entry::ok("case.export").detail(detail),
    )
    .await?;
    Ok(xlsx::attachment("cases.xlsx", bytes))
}

#[derive(Template)]
#[template(path = "followup/inbox.html")]
struct InboxPage {
    layout: Layout,
    department: String,
    sections: Vec<Section>,
}

/// `/dept/cases`: the department's running cases by section.
pub async fn inbox(State(state): State<AppState>, ctx: Ctx) -> Page {
    let user = ctx.user.clone().ok_or(AppError::Forbidden)?;
    let department_id = user.department_id.ok_or(AppError::NotFound)?;
    let department =
        sqlx::query_scalar!("SELECT name FROM departments WHERE id = $1", department_id)
            .fetch_one(&state.db)
            .await?;
    let today = china_date(state.clock.now());
    render(&InboxPage {
        layout: ctx.layout("本单位交办件"),
        department,
        sections: inbox::sections(&state.db, department_id, today).await?,
    })
}
