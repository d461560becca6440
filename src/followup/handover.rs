//! 离任交接 `/leaders/{id}/handover`: every open case a departing leader owns moves to a successor
//! in one transaction, with a record of exactly what moved (新官要理旧账).

use crate::admin::{Choice, opt_id};
use crate::audit::{self, Entry};
use crate::clock::china_minute;
use crate::error::AppError;
use crate::followup::cases;
use crate::state::AppState;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

/// Open cases (a handover moves these): the deadline states and a running 复查.
const OPEN: [&str; 5] = [
    "assigned",
    "accepted",
    "returned",
    "closure_submitted",
    "in_review",
];

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct HandoverForm {
    successor_id: String,
    note: String,
}

struct OpenCase {
    id: i64,
    code: String,
    title: String,
    status: String,
}

impl OpenCase {
    fn status_label(&self) -> &'static str {
        crate::followup::state::State::parse(&self.status)
            .map(|s| s.label())
            .unwrap_or("")
    }
}

struct Record {
    id: i64,
    at: String,
    from: String,
    to: String,
    by: String,
    note: String,
    cases: Vec<(i64, String)>,
}

#[derive(Template)]
#[template(path = "followup/handover.html")]
struct HandoverPage {
    layout: Layout,
    leader_id: i64,
    leader: String,
    open: Vec<OpenCase>,
    successors: Vec<Choice>,
    records: Vec<Record>,
    form: HandoverForm,
    errors: Errors,
}

async fn page(
    state: &AppState,
    ctx: &Ctx,
    leader_id: i64,
    form: HandoverForm,
    errors: Errors,
) -> Result<HandoverPage, AppError> {
    let leader = sqlx::query_scalar!(
        r#"SELECT name || '（' || title || '）' AS "n!" FROM leaders WHERE id = $1"#,
        leader_id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    let open_states: Vec<String> = OPEN.iter().map(|s| s.to_string()).collect();
    let open = sqlx::query_as!(
        OpenCase,
        "SELECT id, code, title, status FROM cases WHERE owner_leader_id = $1 AND status = ANY($2) ORDER BY id",
        leader_id,
        &open_states
    )
    .fetch_all(&state.db)
    .await?;
    let successors = sqlx::query_as!(
        Choice,
        r#"SELECT id, name || '（' || title || '）' AS "label!" FROM leaders WHERE active AND id <> $1 ORDER BY name"#,
        leader_id
    )
    .fetch_all(&state.db)
    .await?;
    let rows = sqlx::query!(
        r#"SELECT h.id, h.at, h.note, f.name AS from_name, t.name AS to_name, u.display_name AS by_name,
                  ARRAY(SELECT c.id FROM handover_cases hc JOIN cases c ON c.id = hc.case_id WHERE hc.handover_id = h.id ORDER BY c.id) AS "case_ids!",
                  ARRAY(SELECT c.code FROM handover_cases hc JOIN cases c ON c.id = hc.case_id WHERE hc.handover_id = h.id ORDER BY c.id) AS "case_codes!"
           FROM handovers h JOIN leaders f ON f.id = h.from_leader_id JOIN leaders t ON t.id = h.to_leader_id JOIN users u ON u.id = h.performed_by
           WHERE h.from_leader_id = $1 OR h.to_leader_id = $1 ORDER BY h.at DESC, h.id DESC"#,
        leader_id
    )
    .fetch_all(&state.db)
    .await?;
    let records = rows
        .into_iter()
        .map(|r| Record {
            id: r.id,
            at: china_minute(r.at),
            from: r.from_name,
            to: r.to_name,
            by: r.by_name,
            note: r.note,
            cases: r.case_ids.into_iter().zip(r.case_codes).collect(),
        })
        .collect();
    Ok(HandoverPage {
        layout: ctx.layout(&format!("离任交接：{leader}")),
        leader_id,
        leader,
        open,
        successors,
        records,
        form,
        errors,
    })
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(&page(&state, &ctx, id, HandoverForm::default(), Errors::default()).await?)
}

pub async fn perform(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(from): Path<i64>,
    Form(f): Form<HandoverForm>,
) -> Page {
    let user = ctx.user.clone().ok_or(AppError::Forbidden)?;
    let mut errors = Errors::default();
    let note = text(&mut errors, "note", "交接说明", &f.note, 0, 1000);
    let to = opt_id(&f.successor_id).filter(|to| *to != from);
    let to = match to {
        Some(to)
            if sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM leaders WHERE id = $1 AND active) AS "e!""#,
                to
            )
            .fetch_one(&state.db)
            .await? =>
        {
            Some(to)
        }
        _ => {
            errors.add("successor_id", "请选择接任领导（不能是本人）");
            None
        }
    };
    let Some(to) = to.filter(|_| errors.is_empty()) else {
        let p = page(&state, &ctx, from, f, errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p));
    };
    let now = state.clock.now();
    let open_states: Vec<String> = OPEN.iter().map(|s| s.to_string()).collect();
    let mut tx = state.db.begin().await?;
    sqlx::query_scalar!("SELECT id FROM leaders WHERE id = $1", from)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    // The row locks hold off concurrent transitions; they then see a bumped version (409).
    let moved: Vec<i64> = sqlx::query_scalar!(
        "UPDATE cases SET owner_leader_id = $2 WHERE id IN (SELECT id FROM cases WHERE owner_leader_id = $1 AND status = ANY($3) FOR UPDATE)
         RETURNING id",
        from,
        to,
        &open_states
    )
    .fetch_all(&mut *tx)
    .await?;
    let handover = sqlx::query_scalar!(
        "INSERT INTO handovers (from_leader_id, to_leader_id, performed_by, at, note) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        from,
        to,
        user.id,
        now,
        note
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO handover_cases (handover_id, case_id) SELECT $1, unnest($2::bigint[])",
        handover,
        &moved
    )
    .execute(&mut *tx)
    .await?;
    for id in &moved {
        let data = json!({ "from_leader_id": from, "to_leader_id": to, "handover_id": handover });
        cases::event(
            &mut *tx,
            *id,
            "handed_over",
            Some(user.id),
            now,
            &note,
            data,
        )
        .await?;
    }
    let detail = json!({ "from_leader_id": from, "to_leader_id": to, "cases": moved });
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("leader.handover")
            .on("handover", handover)
            .detail(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/leaders/{from}/handover"),
        &format!("已完成离任交接，移交交办件 {} 件。", moved.len()),
    ))
}
