//! The supervisor's dashboard figures (DESIGN §4 supervision), read for a filter: tallies per
//! department and leader, the 通报 list and the most overdue cases. The page and its .xlsx export
//! read the same `Dashboard`.
//!
//! The numbers come from `case_tallies`, kept by a trigger in the same transaction as every case
//! change (migration 0006), so they are exact and cheap over 10^6 cases; a visit filter counts
//! that visit's cases directly with the same key function. Everything is scoped to the cases whose
//! visit's host or organiser lies in `Filter::within`'s subtree (the tallies carry both, 0020).

use crate::clock::{china_instant, china_minute, cn_date};
use crate::config::rules::Weights;
use crate::followup::scoring::{
    Tally, TallyRow, highlighted, month_start, pct, ranks, report_cutoff, roll_up, score,
};
use crate::followup::workdays::Calendar;
use chrono::{Datelike, Duration, NaiveDate, NaiveTime};
use sqlx::PgPool;

/// The dashboard's filter, parsed (by the page) from its query string.
#[derive(Default, Debug, Clone, Copy)]
pub struct Filter {
    pub visit: Option<i64>,
    pub month: Option<NaiveDate>,
    pub department: Option<i64>,
    pub leader: Option<i64>,
    /// The user's jurisdiction: only its subtree's cases count (None: nothing).
    pub within: Option<i64>,
    /// Drill into one county of the subtree (a city's or province's supervisor).
    pub county: Option<i64>,
}

impl Filter {
    /// The filter narrowed to its county, if that county lies within the user's subtree;
    /// a county elsewhere leaves nothing to count (as if it did not exist).
    async fn narrowed(&self, db: &PgPool) -> sqlx::Result<Filter> {
        let within = narrow(db, self.within, self.county).await?;
        Ok(Filter { within, ..*self })
    }
}

/// The scope drilled into `county` if it lies within `within`'s subtree (None, nothing, if not).
pub async fn narrow(
    db: &PgPool,
    within: Option<i64>,
    county: Option<i64>,
) -> sqlx::Result<Option<i64>> {
    let Some(c) = county else {
        return Ok(within);
    };
    let inside = sqlx::query_scalar!(
        r#"SELECT $1::bigint IN (SELECT jurisdiction_subtree($2)) AS "inside!""#,
        c,
        within
    )
    .fetch_one(db)
    .await?;
    Ok(inside.then_some(c))
}

