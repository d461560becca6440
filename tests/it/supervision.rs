//! Supervision (issue 5): deadline jobs exactly once across instances, the 通报 list, the
//! dashboard's numbers and filters, the tallies against direct counts, 督办.

use crate::harness::{PASSWORD, TestApp};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::PgPool;
use xiafang::clock::{Clock, china_date};
use xiafang::followup::jobs::{Pass, run_pass};
use xiafang::followup::workdays::Calendar;
use xiafang::web::auth::Role;

/// A county with one visit, a staff author, and a way to insert cases directly.
struct World {
    owner: PgPool,
    visit: i64,
    category: i64,
    staff: i64,
    handler: i64,
}

#[derive(Clone)]
struct NewCase {
    department: i64,
    leader: i64,
    status: &'static str,
    assigned_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    notified_at: Option<DateTime<Utc>>,
    due_on: Option<NaiveDate>,
    closed_at: Option<DateTime<Utc>>,
    result: Option<&'static str>,
    rating: Option<&'static str>,
}

impl NewCase {
    /// Accepted at `now`, due on `due`.
    fn open(department: i64, leader: i64, now: DateTime<Utc>, due: NaiveDate) -> Self {
        NewCase {
            department,
            leader,
            status: "accepted",
            assigned_at: now - Duration::days(1),
            accepted_at: Some(now),
            notified_at: Some(now),
            due_on: Some(due),
            closed_at: None,
            result: None,
            rating: None,
        }
    }
    fn closed(
        mut self,
        at: DateTime<Utc>,
        result: &'static str,
        rating: Option<&'static str>,
    ) -> Self {
        self.status = if rating.is_some() { "rated" } else { "closed" };
        self.closed_at = Some(at);
        self.result = Some(result);
        self.rating = rating;
        self
    }
}

impl World {
    async fn new(app: &TestApp) -> World {
        let owner = PgPool::connect(&app.url).await.unwrap();
        let staff = app.user("sv_staff", Role::Staff).await;
        let handler = app.user("sv_handler", Role::Handler).await;
        let leader = leader(&owner, "陈建国").await;
        let county: i64 = sqlx::query_scalar(
            "INSERT INTO jurisdictions (name, code) VALUES ('浦阳县', '330799') RETURNING id",
        )
        .fetch_one(&owner)
        .await
        .unwrap();
        let visit: i64 = sqlx::query_scalar(
            "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by)
             VALUES ($1, '十一月下访', 'county', $2, current_date - 20, '便民服务中心', 'following_up', $3) RETURNING id",
        )
        .bind(county)
        .bind(leader)
        .bind(staff)
        .fetch_one(&owner)
        .await
        .unwrap();
        let category: i64 = sqlx::query_scalar(
            "SELECT id FROM categories WHERE parent_id IS NOT NULL ORDER BY id LIMIT 1",
        )
        .fetch_one(&owner)
        .await
        .unwrap();
        World {
            owner,
            visit,
            category,
            staff,
            handler,
        }
    }

    async fn handler_department(&self) -> i64 {
        sqlx::query_scalar("SELECT department_id FROM users WHERE id = $1")
            .bind(self.handler)
            .fetch_one(&self.owner)
            .await
            .unwrap()
    }

    async fn department(&self, name: &str) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO departments (name, short_name) VALUES ($1, $1) RETURNING id",
        )
        .bind(name)
        .fetch_one(&self.owner)
        .await
        .unwrap()
    }

    async fn case(&self, c: &NewCase) -> i64 {
        self.case_in(self.visit, c).await
    }

    async fn case_in(&self, visit: i64, c: &NewCase) -> i64 {
        let item: i64 = sqlx::query_scalar(
            "INSERT INTO survey_items (visit_id, township, category_id, summary, created_by) VALUES ($1, '仙华街道', $2, '道路维修', $3) RETURNING id",
        )
        .bind(visit)
        .bind(self.category)
        .bind(self.staff)
        .fetch_one(&self.owner)
        .await
        .unwrap();
        let submitted = c.result.is_some();
        let supervisor: Option<i64> = if c.closed_at.is_some() {
            Some(self.staff)
        } else {
            None
        };
        sqlx::query_scalar(
            "INSERT INTO cases (code, visit_id, survey_item_id, title, category_id, lead_department_id, owner_leader_id, deadline_days,
                                assigned_at, assigned_by, accept_due_on, accepted_at, acceptance_notified_at, due_on, status, result, reply,
                                closure_submitted_by, closure_submitted_at, closed_by, closed_at, rating)
             VALUES ('JBT' || lpad($1::text, 6, '0'), $2, $1, '道路维修', $3, $4, $5, 60, $6, $7, ($6 AT TIME ZONE 'Asia/Shanghai')::date + 7, $8, $9, $10, $11,
                     $12, CASE WHEN $13 THEN '已答复' END, CASE WHEN $13 THEN $14::bigint END, CASE WHEN $13 THEN $8 END, $15, $16, $17)
             RETURNING id",
        )
        .bind(item)
        .bind(visit)
        .bind(self.category)
        .bind(c.department)
        .bind(c.leader)
        .bind(c.assigned_at)
        .bind(self.staff)
        .bind(c.accepted_at)
        .bind(c.notified_at)
        .bind(c.due_on)
        .bind(c.status)
        .bind(c.result)
        .bind(submitted)
        .bind(self.handler)
        .bind(supervisor)
        .bind(c.closed_at)
        .bind(c.rating)
        .fetch_one(&self.owner)
        .await
        .unwrap()
    }
}

