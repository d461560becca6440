//! Administration by the sysadmin and the security administrator, and the auditor's log.

use crate::harness::{PASSWORD, TestApp};
use xiafang::web::auth::Role;

#[tokio::test]
async fn bad_input_is_shown_next_to_the_field_and_kept() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    let r = admin
        .post(
            "/admin/users",
            &[("username", "x"), ("display_name", "张<b>三</b>")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.field_error("username"),
        "用户名为 3–32 位字母、数字或 _ . -"
    );
    assert_eq!(
        r.field_value("display_name"),
        "张<b>三</b>",
        "typed value kept, as text"
    );
    assert!(
        r.body.contains("张&lt;b&gt;三&lt;/b&gt;") || r.body.contains("张&#60;b&#62;三"),
        "escaped in the page"
    );

    let taken = admin
        .post(
            "/admin/users",
            &[("username", "ROOT1"), ("display_name", "x")],
        )
        .await;
    assert_eq!(
        taken.field_error("username"),
        "该用户名已被使用",
        "usernames are unique regardless of case"
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 1, "nothing half-created");

    // The authority form is the security administrator's (三员分立): a handler needs its
    // department, and an unknown role is refused, beside the fields.
    let sec = app.signed_in("anquan2", Role::Secadmin).await;
    let root1: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'root1'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let path = format!("/admin/users/{root1}/authority");
    let r = sec
        .post(&path, &[("role", "handler"), ("department_id", "")])
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.field_error("department_id"),
        "承办单位经办人须选择所属单位"
    );
    let no_role = sec.post(&path, &[("role", "root")]).await;
    assert_eq!(no_role.field_error("role"), "请选择角色");
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(root1)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "sysadmin", "nothing half-changed");
}

#[tokio::test]
async fn deactivation_and_reset_end_sessions_and_are_audited() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    let sec = app.signed_in("anquan2", Role::Secadmin).await;
    let staff = app.signed_in("zhou", Role::Staff).await;
    let zhou: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'zhou'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(staff.get("/api/v1/me").await.status, 200);

    assert_eq!(
        admin
            .post(&format!("/admin/users/{zhou}/deactivate"), &[])
            .await
            .status,
        303
    );
    assert_eq!(
        staff.get("/api/v1/me").await.status,
        401,
        "a deactivated account's sessions end at once"
    );
    assert_eq!(app.client().login("zhou", PASSWORD).await.status, 401);
    assert_eq!(
        admin
            .post(&format!("/admin/users/{zhou}/activate"), &[])
            .await
            .status,
        303
    );

    // A reset is a link the security administrator issues; using it ends the sessions.
    let staff = app.client();
    assert_eq!(staff.login("zhou", PASSWORD).await.status, 303);
    let link = crate::sanyuan::issue_reset_link(&sec, zhou).await;
    let used = app
        .client()
        .post(
            &link,
            &[("new", "Reset-Pass-2026"), ("confirm", "Reset-Pass-2026")],
        )
        .await;
    assert_eq!(used.status, 303);
    assert_eq!(
        staff.get("/api/v1/me").await.status,
        401,
        "a reset ends the sessions too"
    );
    assert_eq!(
        app.client().login("zhou", PASSWORD).await.status,
        401,
        "the old password is gone"
    );

    let change = sec
        .post(
            &format!("/admin/users/{zhou}/authority"),
            &[("role", "supervisor")],
        )
        .await;
    assert_eq!(change.status, 303);
    for action in [
        "user.deactivate",
        "user.activate",
        "password.reset_link",
        "password.reset",
        "user.role_change",
    ] {
        assert_eq!(app.audit_count(action).await, 1, "{action}");
    }
    let detail: serde_json::Value =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'user.role_change'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(detail["from_role"], "staff");
    assert_eq!(detail["role"], "supervisor");
}

