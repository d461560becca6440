//! Stage 1 triage: the registrations list, detail actions, screening decisions, export; survey items.

use crate::fixtures::{Fx, Reg, fixture, id_number, register, visit, xlsx};
use crate::harness::TestApp;
use std::sync::{Arc, Mutex};
use xiafang::privacy;
use xiafang::web::auth::Role;

const ID_A: &str = "33072619800101123";
const ID_B: &str = "33072619751212456";
const ID_C: &str = "33072619900505789";

async fn flag(fx: &Fx, reg: i64, kind: &str, decision: &str) -> i64 {
    let decided_by = (decision != "pending").then_some(fx.staff_id);
    sqlx::query_scalar(
        "INSERT INTO screening_flags (registration_id, kind, decision, decided_by, decided_at, note)
         VALUES ($1, $2, $3, $4, CASE WHEN $3 = 'pending' THEN NULL ELSE now() END, CASE WHEN $3 = 'overridden' THEN '已核实' ELSE '' END) RETURNING id",
    )
    .bind(reg)
    .bind(kind)
    .bind(decision)
    .bind(decided_by)
    .fetch_one(&fx.owner)
    .await
    .unwrap()
}

/// Three registrations: A (仙华街道, 09:00, pending flag), B (黄宅镇, 10:00, 7 persons, 涉法涉诉),
/// C (仙华街道, 09:00, confirmed, decided flag).
async fn three(fx: &Fx) -> [i64; 3] {
    let a = register(
        fx,
        fx.visit,
        Reg {
            code: "AAAA2222",
            name: "张三",
            id: ID_A,
            phone: "13812345678",
            township: "仙华街道",
            persons: 1,
            category: fx.cat_build,
            window: fx.windows[0],
            status: "submitted",
        },
    )
    .await;
    let b = register(
        fx,
        fx.visit,
        Reg {
            code: "BBBB3333",
            name: "李四",
            id: ID_B,
            phone: "13900001111",
            township: "黄宅镇",
            persons: 7,
            category: fx.cat_law,
            window: fx.windows[1],
            status: "submitted",
        },
    )
    .await;
    let c = register(
        fx,
        fx.visit,
        Reg {
            code: "CCCC4444",
            name: "王五",
            id: ID_C,
            phone: "13711112222",
            township: "仙华街道",
            persons: 1,
            category: fx.cat_build,
            window: fx.windows[0],
            status: "confirmed",
        },
    )
    .await;
    flag(fx, a, "recent_or_open_case", "pending").await;
    flag(fx, b, "legal_channel", "pending").await;
    flag(fx, c, "duplicate_in_visit", "confirmed").await;
    sqlx::query("UPDATE screening_flags SET decision = 'confirmed', decided_by = $2, decided_at = now() WHERE registration_id = $1")
        .bind(b)
        .bind(fx.staff_id)
        .execute(&fx.owner)
        .await
        .unwrap();
    flag(fx, b, "duplicate_in_visit", "pending").await;
    [a, b, c]
}

fn codes(r: &crate::harness::Resp) -> Vec<String> {
    r.texts("table.registrations tbody td a code")
}

async fn booked(fx: &Fx, window: i64) -> i32 {
    sqlx::query_scalar("SELECT booked_slots FROM reception_windows WHERE id = $1")
        .bind(window)
        .fetch_one(&fx.owner)
        .await
        .unwrap()
}