async fn leader(owner: &PgPool, name: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO leaders (name, title, level) VALUES ($1, '副县长', 'county') RETURNING id",
    )
    .bind(name)
    .fetch_one(owner)
    .await
    .unwrap()
}

async fn pass(app: &TestApp, instance: &str) -> Pass {
    run_pass(
        &app.db,
        app.clock.as_ref(),
        &app.state.config.case_rules,
        app.state.config.job_batch,
        instance,
    )
    .await
    .unwrap()
}

async fn count(db: &PgPool, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_send_each_reminder_exactly_once_and_skip_what_another_holds() {
    let a = TestApp::spawn_with(|c| c.job_batch = 5).await;
    let b = TestApp::start_on(a.url.clone(), |c| c.job_batch = 5).await;
    let w = World::new(&a).await;
    let dept = w.handler_department().await;
    let ldr = leader(&w.owner, "王五").await;
    let now = a.clock.now();
    let due = china_date(now) + Duration::days(7);
    for _ in 0..240 {
        w.case(&NewCase::open(dept, ldr, now, due)).await;
    }
    // A third instance is mid-batch on the first five cases: the others must skip them, not wait.
    let mut held = w.owner.begin().await.unwrap();
    let held_ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM cases ORDER BY id LIMIT 5 FOR UPDATE")
            .fetch_all(&mut *held)
            .await
            .unwrap();
    let (pa, pb) = tokio::join!(
        tokio::spawn({
            let (db, clock, rules) = (
                a.db.clone(),
                a.clock.clone(),
                a.state.config.case_rules.clone(),
            );
            async move { run_pass(&db, clock.as_ref(), &rules, 5, "A").await.unwrap() }
        }),
        tokio::spawn({
            let (db, clock, rules) = (
                b.db.clone(),
                b.clock.clone(),
                b.state.config.case_rules.clone(),
            );
            async move { run_pass(&db, clock.as_ref(), &rules, 5, "B").await.unwrap() }
        })
    );
    let (pa, pb) = (pa.unwrap(), pb.unwrap());
    assert_eq!(
        pa.reminded + pb.reminded,
        235,
        "all but the held five: {pa:?} {pb:?}"
    );
    held.rollback().await.unwrap();
    let untouched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM case_events WHERE kind = 'reminded' AND case_id = ANY($1)",
    )
    .bind(&held_ids)
    .fetch_one(&w.owner)
    .await
    .unwrap();
    assert_eq!(untouched, 0, "the held cases were skipped");
    // Once released, the next pass picks them up.
    assert_eq!(
        pass(&b, "B").await,
        Pass {
            reminded: 5,
            urged: 0
        }
    );
    let events: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT case_id, count(*) FROM case_events WHERE kind = 'reminded' GROUP BY case_id",
    )
    .fetch_all(&w.owner)
    .await
    .unwrap();
    assert_eq!(events.len(), 240);
    assert!(events.iter().all(|(_, n)| *n == 1), "one reminder per case");
    let by: Vec<(String, i64)> = sqlx::query_as("SELECT data ->> 'by', count(*) FROM case_events WHERE kind = 'reminded' GROUP BY 1 ORDER BY 1").fetch_all(&w.owner).await.unwrap();
    let expected: Vec<(String, i64)> = [("A", pa.reminded), ("B", pb.reminded + 5)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n as i64))
        .collect();
    assert_eq!(by, expected);
    let notes = count(
        &w.owner,
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'case.reminder'",
        w.handler,
    )
    .await;
    assert_eq!(notes, 240, "one notification per reminder");
    // Passes again on both: nothing more.
    assert_eq!(pass(&a, "A").await, Pass::default());
    assert_eq!(pass(&b, "B").await, Pass::default());
}

