//! Reviews applied, each write in the caller's transaction with its event and audit row: the valid
//! reviewing bodies of a case, the request (the citizen's online, or recorded on the case page
//! through `transitions`), and the 听证 that moves a 复核's due date.

use super::rules::{self, Around, Body};
use crate::audit::{self, Actor, Entry};
use crate::clock::{china_date, cn_date};
use crate::crypto::Keys;
use crate::error::AppError;
use crate::followup::CaseRules;
use crate::followup::case_row::{self, CaseRow};
use crate::followup::documents::rules::cn_long_date;
use crate::followup::state::{self, Action, Party, Side};
use crate::followup::transitions::{CaseError, STALE, event, lock};
use crate::web::auth::CurrentUser;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

pub const NOT_A_REVIEWER: &str = "请在列出的机关中选择：只有承办单位的上级机关可以复查（复核）";

/// The body whose decision the next request, after `done` reviews, is against: the lead department
/// (复查), or the 复查's body (复核; one recorded before bodies were chosen: the lead department's
/// government).
async fn decided_by(conn: &mut PgConnection, case_id: i64, done: i64) -> sqlx::Result<Body> {
    let c = sqlx::query!(
        r#"SELECT d.id, d.name, COALESCE(d.jurisdiction_id, v.county_id) AS "jurisdiction_id!", j.government,
                  r.department_id AS "review_department_id?", r.jurisdiction_id AS "review_jurisdiction_id?", r.body_name AS "review_body?"
           FROM cases c JOIN departments d ON d.id = c.lead_department_id JOIN visits v ON v.id = c.visit_id
           JOIN jurisdictions j ON j.id = COALESCE(d.jurisdiction_id, v.county_id)
           LEFT JOIN reviews r ON r.case_id = c.id AND r.kind = 'review'
           WHERE c.id = $1"#,
        case_id
    )
    .fetch_one(conn)
    .await?;
    Ok(match (done, c.review_jurisdiction_id, c.review_body) {
        (0, _, _) => Body {
            department_id: Some(c.id),
            jurisdiction_id: c.jurisdiction_id,
            name: c.name,
        },
        (_, Some(j), Some(name)) => Body {
            department_id: c.review_department_id,
            jurisdiction_id: j,
            name,
        },
        _ => Body {
            department_id: None,
            jurisdiction_id: c.jurisdiction_id,
            name: c.government,
        },
    })
}