async fn status_of(fx: &Fx, reg: i64) -> String {
    sqlx::query_scalar("SELECT status FROM registrations WHERE id = $1")
        .bind(reg)
        .fetch_one(&fx.owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_list_filters_counts_and_shows_only_masks() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let [_, b, _] = three(&fx).await;
    let base = format!("/staff/visits/{}/registrations", fx.visit);

    let all = staff.get(&base).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(codes(&all), ["AAAA2222", "BBBB3333", "CCCC4444"]);
    assert_eq!(all.texts(".stat strong"), ["3", "9"], "batches and persons");
    assert_eq!(
        all.texts(".status-counts a"),
        ["待审核 2", "已确认 1"],
        "counts by status, of the same list"
    );
    assert!(all.body.contains("330***********"), "masked IDs");
    assert!(all.body.contains("138****5678"));
    for id in [ID_A, ID_B, ID_C] {
        assert!(
            !all.body.contains(&id[..14]),
            "no clear ID (nor birth date) in the list"
        );
    }
    assert!(!all.body.contains("13812345678"));

    let town = staff
        .get(&format!(
            "{base}?township=%E4%BB%99%E5%8D%8E%E8%A1%97%E9%81%93"
        ))
        .await;
    assert_eq!(codes(&town), ["AAAA2222", "CCCC4444"]);
    assert_eq!(town.texts(".stat strong"), ["2", "2"]);
    assert_eq!(town.texts(".status-counts a"), ["待审核 1", "已确认 1"]);
    assert_eq!(
        codes(&staff.get(&format!("{base}?flags=pending")).await),
        ["AAAA2222", "BBBB3333"]
    );
    assert_eq!(
        codes(
            &staff
                .get(&format!("{base}?flags=any&status=confirmed"))
                .await
        ),
        ["CCCC4444"]
    );
    assert_eq!(
        codes(&staff.get(&format!("{base}?window={}", fx.windows[1])).await),
        ["BBBB3333"]
    );
    assert_eq!(
        codes(&staff.get(&format!("{base}?category={}", fx.cat_law)).await),
        ["BBBB3333"]
    );
    let parent: i64 = sqlx::query_scalar("SELECT parent_id FROM categories WHERE id = $1")
        .bind(fx.cat_law)
        .fetch_one(&fx.owner)
        .await
        .unwrap();
    assert!(
        codes(&staff.get(&format!("{base}?category={parent}")).await)
            .contains(&"BBBB3333".to_owned()),
        "a top-level class covers its children"
    );

    // Bad values are ignored, never a 500; SQL metacharacters are just text.
    let bad = staff
        .get(&format!(
            "{base}?window=abc&category=1%20OR%201%3D1&status=x&flags=%27&page=-5"
        ))
        .await;
    assert_eq!(bad.status, 200);
    assert_eq!(codes(&bad).len(), 3);
    let injection = staff
        .get(&format!(
            "{base}?township=%27%3B%20DROP%20TABLE%20registrations%3B--"
        ))
        .await;
    assert_eq!(injection.status, 200);
    assert!(codes(&injection).is_empty());
    assert_eq!(injection.texts(".stat strong"), ["0", "0"]);
    let still: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&fx.owner)
        .await
        .unwrap();
    assert_eq!(still, 3);
    let or_true = staff
        .get(&format!("{base}?township=%27%20OR%20%271%27%3D%271"))
        .await;
    assert!(codes(&or_true).is_empty());

    // Pagination: 50 a page.
    sqlx::query("UPDATE reception_windows SET capacity_slots = 200")
        .execute(&fx.owner)
        .await
        .unwrap();
    for i in 0..50 {
        let code = format!(
            "PAGE{}",
            [
                "2222", "3333", "4444", "5555", "6666", "7777", "8888", "9999", "AAAA", "BBBB"
            ][i % 10]
        ) + ["A", "B", "C", "D", "E"][i / 10];
        register(
            &fx,
            fx.visit,
            Reg {
                code: &code,
                name: "赵六",
                id: ID_A,
                phone: "13812345678",
                township: "郑宅镇",
                persons: 1,
                category: fx.cat_build,
                window: fx.windows[0],
                status: "submitted",
            },
        )
        .await;
    }
    let first = staff.get(&base).await;
    assert_eq!(codes(&first).len(), 50);
    assert_eq!(first.texts(".pager a"), ["下一页"]);
    let second = staff.get(&format!("{base}?page=1")).await;
    assert_eq!(codes(&second).len(), 3);

    // The detail shows masks and the flags with their decisions.
    let detail = staff.get(&format!("{base}/{b}")).await;
    assert_eq!(detail.status, 200);
    assert_eq!(
        detail.text("#id-mask"),
        privacy::mask_id_number(&id_number(ID_B))
    );
    assert!(
        detail
            .texts("li.flag strong")
            .contains(&"涉法涉诉，建议导入法定途径".to_owned())
    );
    assert!(
        detail
            .texts("li.flag .badge")
            .contains(&"已确认".to_owned())
    );
    assert!(!detail.body.contains(&id_number(ID_B)));
}

#[tokio::test]
async fn unmasking_is_a_separate_audited_post_shown_once() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let [a, ..] = three(&fx).await;
    let url = format!("/staff/visits/{}/registrations/{a}", fx.visit);
    let clear = id_number(ID_A);

    let shown = staff
        .post(&format!("{url}/unmask"), &[("field", "id_number")])
        .await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.text("#unmasked-value"), clear);
    assert_eq!(shown.headers["cache-control"], "no-store");
    assert_eq!(app.audit_count("personal_data.unmask").await, 1);
    let detail: serde_json::Value =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'personal_data.unmask'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(detail["field"], "id_number");
    assert!(
        !detail.to_string().contains(&clear),
        "the audit row names the field, not the value"
    );

    let again = staff.get(&url).await;
    assert!(
        !again.body.contains(&clear),
        "shown once: the next page is masked again"
    );
    let phone = staff
        .post(&format!("{url}/unmask"), &[("field", "phone")])
        .await;
    assert_eq!(phone.text("#unmasked-value"), "13812345678");
    assert_eq!(
        staff
            .post(&format!("{url}/unmask"), &[("field", "address")])
            .await
            .status,
        400
    );
    assert_eq!(app.audit_count("personal_data.unmask").await, 2);

    let supervisor = app.signed_in("ducha", Role::Supervisor).await;
    assert_eq!(
        supervisor
            .post(&format!("{url}/unmask"), &[("field", "id_number")])
            .await
            .text("#unmasked-value"),
        clear
    );
    let handler = app.signed_in("jingban", Role::Handler).await;
    assert_eq!(
        handler
            .post(&format!("{url}/unmask"), &[("field", "id_number")])
            .await
            .status,
        403
    );
    assert_eq!(handler.get(&url).await.status, 403);
    let leader = app.signed_in("lingdao", Role::Leader).await;
    assert_eq!(
        leader
            .get(&format!("/staff/visits/{}/registrations", fx.visit))
            .await
            .status,
        403
    );
    assert_eq!(app.audit_count("personal_data.unmask").await, 3);
}