#[tokio::test]
async fn reminders_at_7_3_1_days_and_the_urge_the_day_after_each_once() {
    let app = TestApp::spawn().await;
    let w = World::new(&app).await;
    let dept = w.handler_department().await;
    let ldr = leader(&w.owner, "王五").await;
    let now = app.clock.now();
    let due = china_date(now) + Duration::days(8);
    let id = w.case(&NewCase::open(dept, ldr, now, due)).await;
    let kinds = |db: PgPool| async move {
        sqlx::query_scalar::<_, String>("SELECT kind || ':' || (data ->> 'job_key') FROM case_events WHERE case_id = $1 AND kind <> 'assigned' ORDER BY id")
            .bind(id)
            .fetch_all(&db)
            .await
            .unwrap()
    };
    assert_eq!(
        pass(&app, "x").await,
        Pass::default(),
        "8 days before: nothing"
    );
    let expect = [
        (
            1,
            Pass {
                reminded: 1,
                urged: 0,
            },
        ),
        (1, Pass::default()),
        (
            3,
            Pass {
                reminded: 1,
                urged: 0,
            },
        ),
        (1, Pass::default()),
        (
            1,
            Pass {
                reminded: 1,
                urged: 0,
            },
        ),
        (1, Pass::default()),
        (
            1,
            Pass {
                reminded: 0,
                urged: 1,
            },
        ),
        (1, Pass::default()),
    ];
    // days before due after each step: 7, 6, 3, 2, 1, 0 (due day), -1 (urge), -2
    for (step, (days, want)) in expect.into_iter().enumerate() {
        app.clock.advance(Duration::days(days));
        assert_eq!(pass(&app, "x").await, want, "step {step}");
        assert_eq!(
            pass(&app, "x").await,
            Pass::default(),
            "never twice (step {step})"
        );
    }
    assert_eq!(
        kinds(w.owner.clone()).await,
        vec![
            format!("reminded:remind7d:{due}"),
            format!("reminded:remind3d:{due}"),
            format!("reminded:remind1d:{due}"),
            format!("auto_urged:urge:{due}")
        ]
    );
    let urged: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT first_urged_at FROM cases WHERE id = $1")
            .bind(id)
            .fetch_one(&w.owner)
            .await
            .unwrap();
    assert!(urged.is_some(), "the automatic urge starts the 通报 clock");
    let notes = count(
        &w.owner,
        "SELECT count(*) FROM notifications WHERE user_id = $1",
        w.handler,
    )
    .await;
    assert_eq!(notes, 4);
}

