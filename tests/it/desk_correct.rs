//! 更正接谈记录 over HTTP (issue 16): the leader who recorded a reception reopens it the same day
//! and corrects it; the case it made stays; the audit log shows the version before and after; no
//! one else, and not the next day. And the record form shows an outcome's fields only when chosen.

use crate::desk::{batch, day, desk};
use crate::harness::TestApp;
use chrono::Duration;
use xiafang::web::auth::Role;

#[tokio::test]
async fn a_leader_corrects_the_days_reception_and_the_audit_shows_both_versions() {
    let app = TestApp::spawn().await;
    let (d, leader) = day(&app).await;
    let o = &d.fx.owner;
    let reg = batch(
        &d,
        "DESK7777",
        "赵六",
        "33072619900505789",
        d.room_a,
        1,
        "checked_in",
    )
    .await;
    let path = desk(&d, d.room_a);
    assert_eq!(leader.post(&format!("{path}/call"), &[]).await.status, 303);

    // A fresh form hides 交办's fields until 交办 is chosen; without JavaScript the server shows them.
    let page = leader.get(&path).await;
    assert!(
        page.body.contains(r#"data-when="assigned" hidden"#),
        "hidden at first"
    );
    let cat = d.fx.cat_build.to_string();
    let lead = d.lead_dept.to_string();
    let owner = d.leader_a.to_string();
    let chosen = [
        ("statement", "反映两件事"),
        ("i0_category", cat.as_str()),
        ("i0_summary", "道路破损"),
        ("i0_outcome", "assigned"),
        ("refresh", "1"),
    ];
    let r = leader.post(&format!("{path}/{reg}/record"), &chosen).await;
    assert_eq!(r.status, 200, "shown again, nothing saved: {}", r.body);
    assert_eq!(r.field_value("i0_summary"), "道路破损");
    let hidden = |block: usize| {
        r.texts(&format!("#issue-{block} [data-when=\"assigned\"][hidden]"))
            .len()
    };
    assert_eq!(
        (hidden(0), hidden(1)),
        (0, 1),
        "shown where 交办 is chosen only"
    );
    assert!(r.text("#issue-0").contains("承办单位"));
    assert_eq!(app.audit_count("desk.record").await, 0);

    let form = [
        ("statement", "原来的接谈情况"),
        ("i0_category", cat.as_str()),
        ("i0_summary", "路灯不亮"),
        ("i0_outcome", "explained"),
        ("i1_category", cat.as_str()),
        ("i1_summary", "道路破损"),
        ("i1_outcome", "assigned"),
        ("i1_lead", lead.as_str()),
        ("i1_owner", owner.as_str()),
        ("i1_deadline", "30"),
    ];
    let r = leader.post(&format!("{path}/{reg}/record"), &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (case_id, case_code): (i64, String) = sqlx::query_as("SELECT id, code FROM cases")
        .fetch_one(o)
        .await
        .unwrap();

    // The desk lists the received batch with 更正; the form starts from what was saved.
    let correct = format!("{path}/{reg}/correct");
    let page = leader.get(&path).await;
    assert!(
        page.body.contains(&format!(r#"href="{correct}""#)),
        "{}",
        page.text("#queue")
    );
    let form_page = leader.get(&correct).await;
    assert_eq!(form_page.status, 200, "{}", form_page.body);
    assert_eq!(form_page.field_value("statement"), "原来的接谈情况");
    assert_eq!(form_page.field_value("i0_summary"), "路灯不亮");
    assert_eq!(
        form_page.field_value("i1_summary"),
        "",
        "the 交办 issue is not editable"
    );
    assert!(form_page.text(".kept-issue").contains(&case_code));

    // Someone else — staff at the same desk — may not correct the leader's record.
    assert!(!d.staff.get(&path).await.body.contains(&correct));
    assert_eq!(d.staff.get(&correct).await.status, 409);
    let r = d.staff.post(&correct, &[("statement", "他人更正")]).await;
    assert_eq!(r.status, 409);

    // A correction with an empty statement is refused with the summary on top, nothing changed.
    let bad = [
        ("statement", ""),
        ("i0_category", cat.as_str()),
        ("i0_summary", "路灯不亮"),
        ("i0_outcome", "explained"),
    ];
    let r = leader.post(&correct, &bad).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.text("#error-summary a[href=\"#f-statement\"]"),
        "请填写接谈情况"
    );
    assert_eq!(app.audit_count("desk.correct").await, 0);

    let fixed = [
        ("statement", "更正后的接谈情况"),
        ("i0_category", cat.as_str()),
        ("i0_summary", "路灯不亮，已当场联系修复"),
        ("i0_outcome", "resolved_on_spot"),
    ];
    let r = leader.post(&correct, &fixed).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        leader
            .get(&path)
            .await
            .text(".flash")
            .contains("已更正 DESK7777")
    );
    let outcomes: Vec<(String, String)> =
        sqlx::query_as("SELECT summary, outcome FROM issues ORDER BY id")
            .fetch_all(o)
            .await
            .unwrap();
    assert_eq!(
        outcomes,
        [
            ("道路破损".into(), "assigned".into()),
            ("路灯不亮，已当场联系修复".into(), "resolved_on_spot".into())
        ]
    );
    let case_still: i64 = sqlx::query_scalar("SELECT count(*) FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_one(o)
        .await
        .unwrap();
    assert_eq!(case_still, 1, "the case made stays");
    assert_eq!(
        leader.get(&correct).await.field_value("statement"),
        "更正后的接谈情况"
    );
    // The replaced version is kept, sealed.
    let (version, cipher): (i32, Option<Vec<u8>>) =
        sqlx::query_as("SELECT version, statement_cipher FROM reception_versions")
            .fetch_one(o)
            .await
            .unwrap();
    assert_eq!(version, 1);
    assert!(cipher.is_some_and(|c| !String::from_utf8_lossy(&c).contains("原来")));

    let auditor = app.signed_in("audit1", Role::Auditor).await;
    let log = auditor.get("/audit?action=desk.correct").await;
    let detail = log.text("table.data tbody td.audit-detail");
    assert!(
        detail.contains("更正前：路灯不亮（解释说明）")
            && detail.contains(&format!("道路破损（交办 {case_code}）"))
            && detail.contains("更正后：")
            && detail.contains("路灯不亮，已当场联系修复（当场解决）")
            && detail.contains("接谈情况有改动：是"),
        "{detail}"
    );

    // The next day the record stands.
    app.clock.advance(Duration::days(1));
    assert_eq!(
        leader
            .login("lingdao_a", crate::harness::PASSWORD)
            .await
            .status,
        303
    );
    assert!(!leader.get(&path).await.body.contains(&correct));
    assert_eq!(leader.post(&correct, &fixed).await.status, 409);
    assert_eq!(app.audit_count("desk.correct").await, 1);
}
