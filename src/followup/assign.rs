//! 交办: an assigned issue (or a survey item brought on the visit, 带案下访) becomes a case with a
//! lead department, optional co-departments, an owning leader and a deadline (DESIGN §3, §4).

use crate::audit::{self, Actor, Entry};
use crate::clock::china_date;
use crate::followup::CaseRules;
use crate::followup::workdays::Calendar;
use crate::notify;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sqlx::PgConnection;

/// Where a case comes from: exactly one of the two (the schema's `cases_one_source`).
#[derive(Clone, Copy, Debug)]
pub enum Source {
    Issue(i64),
    SurveyItem(i64),
}

pub struct NewCase<'a> {
    pub visit_id: i64,
    pub source: Source,
    pub title: &'a str,
    pub category_id: i64,
    /// 承办单位: 主办 …
    pub lead_department_id: i64,
    /// … and 协办 (the lead is dropped from this list if repeated).
    pub co_department_ids: &'a [i64],
    /// 包案领导.
    pub owner_leader_id: i64,
    /// 办结时限 in days from acceptance (the visit's 限期 by default).
    pub deadline_days: i32,
}

pub struct Assigned {
    pub id: i64,
    pub code: String,
    pub accept_due_on: NaiveDate,
}

/// Case codes: "JB" (交办) and the unambiguous alphabet of registration codes.
pub fn new_code(rng: &mut impl rand::Rng) -> String {
    format!("JB{}", crate::prepare::registration::new_code(rng))
}

/// The day by which the department must sign for or return the case.
pub fn accept_due_on(
    calendar: &Calendar,
    rules: &CaseRules,
    assigned_at: DateTime<Utc>,
) -> NaiveDate {
    calendar.add(china_date(assigned_at), rules.accept_wd)
}

/// Create the case, its co-departments, its first event and the audit row, in the caller's transaction.
pub async fn assign(
    conn: &mut PgConnection,
    rules: &CaseRules,
    c: &NewCase<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> sqlx::Result<Assigned> {
    let calendar = Calendar::load(&mut *conn, china_date(now)).await?;
    let due = accept_due_on(&calendar, rules, now);
    let code = new_code(&mut rand::rng());
    let (issue_id, survey_item_id) = match c.source {
        Source::Issue(id) => (Some(id), None),
        Source::SurveyItem(id) => (None, Some(id)),
    };
    let actor_id = actor.id.expect("cases are assigned by a signed-in user");
    let row = sqlx::query!(
        "INSERT INTO cases (code, visit_id, issue_id, survey_item_id, title, category_id, lead_department_id,
                            owner_leader_id, deadline_days, assigned_at, assigned_by, accept_due_on)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id, query_code",
        code,
        c.visit_id,
        issue_id,
        survey_item_id,
        c.title,
        c.category_id,
        c.lead_department_id,
        c.owner_leader_id,
        c.deadline_days,
        now,
        actor_id,
        due,
    )
    .fetch_one(&mut *conn)
    .await?;
    let id = row.id;
    let co: Vec<i64> = c
        .co_department_ids
        .iter()
        .copied()
        .filter(|d| *d != c.lead_department_id)
        .collect();
    sqlx::query!(
        "INSERT INTO case_departments (case_id, department_id) SELECT $1, d FROM unnest($2::bigint[]) AS d ON CONFLICT DO NOTHING",
        id,
        &co
    )
    .execute(&mut *conn)
    .await?;
    let data = json!({ "lead_department_id": c.lead_department_id, "co_department_ids": co, "owner_leader_id": c.owner_leader_id,
                       "deadline_days": c.deadline_days, "accept_due_on": due });
    sqlx::query!("INSERT INTO case_events (case_id, kind, actor_id, at, data) VALUES ($1, 'assigned', $2, $3, $4)", id, actor_id, now, data)
        .execute(&mut *conn)
        .await?;
    audit::record(
        &mut *conn,
        actor,
        Entry::ok("case.assign")
            .on("case", id)
            .detail(json!({ "code": code, "visit_id": c.visit_id })),
    )
    .await?;
    send_query_code(&mut *conn, id, &code, &row.query_code).await?;
    Ok(Assigned {
        id,
        code,
        accept_due_on: due,
    })
}

/// The citizen behind a new case learns its 查询码 by SMS when a phone is on record: their
/// registration's (the reception's, or the one made for the survey item), else the survey item's
/// reporter's. Without a phone the 查询码 reaches them on the printed documents.
async fn send_query_code(
    conn: &mut PgConnection,
    case_id: i64,
    case_code: &str,
    query_code: &str,
) -> sqlx::Result<()> {
    const KIND: &str = "case.query_code";
    let params = json!({ "case_code": case_code, "query_code": query_code });
    let to = sqlx::query!(
        r#"SELECT r.id AS "registration?", r.phone_mask AS "registration_mask?",
                  s.id AS "survey_item?", s.reporter_phone_mask AS "reporter_mask?"
           FROM cases c
           LEFT JOIN registrations r ON r.id = case_registration(c.id) AND r.phone_mask IS NOT NULL
           LEFT JOIN survey_items s ON s.id = c.survey_item_id AND s.reporter_phone_mask IS NOT NULL
           WHERE c.id = $1"#,
        case_id
    )
    .fetch_one(&mut *conn)
    .await?;
    match (
        to.registration,
        to.registration_mask,
        to.survey_item,
        to.reporter_mask,
    ) {
        (Some(registration), Some(mask), _, _) => {
            let m = notify::Message {
                registration_id: Some(registration),
                user_id: None,
                phone_code_id: None,
                recipient_mask: &mask,
                kind: KIND,
                params,
            };
            notify::queue(&mut *conn, m).await?;
        }
        (_, _, Some(item), Some(mask)) => {
            notify::queue_to_survey_reporter(&mut *conn, item, &mask, KIND, params).await?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_prefixed_and_fit_the_schema() {
        let code = new_code(&mut rand::rng());
        assert!(code.starts_with("JB") && code.len() == 12);
        assert!(
            code.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }

    #[test]
    fn signing_is_due_five_working_days_after_assignment() {
        // Assigned Friday 2026-11-20 10:00 in China → due Friday 27th.
        let at = "2026-11-20T02:00:00Z".parse().unwrap();
        assert_eq!(
            accept_due_on(&Calendar::default(), &CaseRules::default(), at),
            "2026-11-27".parse().unwrap()
        );
    }
}