/// The tallies under `filter` per (department, leader) pair, as of `today`.
pub async fn tallies(
    db: &PgPool,
    filter: &Filter,
    today: NaiveDate,
) -> sqlx::Result<Vec<TallyRow>> {
    let period = filter.month.unwrap_or_else(|| month_start(today));
    // Without a visit the pivoted summaries (migration 0008); a visit's few hundred cases are
    // counted directly with the same key function. Due soon / overdue read only due days from
    // today on: overdue = open with a due date − not yet due.
    let rows = sqlx::query!(
        r#"WITH k AS (
               SELECT c.lead_department_id AS department_id, c.owner_leader_id AS leader_id, k.month, k.bucket, k.day, 1::bigint AS n,
                      (SELECT v.county_id FROM visits v WHERE v.id = c.visit_id) AS host_id
               FROM cases c
               CROSS JOIN LATERAL case_tally_keys(c.status, c.assigned_at, c.accept_due_on, c.accepted_at, c.acceptance_notified_at,
                                                  c.effective_due_on, c.closed_at, c.result, c.rating) k
               WHERE c.visit_id = $1::bigint AND c.visit_id IN (SELECT v.id FROM visits v
                     WHERE v.county_id IN (SELECT jurisdiction_subtree($7)) OR v.organiser_id IN (SELECT jurisdiction_subtree($7)))
           ), m AS (
               SELECT department_id, leader_id, host_id, month, assigned, responsive, open, open_dated, closed, resolved, on_time,
                      rated, satisfied, closed_in
               FROM case_month_tallies WHERE $1::bigint IS NULL AND (host_id IN (SELECT jurisdiction_subtree($7)) OR organiser_id IN (SELECT jurisdiction_subtree($7)))
               UNION ALL
               SELECT department_id, leader_id, host_id, CASE WHEN bucket = 'closed_in' THEN day ELSE month END,
                      (bucket = 'assigned')::int, (bucket = 'responsive')::int, (bucket = 'open')::int,
                      (bucket = 'open' AND day <> 'infinity')::int, (bucket = 'closed')::int, (bucket = 'resolved')::int,
                      (bucket = 'on_time')::int, (bucket = 'rated')::int, (bucket = 'satisfied')::int, (bucket = 'closed_in')::int
               FROM k
           ), d AS (
               SELECT department_id, leader_id, host_id, month, day, n FROM case_open_due WHERE $1::bigint IS NULL AND day >= $5
                 AND (host_id IN (SELECT jurisdiction_subtree($7)) OR organiser_id IN (SELECT jurisdiction_subtree($7)))
               UNION ALL
               SELECT department_id, leader_id, host_id, month, day, n FROM k WHERE bucket = 'open' AND day >= $5 AND day <> 'infinity'
           ), f AS (
               SELECT department_id, leader_id, host_id, month = $6 AS in_period, ($4::date IS NULL OR month = $4) AS in_month,
                      assigned, responsive, open, open_dated, closed, resolved, on_time, rated, satisfied, closed_in,
                      0 AS not_due, 0 AS due_soon
               FROM m WHERE ($2::bigint IS NULL OR department_id = $2) AND ($3::bigint IS NULL OR leader_id = $3)
               UNION ALL
               SELECT department_id, leader_id, host_id, false, true, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                      n, CASE WHEN day <= $5 + 7 THEN n ELSE 0 END
               FROM d WHERE ($2::bigint IS NULL OR department_id = $2) AND ($3::bigint IS NULL OR leader_id = $3)
                 AND ($4::date IS NULL OR month = $4)
           )
           SELECT department_id AS "department_id!", leader_id AS "leader_id!", host_id AS "host_id!",
                  COALESCE(sum(assigned) FILTER (WHERE in_month), 0)::bigint AS "assigned!",
                  COALESCE(sum(responsive) FILTER (WHERE in_month), 0)::bigint AS "responsive!",
                  COALESCE(sum(open) FILTER (WHERE in_month), 0)::bigint AS "open!",
                  COALESCE(sum(due_soon) FILTER (WHERE in_month), 0)::bigint AS "due_soon!",
                  COALESCE(sum(open_dated - not_due) FILTER (WHERE in_month), 0)::bigint AS "overdue!",
                  COALESCE(sum(closed) FILTER (WHERE in_month), 0)::bigint AS "closed!",
                  COALESCE(sum(closed_in) FILTER (WHERE in_period), 0)::bigint AS "closed_in_period!",
                  COALESCE(sum(resolved) FILTER (WHERE in_month), 0)::bigint AS "resolved!",
                  COALESCE(sum(on_time) FILTER (WHERE in_month), 0)::bigint AS "on_time!",
                  COALESCE(sum(rated) FILTER (WHERE in_month), 0)::bigint AS "rated!",
                  COALESCE(sum(satisfied) FILTER (WHERE in_month), 0)::bigint AS "satisfied!"
           FROM f GROUP BY department_id, leader_id, host_id"#,
        filter.visit,
        filter.department,
        filter.leader,
        filter.month,
        today,
        period,
        filter.within,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TallyRow {
            department_id: r.department_id,
            leader_id: r.leader_id,
            host_id: r.host_id,
            tally: Tally {
                assigned: r.assigned,
                responsive: r.responsive,
                open: r.open,
                due_soon: r.due_soon,
                overdue: r.overdue,
                closed: r.closed,
                closed_in_period: r.closed_in_period,
                resolved: r.resolved,
                on_time: r.on_time,
                rated: r.rated,
                satisfied: r.satisfied,
            },
        })
        .collect())
}

