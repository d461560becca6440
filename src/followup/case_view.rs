//! How a case reads outside the case file: the citizen's lines on the lookup page and the JSON
//! API's case status. One query serves both (`fetch`), so both show the same case the same way.

use crate::crypto::free_text;
use crate::crypto::{Column, Keys};
use crate::followup::case_row;
use crate::followup::labels::{
    citizen_event_label, citizen_status_label, event_label, rating_label, result_label,
};
use crate::web::auth::CurrentUser;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

/// A case as others than its handlers read it.
#[derive(Clone, Debug)]
pub struct CaseView {
    pub id: i64,
    pub code: String,
    /// The citizen's 查询码, printed on every document.
    pub query_code: String,
    pub title: String,
    pub status: String,
    pub department: String,
    /// The 包案领导 with title.
    pub leader: String,
    pub deadline_days: i32,
    pub assigned_at: DateTime<Utc>,
    pub accept_due_on: NaiveDate,
    pub due_on: Option<NaiveDate>,
    pub extended_due_on: Option<NaiveDate>,
    pub effective_due_on: Option<NaiveDate>,
    pub closed_at: Option<DateTime<Utc>>,
    pub result: Option<String>,
    pub reply: Option<String>,
    pub rating: Option<String>,
}

impl CaseView {
    /// The status in the citizen's words.
    pub fn status_label(&self) -> &'static str {
        citizen_status_label(&self.status)
    }
    /// The reply is public once a second signature approved it.
    pub fn replied(&self) -> bool {
        matches!(
            self.status.as_str(),
            "closed" | "rated" | "in_review" | "terminated"
        )
    }
    /// The result label, once replied.
    pub fn public_result(&self) -> &'static str {
        match (&self.result, self.replied()) {
            (Some(r), true) => result_label(r),
            _ => "",
        }
    }
    /// The reply text, once replied.
    pub fn public_reply(&self) -> String {
        match (&self.reply, self.replied()) {
            (Some(r), true) => r.clone(),
            _ => String::new(),
        }
    }
    pub fn rating_label(&self) -> &'static str {
        self.rating.as_deref().map(rating_label).unwrap_or("")
    }
    /// The citizen may rate it now (a closed, unrated case).
    pub fn can_rate(&self) -> bool {
        self.status == "closed"
    }
    /// Rated 不满意 and not reopened.
    pub fn dissatisfied(&self) -> bool {
        self.rating.as_deref() == Some("dissatisfied") && self.status == "rated"
    }
}

/// One event of a case's timeline, as the API shows it.
#[derive(Clone, Debug)]
pub struct EventView {
    pub kind: String,
    pub label: &'static str,
    pub at: DateTime<Utc>,
}

/// Which cases `fetch` reads.
enum Which<'a> {
    Code(&'a str),
    Id(i64),
    Registration(i64),
}

/// The case with a code or an id, or those from a registration, in id order; the reply opened
/// here, one case at a time.
async fn fetch(db: &PgPool, keys: &Keys, which: Which<'_>) -> sqlx::Result<Vec<CaseView>> {
    let (code, id, registration_id) = match which {
        Which::Code(code) => (Some(code), None, None),
        Which::Id(id) => (None, Some(id), None),
        Which::Registration(id) => (None, None, Some(id)),
    };
    let rows = sqlx::query!(
        r#"SELECT c.id, c.code, c.title, c.status, d.name AS department, l.name || '（' || l.title || '）' AS "leader!",
                  c.deadline_days, c.assigned_at, c.accept_due_on, c.due_on, c.extended_due_on, c.effective_due_on, c.closed_at,
                  c.result, c.reply, c.reply_cipher, c.reply_key_id, c.rating, c.query_code
           FROM cases c JOIN departments d ON d.id = c.lead_department_id JOIN leaders l ON l.id = c.owner_leader_id
           WHERE ($1::text IS NULL OR c.code = $1) AND ($3::bigint IS NULL OR c.id = $3)
             AND ($2::bigint IS NULL OR c.issue_id IN (SELECT i.id FROM issues i JOIN receptions rc ON rc.id = i.reception_id
                                                        WHERE rc.registration_id = $2)
                  OR c.survey_item_id = (SELECT r.survey_item_id FROM registrations r WHERE r.id = $2))
           ORDER BY c.id"#,
        code,
        registration_id,
        id
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|c| {
            Ok(CaseView {
                reply: free_text::open(
                    keys,
                    Column::CASE_REPLY,
                    c.id,
                    c.reply,
                    c.reply_cipher,
                    c.reply_key_id,
                )?,
                id: c.id,
                code: c.code,
                query_code: c.query_code,
                title: c.title,
                status: c.status,
                department: c.department,
                leader: c.leader,
                deadline_days: c.deadline_days,
                assigned_at: c.assigned_at,
                accept_due_on: c.accept_due_on,
                due_on: c.due_on,
                extended_due_on: c.extended_due_on,
                effective_due_on: c.effective_due_on,
                closed_at: c.closed_at,
                result: c.result,
                rating: c.rating,
            })
        })
        .collect()
}

