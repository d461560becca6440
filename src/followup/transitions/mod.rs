//! Every write that moves a case (DESIGN §4, §5): the 14 transitions of the case file, the
//! citizen's rating, 督办 and 离任交接. Each runs in the caller's transaction: the case row is
//! locked (FOR UPDATE), its version checked, the pure state machine (`state::next`) asked, then
//! the case, its event, the audit row and any outbox message are written. The pages and the JSON
//! API call these. (Creating a case is `assign`; the deadline jobs' reminders are `jobs`.)
//! The rating is in `rating`, 督办 and 离任交接 in `oversight`.

use crate::audit::{self, Actor, Entry};
use crate::clock::{china_date, cn_date};
use crate::crypto::free_text;
use crate::crypto::{Column, Keys};
use crate::error::AppError;
use crate::followup::case_row::{self, CaseRow};
use crate::followup::labels::audit_action;
use crate::followup::state::{self, Action, Party, State as CaseState};
use crate::followup::workdays::Calendar;
use crate::followup::{CaseRules, assign, reviews};
use crate::notify;
use crate::web::auth::CurrentUser;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgExecutor};

mod oversight;
mod rating;
mod written;

pub use oversight::{Handover, OPEN, Urge, hand_over, successor_ok, urge};
pub use rating::{Rating, may_rate, rate};
pub use written::{Issued, check_issue, written};

pub const STALE: &str = "该交办件已被他人更新，请刷新后重试";

/// The ratings a citizen may give.
pub const RATINGS: [&str; 3] = ["satisfied", "basically_satisfied", "dissatisfied"];

/// Why a transition did not happen.
#[derive(Debug)]
pub enum CaseError {
    /// The state machine refuses it now, for this person (shown beside the actions).
    Refused(&'static str),
    /// A value the form could not check alone: (field, message).
    Field(&'static str, &'static str),
    /// Not found / not visible, stale version (409), database.
    App(AppError),
}

impl From<sqlx::Error> for CaseError {
    fn from(e: sqlx::Error) -> Self {
        CaseError::App(e.into())
    }
}

impl From<AppError> for CaseError {
    fn from(e: AppError) -> Self {
        CaseError::App(e)
    }
}

impl From<CaseError> for AppError {
    fn from(e: CaseError) -> Self {
        match e {
            CaseError::Refused(m) => AppError::Conflict(m.into()),
            CaseError::Field(_, m) => AppError::BadRequest(m.into()),
            CaseError::App(e) => e,
        }
    }
}

/// The checked input of one action (each action reads its own fields).
#[derive(Clone, Debug, Default)]
pub struct Input {
    pub text: String,
    pub days: i32,
    pub result: String,
    pub upheld: bool,
    pub department_id: i64,
    /// The reviewing body chosen for a 复查/复核 request (`reviews::Body::key`).
    pub reviewer: String,
}

/// One action on a case as its form asks for it.
pub struct Request {
    pub action: Action,
    /// The version the form was made from; None: no form (whatever the case's version now).
    pub version: Option<i32>,
    pub input: Input,
}

/// Who acts: the signed-in user (for the rules) and the audit actor.
pub struct By<'a> {
    pub user: &'a CurrentUser,
    pub actor: &'a Actor,
    /// Seal the reply and the event's text.
    pub keys: &'a Keys,
}

/// What a transition did: the new state and the message for the user.
#[derive(Debug)]
pub struct Outcome {
    pub to: CaseState,
    pub message: String,
}

/// A locked case the user may take `action` on now, and the state it leads to.
pub struct Checked {
    pub row: CaseRow,
    pub to: CaseState,
}

