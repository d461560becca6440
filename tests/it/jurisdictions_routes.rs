//! One walk of the whole route table across jurisdictions (issue 12, DESIGN §11): the seven roles
//! of county B request every route that takes an id with county A's objects put in — signed in,
//! with API tokens and as Excel. Each answer is 404 like an unknown id (403 for a route the role
//! may never use) and shows nothing of county A; A's own accounts reach the same ids (the
//! control); the city's supervisor ranks both counties.

use crate::api::create_token;
use crate::fixtures::{assign_case, export_text, id_number, id_of, member, workbook_text};
use crate::harness::{Client, Resp, TestApp};
use crate::jurisdictions_visits::{A, CODE_A, COUNTY_B, ID_A, county_a};
use crate::route_walk::{self, Ids};
use axum::http::Method;
use xiafang::clock::Clock;
use xiafang::followup::assign::{Assigned, NewCase, Source};
use xiafang::privacy::{mask_id_number, mask_phone};
use xiafang::routes::{Route, routes};
use xiafang::web::auth::{Access, Role};

const COUNTY_A: &str = "330726";
/// A's visit, renamed: the fixture's title is also the visit form's example.
const TITLE_A: &str = "浦阳县仙华专场接访日";
/// 金华市, above both counties.
const CITY: &str = "330700";
const CASE_A: &str = "浦阳路灯维修";
const DEPT_A: &str = "浦阳县住建局";
const LEADER_A: &str = "甲县长";
/// The form every POST of the walk sends: what the case forms need to reach their object.
const FORM: &[(&str, &str)] = &[("version", "1"), ("text", "核对")];

/// County A's objects (and one case of county B's, for the city's ranking), each county's
/// accounts of every role, and what of A must never reach B.
struct World {
    app: TestApp,
    a: A,
    case: Assigned,
    /// An issued document of A's case (its 交办单).
    document: i64,
    /// A file on A's case.
    attachment: i64,
    department: i64,
    leader: i64,
    /// A's staff account (the object of `/admin/users/{id}`) and its API token.
    account: i64,
    token: i64,
    own: Vec<(Role, Client)>,
    b: Vec<(Role, Client)>,
    secrets: Vec<String>,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let a = county_a(&app).await;
    let o = a.fx.owner.clone();
    sqlx::query("UPDATE visits SET title = $2 WHERE id = $1")
        .bind(a.fx.visit)
        .bind(TITLE_A)
        .execute(&o)
        .await
        .unwrap();
    let (mut own, mut b) = (Vec::new(), Vec::new());
    for role in Role::ALL {
        let name = role.as_str();
        own.push((
            role,
            member(&app, &o, &format!("jia_{name}"), role, COUNTY_A).await,
        ));
        b.push((
            role,
            member(&app, &o, &format!("yi_{name}"), role, COUNTY_B).await,
        ));
    }
    let user = |name: &'static str, column: &'static str| {
        let o = o.clone();
        async move {
            let sql = format!("SELECT {column} FROM users WHERE username = $1");
            id_of(&o, &sql, name).await
        }
    };
    // A's department and leader are those of its handler's and its leader's accounts.
    let department = user("jia_handler", "department_id").await;
    let leader = user("jia_leader", "leader_id").await;
    sqlx::query("UPDATE departments SET name = $2, short_name = $2 WHERE id = $1")
        .bind(department)
        .bind(DEPT_A)
        .execute(&o)
        .await
        .unwrap();
    sqlx::query("UPDATE leaders SET name = $2 WHERE id = $1")
        .bind(leader)
        .bind(LEADER_A)
        .execute(&o)
        .await
        .unwrap();
    // A's department is a default of the category its registration names (the tree's).
    sqlx::query("INSERT INTO category_departments (category_id, department_id) VALUES ($1, $2)")
        .bind(a.fx.cat_build)
        .bind(department)
        .execute(&o)
        .await
        .unwrap();
    // The leader sits in the visit's room: its desk is theirs.
    sqlx::query("INSERT INTO room_leaders (room_id, leader_id) VALUES ($1, $2)")
        .bind(a.room)
        .bind(leader)
        .execute(&o)
        .await
        .unwrap();
    let case = assign_case(
        &app,
        &NewCase {
            visit_id: a.fx.visit,
            source: Source::SurveyItem(a.item),
            title: CASE_A,
            category_id: a.fx.cat_build,
            lead_department_id: department,
            co_department_ids: &[],
            owner_leader_id: leader,
            deadline_days: 60,
        },
        a.fx.staff_id,
        app.clock.now(),
    )
    .await;
    let (document, document_number) = issued_document(&app, case.id, a.fx.staff_id).await;
    let attachment = attachment(&app, case.id, a.fx.staff_id).await;
    create_token(&own[0].1, "甲县接口").await;
    let account = user("jia_staff", "id").await;
    let token = id_of(
        &o,
        "SELECT t.id FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = $1",
        "jia_staff",
    )
    .await;
    // County B's own case: the city ranks two counties.
    let visit_b: i64 = sqlx::query_scalar(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by)
         SELECT (SELECT id FROM jurisdictions WHERE code = $2), '义乌市领导接访日', level, lead_leader_id,
                visit_date, venue, status, created_by FROM visits WHERE id = $1 RETURNING id",
    )
    .bind(a.fx.visit)
    .bind(COUNTY_B)
    .fetch_one(&o)
    .await
    .unwrap();
    let item_b: i64 = sqlx::query_scalar(
        "INSERT INTO survey_items (visit_id, township, category_id, summary, created_by)
         VALUES ($1, '稠城街道', $2, '河道清淤', $3) RETURNING id",
    )
    .bind(visit_b)
    .bind(a.fx.cat_build)
    .bind(a.fx.staff_id)
    .fetch_one(&o)
    .await
    .unwrap();
    assign_case(
        &app,
        &NewCase {
            visit_id: visit_b,
            source: Source::SurveyItem(item_b),
            title: "义乌河道清淤",
            category_id: a.fx.cat_build,
            lead_department_id: user("yi_handler", "department_id").await,
            co_department_ids: &[],
            owner_leader_id: user("yi_leader", "leader_id").await,
            deadline_days: 60,
        },
        a.fx.staff_id,
        app.clock.now(),
    )
    .await;
    let secrets = [
        TITLE_A,
        CODE_A,
        "甲某某",
        &mask_phone("13800000001"),
        &mask_id_number(&id_number(ID_A)),
        &case.code,
        CASE_A,
        "道路维修",
        DEPT_A,
        LEADER_A,
        "jia_",
        &document_number,
    ]
    .map(str::to_owned)
    .to_vec();
    World {
        app,
        a,
        case,
        document,
        attachment,
        department,
        leader,
        account,
        token,
        own,
        b,
        secrets,
    }
}