#[tokio::test]
async fn only_the_auditor_reads_the_audit_log() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    admin
        .post(
            "/admin/users",
            &[
                ("username", "newstaff"),
                ("display_name", "新同事"),
                ("role", "staff"),
            ],
        )
        .await;
    assert_eq!(
        admin.get("/audit").await.status,
        403,
        "the sysadmin cannot read the audit log"
    );

    let auditor = app.signed_in("audit1", Role::Auditor).await;
    assert_eq!(
        auditor.get("/admin/users").await.status,
        403,
        "nor the auditor administer"
    );
    let all = auditor.get("/audit").await;
    assert_eq!(all.status, 200);
    let creates = auditor.get("/audit?action=user.create").await;
    let actions = creates.texts("table.data tbody td code");
    assert!(actions.iter().any(|a| a == "user.create"), "{actions:?}");
    assert!(creates.body.contains("root1"));
    let failed_only = auditor.get("/audit?outcome=failed&actor=root1").await;
    assert!(failed_only.texts("table.data tbody tr").is_empty());
    let bad_dates = auditor
        .get("/audit?from=not-a-date&to=2026-13-45&page=-3")
        .await;
    assert_eq!(
        bad_dates.status, 422,
        "bad dates are refused beside their fields, never a 500"
    );
    assert!(!bad_dates.field_error("to").is_empty());
    let injection = auditor
        .get("/audit?action=%27%3B%20DROP%20TABLE%20users%3B--")
        .await;
    assert_eq!(injection.status, 200);
    assert!(injection.texts("table.data tbody tr").is_empty());
}

