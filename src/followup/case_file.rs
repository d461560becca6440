//! The case file as its page shows it, read-only: the case's details, the citizen and the
//! dossier behind it, its timeline, and its deadlines with working days left.

use crate::clock::{china_date, china_minute, cn_date};
use crate::crypto::free_text;
use crate::crypto::{Column, Keys};
use crate::followup::CaseRules;
use crate::followup::labels::event_label;
use crate::followup::state::State as CaseState;
use crate::followup::workdays::Calendar;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::{PgExecutor, PgPool};

/// One line of the timeline.
pub struct EventLine {
    pub at: String,
    pub who: String,
    pub what: &'static str,
    pub text: String,
}

/// A deadline of the case, and where the clock stands on it.
pub struct Deadline {
    pub label: &'static str,
    pub date: String,
    pub days_left: Option<i64>,
    pub overdue: bool,
}

/// The case with its names (category, visit, departments, leader) and the citizen's last comment.
pub struct Details {
    pub title: String,
    pub issue_id: Option<i64>,
    pub survey_item_id: Option<i64>,
    pub due_on: Option<NaiveDate>,
    pub extended_due_on: Option<NaiveDate>,
    pub accept_due_on: NaiveDate,
    pub result: Option<String>,
    pub reply: Option<String>,
    pub rating: Option<String>,
    pub acceptance_notified_at: Option<DateTime<Utc>>,
    pub assigned_at: DateTime<Utc>,
    pub category: String,
    pub visit_title: String,
    pub visit_date: NaiveDate,
    pub lead_department: String,
    pub owner: String,
    pub co: String,
    pub rating_comment: Option<String>,
}

/// The case's details, its reply and the latest rating comment opened.
pub async fn details(db: impl PgExecutor<'_>, keys: &Keys, id: i64) -> sqlx::Result<Details> {
    let c = sqlx::query!(
        r#"SELECT c.title, c.issue_id, c.survey_item_id, c.due_on, c.extended_due_on, c.accept_due_on, c.result,
                  c.reply, c.reply_cipher, c.reply_key_id,
                  c.rating, c.acceptance_notified_at, c.assigned_at,
                  cat.name AS category, v.title AS visit_title, v.visit_date, d.name AS lead_department,
                  l.name || '（' || l.title || '）' AS "owner!",
                  COALESCE((SELECT string_agg(dd.name, '、' ORDER BY dd.name) FROM case_departments cd JOIN departments dd ON dd.id = cd.department_id
                            WHERE cd.case_id = c.id), '') AS "co!",
                  f.id AS "feedback_id?", f.comment AS "comment?", f.comment_cipher, f.comment_key_id
           FROM cases c JOIN categories cat ON cat.id = c.category_id JOIN visits v ON v.id = c.visit_id
           JOIN departments d ON d.id = c.lead_department_id JOIN leaders l ON l.id = c.owner_leader_id
           LEFT JOIN LATERAL (SELECT f.id, f.comment, f.comment_cipher, f.comment_key_id FROM feedback f
                              WHERE f.case_id = c.id ORDER BY f.at DESC, f.id DESC LIMIT 1) f ON true
           WHERE c.id = $1"#,
        id
    )
    .fetch_one(db)
    .await?;
    let rating_comment = match c.feedback_id {
        Some(f) => free_text::open(
            keys,
            Column::FEEDBACK_COMMENT,
            f,
            c.comment,
            c.comment_cipher,
            c.comment_key_id,
        )?,
        None => None,
    };
    Ok(Details {
        reply: free_text::open(
            keys,
            Column::CASE_REPLY,
            id,
            c.reply,
            c.reply_cipher,
            c.reply_key_id,
        )?,
        title: c.title,
        issue_id: c.issue_id,
        survey_item_id: c.survey_item_id,
        due_on: c.due_on,
        extended_due_on: c.extended_due_on,
        accept_due_on: c.accept_due_on,
        result: c.result,
        rating: c.rating,
        acceptance_notified_at: c.acceptance_notified_at,
        assigned_at: c.assigned_at,
        category: c.category,
        visit_title: c.visit_title,
        visit_date: c.visit_date,
        lead_department: c.lead_department,
        owner: c.owner,
        co: c.co,
        rating_comment,
    })
}