/// A case row of the dashboard's lists (通报, overdue), with its 督办 button.
pub struct CaseLine {
    pub id: i64,
    pub code: String,
    pub title: String,
    pub department: String,
    pub leader: String,
    pub due: String,
    pub urged: String,
}

/// Open cases and undecided 复查/复核 first urged on or before `cutoff` (the 通报 list), oldest
/// urge first, and how many. A review is the reviewing body's deadline: it is listed under that
/// body, and only without a department or leader filter (those concern the case's handling).
pub async fn report_list(
    db: &PgPool,
    filter: &Filter,
    cutoff: NaiveDate,
    limit: i64,
) -> sqlx::Result<(Vec<CaseLine>, i64)> {
    let before = china_instant(cutoff + Duration::days(1), NaiveTime::MIN);
    let reviews_too = filter.department.is_none() && filter.leader.is_none();
    // Counted apart from the page of rows: the count reads only the covering index (migration
    // 0008), the rows walk it in order and join names for `limit` of them.
    let cases = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM cases c
           WHERE c.first_urged_at IS NOT NULL AND c.first_urged_at < $1
             AND c.status IN ('assigned', 'accepted', 'returned', 'closure_submitted')
             AND ($2::bigint IS NULL OR c.visit_id = $2) AND ($3::bigint IS NULL OR c.lead_department_id = $3)
             AND ($4::bigint IS NULL OR c.owner_leader_id = $4)
             AND c.visit_id IN (SELECT v.id FROM visits v
                  WHERE v.county_id IN (SELECT jurisdiction_subtree($5)) OR v.organiser_id IN (SELECT jurisdiction_subtree($5)))"#,
        before,
        filter.visit,
        filter.department,
        filter.leader,
        filter.within,
    )
    .fetch_one(db)
    .await?;
    let reviews = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM reviews r JOIN cases c ON c.id = r.case_id
           WHERE r.decided_at IS NULL AND r.first_urged_at < $1 AND $2
             AND ($3::bigint IS NULL OR c.visit_id = $3)
             AND r.jurisdiction_id IN (SELECT jurisdiction_subtree($4))"#,
        before,
        reviews_too,
        filter.visit,
        filter.within,
    )
    .fetch_one(db)
    .await?;
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", code AS "code!", title AS "title!", department AS "department!", leader AS "leader!",
                  due AS "due", urged AS "urged!"
           FROM (SELECT c.id, c.code, c.title, d.name AS department, l.name AS leader, c.effective_due_on AS due,
                        c.first_urged_at AS urged
                 FROM cases c JOIN departments d ON d.id = c.lead_department_id JOIN leaders l ON l.id = c.owner_leader_id
                 WHERE c.first_urged_at IS NOT NULL AND c.first_urged_at < $1
                   AND c.status IN ('assigned', 'accepted', 'returned', 'closure_submitted')
                   AND ($2::bigint IS NULL OR c.visit_id = $2) AND ($3::bigint IS NULL OR c.lead_department_id = $3)
                   AND ($4::bigint IS NULL OR c.owner_leader_id = $4)
                   AND c.visit_id IN (SELECT v.id FROM visits v
                        WHERE v.county_id IN (SELECT jurisdiction_subtree($6)) OR v.organiser_id IN (SELECT jurisdiction_subtree($6)))
                 UNION ALL
                 SELECT c.id, c.code,
                        CASE r.kind WHEN 'review' THEN '【复查】' ELSE '【复核】' END || c.title,
                        r.body_name, l.name, r.due_on, r.first_urged_at
                 FROM reviews r JOIN cases c ON c.id = r.case_id JOIN leaders l ON l.id = c.owner_leader_id
                 WHERE r.decided_at IS NULL AND r.first_urged_at < $1 AND $7
                   AND ($2::bigint IS NULL OR c.visit_id = $2)
                   AND r.jurisdiction_id IN (SELECT jurisdiction_subtree($6))) listed
           ORDER BY urged, id LIMIT $5"#,
        before,
        filter.visit,
        filter.department,
        filter.leader,
        limit,
        filter.within,
        reviews_too,
    )
    .fetch_all(db)
    .await?;
    let lines = rows
        .into_iter()
        .map(|r| CaseLine {
            id: r.id,
            code: r.code,
            title: r.title,
            department: r.department,
            leader: r.leader,
            due: r.due.map(cn_date).unwrap_or_default(),
            urged: china_minute(r.urged),
        })
        .collect();
    Ok((lines, cases + reviews))
}

