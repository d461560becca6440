//! The administrators act within their jurisdiction's subtree (issue 12, DESIGN §2): county B's
//! sysadmin and secadmin list and offer only their county (every route with county A's ids:
//! `jurisdictions_routes`), a city's secadmin places accounts of its counties, and each auditor
//! reads the entries of its subtree.

use crate::fixtures::export_text;
use crate::harness::{Client, PASSWORD, TestApp};
use sqlx::PgPool;
use xiafang::web::auth::Role;

/// Two counties under 金华市 (330700), and the ids of 金华市 and both counties.
struct Tree {
    owner: PgPool,
    city: i64,
    a: i64,
    b: i64,
}

async fn tree(app: &TestApp) -> Tree {
    let owner = PgPool::connect(&app.url).await.unwrap();
    let county = |code: &'static str, name: &'static str| {
        let owner = owner.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO jurisdictions (code, name, level) VALUES ($1, $2, 'county') RETURNING id",
            )
            .bind(code)
            .bind(name)
            .fetch_one(&owner)
            .await
            .unwrap()
        }
    };
    let a = county("330798", "甲测试县").await;
    let b = county("330797", "乙测试县").await;
    let city = sqlx::query_scalar("SELECT id FROM jurisdictions WHERE code = '330700'")
        .fetch_one(&owner)
        .await
        .unwrap();
    Tree { owner, city, a, b }
}

impl Tree {
    /// An account of jurisdiction `j` (its id).
    async fn user(&self, app: &TestApp, username: &str, role: Role, j: i64) -> i64 {
        let id = app.user(username, role).await;
        sqlx::query("UPDATE users SET jurisdiction_id = $2 WHERE id = $1")
            .bind(id)
            .bind(j)
            .execute(&self.owner)
            .await
            .unwrap();
        id
    }

    async fn signed_in(&self, app: &TestApp, username: &str, role: Role, j: i64) -> Client {
        self.user(app, username, role, j).await;
        let client = app.client();
        let r = client.login(username, PASSWORD).await;
        assert_eq!(r.status, 303, "login of {username}: {}", r.body);
        client
    }

