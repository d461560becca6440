//! Supervision lists and reports (issue 5): 三张清单 with strike-off, cadence compliance, the
//! Pujiang table of a visit, and every .xlsx export read back (masking, rows, audit).

use crate::fixtures::{
    Fx, Reg, assign_case, fixture, id_number, issue_document, rate_case, register, step,
    user_with_role, visit as new_visit, xlsx,
};
use crate::harness::{Client, Resp, TestApp};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::PgPool;
use xiafang::clock::{Clock, china_date};
use xiafang::followup::assign::{NewCase, Source};
use xiafang::followup::documents::rules::Kind;
use xiafang::followup::state::Action;
use xiafang::followup::transitions::Input;
use xiafang::web::auth::Role;

/// Visit 1 (25 days ago, received): A group of 8 (one case open and overdue, one 不满意), B1 a
/// repeat petitioner (case closed on time, 满意; B2 is the same ID in visit 2), C (case closed
/// late, 基本满意), a walk-in and a cancelled registration.
struct World {
    fx: Fx,
    staff: Client,
    supervisor: Client,
    visit2: i64,
    today: NaiveDate,
    codes: Codes,
    id_b: String,
    dept_build: i64,
    dept_labour: i64,
}

struct Codes {
    k1_open_overdue: String,
    k2_closed_on_time: String,
    k3_closed_late: String,
    k4_dissatisfied: String,
}

const A: &str = "AAAA2222";
const B1: &str = "BBBB2222";
const B2: &str = "BBBB3333";
const C: &str = "CCCC2222";

async fn one(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

/// Confirmed, then received in `room` on the visit day.
async fn receive(fx: &Fx, reg: i64, room: i64, queue: i32, at: DateTime<Utc>) -> i64 {
    sqlx::query("UPDATE registrations SET status = 'received', room_id = $2, queue_number = $3, expected_at = $4, checked_in_at = $4 WHERE id = $1")
        .bind(reg)
        .bind(room)
        .bind(queue)
        .bind(at)
        .execute(&fx.owner)
        .await
        .unwrap();
    sqlx::query_scalar(
        "INSERT INTO receptions (visit_id, registration_id, room_id, started_at, ended_at, recorded_by) VALUES ($1, $2, $3, $4, $4 + interval '10 minutes', $5) RETURNING id",
    )
    .bind(fx.visit)
    .bind(reg)
    .bind(room)
    .bind(at)
    .bind(fx.staff_id)
    .fetch_one(&fx.owner)
    .await
    .unwrap()
}

async fn issue(fx: &Fx, reception: i64, outcome: &str) -> i64 {
    sqlx::query_scalar("INSERT INTO issues (visit_id, reception_id, category_id, summary, outcome) VALUES ($1, $2, $3, '道路维修', $4) RETURNING id")
        .bind(fx.visit)
        .bind(reception)
        .bind(fx.cat_build)
        .bind(outcome)
        .fetch_one(&fx.owner)
        .await
        .unwrap()
}

/// 交办 through the app's own `assign` 24 days ago, signed for at once with a 限期 that ends on
/// `due`, and optionally submitted, approved and rated at `closed` (all through the transitions).
async fn case(
    app: &TestApp,
    fx: &Fx,
    issue_id: i64,
    dept: i64,
    leader: i64,
    due: NaiveDate,
    closed: Option<(DateTime<Utc>, &str)>,
) -> String {
    let assigned_at = app.clock.now() - Duration::days(24);
    let nc = NewCase {
        visit_id: fx.visit,
        source: Source::Issue(issue_id),
        title: "道路维修",
        category_id: fx.cat_build,
        lead_department_id: dept,
        co_department_ids: &[],
        owner_leader_id: leader,
        deadline_days: (due - china_date(assigned_at)).num_days() as i32,
    };
    let made = assign_case(app, &nc, fx.staff_id, assigned_at).await;
    let handler = user_with_role(&fx.owner, Role::Handler, Some(dept)).await;
    let id = made.id;
    step(
        app,
        id,
        Action::Accept,
        Input::default(),
        handler,
        assigned_at,
    )
    .await;
    if let Some((at, rating)) = closed {
        let reply = Input {
            result: "resolved".into(),
            text: "已答复".into(),
            ..Input::default()
        };
        issue_document(app, id, Kind::Opinion, handler, at).await;
        step(app, id, Action::Submit, reply, handler, at).await;
        let supervisor = user_with_role(&fx.owner, Role::Supervisor, None).await;
        step(app, id, Action::Approve, Input::default(), supervisor, at).await;
        rate_case(app, id, rating, at).await;
    }
    made.code
}

fn reg<'a>(
    fx: &Fx,
    code: &'a str,
    name: &'a str,
    id: &'a str,
    persons: i32,
    status: &'a str,
) -> Reg<'a> {
    Reg {
        code,
        name,
        id,
        phone: "13812345678",
        township: "仙华街道",
        persons,
        category: fx.cat_build,
        window: fx.windows[0],
        status,
    }
}

