//! `/audit`: the auditor reads the log, with filters. Nobody can change it.

use crate::clock::china_minute;
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::page::{Layout, Page, render};
use askama::Template;
use axum::extract::{Query, State};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;

const PAGE_SIZE: i64 = 50;

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

pub async fn list(State(state): State<AppState>, ctx: Ctx, Query(mut f): Query<Filter>) -> Page {
    f.page = f.page.max(0);
    let from = day_start(&f.from);
    let to = day_start(&f.to).map(|t| t + chrono::Duration::days(1));
    let success = match f.outcome.as_str() {
        "ok" => Some(true),
        "failed" => Some(false),
        _ => None,
    };
    let action = Some(f.action.trim()).filter(|s| !s.is_empty());
    let actor = Some(f.actor.trim()).filter(|s| !s.is_empty());
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_log
           WHERE ($1::text IS NULL OR action LIKE $1 || '%') AND ($2::text IS NULL OR actor_name = $2)
             AND ($3::bool IS NULL OR success = $3) AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)"#,
        action,
        actor,
        success,
        from,
        to
    )
    .fetch_one(&state.db)
    .await?;
    let rows = sqlx::query!(
        r#"SELECT at, actor_name, role, host(ip) AS ip, action, object_type, object_id, success, detail FROM audit_log
           WHERE ($1::text IS NULL OR action LIKE $1 || '%') AND ($2::text IS NULL OR actor_name = $2)
             AND ($3::bool IS NULL OR success = $3) AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
           ORDER BY at DESC, id DESC LIMIT $6 OFFSET $7"#,
        action,
        actor,
        success,
        from,
        to,
        PAGE_SIZE,
        f.page * PAGE_SIZE
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|r| Row {
        at: china_minute(r.at),
        actor: r.actor_name,
        role: r.role.and_then(|s| crate::web::auth::Role::parse(&s)).map(|r| r.label().to_owned()).unwrap_or_default(),
        ip: r.ip.unwrap_or_default(),
        action: r.action,
        object: match (r.object_type, r.object_id) {
            (Some(t), Some(id)) => format!("{t} #{id}"),
            _ => String::new(),
        },
        success: r.success,
        detail: if r.detail.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { r.detail.to_string() },
    })
    .collect();
    let link = |page: i64| {
        serde_urlencoded::to_string([
            ("action", f.action.as_str()),
            ("actor", f.actor.as_str()),
            ("outcome", f.outcome.as_str()),
            ("from", f.from.as_str()),
            ("to", f.to.as_str()),
            ("page", &page.to_string()),
        ])
        .map(|q| format!("/audit?{q}"))
        .unwrap_or_default()
    };
    let prev = (f.page > 0).then(|| link(f.page - 1));
    let next = ((f.page + 1) * PAGE_SIZE < total).then(|| link(f.page + 1));
    render(&AuditPage {
        layout: ctx.layout("审计日志"),
        filter: f,
        rows,
        total,
        prev,
        next,
    })
}
