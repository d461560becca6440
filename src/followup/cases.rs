//! `/cases/{id}`: the case file and its transitions (DESIGN §4, §5). Every transition is one
//! transaction: a version-checked UPDATE (0 rows → 409), a case event, an audit row and, where
//! the citizen is told, a queued notification. The rules are `state::next`.

use crate::audit::{self, Entry};
use crate::clock::{china_date, china_minute, cn_date};
use crate::error::AppError;
use crate::followup::state::{self, Action, Facts, Party, Side, State as CaseState};
use crate::followup::workdays::Calendar;
use crate::followup::{CaseRules, assign};
use crate::notify;
use crate::state::AppState;
use crate::web::auth::{CurrentUser, Role};
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgExecutor;

pub const STALE: &str = "该交办件已被他人更新，请刷新后重试";

/// What the rules need to know about a case.
pub struct CaseRow {
    pub id: i64,
    pub code: String,
    pub status: String,
    pub lead_department_id: i64,
    pub co_department_ids: Vec<i64>,
    pub owner_leader_id: i64,
    pub deadline_days: i32,
    pub accept_due_on: NaiveDate,
    pub acceptance_notified_at: Option<DateTime<Utc>>,
    pub due_on: Option<NaiveDate>,
    pub closure_submitted_by: Option<i64>,
    pub closed_at: Option<DateTime<Utc>>,
    pub rating: Option<String>,
    pub version: i32,
    pub last_extension_event: Option<String>,
    pub pending_extension_days: Option<i32>,
    pub reviews: i64,
    pub last_review_decided_at: Option<DateTime<Utc>>,
}

pub async fn load(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<CaseRow>> {
    sqlx::query_as!(
        CaseRow,
        r#"SELECT c.id, c.code, c.status, c.lead_department_id, c.owner_leader_id, c.deadline_days, c.accept_due_on,
                  c.acceptance_notified_at, c.due_on, c.closure_submitted_by, c.closed_at, c.rating, c.version,
                  ARRAY(SELECT department_id FROM case_departments WHERE case_id = c.id) AS "co_department_ids!",
                  (SELECT e.kind FROM case_events e WHERE e.case_id = c.id
                       AND e.kind IN ('extension_requested', 'extension_approved', 'extension_refused')
                   ORDER BY e.at DESC, e.id DESC LIMIT 1) AS last_extension_event,
                  (SELECT (e.data->>'days')::int FROM case_events e WHERE e.case_id = c.id AND e.kind = 'extension_requested'
                   ORDER BY e.id DESC LIMIT 1) AS pending_extension_days,
                  (SELECT count(*) FROM reviews r WHERE r.case_id = c.id) AS "reviews!",
                  (SELECT max(r.decided_at) FROM reviews r WHERE r.case_id = c.id) AS last_review_decided_at
           FROM cases c WHERE c.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

impl CaseRow {
    pub fn state(&self) -> CaseState {
        CaseState::parse(&self.status).unwrap_or(CaseState::Accepted)
    }

    /// How the user stands to the case; None: they may not see it (→ 404).
    pub fn side_of(&self, user: &CurrentUser) -> Option<Side> {
        match user.role {
            Role::Staff => Some(Side::Staff),
            Role::Supervisor => Some(Side::Supervisor),
            Role::Leader => {
                (user.leader_id == Some(self.owner_leader_id)).then_some(Side::OwnerLeader)
            }
            Role::Handler => match user.department_id {
                Some(d) if d == self.lead_department_id => Some(Side::LeadHandler),
                Some(d) if self.co_department_ids.contains(&d) => Some(Side::CoHandler),
                _ => None,
            },
            Role::Sysadmin | Role::Auditor => None,
        }
    }

    pub fn facts(&self, today: NaiveDate, rules: &CaseRules) -> Facts {
        let review_from = if self.reviews == 0 {
            self.closed_at
        } else {
            self.last_review_decided_at
        };
        Facts {
            within_accept: today <= self.accept_due_on,
            extension_requested: self.last_extension_event.is_some(),
            extension_pending: self.last_extension_event.as_deref() == Some("extension_requested"),
            acceptance_notified: self.acceptance_notified_at.is_some(),
            dissatisfied: self.rating.as_deref() == Some("dissatisfied"),
            rated: self.rating.is_some(),
            reviews: self.reviews.clamp(0, 2) as u8,
            within_review: review_from
                .is_some_and(|t| today <= china_date(t) + Duration::days(rules.review_d)),
        }
    }
}

/// The URL slug of each action (`POST /cases/{id}/{slug}`).
pub fn slug(a: Action) -> &'static str {
    match a {
        Action::Accept => "accept",
        Action::Return => "return",
        Action::Reassign => "reassign",
        Action::Progress => "progress",
        Action::RequestExtension => "extend",
        Action::ApproveExtension => "approve-extension",
        Action::RefuseExtension => "refuse-extension",
        Action::NotifyAcceptance => "notify-acceptance",
        Action::Submit => "submit",
        Action::Approve => "approve",
        Action::Reject => "reject",
        Action::Rate => "rate",
        Action::Reopen => "reopen",
        Action::RequestReview => "review",
        Action::DecideReview(_) => "decide-review",
    }
}

pub fn result_label(r: &str) -> &'static str {
    match r {
        "resolved" => "已解决",
        "partly" => "部分解决",
        "explained" => "已解释说明",
        "unresolved" => "未解决",
        _ => "",
    }
}

pub const RESULTS: [(&str, &str); 4] = [
    ("resolved", "已解决"),
    ("partly", "部分解决"),
    ("explained", "已解释说明"),
    ("unresolved", "未解决"),
];

pub fn rating_label(r: &str) -> &'static str {
    match r {
        "satisfied" => "满意",
        "basically_satisfied" => "基本满意",
        "dissatisfied" => "不满意",
        _ => "",
    }
}

