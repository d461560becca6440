//! `/staff/visits/{id}/registrations`: triage's list, with filters, a search, counts by status
//! and bulk actions (`triage_bulk`).

use crate::error::AppError;
use crate::prepare::triage_list::*;
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::auth::Role;
use crate::web::export::hidden_fields;
use crate::web::form::{Choice, Errors};
use crate::web::page::{Layout, Page, render_status};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

/// A status's count above the list, linking to the list of that status.
pub struct StatusLink {
    label: &'static str,
    count: i64,
    href: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "prepare/registrations.html")]
pub struct ListPage {
    layout: Layout,
    visit_id: i64,
    visit_title: String,
    filter: Filter,
    /// The filter as a query string, carried by the links to each registration.
    base: String,
    rows: Vec<Row>,
    batches: i64,
    persons: i64,
    by_status: Vec<StatusLink>,
    /// Submitted ones of the list that a bulk 确认 takes (no pending flag), and those it leaves.
    confirmable: usize,
    flagged: usize,
    windows: Vec<Choice>,
    categories: Vec<Choice>,
    townships: Vec<String>,
    statuses: Vec<(&'static str, &'static str)>,
    /// The filters as hidden fields of the export forms (exports are POSTs, DESIGN §7).
    export_fields: Vec<(String, String)>,
    can_full_export: bool,
    can_act: bool,
    /// The full export's reason as typed.
    reason: String,
    /// Ticked rows and the 驳回 reason as typed (a bulk action refused).
    selected: Vec<i64>,
    reject_reason: String,
    errors: Errors,
    prev: Option<String>,
    next: Option<String>,
    page_no: i64,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(visit_id): Path<i64>,
    Query(filter): Query<Filter>,
) -> Page {
    let page = list_page(&state, &ctx, visit_id, filter, Errors::default()).await?;
    Ok(render_status(StatusCode::OK, &page))
}

/// The list again after a full export asked without a reason: the error beside the field, the
/// filters and what was typed kept (422).
pub async fn full_export_refused(
    state: &AppState,
    ctx: &Ctx,
    visit_id: i64,
    filter: Filter,
    errors: Errors,
) -> Page {
    let page = list_page(state, ctx, visit_id, filter, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn list_page(
    state: &AppState,
    ctx: &Ctx,
    visit_id: i64,
    filter: Filter,
    errors: Errors,
) -> Result<ListPage, AppError> {
    let visit_title = visit_title(&state.db, visit_id).await?;
    let p = filter.parse();
    let all = matching(&state.db, &state.keys, visit_id, &p).await?;
    let by_status = by_status(&all)
        .into_iter()
        .map(|(status, label, count)| StatusLink {
            label,
            count,
            href: list_url(
                visit_id,
                &Filter {
                    status: status.into(),
                    ..filter.clone()
                },
            ),
            current: p.status == Some(status),
        })
        .collect();
    let list = listed(all, p.status);
    let (batches, persons) = tally(&list);
    let submitted = || list.iter().filter(|m| m.status == "submitted");
    let ids: Vec<i64> = list
        .iter()
        .skip((p.page * PAGE_SIZE) as usize)
        .take(PAGE_SIZE as usize)
        .map(|m| m.id)
        .collect();
    let base = filter.query();
    let link = |page: i64| format!("/staff/visits/{visit_id}/registrations?{base}&page={page}");
    let role = ctx.user.as_ref().map(|u| u.role);
    Ok(ListPage {
        layout: ctx.layout("来访登记"),
        visit_id,
        visit_title,
        export_fields: hidden_fields(&base),
        reason: filter.reason.clone(),
        prev: (p.page > 0).then(|| link(p.page - 1)),
        next: ((p.page + 1) * PAGE_SIZE < batches).then(|| link(p.page + 1)),
        rows: fetch_rows(&state.db, &ids).await?,
        confirmable: submitted().filter(|m| !m.pending).count(),
        flagged: submitted().filter(|m| m.pending).count(),
        filter,
        base,
        batches,
        persons,
        by_status,
        windows: window_choices(&state.db, visit_id).await?,
        categories: category_choices(&state.db).await?,
        townships: townships(&state.db, visit_id).await?,
        statuses: statuses(),
        can_full_export: role.is_some_and(may_unmask),
        can_act: role == Some(Role::Staff),
        selected: Vec::new(),
        reject_reason: String::new(),
        errors,
        page_no: p.page + 1,
    })
}

impl ListPage {
    fn is_selected(&self, id: &i64) -> bool {
        self.selected.contains(id)
    }
    /// A bulk 驳回 refused: the rows stay ticked and the reason typed.
    pub fn keeping(mut self, selected: Vec<i64>, reason: String) -> Self {
        self.selected = selected;
        self.reject_reason = reason;
        self
    }
}

/// The list under `filter`.
pub fn list_url(visit_id: i64, filter: &Filter) -> String {
    format!("/staff/visits/{visit_id}/registrations?{}", filter.query())
}
