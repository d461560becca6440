//! Stage 2 排接: 自动排接 over HTTP — competent rooms (own categories or default departments), priority,
//! two-slot batches, unmatched registrations listed, moving by hand locks an assignment.

use crate::fixtures::{Fx, Reg, fixture, id_of, register};
use crate::harness::{Client, TestApp};
use sqlx::PgPool;

struct Day {
    fx: Fx,
    staff: Client,
    room_a: i64,
    room_b: i64,
    regs: [i64; 5],
}

/// Room A handles 城乡建设 (its own category); room B sits with 县司法局, the default department
/// of 涉法涉诉. Nobody handles 教育医疗.
async fn day(app: &TestApp) -> Day {
    let (fx, staff) = fixture(app).await;
    let o = &fx.owner;
    let room = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO rooms (visit_id, name) VALUES ($1, $2) RETURNING id",
        )
        .bind(fx.visit)
        .bind(name)
    };
    let room_a = room("第一接待室").fetch_one(o).await.unwrap();
    let room_b = room("第二接待室").fetch_one(o).await.unwrap();
    sqlx::query("INSERT INTO room_categories (room_id, category_id) VALUES ($1, $2)")
        .bind(room_a)
        .bind(fx.cat_build)
        .execute(o)
        .await
        .unwrap();
    let dept: i64 = sqlx::query_scalar("INSERT INTO departments (name, short_name) VALUES ('县司法局测试', '司法局测') RETURNING id").fetch_one(o).await.unwrap();
    sqlx::query("INSERT INTO category_departments (category_id, department_id) VALUES ($1, $2) ON CONFLICT DO NOTHING").bind(fx.cat_law).bind(dept).execute(o).await.unwrap();
    sqlx::query("INSERT INTO room_departments (room_id, department_id) VALUES ($1, $2)")
        .bind(room_b)
        .bind(dept)
        .execute(o)
        .await
        .unwrap();
    let cat_edu = id_of(
        o,
        "SELECT id FROM categories WHERE name = $1 AND parent_id IS NOT NULL ORDER BY id LIMIT 1",
        "教育医疗",
    )
    .await;
    let [w9, w10] = fx.windows;
    let r = |code, id, persons, category, window, status| Reg {
        code,
        name: "张三",
        id,
        phone: "13812345678",
        township: "仙华街道",
        persons,
        category,
        window,
        status,
    };
    let regs = [
        register(
            &fx,
            fx.visit,
            r(
                "AAAA2222",
                "33072619800101123",
                1,
                fx.cat_build,
                w9,
                "confirmed",
            ),
        )
        .await,
        register(
            &fx,
            fx.visit,
            r(
                "BBBB3333",
                "33072619751212456",
                7,
                fx.cat_build,
                w9,
                "confirmed",
            ),
        )
        .await,
        register(
            &fx,
            fx.visit,
            r(
                "CCCC4444",
                "33072619900505789",
                2,
                fx.cat_law,
                w10,
                "confirmed",
            ),
        )
        .await,
        register(
            &fx,
            fx.visit,
            r("DDDD5555", "33072619850303321", 1, cat_edu, w9, "confirmed"),
        )
        .await,
        register(
            &fx,
            fx.visit,
            r(
                "EEEE6666",
                "33072619700707654",
                1,
                fx.cat_build,
                w9,
                "submitted",
            ),
        )
        .await,
    ];
    Day {
        fx,
        staff,
        room_a,
        room_b,
        regs,
    }
}

async fn placement(
    o: &PgPool,
    reg: i64,
) -> (Option<i64>, Option<i32>, Option<String>, String, bool) {
    sqlx::query_as(
        "SELECT room_id, queue_number, to_char(expected_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI'), status, schedule_locked FROM registrations WHERE id = $1",
    )
    .bind(reg)
    .fetch_one(o)
    .await
    .unwrap()
}