/// Lock the case and ask the rules: not visible → NotFound, other version → 409, refused.
/// `version` None: no form was sent (nothing to compare).
pub async fn check(
    conn: &mut PgConnection,
    case_id: i64,
    action: Action,
    version: Option<i32>,
    user: &CurrentUser,
    now: DateTime<Utc>,
    rules: &CaseRules,
) -> Result<Checked, CaseError> {
    lock(&mut *conn, case_id).await?;
    let row = case_row::load(&mut *conn, case_id, user.jurisdiction_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let side = row.side_of(user).ok_or(AppError::NotFound)?;
    if version.is_some_and(|v| v != row.version) {
        return Err(AppError::Conflict(STALE.into()).into());
    }
    let party = Party {
        side,
        is_submitter: row.closure_submitted_by == Some(user.id),
    };
    let facts = row.facts_as(user, china_date(now), rules);
    let to =
        state::next(row.state(), action, &party, &facts).map_err(|r| CaseError::Refused(r.0))?;
    Ok(Checked { row, to })
}

pub(crate) async fn lock(db: impl PgExecutor<'_>, case_id: i64) -> sqlx::Result<()> {
    sqlx::query_scalar!("SELECT id FROM cases WHERE id = $1 FOR UPDATE", case_id)
        .fetch_optional(db)
        .await?;
    Ok(())
}

/// One transition of the case file, in the caller's transaction.
pub async fn apply(
    conn: &mut PgConnection,
    case_id: i64,
    req: &Request,
    by: &By<'_>,
    now: DateTime<Utc>,
    rules: &CaseRules,
) -> Result<Outcome, CaseError> {
    let (action, input) = (req.action, &req.input);
    let Checked { row, to } =
        check(conn, case_id, action, req.version, by.user, now, rules).await?;
    if action == Action::Reassign && !may_lead(&mut *conn, case_id, input.department_id).await? {
        return Err(CaseError::Field("department_id", "请选择新的主办单位"));
    }
    let mut data = json!({ "from": row.status, "to": to.as_str() });
    let message = write(conn, &row, action, to, input, by, now, rules, &mut data).await?;
    if let Action::DecideReview(upheld) = action {
        data["result"] = json!(if upheld { "upheld" } else { "overturned" });
    }
    let user = Some(by.user.id);
    event(
        &mut *conn,
        by.keys,
        case_id,
        action.event(),
        user,
        now,
        &input.text,
        data.clone(),
    )
    .await?;
    if to == CaseState::Terminated {
        let (keys, none) = (by.keys, json!({}));
        event(&mut *conn, keys, case_id, "terminated", user, now, "", none).await?;
    }
    let code = audit_action(action);
    let entry = Entry::ok(&code).on("case", case_id).detail(data);
    audit::record(&mut *conn, by.actor, entry).await?;
    Ok(Outcome { to, message })
}

/// Whether department `id` may lead case `case_id`: active and of the visit host's line.
async fn may_lead(db: impl PgExecutor<'_>, case_id: i64, id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM departments d JOIN cases c ON c.id = $1
                          WHERE d.id = $2 AND d.active AND seats_at_visit(d.jurisdiction_id, c.visit_id)) AS "e!""#,
        case_id,
        id
    )
    .fetch_one(db)
    .await
}

