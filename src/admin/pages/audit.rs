//! `/audit`: the auditor reads the log, with filters. Nobody can change it.

use crate::admin::audit_search::{self, AuditEntry, AuditQuery, PAGE_SIZE};
use crate::clock::china_minute;
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::page::{Layout, Page, render};
use askama::Template;
use axum::extract::{Query, State};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Filter {
    action: String,
    actor: String,
    /// "", "ok" or "failed"
    outcome: String,
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
    object: String,
    success: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    filter: Filter,
    rows: Vec<Row>,
    total: i64,
    prev: Option<String>,
    next: Option<String>,
}

/// A Shanghai calendar date as the start of that day; bad dates are ignored, not errors.
fn day_start(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    Shanghai
        .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
        .single()
        .map(|t| t.to_utc())
}

impl Filter {
    /// The query as the domain reads it: bad dates and unknown outcomes mean "any".
    fn query(&self, within: Option<i64>) -> AuditQuery<'_> {
        AuditQuery {
            within,
            action: Some(self.action.trim()).filter(|s| !s.is_empty()),
            actor: Some(self.actor.trim()).filter(|s| !s.is_empty()),
            success: match self.outcome.as_str() {
                "ok" => Some(true),
                "failed" => Some(false),
                _ => None,
            },
            from: day_start(&self.from),
            to: day_start(&self.to).map(|t| t + chrono::Duration::days(1)),
            page: self.page,
        }
    }

    /// The same filter at another page.
    fn link(&self, page: i64) -> String {
        serde_urlencoded::to_string([
            ("action", self.action.as_str()),
            ("actor", self.actor.as_str()),
            ("outcome", self.outcome.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("page", &page.to_string()),
        ])
        .map(|q| format!("/audit?{q}"))
        .unwrap_or_default()
    }
}

impl From<AuditEntry> for Row {
    fn from(e: AuditEntry) -> Self {
        Row {
            at: china_minute(e.at),
            actor: e.actor_name,
            role: e.role.map(|r| r.label().to_owned()).unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            action: e.action,
            object: match (e.object_type, e.object_id) {
                (Some(t), Some(id)) => format!("{t} #{id}"),
                _ => String::new(),
            },
            success: e.success,
            detail: if e.detail.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                e.detail.to_string()
            },
        }
    }
}

pub async fn list(State(state): State<AppState>, ctx: Ctx, Query(mut f): Query<Filter>) -> Page {
    f.page = f.page.max(0);
    let within = ctx.user.as_ref().and_then(|u| u.jurisdiction_id);
    let (total, entries) = audit_search::search(&state.db, &f.query(within)).await?;
    let rows = entries.into_iter().map(Row::from).collect();
    let prev = (f.page > 0).then(|| f.link(f.page - 1));
    let next = ((f.page + 1) * PAGE_SIZE < total).then(|| f.link(f.page + 1));
    render(&AuditPage {
        layout: ctx.layout("审计日志"),
        filter: f,
        rows,
        total,
        prev,
        next,
    })
}