/// The case's 交办单, drafted and issued by A's staff; its id and number.
async fn issued_document(app: &TestApp, case: i64, staff: i64) -> (i64, String) {
    use xiafang::followup::documents::{Kind, store};
    let actor = xiafang::audit::Actor {
        id: Some(staff),
        name: "jia_staff".into(),
        role: Some("staff"),
        ip: None,
        jurisdiction_id: None,
    };
    let now = app.clock.now();
    let keys = &app.state.keys;
    let id = store::draft(
        &mut app.db.acquire().await.unwrap(),
        keys,
        case,
        Kind::Assignment,
        None,
        &actor,
        now,
    )
    .await
    .unwrap()
    .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    let number = store::issue(&mut tx, keys, case, id, &actor, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (id, number)
}

/// A photo of the site on the case, uploaded by A's staff; its id.
async fn attachment(app: &TestApp, case: i64, staff: i64) -> i64 {
    use xiafang::followup::attachments::{self, Upload, rules::FileType};
    let actor = xiafang::audit::Actor {
        id: Some(staff),
        name: "jia_staff".into(),
        role: Some("staff"),
        ip: None,
        jurisdiction_id: None,
    };
    let upload = Upload {
        case_id: case,
        document_id: None,
        name: "浦阳路灯现场.png",
        file_type: FileType::Png,
        bytes: b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    };
    let mut tx = app.db.begin().await.unwrap();
    let id = attachments::add(&mut tx, &app.state.keys, &upload, &actor, app.clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

impl World {
    /// What of county A `body` shows (none, when scoping holds).
    fn leaks(&self, body: &str) -> Vec<&str> {
        self.secrets
            .iter()
            .map(String::as_str)
            .filter(|s| body.contains(s))
            .collect()
    }
}

/// What the walk found wrong: every answer is checked before the test fails, so that one run
/// lists every route to fix.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn answer(&mut self, w: &World, what: &str, status: u16, expected: &[u16], body: &str) {
        if !expected.contains(&status) {
            self.0
                .push(format!("{what}: {status}, expected {expected:?}"));
        }
        let leaks = w.leaks(body);
        if !leaks.is_empty() {
            self.0.push(format!("{what}: shows {leaks:?}"));
        }
    }
}

/// A route's path with county A's objects put in.
enum Target {
    /// County B's accounts reach nothing here.
    OfA(String),
    /// A category: one tree for the whole deployment (DESIGN §3), reached from every county; its
    /// pages still show nothing of A.
    TreeWide(String),
}

/// County A's objects, as the walk puts them into paths.
fn ids(w: &World) -> Ids {
    let a = &w.a;
    Ids {
        visit: a.fx.visit,
        notice: a.notice,
        reg: a.reg,
        room: a.room,
        window: a.fx.windows[0],
        item: a.item,
        flag: a.flag,
        case: w.case.id,
        case_code: w.case.code.clone(),
        document: w.document,
        attachment: w.attachment,
        leader: w.leader,
        token: w.token,
        user: w.account,
        department: w.department,
        category: a.fx.cat_build,
    }
}

/// The route `path` with county A's objects put in (`route_walk::concrete`).
fn concrete(w: &World, path: &str) -> Option<Target> {
    let c = route_walk::concrete(&ids(w), path)?;
    Some(if c.tree_wide {
        Target::TreeWide(c.path)
    } else {
        Target::OfA(c.path)
    })
}

async fn call(client: &Client, r: &Route, path: &str) -> Resp {
    if r.method == Method::GET {
        client.get(path).await
    } else {
        client.post(path, FORM).await
    }
}

/// The routes that take a parameter, but the public ones: the public pages show published visits
/// to everyone by design, and what they reveal of a registration or a case needs a secret no
/// account holds for being in a jurisdiction (the receipt: the submitting browser's cookie; the
/// feedback: the registration code with the phone's last four digits; a reset link: its token).
fn with_ids() -> Vec<Route> {
    routes()
        .into_iter()
        .filter(|r| r.path.contains('{') && !matches!(r.access, Access::Public))
        .collect()
}

#[tokio::test]
async fn county_b_reaches_nothing_of_county_a_on_any_route_by_page_token_or_export() {
    let w = world().await;
    let app = &w.app;
    let mut found = Findings::default();

    // The control: A's own accounts reach every id of the walk that their role may GET.
    for (role, client) in &w.own {
        for r in with_ids().iter().filter(|r| r.method == Method::GET) {
            let Some(Target::OfA(path)) = concrete(&w, r.path) else {
                continue;
            };
            // 更正接谈记录 exists only for a reception its account recorded today (desk_correct.rs).
            if r.path.ends_with("/correct") {
                continue;
            }
            if r.access.allows(Some(*role)) {
                let res = client.get(&path).await;
                let what = format!("A's {role:?} GET {path}");
                found.answer(&w, &what, res.status, &[200], "");
            }
        }
    }

    // Signed in: every route with an id, as each of B's roles.
    let mut walked = 0;
    for (role, client) in &w.b {
        for r in &with_ids() {
            let Some(target) = concrete(&w, r.path) else {
                continue;
            };
            let allowed = r.access.allows(Some(*role));
            let (path, res) = match &target {
                Target::OfA(p) | Target::TreeWide(p) => (p, call(client, r, p).await),
            };
            let what = format!("B's {role:?} {} {path}", r.method);
            let expected: &[u16] = match target {
                Target::OfA(_) if allowed => &[404],
                Target::TreeWide(_) if allowed => &[200, 303, 422],
                _ => &[403],
            };
            found.answer(&w, &what, res.status, expected, &res.body);
            walked += 1;
        }
        // The role's own pages without an id (lists, dashboards, forms) leave A out too.
        for r in routes().iter().filter(|r| {
            r.method == Method::GET
                && !r.path.contains('{')
                && !matches!(r.access, Access::Public)
                && r.access.allows(Some(*role))
        }) {
            let res = client.get(r.path).await;
            let what = format!("B's {role:?} GET {}", r.path);
            found.answer(&w, &what, res.status, &[200], &res.body);
        }
    }
    assert!(walked >= 7 * 80, "the table × 7 roles: {walked}");

    // API tokens: every /api/v1 route with an id, and the pages (which take no token).
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bearer = |token: &str, method: &Method, path: &str| {
        let url = format!("{}{path}", app.origin());
        let req = if *method == Method::GET {
            http.get(url)
        } else {
            http.post(url)
                .header("Idempotency-Key", "routewalk")
                .json(&serde_json::json!({}))
        };
        req.bearer_auth(token.to_owned()).send()
    };
    let a_token = create_token(&w.own[0].1, "甲县核对").await;
    let own_case = format!("/api/v1/cases/{}", w.case.code);
    let r = bearer(&a_token, &Method::GET, &own_case).await.unwrap();
    assert_eq!(r.status(), 200, "the control: A's own token reads A's case");
    let holds_tokens = |role: Role| {
        routes()
            .iter()
            .any(|r| r.path == "/me/tokens" && r.access.allows(Some(role)))
    };
    for (role, client) in w.b.iter().filter(|(role, _)| holds_tokens(*role)) {
        let token = create_token(client, "乙县接口").await;
        for r in routes().iter().filter(|r| r.path.contains('{')) {
            let api = r.path.starts_with("/api/");
            if !api && (r.method != Method::GET || matches!(r.access, Access::Public)) {
                continue;
            }
            let Some(Target::OfA(path)) = concrete(&w, r.path) else {
                continue;
            };
            let res = bearer(&token, &r.method, &path).await.unwrap();
            let status = res.status().as_u16();
            let to_login = res
                .headers()
                .get("location")
                .is_some_and(|l| l.to_str().unwrap().starts_with("/login"));
            let body = res.text().await.unwrap();
            let what = format!("B's {role:?} token {} {path}", r.method);
            let expected: &[u16] = if !api {
                // The pages take no token: to the login page.
                &[if to_login { 303 } else { 0 }]
            } else if r.access.allows(Some(*role)) {
                // (The public ones too: A's visit has no published notice, so it is public to no one.)
                &[404]
            } else {
                &[403]
            };
            found.answer(&w, &what, status, expected, &body);
        }
    }

    // Every .xlsx export, with A's ids in its form, and the visit report's workbook.
    let v = w.a.fx.visit;
    let (d, l) = (w.department, w.leader);
    let county_a = id_of(
        &w.a.fx.owner,
        "SELECT id FROM jurisdictions WHERE code = $1",
        COUNTY_A,
    )
    .await;
    let bodies = |path: &str| -> Vec<String> {
        match path {
            "/staff/visits/{id}/registrations.xlsx" => {
                vec![String::new(), "full=1&reason=核对".into()]
            }
            "/supervision.xlsx" => ["", "visit", "department", "leader", "county"]
                .iter()
                .zip([0, v, d, l, county_a])
                .map(|(k, id)| {
                    if k.is_empty() {
                        String::new()
                    } else {
                        format!("{k}={id}")
                    }
                })
                .collect(),
            "/supervision/lists.xlsx" => ["risk", "task", "responsibility", "cadence"]
                .iter()
                .flat_map(|list| {
                    [
                        format!("list={list}"),
                        format!("list={list}&visit={v}"),
                        format!("list={list}&department={d}"),
                        format!("list={list}&county={county_a}"),
                    ]
                })
                .collect(),
            "/cases.xlsx" => vec![
                String::new(),
                format!("visit={v}"),
                format!("department={d}"),
                format!("leader={l}"),
            ],
            "/audit.xlsx" => vec![
                String::new(),
                "action=case.assign".into(),
                format!("object_type=case&object_id={}", w.case.id),
                "actor=jia_staff".into(),
            ],
            other => panic!("a new export {other}: teach this test its form"),
        }
    };
    let exports: Vec<Route> = routes()
        .into_iter()
        .filter(|r| r.path.ends_with(".xlsx"))
        .collect();
    assert!(exports.len() >= 4, "the exports of the table");
    // The control: A's staff find A's case and registration in the files.
    let (_, text) = export_text(app, &w.own[0].1, "/cases.xlsx", "").await;
    assert!(text.contains(&w.case.code), "{text}");
    let own_regs = format!("/staff/visits/{v}/registrations.xlsx");
    let (_, text) = export_text(app, &w.own[0].1, &own_regs, "").await;
    assert!(text.contains(CODE_A), "{text}");
    for (role, client) in &w.b {
        for r in &exports {
            let path = match concrete(&w, r.path) {
                Some(Target::OfA(p)) => p,
                _ => unreachable!("an export of a county's data"),
            };
            for body in bodies(r.path) {
                let (status, text) = export_text(app, client, &path, &body).await;
                let expected = match (r.access.allows(Some(*role)), r.path.contains('{')) {
                    (false, _) => 403,
                    (true, true) => 404,
                    (true, false) => 200,
                };
                let what = format!("B's {role:?} POST {path} {body}");
                found.answer(&w, &what, status, &[expected], &text);
            }
        }
        let report = client
            .http
            .get(format!("{}/reports/visits/{v}.xlsx", app.origin()))
            .send()
            .await
            .unwrap();
        let (status, text) = workbook_text(report).await;
        let may = routes()
            .iter()
            .any(|r| r.path == "/reports/visits/{id}" && r.access.allows(Some(*role)));
        let what = format!("B's {role:?} GET /reports/visits/{v}.xlsx");
        found.answer(&w, &what, status, &[if may { 404 } else { 403 }], &text);
    }
    assert!(found.0.is_empty(), "{}", found.0.join("\n"));

    // None of those refused requests changed anything of A's.
    let o = &w.a.fx.owner;
    let (status, events, active, revoked): (String, i64, bool, bool) = sqlx::query_as(
        "SELECT (SELECT status FROM registrations WHERE id = $1),
                (SELECT count(*) FROM case_events WHERE case_id = $2),
                (SELECT active FROM users WHERE id = $3),
                (SELECT revoked_at IS NOT NULL FROM api_tokens WHERE id = $4)",
    )
    .bind(w.a.reg)
    .bind(w.case.id)
    .bind(w.account)
    .bind(w.token)
    .fetch_one(o)
    .await
    .unwrap();
    assert_eq!(
        (status.as_str(), events, active, revoked),
        ("confirmed", 1, true, false)
    );

    // B's sysadmin sets the shared category's departments: B's own; A's stays, A's to set.
    let (name, b_dept): (String, i64) = sqlx::query_as(
        "SELECT (SELECT name FROM categories WHERE id = $1),
                (SELECT department_id FROM users WHERE username = 'yi_handler')",
    )
    .bind(w.a.fx.cat_build)
    .fetch_one(o)
    .await
    .unwrap();
    let sysadmin = &w.b.iter().find(|(r, _)| *r == Role::Sysadmin).unwrap().1;
    let category = format!("/admin/categories/{}", w.a.fx.cat_build);
    let form = [
        ("name", name.as_str()),
        ("active", "1"),
        ("department_ids", &b_dept.to_string()),
    ];
    let r = sysadmin.post(&category, &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut kept: Vec<i64> = sqlx::query_scalar(
        "SELECT department_id FROM category_departments WHERE category_id = $1 ORDER BY department_id",
    )
    .bind(w.a.fx.cat_build)
    .fetch_all(o)
    .await
    .unwrap();
    kept.retain(|d| [w.department, b_dept].contains(d));
    assert_eq!(kept, [w.department.min(b_dept), w.department.max(b_dept)]);

    // The city's supervisor sees both counties in its ranking.
    let city = member(app, o, "shi_supervisor", Role::Supervisor, CITY).await;
    let page = city.get("/supervision").await;
    assert_eq!(page.status, 200);
    let ranks = page.texts("#counties tbody td:nth-child(1)");
    let mut names = page.texts("#counties tbody td:nth-child(2)");
    assert_eq!(ranks.first().map(String::as_str), Some("1"), "{ranks:?}");
    assert!(
        ranks.is_sorted_by_key(|r| r.parse::<u32>().unwrap()),
        "{ranks:?}"
    );
    names.sort();
    assert_eq!(names, ["义乌市", "浦阳县"]);
}
