//! Cases by jurisdiction (issue 12, DESIGN §11): each county's lists and dashboard show its own
//! cases, the city's supervisor sees both counties and drills into one; a provincial department's
//! handler sees the case assigned to it and no other. (Every route with county A's ids, as county
//! B's roles: `jurisdictions_routes`.)

use crate::fixtures::{Fx, assign_case, export_text, fixture, member, place};
use crate::harness::{PASSWORD, TestApp};
use sqlx::PgPool;
use xiafang::clock::Clock;
use xiafang::followup::assign::{NewCase, Source};
use xiafang::web::auth::Role;

/// County A (330726, the fixture's visit) with two cases, county B (宁和县) with one.
struct World {
    app: TestApp,
    fx: Fx,
    b: i64,
    visit_b: i64,
    /// A's own case (lead: A's department) and the one led by a provincial department.
    case_a: (i64, String),
    case_prov: (i64, String),
    case_b: (i64, String),
}

const TITLE_A: &str = "浦阳路灯维修";
const TITLE_PROV: &str = "省厅督办水库移民";
const TITLE_B: &str = "宁和河道清淤";
const DEPT_A: &str = "a_handler单位";
const DEPT_B: &str = "b_handler单位";

async fn jurisdiction(owner: &PgPool, code: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM jurisdictions WHERE code = $1")
        .bind(code)
        .fetch_one(owner)
        .await
        .unwrap()
}

async fn id(owner: &PgPool, sql: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(arg)
        .fetch_one(owner)
        .await
        .unwrap()
}

/// A case assigned the way the app assigns it (from a survey item of `visit`).
async fn case(
    w: (&TestApp, &Fx),
    visit: i64,
    title: &str,
    dept: i64,
    leader: i64,
) -> (i64, String) {
    let (app, fx) = w;
    let item: i64 = sqlx::query_scalar(
        "INSERT INTO survey_items (visit_id, township, category_id, summary, created_by) VALUES ($1, '仙华街道', $2, $3, $4) RETURNING id",
    )
    .bind(visit)
    .bind(fx.cat_build)
    .bind(title)
    .bind(fx.staff_id)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    let nc = NewCase {
        visit_id: visit,
        source: Source::SurveyItem(item),
        title,
        category_id: fx.cat_build,
        lead_department_id: dept,
        co_department_ids: &[],
        owner_leader_id: leader,
        deadline_days: 60,
    };
    let made = assign_case(app, &nc, fx.staff_id, app.clock.now()).await;
    (made.id, made.code)
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let (fx, _staff) = fixture(&app).await;
    let owner = fx.owner.clone();
    let a = jurisdiction(&owner, "330726").await;
    let b: i64 = sqlx::query_scalar(
        "INSERT INTO jurisdictions (code, name) VALUES ('330797', '宁和县') RETURNING id",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    let visit_b: i64 = sqlx::query_scalar(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by)
         SELECT $2, '宁和县领导接访日', level, lead_leader_id, visit_date, venue, status, created_by FROM visits WHERE id = $1
         RETURNING id",
    )
    .bind(fx.visit)
    .bind(b)
    .fetch_one(&owner)
    .await
    .unwrap();
    let prov = jurisdiction(&owner, "330000").await;
    app.user("a_handler", Role::Handler).await;
    place(&owner, "a_handler", a).await;
    app.user("p_handler", Role::Handler).await;
    place(&owner, "p_handler", prov).await;
    app.user("b_handler", Role::Handler).await;
    place(&owner, "b_handler", b).await;
    let dept = |u: &'static str| {
        let owner = owner.clone();
        async move {
            id(
                &owner,
                "SELECT department_id FROM users WHERE username = $1",
                u,
            )
            .await
        }
    };
    let leader_a: i64 = sqlx::query_scalar(
        "INSERT INTO leaders (name, title, level, county_id) VALUES ('甲县长', '县长', 'county', $1) RETURNING id",
    )
    .bind(a)
    .fetch_one(&owner)
    .await
    .unwrap();
    let leader_b: i64 = sqlx::query_scalar(
        "INSERT INTO leaders (name, title, level, county_id) VALUES ('乙县长', '县长', 'county', $1) RETURNING id",
    )
    .bind(b)
    .fetch_one(&owner)
    .await
    .unwrap();
    let on = (&app, &fx);
    let case_a = case(on, fx.visit, TITLE_A, dept("a_handler").await, leader_a).await;
    let case_prov = case(on, fx.visit, TITLE_PROV, dept("p_handler").await, leader_a).await;
    let case_b = case(on, visit_b, TITLE_B, dept("b_handler").await, leader_b).await;
    World {
        app,
        fx,
        b,
        visit_b,
        case_a,
        case_prov,
        case_b,
    }
}

