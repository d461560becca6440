//! 三张清单 (DESIGN §4) — risk, task, responsibility — with strike-off (动态销号: a closed item
//! stays listed, struck through, with its date), and cadence compliance. Which row belongs where
//! is decided by the pure functions below; `build` only fetches. The page is `pages::lists`.

use crate::clock::{china_date, cn_date};
use crate::config::rules::{Cadence, ListRules};
use crate::followup::cadence::{self, Lag};
use crate::followup::state::State as CaseState;
use crate::privacy::{Column, Keys};
use crate::web::form::opt_id;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use sqlx::PgPool;

/// Open (with its date and whether it is past), or struck off on a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Open {
        due: Option<NaiveDate>,
        overdue: bool,
    },
    Closed(NaiveDate),
}

/// The date that counts: the sign-for date while 待签收, then the (extended) due date.
pub fn case_due(
    status: &str,
    accept_due: NaiveDate,
    effective_due: Option<NaiveDate>,
) -> Option<NaiveDate> {
    if CaseState::parse(status) == Some(CaseState::Assigned) {
        Some(accept_due)
    } else {
        effective_due
    }
}

/// A case is struck off once closed, rated (unless 不满意: the supervisor still has to decide) or
/// terminated; its date is the closing date (or the last change, for a termination without one).
pub fn case_mark(
    status: &str,
    rating: Option<&str>,
    due: Option<NaiveDate>,
    closed_on: Option<NaiveDate>,
    changed_on: NaiveDate,
    today: NaiveDate,
) -> Mark {
    let state = CaseState::parse(status);
    let done = match state {
        Some(CaseState::Rated) => rating != Some("dissatisfied"),
        Some(s) => !s.is_open(),
        None => false,
    };
    if done {
        return Mark::Closed(closed_on.unwrap_or(changed_on));
    }
    let runs = state.is_some_and(CaseState::deadline_runs);
    Mark::Open {
        due,
        overdue: runs && due.is_some_and(|d| d < today),
    }
}

/// Why a case is on the risk list: 不满意, or past its date (still open, or closed late).
pub fn case_risks(
    rating: Option<&str>,
    due: Option<NaiveDate>,
    mark: Mark,
    today: NaiveDate,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    if rating == Some("dissatisfied") {
        out.push("不满意");
    }
    let until = match mark {
        Mark::Closed(d) => d,
        Mark::Open { .. } => today,
    };
    if due.is_some_and(|d| d < until) {
        out.push("逾期");
    }
    out
}

/// Why a registration is on the risk list: a group visit, a repeat petitioner.
pub fn registration_risks(persons: i32, same_id: i64, rules: &ListRules) -> Vec<String> {
    let mut out = Vec::new();
    if persons > rules.group_persons_over {
        out.push(format!("群体访（{persons}人）"));
    }
    if same_id >= rules.repeat_registrations {
        out.push(format!("重复访（{same_id}次登记）"));
    }
    out
}

/// A registration is struck off when its batch was received and every case from it is closed;
/// dated by the later of the reception's end and the last closure.
pub fn registration_mark(
    received_on: Option<NaiveDate>,
    open_cases: i64,
    last_closed_on: Option<NaiveDate>,
) -> Mark {
    match received_on {
        Some(r) if open_cases == 0 => Mark::Closed(last_closed_on.map_or(r, |c| c.max(r))),
        _ => Mark::Open {
            due: None,
            overdue: false,
        },
    }
}

/// One row of any of the three lists.
#[derive(Clone)]
pub struct Item {
    pub kind: &'static str,
    pub href: String,
    pub code: String,
    /// The case title, or the petitioner's name with the masked ID number.
    pub subject: String,
    pub visit: String,
    pub status: &'static str,
    pub department: String,
    pub co_departments: String,
    pub leader: String,
    pub due: Option<NaiveDate>,
    pub reasons: Vec<String>,
    pub mark: Mark,
}