/// The cases the citizen of registration `registration_id` may follow (those from their
/// reception's issues), in id order. The caller has checked the citizen's proof.
pub async fn for_citizen(
    db: &PgPool,
    keys: &Keys,
    registration_id: i64,
) -> sqlx::Result<Vec<CaseView>> {
    fetch(db, keys, Which::Registration(registration_id)).await
}

/// Case `id` alone, as its citizen reads it when their proof is the case's own (`survey_case_by_query_code`).
pub async fn one_for_citizen(db: &PgPool, keys: &Keys, id: i64) -> sqlx::Result<Vec<CaseView>> {
    fetch(db, keys, Which::Id(id)).await
}

/// The case with `code` (any case; trimmed, upper-cased) and its events, if `user` may open its
/// case file; None otherwise, as if it did not exist.
pub async fn for_staff(
    db: &PgPool,
    keys: &Keys,
    code: &str,
    user: &CurrentUser,
) -> sqlx::Result<Option<(CaseView, Vec<EventView>)>> {
    let code = code.trim().to_uppercase();
    let Some(view) = fetch(db, keys, Which::Code(&code))
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let Some(row) = case_row::load(db, view.id, user.jurisdiction_id).await? else {
        return Ok(None);
    };
    if row.side_of(user).is_none() {
        return Ok(None);
    }
    let events = sqlx::query!(
        "SELECT kind, at FROM case_events WHERE case_id = $1 ORDER BY at, id",
        view.id
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|e| EventView {
        label: event_label(&e.kind),
        kind: e.kind,
        at: e.at,
    })
    .collect();
    Ok(Some((view, events)))
}

/// The steps of case `id` its citizen sees, oldest first: (date, label).
pub async fn citizen_timeline(
    db: &PgPool,
    id: i64,
) -> sqlx::Result<Vec<(NaiveDate, &'static str)>> {
    let events = sqlx::query!(
        "SELECT kind, at FROM case_events WHERE case_id = $1 ORDER BY at, id",
        id
    )
    .fetch_all(db)
    .await?;
    Ok(events
        .into_iter()
        .filter_map(|e| citizen_event_label(&e.kind).map(|l| (crate::clock::china_date(e.at), l)))
        .collect())
}

/// The registration behind the case with 查询码 `code` whose phone ends in `last4`: the citizen's
/// proof for following it (a case from a walk-in or a survey item has no registration code of
/// its own to give them). None for a wrong pair, as for an unknown code.
pub async fn registration_by_query_code(
    db: &PgPool,
    code: &str,
    last4: &str,
) -> sqlx::Result<Option<i64>> {
    let Some(code) = crate::followup::documents::rules::normalize_query_code(code) else {
        return Ok(None);
    };
    sqlx::query_scalar!(
        r#"SELECT r.id AS "id!" FROM cases c JOIN registrations r ON r.id = case_registration(c.id)
           WHERE c.query_code = $1 AND right(r.phone_mask, 4) = $2"#,
        code,
        last4.trim()
    )
    .fetch_optional(db)
    .await
}

/// The survey-item case with 查询码 `code` whose reporter's phone ends in `last4`: the proof of a
/// citizen who has no registration behind the case (带案下访, 访前调查). None for a wrong pair.
pub async fn survey_case_by_query_code(
    db: &PgPool,
    code: &str,
    last4: &str,
) -> sqlx::Result<Option<i64>> {
    let Some(code) = crate::followup::documents::rules::normalize_query_code(code) else {
        return Ok(None);
    };
    sqlx::query_scalar!(
        "SELECT c.id FROM cases c JOIN survey_items s ON s.id = c.survey_item_id
         WHERE c.query_code = $1 AND right(s.reporter_phone_mask, 4) = $2",
        code,
        last4.trim()
    )
    .fetch_optional(db)
    .await
}
