//! Administration by the sysadmin, and the auditor's log.

use crate::harness::{TestApp, PASSWORD};
use xiafang::web::auth::Role;

#[tokio::test]
async fn bad_input_is_shown_next_to_the_field_and_kept() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    let r = admin.post("/admin/users", &[("username", "x"), ("display_name", "张<b>三</b>"), ("role", "handler"), ("department_id", "")]).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("username"), "用户名为 3–32 位字母、数字或 _ . -");
    assert_eq!(r.field_error("department_id"), "承办单位经办人须选择所属责任单位");
    assert_eq!(r.field_value("display_name"), "张<b>三</b>", "typed value kept, as text");
    assert!(r.body.contains("张&lt;b&gt;三&lt;/b&gt;") || r.body.contains("张&#60;b&#62;三"), "escaped in the page");

    let taken = admin.post("/admin/users", &[("username", "ROOT1"), ("display_name", "x"), ("role", "staff")]).await;
    assert_eq!(taken.field_error("username"), "该用户名已被使用", "usernames are unique regardless of case");
    let no_role = admin.post("/admin/users", &[("username", "newbie"), ("display_name", "新人"), ("role", "root")]).await;
    assert_eq!(no_role.field_error("role"), "请选择角色");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 1, "nothing half-created");
}

#[tokio::test]
async fn deactivation_and_reset_end_sessions_and_are_audited() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    let staff = app.signed_in("zhou", Role::Staff).await;
    let zhou: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'zhou'").fetch_one(&app.db).await.unwrap();
    assert_eq!(staff.get("/api/v1/me").await.status, 200);

    assert_eq!(admin.post(&format!("/admin/users/{zhou}/deactivate"), &[]).await.status, 303);
    assert_eq!(staff.get("/api/v1/me").await.status, 401, "a deactivated account's sessions end at once");
    assert_eq!(app.client().login("zhou", PASSWORD).await.status, 401);
    assert_eq!(admin.post(&format!("/admin/users/{zhou}/activate"), &[]).await.status, 303);

    let staff = app.client();
    assert_eq!(staff.login("zhou", PASSWORD).await.status, 303);
    let reset = admin.post(&format!("/admin/users/{zhou}/reset-password"), &[]).await;
    assert_eq!(reset.status, 303);
    assert_eq!(staff.get("/api/v1/me").await.status, 401, "a reset ends the sessions too");
    assert_eq!(app.client().login("zhou", PASSWORD).await.status, 401, "the old password is gone");

    let change = admin.post(&format!("/admin/users/{zhou}"), &[("display_name", "周洁"), ("role", "supervisor")]).await;
    assert_eq!(change.status, 303);
    for action in ["user.deactivate", "user.activate", "password.reset", "user.role_change"] {
        assert_eq!(app.audit_count(action).await, 1, "{action}");
    }
    let detail: serde_json::Value = sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'user.role_change'").fetch_one(&app.db).await.unwrap();
    assert_eq!(detail["from_role"], "staff");
    assert_eq!(detail["role"], "supervisor");
}

#[tokio::test]
async fn only_the_auditor_reads_the_audit_log() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    admin.post("/admin/users", &[("username", "newstaff"), ("display_name", "新同事"), ("role", "staff")]).await;
    assert_eq!(admin.get("/audit").await.status, 403, "the sysadmin cannot read the audit log");

    let auditor = app.signed_in("audit1", Role::Auditor).await;
    assert_eq!(auditor.get("/admin/users").await.status, 403, "nor the auditor administer");
    let all = auditor.get("/audit").await;
    assert_eq!(all.status, 200);
    let creates = auditor.get("/audit?action=user.create").await;
    let actions = creates.texts("table.data tbody td code");
    assert!(actions.iter().any(|a| a == "user.create"), "{actions:?}");
    assert!(creates.body.contains("root1"));
    let failed_only = auditor.get("/audit?outcome=failed&actor=root1").await;
    assert!(failed_only.texts("table.data tbody tr").is_empty());
    let bad_dates = auditor.get("/audit?from=not-a-date&to=2026-13-45&page=-3").await;
    assert_eq!(bad_dates.status, 200, "bad filters are ignored, never a 500");
    let injection = auditor.get("/audit?action=%27%3B%20DROP%20TABLE%20users%3B--").await;
    assert_eq!(injection.status, 200);
    assert!(injection.texts("table.data tbody tr").is_empty());
}