#[tokio::test]
async fn automatic_run_assigns_competent_rooms_and_lists_the_unmatched() {
    let app = TestApp::spawn().await;
    let d = day(&app).await;
    let (o, v) = (&d.fx.owner, d.fx.visit);
    let path = format!("/staff/visits/{v}/schedule");
    let before = d.staff.get(&path).await;
    assert_eq!(before.status, 200);
    assert!(before.body.contains("自动排接"));

    let resp = d.staff.post(&format!("{path}/run"), &[]).await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    assert_eq!(resp.location(), path);
    // The group of 7 goes first and takes two 15-minute slots; the single person follows.
    assert_eq!(
        placement(o, d.regs[1]).await,
        (
            Some(d.room_a),
            Some(1),
            Some("09:00".into()),
            "scheduled".into(),
            false
        )
    );
    assert_eq!(
        placement(o, d.regs[0]).await,
        (
            Some(d.room_a),
            Some(2),
            Some("09:30".into()),
            "scheduled".into(),
            false
        )
    );
    // Competent through its department; inside its own window.
    assert_eq!(
        placement(o, d.regs[2]).await,
        (
            Some(d.room_b),
            Some(1),
            Some("10:00".into()),
            "scheduled".into(),
            false
        )
    );
    // No competent room: left unscheduled and listed, never dropped.
    assert_eq!(
        placement(o, d.regs[3]).await,
        (None, None, None, "confirmed".into(), false)
    );
    assert_eq!(placement(o, d.regs[4]).await.3, "submitted");
    assert_eq!(app.audit_count("schedule.run").await, 1);

    let page = d.staff.get(&path).await;
    assert!(
        page.texts("tr.unmatched td")
            .contains(&"DDDD5555".to_string()),
        "{}",
        page.body
    );
    assert!(page.body.contains("75.0%"), "3 of 4 matched: {}", page.body);
    assert!(
        page.text(&format!("#room-{}", d.room_a))
            .contains("BBBB3333")
    );
    assert!(!page.body.contains("EEEE6666"));

    // Running again gives the same schedule (the deferred queue constraint allows renumbering).
    assert_eq!(d.staff.post(&format!("{path}/run"), &[]).await.status, 303);
    assert_eq!(placement(o, d.regs[0]).await.1, Some(2));
    assert_eq!(
        d.staff.get("/staff/visits/999999/schedule").await.status,
        404
    );
}