#[tokio::test]
async fn the_report_list_shows_cases_open_five_working_days_after_the_urge() {
    let app = TestApp::spawn().await;
    let w = World::new(&app).await;
    let dept = w.handler_department().await;
    let ldr = leader(&w.owner, "王五").await;
    let now = app.clock.now();
    let id = w
        .case(&NewCase::open(
            dept,
            ldr,
            now - Duration::days(30),
            china_date(now) - Duration::days(1),
        ))
        .await;
    assert_eq!(pass(&app, "x").await.urged, 1);
    app.user("sv_boss", Role::Supervisor).await;
    // A fresh sign-in per look: the moved clock ends idle sessions.
    let look = || async {
        let client = app.client();
        assert_eq!(client.login("sv_boss", PASSWORD).await.status, 303);
        let r = client.get("/supervision").await;
        assert_eq!(r.status, 200);
        r
    };
    let code: String = sqlx::query_scalar("SELECT code FROM cases WHERE id = $1")
        .bind(id)
        .fetch_one(&w.owner)
        .await
        .unwrap();
    let listed = |r: &crate::harness::Resp| {
        r.texts("section h2")
            .iter()
            .any(|h| h.starts_with("通报名单（1 件）"))
            && r.body.contains(&code)
    };
    assert!(!listed(&look().await), "not yet");
    let listed_on = Calendar::default().add(china_date(now), 5);
    while china_date(app.clock.now()) + Duration::days(1) < listed_on {
        app.clock.advance(Duration::days(1));
    }
    assert!(!listed(&look().await), "one day before the 5th working day");
    app.clock.advance(Duration::days(1));
    assert!(
        listed(&look().await),
        "on the 5th working day after the urge"
    );
    // Closing it takes it off.
    sqlx::query("UPDATE cases SET status = 'closure_submitted', result = 'resolved', reply = '已答复', closure_submitted_by = $2, closure_submitted_at = now() WHERE id = $1")
        .bind(id)
        .bind(w.handler)
        .execute(&w.owner)
        .await
        .unwrap();
    assert!(listed(&look().await), "待审核 is still open");
    sqlx::query(
        "UPDATE cases SET status = 'closed', closed_by = $2, closed_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(w.staff)
    .execute(&w.owner)
    .await
    .unwrap();
    assert!(!listed(&look().await));
}

/// Two departments: 甲 (75 % responsive, 2 of 3 resolved, 2 of 3 satisfied) and 乙 (all 100 %).
async fn hand_built(app: &TestApp, w: &World) -> (i64, i64, i64, i64) {
    let now = app.clock.now();
    let today = china_date(now);
    let (a, b) = (w.department("甲单位").await, w.department("乙单位").await);
    let (l1, l2) = (
        leader(&w.owner, "李一").await,
        leader(&w.owner, "赵二").await,
    );
    let base = |d, l| NewCase::open(d, l, now - Duration::days(9), today + Duration::days(51));
    w.case(&base(a, l1).closed(now, "resolved", Some("satisfied")))
        .await;
    w.case(&base(a, l1).closed(now, "resolved", Some("basically_satisfied")))
        .await;
    let late_notice = NewCase {
        notified_at: Some(now - Duration::days(9) + Duration::days(20)),
        ..base(a, l1)
    };
    w.case(&late_notice.closed(now, "explained", Some("dissatisfied")))
        .await;
    w.case(&NewCase {
        due_on: Some(today + Duration::days(3)),
        ..base(a, l1)
    })
    .await;
    w.case(&base(b, l2).closed(now, "resolved", Some("satisfied")))
        .await;
    w.case(&NewCase {
        due_on: Some(today - Duration::days(2)),
        ..base(b, l2)
    })
    .await;
    (a, b, l1, l2)
}

fn row(r: &crate::harness::Resp, table: &str, name: &str) -> Vec<String> {
    let html = r.html();
    let rows = scraper::Selector::parse(&format!("table#{table} tbody tr")).unwrap();
    let cells = scraper::Selector::parse("td").unwrap();
    html.select(&rows)
        .map(|tr| {
            tr.select(&cells)
                .map(|td| td.text().collect::<String>().trim().to_string())
                .collect::<Vec<_>>()
        })
        .find(|c| c.iter().any(|x| x == name))
        .unwrap_or_else(|| panic!("no row {name} in {table}"))
}

#[tokio::test]
async fn the_dashboard_counts_rates_ranks_and_highlights_a_hand_built_set() {
    let app = TestApp::spawn().await;
    let w = World::new(&app).await;
    let (a, _b, l1, _l2) = hand_built(&app, &w).await;
    let client = app.signed_in("sv_boss", Role::Supervisor).await;
    let r = client.get("/supervision").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        [
            r.text("#t-open"),
            r.text("#t-due-soon"),
            r.text("#t-overdue"),
            r.text("#t-closed")
        ],
        ["2", "1", "1", "4"]
    );
    // rank, name, assigned, open, due soon, overdue, closed, 响应率, 解决率, 满意率, score
    assert_eq!(
        row(&r, "departments", "乙单位"),
        [
            "1",
            "乙单位",
            "2",
            "1",
            "0",
            "1",
            "1",
            "100.0%",
            "100.0%",
            "100.0%",
            "100.0"
        ]
    );
    // 甲: 0.30×75 + 0.35×66.67 + 0.35×66.67 = 69.2
    assert_eq!(
        row(&r, "departments", "甲单位"),
        [
            "2",
            "甲单位",
            "4",
            "1",
            "1",
            "0",
            "3",
            "75.0%",
            "66.7%",
            "66.7%",
            "69.2"
        ]
    );
    let html = r.html();
    let low = scraper::Selector::parse("table#departments td.sv-low").unwrap();
    assert_eq!(
        html.select(&low)
            .map(|td| td.text().collect::<String>())
            .collect::<Vec<_>>(),
        ["75.0%", "66.7%", "66.7%"],
        "only 甲's rates are below 85%"
    );
    // leader: owned, open, due soon, overdue, closed in period, closure, on time, satisfaction
    assert_eq!(
        row(&r, "leaders", "李一"),
        ["李一", "4", "1", "1", "0", "3", "75.0%", "100.0%", "66.7%"]
    );
    assert!(r.body.contains("<svg"), "charts are drawn on the server");

    // The export holds the page's figures, a sheet per table, and is audited.
    assert!(
        r.body
            .contains("<form method=\"post\" action=\"/supervision.xlsx\""),
        "the page posts to its export"
    );
    let sheet = |path: String, name: &'static str| {
        let client = &client;
        let app = &app;
        async move { crate::fixtures::xlsx(app, client, &path, name).await }
    };
    let (status, totals) = sheet("/supervision.xlsx".into(), "总体情况").await;
    assert_eq!(status, 200);
    assert_eq!(totals[1][..4], ["2", "1", "1", "4"]);
    let (_, ranking) = sheet("/supervision.xlsx".into(), "承办单位三率排名").await;
    assert_eq!(
        ranking[1..],
        [
            row(&r, "departments", "乙单位"),
            row(&r, "departments", "甲单位")
        ]
    );
    let (_, leaders) = sheet("/supervision.xlsx".into(), "包案领导").await;
    assert!(leaders.contains(&row(&r, "leaders", "李一")), "{leaders:?}");
    let (_, filtered) = sheet(
        format!("/supervision.xlsx?department={a}"),
        "承办单位三率排名",
    )
    .await;
    assert_eq!(filtered.len(), 2, "the filters apply: header and 甲 only");
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'supervision.export'")
            .fetch_one(&w.owner)
            .await
            .unwrap();
    assert_eq!(audited, 4);
    assert_eq!(
        client
            .post("/supervision.xlsx", &[("month", "2001-13")])
            .await
            .status,
        400,
        "a bad filter is refused, not exported"
    );

    // Filters change the numbers.
    let r = client.get(&format!("/supervision?department={a}")).await;
    assert_eq!(
        [r.text("#t-open"), r.text("#t-overdue"), r.text("#t-closed")],
        ["1", "0", "3"]
    );
    assert!(r.texts("table#departments tbody tr").len() == 1);
    let r = client.get(&format!("/supervision?leader={l1}")).await;
    assert_eq!(r.text("#t-open"), "1");
    let r = client.get(&format!("/supervision?visit={}", w.visit)).await;
    assert_eq!(
        r.text("#t-open"),
        "2",
        "a visit filter counts that visit's cases"
    );
    let other = sqlx::query_scalar::<_, i64>("INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, created_by)
                                              SELECT county_id, '另一次', level, lead_leader_id, visit_date, venue, created_by FROM visits WHERE id = $1 RETURNING id")
        .bind(w.visit)
        .fetch_one(&w.owner)
        .await
        .unwrap();
    let r = client.get(&format!("/supervision?visit={other}")).await;
    assert_eq!(r.text("#t-open"), "0");
    let r = client.get("/supervision?month=2001-01").await;
    assert_eq!([r.text("#t-open"), r.text("#t-closed")], ["0", "0"]);
    let r = client.get("/supervision?month=2001-13&leader=abc").await;
    assert_eq!(r.status, 422);
    assert!(!r.field_error("month").is_empty() && !r.field_error("leader").is_empty());
    // Staff may read it; a handler may not.
    assert_eq!(
        app.signed_in("sv_desk", Role::Staff)
            .await
            .get("/supervision")
            .await
            .status,
        200
    );
    let handler = app.signed_in("sv_h2", Role::Handler).await;
    assert_eq!(handler.get("/supervision").await.status, 403);
    assert_eq!(handler.post("/supervision.xlsx", &[]).await.status, 403);
}