/// What must never reach county B: A's case codes and titles.
fn leaks(w: &World, body: &str) -> Vec<String> {
    [&w.case_a.1, &w.case_prov.1]
        .into_iter()
        .map(String::as_str)
        .chain([TITLE_A, TITLE_PROV, DEPT_A, "甲县长"])
        .filter(|s| body.contains(s))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn each_county_sees_its_own_and_the_city_sees_both_counties() {
    let w = world().await;
    let (app, owner) = (&w.app, &w.fx.owner);
    // B's supervisor: B's case and department on the dashboard, in the lists and the file.
    let b_sup = member(app, owner, "b_sup", Role::Supervisor, "330797").await;
    let dash = b_sup.get("/supervision").await.body;
    assert!(
        dash.contains(DEPT_B) && !dash.contains(DEPT_A),
        "B's dashboard"
    );
    assert!(b_sup.get("/cases").await.body.contains(TITLE_B));
    assert_eq!(
        b_sup.get(&format!("/cases/{}", w.case_b.0)).await.status,
        200
    );
    assert_eq!(
        b_sup
            .get(&format!("/reports/visits/{}", w.visit_b))
            .await
            .status,
        200
    );
    // A's staff: A's two cases, not B's.
    let a_staff = member(app, owner, "a_staff", Role::Staff, "330726").await;
    let list = a_staff.get("/cases").await.body;
    assert!(list.contains(TITLE_A) && list.contains(TITLE_PROV) && !list.contains(TITLE_B));
    assert_eq!(
        a_staff.get(&format!("/cases/{}", w.case_b.0)).await.status,
        404
    );
    // Its department filter offers A's and the provincial department leading one of its cases.
    let offered = a_staff
        .get("/cases")
        .await
        .texts("select[name=department] option");
    assert!(offered.contains(&DEPT_A.to_owned()) && offered.contains(&"p_handler单位".to_owned()));
    assert!(!offered.contains(&DEPT_B.to_owned()), "{offered:?}");
    // The city's supervisor: both counties, everywhere.
    let city = member(app, owner, "city_sup", Role::Supervisor, "330700").await;
    for p in ["/cases", "/supervision/lists"] {
        let body = city.get(p).await.body;
        for t in [TITLE_A, TITLE_PROV, TITLE_B] {
            assert!(body.contains(t), "city {p} has {t}");
        }
    }
    let dash = city.get("/supervision").await.body;
    assert!(
        dash.contains(DEPT_A) && dash.contains(DEPT_B),
        "the city's dashboard"
    );
    // Two counties' departments are told apart by their county; a county's own are not.
    assert!(dash.contains(&format!("{DEPT_B}（宁和县）")), "{dash}");
    let own = b_sup.get("/supervision").await.body;
    assert!(own.contains(DEPT_B) && !own.contains(&format!("{DEPT_B}（")));
    // 三张清单 drills into one county; B's supervisor cannot drill into A.
    let lists = city
        .get(&format!("/supervision/lists?county={}", w.b))
        .await
        .body;
    assert!(
        lists.contains(TITLE_B) && !lists.contains(TITLE_A),
        "the city's lists of B"
    );
    let a = jurisdiction(owner, "330726").await;
    let probe = b_sup
        .get(&format!("/supervision/lists?county={a}"))
        .await
        .body;
    assert_eq!(leaks(&w, &probe), Vec::<String>::new());
    let (status, text) = export_text(app, &city, "/supervision.xlsx", "").await;
    assert_eq!(status, 200);
    assert!(text.contains(DEPT_A) && text.contains(DEPT_B));
    for (id, _) in [&w.case_a, &w.case_b] {
        assert_eq!(city.get(&format!("/cases/{id}")).await.status, 200);
    }
    // The rollup: the city ranks its counties and drills into one.
    let page = city.get("/supervision").await;
    let ranked = page.texts("#counties tbody td:nth-child(2)");
    assert_eq!(ranked.len(), 2, "{ranked:?}");
    assert!(ranked.contains(&"宁和县".to_owned()) && ranked.contains(&"浦阳县".to_owned()));
    let drilled = city.get(&format!("/supervision?county={}", w.b)).await.body;
    assert!(
        drilled.contains(DEPT_B) && !drilled.contains(DEPT_A),
        "drilled into B"
    );
    // A county outside the subtree is drilled into by nobody: B's supervisor asking for A's
    // county gets nothing of A (and B's own page has no county ranking).
    let probe = b_sup.get(&format!("/supervision?county={a}")).await.body;
    assert_eq!(leaks(&w, &probe), Vec::<String>::new());
    assert!(!probe.contains(DEPT_B), "nothing counted");
    assert!(
        !b_sup
            .get("/supervision")
            .await
            .body
            .contains("id=\"counties\"")
    );
    // The tallies: the city counts three cases, B one (summed over its subtree's rows).
    let counted = |root: i64| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(sum(assigned), 0)::bigint FROM case_month_tallies
             WHERE host_id IN (SELECT jurisdiction_subtree($1)) OR organiser_id IN (SELECT jurisdiction_subtree($1))",
        )
        .bind(root)
        .fetch_one(owner)
        .await
        .unwrap()
    };
    assert_eq!(counted(w.b).await, 1);
    assert_eq!(counted(jurisdiction(owner, "330700").await).await, 3);
    // A visit moved to another host takes its cases' tallies along (and they stay exact).
    sqlx::query("UPDATE visits SET county_id = $2, organiser_id = $2 WHERE id = $1")
        .bind(w.fx.visit)
        .bind(w.b)
        .execute(owner)
        .await
        .unwrap();
    assert_eq!(counted(w.b).await, 3);
    assert_eq!(counted(a).await, 0);
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
            "SELECT count(*) FROM ((SELECT * FROM {kept} k EXCEPT SELECT * FROM {direct})
                                   UNION ALL (SELECT * FROM {direct} EXCEPT SELECT * FROM {kept} k)) d"
        ))
        .fetch_one(owner)
        .await
        .unwrap();
        assert_eq!(diff, 0, "{direct} equals its summary after the move");
    }
    assert!(b_sup.get("/supervision").await.body.contains(DEPT_A));
}