async fn world(app: &TestApp) -> World {
    let (fx, staff) = fixture(app).await;
    let supervisor = app.signed_in("duban", Role::Supervisor).await;
    app.user("jingban", Role::Handler).await;
    let today = china_date(app.clock.now());
    let day = today - Duration::days(25);
    let at = xiafang::clock::china_instant(day, chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap());
    sqlx::query("UPDATE visits SET visit_date = $2, status = 'following_up' WHERE id = $1")
        .bind(fx.visit)
        .bind(day)
        .execute(&fx.owner)
        .await
        .unwrap();
    let (visit2, windows2) = new_visit(&fx.owner, fx.staff_id, "十二月下访").await;
    let room: i64 = sqlx::query_scalar(
        "INSERT INTO rooms (visit_id, name) VALUES ($1, '第一接待室') RETURNING id",
    )
    .bind(fx.visit)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    let dept_build: i64 = one(
        &fx.owner,
        "INSERT INTO departments (name, short_name) VALUES ('县住建局', '住建局') RETURNING id",
    )
    .await;
    let dept_labour: i64 = one(
        &fx.owner,
        "INSERT INTO departments (name, short_name) VALUES ('县人社局', '人社局') RETURNING id",
    )
    .await;
    let leader: i64 = one(
        &fx.owner,
        "SELECT lead_leader_id FROM visits ORDER BY id LIMIT 1",
    )
    .await;

    let a = register(
        &fx,
        fx.visit,
        reg(&fx, A, "张群", "33072619800101001", 8, "confirmed"),
    )
    .await;
    let b1 = register(
        &fx,
        fx.visit,
        reg(&fx, B1, "李重", "33072619700202002", 1, "confirmed"),
    )
    .await;
    let c = register(
        &fx,
        fx.visit,
        reg(&fx, C, "王常", "33072619900303003", 1, "confirmed"),
    )
    .await;
    register(
        &fx,
        fx.visit,
        reg(&fx, "DDDD2222", "赵撤", "33072619600404004", 1, "cancelled"),
    )
    .await;
    let w = register(
        &fx,
        fx.visit,
        reg(&fx, "WWWW2222", "钱现", "33072619500505005", 1, "confirmed"),
    )
    .await;
    sqlx::query("UPDATE registrations SET channel = 'walk_in', created_by = $2 WHERE id = $1")
        .bind(w)
        .bind(fx.staff_id)
        .execute(&fx.owner)
        .await
        .unwrap();
    let mut in_visit2 = reg(&fx, B2, "李重", "33072619700202002", 1, "submitted");
    in_visit2.window = windows2[0];
    register(&fx, visit2, in_visit2).await;

    let ra = receive(&fx, a, room, 1, at).await;
    let rb = receive(&fx, b1, room, 2, at + Duration::minutes(15)).await;
    let rc = receive(&fx, c, room, 3, at + Duration::minutes(30)).await;
    issue(&fx, ra, "resolved_on_spot").await;
    let ia1 = issue(&fx, ra, "assigned").await;
    let ia2 = issue(&fx, ra, "assigned").await;
    let ib = issue(&fx, rb, "assigned").await;
    issue(&fx, rc, "resolved_on_spot").await;
    issue(&fx, rc, "explained").await;
    let ic = issue(&fx, rc, "assigned").await;

    let now = app.clock.now();
    let codes = Codes {
        k1_open_overdue: case(
            app,
            &fx,
            ia1,
            dept_build,
            leader,
            today - Duration::days(3),
            None,
        )
        .await,
        k4_dissatisfied: case(
            app,
            &fx,
            ia2,
            dept_build,
            leader,
            today + Duration::days(5),
            Some((now - Duration::days(1), "dissatisfied")),
        )
        .await,
        k2_closed_on_time: case(
            app,
            &fx,
            ib,
            dept_labour,
            leader,
            today + Duration::days(20),
            Some((now - Duration::days(10), "satisfied")),
        )
        .await,
        k3_closed_late: case(
            app,
            &fx,
            ic,
            dept_labour,
            leader,
            today - Duration::days(8),
            Some((now - Duration::days(2), "basically_satisfied")),
        )
        .await,
    };
    World {
        fx,
        staff,
        supervisor,
        visit2,
        today,
        codes,
        id_b: id_number("33072619700202002"),
        dept_build,
        dept_labour,
    }
}