#[tokio::test]
async fn confirm_and_reject_release_slots_and_are_audited() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let [a, b, c] = three(&fx).await;
    let url = |r: i64| format!("/staff/visits/{}/registrations/{r}", fx.visit);
    assert_eq!(
        (
            booked(&fx, fx.windows[0]).await,
            booked(&fx, fx.windows[1]).await
        ),
        (2, 2)
    );

    let ok = staff.post(&format!("{}/confirm", url(a)), &[]).await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.location(), url(a));
    assert_eq!(status_of(&fx, a).await, "confirmed");
    assert_eq!(
        booked(&fx, fx.windows[0]).await,
        2,
        "confirming keeps the slot"
    );
    assert_eq!(
        staff.post(&format!("{}/confirm", url(a)), &[]).await.status,
        409,
        "only a submitted registration is confirmed"
    );
    assert_eq!(staff.get(&url(a)).await.text("#status"), "已确认");

    let no_reason = staff
        .post(&format!("{}/reject", url(b)), &[("reason", "  ")])
        .await;
    assert_eq!(no_reason.status, 422);
    assert_eq!(no_reason.field_error("reason"), "请填写驳回理由");
    assert_eq!(status_of(&fx, b).await, "submitted");
    let rejected = staff
        .post(
            &format!("{}/reject", url(b)),
            &[("reason", "已进入诉讼程序，请依法通过诉讼途径解决")],
        )
        .await;
    assert_eq!(rejected.status, 303);
    assert_eq!(status_of(&fx, b).await, "rejected");
    assert_eq!(
        booked(&fx, fx.windows[1]).await,
        0,
        "a batch of 7 gave back its 2 slots"
    );
    let reason: String =
        sqlx::query_scalar("SELECT reject_reason FROM registrations WHERE id = $1")
            .bind(b)
            .fetch_one(&fx.owner)
            .await
            .unwrap();
    assert_eq!(reason, "已进入诉讼程序，请依法通过诉讼途径解决");
    assert_eq!(
        staff
            .post(&format!("{}/reject", url(b)), &[("reason", "再次")])
            .await
            .status,
        409
    );
    assert_eq!(booked(&fx, fx.windows[1]).await, 0, "never released twice");
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE registration_id = $1 AND kind = 'registration.rejected'")
        .bind(b)
        .fetch_one(&fx.owner)
        .await
        .unwrap();
    assert_eq!(queued, 1, "the citizen is told");

    // A confirmed registration may still be rejected.
    assert_eq!(
        staff
            .post(&format!("{}/reject", url(c)), &[("reason", "重复反映")])
            .await
            .status,
        303
    );
    assert_eq!(booked(&fx, fx.windows[0]).await, 1);
    assert_eq!(app.audit_count("registration.confirm").await, 1);
    assert_eq!(app.audit_count("registration.reject").await, 2);

    // Category edit, audited; a bad value is a field error.
    let bad = staff
        .post(&format!("{}/category", url(a)), &[("category_id", "abc")])
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.field_error("category_id"), "请选择问题类别");
    assert_eq!(
        staff
            .post(
                &format!("{}/category", url(a)),
                &[("category_id", &fx.cat_law.to_string())]
            )
            .await
            .status,
        303
    );
    let label: String = sqlx::query_scalar("SELECT p.name || ' / ' || c.name FROM categories c JOIN categories p ON p.id = c.parent_id WHERE c.id = $1")
        .bind(fx.cat_law)
        .fetch_one(&fx.owner)
        .await
        .unwrap();
    assert_eq!(staff.get(&url(a)).await.text("#category"), label);
    assert_eq!(app.audit_count("registration.category_change").await, 1);
}

#[tokio::test]
async fn a_duplicate_is_merged_into_another_registration() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let [a, ..] = three(&fx).await;
    let dup = register(
        &fx,
        fx.visit,
        Reg {
            code: "DDDD5555",
            name: "张三",
            id: ID_A,
            phone: "13812345678",
            township: "仙华街道",
            persons: 1,
            category: fx.cat_build,
            window: fx.windows[1],
            status: "submitted",
        },
    )
    .await;
    let url = format!("/staff/visits/{}/registrations/{dup}", fx.visit);
    let page = staff.get(&url).await;
    assert!(
        page.texts("a code").contains(&"AAAA2222".to_owned()),
        "the same ID in this visit is offered"
    );
    assert_eq!(booked(&fx, fx.windows[1]).await, 3);

    let unknown = staff
        .post(&format!("{url}/merge"), &[("into", "ZZZZ9999")])
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.field_error("into"), "本次活动中没有这个登记编号");
    assert_eq!(unknown.field_value("into"), "ZZZZ9999");
    assert_eq!(
        staff
            .post(&format!("{url}/merge"), &[("into", "dddd5555")])
            .await
            .field_error("into"),
        "不能合并到自身"
    );

    let merged = staff
        .post(&format!("{url}/merge"), &[("into", "aaaa2222")])
        .await;
    assert_eq!(merged.status, 303);
    assert_eq!(
        merged.location(),
        format!("/staff/visits/{}/registrations/{a}", fx.visit)
    );
    let (status, into): (String, Option<i64>) =
        sqlx::query_as("SELECT status, merged_into_id FROM registrations WHERE id = $1")
            .bind(dup)
            .fetch_one(&fx.owner)
            .await
            .unwrap();
    assert_eq!((status.as_str(), into), ("cancelled", Some(a)));
    assert_eq!(booked(&fx, fx.windows[1]).await, 2, "its slot is released");
    assert_eq!(app.audit_count("registration.merge").await, 1);
    let target = staff.get(merged.location()).await;
    assert!(
        target.texts("dd a code").contains(&"DDDD5555".to_owned()),
        "the target lists what was merged into it"
    );
    assert_eq!(
        staff
            .post(&format!("{url}/merge"), &[("into", "AAAA2222")])
            .await
            .status,
        409,
        "merged once"
    );
}