    async fn department(&self, name: &str, j: i64) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO departments (name, short_name, jurisdiction_id) VALUES ($1, $1, $2) RETURNING id",
        )
        .bind(name)
        .bind(j)
        .fetch_one(&self.owner)
        .await
        .unwrap()
    }

    async fn leader(&self, name: &str, j: i64) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO leaders (name, title, level, county_id) VALUES ($1, '副县长', 'county', $2) RETURNING id",
        )
        .bind(name)
        .bind(j)
        .fetch_one(&self.owner)
        .await
        .unwrap()
    }

    /// (role, jurisdiction_id, department_id) of an account, as stored.
    async fn stored(&self, id: i64) -> (Option<String>, Option<i64>, Option<i64>) {
        sqlx::query_as("SELECT role, jurisdiction_id, department_id FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&self.owner)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn county_b_administrators_list_and_offer_their_county_only() {
    let app = TestApp::spawn().await;
    let t = tree(&app).await;
    t.user(&app, "jia_staff", Role::Staff, t.a).await;
    let city_user = t.user(&app, "shi_staff", Role::Staff, t.city).await;
    t.department("甲测试县住建局", t.a).await;
    t.leader("甲县领导", t.a).await;
    t.user(&app, "yi_staff", Role::Staff, t.b).await;
    let sys = t.signed_in(&app, "yi_sys", Role::Sysadmin, t.b).await;
    let sec = t.signed_in(&app, "yi_sec", Role::Secadmin, t.b).await;

    for (client, who) in [(&sys, "sysadmin"), (&sec, "secadmin")] {
        let list = client.get("/admin/users").await;
        assert_eq!(list.status, 200, "{who}");
        assert!(list.body.contains("yi_staff"), "{who} sees its county");
        assert!(
            !list.body.contains("jia_staff") && !list.body.contains("shi_staff"),
            "{who}"
        );
        // An account above B is out of reach too, like an unknown id.
        let above = client.get(&format!("/admin/users/{city_user}")).await;
        assert_eq!(above.status, 404, "{who}");
    }
    let departments = sys.get("/admin/departments").await.body;
    assert!(!departments.contains("甲测试县住建局"));
    let leaders = sys.get("/admin/leaders").await;
    assert!(!leaders.body.contains("甲县领导"));
    // The jurisdiction select offers B only (not the city, not A).
    let offered = leaders.texts("select[name=county_id] option");
    assert_eq!(offered, ["乙测试县"]);
}

/// A new county leader, placed in `county` (empty: the sysadmin's own jurisdiction).
fn leader_form(county: &str) -> [(&'static str, &str); 4] {
    [
        ("name", "乙县领导"),
        ("title", "副县长"),
        ("level", "county"),
        ("county_id", county),
    ]
}

#[tokio::test]
async fn a_county_sysadmin_creates_in_its_county_and_cannot_place_anything() {
    let app = TestApp::spawn().await;
    let t = tree(&app).await;
    t.department("县住房和城乡建设局", t.a).await;
    let dept_b = t.department("县民政局", t.b).await;
    let sys = t.signed_in(&app, "yi_sys", Role::Sysadmin, t.b).await;

    // A new account belongs to the sysadmin's county.
    let r = sys
        .post(
            "/admin/users",
            &[("username", "yi_new"), ("display_name", "新人")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'yi_new'")
        .fetch_one(&t.owner)
        .await
        .unwrap();
    assert_eq!(t.stored(id).await, (None, Some(t.b), None));

    // The sysadmin's form does not read jurisdiction, department or role.
    let (a_s, dept_s) = (t.a.to_string(), dept_b.to_string());
    let r = sys
        .post(
            &format!("/admin/users/{id}"),
            &[
                ("username", "yi_new"),
                ("display_name", "新人"),
                ("jurisdiction_id", &a_s),
                ("department_id", &dept_s),
                ("role", "handler"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        t.stored(id).await,
        (None, Some(t.b), None),
        "nothing changed"
    );

    // Department names are unique within a jurisdiction, not across the tree.
    let form = [("name", "县住房和城乡建设局"), ("short_name", "县住建局")];
    let r = sys.post("/admin/departments", &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = sys.post("/admin/departments", &form).await;
    assert_eq!(r.status, 422, "a second one in B");
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM departments WHERE name = '县住房和城乡建设局' AND jurisdiction_id = $1",
    )
    .bind(t.b)
    .fetch_one(&t.owner)
    .await
    .unwrap();
    assert_eq!(n, 1);

    // A leader belongs to the sysadmin's county unless placed lower; never to another county.
    let r = sys.post("/admin/leaders", &leader_form(&a_s)).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("county_id"), "所选区县不存在，请重新选择");
    let r = sys.post("/admin/leaders", &leader_form("")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let county: Option<i64> =
        sqlx::query_scalar("SELECT county_id FROM leaders WHERE name = '乙县领导'")
            .fetch_one(&t.owner)
            .await
            .unwrap();
    assert_eq!(county, Some(t.b));
}

#[tokio::test]
async fn a_city_secadmin_places_county_accounts_and_a_county_secadmin_only_its_own() {
    let app = TestApp::spawn().await;
    let t = tree(&app).await;
    let a_new = t.user(&app, "jia_new", Role::Staff, t.a).await;
    let b_new = t.user(&app, "yi_new", Role::Staff, t.b).await;
    let city_sec = t.signed_in(&app, "shi_sec", Role::Secadmin, t.city).await;
    let b_sec = t.signed_in(&app, "yi_sec", Role::Secadmin, t.b).await;
    let (a_s, b_s) = (t.a.to_string(), t.b.to_string());

    // The city's secadmin grants a role to an account of county A, and moves B's account to A.
    let r = city_sec
        .post(
            &format!("/admin/users/{a_new}/authority"),
            &[("role", "supervisor"), ("jurisdiction_id", &a_s)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        t.stored(a_new).await,
        (Some("supervisor".into()), Some(t.a), None)
    );
    let page = city_sec.get(&format!("/admin/users/{b_new}")).await;
    let offered = page.texts("select[name=jurisdiction_id] option");
    assert!(offered.contains(&"金华市".to_string()), "{offered:?}");
    assert!(offered.contains(&"甲测试县".to_string()) && offered.contains(&"乙测试县".to_string()));

    // B's secadmin: its own county's account yes, but never into A; A's account is not found.
    let page = b_sec.get(&format!("/admin/users/{b_new}")).await;
    assert_eq!(
        page.texts("select[name=jurisdiction_id] option"),
        ["请选择", "乙测试县"]
    );
    let r = b_sec
        .post(
            &format!("/admin/users/{b_new}/authority"),
            &[("role", "supervisor"), ("jurisdiction_id", &a_s)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.field_error("jurisdiction_id"), "只能选择本辖区或下级辖区");
    assert_eq!(
        t.stored(b_new).await,
        (Some("staff".into()), Some(t.b), None)
    );
    let r = b_sec
        .post(
            &format!("/admin/users/{b_new}/authority"),
            &[("role", "supervisor"), ("jurisdiction_id", &b_s)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        t.stored(b_new).await,
        (Some("supervisor".into()), Some(t.b), None)
    );
    let r = b_sec
        .post(
            &format!("/admin/users/{a_new}/authority"),
            &[("role", "staff")],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(t.stored(a_new).await.0.as_deref(), Some("supervisor"));

    // Nobody moves themselves: the city secadmin's own account.
    let me: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'shi_sec'")
        .fetch_one(&t.owner)
        .await
        .unwrap();
    let r = city_sec
        .post(
            &format!("/admin/users/{me}/authority"),
            &[("role", "secadmin"), ("jurisdiction_id", &a_s)],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(t.stored(me).await.1, Some(t.city));
}

#[tokio::test]
async fn an_auditor_reads_its_subtree_and_the_city_auditor_both_counties() {
    let app = TestApp::spawn().await;
    let t = tree(&app).await;
    let a_sys = t.signed_in(&app, "jia_sys", Role::Sysadmin, t.a).await;
    let b_sys = t.signed_in(&app, "yi_sys", Role::Sysadmin, t.b).await;
    for (client, name) in [(&a_sys, "甲县审计单位"), (&b_sys, "乙县审计单位")] {
        let r = client
            .post(
                "/admin/departments",
                &[("name", name), ("short_name", "单位")],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let stored: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT actor_name, jurisdiction_id FROM audit_log WHERE action = 'department.create' ORDER BY id",
    )
    .fetch_all(&t.owner)
    .await
    .unwrap();
    assert_eq!(
        stored,
        [
            ("jia_sys".to_string(), Some(t.a)),
            ("yi_sys".to_string(), Some(t.b))
        ]
    );

    let b_aud = t.signed_in(&app, "yi_aud", Role::Auditor, t.b).await;
    let page = b_aud.get("/audit?action=department.").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("乙县审计单位"), "{}", page.body);
    assert!(!page.body.contains("甲县审计单位") && !page.body.contains("jia_sys"));
    let all = b_aud.get("/audit").await.body;
    assert!(!all.contains("jia_sys"), "A's sign-in is not B's either");

    let city_aud = t.signed_in(&app, "shi_aud", Role::Auditor, t.city).await;
    let page = city_aud.get("/audit?action=department.").await.body;
    assert!(page.contains("甲县审计单位") && page.contains("乙县审计单位"));

    // The export holds what the page shows: B's county, nothing of A's.
    for body in ["", "action=department.create"] {
        let (status, text) = export_text(&app, &b_aud, "/audit.xlsx", body).await;
        assert_eq!(status, 200);
        assert!(
            text.contains("乙县审计单位") && text.contains("新增责任单位"),
            "{text}"
        );
        assert!(
            !text.contains("甲县审计单位") && !text.contains("jia_sys"),
            "{text}"
        );
    }
    let (_, text) = export_text(&app, &city_aud, "/audit.xlsx", "action=department.create").await;
    assert!(
        text.contains("甲县审计单位") && text.contains("乙县审计单位"),
        "{text}"
    );
}

/// A county's sysadmin names the city department that reviews a county department's decisions
/// (复查机关): only departments above the county are offered or accepted, the change is audited,
/// and another county's sysadmin cannot reach the department.
#[tokio::test]
async fn a_county_sysadmin_names_a_departments_superior_body() {
    let app = TestApp::spawn().await;
    let t = tree(&app).await;
    let department = |name: &'static str, j: i64| {
        let owner = t.owner.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO departments (name, short_name, jurisdiction_id) VALUES ($1, '单位', $2) RETURNING id",
            )
            .bind(name)
            .bind(j)
            .fetch_one(&owner)
            .await
            .unwrap()
        }
    };
    let mine = department("甲县测试住建局", t.a).await;
    let above = department("金华市测试住建局", t.city).await;
    let sibling = department("乙县测试住建局", t.b).await;
    let a_sys = t.signed_in(&app, "jia_sys", Role::Sysadmin, t.a).await;
    let page = a_sys.get(&format!("/admin/departments/{mine}")).await;
    let offered = page.texts("#superiors label").join("、");
    assert!(offered.contains("金华市测试住建局"), "{offered}");
    assert!(!offered.contains("乙县测试住建局") && !offered.contains("甲县测试住建局"));

    let to = format!("/admin/departments/{mine}/superiors");
    let r = a_sys.post(&to, &[("superior", &sibling.to_string())]).await;
    assert_eq!(r.status, 422);
    assert!(r.text("#e-superior").contains("上级行政区域"), "{}", r.body);
    let r = a_sys.post(&to, &[("superior", &above.to_string())]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let stored: Vec<i64> = sqlx::query_scalar(
        "SELECT superior_department_id FROM department_superiors WHERE department_id = $1",
    )
    .bind(mine)
    .fetch_all(&t.owner)
    .await
    .unwrap();
    assert_eq!(stored, [above]);
    let page = a_sys.get(&format!("/admin/departments/{mine}")).await;
    assert!(
        page.body.contains(&format!("value=\"{above}\" checked")),
        "{}",
        page.body
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'department.superiors' AND object_id = $1::text",
    )
    .bind(mine)
    .fetch_one(&t.owner)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // Nothing ticked: the government alone reviews.
    assert_eq!(a_sys.post(&to, &[]).await.status, 303);
    let b_sys = t.signed_in(&app, "yi_sys", Role::Sysadmin, t.b).await;
    let r = b_sys.post(&to, &[("superior", &above.to_string())]).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        b_sys
            .get(&format!("/admin/departments/{mine}"))
            .await
            .status,
        404
    );
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM department_superiors WHERE department_id = $1")
            .bind(mine)
            .fetch_one(&t.owner)
            .await
            .unwrap();
    assert_eq!(left, 0);
}