fn codes(r: &Resp, css: &str) -> Vec<String> {
    let mut v = r.texts(css);
    v.sort();
    v
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn three_lists_hold_the_right_items_and_strike_off_closed_ones_with_their_date() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let k = &w.codes;
    let r = w.supervisor.get("/supervision/lists").await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Risk: the group, both registrations of the repeat petitioner, the overdue, the late, the 不满意.
    assert_eq!(
        codes(&r, "#risk tbody tr code"),
        sorted(&[
            A,
            B1,
            B2,
            &k.k1_open_overdue,
            &k.k3_closed_late,
            &k.k4_dissatisfied
        ])
    );
    // Struck off: B1 (received, its case closed) and the case closed late, each with its date.
    assert_eq!(
        codes(&r, "#risk tbody tr.struck s code"),
        sorted(&[B1, &k.k3_closed_late])
    );
    let late_row = r
        .texts("#risk tbody tr")
        .into_iter()
        .find(|t| t.contains(&k.k3_closed_late))
        .unwrap();
    assert!(late_row.contains("逾期"), "{late_row}");
    let closed_late_on = xiafang::clock::cn_date(w.today - Duration::days(2));
    assert!(
        late_row.contains(&format!("已销号 {closed_late_on}")),
        "{late_row}"
    );
    let group_row = r
        .texts("#risk tbody tr")
        .into_iter()
        .find(|t| t.contains(A))
        .unwrap();
    assert!(group_row.contains("群体访（8人）"), "{group_row}");
    assert!(
        r.texts("#risk tbody tr")
            .into_iter()
            .find(|t| t.contains(B2))
            .unwrap()
            .contains("重复访（2次登记）")
    );
    // Personal numbers only masked.
    assert!(!r.body.contains(&w.id_b));
    assert!(r.body.contains(&xiafang::privacy::mask_id_number(&w.id_b)));

    // Task list: open cases by deadline first, closed ones struck.
    let task = r.texts("#task tbody tr code");
    assert_eq!(
        task[..2],
        [k.k1_open_overdue.clone(), k.k4_dissatisfied.clone()]
    );
    assert_eq!(
        codes(&r, "#task tbody tr.struck code"),
        sorted(&[&k.k2_closed_on_time, &k.k3_closed_late])
    );
    assert_eq!(
        codes(&r, "#task tbody tr.overdue code"),
        sorted(&[&k.k1_open_overdue])
    );

    // Responsibility: department, leader, case.
    let resp_rows = r.texts("#responsibility tbody tr");
    assert_eq!(resp_rows.len(), 4);
    assert!(resp_rows.iter().any(|t| t.contains("县人社局")
        && t.contains("陈建国")
        && t.contains(&k.k2_closed_on_time)));

    // Filters: a department, a visit.
    let r = w
        .supervisor
        .get(&format!("/supervision/lists?department={}", w.dept_labour))
        .await;
    assert_eq!(
        codes(&r, "#task tbody tr code"),
        sorted(&[&k.k2_closed_on_time, &k.k3_closed_late])
    );
    assert_eq!(
        codes(&r, "#risk tbody tr code"),
        sorted(&[B1, &k.k3_closed_late])
    );
    let r = w
        .supervisor
        .get(&format!("/supervision/lists?visit={}", w.visit2))
        .await;
    assert_eq!(codes(&r, "#risk tbody tr code"), sorted(&[B2]));
    assert!(r.texts("#task tbody tr").is_empty());
    let r = w
        .staff
        .get(&format!(
            "/supervision/lists?department={}&visit=x",
            w.dept_build
        ))
        .await;
    assert_eq!(
        codes(&r, "#task tbody tr code"),
        sorted(&[&k.k1_open_overdue, &k.k4_dissatisfied])
    );

    // Leaders and handlers: not theirs.
    let handler = app.signed_in("chengban2", Role::Handler).await;
    assert_eq!(handler.get("/supervision/lists").await.status, 403);
}

