//! `/audit`: the auditor reads the log in Chinese, with filters, and exports what the filter
//! finds (`/audit.xlsx`, itself audited). Nobody can change it.

use crate::admin::audit_search::{self, AuditEntry, AuditQuery, PAGE_SIZE};
use crate::audit::labels::{
    ACTIONS, GROUPS, OBJECTS, action_group, action_label, action_name, detail_lines, object_name,
};
use crate::clock::china_minute;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::export::{SameOrigin, fields};
use crate::web::form::{Errors, Form};
use crate::web::page::{Layout, Page, render_status};
use crate::web::xlsx::{self, Cell, Sheet};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Filter {
    /// An action code from the select; any other text is a prefix (`user.`), as links had it.
    action: String,
    actor: String,
    /// "", "ok" or "failed"
    outcome: String,
    object_type: String,
    object_id: String,
    from: String,
    to: String,
    page: i64,
}

struct Row {
    at: String,
    actor: String,
    role: String,
    ip: String,
    action: String,
    code: String,
    object: String,
    success: bool,
    detail: Vec<String>,
}

/// Options under one heading.
struct Group {
    label: &'static str,
    options: Vec<Opt>,
}

/// One option of a select.
struct Opt {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    filter: Filter,
    errors: Errors,
    /// A prefix from an older link, kept as an option of its own.
    prefix: Option<Opt>,
    actions: Vec<Group>,
    objects: Vec<Opt>,
    export_fields: Vec<(String, String)>,
    rows: Vec<Row>,
    total: i64,
    prev: Option<String>,
    next: Option<String>,
}

/// A Shanghai calendar date (as typed, trimmed) as the start of that day.
fn day_start(s: &str) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Shanghai
        .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
        .single()
        .map(|t| t.to_utc())
}

/// A date field: empty is any, a bad date an error beside it.
fn date_field(errors: &mut Errors, field: &'static str, s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let day = day_start(s);
    if day.is_none() {
        errors.add(field, "请按“年-月-日”填写日期，如 2026-03-01");
    }
    day
}

