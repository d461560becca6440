//! 三员分立 (issue 11, DESIGN §2): the sysadmin keeps accounts without authority, the security
//! administrator sets authority (never its own) and issues one-time reset links, neither reads a
//! petition, and the auditor sees every act of both.

use crate::api::create_token;
use crate::browser::Browser;
use crate::harness::{Client, PASSWORD, Resp, TestApp};
use chrono::Duration;
use scraper::Selector;
use thirtyfour::prelude::*;
use xiafang::web::auth::Role;

const NEW_PASSWORD: &str = "Fresh-Pass-2026";

async fn id_of(app: &TestApp, username: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// (role, department_id, leader_id) of an account, as stored.
async fn authority(app: &TestApp, id: i64) -> (Option<String>, Option<i64>, Option<i64>) {
    sqlx::query_as("SELECT role, department_id, leader_id FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn department(app: &TestApp, name: &str) -> i64 {
    let owner = sqlx::PgPool::connect(&app.url).await.unwrap();
    let id = sqlx::query_scalar(
        "INSERT INTO departments (name, short_name) VALUES ($1, $1) RETURNING id",
    )
    .bind(name)
    .fetch_one(&owner)
    .await
    .unwrap();
    owner.close().await;
    id
}

/// The pages that hold petitions, registrations and cases (DESIGN §2: no administrator's).
const PETITION_PAGES: [&str; 8] = [
    "/cases",
    "/cases/1",
    "/supervision",
    "/staff/visits",
    "/staff/visits/1/registrations",
    "/staff/visits/1/registrations/1",
    "/staff/visits/1/registrations/new",
    "/api/v1/cases/ABC123",
];

async fn reads_no_petition(client: &Client, who: &str) {
    for path in PETITION_PAGES {
        assert_eq!(client.get(path).await.status, 403, "{who} GET {path}");
    }
}

/// The secadmin issues a reset link for `id`; returns its path (`/reset/…`), read from the page.
pub async fn issue_reset_link(secadmin: &Client, id: i64) -> String {
    let r = secadmin
        .post(&format!("/admin/users/{id}/reset-link"), &[])
        .await;
    assert_eq!(
        r.status, 200,
        "the link is shown in this response: {}",
        r.body
    );
    let url = r.field_value("reset_link");
    let token = url.rsplit('/').next().unwrap().to_owned();
    for cookie in r.headers.get_all("set-cookie") {
        let cookie = cookie.to_str().unwrap();
        assert!(
            !cookie.contains(&token) && !cookie.contains(&hex::encode(&token)),
            "no cookie carries the link: {cookie}"
        );
    }
    let at = url.find("/reset/").expect("a reset link");
    url[at..].to_owned()
}

async fn set_password(client: &Client, link: &str, password: &str) -> Resp {
    client
        .post(link, &[("new", password), ("confirm", password)])
        .await
}

/// The actor of each audit row the auditor's `/audit` shows for actions starting with `action`,
/// with the row's exact action.
async fn audit_rows(auditor: &Client, action: &str) -> Vec<(String, String)> {
    let page = auditor.get(&format!("/audit?action={action}")).await;
    assert_eq!(page.status, 200);
    let (row, code) = (
        Selector::parse("table.data tbody tr").unwrap(),
        Selector::parse("td code").unwrap(),
    );
    page.html()
        .select(&row)
        .map(|tr| {
            let action = tr
                .select(&code)
                .next()
                .map(|c| c.text().collect())
                .unwrap_or_default();
            (action, tr.text().collect::<String>())
        })
        .collect()
}

#[tokio::test]
async fn the_sysadmin_never_sets_authority_and_reads_no_case_whatever_it_does() {
    let app = TestApp::spawn().await;
    let root = app.signed_in("root1", Role::Sysadmin).await;
    let own = id_of(&app, "root1").await;
    let dept = department(&app, "县住建局").await;
    let dept_s = dept.to_string();

    // Create an account, asking for a role and a department: neither is read.
    let created = root
        .post(
            "/admin/users",
            &[
                ("username", "chen"),
                ("display_name", "陈明"),
                ("role", "supervisor"),
                ("department_id", &dept_s),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let chen = id_of(&app, "chen").await;
    assert_eq!(
        authority(&app, chen).await,
        (None, None, None),
        "no role until the secadmin's"
    );
    let page = root.get(created.location()).await;
    assert!(page.text(".flash").contains("尚无角色"));
    assert!(
        !page.body.contains("一次性密码"),
        "no password is shown to the sysadmin"
    );
    assert!(
        !page.body.contains("/authority"),
        "no authority form for the sysadmin"
    );

    // Edit itself and chen, slipping a role and links into the form: saved names, same authority.
    for (id, name) in [(own, "root1"), (chen, "chen")] {
        let r = root
            .post(
                &format!("/admin/users/{id}"),
                &[
                    ("username", name),
                    ("display_name", "改名"),
                    ("role", "supervisor"),
                    ("department_id", &dept_s),
                    ("leader_id", "1"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    assert_eq!(
        authority(&app, own).await,
        (Some("sysadmin".into()), None, None)
    );
    assert_eq!(authority(&app, chen).await, (None, None, None));
    let name: String = sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
        .bind(chen)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "改名", "the sysadmin's own fields are saved");

    // The secadmin's actions are closed to it, on itself and on others.
    for id in [own, chen] {
        for action in ["authority", "unlock", "reset-link", "revoke-tokens"] {
            let form = [("role", "supervisor")];
            let r = root
                .post(&format!("/admin/users/{id}/{action}"), &form)
                .await;
            assert_eq!(r.status, 403, "sysadmin POST {action} on {id}");
        }
    }
    assert_eq!(
        authority(&app, own).await,
        (Some("sysadmin".into()), None, None)
    );
    assert_eq!(app.audit_count("password.reset_link").await, 0);
    reads_no_petition(&root, "sysadmin").await;
    assert_eq!(root.get("/audit").await.status, 403);
}

#[tokio::test]
async fn the_secadmin_sets_authority_never_its_own_and_reads_no_petition() {
    let app = TestApp::spawn().await;
    let sec = app.signed_in("anquan2", Role::Secadmin).await;
    let own = id_of(&app, "anquan2").await;
    let zhou = app.user("zhou", Role::Staff).await;
    let dept = department(&app, "县民政局").await.to_string();

    let page = sec.get(&format!("/admin/users/{own}")).await;
    assert!(
        !page.body.contains("/authority"),
        "no authority form on its own page"
    );
    for role in ["supervisor", "sysadmin", ""] {
        let r = sec
            .post(&format!("/admin/users/{own}/authority"), &[("role", role)])
            .await;
        assert_eq!(r.status, 403, "its own role → {role:?}");
    }
    assert_eq!(
        authority(&app, own).await,
        (Some("secadmin".into()), None, None)
    );

    // The form: a handler needs a department; an unknown role is refused; both kept as typed.
    let zhou_authority = format!("/admin/users/{zhou}/authority");
    let r = sec.post(&zhou_authority, &[("role", "handler")]).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.field_error("department_id"),
        "承办单位经办人须选择所属单位"
    );
    let r = sec.post(&zhou_authority, &[("role", "root")]).await;
    assert_eq!(r.field_error("role"), "请选择角色");
    assert_eq!(
        authority(&app, zhou).await,
        (Some("staff".into()), None, None)
    );

    let r = sec
        .post(
            &zhou_authority,
            &[
                ("role", "handler"),
                ("department_id", &dept),
                ("leader_id", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let dept_id = dept.parse().ok();
    assert_eq!(
        authority(&app, zhou).await,
        (Some("handler".into()), dept_id, None)
    );
    assert_eq!(app.audit_count("user.role_change").await, 1);
    let r = sec.post(&zhou_authority, &[("role", "")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(authority(&app, zhou).await, (None, None, None), "revoked");
    assert_eq!(app.audit_count("user.role_revoke").await, 1);

    // Nothing of the sysadmin's, nothing of a petition.
    let profile = [("username", "zhou"), ("display_name", "周")];
    assert_eq!(
        sec.post(&format!("/admin/users/{zhou}"), &profile)
            .await
            .status,
        403
    );
    assert_eq!(sec.post("/admin/users", &profile).await.status, 403);
    assert_eq!(
        sec.post(&format!("/admin/users/{zhou}/deactivate"), &[])
            .await
            .status,
        403
    );
    assert_eq!(sec.get("/admin/departments").await.status, 403);
    assert_eq!(sec.get("/audit").await.status, 403);
    reads_no_petition(&sec, "secadmin").await;
}

#[tokio::test]
async fn a_new_account_waits_for_its_role_and_sets_its_password_through_a_link() {
    let app = TestApp::spawn().await;
    let root = app.signed_in("root1", Role::Sysadmin).await;
    let sec = app.signed_in("anquan2", Role::Secadmin).await;
    root.post(
        "/admin/users",
        &[("username", "chen"), ("display_name", "陈明")],
    )
    .await;
    let chen_id = id_of(&app, "chen").await;

    let link = issue_reset_link(&sec, chen_id).await;
    let chen = app.client();
    let form = chen.get(&link).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("chen"));
    let weak = set_password(&chen, &link, "short").await;
    assert_eq!(weak.status, 422);
    assert_eq!(weak.field_error("new"), "密码至少 8 位");
    let mismatch = chen
        .post(&link, &[("new", NEW_PASSWORD), ("confirm", "other")])
        .await;
    assert_eq!(mismatch.field_error("confirm"), "两次输入的新密码不一致");
    let done = set_password(&chen, &link, NEW_PASSWORD).await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location(), "/login");

    // The right password, no role: a clear message and no session.
    let waiting = chen.login("chen", NEW_PASSWORD).await;
    assert_eq!(waiting.status, 401);
    assert!(
        waiting.text("[role=alert]").contains("尚未分配角色"),
        "{}",
        waiting.body
    );
    let session_cookie = format!("{}=", xiafang::web::session::COOKIE);
    assert!(
        waiting
            .headers
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with(&session_cookie)),
        "no session"
    );
    assert_eq!(chen.get("/api/v1/me").await.status, 401);

    let grant = sec
        .post(
            &format!("/admin/users/{chen_id}/authority"),
            &[("role", "staff")],
        )
        .await;
    assert_eq!(grant.status, 303);
    assert_eq!(chen.login("chen", NEW_PASSWORD).await.status, 303);
    assert_eq!(
        chen.get("/staff/visits").await.status,
        200,
        "staff work, once granted"
    );

    // The auditor sees every act, each with the administrator who did it.
    let auditor = app.signed_in("shenji", Role::Auditor).await;
    for (action, actor) in [
        ("user.create", "root1"),
        ("password.reset_link", "anquan2"),
        ("password.reset", "chen"),
        ("user.role_grant", "anquan2"),
    ] {
        let rows = audit_rows(&auditor, action).await;
        let exact: Vec<_> = rows.iter().filter(|(a, _)| a == action).collect();
        assert_eq!(exact.len(), 1, "{action}: {rows:?}");
        assert!(
            exact[0].1.contains(actor),
            "{action} by {actor}: {}",
            exact[0].1
        );
    }
}

#[tokio::test]
async fn a_reset_link_works_once_for_a_day_and_ends_old_sessions_and_tokens() {
    let app = TestApp::spawn().await;
    let sec = app.signed_in("anquan2", Role::Secadmin).await;
    let staff = app.signed_in("zhou", Role::Staff).await;
    let zhou = id_of(&app, "zhou").await;
    let token = create_token(&staff, "热线").await;
    let me = |t: String| {
        let url = format!("{}/api/v1/me", app.origin());
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(token.clone()).await, 200);

    // Expired after 24 hours.
    let stale = issue_reset_link(&sec, zhou).await;
    app.clock
        .advance(Duration::hours(24) + Duration::minutes(1));
    // (the secadmin's own session has timed out meanwhile)
    let sec = app.client();
    assert_eq!(sec.login("anquan2", PASSWORD).await.status, 303);
    let anyone = app.client();
    assert_eq!(anyone.get(&stale).await.status, 410);
    assert_eq!(
        set_password(&anyone, &stale, NEW_PASSWORD).await.status,
        410
    );

    // A newer link voids the older one.
    let older = issue_reset_link(&sec, zhou).await;
    let link = issue_reset_link(&sec, zhou).await;
    assert_eq!(anyone.get(&older).await.status, 410);

    // Used: old sessions and API tokens end, the old password is gone, the link is spent.
    let staff = app.client();
    assert_eq!(staff.login("zhou", PASSWORD).await.status, 303);
    let token = create_token(&staff, "短信").await;
    assert_eq!(set_password(&anyone, &link, NEW_PASSWORD).await.status, 303);
    assert_eq!(
        staff.get("/api/v1/me").await.status,
        401,
        "the old session ended"
    );
    assert_eq!(me(token).await, 401, "the old token is revoked");
    assert_eq!(app.client().login("zhou", PASSWORD).await.status, 401);
    assert_eq!(app.client().login("zhou", NEW_PASSWORD).await.status, 303);
    assert_eq!(anyone.get(&link).await.status, 410, "single use");
    assert_eq!(
        set_password(&anyone, &link, "Other-Pass-2026").await.status,
        410
    );
    assert_eq!(app.client().login("zhou", NEW_PASSWORD).await.status, 303);
    assert_eq!(app.audit_count("password.reset").await, 1);
    assert_eq!(app.audit_count("password.reset_link").await, 3);
}

#[tokio::test]
async fn the_secadmin_unlocks_a_locked_account() {
    let app = TestApp::spawn().await;
    let sec = app.signed_in("anquan2", Role::Secadmin).await;
    let zhou = app.user("zhou", Role::Staff).await;
    for _ in 0..5 {
        app.client().login("zhou", "Wrong-Pass-1").await;
    }
    assert_eq!(
        app.client().login("zhou", PASSWORD).await.status,
        401,
        "locked"
    );
    let page = sec.get(&format!("/admin/users/{zhou}")).await;
    assert!(
        page.texts("#security-actions button")
            .iter()
            .any(|b| b == "解锁")
    );
    let r = sec.post(&format!("/admin/users/{zhou}/unlock"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(app.client().login("zhou", PASSWORD).await.status, 303);
    assert_eq!(app.audit_count("user.unlock").await, 1);
}

/// The journey in a browser: the sysadmin creates an account, the security administrator grants
/// its role and issues a link, the new colleague sets a password with it and signs in; the auditor
/// reads both administrators' acts.
#[tokio::test]
async fn in_a_browser_an_account_is_created_granted_and_given_a_password_by_link() {
    let app = TestApp::spawn().await;
    app.user("root1", Role::Sysadmin).await;
    app.user("anquan2", Role::Secadmin).await;
    app.user("shenji2", Role::Auditor).await;
    let b = Browser::start(false).await;

    b.log_in(&app, "root1", PASSWORD).await;
    b.fill("用户名", "chen").await;
    b.fill("姓名", "陈明").await;
    b.press("创建用户").await;
    assert!(b.body_text().await.contains("尚无角色"));
    b.screenshot("sanyuan-01-sysadmin-user").await;

    b.log_in(&app, "anquan2", PASSWORD).await;
    let chen = id_of(&app, "chen").await;
    b.driver
        .goto(format!("{}/admin/users/{chen}", app.origin()))
        .await
        .unwrap();
    b.field("角色")
        .await
        .find(By::XPath(".//option[normalize-space()='信访工作人员']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.press("保存权限").await;
    b.press("签发重置密码链接").await;
    b.screenshot("sanyuan-02-secadmin-reset-link").await;
    let url = b
        .field("链接（复制后交给本人）")
        .await
        .attr("value")
        .await
        .unwrap()
        .unwrap();

    b.driver.delete_all_cookies().await.unwrap();
    b.driver.goto(&url).await.unwrap();
    b.fill("新密码", NEW_PASSWORD).await;
    b.fill("再次输入新密码", NEW_PASSWORD).await;
    b.press("设置新密码").await;
    assert!(b.body_text().await.contains("新密码已设置"));
    b.log_in(&app, "chen", NEW_PASSWORD).await;
    let path = b.driver.current_url().await.unwrap().path().to_owned();
    assert_eq!(
        path, "/staff/visits",
        "chen works as staff now: on the visits"
    );

    // The auditor, through its own second factor, reads what both administrators did.
    b.log_in(&app, "shenji2", PASSWORD).await;
    let text = b.body_text().await;
    for (actor, action) in [("root1", "新增账号"), ("anquan2", "授予角色")] {
        assert!(
            text.lines()
                .any(|l| l.contains(actor) && l.contains(action)),
            "{actor} {action} in the audit log: {text}"
        );
    }
    b.screenshot("sanyuan-03-auditor-log").await;
    b.quit().await;
}