async fn past_visit(owner: &PgPool, staff: i64, lead: i64, date: NaiveDate, status: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by)
         VALUES ((SELECT id FROM jurisdictions LIMIT 1), '下访', 'county', $1, $2, '便民服务中心', $3, $4) RETURNING id",
    )
    .bind(lead)
    .bind(date)
    .bind(status)
    .bind(staff)
    .fetch_one(owner)
    .await
    .unwrap()
}

async fn leader(owner: &PgPool, name: &str, level: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO leaders (name, title, level) VALUES ($1, '领导', $2) RETURNING id",
    )
    .bind(name)
    .bind(level)
    .fetch_one(owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn cadence_lists_leaders_behind_their_level_and_never_on_a_visit() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let today = china_date(app.clock.now());
    let forty = leader(&fx.owner, "王四十", "county").await;
    let twenty = leader(&fx.owner, "李二十", "county").await;
    leader(&fx.owner, "赵从未", "county").await;
    let cancelled = leader(&fx.owner, "钱取消", "county").await;
    let province = leader(&fx.owner, "孙省长", "province").await;
    let future = leader(&fx.owner, "周将来", "county").await;
    past_visit(
        &fx.owner,
        fx.staff_id,
        forty,
        today - Duration::days(40),
        "archived",
    )
    .await;
    // a cancelled visit (钱取消 only ever accompanied this one); 李二十 accompanies a visit 20 days ago
    let v = past_visit(
        &fx.owner,
        fx.staff_id,
        forty,
        today - Duration::days(20),
        "cancelled",
    )
    .await;
    let v2 = past_visit(
        &fx.owner,
        fx.staff_id,
        province,
        today - Duration::days(20),
        "following_up",
    )
    .await;
    sqlx::query("INSERT INTO visit_leaders (visit_id, leader_id) VALUES ($1, $2)")
        .bind(v2)
        .bind(twenty)
        .execute(&fx.owner)
        .await
        .unwrap();
    sqlx::query("INSERT INTO visit_leaders (visit_id, leader_id) VALUES ($1, $2)")
        .bind(v)
        .bind(cancelled)
        .execute(&fx.owner)
        .await
        .unwrap();
    past_visit(
        &fx.owner,
        fx.staff_id,
        future,
        today + Duration::days(3),
        "announced",
    )
    .await;

    let r = staff.get("/supervision/lists").await;
    let rows = r.texts("#cadence tbody tr");
    let listed = |name: &str| rows.iter().any(|t| t.contains(name));
    assert!(
        listed("王四十"),
        "40 days for a county leader: behind {rows:?}"
    );
    assert!(!listed("李二十"), "20 days: in time");
    assert!(
        listed("赵从未")
            && rows
                .iter()
                .find(|t| t.contains("赵从未"))
                .unwrap()
                .contains("从未下访")
    );
    assert!(listed("钱取消"), "a cancelled visit does not count");
    assert!(!listed("孙省长"), "a provincial leader has six months");
    assert!(
        rows.iter()
            .find(|t| t.contains("周将来"))
            .is_some_and(|t| t.contains("从未下访")),
        "a visit after today is not done yet"
    );

    let (status, sheet) = xlsx(
        &app,
        &staff,
        "/supervision/lists.xlsx?list=cadence",
        "下访频次",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        sheet[0],
        xiafang::followup::lists::CADENCE_HEADERS
            .map(String::from)
            .to_vec()
    );
    assert_eq!(sheet.len() - 1, rows.len());
}