/// The version-checked UPDATE of one action (and its side rows); returns the flash message.
#[allow(clippy::too_many_arguments)]
async fn write(
    tx: &mut PgConnection,
    row: &CaseRow,
    action: Action,
    to: CaseState,
    input: &Input,
    by: &By<'_>,
    now: DateTime<Utc>,
    rules: &CaseRules,
    data: &mut serde_json::Value,
) -> Result<String, CaseError> {
    let user_id = by.user.id;
    let today = china_date(now);
    let (id, v, to_s) = (row.id, row.version, to.as_str());
    let mut flash = format!("已{}。", action.label());
    let n = match action {
        Action::Accept => {
            let due = today + Duration::days(i64::from(row.deadline_days));
            data["due_on"] = json!(due);
            flash = format!("已签收，暂定办结时限 {}。请在“文书”中印发受理告知书，办结时限自其印发之日起计算。", cn_date(due));
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
                user_id,
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
        // The new due date counts once the citizen is told by the 延期告知书 (`written`).
        Action::ApproveExtension => {
            let days = row.pending_extension_days.unwrap_or(1).clamp(1, rules.max_extension_d);
            data["days"] = json!(days);
            flash = format!("已批准延期 {days} 天；主办单位印发延期告知书后生效。");
            sqlx::query!("UPDATE cases SET status = $3 WHERE id = $1 AND version = $2", id, v, to_s).execute(&mut *tx).await?
        }
        Action::Submit => {
            data["result"] = json!(input.result);
            flash = "已申请办结，待包案领导或督查人员审核。".into();
            let reply = free_text::seal(by.keys, Column::CASE_REPLY, id, &input.text)?;
            sqlx::query!(
                "UPDATE cases SET status = $3, result = $4, reply = NULL, reply_cipher = $5, reply_key_id = $6,
                                  closure_submitted_by = $7, closure_submitted_at = $8
                 WHERE id = $1 AND version = $2",
                id,
                v,
                to_s,
                input.result,
                reply.cipher,
                reply.key_id,
                user_id,
                now
            )
            .execute(&mut *tx)
            .await?
        }
        Action::Approve => {
            tell_citizen(tx, id, "case.closed", json!({"case_code": row.code})).await?;
            sqlx::query!("UPDATE cases SET status = $3, closed_by = $4, closed_at = $5 WHERE id = $1 AND version = $2", id, v, to_s, user_id, now)
                .execute(&mut *tx)
                .await?
        }
        // Back to 办理中: the signatures of the last closure no longer stand.
        Action::Reject | Action::Reopen | Action::DecideReview(false) => {
            if let Action::DecideReview(_) = action {
                decide_review(tx, id, false, user_id, now).await?;
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
            let body = reviews::store::chosen(&mut *tx, id, row.reviews, &input.reviewer)
                .await?
                .ok_or(CaseError::Field("reviewer", reviews::store::NOT_A_REVIEWER))?;
            data["kind"] = json!(reviews::rules::next_kind(row.reviews).0);
            data["body"] = json!(body.name);
            reviews::store::insert(tx, id, row.reviews, &body, Some(user_id), now, rules).await?;
            sqlx::query!("UPDATE cases SET status = $3 WHERE id = $1 AND version = $2", id, v, to_s).execute(&mut *tx).await?
        }
        Action::DecideReview(true) => {
            decide_review(tx, id, true, user_id, now).await?;
            sqlx::query!("UPDATE cases SET status = $3 WHERE id = $1 AND version = $2", id, v, to_s).execute(&mut *tx).await?
        }
        // Return, progress, refused extension: the status (perhaps unchanged), version-checked.
        _ => sqlx::query!("UPDATE cases SET status = $3 WHERE id = $1 AND version = $2", id, v, to_s).execute(&mut *tx).await?,
    }
    .rows_affected();
    if n == 0 {
        return Err(AppError::Conflict(STALE.into()).into());
    }
    Ok(flash)
}

/// The decision's text is kept once, sealed, in its case event.
async fn decide_review(
    conn: &mut PgConnection,
    case_id: i64,
    upheld: bool,
    by: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE reviews SET decided_at = $2, result = $3, decided_by = $4 WHERE case_id = $1 AND decided_at IS NULL",
        case_id,
        now,
        if upheld { "upheld" } else { "overturned" },
        by
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A case event row, its text sealed (bound to the row's id, taken first).
#[allow(clippy::too_many_arguments)]
pub async fn event(
    conn: &mut PgConnection,
    keys: &Keys,
    case_id: i64,
    kind: &str,
    actor: Option<i64>,
    at: DateTime<Utc>,
    text: &str,
    data: serde_json::Value,
) -> sqlx::Result<()> {
    let id = sqlx::query_scalar!(
        r#"SELECT nextval(pg_get_serial_sequence('case_events', 'id')) AS "id!""#
    )
    .fetch_one(&mut *conn)
    .await?;
    let sealed = free_text::seal(keys, Column::CASE_EVENT_TEXT, id, text)?;
    sqlx::query!(
        "INSERT INTO case_events (id, case_id, kind, actor_id, at, data, text_cipher, text_key_id)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        case_id,
        kind,
        actor,
        at,
        data,
        sealed.cipher,
        sealed.key_id
    )
    .execute(conn)
    .await?;
    Ok(())
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
    conn: &mut PgConnection,
    case_id: i64,
    kind: &str,
    params: serde_json::Value,
) -> sqlx::Result<()> {
    if let Some((reg, mask)) = citizen_of(&mut *conn, case_id).await? {
        let m = notify::Message {
            registration_id: Some(reg),
            user_id: None,
            phone_code_id: None,
            recipient_mask: &mask,
            kind,
            params,
        };
        notify::queue(&mut *conn, m).await?;
    }
    Ok(())
}