/// The governments around `body` and a department's listed superiors (those placed in the tree).
async fn around(conn: &mut PgConnection, body: &Body) -> sqlx::Result<Around> {
    let j = sqlx::query!(
        r#"SELECT j.government, p.id AS "parent_id?", p.government AS "parent_government?"
           FROM jurisdictions j LEFT JOIN jurisdictions p ON p.id = j.parent_id WHERE j.id = $1"#,
        body.jurisdiction_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let superiors = sqlx::query!(
        r#"SELECT s.id, s.jurisdiction_id AS "jurisdiction_id!", s.name
           FROM department_superiors ds JOIN departments s ON s.id = ds.superior_department_id
           WHERE ds.department_id = $1 AND s.active AND s.jurisdiction_id IS NOT NULL ORDER BY s.id"#,
        body.department_id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Around {
        government: Some(Body {
            department_id: None,
            jurisdiction_id: body.jurisdiction_id,
            name: j.government,
        }),
        parent_government: j.parent_id.zip(j.parent_government).map(|(id, name)| Body {
            department_id: None,
            jurisdiction_id: id,
            name,
        }),
        superiors: superiors
            .into_iter()
            .map(|s| Body {
                department_id: Some(s.id),
                jurisdiction_id: s.jurisdiction_id,
                name: s.name,
            })
            .collect(),
    })
}

/// The bodies that may receive the request after `done` reviews.
pub async fn reviewers_after(
    conn: &mut PgConnection,
    case_id: i64,
    done: i64,
) -> sqlx::Result<Vec<Body>> {
    let by = decided_by(conn, case_id, done).await?;
    let around = around(conn, &by).await?;
    Ok(rules::reviewers(&by, around))
}

/// The valid body the form's `key` names; None if it names none.
pub async fn chosen(
    conn: &mut PgConnection,
    case_id: i64,
    done: i64,
    key: &str,
) -> sqlx::Result<Option<Body>> {
    let all = reviewers_after(conn, case_id, done).await?;
    Ok(all.into_iter().find(|b| b.key() == key.trim()))
}

/// The reviews row of a request (its text is kept once, sealed, in its case event); due in
/// `review_d` days. `recorded_by` None: the citizen online.
pub async fn insert(
    conn: &mut PgConnection,
    case_id: i64,
    done: i64,
    body: &Body,
    recorded_by: Option<i64>,
    now: DateTime<Utc>,
    rules: &CaseRules,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO reviews (case_id, kind, requested_at, due_on, recorded_by, department_id, jurisdiction_id, body_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        case_id,
        rules::next_kind(done).0,
        now,
        china_date(now) + Duration::days(rules.review_d),
        recorded_by,
        body.department_id,
        body.jurisdiction_id,
        body.name
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The request form a citizen is offered: 复查 or 复核, the bodies to choose from, the last day.
pub struct Offer {
    pub word: &'static str,
    pub bodies: Vec<Body>,
    pub last_day: String,
}

/// The offer on case `case_id` once the document it would be against is issued (also after the
/// deadline: the form then says why not); None otherwise.
pub async fn offer(
    db: &PgPool,
    case_id: i64,
    today: NaiveDate,
    rules: &CaseRules,
) -> sqlx::Result<Option<Offer>> {
    let mut conn = db.acquire().await?;
    let Some(row) = case_row::load(&mut *conn, case_id, None).await? else {
        return Ok(None);
    };
    let facts = state::Facts {
        within_review: true,
        ..row.facts(today, rules)
    };
    let citizen = Party::new(Side::Citizen);
    if state::next(row.state(), Action::RequestReview, &citizen, &facts).is_err() {
        return Ok(None);
    }
    let last = rules::last_day(row.review_served_on, rules.review_d);
    Ok(Some(Offer {
        word: rules::next_kind(row.reviews).1,
        bodies: reviewers_after(&mut conn, case_id, row.reviews).await?,
        last_day: last.map(cn_long_date).unwrap_or_default(),
    }))
}

/// Why the citizen's request may not go ahead, as (field, words beside it): too late (the last day
/// named), nothing to review yet, or a body that is not a valid reviewer. None: it may.
pub async fn citizen_refusal(
    db: &PgPool,
    case_id: i64,
    reviewer: &str,
    now: DateTime<Utc>,
    rules: &CaseRules,
) -> sqlx::Result<Option<(&'static str, String)>> {
    let mut conn = db.acquire().await?;
    let row = case_row::load(&mut *conn, case_id, None)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let today = china_date(now);
    let (done, issued, served) = (row.reviews, row.review_basis_issued, row.review_served_on);
    if let Some(why) = rules::request_refusal(done, issued, served, today, rules.review_d) {
        return Ok(Some(("review", why)));
    }
    let citizen = Party::new(Side::Citizen);
    if let Err(r) = state::next(
        row.state(),
        Action::RequestReview,
        &citizen,
        &row.facts(today, rules),
    ) {
        return Ok(Some(("review", r.0.to_owned())));
    }
    let valid = chosen(&mut conn, case_id, done, reviewer).await?.is_some();
    Ok((!valid).then(|| ("reviewer", NOT_A_REVIEWER.to_owned())))
}

/// The citizen's 复查/复核 request from the lookup page: the case goes 复查中, with the reviews row,
/// the event (the reasons sealed) and the audit row. Returns the message for the citizen.
#[allow(clippy::too_many_arguments)]
pub async fn request_online(
    conn: &mut PgConnection,
    case_id: i64,
    reasons: &str,
    reviewer: &str,
    actor: &Actor,
    now: DateTime<Utc>,
    rules: &CaseRules,
    keys: &Keys,
) -> Result<String, CaseError> {
    lock(&mut *conn, case_id).await?;
    let row = load(conn, case_id, None).await?;
    let today = china_date(now);
    let citizen = Party::new(Side::Citizen);
    let to = state::next(
        row.state(),
        Action::RequestReview,
        &citizen,
        &row.facts(today, rules),
    )
    .map_err(|r| CaseError::Refused(r.0))?;
    let body = chosen(conn, case_id, row.reviews, reviewer)
        .await?
        .ok_or(CaseError::Field("reviewer", NOT_A_REVIEWER))?;
    insert(conn, case_id, row.reviews, &body, None, now, rules).await?;
    let n = sqlx::query!(
        "UPDATE cases SET status = $3 WHERE id = $1 AND version = $2",
        case_id,
        row.version,
        to.as_str()
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AppError::Conflict(STALE.into()).into());
    }
    let (kind, word) = rules::next_kind(row.reviews);
    let data = json!({ "from": row.status, "to": to.as_str(), "kind": kind, "body": body.name, "channel": "online" });
    event(
        &mut *conn,
        keys,
        case_id,
        "review_requested",
        None,
        now,
        reasons,
        data.clone(),
    )
    .await?;
    let entry = Entry::ok("case.review").on("case", case_id).detail(data);
    audit::record(&mut *conn, actor, entry).await?;
    let due = cn_date(today + Duration::days(rules.review_d));
    Ok(format!(
        "已收到您的{word}申请，由{}办理，应于 {due}前作出书面{word}意见。",
        body.name
    ))
}

async fn load(
    conn: &mut PgConnection,
    case_id: i64,
    jurisdiction: Option<i64>,
) -> Result<CaseRow, CaseError> {
    Ok(case_row::load(conn, case_id, jurisdiction)
        .await?
        .ok_or(AppError::NotFound)?)
}

/// The review under way on a case, as its page shows it.
pub struct OpenReview {
    pub word: &'static str,
    pub body: String,
    pub requested_on: String,
    pub due_on: String,
}

pub async fn open(db: &PgPool, case_id: i64) -> sqlx::Result<Option<OpenReview>> {
    let r = sqlx::query!(
        r#"SELECT kind, COALESCE(body_name, '') AS "body!", requested_at, due_on FROM reviews
           WHERE case_id = $1 AND decided_at IS NULL"#,
        case_id
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| OpenReview {
        word: if r.kind == "review" {
            "复查"
        } else {
            "复核"
        },
        body: r.body,
        requested_on: cn_date(china_date(r.requested_at)),
        due_on: cn_date(r.due_on),
    }))
}

/// A 听证 on the open 复核 from `from` to `to`: its calendar days do not count, so the due date
/// moves by them. Recorded by a supervisor of the reviewing body's jurisdiction, as a case event.
/// Returns the new due date.
#[allow(clippy::too_many_arguments)]
pub async fn record_hearing(
    conn: &mut PgConnection,
    case_id: i64,
    user: &CurrentUser,
    (from, to): (NaiveDate, NaiveDate),
    actor: &Actor,
    keys: &Keys,
    now: DateTime<Utc>,
    rules: &CaseRules,
) -> Result<NaiveDate, CaseError> {
    lock(&mut *conn, case_id).await?;
    let row = load(conn, case_id, user.jurisdiction_id).await?;
    let side = row.side_of(user).ok_or(AppError::NotFound)?;
    let open = sqlx::query!(
        "SELECT id, kind, due_on, requested_at FROM reviews WHERE case_id = $1 AND decided_at IS NULL",
        case_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let decides = row.facts_as(user, china_date(now), rules).decides_review;
    let kind = open.as_ref().map(|o| o.kind.as_str());
    rules::may_record_hearing(row.state(), side, kind, decides)
        .map_err(|r| CaseError::Refused(r.0))?;
    let open = open.ok_or(AppError::NotFound)?;
    let requested = china_date(open.requested_at);
    let days = rules::hearing_days((from, to), requested, open.due_on)
        .map_err(|(field, message)| CaseError::Field(field, message))?;
    let due = open.due_on + Duration::days(days);
    sqlx::query!("UPDATE reviews SET due_on = $2 WHERE id = $1", open.id, due)
        .execute(&mut *conn)
        .await?;
    let text = format!(
        "听证 {} 至 {}（{days} 日，不计入复核期限），复核期限顺延至 {}",
        cn_date(from),
        cn_date(to),
        cn_date(due)
    );
    let data = json!({ "from": from, "to": to, "days": days, "due_on": due });
    let uid = Some(user.id);
    event(
        &mut *conn,
        keys,
        case_id,
        "hearing",
        uid,
        now,
        &text,
        data.clone(),
    )
    .await?;
    let entry = Entry::ok("case.hearing").on("case", case_id).detail(data);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(due)
}