#[tokio::test]
async fn each_flag_is_confirmed_or_overridden_with_a_note() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let [_, b, _] = three(&fx).await;
    let flags: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM screening_flags WHERE registration_id = $1 ORDER BY id")
            .bind(b)
            .fetch_all(&fx.owner)
            .await
            .unwrap();
    let url = format!("/staff/visits/{}/registrations/{b}", fx.visit);

    let no_note = staff
        .post(
            &format!("{url}/flags/{}", flags[1]),
            &[("decision", "overridden"), ("note", " ")],
        )
        .await;
    assert_eq!(no_note.status, 422);
    assert_eq!(
        no_note.field_error(&format!("note-{}", flags[1])),
        "排除须填写理由"
    );
    assert_eq!(
        no_note.field_error(&format!("note-{}", flags[0])),
        "",
        "the error sits next to its own flag"
    );
    let bogus = staff
        .post(
            &format!("{url}/flags/{}", flags[1]),
            &[("decision", "maybe"), ("note", "嗯")],
        )
        .await;
    assert_eq!(
        bogus.field_error(&format!("note-{}", flags[1])),
        "请选择确认或排除"
    );
    assert_eq!(
        bogus.field_value("note"),
        "",
        "only the failing flag keeps the typed note"
    );

    let over = staff
        .post(
            &format!("{url}/flags/{}", flags[1]),
            &[("decision", "overridden"), ("note", "同一批次补录，非重复")],
        )
        .await;
    assert_eq!(over.status, 303);
    let conf = staff
        .post(
            &format!("{url}/flags/{}", flags[0]),
            &[("decision", "confirmed")],
        )
        .await;
    assert_eq!(conf.status, 303);
    let rows: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT decision, note, decided_by FROM screening_flags WHERE registration_id = $1 ORDER BY id").bind(b).fetch_all(&fx.owner).await.unwrap();
    assert_eq!(rows[0].0, "confirmed");
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1.as_str(), rows[1].2),
        ("overridden", "同一批次补录，非重复", Some(fx.staff_id))
    );
    assert_eq!(app.audit_count("screening.decide").await, 2);
    let page = staff.get(&url).await;
    assert!(page.texts("li.flag .badge").contains(&"已排除".to_owned()));

    // A flag of another registration through this one's URL is unknown.
    let other: i64 =
        sqlx::query_scalar("SELECT id FROM screening_flags WHERE registration_id <> $1 LIMIT 1")
            .bind(b)
            .fetch_one(&fx.owner)
            .await
            .unwrap();
    assert_eq!(
        staff
            .post(
                &format!("{url}/flags/{other}"),
                &[("decision", "confirmed")]
            )
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_export_is_masked_unless_asked_and_always_audited() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    three(&fx).await;
    let path = format!("/staff/visits/{}/registrations.xlsx", fx.visit);

    let (status, rows) = xlsx(&app, &staff, &path, "来访登记").await;
    assert_eq!(status, 200);
    assert_eq!(
        rows[0],
        [
            "登记编号",
            "姓名",
            "身份证号",
            "手机号码",
            "所属乡镇",
            "来访人数",
            "问题类别",
            "接访时段",
            "状态",
            "筛查提示"
        ]
    );
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[1][0], "AAAA2222");
    assert_eq!(rows[1][2], privacy::mask_id_number(&id_number(ID_A)));
    assert_eq!(rows[1][3], "138****5678");
    assert_eq!(rows[2][5], "7");
    assert_eq!(rows[2][7], "10:00—11:00");
    assert!(rows[2][9].contains("涉法涉诉"), "{}", rows[2][9]);
    for row in &rows[1..] {
        assert!(row[2].contains("***********"), "masked: {}", row[2]);
    }
    let flat = rows.concat().join("|");
    for id in [ID_A, ID_B, ID_C] {
        assert!(!flat.contains(&id[..14]));
    }
    assert_eq!(app.audit_count("registration.export").await, 1);
    assert_eq!(app.audit_count("personal_data.export").await, 0);

    let (_, town) = xlsx(
        &app,
        &staff,
        &format!("{path}?township=%E9%BB%84%E5%AE%85%E9%95%87"),
        "来访登记",
    )
    .await;
    assert_eq!(town.len(), 2, "the current filters apply");
    assert_eq!(town[1][0], "BBBB3333");

    let (status, full) = xlsx(
        &app,
        &staff,
        &format!("{path}?full=1&status=submitted&reason=%E6%A0%B8%E5%AF%B9"),
        "来访登记",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(full.len(), 3);
    assert_eq!(full[1][2], id_number(ID_A));
    assert_eq!(full[1][3], "13812345678");
    let detail: serde_json::Value =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'personal_data.export'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(detail["count"], 2);
    assert_eq!(
        detail["reason"], "核对",
        "the full export's reason is audited"
    );

    let supervisor = app.signed_in("ducha", Role::Supervisor).await;
    assert_eq!(xlsx(&app, &supervisor, &path, "来访登记").await.0, 200);
    let handler = app.signed_in("jingban", Role::Handler).await;
    assert_eq!(xlsx(&app, &handler, &path, "来访登记").await.0, 403);
    assert_eq!(app.audit_count("registration.export").await, 3);
}