pub fn event_label(kind: &str) -> &'static str {
    match kind {
        "assigned" => "交办",
        "accepted" => "签收",
        "returned" => "退回",
        "progress" => "办理进展",
        "extension_requested" => "申请延期",
        "extension_approved" => "批准延期",
        "extension_refused" => "不予延期",
        "acceptance_notified" => "告知受理",
        "closure_submitted" => "申请办结",
        "closure_approved" => "审核通过",
        "closure_rejected" => "退回重办",
        "reminded" => "到期提醒",
        "auto_urged" => "催办",
        "urged" => "督办",
        "rated" => "群众评价",
        "reopened" => "重办",
        "review_requested" => "申请复查",
        "review_decided" => "复查结论",
        "terminated" => "终结",
        "handed_over" => "离任交接",
        "reassigned" => "重新交办",
        _ => "记录",
    }
}

/// Every field of every action form; each action reads its own (names are unique on the page).
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct ActionForm {
    pub version: String,
    pub return_reason: String,
    pub progress_text: String,
    pub extension_days: String,
    pub extension_reason: String,
    pub decision_note: String,
    pub result: String,
    pub reply: String,
    pub reject_reason: String,
    pub reopen_reason: String,
    pub review_text: String,
    pub decision: String,
    pub department_id: String,
}

/// The checked input of one action.
#[derive(Default)]
struct Input {
    text: String,
    days: i32,
    result: String,
    upheld: bool,
    department_id: i64,
}