/// The citizen behind the case (by their reception, or the survey item they brought).
pub struct Citizen {
    pub name: String,
    pub id_mask: String,
    pub phone_mask: String,
    pub persons: i32,
    pub address: String,
    pub grievance: String,
    pub registration_code: String,
    pub reception: String,
    /// 接谈情况: what the citizen said at the table, as recorded there.
    pub statement: String,
    /// The leaders who received them.
    pub leaders: String,
    pub consultation: String,
}

/// The citizen behind case `id`, if any, and the summary of the issue recorded at the desk.
pub async fn citizen(
    db: impl PgExecutor<'_>,
    keys: &Keys,
    id: i64,
) -> anyhow::Result<Option<(Citizen, String)>> {
    let r = sqlx::query!(
        r#"SELECT r.name, r.id_number_mask, r.phone_mask, r.persons, r.address, r.township, r.grievance, r.code,
                  r.id, r.name_cipher, r.name_key_id, r.address_cipher, r.address_key_id, r.grievance_cipher, r.grievance_key_id,
                  rc.started_at AS "started_at?", rc.id AS "reception_id?", rc.consultation AS "consultation?",
                  rc.consultation_cipher, rc.consultation_key_id, rc.statement AS "statement?", rc.statement_cipher, rc.statement_key_id,
                  (SELECT string_agg(l.name || '（' || l.title || '）', '、' ORDER BY l.name) FROM reception_leaders x
                   JOIN leaders l ON l.id = x.leader_id WHERE x.reception_id = rc.id) AS leaders, rm.name AS "room?", i.summary AS "summary?"
           FROM cases c
           LEFT JOIN issues i ON i.id = c.issue_id LEFT JOIN receptions rc ON rc.id = i.reception_id LEFT JOIN rooms rm ON rm.id = rc.room_id
           JOIN registrations r ON r.id = rc.registration_id OR (c.survey_item_id IS NOT NULL AND r.survey_item_id = c.survey_item_id)
           WHERE c.id = $1 LIMIT 1"#,
        id
    )
    .fetch_optional(db)
    .await?;
    let Some(r) = r else { return Ok(None) };
    let address = keys.open(
        Column::REGISTRATION_ADDRESS,
        r.id,
        r.address,
        r.address_cipher,
        r.address_key_id,
    )?;
    let (consultation, statement) = match r.reception_id {
        Some(rc) => (
            free_text::open(
                keys,
                Column::RECEPTION_CONSULTATION,
                rc,
                r.consultation,
                r.consultation_cipher,
                r.consultation_key_id,
            )?,
            free_text::open(
                keys,
                Column::RECEPTION_STATEMENT,
                rc,
                r.statement,
                r.statement_cipher,
                r.statement_key_id,
            )?,
        ),
        None => (None, None),
    };
    {
        let citizen = Citizen {
            name: keys.open(
                Column::REGISTRATION_NAME,
                r.id,
                r.name,
                r.name_cipher,
                r.name_key_id,
            )?,
            id_mask: r.id_number_mask,
            phone_mask: r.phone_mask.unwrap_or_default(),
            persons: r.persons,
            address: format!("{}{address}", r.township),
            grievance: keys.open(
                Column::REGISTRATION_GRIEVANCE,
                r.id,
                r.grievance,
                r.grievance_cipher,
                r.grievance_key_id,
            )?,
            registration_code: r.code,
            reception: match (r.room, r.started_at) {
                (Some(room), Some(at)) => format!("{room} · {}", china_minute(at)),
                _ => String::new(),
            },
            statement: statement.unwrap_or_default(),
            leaders: r.leaders.unwrap_or_default(),
            consultation: consultation.unwrap_or_default(),
        };
        Ok(Some((citizen, r.summary.unwrap_or_default())))
    }
}

/// The survey item's dossier (访前调查, 一事一档), if the case has one: what was reported, where,
/// by whom (masked: the case's readers need the matter, not the person) and when, and what the
/// survey found.
pub struct Dossier {
    pub place: String,
    pub reporter: String,
    pub reporter_phone: String,
    pub reported_on: String,
    pub brought_by_leader: bool,
    pub summary: String,
    pub background: String,
    pub policy_basis: String,
    pub proposed_handling: String,
}