/// The most overdue open cases under the filter.
async fn overdue_list(
    db: &PgPool,
    filter: &Filter,
    today: NaiveDate,
    limit: i64,
) -> sqlx::Result<Vec<CaseLine>> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.code, c.title, d.name AS department, l.name AS leader, c.effective_due_on AS "due!", c.first_urged_at
           FROM cases c JOIN departments d ON d.id = c.lead_department_id JOIN leaders l ON l.id = c.owner_leader_id
           WHERE c.effective_due_on < $1 AND c.status IN ('assigned', 'accepted', 'returned', 'closure_submitted')
             AND ($2::bigint IS NULL OR c.visit_id = $2) AND ($3::bigint IS NULL OR c.lead_department_id = $3)
             AND ($4::bigint IS NULL OR c.owner_leader_id = $4)
             AND ($5::date IS NULL OR c.assigned_at >= $6 AND c.assigned_at < $7)
             AND c.visit_id IN (SELECT v.id FROM visits v
                  WHERE v.county_id IN (SELECT jurisdiction_subtree($9)) OR v.organiser_id IN (SELECT jurisdiction_subtree($9)))
           ORDER BY c.effective_due_on, c.id LIMIT $8"#,
        today,
        filter.visit,
        filter.department,
        filter.leader,
        filter.month,
        filter.month.map(|m| china_instant(m, NaiveTime::MIN)),
        filter.month.and_then(|m| m.checked_add_months(chrono::Months::new(1))).map(|m| china_instant(m, NaiveTime::MIN)),
        limit,
        filter.within,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CaseLine {
            id: r.id,
            code: r.code,
            title: r.title,
            department: r.department,
            leader: r.leader,
            due: cn_date(r.due),
            urged: r.first_urged_at.map(china_minute).unwrap_or_default(),
        })
        .collect())
}

/// A department or leader of the filter, by id.
pub struct Choice {
    pub id: i64,
    pub name: String,
}

/// A department's row of the ranking, with its rates shown and highlighted.
pub struct DeptLine {
    pub name: String,
    pub t: Tally,
    pub response: String,
    pub resolution: String,
    pub satisfaction: String,
    pub score: String,
    pub rank: String,
    pub response_low: bool,
    pub resolution_low: bool,
    pub satisfaction_low: bool,
}

/// A 包案领导's row.
pub struct LeaderLine {
    pub name: String,
    pub t: Tally,
    pub closure: String,
    pub on_time: String,
    pub satisfaction: String,
    pub satisfaction_low: bool,
}

/// Everything the dashboard shows for a filter: the page and its export read the same figures.
pub struct Dashboard {
    pub departments: Vec<Choice>,
    pub leaders: Vec<Choice>,
    pub total: Tally,
    pub period: String,
    pub depts: Vec<DeptLine>,
    /// The host counties ranked like the departments (when the subtree holds more than one).
    pub counties: Vec<DeptLine>,
    /// The counties of the subtree to drill into (empty for a county's own account).
    pub county_choices: Vec<Choice>,
    pub leader_lines: Vec<LeaderLine>,
    pub report: Vec<CaseLine>,
    pub report_total: i64,
    pub overdue: Vec<CaseLine>,
}