/// Every tally equals the same count made directly on the cases.
async fn assert_tallies_exact(db: &PgPool, when: &str) {
    // The pivoted summaries (migration 0008) against the keys recomputed from the cases; rows
    // brought back to zero may stay.
    for (kept, direct) in [
        (
            "(SELECT * FROM case_month_tallies WHERE (assigned, responsive, open, open_dated, closed, resolved, on_time, rated, satisfied, closed_in) <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0))",
            "case_tallies_direct_month",
        ),
        (
            "(SELECT * FROM case_open_due WHERE n <> 0)",
            "case_open_due_direct",
        ),
    ] {
        let diff: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM ((SELECT * FROM {kept} k EXCEPT SELECT * FROM {direct}) UNION ALL (SELECT * FROM {direct} EXCEPT SELECT * FROM {kept} k)) d"
        ))
        .fetch_one(db)
        .await
        .unwrap();
        assert_eq!(diff, 0, "{direct} differs from its summary after {when}");
    }
    // And against plain counts, independent of the key function.
    let plain: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT lead_department_id, count(*), count(*) FILTER (WHERE status IN ('assigned', 'accepted', 'returned', 'closure_submitted')),
                count(*) FILTER (WHERE rating IN ('satisfied', 'basically_satisfied'))
         FROM cases GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let tallied: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT department_id, sum(assigned)::bigint, sum(open)::bigint, sum(satisfied)::bigint
         FROM case_month_tallies GROUP BY 1 HAVING sum(assigned) > 0 ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert_eq!(plain, tallied, "after {when}");
}