fn validate(action: Action, f: &ActionForm, rules: &CaseRules, errors: &mut Errors) -> Input {
    let mut i = Input::default();
    match action {
        Action::Return => {
            i.text = text(
                errors,
                "return_reason",
                "退回理由",
                &f.return_reason,
                1,
                1000,
            )
        }
        Action::Progress => {
            i.text = text(
                errors,
                "progress_text",
                "办理进展",
                &f.progress_text,
                1,
                2000,
            )
        }
        Action::RequestExtension => {
            match f.extension_days.trim().parse::<i32>() {
                Ok(d) if (1..=rules.max_extension_d).contains(&d) => i.days = d,
                _ => errors.add(
                    "extension_days",
                    format!("延期天数须为 1–{} 天", rules.max_extension_d),
                ),
            }
            i.text = text(
                errors,
                "extension_reason",
                "延期理由",
                &f.extension_reason,
                1,
                1000,
            );
        }
        Action::Submit => {
            if RESULTS.iter().all(|(v, _)| *v != f.result) {
                errors.add("result", "请选择办理结果");
            }
            i.result = f.result.clone();
            i.text = text(errors, "reply", "答复意见", &f.reply, 1, 5000);
        }
        Action::Reject => {
            i.text = text(
                errors,
                "reject_reason",
                "退回重办理由",
                &f.reject_reason,
                1,
                1000,
            )
        }
        Action::Reopen => {
            i.text = text(
                errors,
                "reopen_reason",
                "重办理由",
                &f.reopen_reason,
                1,
                1000,
            )
        }
        Action::RequestReview => {
            i.text = text(errors, "review_text", "复查请求", &f.review_text, 1, 2000)
        }
        Action::DecideReview(_) => {
            match f.decision.as_str() {
                "upheld" => i.upheld = true,
                "overturned" => i.upheld = false,
                _ => errors.add("decision", "请选择复查结论"),
            }
            i.text = text(errors, "decision_note", "说明", &f.decision_note, 0, 2000);
        }
        Action::Reassign => match crate::admin::opt_id(&f.department_id) {
            Some(d) => i.department_id = d,
            None => errors.add("department_id", "请选择新的主办单位"),
        },
        _ => i.text = text(errors, "decision_note", "说明", &f.decision_note, 0, 2000),
    }
    i
}

async fn citizen_of(db: impl PgExecutor<'_>, case_id: i64) -> sqlx::Result<Option<(i64, String)>> {
    let r = sqlx::query!(
        r#"SELECT r.id, r.phone_mask FROM cases c
           LEFT JOIN issues i ON i.id = c.issue_id LEFT JOIN receptions rc ON rc.id = i.reception_id
           JOIN registrations r ON r.id = rc.registration_id OR (c.survey_item_id IS NOT NULL AND r.survey_item_id = c.survey_item_id)
           WHERE c.id = $1 LIMIT 1"#,
        case_id
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| (r.id, r.phone_mask.unwrap_or_else(|| "来访群众".into()))))
}

/// Queue a message to the citizen behind a case, if there is one with a phone.
pub async fn tell_citizen(
    conn: &mut sqlx::PgConnection,
    case_id: i64,
    kind: &str,
    body: String,
) -> sqlx::Result<()> {
    if let Some((reg, mask)) = citizen_of(&mut *conn, case_id).await? {
        let m = notify::Message {
            registration_id: Some(reg),
            user_id: None,
            recipient_mask: &mask,
            kind,
            params: json!({ "case_id": case_id }),
            body,
        };
        notify::queue(&mut *conn, m).await?;
    }
    Ok(())
}

pub async fn event(
    db: impl PgExecutor<'_>,
    case_id: i64,
    kind: &str,
    actor: Option<i64>,
    at: DateTime<Utc>,
    text: &str,
    data: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query!("INSERT INTO case_events (case_id, kind, actor_id, at, text, data) VALUES ($1, $2, $3, $4, $5, $6)", case_id, kind, actor, at, text, data)
        .execute(db)
        .await?;
    Ok(())
}

fn check_version(row: &CaseRow, f: &ActionForm) -> Result<(), AppError> {
    if f.version.trim().parse::<i32>().ok() != Some(row.version) {
        return Err(AppError::Conflict(STALE.into()));
    }
    Ok(())
}

