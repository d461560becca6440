//! `/reports/visits/{id}` (and `.xlsx`): the Pujiang table of one visit, `reports::visit::load`.

use crate::audit::{self, Entry};
use crate::error::AppError;
use crate::followup::scoring::pct;
use crate::reports::hourly::{self, Chart};
use crate::reports::visit::{Report, load};
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::page::{Layout, render};
use crate::web::xlsx::{self, Cell, Sheet};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "reports/visit.html")]
struct ReportPage {
    layout: Layout,
    chart: Chart,
    r: Report,
}

/// `GET /reports/visits/{id}` and `GET /reports/visits/{id}.xlsx` (one route: the router matches
/// whole path segments only).
pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (id, excel) = match id.strip_suffix(".xlsx") {
        Some(n) => (n, true),
        None => (id.as_str(), false),
    };
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let within = ctx.user.as_ref().and_then(|u| u.jurisdiction_id);
    let r = load(&state.db, id, within).await?;
    if !excel {
        return Ok(render(&ReportPage {
            layout: ctx.layout("下访活动报表"),
            chart: hourly::chart(&r.hours),
            r,
        })
        .into_response());
    }
    let bytes = workbook(&r)?;
    audit::record(
        &state.db,
        &ctx.actor(),
        Entry::ok("report.export").on("visit", id),
    )
    .await?;
    Ok(xlsx::attachment(&format!("visit-{id}-report.xlsx"), bytes))
}

/// The report as a workbook: the summary, by room, by department.
fn workbook(r: &Report) -> Result<Vec<u8>, AppError> {
    let summary = Sheet {
        name: "汇总",
        headers: &["指标", "数值"],
        rows: r
            .total
            .lines()
            .into_iter()
            .map(|(k, v)| vec![Cell::from(k), Cell::from(v)])
            .collect(),
    };
    let rooms = Sheet {
        name: "按接待室",
        headers: &["接待室", "接待批次", "接待人次", "当场解决", "交办"],
        rows: r
            .rooms
            .iter()
            .map(|b| {
                vec![
                    b.name.clone().into(),
                    b.counts.received.into(),
                    b.counts.persons.into(),
                    b.counts.resolved_on_spot.into(),
                    b.counts.assigned.into(),
                ]
            })
            .collect(),
    };
    let departments = Sheet {
        name: "按承办单位",
        headers: &[
            "承办单位",
            "交办",
            "已办结",
            "按期办结",
            "按期办结率",
            "满意率",
        ],
        rows: r
            .departments
            .iter()
            .map(|b| {
                vec![
                    b.name.clone().into(),
                    b.counts.assigned.into(),
                    b.counts.closed.into(),
                    b.counts.on_time.into(),
                    pct(b.counts.on_time_rate()).into(),
                    pct(b.counts.satisfaction()).into(),
                ]
            })
            .collect(),
    };
    xlsx::workbook(&r.title, &[summary, rooms, departments]).map_err(xlsx::internal)
}