#[tokio::test]
async fn tallies_follow_every_transition() {
    let app = TestApp::spawn().await;
    let w = World::new(&app).await;
    let (a, b, _l1, l2) = hand_built(&app, &w).await;
    let db = &app.db; // the app role, as handlers run
    assert_tallies_exact(db, "inserts").await;
    let now = app.clock.now();
    let new = w
        .case(&NewCase {
            status: "assigned",
            accepted_at: None,
            notified_at: None,
            due_on: None,
            ..NewCase::open(a, l2, now, china_date(now))
        })
        .await;
    assert_tallies_exact(db, "a new assignment").await;
    let steps: Vec<(&str, String)> = vec![
        (
            "accept",
            format!(
                "UPDATE cases SET status = 'accepted', accepted_at = now(), due_on = current_date + 60 WHERE id = {new}"
            ),
        ),
        (
            "notify",
            format!("UPDATE cases SET acceptance_notified_at = now() WHERE id = {new}"),
        ),
        (
            "extend",
            format!(
                "UPDATE cases SET extension_days = 30, extended_due_on = due_on + 30 WHERE id = {new}"
            ),
        ),
        (
            "submit",
            format!(
                "UPDATE cases SET status = 'closure_submitted', result = 'resolved', reply = '答复', closure_submitted_by = {}, closure_submitted_at = now() WHERE id = {new}",
                w.handler
            ),
        ),
        (
            "close",
            format!(
                "UPDATE cases SET status = 'closed', closed_by = {}, closed_at = now() WHERE id = {new}",
                w.staff
            ),
        ),
        (
            "rate",
            format!("UPDATE cases SET status = 'rated', rating = 'dissatisfied' WHERE id = {new}"),
        ),
        (
            "reopen",
            format!(
                "UPDATE cases SET status = 'accepted', closed_by = NULL, closed_at = NULL, rating = NULL WHERE id = {new}"
            ),
        ),
        (
            "handover",
            format!(
                "UPDATE cases SET owner_leader_id = (SELECT id FROM leaders WHERE name = '李一') WHERE id = {new}"
            ),
        ),
        (
            "move department",
            format!("UPDATE cases SET lead_department_id = {b} WHERE id = {new}"),
        ),
        (
            "urge only",
            format!("UPDATE cases SET first_urged_at = now() WHERE id = {new}"),
        ),
        (
            "bulk rating",
            format!(
                "UPDATE cases SET rating = 'satisfied' WHERE lead_department_id = {a} AND status = 'rated'"
            ),
        ),
        ("delete", format!("DELETE FROM cases WHERE id = {new}")),
    ];
    for (name, sql) in steps {
        sqlx::query(&sql).execute(&w.owner).await.unwrap();
        assert_tallies_exact(db, name).await;
    }
}

