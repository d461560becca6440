//! Visits are scoped to their host and organiser (issue 12, DESIGN §11, stages 1–2): county B's
//! accounts find none of county A's visit in check-in, screening or the dossier, nor its county on
//! the visit form; a provincial visit hosted by A is run by A's staff and hidden from B's. (Every
//! route with county A's ids, as county B's roles: `jurisdictions_routes`.)

use crate::fixtures::{Fx, Reg, fixture, id_of, member, register};
use crate::harness::{Client, TestApp};
use sqlx::PgPool;
use xiafang::clock::{Clock, china_date};
use xiafang::routes::routes;
use xiafang::web::auth::{Access, Role};

/// County A is the fixture's 330726 (浦阳县); county B is 义乌市.
pub(crate) const COUNTY_B: &str = "330782";
pub(crate) const TITLE_A: &str = "县领导下访接访日";
pub(crate) const CODE_A: &str = "AJVK2345";
pub(crate) const ID_A: &str = "33072619800101001";

/// County A's visit with a registration, a room, a notice, a survey item and a flag.
pub(crate) struct A {
    pub fx: Fx,
    pub reg: i64,
    pub room: i64,
    pub notice: i64,
    pub item: i64,
    pub flag: i64,
}

pub(crate) async fn county_a(app: &TestApp) -> A {
    let (fx, _) = fixture(app).await;
    let o = &fx.owner;
    let reg = register(
        &fx,
        fx.visit,
        Reg {
            code: CODE_A,
            name: "甲某某",
            id: ID_A,
            phone: "13800000001",
            township: "仙华街道",
            persons: 1,
            category: fx.cat_build,
            window: fx.windows[0],
            status: "confirmed",
        },
    )
    .await;
    let one = |sql: &'static str| {
        let o = o.clone();
        let (v, s) = (fx.visit, fx.staff_id);
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(v)
                .bind(s)
                .fetch_one(&o)
                .await
                .unwrap()
        }
    };
    let room =
        one("INSERT INTO rooms (visit_id, name) SELECT $1, '第一接待室' WHERE $2 > 0 RETURNING id")
            .await;
    let notice = one(
        "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, created_by)
         VALUES ($1, 'first', '一次公告', '公告正文', ARRAY['政府网站'], current_date, 'draft', $2) RETURNING id",
    )
    .await;
    let item = one(
        "INSERT INTO survey_items (visit_id, township, category_id, summary, created_by)
         SELECT $1, '仙华街道', (SELECT min(id) FROM categories WHERE parent_id IS NOT NULL), '道路维修', $2 RETURNING id",
    )
    .await;
    let flag: i64 = sqlx::query_scalar(
        "INSERT INTO screening_flags (registration_id, kind, detail) VALUES ($1, 'legal_channel', '涉法涉诉') RETURNING id",
    )
    .bind(reg)
    .fetch_one(o)
    .await
    .unwrap();
    A {
        fx,
        reg,
        room,
        notice,
        item,
        flag,
    }
}

#[tokio::test]
async fn county_bs_visit_form_offers_and_takes_no_county_of_a() {
    let app = TestApp::spawn().await;
    let a = county_a(&app).await;
    let o = a.fx.owner.clone();
    let b_staff = member(&app, &o, "xinfang_b", Role::Staff, COUNTY_B).await;
    let form = b_staff.get("/staff/visits/new").await;
    assert!(!form.body.contains("浦阳县"), "{}", form.body);
    let county_a = id_of(&o, "SELECT id FROM jurisdictions WHERE code = $1", "330726").await;
    let r = b_staff
        .post("/staff/visits/new", &[("county_id", &county_a.to_string())])
        .await;
    assert_eq!(r.status, 422);
    assert!(!r.field_error("county_id").is_empty());
}