#[tokio::test]
async fn a_supervisor_reads_but_cannot_change_and_other_visits_are_404() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let [a, ..] = three(&fx).await;
    let supervisor = app.signed_in("ducha", Role::Supervisor).await;
    let url = format!("/staff/visits/{}/registrations/{a}", fx.visit);
    let flag: i64 = sqlx::query_scalar("SELECT id FROM screening_flags WHERE registration_id = $1")
        .bind(a)
        .fetch_one(&fx.owner)
        .await
        .unwrap();

    assert_eq!(
        supervisor
            .get(&format!("/staff/visits/{}/registrations", fx.visit))
            .await
            .status,
        200
    );
    let page = supervisor.get(&url).await;
    assert_eq!(page.status, 200);
    assert!(
        page.texts("button")
            .iter()
            .all(|b| b != "确认登记" && b != "驳回"),
        "no actions offered"
    );
    assert_eq!(
        supervisor
            .get(&format!("/staff/visits/{}/survey", fx.visit))
            .await
            .status,
        200
    );
    for (action, form) in [
        ("confirm", vec![]),
        ("reject", vec![("reason", "x")]),
        ("merge", vec![("into", "CCCC4444")]),
        ("category", vec![("category_id", "1")]),
    ] {
        assert_eq!(
            supervisor
                .post(&format!("{url}/{action}"), &form)
                .await
                .status,
            403,
            "{action}"
        );
    }
    assert_eq!(
        supervisor
            .post(&format!("{url}/flags/{flag}"), &[("decision", "confirmed")])
            .await
            .status,
        403
    );
    assert_eq!(
        supervisor
            .post(
                &format!("/staff/visits/{}/survey", fx.visit),
                &[("township", "x")]
            )
            .await
            .status,
        403
    );
    assert_eq!(status_of(&fx, a).await, "submitted");

    // Another visit's registration through this visit's URLs, and unknown ids: 404.
    let (other_visit, other_windows) = visit(&fx.owner, fx.staff_id, "另一次下访").await;
    let other = register(
        &fx,
        other_visit,
        Reg {
            code: "EEEE6666",
            name: "钱七",
            id: ID_B,
            phone: "13900001111",
            township: "黄宅镇",
            persons: 1,
            category: fx.cat_build,
            window: other_windows[0],
            status: "submitted",
        },
    )
    .await;
    let wrong = format!("/staff/visits/{}/registrations/{other}", fx.visit);
    assert_eq!(staff.get(&wrong).await.status, 404);
    assert_eq!(
        staff.post(&format!("{wrong}/confirm"), &[]).await.status,
        404
    );
    assert_eq!(
        staff
            .post(&format!("{wrong}/reject"), &[("reason", "x")])
            .await
            .status,
        404
    );
    assert_eq!(
        staff
            .post(&format!("{wrong}/unmask"), &[("field", "id_number")])
            .await
            .status,
        404
    );
    assert_eq!(status_of(&fx, other).await, "submitted");
    assert_eq!(
        staff.get("/staff/visits/999999/registrations").await.status,
        404
    );
    assert_eq!(
        staff
            .get(&format!("/staff/visits/{other_visit}/registrations/{a}"))
            .await
            .status,
        404
    );
    // Merging into another visit's registration is refused too.
    assert_eq!(
        staff
            .post(&format!("{url}/merge"), &[("into", "EEEE6666")])
            .await
            .field_error("into"),
        "本次活动中没有这个登记编号"
    );
    assert_eq!(app.audit_count("personal_data.unmask").await, 0);
}

