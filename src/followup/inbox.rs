//! The case lists: `/cases` (every case the user may see, with filters; and its export) and a
//! department's inbox by section. Read-only; the pages are `pages::inbox`.

use crate::clock::cn_date;
use crate::followup::state::{RUNNING, State as CaseState};
use crate::followup::workdays::Calendar;
use crate::web::auth::{CurrentUser, Role};
use crate::web::form::{Choice, opt_id};
use chrono::NaiveDate;
use serde::Deserialize;
use sqlx::PgPool;

pub struct Line {
    pub id: i64,
    pub code: String,
    pub title: String,
    pub status: &'static str,
    pub department: String,
    pub leader: String,
    pub due: String,
    pub days_left: Option<i64>,
    /// Past its date while the clock runs (even when no working day has passed since).
    pub overdue: bool,
    /// The pressure on it: 重办, 督办, 催办 (the inbox only).
    pub marks: Vec<&'static str>,
}

/// The pressure marks of a case: reopened (重办), urged by a supervisor (督办), urged by the
/// deadline job (催办). A case with any of them heads the inbox.
pub fn marks(reopened: bool, supervised: bool, auto_urged: bool) -> Vec<&'static str> {
    [
        (reopened, "重办"),
        (supervised, "督办"),
        (auto_urged, "催办"),
    ]
    .into_iter()
    .filter_map(|(on, mark)| on.then_some(mark))
    .collect()
}

/// Days left in working days on the date that counts now: the sign-for date while 待签收,
/// the (extended) due date while handled; none once the clock stops.
fn days_left(
    calendar: &Calendar,
    today: NaiveDate,
    status: &str,
    accept_due: NaiveDate,
    due: Option<NaiveDate>,
) -> (Option<NaiveDate>, Option<i64>, bool) {
    let state = CaseState::parse(status);
    let date = if state == Some(CaseState::Assigned) {
        Some(accept_due)
    } else {
        due
    };
    let live = date.filter(|_| state.is_some_and(CaseState::deadline_runs));
    (
        date,
        live.map(|d| calendar.days_left(today, d)),
        live.is_some_and(|d| d < today),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Filter {
    pub status: String,
    pub department: String,
    pub leader: String,
    pub visit: String,
    pub overdue: String,
    pub dissatisfied: String,
}

/// The newest `limit` cases for these filters, and whether there are more: a leader sees their
/// own, a handler their department's, staff and supervisors those whose visit's host or organiser
/// lies in their jurisdiction's subtree (DESIGN §11).
pub async fn lines(
    db: &PgPool,
    user: &CurrentUser,
    filter: &Filter,
    today: NaiveDate,
    limit: i64,
) -> sqlx::Result<(Vec<Line>, bool)> {
    let scope_leader = (user.role == Role::Leader).then(|| user.leader_id.unwrap_or(-1));
    let scope_department = (user.role == Role::Handler).then(|| user.department_id.unwrap_or(-1));
    let scope_jurisdiction = matches!(user.role, Role::Staff | Role::Supervisor)
        .then(|| user.jurisdiction_id.unwrap_or(-1));
    let status = CaseState::parse(&filter.status).map(CaseState::as_str);
    let running: Vec<String> = RUNNING.iter().map(|s| s.to_string()).collect();
    let rows = sqlx::query!(
        r#"SELECT c.id, c.code, c.title, c.status, c.accept_due_on, c.effective_due_on, d.name AS department, l.name AS leader
           FROM cases c JOIN departments d ON d.id = c.lead_department_id JOIN leaders l ON l.id = c.owner_leader_id
           WHERE ($1::text IS NULL OR c.status = $1)
             AND ($2::bigint IS NULL OR c.lead_department_id = $2)
             AND ($3::bigint IS NULL OR c.owner_leader_id = $3)
             AND ($4::bigint IS NULL OR c.visit_id = $4)
             AND (NOT $5 OR (c.status = ANY($6) AND c.effective_due_on < $7))
             AND (NOT $8 OR (c.status = 'rated' AND c.rating = 'dissatisfied'))
             AND ($9::bigint IS NULL OR c.owner_leader_id = $9)
             AND ($10::bigint IS NULL OR c.lead_department_id = $10
                  OR c.id IN (SELECT case_id FROM case_departments WHERE department_id = $10))
             AND ($12::bigint IS NULL OR c.visit_id IN (SELECT v.id FROM visits v
                  WHERE v.county_id IN (SELECT jurisdiction_subtree($12)) OR v.organiser_id IN (SELECT jurisdiction_subtree($12))))
           ORDER BY c.id DESC LIMIT $11"#,
        status,
        opt_id(&filter.department),
        opt_id(&filter.leader),
        opt_id(&filter.visit),
        filter.overdue == "1",
        &running,
        today,
        filter.dissatisfied == "1",
        scope_leader,
        scope_department,
        limit + 1,
        scope_jurisdiction,
    )
    .fetch_all(db)
    .await?;
    let more = rows.len() as i64 > limit;
    let calendar = Calendar::load(db, today).await?;
    let lines = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| {
            let (date, left, overdue) = days_left(
                &calendar,
                today,
                &r.status,
                r.accept_due_on,
                r.effective_due_on,
            );
            Line {
                id: r.id,
                code: r.code,
                title: r.title,
                status: CaseState::parse(&r.status)
                    .map(CaseState::label)
                    .unwrap_or(""),
                department: r.department,
                leader: r.leader,
                due: date.map(cn_date).unwrap_or_default(),
                days_left: left,
                overdue,
                marks: vec![],
            }
        })
        .collect();
    Ok((lines, more))
}

/// The cases waiting for `user`'s approval (a leader's own, 待审批), newest first.
pub async fn awaiting_approval(
    db: &PgPool,
    user: &CurrentUser,
    today: NaiveDate,
) -> sqlx::Result<Vec<Line>> {
    let filter = Filter {
        status: CaseState::ClosureSubmitted.as_str().into(),
        ..Filter::default()
    };
    Ok(lines(db, user, &filter, today, PER_SECTION).await?.0)
}

pub const EXPORT_HEADERS: [&str; 7] = [
    "编号",
    "事项",
    "状态",
    "承办单位",
    "包案领导",
    "办结时限",
    "剩余工作日",
];

pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    pub total: i64,
    pub lines: Vec<Line>,
}