#[tokio::test]
async fn the_visit_report_counts_match_the_rows() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let r = w
        .supervisor
        .get(&format!("/reports/visits/{}", w.fx.visit))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let keys = r.texts("table.report-total tbody th");
    let values = r.texts("table.report-total tbody td");
    let get = |k: &str| {
        values[keys
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} in {keys:?}"))]
        .clone()
    };
    assert_eq!(
        get("登记批次"),
        "3",
        "online A, B1, C; the cancelled one and the walk-in not"
    );
    assert_eq!(get("现场登记批次"), "1");
    assert_eq!(get("接待批次"), "3");
    assert_eq!(get("接待人次"), "10");
    assert_eq!(get("当场解决（件）"), "2");
    assert_eq!(get("解释说明（件）"), "1");
    assert_eq!(get("交办（件）"), "4");
    assert_eq!(get("已办结（件）"), "3");
    assert_eq!(
        get("按期办结（件）"),
        "2",
        "the one closed after its date is not on time"
    );
    assert_eq!(get("满意率"), "66.7%");
    assert_eq!(r.texts("table.report-rooms tbody tr").len(), 1);
    let depts = r.texts("table.report-departments tbody tr");
    assert_eq!(depts.len(), 2);
    assert!(
        depts
            .iter()
            .any(|t| t.contains("县人社局") && t.contains("50.0%")),
        "{depts:?}"
    );

    // Linked from the staff visit page; unknown visits are 404; handlers may not.
    let page = w.staff.get(&format!("/staff/visits/{}", w.fx.visit)).await;
    assert!(
        page.body
            .contains(&format!("/reports/visits/{}", w.fx.visit))
    );
    assert_eq!(w.staff.get("/reports/visits/999999").await.status, 404);
    assert_eq!(w.staff.get("/reports/visits/abc.xlsx").await.status, 404);
    let handler = app.signed_in("chengban3", Role::Handler).await;
    assert_eq!(
        handler
            .get(&format!("/reports/visits/{}", w.fx.visit))
            .await
            .status,
        403
    );

    // The same numbers in Excel, audited.
    let (status, sheet) = crate::fixtures::xlsx_get(
        &app,
        &w.supervisor,
        &format!("/reports/visits/{}.xlsx", w.fx.visit),
        "汇总",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sheet[0], vec!["指标", "数值"]);
    assert!(sheet.contains(&vec!["登记批次".to_string(), "3".to_string()]));
    assert!(sheet.contains(&vec!["满意率".to_string(), "66.7%".to_string()]));
    assert_eq!(app.audit_count("report.export").await, 1);
}

#[tokio::test]
async fn every_export_reads_back_masked_with_its_rows_and_is_audited() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let k = &w.codes;

    let (status, risk) = xlsx(
        &app,
        &w.supervisor,
        "/supervision/lists.xlsx?list=risk",
        "风险清单",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        risk[0],
        xiafang::followup::lists::RISK_HEADERS
            .map(String::from)
            .to_vec()
    );
    assert_eq!(risk.len() - 1, 6);
    let all: String = risk.iter().flatten().cloned().collect::<Vec<_>>().join("|");
    assert!(!all.contains(&w.id_b), "no full ID number in the export");
    let b_row = risk.iter().find(|r| r[1] == B1).unwrap();
    assert_eq!(
        b_row[2],
        format!("李重 {}", xiafang::privacy::mask_id_number(&w.id_b))
    );
    assert_eq!(b_row[8], "已销号");
    let late = risk.iter().find(|r| r[1] == k.k3_closed_late).unwrap();
    assert_eq!(
        late[9],
        xiafang::clock::cn_date(w.today - Duration::days(2))
    );
    assert_eq!(app.audit_count("supervision.list.export").await, 1);

    let (_, task) = xlsx(
        &app,
        &w.staff,
        &format!(
            "/supervision/lists.xlsx?list=task&department={}",
            w.dept_build
        ),
        "任务清单",
    )
    .await;
    assert_eq!(
        task.iter()
            .skip(1)
            .map(|r| r[0].clone())
            .collect::<Vec<_>>(),
        vec![k.k1_open_overdue.clone(), k.k4_dissatisfied.clone()]
    );
    let (_, resp) = xlsx(
        &app,
        &w.staff,
        "/supervision/lists.xlsx?list=responsibility",
        "责任清单",
    )
    .await;
    assert_eq!(resp.len() - 1, 4);
    assert_eq!(app.audit_count("supervision.list.export").await, 3);
    let (status, _) = xlsx(&app, &w.staff, "/supervision/lists.xlsx?list=nope", "x").await;
    assert_eq!(status, 400);

    // /cases.xlsx: the /cases list with its filters.
    let (status, cases) = xlsx(&app, &w.staff, "/cases.xlsx", "交办件").await;
    assert_eq!(status, 200);
    assert_eq!(
        cases[0],
        xiafang::followup::inbox::EXPORT_HEADERS
            .map(String::from)
            .to_vec()
    );
    assert_eq!(cases.len() - 1, 4);
    let (_, overdue) = xlsx(&app, &w.staff, "/cases.xlsx?overdue=1", "交办件").await;
    assert_eq!(
        overdue
            .iter()
            .skip(1)
            .map(|r| r[0].clone())
            .collect::<Vec<_>>(),
        vec![k.k1_open_overdue.clone()]
    );
    assert!(overdue[1][6].starts_with("逾期"), "{:?}", overdue[1]);
    assert_eq!(app.audit_count("case.export").await, 2);
    let r = w.staff.get("/cases?overdue=1").await;
    assert!(
        r.body.contains("action=\"/cases.xlsx\"")
            && r.body
                .contains("<input type=\"hidden\" name=\"overdue\" value=\"1\">"),
        "the list posts its filters to its export"
    );
    let _ = w.dept_labour;
}