/// A log sink for this test's thread (the app runs on the test's single-threaded runtime).
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs are process-wide: this test runs the flow again in a child process of this test binary,
/// alone there, with a global subscriber writing every log line (TRACE) to a buffer.
#[tokio::test]
async fn the_clear_id_number_is_in_no_page_export_or_log_line_of_the_normal_flow() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "triage::normal_flow_in_a_child_process",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("XF_TRIAGE_LOG_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
#[ignore = "run by the_clear_id_number_is_in_no_page_export_or_log_line_of_the_normal_flow in its own process"]
async fn normal_flow_in_a_child_process() {
    if std::env::var_os("XF_TRIAGE_LOG_CHILD").is_none() {
        return;
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let [a, b, _] = three(&fx).await;
    let base = format!("/staff/visits/{}/registrations", fx.visit);
    let mut seen = String::new();
    for path in [
        base.clone(),
        format!("{base}?flags=pending"),
        format!("{base}/{a}"),
        format!("{base}/{b}"),
        format!("/staff/visits/{}/survey", fx.visit),
    ] {
        seen.push_str(&staff.get(&path).await.body);
    }
    staff.post(&format!("{base}/{a}/confirm"), &[]).await;
    staff
        .post(&format!("{base}/{b}/reject"), &[("reason", "导入法定途径")])
        .await;
    seen.push_str(&staff.get(&format!("{base}/{b}")).await.body);
    let (_, rows) = xlsx(&app, &staff, &format!("{base}.xlsx"), "来访登记").await;
    seen.push_str(&rows.concat().join("|"));
    let audit: Vec<String> = sqlx::query_scalar("SELECT detail::text FROM audit_log")
        .fetch_all(&fx.owner)
        .await
        .unwrap();
    seen.push_str(&audit.join("|"));

    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("/staff/visits/"), "the log was captured");
    for id in [ID_A, ID_B, ID_C] {
        let clear = id_number(id);
        assert!(
            !seen.contains(&clear) && !seen.contains(&id[6..14]),
            "pages, export and audit hold no clear ID"
        );
        assert!(!logs.contains(&clear), "no log line holds the clear ID");
    }
    assert!(!logs.contains("13812345678") && !seen.contains("13812345678"));
}

#[tokio::test]
async fn survey_items_are_created_edited_and_linked() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let [a, b, _] = three(&fx).await;
    let base = format!("/staff/visits/{}/survey", fx.visit);
    let cat = fx.cat_build.to_string();

    let empty = staff
        .post(
            &base,
            &[
                ("township", " "),
                ("village", "东门村"),
                ("summary", ""),
                ("category_id", "x"),
            ],
        )
        .await;
    assert_eq!(empty.status, 422);
    assert_eq!(empty.field_error("township"), "请填写所属乡镇");
    assert_eq!(empty.field_error("summary"), "请填写问题摘要");
    assert_eq!(empty.field_error("category_id"), "请选择问题类别");
    assert_eq!(empty.field_value("village"), "东门村", "typed values kept");

    let form = [
        ("township", "仙华街道"),
        ("village", "东门村"),
        ("reporter", "村民代表 周某"),
        ("category_id", cat.as_str()),
        ("summary", "村道年久失修，雨天积水"),
        ("background", "2019 年修建，多次反映"),
        ("policy_basis", "《农村公路条例》"),
        ("proposed_handling", "交通运输局牵头，年内完成修复"),
        ("brought_by_leader", "1"),
    ];
    let created = staff.post(&base, &form).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let item: i64 = sqlx::query_scalar("SELECT id FROM survey_items")
        .fetch_one(&fx.owner)
        .await
        .unwrap();
    assert_eq!(created.location(), format!("{base}/{item}"));
    staff
        .post(
            &base,
            &[
                ("township", "仙华街道"),
                ("village", "西门村"),
                ("category_id", cat.as_str()),
                ("summary", "路灯不亮"),
            ],
        )
        .await;
    staff
        .post(
            &base,
            &[
                ("township", "黄宅镇"),
                ("category_id", cat.as_str()),
                ("summary", "征地补偿"),
            ],
        )
        .await;

    let list = staff.get(&base).await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.texts("h3.survey-township"),
        ["仙华街道 （2 件）", "黄宅镇 （1 件）"]
    );
    assert_eq!(list.texts(".stat strong"), ["3", "2", "1", "0"]);
    assert!(
        list.texts("td .badge-info")
            .contains(&"带案下访".to_owned())
    );

    let long = "长".repeat(501);
    let mut bad = form.to_vec();
    bad[4] = ("summary", long.as_str());
    let refused = staff.post(&format!("{base}/{item}"), &bad).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.field_error("summary"), "问题摘要不能超过 500 个字");
    assert_eq!(refused.field_value("summary"), long);
    let mut edit = form.to_vec();
    edit[7] = ("proposed_handling", "交通运输局牵头，三个月内修复");
    edit.pop(); // no longer brought by the leader
    assert_eq!(
        staff.post(&format!("{base}/{item}"), &edit).await.status,
        303
    );
    let (clear, cipher, key_id, brought): (String, Vec<u8>, i16, bool) = sqlx::query_as(
        "SELECT proposed_handling, proposed_handling_cipher, proposed_handling_key_id, brought_by_leader
         FROM survey_items WHERE id = $1",
    )
    .bind(item)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    assert_eq!(clear, "", "the dossier is stored sealed only");
    let column = xiafang::crypto::Column::SURVEY_PROPOSED_HANDLING;
    let handling = crate::harness::test_keys()
        .decrypt(column, item, key_id, &cipher)
        .unwrap();
    assert_eq!(
        (handling.as_str(), brought),
        ("交通运输局牵头，三个月内修复", false)
    );

    // Link to a registration of this visit, by its code.
    let unknown = staff
        .post(&format!("{base}/{item}/link"), &[("code", "ZZZZ9999")])
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.field_error("code"), "本次活动中没有这个登记编号");
    assert_eq!(unknown.field_value("code"), "ZZZZ9999");
    assert_eq!(
        staff
            .post(&format!("{base}/{item}/link"), &[("code", "aaaa2222")])
            .await
            .status,
        303
    );
    let linked: Option<i64> =
        sqlx::query_scalar("SELECT survey_item_id FROM registrations WHERE id = $1")
            .bind(a)
            .fetch_one(&fx.owner)
            .await
            .unwrap();
    assert_eq!(linked, Some(item));
    assert_eq!(
        staff
            .get(&format!("{base}/{item}"))
            .await
            .text("#linked-code"),
        "AAAA2222"
    );
    let twice = staff
        .post(&format!("{base}/{item}/link"), &[("code", "BBBB3333")])
        .await;
    assert_eq!(
        twice.field_error("code"),
        "本事项已关联登记 AAAA2222，请先取消关联"
    );
    let second: i64 = sqlx::query_scalar("SELECT id FROM survey_items WHERE summary = '路灯不亮'")
        .fetch_one(&fx.owner)
        .await
        .unwrap();
    let taken = staff
        .post(&format!("{base}/{second}/link"), &[("code", "AAAA2222")])
        .await;
    assert_eq!(taken.field_error("code"), "该登记已关联其他访前调查事项");
    assert_eq!(
        staff
            .post(&format!("{base}/{second}/link"), &[("code", "BBBB3333")])
            .await
            .status,
        303
    );
    let b_link: Option<i64> =
        sqlx::query_scalar("SELECT survey_item_id FROM registrations WHERE id = $1")
            .bind(b)
            .fetch_one(&fx.owner)
            .await
            .unwrap();
    assert_eq!(b_link, Some(second));
    assert_eq!(
        staff
            .post(&format!("{base}/{second}/unlink"), &[])
            .await
            .status,
        303
    );
    assert_eq!(
        staff
            .get(&format!("/staff/visits/{}/registrations/{a}", fx.visit))
            .await
            .texts("dd a")
            .last()
            .map(String::as_str),
        Some("村道年久失修，雨天积水")
    );

    assert_eq!(app.audit_count("survey.create").await, 3);
    assert_eq!(app.audit_count("survey.update").await, 1);
    assert_eq!(app.audit_count("survey.link").await, 2);
    assert_eq!(app.audit_count("survey.unlink").await, 1);

    // Another visit's item is unknown here.
    let (other_visit, _) = visit(&fx.owner, fx.staff_id, "另一次下访").await;
    assert_eq!(
        staff
            .get(&format!("/staff/visits/{other_visit}/survey/{item}"))
            .await
            .status,
        404
    );
    assert_eq!(
        staff
            .post(
                &format!("/staff/visits/{other_visit}/survey/{item}/link"),
                &[("code", "CCCC4444")]
            )
            .await
            .status,
        404
    );
    assert_eq!(staff.get("/staff/visits/999999/survey").await.status, 404);
    let handler = app.signed_in("jingban", Role::Handler).await;
    assert_eq!(handler.get(&base).await.status, 403);
}