/// Rows shown per section; the count says how many there are in all.
const PER_SECTION: i64 = 100;

/// The department's running cases (lead, and co for those being handled), by section; the
/// pressed ones (`marks`) first, whatever their dates. Both
/// halves walk an index (cases(lead_department_id, status), case_departments(department_id)).
pub async fn sections(
    db: &PgPool,
    department_id: i64,
    today: NaiveDate,
) -> sqlx::Result<Vec<Section>> {
    let rows = sqlx::query!(
        r#"WITH mine AS (
               SELECT c.id, c.code, c.title, c.status, c.accept_due_on, c.effective_due_on, c.owner_leader_id, c.lead_department_id
               FROM cases c WHERE c.lead_department_id = $1 AND c.status IN ('assigned', 'accepted', 'returned', 'closure_submitted')
               UNION ALL
               SELECT c.id, c.code, c.title, c.status, c.accept_due_on, c.effective_due_on, c.owner_leader_id, c.lead_department_id
               FROM case_departments cd JOIN cases c ON c.id = cd.case_id
               WHERE cd.department_id = $1 AND c.status IN ('accepted', 'closure_submitted')
           ), pressed AS (
               SELECT m.*,
                      EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = m.id AND (e.kind = 'reopened'
                              OR (e.kind = 'review_decided' AND e.data->>'result' = 'overturned'))) AS reopened,
                      EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = m.id AND e.kind = 'urged') AS supervised,
                      EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = m.id AND e.kind = 'auto_urged') AS auto_urged
               FROM mine m
           ), sorted AS (
               SELECT p.*, CASE WHEN p.reopened OR p.supervised OR p.auto_urged THEN 'pressed'
                                WHEN p.status = 'assigned' THEN 'sign'
                                WHEN p.status = 'returned' THEN 'returned'
                                WHEN p.effective_due_on < $2 THEN 'overdue'
                                WHEN p.effective_due_on <= $2 + 7 THEN 'soon'
                                ELSE 'open' END AS section
               FROM pressed p
           ), ranked AS (
               SELECT s.*, row_number() OVER w AS rn, count(*) OVER (PARTITION BY s.section) AS total
               FROM sorted s WINDOW w AS (PARTITION BY s.section ORDER BY COALESCE(s.effective_due_on, s.accept_due_on), s.id)
           )
           SELECT r.id AS "id!", r.code AS "code!", r.title AS "title!", r.status AS "status!", r.accept_due_on AS "accept_due_on!",
                  r.effective_due_on, r.section AS "section!", r.total AS "total!", d.name AS department, l.name AS leader,
                  r.reopened AS "reopened!", r.supervised AS "supervised!", r.auto_urged AS "auto_urged!"
           FROM ranked r JOIN departments d ON d.id = r.lead_department_id JOIN leaders l ON l.id = r.owner_leader_id
           WHERE r.rn <= $3 ORDER BY r.rn"#,
        department_id,
        today,
        PER_SECTION,
    )
    .fetch_all(db)
    .await?;
    let calendar = Calendar::load(db, today).await?;
    let mut sections: Vec<Section> = [
        ("pressed", "重办·督办·催办"),
        ("sign", "待签收"),
        ("soon", "即将到期"),
        ("overdue", "已逾期"),
        ("returned", "已退回"),
        ("open", "办理中"),
    ]
    .into_iter()
    .map(|(id, title)| Section {
        id,
        title,
        total: 0,
        lines: vec![],
    })
    .collect();
    for r in rows {
        let Some(section) = sections.iter_mut().find(|s| s.id == r.section) else {
            continue;
        };
        let (date, left, overdue) = days_left(
            &calendar,
            today,
            &r.status,
            r.accept_due_on,
            r.effective_due_on,
        );
        section.total = r.total;
        section.lines.push(Line {
            id: r.id,
            code: r.code,
            title: r.title,
            status: CaseState::parse(&r.status)
                .map(CaseState::label)
                .unwrap_or(""),
            department: r.department,
            leader: r.leader,
            due: date.map(cn_date).unwrap_or_default(),
            days_left: left,
            overdue,
            marks: marks(r.reopened, r.supervised, r.auto_urged),
        });
    }
    Ok(sections)
}