impl Item {
    pub fn due_text(&self) -> String {
        self.due.map(cn_date).unwrap_or_default()
    }
    pub fn closed_text(&self) -> String {
        match self.mark {
            Mark::Closed(d) => cn_date(d),
            Mark::Open { .. } => String::new(),
        }
    }
    pub fn is_closed(&self) -> bool {
        matches!(self.mark, Mark::Closed(_))
    }
    pub fn is_overdue(&self) -> bool {
        matches!(self.mark, Mark::Open { overdue: true, .. })
    }
    pub fn reasons_text(&self) -> String {
        self.reasons.join("、")
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Filter {
    pub visit: String,
    pub department: String,
    /// Drill into one county of the subtree (a city's or province's supervisor).
    pub county: String,
    /// Export only: which list.
    pub list: String,
}

impl Filter {
    /// The filter as a query string (the export links, the audit row).
    pub fn query(&self) -> String {
        format!(
            "visit={}&department={}&county={}",
            self.visit.trim(),
            self.department.trim(),
            self.county.trim()
        )
    }
}

pub struct Lists {
    pub risk: Vec<Item>,
    pub task: Vec<Item>,
    pub responsibility: Vec<Item>,
    pub cadence: Vec<Lag>,
}

/// The lists under `filter` as of `now`, of the visits hosted or organised within `within`'s
/// subtree and its leaders (DESIGN §11).
pub async fn build(
    db: &PgPool,
    within: Option<i64>,
    filter: &Filter,
    now: DateTime<Utc>,
    rules: &ListRules,
    cadence_rules: &Cadence,
    keys: &Keys,
) -> anyhow::Result<Lists> {
    let today = china_date(now);
    let within = crate::followup::dashboard::narrow(db, within, opt_id(&filter.county)).await?;
    let (visit, department) = (opt_id(&filter.visit), opt_id(&filter.department));
    let since: DateTime<Utc> = now - Duration::days(rules.struck_days);
    let cases = sqlx::query!(
        r#"SELECT c.id, c.code, c.title, c.status, c.rating, c.accept_due_on, c.effective_due_on, c.closed_at, c.updated_at,
                  v.title AS visit, d.name AS department, l.name AS leader,
                  (SELECT string_agg(d2.name, '、' ORDER BY d2.name) FROM case_departments cd JOIN departments d2 ON d2.id = cd.department_id
                   WHERE cd.case_id = c.id) AS co_departments
           FROM cases c JOIN visits v ON v.id = c.visit_id JOIN departments d ON d.id = c.lead_department_id JOIN leaders l ON l.id = c.owner_leader_id
           WHERE (c.status NOT IN ('closed', 'rated', 'terminated') OR (c.status = 'rated' AND c.rating = 'dissatisfied')
                  OR COALESCE(c.closed_at, c.updated_at) >= $1)
             AND ($2::bigint IS NULL OR c.visit_id = $2)
             AND ($3::bigint IS NULL OR c.lead_department_id = $3 OR c.id IN (SELECT case_id FROM case_departments WHERE department_id = $3))
             AND c.visit_id IN (SELECT v.id FROM visits v
                  WHERE v.county_id IN (SELECT jurisdiction_subtree($5)) OR v.organiser_id IN (SELECT jurisdiction_subtree($5)))
           ORDER BY COALESCE(c.effective_due_on, c.accept_due_on), c.id LIMIT $4"#,
        since,
        visit,
        department,
        rules.limit,
        within,
    )
    .fetch_all(db)
    .await?;
    let mut risk = Vec::new();
    let mut task = Vec::new();
    for c in cases {
        let due = case_due(&c.status, c.accept_due_on, c.effective_due_on);
        let mark = case_mark(
            &c.status,
            c.rating.as_deref(),
            due,
            c.closed_at.map(china_date),
            china_date(c.updated_at),
            today,
        );
        let reasons: Vec<String> = case_risks(c.rating.as_deref(), due, mark, today)
            .into_iter()
            .map(String::from)
            .collect();
        let item = Item {
            kind: "交办件",
            href: format!("/cases/{}", c.id),
            code: c.code,
            subject: c.title,
            visit: c.visit,
            status: CaseState::parse(&c.status)
                .map(CaseState::label)
                .unwrap_or(""),
            department: c.department,
            co_departments: c.co_departments.unwrap_or_default(),
            leader: c.leader,
            due,
            reasons,
            mark,
        };
        if !item.reasons.is_empty() {
            risk.push(item.clone());
        }
        task.push(item);
    }
    let regs = sqlx::query!(
        r#"SELECT r.id, r.visit_id, r.code, r.name, r.name_cipher, r.name_key_id, r.id_number_mask, r.persons, v.title AS visit, rc.ended_at,
                  (SELECT count(*) FROM registrations r2 WHERE r2.id_number_index = r.id_number_index
                      AND r2.merged_into_id IS NULL AND r2.status NOT IN ('cancelled', 'rejected')) AS "same_id!",
                  (SELECT count(*) FROM issues i JOIN cases c ON c.issue_id = i.id
                   WHERE i.reception_id = rc.id AND c.status NOT IN ('closed', 'rated', 'terminated')) AS "open_cases!",
                  (SELECT max(c.closed_at) FROM issues i JOIN cases c ON c.issue_id = i.id WHERE i.reception_id = rc.id) AS last_closed
           FROM registrations r JOIN visits v ON v.id = r.visit_id LEFT JOIN receptions rc ON rc.registration_id = r.id
           WHERE r.merged_into_id IS NULL AND r.status NOT IN ('cancelled', 'rejected')
             AND (r.persons > $1 OR EXISTS (SELECT 1 FROM registrations r2 WHERE r2.id_number_index = r.id_number_index AND r2.id <> r.id
                      AND r2.merged_into_id IS NULL AND r2.status NOT IN ('cancelled', 'rejected')))
             AND ($2::bigint IS NULL OR r.visit_id = $2)
             AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM issues i JOIN cases c ON c.issue_id = i.id
                      WHERE i.reception_id = rc.id AND c.lead_department_id = $3))
             AND (v.county_id IN (SELECT jurisdiction_subtree($5)) OR v.organiser_id IN (SELECT jurisdiction_subtree($5)))
           ORDER BY v.visit_date DESC, r.id LIMIT $4"#,
        rules.group_persons_over,
        visit,
        department,
        rules.limit,
        within,
    )
    .fetch_all(db)
    .await?;
    for r in regs {
        let reasons = registration_risks(r.persons, r.same_id, rules);
        if reasons.is_empty() {
            continue;
        }
        risk.push(Item {
            kind: "来访登记",
            href: format!("/staff/visits/{}/registrations/{}", r.visit_id, r.id),
            code: r.code,
            subject: format!(
                "{} {}",
                keys.open(
                    Column::REGISTRATION_NAME,
                    r.id,
                    r.name,
                    r.name_cipher,
                    r.name_key_id
                )?,
                r.id_number_mask
            ),
            visit: r.visit,
            status: "",
            department: String::new(),
            co_departments: String::new(),
            leader: String::new(),
            due: None,
            reasons,
            mark: registration_mark(
                r.ended_at.map(china_date),
                r.open_cases,
                r.last_closed.map(china_date),
            ),
        });
    }
    // Open items first, then the struck-off ones.
    risk.sort_by_key(|i| i.is_closed());
    task.sort_by_key(|i| i.is_closed());
    let mut responsibility = task.clone();
    responsibility.sort_by(|a, b| {
        (&a.department, &a.leader, a.is_closed(), a.due).cmp(&(
            &b.department,
            &b.leader,
            b.is_closed(),
            b.due,
        ))
    });
    let cadence = cadence::lagging(
        cadence::leader_visits(db, today, within).await?,
        today,
        cadence_rules,
    );
    Ok(Lists {
        risk,
        task,
        responsibility,
        cadence,
    })
}