#[tokio::test]
async fn a_rejection_in_a_full_window_promotes_the_first_waiting_registration() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let [_, b, _] = three(&fx).await;
    // The 10:00 window holds only B's batch of 7 (2 slots): full. D waits for it.
    sqlx::query("UPDATE reception_windows SET capacity_slots = 3 WHERE id = $1")
        .bind(fx.windows[1])
        .execute(&fx.owner)
        .await
        .unwrap();
    let d = register(
        &fx,
        fx.visit,
        Reg {
            code: "DDDD5555",
            name: "赵六",
            id: "33010219900307123",
            phone: "13622223333",
            township: "黄宅镇",
            persons: 1,
            category: fx.cat_build,
            window: fx.windows[1],
            status: "waitlisted",
        },
    )
    .await;
    // The fixture books a slot for every row: a waiting registration holds none.
    sqlx::query("UPDATE reception_windows SET booked_slots = booked_slots - 1, capacity_slots = 2 WHERE id = $1").bind(fx.windows[1]).execute(&fx.owner).await.unwrap();
    sqlx::query("INSERT INTO waitlist (registration_id, window_id) VALUES ($1, $2)")
        .bind(d)
        .bind(fx.windows[1])
        .execute(&fx.owner)
        .await
        .unwrap();
    assert_eq!(booked(&fx, fx.windows[1]).await, 2);

    let rejected = staff
        .post(
            &format!("/staff/visits/{}/registrations/{b}/reject", fx.visit),
            &[("reason", "已进入诉讼程序")],
        )
        .await;
    assert_eq!(rejected.status, 303);
    assert_eq!(
        status_of(&fx, d).await,
        "submitted",
        "the waiting registration moves up"
    );
    assert_eq!(
        booked(&fx, fx.windows[1]).await,
        1,
        "and holds the freed place"
    );
    let told: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE registration_id = $1 AND kind = 'registration.promoted'")
        .bind(d)
        .fetch_one(&fx.owner)
        .await
        .unwrap();
    assert_eq!(told, 1);
}