/// The hours of the report's day table: (时段, 到达, 已接待, 时段末等候) per row.
fn hourly_rows(r: &Resp) -> Vec<String> {
    r.texts("table.report-hourly tbody tr > *")
        .chunks(4)
        .map(|cells| cells.join(" "))
        .collect()
}

#[tokio::test]
async fn the_visit_report_shows_the_day_hour_by_hour_as_a_chart_and_a_table() {
    let app = TestApp::spawn_with(|c| {
        c.session_idle = Duration::days(30);
        c.session_absolute = Duration::days(30);
    })
    .await;
    let (d, _) = crate::desk::day(&app).await;
    let v = d.fx.visit;
    let batch =
        |code, name, id, n| crate::desk::batch(&d, code, name, id, d.room_a, n, "scheduled");
    let a = batch("KAAA2345", "张一", "33072619800101111", 1).await;
    let b = batch("KBBB2345", "李二", "33072619800101222", 2).await;
    let c = batch("KCCC2345", "王三", "33072619800101333", 3).await;
    let day: NaiveDate = sqlx::query_scalar("SELECT visit_date FROM visits WHERE id = $1")
        .bind(v)
        .fetch_one(&d.fx.owner)
        .await
        .unwrap();
    let at = |h, m| {
        let t =
            xiafang::clock::china_instant(day, chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap());
        app.clock.advance(t - app.clock.now());
    };
    let desk = crate::desk::desk(&d, d.room_a);
    let staff = &d.staff;
    let check_in = move |reg: i64| {
        let path = format!("/staff/visits/{v}/checkin/{reg}");
        async move { staff.post(&path, &[]).await.status }
    };
    let cat = d.fx.cat_build.to_string();
    let owner = d.leader_a.to_string();
    let record = |reg: i64| {
        let (desk, cat, owner) = (desk.clone(), cat.clone(), owner.clone());
        async move {
            let call = staff.post(&format!("{desk}/call"), &[]).await;
            assert_eq!(call.status, 303, "{}", call.body);
            let form = [
                ("statement", "反映村道损坏"),
                ("i0_category", cat.as_str()),
                ("i0_summary", "村道损坏"),
                ("i0_outcome", "explained"),
                ("i0_owner", owner.as_str()),
                ("i0_deadline", "60"),
                ("i1_owner", owner.as_str()),
                ("i1_deadline", "60"),
                ("i2_owner", owner.as_str()),
                ("i2_deadline", "60"),
            ];
            let saved = staff.post(&format!("{desk}/{reg}/record"), &form).await;
            assert_eq!(saved.status, 303, "{}", saved.body);
        }
    };
    // 08:50 A arrives; 09:10 B; A is received at 09:30; 09:40 C; B is received at 10:20; C waits.
    at(8, 50);
    assert_eq!(check_in(a).await, 303);
    at(9, 10);
    assert_eq!(check_in(b).await, 303);
    at(9, 30);
    record(a).await;
    at(9, 40);
    assert_eq!(check_in(c).await, 303);
    at(10, 20);
    record(b).await;

    let r = report_page(&d.staff, v).await;
    // The windows run 09:00–11:00; the 08:50 arrival opens the day an hour earlier.
    assert_eq!(
        hourly_rows(&r),
        [
            "08:00–09:00 1 0 1",
            "09:00–10:00 2 1 2",
            "10:00–11:00 0 1 1"
        ]
    );
    assert_eq!(r.texts("table.report-hourly caption").len(), 1);
    assert_eq!(r.texts("table.report-hourly th[scope=col]").len(), 4);
    let svg = r.html();
    let chart = scraper::Selector::parse(".hourly-chart svg[role=img] title").unwrap();
    let title: String = svg
        .select(&chart)
        .next()
        .expect("the chart")
        .text()
        .collect();
    assert!(
        title.contains("共到达 3 批、接待 2 批") && title.contains("09:00–10:00"),
        "{title}"
    );
    let bars = scraper::Selector::parse(".hourly-chart rect.arrivals").unwrap();
    assert_eq!(
        svg.select(&bars).count(),
        3 + 1,
        "one bar an hour and the legend's"
    );
}

async fn report_page(c: &Client, visit: i64) -> Resp {
    let r = c.get(&format!("/reports/visits/{visit}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r
}