pub const RISK_HEADERS: [&str; 10] = [
    "类型",
    "编号",
    "对象",
    "下访活动",
    "风险",
    "承办单位",
    "包案领导",
    "办结时限",
    "状态",
    "销号日期",
];
pub const TASK_HEADERS: [&str; 7] = [
    "编号",
    "事项",
    "下访活动",
    "状态",
    "承办单位",
    "办结时限",
    "销号日期",
];
pub const RESPONSIBILITY_HEADERS: [&str; 7] = [
    "承办单位",
    "协办单位",
    "包案领导",
    "编号",
    "事项",
    "办结时限",
    "销号日期",
];
pub const CADENCE_HEADERS: [&str; 6] = [
    "领导",
    "职务",
    "级别",
    "下访频次（月）",
    "最近下访",
    "应下访日期",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    #[test]
    fn running_cases_are_open_and_overdue_after_their_date() {
        let today = d(11, 22);
        assert_eq!(
            case_mark("accepted", None, Some(d(11, 21)), None, today, today),
            Mark::Open {
                due: Some(d(11, 21)),
                overdue: true
            }
        );
        assert_eq!(
            case_mark("accepted", None, Some(d(11, 22)), None, today, today),
            Mark::Open {
                due: Some(d(11, 22)),
                overdue: false
            }
        );
        // the clock stops while a 复查 runs
        assert_eq!(
            case_mark("in_review", None, Some(d(11, 1)), None, today, today),
            Mark::Open {
                due: Some(d(11, 1)),
                overdue: false
            }
        );
        assert_eq!(case_due("assigned", d(11, 5), None), Some(d(11, 5)));
        assert_eq!(
            case_due("accepted", d(11, 5), Some(d(12, 30))),
            Some(d(12, 30))
        );
    }

    #[test]
    fn closed_cases_are_struck_off_with_their_date_unless_dissatisfied() {
        let today = d(11, 22);
        assert_eq!(
            case_mark(
                "closed",
                None,
                Some(d(11, 30)),
                Some(d(11, 10)),
                d(11, 12),
                today
            ),
            Mark::Closed(d(11, 10))
        );
        assert_eq!(
            case_mark(
                "rated",
                Some("satisfied"),
                None,
                Some(d(11, 10)),
                d(11, 12),
                today
            ),
            Mark::Closed(d(11, 10))
        );
        assert!(matches!(
            case_mark(
                "rated",
                Some("dissatisfied"),
                None,
                Some(d(11, 10)),
                d(11, 12),
                today
            ),
            Mark::Open { .. }
        ));
        assert_eq!(
            case_mark(
                "terminated",
                Some("dissatisfied"),
                None,
                None,
                d(11, 12),
                today
            ),
            Mark::Closed(d(11, 12))
        );
    }

    #[test]
    fn case_risks_are_dissatisfaction_and_lateness_also_when_closed_late() {
        let today = d(11, 22);
        let open = Mark::Open {
            due: None,
            overdue: false,
        };
        assert_eq!(case_risks(None, Some(d(11, 21)), open, today), vec!["逾期"]);
        assert!(case_risks(None, Some(d(11, 22)), open, today).is_empty());
        assert_eq!(
            case_risks(None, Some(d(11, 1)), Mark::Closed(d(11, 2)), today),
            vec!["逾期"]
        );
        assert!(case_risks(None, Some(d(11, 1)), Mark::Closed(d(11, 1)), today).is_empty());
        assert_eq!(
            case_risks(Some("dissatisfied"), None, open, today),
            vec!["不满意"]
        );
    }

    #[test]
    fn groups_over_five_and_two_registrations_of_one_id_are_risks() {
        let r = ListRules::default();
        assert!(registration_risks(5, 1, &r).is_empty());
        assert_eq!(registration_risks(6, 1, &r), vec!["群体访（6人）"]);
        assert_eq!(registration_risks(1, 2, &r), vec!["重复访（2次登记）"]);
        assert_eq!(registration_risks(8, 3, &r).len(), 2);
    }

    #[test]
    fn a_registration_is_struck_when_received_and_its_cases_closed() {
        assert!(matches!(
            registration_mark(None, 0, None),
            Mark::Open { .. }
        ));
        assert!(matches!(
            registration_mark(Some(d(11, 1)), 1, None),
            Mark::Open { .. }
        ));
        assert_eq!(
            registration_mark(Some(d(11, 1)), 0, None),
            Mark::Closed(d(11, 1))
        );
        assert_eq!(
            registration_mark(Some(d(11, 1)), 0, Some(d(11, 9))),
            Mark::Closed(d(11, 9))
        );
    }
}