/// One transition over HTTP.
async fn act(state: &AppState, ctx: &Ctx, id: i64, action: Action, f: ActionForm) -> Page {
    let user = ctx.user.clone().ok_or(AppError::Forbidden)?;
    let row = load(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let side = row.side_of(&user).ok_or(AppError::NotFound)?;
    check_version(&row, &f)?;
    let now = state.clock.now();
    let today = china_date(now);
    let rules = &state.config.case_rules;
    let party = Party {
        side,
        is_submitter: row.closure_submitted_by == Some(user.id),
    };
    let mut errors = Errors::default();
    let action = match action {
        Action::DecideReview(_) => Action::DecideReview(f.decision == "upheld"),
        a => a,
    };
    let to = match state::next(row.state(), action, &party, &row.facts(today, rules)) {
        Ok(to) => to,
        Err(refusal) => {
            errors.add("action", refusal.0);
            let page = case_page(state, ctx, id, f, errors, slug(action)).await?;
            return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let input = validate(action, &f, rules, &mut errors);
    if action == Action::Reassign && errors.is_empty() {
        let ok = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM departments WHERE id = $1 AND active) AS "e!""#,
            input.department_id
        )
        .fetch_one(&state.db)
        .await?;
        if !ok {
            errors.add("department_id", "请选择新的主办单位");
        }
    }
    if !errors.is_empty() {
        let page = case_page(state, ctx, id, f, errors, slug(action)).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let mut tx = state.db.begin().await?;
    let (v, to_s) = (row.version, to.as_str());
    let mut data = json!({ "from": row.status, "to": to_s });
    let mut flash = format!("已{}。", action.label());
    let n = match action {
        Action::Accept => {
            let due = today + Duration::days(i64::from(row.deadline_days));
            data["due_on"] = json!(due);
            flash = format!("已签收，办结时限 {}。", cn_date(due));
            sqlx::query!("UPDATE cases SET status = $3, accepted_at = $4, due_on = $5 WHERE id = $1 AND version = $2", id, v, to_s, now, due)
                .execute(&mut *tx)
                .await?
        }
        Action::Reassign => {
            let calendar = Calendar::load(&mut *tx, today).await?;
            let due = assign::accept_due_on(&calendar, rules, now);
            data["lead_department_id"] = json!(input.department_id);
            data["previous_department_id"] = json!(row.lead_department_id);
            sqlx::query!("DELETE FROM case_departments WHERE case_id = $1 AND department_id = $2", id, input.department_id).execute(&mut *tx).await?;
            sqlx::query!(
                "UPDATE cases SET status = $3, lead_department_id = $4, assigned_at = $5, assigned_by = $6, accept_due_on = $7
                 WHERE id = $1 AND version = $2",
                id,
                v,
                to_s,
                input.department_id,
                now,
                user.id,
                due
            )
            .execute(&mut *tx)
            .await?
        }
        Action::RequestExtension => {
            data["days"] = json!(input.days);
            flash = "已申请延期，待督查人员审批。".into();
            sqlx::query!("UPDATE cases SET status = $3 WHERE id = $1 AND version = $2", id, v, to_s).execute(&mut *tx).await?
        }
        Action::ApproveExtension => {
            let days = row.pending_extension_days.unwrap_or(1).clamp(1, rules.max_extension_d);
            data["days"] = json!(days);
            let n = sqlx::query!(
                "UPDATE cases SET extension_days = $3, extended_due_on = due_on + $3::int WHERE id = $1 AND version = $2",
                id,
                v,
                days
            )
            .execute(&mut *tx)
            .await?;
            let due = row.due_on.map(|d| d + Duration::days(i64::from(days)));
            if let Some(due) = due {
                let body = format!("您反映的问题（交办件 {}）办理期限延长 {} 天，至 {}。", row.code, days, cn_date(due));
                tell_citizen(&mut tx, id, "case.extended", body).await?;
            }
            n
        }
        Action::NotifyAcceptance => {
            let body = format!("您反映的问题已受理（交办件 {}），将在办结时限内答复。可凭登记编号和手机号码后四位查询进展。", row.code);
            tell_citizen(&mut tx, id, "case.accepted", body).await?;
            sqlx::query!("UPDATE cases SET acceptance_notified_at = $3 WHERE id = $1 AND version = $2", id, v, now).execute(&mut *tx).await?
        }
        Action::Submit => {
            data["result"] = json!(input.result);
            flash = "已申请办结，待包案领导或督查人员审核。".into();
            sqlx::query!(
                "UPDATE cases SET status = $3, result = $4, reply = $5, closure_submitted_by = $6, closure_submitted_at = $7
                 WHERE id = $1 AND version = $2",
                id,
                v,
                to_s,
                input.result,
                input.text,
                user.id,
                now
            )
            .execute(&mut *tx)
            .await?
        }
        Action::Approve => {
            let body = format!("您反映的问题（交办件 {}）已办结。请凭登记编号和手机号码后四位查看答复意见并评价。", row.code);
            tell_citizen(&mut tx, id, "case.closed", body).await?;
            sqlx::query!("UPDATE cases SET status = $3, closed_by = $4, closed_at = $5 WHERE id = $1 AND version = $2", id, v, to_s, user.id, now)
                .execute(&mut *tx)
                .await?
        }
        // Back to 办理中: the signatures of the last closure no longer stand.
        Action::Reject | Action::Reopen | Action::DecideReview(false) => {
            if let Action::DecideReview(_) = action {
                decide_review(&mut tx, id, false, &input.text, user.id, now).await?;
            }
            sqlx::query!(
                "UPDATE cases SET status = $3, closure_submitted_by = NULL, closure_submitted_at = NULL, closed_by = NULL, closed_at = NULL
                 WHERE id = $1 AND version = $2",
                id,
                v,
                to_s
            )
            .execute(&mut *tx)
            .await?
        }
        Action::RequestReview => {
            let kind = if row.reviews == 0 { "review" } else { "re_review" };
            data["kind"] = json!(kind);
            sqlx::query!(
                "INSERT INTO reviews (case_id, kind, requested_at, due_on, text, recorded_by) VALUES ($1, $2, $3, $4, $5, $6)",
                id,
                kind,
                now,
                today + Duration::days(rules.review_d),
                input.text,
                user.id
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!("UPDATE cases SET status = $3 WHERE id = $1 AND version = $2", id, v, to_s).execute(&mut *tx).await?
        }
        Action::DecideReview(true) => {
            decide_review(&mut tx, id, true, &input.text, user.id, now).await?;
            sqlx::query!("UPDATE cases SET status = $3 WHERE id = $1 AND version = $2", id, v, to_s).execute(&mut *tx).await?
        }
        // Return, progress, refused extension: the status (perhaps unchanged), version-checked.
        _ => sqlx::query!("UPDATE cases SET status = $3 WHERE id = $1 AND version = $2", id, v, to_s).execute(&mut *tx).await?,
    }
    .rows_affected();
    if n == 0 {
        return Err(AppError::Conflict(STALE.into()));
    }
    if let Action::DecideReview(upheld) = action {
        data["result"] = json!(if upheld { "upheld" } else { "overturned" });
    }
    event(
        &mut *tx,
        id,
        action.event(),
        Some(user.id),
        now,
        &input.text,
        data.clone(),
    )
    .await?;
    if to == CaseState::Terminated {
        event(
            &mut *tx,
            id,
            "terminated",
            Some(user.id),
            now,
            "",
            json!({}),
        )
        .await?;
    }
    let audit_action = format!("case.{}", slug(action).replace('-', "_"));
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok(&audit_action).on("case", id).detail(data),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(state, &format!("/cases/{id}"), &flash))
}

async fn decide_review(
    conn: &mut sqlx::PgConnection,
    case_id: i64,
    upheld: bool,
    text: &str,
    by: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE reviews SET decided_at = $2, result = $3, decided_by = $4, text = CASE WHEN $5 = '' THEN text ELSE $5 END
         WHERE case_id = $1 AND decided_at IS NULL",
        case_id,
        now,
        if upheld { "upheld" } else { "overturned" },
        by,
        text
    )
    .execute(conn)
    .await?;
    Ok(())
}

macro_rules! action_handlers {
    ($($name:ident => $action:expr),* $(,)?) => {$(
        pub async fn $name(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>, Form(f): Form<ActionForm>) -> Page {
            act(&state, &ctx, id, $action, f).await
        }
    )*};
}

action_handlers! {
    accept => Action::Accept,
    return_case => Action::Return,
    reassign => Action::Reassign,
    progress => Action::Progress,
    extend => Action::RequestExtension,
    approve_extension => Action::ApproveExtension,
    refuse_extension => Action::RefuseExtension,
    notify_acceptance => Action::NotifyAcceptance,
    submit => Action::Submit,
    approve => Action::Approve,
    reject => Action::Reject,
    reopen => Action::Reopen,
    review => Action::RequestReview,
    decide_review_handler => Action::DecideReview(true),
}

// ---------------------------------------------------------------------------------------------
// The case file page
// ---------------------------------------------------------------------------------------------

pub struct EventLine {
    pub at: String,
    pub who: String,
    pub what: &'static str,
    pub text: String,
}

pub struct Deadline {
    pub label: &'static str,
    pub date: String,
    pub days_left: Option<i64>,
    pub overdue: bool,
}

#[derive(Template)]
#[template(path = "followup/case.html")]
struct CasePage {
    layout: Layout,
    id: i64,
    code: String,
    title: String,
    status: &'static str,
    category: String,
    visit: String,
    lead_department: String,
    co_departments: String,
    owner_leader: String,
    deadline_days: i32,
    deadlines: Vec<Deadline>,
    citizen: Option<Citizen>,
    dossier: Option<Dossier>,
    issue_summary: String,
    result: &'static str,
    reply: String,
    rating: &'static str,
    rating_comment: String,
    events: Vec<EventLine>,
    actions: Vec<&'static str>,
    version: i32,
    form: ActionForm,
    errors: Errors,
    failed: &'static str,
    departments: Vec<crate::admin::Choice>,
    results: [(&'static str, &'static str); 4],
    max_extension_d: i32,
}

impl CasePage {
    fn can(&self, s: &str) -> bool {
        self.actions.contains(&s)
    }
    fn err(&self, action: &str, field: &str) -> &str {
        if self.failed == action {
            self.errors.get(field)
        } else {
            ""
        }
    }
}

struct Citizen {
    name: String,
    id_mask: String,
    phone_mask: String,
    persons: i32,
    address: String,
    grievance: String,
    registration_code: String,
    reception: String,
    consultation: String,
}

struct Dossier {
    summary: String,
    background: String,
    policy_basis: String,
    proposed_handling: String,
}

async fn case_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    form: ActionForm,
    errors: Errors,
    failed: &'static str,
) -> Result<CasePage, AppError> {
    let user = ctx.user.clone().ok_or(AppError::Forbidden)?;
    let row = load(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let side = row.side_of(&user).ok_or(AppError::NotFound)?;
    let c = sqlx::query!(
        r#"SELECT c.title, c.issue_id, c.survey_item_id, c.due_on, c.extended_due_on, c.accept_due_on, c.result, c.reply,
                  c.rating, c.acceptance_notified_at, c.assigned_at,
                  cat.name AS category, v.title AS visit_title, v.visit_date, d.name AS lead_department,
                  l.name || '（' || l.title || '）' AS "owner!",
                  COALESCE((SELECT string_agg(dd.name, '、' ORDER BY dd.name) FROM case_departments cd JOIN departments dd ON dd.id = cd.department_id
                            WHERE cd.case_id = c.id), '') AS "co!",
                  (SELECT f.comment FROM feedback f WHERE f.case_id = c.id ORDER BY f.at DESC, f.id DESC LIMIT 1) AS rating_comment
           FROM cases c JOIN categories cat ON cat.id = c.category_id JOIN visits v ON v.id = c.visit_id
           JOIN departments d ON d.id = c.lead_department_id JOIN leaders l ON l.id = c.owner_leader_id
           WHERE c.id = $1"#,
        id
    )
    .fetch_one(&state.db)
    .await?;
    let citizen = sqlx::query!(
        r#"SELECT r.name, r.id_number_mask, r.phone_mask, r.persons, r.address, r.township, r.grievance, r.code,
                  rc.started_at AS "started_at?", rc.consultation AS "consultation?", rm.name AS "room?", i.summary AS "summary?"
           FROM cases c
           LEFT JOIN issues i ON i.id = c.issue_id LEFT JOIN receptions rc ON rc.id = i.reception_id LEFT JOIN rooms rm ON rm.id = rc.room_id
           JOIN registrations r ON r.id = rc.registration_id OR (c.survey_item_id IS NOT NULL AND r.survey_item_id = c.survey_item_id)
           WHERE c.id = $1 LIMIT 1"#,
        id
    )
    .fetch_optional(&state.db)
    .await?;
    let issue_summary = citizen
        .as_ref()
        .and_then(|r| r.summary.clone())
        .unwrap_or_default();
    let citizen = citizen.map(|r| Citizen {
        name: r.name,
        id_mask: r.id_number_mask,
        phone_mask: r.phone_mask.unwrap_or_default(),
        persons: r.persons,
        address: format!("{}{}", r.township, r.address),
        grievance: r.grievance,
        registration_code: r.code,
        reception: match (r.room, r.started_at) {
            (Some(room), Some(at)) => format!("{room} · {}", china_minute(at)),
            _ => String::new(),
        },
        consultation: r.consultation.unwrap_or_default(),
    });
    let dossier = sqlx::query_as!(
        Dossier,
        "SELECT s.summary, s.background, s.policy_basis, s.proposed_handling FROM survey_items s
         WHERE s.id = (SELECT COALESCE(c.survey_item_id, r.survey_item_id) FROM cases c
                       LEFT JOIN issues i ON i.id = c.issue_id LEFT JOIN receptions rc ON rc.id = i.reception_id
                       LEFT JOIN registrations r ON r.id = rc.registration_id WHERE c.id = $1)",
        id
    )
    .fetch_optional(&state.db)
    .await?;
    let events = sqlx::query!(
        r#"SELECT e.kind, e.at, e.text, COALESCE(u.display_name, CASE WHEN e.kind IN ('rated', 'review_requested') THEN '来访群众' ELSE '系统' END) AS "who!"
           FROM case_events e LEFT JOIN users u ON u.id = e.actor_id WHERE e.case_id = $1 ORDER BY e.at, e.id"#,
        id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|e| EventLine { at: china_minute(e.at), who: e.who, what: event_label(&e.kind), text: e.text })
    .collect();
    let now = state.clock.now();
    let today = china_date(now);
    let calendar = Calendar::load(&state.db, today.min(china_date(c.assigned_at))).await?;
    let running = row.state().deadline_runs();
    let mut deadlines = vec![];
    let mut line = |label, date: Option<NaiveDate>, live: bool| {
        if let Some(d) = date {
            let left = live.then(|| calendar.days_left(today, d));
            deadlines.push(Deadline {
                label,
                date: cn_date(d),
                days_left: left,
                overdue: live && d < today,
            });
        }
    };
    line(
        "签收期限",
        Some(c.accept_due_on),
        row.state() == CaseState::Assigned,
    );
    line(
        "告知受理期限",
        Some(
            china_date(c.assigned_at) + Duration::days(state.config.case_rules.acceptance_notice_d),
        ),
        running && c.acceptance_notified_at.is_none(),
    );
    line("办结期限", c.due_on, running && c.extended_due_on.is_none());
    line("延期后办结期限", c.extended_due_on, running);
    let party = Party {
        side,
        is_submitter: row.closure_submitted_by == Some(user.id),
    };
    let actions = state::allowed(
        row.state(),
        &party,
        &row.facts(today, &state.config.case_rules),
    )
    .into_iter()
    .map(slug)
    .collect();
    let departments = sqlx::query_as!(
        crate::admin::Choice,
        "SELECT id, name AS label FROM departments WHERE active ORDER BY name"
    )
    .fetch_all(&state.db)
    .await?;
    Ok(CasePage {
        layout: ctx.layout(&format!("交办件 {}", row.code)),
        id,
        code: row.code.clone(),
        title: c.title,
        status: row.state().label(),
        category: c.category,
        visit: format!("{}（{}）", c.visit_title, cn_date(c.visit_date)),
        lead_department: c.lead_department,
        co_departments: c.co,
        owner_leader: c.owner,
        deadline_days: row.deadline_days,
        deadlines,
        citizen,
        dossier,
        issue_summary,
        result: c.result.as_deref().map(result_label).unwrap_or(""),
        reply: c.reply.unwrap_or_default(),
        rating: c.rating.as_deref().map(rating_label).unwrap_or(""),
        rating_comment: c.rating_comment.unwrap_or_default(),
        events,
        actions,
        version: row.version,
        form,
        errors,
        failed,
        departments,
        results: RESULTS,
        max_extension_d: state.config.case_rules.max_extension_d,
    })
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(
        &case_page(
            &state,
            &ctx,
            id,
            ActionForm::default(),
            Errors::default(),
            "",
        )
        .await?,
    )
}