#[tokio::test]
async fn a_provincial_departments_handler_sees_its_case_in_county_a_and_no_other() {
    let w = world().await;
    let (app, owner) = (&w.app, &w.fx.owner);
    // p_handler: a handler of a department of 浙江省 (the lead of `case_prov`).
    let p = app.client();
    assert_eq!(p.login("p_handler", PASSWORD).await.status, 303);
    let file = p.get(&format!("/cases/{}", w.case_prov.0)).await;
    assert_eq!(file.status, 200);
    assert!(file.body.contains(TITLE_PROV));
    for (id, _) in [&w.case_a, &w.case_b] {
        assert_eq!(p.get(&format!("/cases/{id}")).await.status, 404);
    }
    for path in ["/cases", "/dept/cases"] {
        let body = p.get(path).await.body;
        assert!(body.contains(&w.case_prov.1), "{path}");
        assert!(!body.contains(TITLE_A) && !body.contains(TITLE_B), "{path}");
    }
    // It acts on its case: 签收.
    let version: i32 = sqlx::query_scalar("SELECT version FROM cases WHERE id = $1")
        .bind(w.case_prov.0)
        .fetch_one(owner)
        .await
        .unwrap();
    let r = p
        .post(
            &format!("/cases/{}/accept", w.case_prov.0),
            &[("version", &version.to_string())],
        )
        .await;
    assert!(
        r.status == 303 || r.status == 200,
        "{}: {}",
        r.status,
        r.body
    );
    let status: String = sqlx::query_scalar("SELECT status FROM cases WHERE id = $1")
        .bind(w.case_prov.0)
        .fetch_one(owner)
        .await
        .unwrap();
    assert_eq!(status, "accepted");
    // The step is in the audit of the case's county (its object's) and of the province (its
    // actor's), not in the other county's.
    let seen = |username: &'static str, code: &'static str| async move {
        let auditor = member(app, owner, username, Role::Auditor, code).await;
        auditor.get("/audit?action=case.accept").await.body
    };
    assert!(seen("a_audit", "330726").await.contains("p_handler"));
    assert!(seen("p_audit", "330000").await.contains("p_handler"));
    let b_view = seen("b_audit", "330797").await;
    assert!(!b_view.contains("p_handler"), "{b_view}");
}