/// A leader seated in the room of a visit today.
async fn seat(o: &PgPool, room: i64, username: &str) {
    sqlx::query(
        "INSERT INTO room_leaders (room_id, leader_id) SELECT $1, leader_id FROM users WHERE username = $2",
    )
    .bind(room)
    .bind(username)
    .execute(o)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_provincial_visit_hosted_by_county_a_is_run_by_a_and_hidden_from_b() {
    let app = TestApp::spawn().await;
    let a = county_a(&app).await;
    let o = a.fx.owner.clone();
    let today = china_date(app.clock.now());
    sqlx::query(
        "UPDATE visits SET organiser_id = (SELECT id FROM jurisdictions WHERE code = '330000'),
                           title = '省领导下访接访日', level = 'province', visit_date = $2 WHERE id = $1",
    )
    .bind(a.fx.visit)
    .bind(today)
    .execute(&o)
    .await
    .unwrap();
    let a_staff = member(&app, &o, "xinfang_a", Role::Staff, "330726").await;
    let b_staff = member(&app, &o, "xinfang_b", Role::Staff, COUNTY_B).await;
    let a_leader = member(&app, &o, "leader_a", Role::Leader, "330726").await;
    let b_leader = member(&app, &o, "leader_b", Role::Leader, COUNTY_B).await;
    seat(&o, a.room, "leader_a").await;
    seat(&o, a.room, "leader_b").await;
    let day = format!("/staff/visits/{}/day", a.fx.visit);
    assert_eq!(a_staff.get(&day).await.status, 200);
    assert!(
        a_staff
            .get("/staff/visits")
            .await
            .body
            .contains("省领导下访接访日")
    );
    assert_eq!(b_staff.get(&day).await.status, 404);
    assert!(
        !b_staff
            .get("/staff/visits")
            .await
            .body
            .contains("省领导下访接访日")
    );
    // /me/today: the host's leader sees the room; a leader of B seated there by mistake does not.
    assert!(a_leader.get("/me/today").await.body.contains("第一接待室"));
    let b_today = b_leader.get("/me/today").await;
    assert_eq!(b_today.status, 200);
    assert!(
        !b_today.body.contains("省领导下访接访日"),
        "{}",
        b_today.body
    );
    let desk = format!("/staff/visits/{}/rooms/{}/desk", a.fx.visit, a.room);
    assert_eq!(b_leader.get(&desk).await.status, 404);
}

#[tokio::test]
async fn a_visit_created_by_provincial_staff_at_a_county_is_organised_by_the_province() {
    let app = TestApp::spawn().await;
    let a = county_a(&app).await;
    let o = a.fx.owner.clone();
    let province = app.signed_in("xinfang_sheng", Role::Staff).await;
    let county_a = id_of(&o, "SELECT id FROM jurisdictions WHERE code = $1", "330726").await;
    let leader = id_of(
        &o,
        "SELECT id FROM leaders WHERE name = $1 LIMIT 1",
        "陈建国",
    )
    .await;
    let date = (china_date(app.clock.now()) + chrono::Duration::days(20)).to_string();
    let (county, lead) = (county_a.to_string(), leader.to_string());
    let r = province
        .post(
            "/staff/visits/new",
            &[
                ("title", "省领导带头下访"),
                ("county_id", &county),
                ("lead_leader_id", &lead),
                ("visit_date", &date),
                ("starts_at", "08:00"),
                ("ends_at", "17:00"),
                ("venue", "仙华街道便民服务中心"),
                ("address", "人民路 88 号"),
                ("scope", "城乡建设方面的诉求"),
                ("slot_minutes", "15"),
                ("registration_closes_at", ""),
                ("deadline_days", "60"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (host, organiser): (String, String) = sqlx::query_as(
        "SELECT h.code, g.code FROM visits v JOIN jurisdictions h ON h.id = v.county_id
         JOIN jurisdictions g ON g.id = v.organiser_id WHERE v.title = '省领导带头下访'",
    )
    .fetch_one(&o)
    .await
    .unwrap();
    assert_eq!((host.as_str(), organiser.as_str()), ("330726", "330000"));
    let a_staff = member(&app, &o, "xinfang_a", Role::Staff, "330726").await;
    assert!(
        a_staff
            .get("/staff/visits")
            .await
            .body
            .contains("省领导带头下访")
    );
}

/// County B's visit, and the staff who run it.
async fn county_b_visit(app: &TestApp, a: &A) -> (i64, i64, Client) {
    let o = &a.fx.owner;
    let b_staff = member(app, o, "xinfang_b", Role::Staff, COUNTY_B).await;
    let visit: i64 = sqlx::query_scalar(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by)
         SELECT (SELECT id FROM jurisdictions WHERE code = $1), '宁和接访日', 'county', lead_leader_id,
                visit_date, venue, 'announced', created_by FROM visits WHERE id = $2 RETURNING id",
    )
    .bind(COUNTY_B)
    .bind(a.fx.visit)
    .fetch_one(o)
    .await
    .unwrap();
    let window: i64 = sqlx::query_scalar(
        "INSERT INTO reception_windows (visit_id, starts_at, ends_at, capacity_slots)
         SELECT $1, starts_at, ends_at, 20 FROM reception_windows WHERE id = $2 RETURNING id",
    )
    .bind(visit)
    .bind(a.fx.windows[0])
    .fetch_one(o)
    .await
    .unwrap();
    (visit, window, b_staff)
}

#[tokio::test]
async fn check_in_in_county_b_does_not_find_county_as_registrant() {
    let app = TestApp::spawn().await;
    let a = county_a(&app).await;
    let (visit_b, _, b_staff) = county_b_visit(&app, &a).await;
    let path = format!("/staff/visits/{visit_b}/checkin");
    let id = crate::fixtures::id_number(ID_A);
    for q in [CODE_A, "13800000001", id.as_str()] {
        let r = b_staff.post(&path, &[("q", q)]).await;
        assert_eq!(r.status, 404, "{q}");
        assert!(!r.body.contains("属于其他接访活动"), "{q}: {}", r.body);
        // (The form keeps what was typed; nothing else of A's registration shows.)
        assert!(
            !r.body.contains("甲某某") && !r.body.contains(TITLE_A),
            "{q}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn screening_across_counties_raises_a_masked_flag() {
    let app = TestApp::spawn().await;
    let a = county_a(&app).await;
    let (visit_b, window_b, b_staff) = county_b_visit(&app, &a).await;
    // A 复核终结 matter in county A: a terminated case reached through the registration's survey item.
    let o = &a.fx.owner;
    app.user("handler_a", Role::Handler).await;
    sqlx::query("UPDATE registrations SET survey_item_id = $2 WHERE id = $1")
        .bind(a.reg)
        .bind(a.item)
        .execute(o)
        .await
        .unwrap();
    let case_code = "AJ-A-0001";
    sqlx::query(
        "INSERT INTO cases (code, visit_id, survey_item_id, title, category_id, lead_department_id,
                            owner_leader_id, deadline_days, assigned_at, assigned_by, accept_due_on, status)
         SELECT $1, $2, $3, '道路维修', $4, (SELECT id FROM departments WHERE name = 'handler_a单位'),
                lead_leader_id, 60, now(), $5, current_date, 'terminated' FROM visits WHERE id = $2",
    )
    .bind(case_code)
    .bind(a.fx.visit)
    .bind(a.item)
    .bind(a.fx.cat_build)
    .bind(a.fx.staff_id)
    .execute(o)
    .await
    .unwrap();
    // The same person registers in county B: the booking screens the ID across counties.
    let reg_b = crate::fixtures::register_keeping_flags(
        &a.fx,
        visit_b,
        Reg {
            code: "BJVK2345",
            name: "甲某某",
            id: ID_A,
            phone: "13800000001",
            township: "稠城街道",
            persons: 1,
            category: a.fx.cat_build,
            window: window_b,
            status: "submitted",
        },
    )
    .await;
    let flags: Vec<(String, String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT kind, detail, related_registration_id, related_case_id FROM screening_flags
         WHERE registration_id = $1 ORDER BY kind",
    )
    .bind(reg_b)
    .fetch_all(o)
    .await
    .unwrap();
    let kinds: Vec<&str> = flags.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["recent_or_open_case", "review_terminated"],
        "{flags:?}"
    );
    for (_, detail, reg, case) in &flags {
        assert!(detail.contains("其他辖区"), "{detail}");
        assert!(
            !detail.contains(case_code) && !detail.contains(TITLE_A),
            "{detail}"
        );
        assert_eq!((reg, case), (&None, &None));
    }
    let page = b_staff
        .get(&format!("/staff/visits/{visit_b}/registrations/{reg_b}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("其他辖区"), "{}", page.body);
    assert!(
        !page.body.contains(case_code)
            && !page.body.contains(CODE_A)
            && !page.body.contains(TITLE_A)
    );
}

#[test]
fn every_route_of_a_visit_is_behind_the_scope_guard() {
    // The guard (app.rs) covers the routes starting with `/staff/visits/{id}`: a new route of one
    // visit must keep the prefix, or it would escape the check.
    for r in routes() {
        if r.path.contains("{id}") && r.path.starts_with("/staff/") {
            assert!(r.path.starts_with("/staff/visits/{id}"), "{}", r.path);
        }
        if r.path.starts_with("/staff/visits/{") {
            assert!(!matches!(r.access, Access::Public), "{}", r.path);
        }
    }
}

#[tokio::test]
async fn the_dossier_at_county_bs_desk_shows_county_as_history_only_as_a_masked_count() {
    let app = TestApp::spawn().await;
    let a = county_a(&app).await;
    let (visit_b, window_b, b_staff) = county_b_visit(&app, &a).await;
    let o = &a.fx.owner;
    let room_b: i64 = sqlx::query_scalar(
        "INSERT INTO rooms (visit_id, name) VALUES ($1, '第一接待室') RETURNING id",
    )
    .bind(visit_b)
    .fetch_one(o)
    .await
    .unwrap();
    let reg_b = register(
        &a.fx,
        visit_b,
        Reg {
            code: "BJVK2345",
            name: "甲某某",
            id: ID_A,
            phone: "13800000001",
            township: "稠城街道",
            persons: 1,
            category: a.fx.cat_build,
            window: window_b,
            status: "confirmed",
        },
    )
    .await;
    sqlx::query(
        "UPDATE registrations SET status = 'called', room_id = $2, queue_number = 1, expected_at = now(),
                checked_in_at = now(), called_at = now() WHERE id = $1",
    )
    .bind(reg_b)
    .bind(room_b)
    .execute(o)
    .await
    .unwrap();
    let desk = b_staff
        .get(&format!("/staff/visits/{visit_b}/rooms/{room_b}/desk"))
        .await;
    assert_eq!(desk.status, 200, "{}", desk.body);
    assert!(
        desk.body.contains("BJVK2345"),
        "the batch at the table: {}",
        desk.body
    );
    assert!(
        desk.text("#elsewhere").contains("其他辖区另有 1 条登记"),
        "{}",
        desk.body
    );
    assert!(
        !desk.body.contains(CODE_A) && !desk.body.contains(TITLE_A),
        "{}",
        desk.body
    );
}