/// Triage at county scale: one search box finds a registration by code, phone or ID number;
/// 确认全部 takes the list's submitted registrations without a pending flag and names the ones it
/// leaves; ticked ones are rejected with one reason after a confirmation step; the detail page
/// walks the filtered list and its 确认 goes on to the next one.
#[tokio::test]
async fn staff_triage_many_at_once_and_walk_the_filtered_list() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let [a, b, c] = three(&fx).await;
    let mut more = Vec::new();
    for (code, id, phone) in [
        ("DDDD2345", "33072619850303111", "13600000001"),
        ("EEEE2345", "33072619850303222", "13600000002"),
        ("FFFF2345", "33072619850303333", "13600000003"),
    ] {
        let reg = Reg {
            code,
            name: "赵六",
            id,
            phone,
            township: "黄宅镇",
            persons: 1,
            category: fx.cat_build,
            window: fx.windows[1],
            status: "submitted",
        };
        more.push(register(&fx, fx.visit, reg).await);
    }
    let base = format!("/staff/visits/{}/registrations", fx.visit);
    let find = |q: &str| {
        format!(
            "{base}?{}",
            serde_urlencoded::to_string([("q", q)]).unwrap()
        )
    };
    assert_eq!(codes(&staff.get(&find("eeee 2345")).await), ["EEEE2345"]);
    assert_eq!(
        codes(&staff.get(&find("136-0000-0003")).await),
        ["FFFF2345"]
    );
    let by_id = id_number("33072619850303111");
    assert_eq!(codes(&staff.get(&find(&by_id)).await), ["DDDD2345"]);
    assert_eq!(codes(&staff.get(&find("赵六")).await).len(), 3);

    // The detail page, opened from the submitted ones of 黄宅镇, walks that list.
    let filter =
        serde_urlencoded::to_string([("status", "submitted"), ("township", "黄宅镇")]).unwrap();
    let first = staff.get(&format!("{base}/{b}?{filter}")).await;
    assert_eq!(
        first.text(".triage-nav a[href*='/registrations?']"),
        "筛选结果第 1 / 4 件"
    );
    assert!(first.texts(".triage-nav a[rel=prev]").is_empty());
    // 确认 (its flag is only a hint here) goes on to the next one, the filter kept.
    let r = staff
        .post(
            &format!("{base}/{b}/confirm"),
            &[("after", &more[0].to_string()), ("filter", &filter)],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.location(),
        format!(
            "{base}/{}?{}",
            more[0],
            "window=&category=&status=submitted&flags=&township=%E9%BB%84%E5%AE%85%E9%95%87&q="
        )
    );
    let next = staff.get(r.location()).await;
    assert_eq!(next.text(".flash"), "已确认该登记。");
    assert_eq!(
        next.text(".triage-nav a[href*='/registrations?']"),
        "筛选结果第 1 / 3 件"
    );

    // 确认全部 of the whole visit's submitted: D, E, F, not A (pending flag), named.
    let list = staff.get(&format!("{base}?status=submitted")).await;
    assert!(
        list.text("#confirm-all button").contains("（3 件）"),
        "{}",
        list.text("#confirm-all")
    );
    let r = staff
        .post(
            &format!("{base}/bulk"),
            &[("action", "confirm_all"), ("filter", "status=submitted")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let after = staff.get(r.location()).await;
    assert_eq!(after.text(".flash"), "已确认 3 件登记。");
    for id in &more {
        assert_eq!(status_of(&fx, *id).await, "confirmed");
    }
    assert_eq!(status_of(&fx, a).await, "submitted");
    assert!(
        after
            .text("#confirm-all")
            .contains("1 件有待处理的筛查提示")
    );
    // Ticked ones, named when left out: A has a pending flag, C is confirmed already.
    let r = staff
        .post(
            &format!("{base}/bulk"),
            &[
                ("action", "confirm"),
                ("reg", &a.to_string()),
                ("reg", &c.to_string()),
            ],
        )
        .await;
    let after = staff.get(r.location()).await;
    assert_eq!(
        after.text(".flash"),
        "已确认 0 件登记。2 件未确认：AAAA2222（有待处理的筛查提示）、CCCC4444（当前为“已确认”）。"
    );

    // 驳回 of two ticked: a reason is needed, then a confirmation step, then both are rejected.
    let ticked = [
        ("action", "reject"),
        ("reg", &more[1].to_string()),
        ("reg", &more[2].to_string()),
    ];
    let r = staff.post(&format!("{base}/bulk"), &ticked).await;
    assert_eq!(r.status, 422);
    assert!(
        r.text("#e-reject_reason").contains("驳回理由"),
        "{}",
        r.text("#e-reject_reason")
    );
    assert_eq!(
        r.texts("input[name=reg][checked]").len(),
        2,
        "the ticks are kept"
    );
    let mut with_reason = ticked.to_vec();
    with_reason.push(("reject_reason", "不属于本次接访范围"));
    let step = staff.post(&format!("{base}/bulk"), &with_reason).await;
    assert_eq!(step.status, 200);
    assert!(step.text("h2").contains("确认驳回 2 件登记") && step.body.contains("EEEE2345"));
    assert_eq!(
        status_of(&fx, more[1]).await,
        "confirmed",
        "nothing before the confirmation"
    );
    with_reason.push(("confirmed", "1"));
    let r = staff.post(&format!("{base}/bulk"), &with_reason).await;
    assert_eq!(r.status, 303);
    assert_eq!(status_of(&fx, more[1]).await, "rejected");
    assert_eq!(status_of(&fx, more[2]).await, "rejected");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('registration.confirm', 'registration.reject')",
    )
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    assert_eq!(audited, 1 + 3 + 2, "each one audited as if done alone");
}