/// How much of the lists to read, and the rules that shape the figures.
pub struct Scope<'a> {
    pub today: NaiveDate,
    pub weights: &'a Weights,
    /// 通报 after this many working days still open after the first urge.
    pub report_after_urge_wd: u32,
    pub report_rows: i64,
    pub overdue_rows: i64,
}

/// The dashboard with up to `report_rows` cases of the 通报 list and `overdue_rows` overdue ones.
pub async fn load(db: &PgPool, filter: &Filter, scope: &Scope<'_>) -> sqlx::Result<Dashboard> {
    let county_choices = county_choices(db, filter.within).await?;
    let filter = &filter.narrowed(db).await?;
    let (today, w) = (scope.today, scope.weights);
    let (report_rows, overdue_rows) = (scope.report_rows, scope.overdue_rows);
    let tally_rows = tallies(db, filter, today).await?;
    // Names for the filters and rows: the departments and leaders of the subtree's cases (a
    // provincial department handling a county's case too), never another county's, nor those
    // with no case here (the filters would only find nothing).
    let row_departments: Vec<i64> = tally_rows.iter().map(|r| r.department_id).collect();
    let row_leaders: Vec<i64> = tally_rows.iter().map(|r| r.leader_id).collect();
    let departments = sqlx::query_as!(
        Choice,
        // Outside the viewer's own jurisdiction a department is named with its own: a city's
        // ranking lists two counties' 住建局.
        r#"SELECT d.id, d.name || COALESCE('（' || j.name || '）', '') AS "name!" FROM departments d
           LEFT JOIN jurisdictions j ON j.id = d.jurisdiction_id AND d.jurisdiction_id <> $1
           WHERE d.id IN (SELECT department_id FROM case_month_tallies
                          WHERE host_id IN (SELECT jurisdiction_subtree($1)) OR organiser_id IN (SELECT jurisdiction_subtree($1)))
              OR d.id = ANY($2)
           ORDER BY d.active DESC, d.name, j.code"#,
        filter.within,
        &row_departments
    )
    .fetch_all(db)
    .await?;
    let leaders = sqlx::query_as!(
        Choice,
        "SELECT id, name FROM leaders
         WHERE id IN (SELECT leader_id FROM case_month_tallies
                      WHERE host_id IN (SELECT jurisdiction_subtree($1)) OR organiser_id IN (SELECT jurisdiction_subtree($1)))
            OR id = ANY($2)
         ORDER BY active DESC, name",
        filter.within,
        &row_leaders
    )
    .fetch_all(db)
    .await?;
    let name_of = |list: &[Choice], id: i64| {
        list.iter()
            .find(|o| o.id == id)
            .map_or_else(|| format!("#{id}"), |o| o.name.clone())
    };

    let (by_dept, by_leader, total) = roll_up(&tally_rows);
    let depts = ranked(&by_dept, w, |id| name_of(&departments, id));
    let counties = county_lines(db, &tally_rows, w).await?;
    let mut leader_lines: Vec<LeaderLine> = by_leader
        .into_iter()
        .map(|(id, t)| LeaderLine {
            name: name_of(&leaders, id),
            closure: pct(t.closure_rate()),
            on_time: pct(t.on_time_rate()),
            satisfaction: pct(t.satisfaction_rate()),
            satisfaction_low: highlighted(t.satisfaction_rate(), w),
            t,
        })
        .collect();
    leader_lines.sort_by(|a, b| {
        b.t.assigned
            .cmp(&a.t.assigned)
            .then_with(|| a.name.cmp(&b.name))
    });

    let calendar = Calendar::load(db, today - Duration::days(60)).await?;
    let cutoff = report_cutoff(&calendar, today, scope.report_after_urge_wd);
    let (report, report_total) = report_list(db, filter, cutoff, report_rows).await?;
    let overdue = overdue_list(db, filter, today, overdue_rows).await?;
    let period = match filter.month {
        Some(m) => format!("{}年{}月", m.year(), m.month()),
        None => "本月".into(),
    };
    Ok(Dashboard {
        departments,
        leaders,
        total,
        period,
        depts,
        counties,
        county_choices,
        leader_lines,
        report,
        report_total,
        overdue,
    })
}