pub async fn dossier(db: &PgPool, keys: &Keys, id: i64) -> sqlx::Result<Option<Dossier>> {
    let Some(s) = sqlx::query!(
        "SELECT s.id, s.township, s.village, s.reporter, s.reporter_cipher, s.reporter_key_id, s.reporter_phone_mask,
                s.created_at, s.brought_by_leader, s.summary, s.background, s.background_cipher, s.background_key_id,
                s.policy_basis, s.policy_basis_cipher, s.policy_basis_key_id,
                s.proposed_handling, s.proposed_handling_cipher, s.proposed_handling_key_id
         FROM survey_items s
         WHERE s.id = (SELECT COALESCE(c.survey_item_id, r.survey_item_id) FROM cases c
                       LEFT JOIN issues i ON i.id = c.issue_id LEFT JOIN receptions rc ON rc.id = i.reception_id
                       LEFT JOIN registrations r ON r.id = rc.registration_id WHERE c.id = $1)",
        id
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let open = |column, plain: String, cipher, key_id| {
        free_text::open(keys, column, s.id, Some(plain), cipher, key_id)
            .map(Option::unwrap_or_default)
    };
    let reporter = open(
        Column::SURVEY_REPORTER,
        s.reporter,
        s.reporter_cipher,
        s.reporter_key_id,
    )?;
    Ok(Some(Dossier {
        place: format!("{}{}", s.township, s.village),
        reporter: Some(reporter.trim())
            .filter(|r| !r.is_empty())
            .map(crate::privacy::mask_name)
            .unwrap_or_default(),
        reporter_phone: s.reporter_phone_mask.unwrap_or_default(),
        reported_on: cn_date(china_date(s.created_at)),
        brought_by_leader: s.brought_by_leader,
        background: open(
            Column::SURVEY_BACKGROUND,
            s.background,
            s.background_cipher,
            s.background_key_id,
        )?,
        policy_basis: open(
            Column::SURVEY_POLICY_BASIS,
            s.policy_basis,
            s.policy_basis_cipher,
            s.policy_basis_key_id,
        )?,
        proposed_handling: open(
            Column::SURVEY_PROPOSED_HANDLING,
            s.proposed_handling,
            s.proposed_handling_cipher,
            s.proposed_handling_key_id,
        )?,
        summary: s.summary,
    }))
}

/// The case's events, oldest first, their texts opened.
pub async fn events(db: &PgPool, keys: &Keys, id: i64) -> sqlx::Result<Vec<EventLine>> {
    sqlx::query!(
        r#"SELECT e.id, e.kind, e.at, e.text, e.text_cipher, e.text_key_id,
                  COALESCE(u.display_name, CASE WHEN e.kind IN ('rated', 'review_requested') THEN '来访群众' ELSE '系统' END) AS "who!"
           FROM case_events e LEFT JOIN users u ON u.id = e.actor_id WHERE e.case_id = $1 ORDER BY e.at, e.id"#,
        id
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|e| {
        let text = free_text::open(
            keys,
            Column::CASE_EVENT_TEXT,
            e.id,
            Some(e.text),
            e.text_cipher,
            e.text_key_id,
        )?;
        Ok(EventLine {
            at: china_minute(e.at),
            who: e.who,
            what: event_label(&e.kind),
            text: text.unwrap_or_default(),
        })
    })
    .collect()
}

/// The deadlines of a case in `state`; working days left on those whose clock runs.
pub fn deadlines(
    calendar: &Calendar,
    today: NaiveDate,
    state: CaseState,
    c: &Details,
    rules: &CaseRules,
) -> Vec<Deadline> {
    let running = state.deadline_runs();
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
        state == CaseState::Assigned,
    );
    let notice = china_date(c.assigned_at) + Duration::days(rules.acceptance_notice_d);
    line(
        "告知受理期限",
        Some(notice),
        running && c.acceptance_notified_at.is_none(),
    );
    line("办结期限", c.due_on, running && c.extended_due_on.is_none());
    line("延期后办结期限", c.extended_due_on, running);
    deadlines
}