/// The case filters' departments: those of `within`'s subtree and those leading its cases (a
/// provincial department at a county's visit, found in the tallies); retired ones too.
pub async fn department_choices(db: &PgPool, within: Option<i64>) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        "SELECT id, name AS label FROM departments
         WHERE COALESCE(jurisdiction_id, $1) IN (SELECT jurisdiction_subtree($1))
            OR id IN (SELECT department_id FROM case_month_tallies
                      WHERE host_id IN (SELECT jurisdiction_subtree($1)) OR organiser_id IN (SELECT jurisdiction_subtree($1)))
         ORDER BY name",
        within
    )
    .fetch_all(db)
    .await
}

/// The case filters' leaders: those owning cases within `within`'s subtree (found in the
/// tallies, keyed by host and organiser); never another county's, nor one with nothing to find.
pub async fn leader_choices(db: &PgPool, within: Option<i64>) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        "SELECT id, name AS label FROM leaders
         WHERE id IN (SELECT leader_id FROM case_month_tallies
                      WHERE host_id IN (SELECT jurisdiction_subtree($1)) OR organiser_id IN (SELECT jurisdiction_subtree($1)))
         ORDER BY name",
        within
    )
    .fetch_all(db)
    .await
}

/// The case filters' visits: the latest hundred hosted or organised within `within`'s subtree.
pub async fn visit_choices(db: &PgPool, within: Option<i64>) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        "SELECT id, title AS label FROM visits
         WHERE county_id IN (SELECT jurisdiction_subtree($1)) OR organiser_id IN (SELECT jurisdiction_subtree($1))
         ORDER BY visit_date DESC LIMIT 100",
        within
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_name_each_pressure_in_order() {
        assert!(marks(false, false, false).is_empty());
        assert_eq!(marks(true, false, true), ["重办", "催办"]);
        assert_eq!(marks(false, true, false), ["督办"]);
    }
}