async fn id_of(app: &TestApp, sql: &str, name: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(name)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn departments_are_created_edited_and_audited() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    assert_eq!(admin.get("/admin/departments").await.status, 200);

    let created = admin
        .post(
            "/admin/departments",
            &[("name", "县住房和城乡建设局"), ("short_name", "住建局")],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.location(), "/admin/departments");
    let list = admin.get("/admin/departments").await;
    assert!(
        list.texts("table.data tbody td a")
            .contains(&"县住房和城乡建设局".to_string())
    );
    assert!(
        list.texts("table.data tbody td")
            .contains(&"住建局".to_string())
    );
    assert!(
        list.body.contains("已添加责任单位：县住房和城乡建设局"),
        "the flash"
    );

    let taken = admin
        .post(
            "/admin/departments",
            &[("name", " 县住房和城乡建设局 "), ("short_name", "住建")],
        )
        .await;
    assert_eq!(taken.status, 422);
    assert_eq!(taken.field_error("name"), "已有同名的责任单位");
    assert_eq!(taken.field_value("short_name"), "住建");
    let bad = admin
        .post(
            "/admin/departments",
            &[("name", "  "), ("short_name", &"局".repeat(21))],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.field_error("name"), "请填写名称");
    assert_eq!(bad.field_error("short_name"), "简称不能超过 20 个字");
    assert_eq!(
        bad.field_value("short_name"),
        "局".repeat(21),
        "typed value kept"
    );
    assert_eq!(
        app.audit_count("department.create").await,
        1,
        "nothing created by refused forms"
    );

    let id = id_of(
        &app,
        "SELECT id FROM departments WHERE name = $1",
        "县住房和城乡建设局",
    )
    .await;
    let page = admin.get(&format!("/admin/departments/{id}")).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.field_value("name"), "县住房和城乡建设局");
    assert_eq!(
        page.texts("#f-active[checked]").len(),
        1,
        "active is ticked"
    );

    // Renamed and deactivated (the checkbox left unticked).
    let edit = admin
        .post(
            &format!("/admin/departments/{id}"),
            &[("name", "县住建局"), ("short_name", "住建")],
        )
        .await;
    assert_eq!(edit.status, 303, "{}", edit.body);
    let page = admin.get(&format!("/admin/departments/{id}")).await;
    assert_eq!(page.field_value("name"), "县住建局");
    assert_eq!(page.field_value("short_name"), "住建");
    assert!(page.texts("#f-active[checked]").is_empty());
    assert!(
        admin
            .get("/admin/departments")
            .await
            .texts(".badge-danger")
            .contains(&"已停用".to_string())
    );

    admin
        .post(
            "/admin/departments",
            &[("name", "县教育局"), ("short_name", "教育局")],
        )
        .await;
    let clash = admin
        .post(
            &format!("/admin/departments/{id}"),
            &[("name", "县教育局"), ("short_name", ""), ("active", "1")],
        )
        .await;
    assert_eq!(clash.status, 422);
    assert_eq!(clash.field_error("name"), "已有同名的责任单位");
    assert_eq!(clash.field_error("short_name"), "请填写简称");
    assert_eq!(clash.field_value("name"), "县教育局", "typed value kept");
    assert_eq!(
        clash.texts("#f-active[checked]").len(),
        1,
        "the ticked box stays ticked"
    );
    let renamed_to_itself = admin
        .post(
            &format!("/admin/departments/{id}"),
            &[
                ("name", "县住建局"),
                ("short_name", "住建"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(
        renamed_to_itself.status, 303,
        "a department does not clash with itself"
    );
    assert_eq!(
        admin
            .post(
                "/admin/departments/999999",
                &[("name", "不存在局"), ("short_name", "无")]
            )
            .await
            .status,
        404
    );
    assert_eq!(admin.get("/admin/departments/999999").await.status, 404);

    assert_eq!(app.audit_count("department.create").await, 2);
    assert_eq!(app.audit_count("department.update").await, 2);
    let detail: serde_json::Value = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'department.update' ORDER BY id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(detail["from"]["name"], "县住房和城乡建设局");
    assert_eq!(detail["name"], "县住建局");
    assert_eq!(detail["active"], false);
}

#[tokio::test]
async fn leaders_have_a_level_a_portfolio_and_categories() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    let county: i64 = sqlx::query_scalar(
        "INSERT INTO jurisdictions (name, code) VALUES ('浦阳县', '330799') RETURNING id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let areas: Vec<i64> = sqlx::query_scalar(
        "SELECT c.id FROM categories c JOIN categories p ON p.id = c.parent_id
         WHERE p.name = '申诉求决类' AND c.name IN ('城乡建设', '征地拆迁') ORDER BY c.sort_order",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let class = id_of(
        &app,
        "SELECT id FROM categories WHERE name = $1 AND parent_id IS NULL",
        "申诉求决类",
    )
    .await;
    let page = admin.get("/admin/leaders").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.texts("select[name=level] option").len(),
        5,
        "请选择 + four levels"
    );
    assert!(
        page.texts("select[name=category_ids] option")
            .contains(&"城乡建设".to_string())
    );
    assert!(
        page.texts(&format!(
            "select[name=category_ids] option[value=\"{class}\"]"
        ))
        .is_empty(),
        "only second-level categories"
    );

    let (a0, a1, county_s) = (
        areas[0].to_string(),
        areas[1].to_string(),
        county.to_string(),
    );
    let created = admin
        .post(
            "/admin/leaders",
            &[
                ("name", "周慧敏"),
                ("title", "副县长"),
                ("level", "county"),
                ("portfolio", "分管自然资源、住房和城乡建设"),
                ("county_id", &county_s),
                ("category_ids", &a0),
                ("category_ids", &a1),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let id = id_of(&app, "SELECT id FROM leaders WHERE name = $1", "周慧敏").await;
    assert_eq!(created.location(), format!("/admin/leaders/{id}"));
    let page = admin.get(&format!("/admin/leaders/{id}")).await;
    assert_eq!(page.field_value("title"), "副县长");
    assert_eq!(
        page.field_value("portfolio"),
        "分管自然资源、住房和城乡建设"
    );
    assert_eq!(page.texts("select[name=level] option[selected]"), ["县级"]);
    assert_eq!(
        page.texts("select[name=county_id] option[selected]"),
        ["浦阳县"]
    );
    assert_eq!(
        page.texts("select[name=category_ids] option[selected]"),
        ["城乡建设", "征地拆迁"]
    );
    let list = admin.get("/admin/leaders").await;
    let row = list
        .texts("table.data tbody tr")
        .into_iter()
        .find(|r| r.contains("周慧敏"))
        .unwrap();
    assert!(
        row.contains("副县长")
            && row.contains("县级")
            && row.contains("浦阳县")
            && row.contains("申诉求决类·征地拆迁"),
        "{row}"
    );

    let long = "分".repeat(501);
    let class_s = class.to_string();
    let bad = admin
        .post(
            "/admin/leaders",
            &[
                ("name", ""),
                ("title", "县长"),
                ("level", "mayor"),
                ("portfolio", &long),
                ("county_id", "999999"),
                ("category_ids", &class_s),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.field_error("name"), "请填写姓名");
    assert_eq!(bad.field_error("level"), "请选择级别");
    assert_eq!(bad.field_error("portfolio"), "分管范围不能超过 500 个字");
    assert_eq!(bad.field_error("county_id"), "所选区县不存在，请重新选择");
    assert_eq!(
        bad.field_error("category_ids"),
        "所选问题类别不存在或已停用，请重新选择",
        "a class is not a subject area"
    );
    assert_eq!(bad.field_value("title"), "县长");
    assert_eq!(bad.field_value("portfolio"), long, "typed text kept");
    let malformed = admin
        .post(
            "/admin/leaders",
            &[
                ("name", "某"),
                ("title", "县长"),
                ("level", "county"),
                ("category_ids", "x1"),
                ("county_id", "abc"),
            ],
        )
        .await;
    assert_eq!(malformed.status, 422);
    assert_eq!(
        malformed.field_error("category_ids"),
        "所选问题类别不存在或已停用，请重新选择"
    );
    assert_eq!(
        malformed.field_error("county_id"),
        "所选区县不存在，请重新选择"
    );
    let leaders: i64 = sqlx::query_scalar("SELECT count(*) FROM leaders")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(leaders, 1);

    // One category instead of two, no jurisdiction chosen, left office.
    let edit = admin
        .post(
            &format!("/admin/leaders/{id}"),
            &[
                ("name", "周慧敏"),
                ("title", "县委常委、副县长"),
                ("level", "city"),
                ("category_ids", &a1),
            ],
        )
        .await;
    assert_eq!(edit.status, 303, "{}", edit.body);
    let page = admin.get(&format!("/admin/leaders/{id}")).await;
    assert_eq!(
        page.texts("select[name=category_ids] option[selected]"),
        ["征地拆迁"]
    );
    assert_eq!(page.texts("select[name=level] option[selected]"), ["市级"]);
    // No jurisdiction chosen: the leader belongs to the sysadmin's own (issue 12), never to none.
    assert_eq!(
        page.texts("select[name=county_id] option[selected]"),
        ["浙江省"]
    );
    assert!(page.texts("#f-active[checked]").is_empty());
    assert!(page.texts(".badge-danger").contains(&"已停用".to_string()));
    let refused = admin
        .post(
            &format!("/admin/leaders/{id}"),
            &[
                ("name", "周慧敏"),
                ("title", ""),
                ("level", "city"),
                ("category_ids", &a0),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.field_error("title"), "请填写职务");
    assert_eq!(
        refused.texts("select[name=category_ids] option[selected]"),
        ["城乡建设"],
        "the choice made is kept"
    );
    assert_eq!(
        admin
            .post(
                "/admin/leaders/999999",
                &[("name", "某"), ("title", "县长"), ("level", "county")]
            )
            .await
            .status,
        404
    );
    assert_eq!(admin.get("/admin/leaders/999999").await.status, 404);

    assert_eq!(app.audit_count("leader.create").await, 1);
    assert_eq!(app.audit_count("leader.update").await, 1);
    let detail: serde_json::Value =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'leader.update'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(detail["from"]["level"], "county");
    assert_eq!(detail["level"], "city");
    assert_eq!(detail["category_ids"], serde_json::json!([areas[1]]));
}

#[tokio::test]
async fn categories_form_a_two_level_tree_with_default_departments() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    for (name, short) in [("县住房和城乡建设局", "住建局"), ("县民政局", "民政局")]
    {
        assert_eq!(
            admin
                .post(
                    "/admin/departments",
                    &[("name", name), ("short_name", short)]
                )
                .await
                .status,
            303
        );
    }
    let zj = id_of(
        &app,
        "SELECT id FROM departments WHERE name = $1",
        "县住房和城乡建设局",
    )
    .await
    .to_string();
    let mz = id_of(
        &app,
        "SELECT id FROM departments WHERE name = $1",
        "县民政局",
    )
    .await
    .to_string();
    let class = id_of(
        &app,
        "SELECT id FROM categories WHERE name = $1 AND parent_id IS NULL",
        "申诉求决类",
    )
    .await;
    let class_s = class.to_string();

    let tree = admin.get("/admin/categories").await;
    assert_eq!(tree.status, 200);
    let rows = tree.texts("table.data tbody tr");
    assert_eq!(rows.len(), 3 + 24, "the seeded classes and subject areas");
    assert!(
        rows[0].starts_with("建议意见类") && rows[1].contains("城乡建设"),
        "{rows:?}"
    );

    let created = admin
        .post(
            "/admin/categories",
            &[
                ("parent_id", &class_s),
                ("name", "物业管理"),
                ("department_ids", &zj),
                ("department_ids", &mz),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let tree = admin.get("/admin/categories").await;
    let row = tree
        .texts("table.data tbody tr")
        .into_iter()
        .find(|r| r.contains("物业管理"))
        .unwrap();
    assert!(row.contains("住建局") && row.contains("民政局"), "{row}");
    let child = id_of(
        &app,
        "SELECT id FROM categories WHERE name = $1",
        "物业管理",
    )
    .await;
    let (parent, links): (Option<i64>, i64) = sqlx::query_as(
        "SELECT parent_id, (SELECT count(*) FROM category_departments WHERE category_id = $1) FROM categories WHERE id = $1",
    )
    .bind(child)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((parent, links), (Some(class), 2));
    assert_eq!(
        admin
            .post("/admin/categories", &[("name", "其他类")])
            .await
            .status,
        303,
        "a new top-level class"
    );

    let dup = admin
        .post(
            "/admin/categories",
            &[
                ("parent_id", &class_s),
                ("name", "物业管理"),
                ("department_ids", &mz),
            ],
        )
        .await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.field_error("name"), "同一上级类别下已有同名类别");
    assert_eq!(dup.field_value("name"), "物业管理");
    assert_eq!(
        dup.texts("select[name=department_ids] option[selected]"),
        ["县民政局"],
        "the choice made is kept"
    );
    assert_eq!(
        dup.texts("select[name=parent_id] option[selected]"),
        ["申诉求决类"]
    );
    let child_s = child.to_string();
    let three_levels = admin
        .post(
            "/admin/categories",
            &[("parent_id", &child_s), ("name", "三级")],
        )
        .await;
    assert_eq!(three_levels.status, 422);
    assert_eq!(
        three_levels.field_error("parent_id"),
        "所选上级类别不存在，请重新选择",
        "two levels only"
    );
    let bad = admin
        .post(
            "/admin/categories",
            &[
                ("parent_id", "abc"),
                ("name", &"类".repeat(41)),
                ("department_ids", "999999"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        bad.field_error("parent_id"),
        "所选上级类别不存在，请重新选择"
    );
    assert_eq!(bad.field_error("name"), "类别名称不能超过 40 个字");
    assert_eq!(
        bad.field_error("department_ids"),
        "所选责任单位不存在或已停用，请重新选择"
    );

    // Rename, deactivate, one department instead of two.
    let page = admin.get(&format!("/admin/categories/{child}")).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.texts("select[name=department_ids] option[selected]")
            .len(),
        2
    );
    let edit = admin
        .post(
            &format!("/admin/categories/{child}"),
            &[("name", "物业服务"), ("department_ids", &zj)],
        )
        .await;
    assert_eq!(edit.status, 303, "{}", edit.body);
    let page = admin.get(&format!("/admin/categories/{child}")).await;
    assert_eq!(page.field_value("name"), "物业服务");
    assert_eq!(
        page.texts("select[name=department_ids] option[selected]"),
        ["县住房和城乡建设局"]
    );
    assert!(page.texts("#f-active[checked]").is_empty());
    let tree = admin.get("/admin/categories").await;
    let row = tree
        .texts("table.data tbody tr")
        .into_iter()
        .find(|r| r.contains("物业服务"))
        .unwrap();
    assert!(row.contains("已停用") && !row.contains("民政局"), "{row}");
    let clash = admin
        .post(
            &format!("/admin/categories/{child}"),
            &[("name", "城乡建设"), ("active", "1")],
        )
        .await;
    assert_eq!(clash.status, 422);
    assert_eq!(clash.field_error("name"), "同一上级类别下已有同名类别");
    assert_eq!(clash.field_value("name"), "城乡建设");
    assert_eq!(
        admin
            .post("/admin/categories/999999", &[("name", "某类")])
            .await
            .status,
        404
    );
    assert_eq!(admin.get("/admin/categories/999999").await.status, 404);

    assert_eq!(app.audit_count("category.create").await, 2);
    assert_eq!(app.audit_count("category.update").await, 1);
    let detail: serde_json::Value =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'category.update'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(detail["from"]["name"], "物业管理");
    assert_eq!(detail["active"], false);
}

#[tokio::test]
async fn the_calendar_holds_holidays_and_weekend_workdays() {
    use chrono::Datelike;
    use xiafang::clock::{Clock, china_date};
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    let this_year = china_date(app.clock.now()).year();
    for path in [
        "/admin/calendar",
        "/admin/calendar?year=abc",
        "/admin/calendar?year=99999",
    ] {
        let page = admin.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(
            page.text("h1"),
            format!("工作日历：{this_year} 年"),
            "{path}: the current year in Asia/Shanghai"
        );
    }

    // The State Council's 2026 arrangements ship (migration 0016); this test starts from an empty year.
    sqlx::query("DELETE FROM calendar_days WHERE day >= '2026-01-01'")
        .execute(&app.db)
        .await
        .unwrap();
    let set = admin
        .post(
            "/admin/calendar",
            &[
                ("day", "2026-10-01"),
                ("kind", "holiday"),
                ("note", "国庆节"),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert_eq!(set.location(), "/admin/calendar?year=2026");
    assert_eq!(
        admin
            .post(
                "/admin/calendar",
                &[
                    ("day", "2026-09-27"),
                    ("kind", "workday"),
                    ("note", "国庆节调休")
                ]
            )
            .await
            .status,
        303
    );
    let again = admin
        .post(
            "/admin/calendar",
            &[
                ("day", "2026-10-01"),
                ("kind", "holiday"),
                ("note", "国庆节、中秋节"),
            ],
        )
        .await;
    assert_eq!(again.status, 303, "setting a day again replaces it");
    let page = admin.get("/admin/calendar?year=2026").await;
    assert_eq!(page.text("h1"), "工作日历：2026 年");
    let rows = page.texts("table.data tbody tr");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].contains("2026-09-27")
            && rows[0].contains("星期日")
            && rows[0].contains("调休上班")
            && rows[0].contains("国庆节调休"),
        "{rows:?}"
    );
    assert!(
        rows[1].contains("2026-10-01")
            && rows[1].contains("星期四")
            && rows[1].contains("放假")
            && rows[1].contains("国庆节、中秋节"),
        "{rows:?}"
    );
    assert!(
        admin
            .get("/admin/calendar?year=2027")
            .await
            .texts("table.data tbody tr")
            .is_empty()
    );

    let bad = admin
        .post(
            "/admin/calendar",
            &[("day", "2026-02-30"), ("kind", "rest"), ("note", "春节")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.field_error("day"), "请填写正确的日期，如 2026-10-01");
    assert_eq!(bad.field_error("kind"), "请选择类型");
    assert_eq!(bad.field_value("day"), "2026-02-30");
    assert_eq!(bad.field_value("note"), "春节", "typed value kept");
    let weekday = admin
        .post(
            "/admin/calendar",
            &[
                ("day", "2026-10-08"),
                ("kind", "workday"),
                ("note", &"调".repeat(41)),
            ],
        )
        .await;
    assert_eq!(weekday.status, 422);
    assert_eq!(
        weekday.field_error("kind"),
        "调休上班只能设在周六或周日（2026-10-08 是星期四，本来就是工作日）"
    );
    assert_eq!(weekday.field_error("note"), "说明不能超过 40 个字");
    assert_eq!(
        weekday.texts("select[name=kind] option[selected]"),
        ["调休上班"]
    );
    assert_eq!(
        weekday.text("h1"),
        "工作日历：2026 年",
        "the page of the year typed"
    );

    assert_eq!(
        admin
            .post("/admin/calendar/2026-09-27/delete", &[])
            .await
            .status,
        303
    );
    let rows = admin
        .get("/admin/calendar?year=2026")
        .await
        .texts("table.data tbody tr");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("2026-10-01"));
    assert_eq!(
        admin
            .post("/admin/calendar/2026-09-27/delete", &[])
            .await
            .status,
        404,
        "already gone"
    );
    for bad_day in ["not-a-date", "2026-13-01", "999999"] {
        assert_eq!(
            admin
                .post(&format!("/admin/calendar/{bad_day}/delete"), &[])
                .await
                .status,
            404,
            "{bad_day}"
        );
    }

    assert_eq!(app.audit_count("calendar.set").await, 3);
    assert_eq!(app.audit_count("calendar.delete").await, 1);
    let detail: serde_json::Value = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'calendar.set' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(detail["from"]["note"], "国庆节");
    assert_eq!(detail["note"], "国庆节、中秋节");
}

#[tokio::test]
async fn only_the_sysadmin_administers_reference_data() {
    let app = TestApp::spawn().await;
    let staff = app.signed_in("zhou", Role::Staff).await;
    for path in [
        "/admin/departments",
        "/admin/leaders",
        "/admin/categories",
        "/admin/calendar",
        "/admin/departments/1",
        "/admin/leaders/1",
        "/admin/categories/1",
    ] {
        assert_eq!(staff.get(path).await.status, 403, "GET {path}");
    }
    let posts: [(&str, &[(&str, &str)]); 5] = [
        (
            "/admin/departments",
            &[("name", "县公安局"), ("short_name", "公安局")],
        ),
        (
            "/admin/leaders",
            &[("name", "某"), ("title", "县长"), ("level", "county")],
        ),
        ("/admin/categories", &[("name", "新类")]),
        (
            "/admin/calendar",
            &[("day", "2026-10-01"), ("kind", "holiday")],
        ),
        ("/admin/calendar/2026-10-01/delete", &[]),
    ];
    for (path, form) in posts {
        assert_eq!(staff.post(path, form).await.status, 403, "POST {path}");
    }
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action ~ '^(department|leader|category|calendar)\\.'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 0);
}