#[tokio::test]
async fn the_room_and_visit_forms_offer_the_hosts_line_and_never_a_sibling_county() {
    let w = world().await;
    let (app, owner) = (&w.app, &w.fx.owner);
    let a_staff = member(app, owner, "a_staff", Role::Staff, "330726").await;
    let rooms = format!("/staff/visits/{}/rooms", w.fx.visit);
    let offered = a_staff
        .get(&rooms)
        .await
        .texts("select[name=leader_ids] option");
    assert!(
        offered.iter().any(|o| o.starts_with("甲县长")),
        "{offered:?}"
    );
    assert!(
        !offered.iter().any(|o| o.starts_with("乙县长")),
        "{offered:?}"
    );
    let departments = a_staff
        .get(&rooms)
        .await
        .texts("select[name=department_ids] option");
    assert!(
        departments.contains(&"p_handler单位".to_owned()),
        "the province above: {departments:?}"
    );
    assert!(!departments.contains(&DEPT_B.to_owned()), "{departments:?}");
    // B's leader posted anyway is refused next to the field, and the room is not made.
    let leader_b: i64 = id(owner, "SELECT id FROM leaders WHERE name = $1", "乙县长").await;
    let r = a_staff
        .post(
            &rooms,
            &[
                ("name", "第九接待室"),
                ("leader_ids", &leader_b.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(!r.field_error("leader_ids").is_empty());
    assert_eq!(r.field_value("name"), "第九接待室");
    let visit_form = a_staff.get("/staff/visits/new").await.body;
    assert!(visit_form.contains("甲县长") && !visit_form.contains("乙县长"));
    // A's department returns its case; reassigning it offers A's line, and B's department
    // posted anyway is refused.
    let case_page = format!("/cases/{}", w.case_a.0);
    let version = |owner: PgPool| async move {
        sqlx::query_scalar::<_, i32>("SELECT version FROM cases WHERE id = $1")
            .bind(w.case_a.0)
            .fetch_one(&owner)
            .await
            .unwrap()
            .to_string()
    };
    let a_handler = app.client();
    assert_eq!(a_handler.login("a_handler", PASSWORD).await.status, 303);
    let r = a_handler
        .post(
            &format!("{case_page}/return"),
            &[
                ("version", &version(owner.clone()).await),
                ("return_reason", "不属本单位职责"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let offered = a_staff
        .get(&case_page)
        .await
        .texts("select[name=department_id] option");
    assert!(offered.contains(&"p_handler单位".to_owned()), "{offered:?}");
    assert!(!offered.contains(&DEPT_B.to_owned()), "{offered:?}");
    let dept_b = id(
        owner,
        "SELECT department_id FROM users WHERE username = $1",
        "b_handler",
    )
    .await;
    let r = a_staff
        .post(
            &format!("{case_page}/reassign"),
            &[
                ("version", &version(owner.clone()).await),
                ("department_id", &dept_b.to_string()),
                ("text", "改由宁和县办理"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(!r.field_error("department_id").is_empty());
}