#[tokio::test]
async fn a_move_by_hand_is_validated_locked_and_kept_by_the_next_run() {
    let app = TestApp::spawn().await;
    let d = day(&app).await;
    let (o, v) = (&d.fx.owner, d.fx.visit);
    let path = format!("/staff/visits/{v}/schedule");
    assert_eq!(d.staff.post(&format!("{path}/run"), &[]).await.status, 303);
    let reg = d.regs[0];
    let room_b = d.room_b.to_string();

    // Queue number 1 is taken in room B: refused next to the field, typed values kept.
    let resp = d
        .staff
        .post(
            &format!("{path}/{reg}"),
            &[("room_id", &room_b), ("queue_number", "1")],
        )
        .await;
    assert_eq!(resp.status, 422);
    assert_eq!(
        resp.text(&format!("#f-queue-{reg} ~ p.error")),
        "该接待室已有这个排队号"
    );
    assert_eq!(
        resp.html()
            .select(&scraper::Selector::parse(&format!("#f-queue-{reg}")).unwrap())
            .next()
            .unwrap()
            .value()
            .attr("value"),
        Some("1")
    );
    let resp = d
        .staff
        .post(
            &format!("{path}/{reg}"),
            &[("room_id", &room_b), ("queue_number", "零")],
        )
        .await;
    assert_eq!(resp.status, 422);
    assert!(resp.body.contains("请填写 1 到 9999 之间的排队号"));
    assert_eq!(placement(o, reg).await.0, Some(d.room_a));

    let resp = d
        .staff
        .post(
            &format!("{path}/{reg}"),
            &[("room_id", &room_b), ("queue_number", "5")],
        )
        .await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    assert_eq!(
        placement(o, reg).await,
        (
            Some(d.room_b),
            Some(5),
            Some("09:30".into()),
            "scheduled".into(),
            true
        )
    );
    assert_eq!(app.audit_count("schedule.move").await, 1);

    assert_eq!(d.staff.post(&format!("{path}/run"), &[]).await.status, 303);
    let kept = placement(o, reg).await;
    assert_eq!((kept.0, kept.1, kept.4), (Some(d.room_b), Some(5), true));
    let page = d.staff.get(&path).await;
    assert!(page.text(&format!("#room-{}", d.room_b)).contains("已锁定"));

    // Unknown registration, or another visit's: 404.
    assert_eq!(
        d.staff
            .post(
                &format!("{path}/999999"),
                &[("room_id", &room_b), ("queue_number", "6")]
            )
            .await
            .status,
        404
    );
    assert_eq!(
        d.staff
            .post(
                &format!("{path}/{}", d.regs[4]),
                &[("room_id", &room_b), ("queue_number", "6")]
            )
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn an_unmatched_registration_is_placed_by_hand_and_listed_under_its_masked_name() {
    let app = TestApp::spawn().await;
    let d = day(&app).await;
    let (o, v) = (&d.fx.owner, d.fx.visit);
    let path = format!("/staff/visits/{v}/schedule");
    assert_eq!(d.staff.post(&format!("{path}/run"), &[]).await.status, 303);
    let reg = d.regs[3];
    let page = d.staff.get(&path).await;
    // The unmatched row offers the visit's rooms, none chosen, the number left for the last.
    let row = format!("tr.unmatched#reg-{reg}");
    assert!(page.text(&row).contains("DDDD5555"), "{}", page.body);
    assert_eq!(
        page.texts(&format!("{row} select[name=room_id] option")),
        ["请选择接待室", "第一接待室", "第二接待室"]
    );
    // Names are masked in every list of the page, never shown in full.
    assert!(page.text(&row).contains("张某某"));
    assert!(page.text(&format!("#room-{}", d.room_a)).contains("张某某"));
    assert!(!page.body.contains("张三"));

    // No room chosen, then a number out of range: refused beside the field, typed values kept.
    let move_path = format!("{path}/{reg}");
    let resp = d
        .staff
        .post(&move_path, &[("room_id", ""), ("queue_number", "2")])
        .await;
    assert_eq!(resp.status, 422, "{}", resp.body);
    assert_eq!(
        resp.text(&format!("#e-room-{reg}")),
        "请选择本次活动的接待室"
    );
    assert_eq!(resp.text(&format!("#e-queue-{reg}")), "");
    let typed = resp.html();
    let value = |css: &str| {
        typed
            .select(&scraper::Selector::parse(css).unwrap())
            .next()
            .and_then(|e| e.value().attr("value").map(str::to_owned))
    };
    assert_eq!(value(&format!("#f-queue-{reg}")).as_deref(), Some("2"));
    let room_a = d.room_a.to_string();
    let resp = d
        .staff
        .post(
            &move_path,
            &[("room_id", &room_a), ("queue_number", "10000")],
        )
        .await;
    assert_eq!(resp.status, 422);
    assert_eq!(
        resp.text(&format!("#e-queue-{reg}")),
        "请填写 1 到 9999 之间的排队号，或留空排在最后"
    );
    assert_eq!(
        resp.text(&format!("#f-room-{reg} option[selected]")),
        "第一接待室"
    );
    assert_eq!(placement(o, reg).await.0, None);

    // Room A, number left empty: after its last batch (1 and 2 are taken), locked and audited.
    let resp = d
        .staff
        .post(&move_path, &[("room_id", &room_a), ("queue_number", "")])
        .await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    // Expected when room A is free: after 09:00–09:30 (two slots) and 09:30–09:45.
    assert_eq!(
        placement(o, reg).await,
        (
            Some(d.room_a),
            Some(3),
            Some("09:45".into()),
            "scheduled".into(),
            true
        )
    );
    assert_eq!(app.audit_count("schedule.move").await, 1);
    let page = d.staff.get(&path).await;
    assert!(page.texts("tr.unmatched").is_empty(), "{}", page.body);
    let queue = page.texts(&format!("#room-{} tbody tr", d.room_a));
    assert!(
        queue[2].starts_with("3") && queue[2].contains("DDDD5555"),
        "{queue:?}"
    );
    // The room's printed list has it too, masked.
    let print = d
        .staff
        .get(&format!("{path}/rooms/{}/print", d.room_a))
        .await;
    assert_eq!(print.status, 200);
    assert_eq!(print.texts("tbody tr").len(), 3, "{}", print.body);
    assert!(print.text("tbody tr:nth-child(3)").contains("张某某"));
    assert!(!print.body.contains("张三"));

    // A chosen number places it there: room B, number 4.
    let room_b = d.room_b.to_string();
    let resp = d
        .staff
        .post(&move_path, &[("room_id", &room_b), ("queue_number", "4")])
        .await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    assert_eq!(placement(o, reg).await.0, Some(d.room_b));
    assert_eq!(placement(o, reg).await.1, Some(4));
}