#[tokio::test]
async fn a_supervisor_urges_a_case_and_a_handler_may_not() {
    let app = TestApp::spawn().await;
    let w = World::new(&app).await;
    let dept = w.handler_department().await;
    let ldr = leader(&w.owner, "王五").await;
    let now = app.clock.now();
    let id = w
        .case(&NewCase::open(
            dept,
            ldr,
            now,
            china_date(now) + Duration::days(20),
        ))
        .await;
    let handler = app.signed_in("sv_h2", Role::Handler).await;
    assert_eq!(
        handler.post(&format!("/cases/{id}/urge"), &[]).await.status,
        403
    );
    let boss = app.signed_in("sv_boss", Role::Supervisor).await;
    let r = boss.post(&format!("/cases/{id}/urge"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/supervision");
    assert_eq!(count(&w.owner, "SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = 'urged' AND actor_id IS NOT NULL", id).await, 1);
    let first: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT first_urged_at FROM cases WHERE id = $1")
            .bind(id)
            .fetch_one(&w.owner)
            .await
            .unwrap();
    assert!((first.unwrap() - now).num_milliseconds().abs() < 1);
    assert_eq!(
        count(
            &w.owner,
            "SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'case.urge'",
            w.handler
        )
        .await,
        1
    );
    assert_eq!(app.audit_count("case.urge").await, 1);
    // A second urge later keeps the first date.
    app.clock.advance(Duration::minutes(10));
    assert_eq!(
        boss.post(&format!("/cases/{id}/urge"), &[]).await.status,
        303
    );
    let again: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT first_urged_at FROM cases WHERE id = $1")
            .bind(id)
            .fetch_one(&w.owner)
            .await
            .unwrap();
    assert_eq!(again, first, "the first urge date stays");
    assert_eq!(boss.post("/cases/999999/urge", &[]).await.status, 404);
    let closed = w
        .case(&NewCase::open(dept, ldr, now, china_date(now)).closed(now, "resolved", None))
        .await;
    assert_eq!(
        boss.post(&format!("/cases/{closed}/urge"), &[])
            .await
            .status,
        409
    );
    // The dashboard shows a 督办 button on overdue rows for supervisors.
    w.case(&NewCase::open(
        dept,
        ldr,
        now,
        china_date(now) - Duration::days(3),
    ))
    .await;
    let r = boss.get("/supervision").await;
    assert!(r.body.contains("/urge\""), "督办 button");
    assert!(
        !app.signed_in("sv_desk", Role::Staff)
            .await
            .get("/supervision")
            .await
            .body
            .contains("/urge\""),
        "staff see no 督办 button"
    );
}

/// Due soon is today … today + 7, overdue before today, a case not yet signed for has no due day;
/// the same through the summaries (no visit), under a month filter, and counted directly (a visit).
#[tokio::test]
async fn due_soon_and_overdue_at_their_edges() {
    let app = TestApp::spawn().await;
    let w = World::new(&app).await;
    let (dept, ldr) = (w.department("丙单位").await, leader(&w.owner, "钱三").await);
    let now = app.clock.now();
    let today = china_date(now);
    for days in [-30, -1, 0, 7, 8] {
        w.case(&NewCase::open(dept, ldr, now, today + Duration::days(days)))
            .await;
    }
    w.case(&NewCase {
        status: "assigned",
        accepted_at: None,
        notified_at: None,
        due_on: None,
        ..NewCase::open(dept, ldr, now, today)
    })
    .await;
    w.case(&NewCase::open(dept, ldr, now, today).closed(now, "resolved", None))
        .await;
    let client = app.signed_in("sv_boss", Role::Supervisor).await;
    let month = (now - Duration::days(1))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m")
        .to_string();
    for q in [
        "".to_string(),
        format!("?visit={}", w.visit),
        format!("?month={month}&department={dept}&leader={ldr}"),
    ] {
        let r = client.get(&format!("/supervision{q}")).await;
        assert_eq!(r.status, 200, "{q}");
        assert_eq!(
            [
                r.text("#t-open"),
                r.text("#t-due-soon"),
                r.text("#t-overdue"),
                r.text("#t-closed")
            ],
            ["6", "2", "2", "1"],
            "{q}"
        );
    }
    // Tomorrow the case due today is overdue and the one due in 8 days is due soon.
    app.clock.advance(Duration::days(1));
    let client = app.signed_in("sv_boss2", Role::Supervisor).await;
    let r = client.get("/supervision").await;
    assert_eq!([r.text("#t-due-soon"), r.text("#t-overdue")], ["2", "3"]);
}

#[tokio::test]
async fn the_cases_list_shows_the_newest_200_and_says_so_while_its_export_has_them_all() {
    let app = TestApp::spawn().await;
    let w = World::new(&app).await;
    let dept = w.handler_department().await;
    let ldr = leader(&w.owner, "王五").await;
    let now = app.clock.now();
    let mut ids = vec![];
    for _ in 0..240 {
        ids.push(
            w.case(&NewCase::open(
                dept,
                ldr,
                now,
                china_date(now) + Duration::days(30),
            ))
            .await,
        );
    }
    let staff = app.client();
    assert_eq!(staff.login("sv_staff", PASSWORD).await.status, 303);
    let page = staff.get("/cases").await;
    assert_eq!(page.status, 200);
    let shown = ids
        .iter()
        .filter(|id| page.body.contains(&format!("href=\"/cases/{id}\"")))
        .count();
    assert_eq!(shown, 200, "the newest 200");
    assert!(
        page.body.contains(&format!("href=\"/cases/{}\"", ids[239]))
            && !page.body.contains(&format!("href=\"/cases/{}\"", ids[0]))
    );
    assert!(
        page.body.contains("仅显示最新 200 件"),
        "the page says it shows only part"
    );

    let (status, rows) = crate::fixtures::xlsx(&app, &staff, "/cases.xlsx", "交办件").await;
    assert_eq!(status, 200);
    assert_eq!(
        rows.len(),
        1 + 240,
        "header and every case, no truncation note"
    );

    // A narrower filter shows everything, and says nothing.
    let other = leader(&w.owner, "赵六").await;
    w.case(&NewCase::open(
        dept,
        other,
        now,
        china_date(now) + Duration::days(30),
    ))
    .await;
    let page = staff.get(&format!("/cases?leader={other}")).await;
    assert!(!page.body.contains("仅显示最新"), "{}", page.body);
}

/// The codes of the handler's inbox in order, and the marks of its first row.
async fn inbox_head(handler: &crate::harness::Client) -> (Vec<String>, Vec<String>) {
    let inbox = handler.get("/dept/cases").await;
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    let codes = inbox.texts("table.cases tbody tr td:first-child code");
    let marks = inbox.texts("table.cases tbody tr:first-child .mark");
    (codes, marks.into_iter().take(3).collect())
}

#[tokio::test]
async fn a_supervisors_urge_from_the_case_page_heads_the_handlers_inbox_marked() {
    let app = TestApp::spawn().await;
    let w = World::new(&app).await;
    let dept = w.handler_department().await;
    let ldr = leader(&w.owner, "王五").await;
    let now = app.clock.now();
    let soon = NewCase::open(dept, ldr, now, china_date(now) + Duration::days(3));
    let later = NewCase::open(dept, ldr, now, china_date(now) + Duration::days(40));
    let (first, urged) = (w.case(&soon).await, w.case(&later).await);
    let code = |id: i64| {
        sqlx::query_scalar::<_, String>("SELECT code FROM cases WHERE id = $1")
            .bind(id)
            .fetch_one(&w.owner)
    };
    let (first_code, urged_code) = (code(first).await.unwrap(), code(urged).await.unwrap());
    let handler = app.client();
    assert_eq!(handler.login("sv_handler", PASSWORD).await.status, 303);
    let (codes, marks) = inbox_head(&handler).await;
    assert_eq!(
        codes,
        [first_code.clone(), urged_code.clone()],
        "due soon first"
    );
    assert!(marks.is_empty());

    let boss = app.signed_in("sv_boss", Role::Supervisor).await;
    let path = format!("/cases/{urged}/urge");
    let page = boss.get(&format!("/cases/{urged}")).await;
    assert!(
        page.body.contains(&format!("action=\"{path}\"")),
        "督办 form on the case page"
    );
    let empty = boss
        .post(&path, &[("from", "case"), ("urge_text", " ")])
        .await;
    assert_eq!(empty.status, 422);
    assert_eq!(empty.field_error("urge_text"), "请填写督办意见");
    let r = boss
        .post(
            &path,
            &[("from", "case"), ("urge_text", "请于三日内报告办理进展")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), format!("/cases/{urged}"));

    let (codes, marks) = inbox_head(&handler).await;
    assert_eq!(codes, [urged_code, first_code], "the urged case first");
    assert_eq!(marks, ["督办"]);
    let case = handler.get(&format!("/cases/{urged}")).await;
    assert!(
        case.body.contains("请于三日内报告办理进展"),
        "the 督办 text on the case"
    );
}

#[tokio::test]
async fn a_leaders_today_lists_its_cases_awaiting_approval() {
    let app = TestApp::spawn().await;
    let w = World::new(&app).await;
    let dept = w.handler_department().await;
    let me = app.user("sv_leader", Role::Leader).await;
    let mine: i64 = count(&w.owner, "SELECT leader_id FROM users WHERE id = $1", me).await;
    let other = leader(&w.owner, "王五").await;
    let now = app.clock.now();
    let due = china_date(now) + Duration::days(20);
    let submitted = |l: i64| NewCase {
        status: "closure_submitted",
        result: Some("resolved"),
        ..NewCase::open(dept, l, now, due)
    };
    let waiting = w.case(&submitted(mine)).await;
    w.case(&submitted(other)).await;
    w.case(&NewCase::open(dept, mine, now, due)).await;
    let client = app.client();
    let login = client.login("sv_leader", PASSWORD).await;
    assert_eq!(login.location(), "/me/today");
    let today = client.get("/me/today").await;
    assert_eq!(today.status, 200, "{}", today.body);
    let rows = today.texts("#approvals tbody tr");
    assert_eq!(
        rows.len(),
        1,
        "only its own case awaiting approval: {rows:?}"
    );
    assert!(rows[0].contains("待审核"), "{rows:?}");
    assert!(today.body.contains(&format!("href=\"/cases/{waiting}\"")));
}

#[tokio::test]
async fn the_leader_filter_lists_only_leaders_with_cases_in_reach() {
    let app = TestApp::spawn().await;
    let w = World::new(&app).await;
    let dept = w.handler_department().await;
    let now = app.clock.now();
    let due = china_date(now) + Duration::days(20);
    let here = leader(&w.owner, "本县领导").await;
    w.case(&NewCase::open(dept, here, now, due)).await;
    // Another county's visit: its own leader, and a leader of no county with a case only there.
    let county: i64 = sqlx::query_scalar(
        "INSERT INTO jurisdictions (name, code) VALUES ('邻县', '330798') RETURNING id",
    )
    .fetch_one(&w.owner)
    .await
    .unwrap();
    let theirs = leader(&w.owner, "邻县领导").await;
    sqlx::query("UPDATE leaders SET county_id = $2 WHERE id = $1")
        .bind(theirs)
        .bind(county)
        .execute(&w.owner)
        .await
        .unwrap();
    let wanderer = leader(&w.owner, "外县包案领导").await;
    let visit: i64 = sqlx::query_scalar(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by)
         VALUES ($1, '邻县下访', 'county', $2, current_date - 20, '邻县中心', 'following_up', $3) RETURNING id",
    )
    .bind(county)
    .bind(theirs)
    .bind(w.staff)
    .fetch_one(&w.owner)
    .await
    .unwrap();
    w.case_in(visit, &NewCase::open(dept, theirs, now, due))
        .await;
    w.case_in(visit, &NewCase::open(dept, wanderer, now, due))
        .await;
    let home: i64 = sqlx::query_scalar("SELECT county_id FROM visits WHERE id = $1")
        .bind(w.visit)
        .fetch_one(&w.owner)
        .await
        .unwrap();
    app.user("sv_county", Role::Supervisor).await;
    crate::fixtures::place(&w.owner, "sv_county", home).await;
    let boss = app.client();
    assert_eq!(boss.login("sv_county", PASSWORD).await.status, 303);
    for path in ["/supervision", "/cases"] {
        let page = boss.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        let leaders = page.texts("select[name=leader] option");
        assert_eq!(leaders, ["全部", "本县领导"], "{path}");
    }
}