fn some(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

impl Filter {
    /// The query as the domain reads it; bad dates are errors beside their fields.
    fn query(&self, within: Option<i64>, errors: &mut Errors) -> AuditQuery<'_> {
        let action = some(&self.action);
        let known = action.is_some_and(|a| action_label(a).is_some());
        let from = date_field(errors, "from", &self.from);
        let to = date_field(errors, "to", &self.to);
        if matches!((from, to), (Some(f), Some(t)) if t < f) {
            errors.add("to", "截止日期不能早于起始日期");
        }
        AuditQuery {
            within,
            action: action.filter(|_| known),
            action_prefix: action.filter(|_| !known),
            actor: some(&self.actor),
            success: match self.outcome.as_str() {
                "ok" => Some(true),
                "failed" => Some(false),
                _ => None,
            },
            object_type: some(&self.object_type),
            object_id: some(&self.object_id),
            from,
            to: to.map(|t| t + chrono::Duration::days(1)),
        }
    }

    /// The filter's fields as chosen (the empty ones left out).
    fn pairs(&self) -> Vec<(String, String)> {
        fields(&[
            ("action", &self.action),
            ("actor", &self.actor),
            ("outcome", &self.outcome),
            ("object_type", &self.object_type),
            ("object_id", &self.object_id),
            ("from", &self.from),
            ("to", &self.to),
        ])
    }

    /// The same filter at another page.
    fn link(&self, page: i64) -> String {
        let mut pairs = self.pairs();
        pairs.push(("page".into(), page.to_string()));
        serde_urlencoded::to_string(pairs)
            .map(|q| format!("/audit?{q}"))
            .unwrap_or_default()
    }

    /// The actions to choose from, in their groups.
    fn action_groups(&self) -> Vec<Group> {
        GROUPS
            .iter()
            .map(|(label, _)| Group {
                label,
                options: ACTIONS
                    .iter()
                    .filter(|(code, _)| action_group(code) == Some(label))
                    .map(|(code, name)| Opt {
                        value: (*code).into(),
                        label: (*name).into(),
                        selected: *code == self.action.trim(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// An older link's prefix (`user.`), shown as the chosen option.
    fn prefix(&self) -> Option<Opt> {
        let chosen = self.action.trim();
        (!chosen.is_empty() && action_label(chosen).is_none()).then(|| Opt {
            value: chosen.into(),
            label: format!("代码以“{chosen}”开头的操作"),
            selected: true,
        })
    }

    fn object_options(&self) -> Vec<Opt> {
        OBJECTS
            .iter()
            .map(|(code, name)| Opt {
                value: (*code).into(),
                label: (*name).into(),
                selected: *code == self.object_type,
            })
            .collect()
    }
}

impl From<AuditEntry> for Row {
    fn from(e: AuditEntry) -> Self {
        Row {
            at: china_minute(e.at),
            actor: e.actor_name,
            role: e.role.map(|r| r.label().to_owned()).unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            action: action_name(&e.action).to_owned(),
            object: match (e.object_type, e.object_id) {
                (Some(t), Some(id)) => format!("{} #{id}", object_name(&t)),
                _ => String::new(),
            },
            code: e.action,
            success: e.success,
            detail: detail_lines(&e.detail),
        }
    }
}

pub async fn list(State(state): State<AppState>, ctx: Ctx, Query(mut f): Query<Filter>) -> Page {
    f.page = f.page.max(0);
    let within = ctx.user.as_ref().and_then(|u| u.jurisdiction_id);
    let mut errors = Errors::default();
    let q = f.query(within, &mut errors);
    let (total, entries) = match errors.is_empty() {
        true => audit_search::search(&state.db, &q, f.page).await?,
        false => (0, Vec::new()),
    };
    let status = match errors.is_empty() {
        true => StatusCode::OK,
        false => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let page = AuditPage {
        layout: ctx.layout("审计日志"),
        prefix: f.prefix(),
        actions: f.action_groups(),
        objects: f.object_options(),
        export_fields: f.pairs(),
        rows: entries.into_iter().map(Row::from).collect(),
        total,
        prev: (f.page > 0).then(|| f.link(f.page - 1)),
        next: ((f.page + 1) * PAGE_SIZE < total).then(|| f.link(f.page + 1)),
        filter: f,
        errors,
    };
    Ok(render_status(status, &page))
}

/// `POST /audit.xlsx`: every entry the filter finds (within the auditor's jurisdiction, as the
/// page), in the page's words; the export is itself an entry of the log.
pub async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    _: SameOrigin,
    Form(f): Form<Filter>,
) -> Result<Response, AppError> {
    let within = ctx.user.as_ref().and_then(|u| u.jurisdiction_id);
    let mut errors = Errors::default();
    let q = f.query(within, &mut errors);
    if let Some((_, message)) = errors.iter().next() {
        return Err(AppError::BadRequest(message.to_owned()));
    }
    let chosen: serde_json::Map<_, _> = f.pairs().into_iter().map(|(k, v)| (k, v.into())).collect();
    let detail = serde_json::json!({ "filter": chosen });
    let entries = audit_search::export(&state.db, &ctx.actor(), &q, detail).await?;
    let rows = entries.into_iter().map(|e| cells(Row::from(e))).collect();
    let sheet = Sheet {
        name: "审计日志",
        headers: &[
            "时间",
            "操作人",
            "角色",
            "IP",
            "操作",
            "操作代码",
            "对象",
            "结果",
            "详情",
        ],
        rows,
    };
    let bytes = xlsx::workbook("审计日志", &[sheet]).map_err(xlsx::internal)?;
    Ok(xlsx::attachment("audit-log.xlsx", bytes))
}

fn cells(r: Row) -> Vec<Cell> {
    let outcome = if r.success { "成功" } else { "失败" };
    vec![
        r.at.into(),
        r.actor.into(),
        r.role.into(),
        r.ip.into(),
        r.action.into(),
        r.code.into(),
        r.object.into(),
        outcome.into(),
        r.detail.join("\n").into(),
    ]
}