/// Tallies ranked by weighted score (unscored last, then by name), with rates shown.
fn ranked(by: &[(i64, Tally)], w: &Weights, name: impl Fn(i64) -> String) -> Vec<DeptLine> {
    let scores: Vec<Option<f64>> = by.iter().map(|(_, t)| score(t, w)).collect();
    let rank = ranks(&scores);
    let mut lines: Vec<(Option<usize>, DeptLine)> = by
        .iter()
        .zip(scores.iter().zip(rank))
        .map(|((id, t), (s, k))| {
            let t = t.clone();
            (
                k,
                DeptLine {
                    name: name(*id),
                    response: pct(t.response_rate()),
                    resolution: pct(t.resolution_rate()),
                    satisfaction: pct(t.satisfaction_rate()),
                    score: s.map_or("—".into(), |s| format!("{s:.1}")),
                    rank: k.map_or("—".into(), |k| k.to_string()),
                    response_low: highlighted(t.response_rate(), w),
                    resolution_low: highlighted(t.resolution_rate(), w),
                    satisfaction_low: highlighted(t.satisfaction_rate(), w),
                    t,
                },
            )
        })
        .collect();
    lines.sort_by(|a, b| {
        a.0.unwrap_or(usize::MAX)
            .cmp(&b.0.unwrap_or(usize::MAX))
            .then_with(|| a.1.name.cmp(&b.1.name))
    });
    lines.into_iter().map(|(_, d)| d).collect()
}

/// The rollup: the rows' host counties ranked (三率, score, overdue), when there are several.
async fn county_lines(db: &PgPool, rows: &[TallyRow], w: &Weights) -> sqlx::Result<Vec<DeptLine>> {
    let mut by_host = std::collections::BTreeMap::<i64, Tally>::new();
    for r in rows {
        *by_host.entry(r.host_id).or_default() += &r.tally;
    }
    if by_host.len() < 2 {
        return Ok(vec![]);
    }
    let ids: Vec<i64> = by_host.keys().copied().collect();
    let names = sqlx::query_as!(
        Choice,
        "SELECT id, name FROM jurisdictions WHERE id = ANY($1)",
        &ids
    )
    .fetch_all(db)
    .await?;
    let by: Vec<(i64, Tally)> = by_host.into_iter().collect();
    Ok(ranked(&by, w, |id| {
        names
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| format!("#{id}"), |c| c.name.clone())
    }))
}

/// The counties below `within` (none when it is a county or below).
pub async fn county_choices(db: &PgPool, within: Option<i64>) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        "SELECT id, name FROM jurisdictions
         WHERE level = 'county' AND id <> $1 AND id IN (SELECT jurisdiction_subtree($1)) ORDER BY code",
        within
    )
    .fetch_all(db)
    .await
}

/// The filter's visits: the latest 200 not cancelled, hosted or organised within `within`'s subtree.
pub async fn visit_choices(db: &PgPool, within: Option<i64>) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        r#"SELECT id, to_char(visit_date, 'YYYY-MM-DD') || ' ' || title AS "name!" FROM visits
           WHERE status <> 'cancelled'
             AND (county_id IN (SELECT jurisdiction_subtree($1)) OR organiser_id IN (SELECT jurisdiction_subtree($1)))
           ORDER BY visit_date DESC, id DESC LIMIT 200"#,
        within
    )
    .fetch_all(db)
    .await
}
