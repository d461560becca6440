//! Stage 2, the day: 发布排接 (notified once, re-published only to the moved), the citizen's status
//! page, check-in by code / phone / ID, walk-ins, and the day's counts.

use crate::fixtures::{Fx, Reg, fixture, id_of, register, visit};
use crate::harness::{Client, TestApp};
use chrono::{Duration, NaiveDate, NaiveTime, Utc};
use sqlx::PgPool;
use xiafang::clock::{Clock, china_instant};

struct Day {
    fx: Fx,
    staff: Client,
    room_a: i64,
    room_b: i64,
    /// Two 城乡建设 batches (room A), one 涉法涉诉 batch (room B), all confirmed.
    regs: [i64; 3],
}

/// Room A handles 城乡建设, room B 涉法涉诉; the visit has a published first notice (public board).
async fn day(app: &TestApp) -> Day {
    let (fx, staff) = fixture(app).await;
    let o = &fx.owner;
    let room = |name: &'static str, cat: i64| {
        let o = o.clone();
        let v = fx.visit;
        async move {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO rooms (visit_id, name) VALUES ($1, $2) RETURNING id",
            )
            .bind(v)
            .bind(name)
            .fetch_one(&o)
            .await
            .unwrap();
            sqlx::query("INSERT INTO room_categories (room_id, category_id) VALUES ($1, $2)")
                .bind(id)
                .bind(cat)
                .execute(&o)
                .await
                .unwrap();
            id
        }
    };
    let room_a = room("第一接待室", fx.cat_build).await;
    let room_b = room("第二接待室", fx.cat_law).await;
    sqlx::query(
        "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, published_at, published_by, created_by)
         VALUES ($1, 'first', '一次公告', '公告正文', ARRAY['政府网站'], current_date, 'published', $2, $3, $3)",
    )
    .bind(fx.visit)
    .bind(Utc::now() - Duration::days(1))
    .bind(fx.staff_id)
    .execute(o)
    .await
    .unwrap();
    let [w9, _] = fx.windows;
    let r = |code, id, phone, category| Reg {
        code,
        name: "张三",
        id,
        phone,
        township: "仙华街道",
        persons: 2,
        category,
        window: w9,
        status: "confirmed",
    };
    let regs = [
        register(
            &fx,
            fx.visit,
            r("AAAA2222", "33072619800101123", "13800000001", fx.cat_build),
        )
        .await,
        register(
            &fx,
            fx.visit,
            r("BBBB3333", "33072619751212456", "13800000002", fx.cat_build),
        )
        .await,
        register(
            &fx,
            fx.visit,
            r("CCCC4444", "33072619900505789", "13800000003", fx.cat_law),
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

/// An app whose sessions outlast days of the test clock moving.
async fn spawn_for_days() -> TestApp {
    TestApp::spawn_with(|c| {
        c.session_idle = Duration::days(30);
        c.session_absolute = Duration::days(30);
    })
    .await
}

/// Move the test clock to `hour`:`minute` China time, `days` after the visit's day.
async fn move_to(app: &TestApp, visit: i64, days: i64, (hour, minute): (u32, u32)) {
    let day: NaiveDate = sqlx::query_scalar("SELECT visit_date FROM visits WHERE id = $1")
        .bind(visit)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let at = china_instant(
        day + Duration::days(days),
        NaiveTime::from_hms_opt(hour, minute, 0).unwrap(),
    );
    app.clock.advance(at - app.clock.now());
}

async fn scheduled_notices(o: &PgPool) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT registration_id, body FROM notifications WHERE kind = 'registration.scheduled' ORDER BY id").fetch_all(o).await.unwrap()
}

async fn status_of(o: &PgPool, reg: i64) -> (String, Option<i64>, Option<i32>, bool) {
    sqlx::query_as("SELECT status, room_id, queue_number, checked_in_at IS NOT NULL FROM registrations WHERE id = $1").bind(reg).fetch_one(o).await.unwrap()
}

#[tokio::test]
async fn publishing_notifies_each_once_and_a_republish_only_the_moved() {
    let app = TestApp::spawn().await;
    let d = day(&app).await;
    let (o, v) = (&d.fx.owner, d.fx.visit);
    let path = format!("/staff/visits/{v}/schedule");
    assert_eq!(d.staff.post(&format!("{path}/run"), &[]).await.status, 303);

    // Before publishing, the citizen sees no room yet.
    let citizen = app.client();
    let look = citizen
        .post("/lookup", &[("code", "AAAA2222"), ("phone_last4", "0001")])
        .await;
    assert_eq!(look.status, 200, "{}", look.body);
    assert!(look.texts("#room").is_empty(), "{}", look.body);

    assert!(d.staff.get(&path).await.body.contains("发布排接"));
    let resp = d.staff.post(&format!("{path}/publish"), &[]).await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    let sent = scheduled_notices(o).await;
    assert_eq!(sent.len(), 3);
    let (_, body) = sent.iter().find(|(r, _)| *r == d.regs[0]).unwrap();
    assert!(body.contains("您已安排在第一接待室，排号"), "{body}");
    assert!(body.contains("预计接谈时间"), "{body}");
    assert!(
        !body.contains("13800000001") && !body.contains("330726198001011"),
        "no full numbers: {body}"
    );

    let look = citizen
        .post("/lookup", &[("code", "AAAA2222"), ("phone_last4", "0001")])
        .await;
    assert_eq!(look.text("#room"), "第一接待室");
    assert!(look.text("#queue").ends_with("号"));
    assert!(!look.text("#expected").is_empty());

    // Nothing changed: nobody is told twice.
    assert_eq!(
        d.staff.post(&format!("{path}/publish"), &[]).await.status,
        303
    );
    assert_eq!(scheduled_notices(o).await.len(), 3);

    // Move one by hand, publish again: only that one is told.
    let room_b = d.room_b.to_string();
    assert_eq!(
        d.staff
            .post(
                &format!("{path}/{}", d.regs[1]),
                &[("room_id", &room_b), ("queue_number", "7")]
            )
            .await
            .status,
        303
    );
    assert_eq!(
        d.staff.post(&format!("{path}/publish"), &[]).await.status,
        303
    );
    let sent = scheduled_notices(o).await;
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[3].0, d.regs[1]);
    assert!(sent[3].1.contains("第二接待室，排号7"), "{}", sent[3].1);
    assert_eq!(app.audit_count("schedule.publish").await, 3);
}

#[tokio::test]
async fn check_in_by_code_phone_and_id_puts_the_batch_in_its_rooms_queue() {
    let app = spawn_for_days().await;
    let d = day(&app).await;
    let (o, v) = (&d.fx.owner, d.fx.visit);
    assert_eq!(
        d.staff
            .post(&format!("/staff/visits/{v}/schedule/run"), &[])
            .await
            .status,
        303
    );
    let path = format!("/staff/visits/{v}/checkin");
    assert_eq!(d.staff.get(&path).await.status, 200);

    for q in [
        "aaaa 2222",
        "138 0000 0001",
        &crate::fixtures::id_number("33072619800101123"),
    ] {
        let found = d.staff.post(&path, &[("q", q)]).await;
        assert_eq!(found.status, 200, "{q}: {}", found.body);
        let row = found.text(&format!("#reg-{}", d.regs[0]));
        assert!(
            row.contains("AAAA2222") && row.contains("已排定接访") && row.contains("第一接待室"),
            "{q}: {row}"
        );
        assert!(row.contains("330***********"), "masked: {row}");
        assert!(!found.body.contains("13800000001"), "phone masked");
    }

    let board_before = app.client().get(&format!("/visits/{v}/board")).await;
    assert!(
        board_before.text(".board-waiting").contains("等候 0 人"),
        "{}",
        board_before.body
    );
    move_to(&app, v, 0, (8, 30)).await;
    let resp = d.staff.post(&format!("{path}/{}", d.regs[0]), &[]).await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    let (status, room, number, at) = status_of(o, d.regs[0]).await;
    assert_eq!(
        (status.as_str(), room, at),
        ("checked_in", Some(d.room_a), true)
    );
    assert!(d.staff.get(&path).await.body.contains("已签到：AAAA2222"));
    assert_eq!(app.audit_count("registration.checkin").await, 1);
    let board = app.client().get(&format!("/visits/{v}/board")).await;
    assert!(
        board
            .text(".board-next-numbers")
            .contains(&number.unwrap().to_string()),
        "{}",
        board.body
    );
    assert!(board.body.contains("等候 <b>1</b> 人"), "{}", board.body);

    // Twice: a clear message, nothing changes.
    assert_eq!(
        d.staff
            .post(&format!("{path}/{}", d.regs[0]), &[])
            .await
            .status,
        303
    );
    assert!(d.staff.get(&path).await.body.contains("该登记已经签到"));
    assert_eq!(app.audit_count("registration.checkin").await, 1);

    // Cancelled: refused with its reason.
    sqlx::query("UPDATE registrations SET status = 'cancelled', room_id = NULL, queue_number = NULL, expected_at = NULL WHERE id = $1")
        .bind(d.regs[2])
        .execute(o)
        .await
        .unwrap();
    assert_eq!(
        d.staff
            .post(&format!("{path}/{}", d.regs[2]), &[])
            .await
            .status,
        303
    );
    assert!(d.staff.get(&path).await.body.contains("该登记已取消"));

    // Another visit's registration: not found here, by search or by id.
    let (other, [w, _]) = visit(o, d.fx.staff_id, "另一次接访").await;
    let foreign = register(
        &d.fx,
        other,
        Reg {
            code: "ZZZZ9999",
            name: "李四",
            id: "33072619660606111",
            phone: "13900000009",
            township: "黄宅镇",
            persons: 1,
            category: d.fx.cat_build,
            window: w,
            status: "confirmed",
        },
    )
    .await;
    let miss = d.staff.post(&path, &[("q", "ZZZZ9999")]).await;
    assert_eq!(miss.status, 404);
    assert!(
        miss.field_error("q").contains("属于其他接访活动"),
        "{}",
        miss.body
    );
    assert_eq!(
        d.staff.post(&format!("{path}/{foreign}"), &[]).await.status,
        404
    );
    let none = d.staff.post(&path, &[("q", "QQQQ7777")]).await;
    assert_eq!(none.status, 404);
    assert!(none.field_error("q").contains("未找到"));
    assert_eq!(d.staff.post(&path, &[("q", "")]).await.status, 422);

    // A confirmed batch never scheduled is placed at once, after the room's last number.
    sqlx::query("UPDATE registrations SET status = 'confirmed', room_id = NULL, queue_number = NULL, expected_at = NULL WHERE id = $1")
        .bind(d.regs[1])
        .execute(o)
        .await
        .unwrap();
    assert_eq!(
        d.staff
            .post(&format!("{path}/{}", d.regs[1]), &[])
            .await
            .status,
        303
    );
    let (status, room, number, _) = status_of(o, d.regs[1]).await;
    assert_eq!((status.as_str(), room), ("checked_in", Some(d.room_a)));
    assert!(number > status_of(o, d.regs[0]).await.2);
}

async fn walk_in_fields<'a>(
    token: &'a str,
    id_number: &'a str,
    category: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("form_token", token),
        ("name", "王五"),
        ("id_number", id_number),
        ("phone", ""),
        ("address", "浦阳街道前街 8 号"),
        ("township", "浦阳街道"),
        ("persons", "1"),
        ("category_id", category),
        ("grievance", "宅基地审批迟迟未办"),
        ("informed", "1"),
    ]
}

#[tokio::test]
async fn a_walk_in_is_validated_screened_and_checked_in_to_a_competent_room() {
    let app = TestApp::spawn().await;
    let d = day(&app).await;
    let (o, v) = (&d.fx.owner, d.fx.visit);
    assert_eq!(
        d.staff
            .post(&format!("/staff/visits/{v}/schedule/run"), &[])
            .await
            .status,
        303
    );
    let path = format!("/staff/visits/{v}/walkin");
    let form = d.staff.get(&path).await;
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("现场登记") && !form.body.contains("接访时段"),
        "no windows for walk-ins"
    );
    let token = form.field_value("form_token");
    let cat = d.fx.cat_build.to_string();

    let bad = d
        .staff
        .post(
            &path,
            &walk_in_fields(&token, "330726198001011230", &cat).await,
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.field_error("id_number").contains("身份证号不正确"),
        "{}",
        bad.body
    );
    assert_eq!(bad.field_value("name"), "王五");
    assert_eq!(bad.field_value("grievance"), "宅基地审批迟迟未办");

    let good_id = crate::fixtures::id_number("33072619800101123"); // the same person as AAAA2222
    let token = bad.field_value("form_token");
    let ok = d
        .staff
        .post(&path, &walk_in_fields(&token, &good_id, &cat).await)
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let (reg, channel, status, room, number): (i64, String, String, Option<i64>, Option<i32>) =
        sqlx::query_as("SELECT id, channel, status, room_id, queue_number FROM registrations WHERE name_mask = '王某某' AND channel = 'walk_in'").fetch_one(o).await.unwrap();
    let exempt: serde_json::Value = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'registration.phone_exempt' AND object_id = $1::text",
    )
    .bind(reg)
    .fetch_one(o)
    .await
    .unwrap();
    assert_eq!(
        exempt["exemption"], "walk_in",
        "no SMS code at the desk, audited"
    );
    assert_eq!(
        (channel.as_str(), status.as_str(), room),
        ("walk_in", "checked_in", Some(d.room_a))
    );
    // Room A had numbers 1 and 2 from the schedule.
    assert_eq!(number, Some(3));
    let flash = d.staff.get(&format!("/staff/visits/{v}/checkin")).await;
    assert!(
        flash.body.contains("登记编号") && flash.body.contains("第一接待室，排号 3"),
        "{}",
        flash.body
    );
    // Screened like any registration: the same ID already registered for this visit.
    let flags: i64 = sqlx::query_scalar("SELECT count(*) FROM screening_flags WHERE registration_id = $1 AND kind = 'duplicate_in_visit'")
        .bind(reg)
        .fetch_one(o)
        .await
        .unwrap();
    assert_eq!(flags, 1);

    // No competent room: said in Chinese, staff pick one.
    let edu = id_of(
        o,
        "SELECT id FROM categories WHERE name = $1 AND parent_id IS NOT NULL ORDER BY id LIMIT 1",
        "教育医疗",
    )
    .await
    .to_string();
    let token = d.staff.get(&path).await.field_value("form_token");
    let other_id = crate::fixtures::id_number("33072619920202222");
    let mut fields = walk_in_fields(&token, &other_id, &edu).await;
    let none = d.staff.post(&path, &fields).await;
    assert_eq!(none.status, 422, "{}", none.body);
    assert!(none.body.contains("没有对口的接待室"));
    assert_eq!(none.field_error("room_id"), "请选择接待室");
    let room_b = d.room_b.to_string();
    fields.push(("room_id", &room_b));
    let placed = d.staff.post(&path, &fields).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let (status, room): (String, Option<i64>) =
        sqlx::query_as("SELECT status, room_id FROM registrations WHERE category_id = $1::bigint")
            .bind(&edu)
            .fetch_one(o)
            .await
            .unwrap();
    assert_eq!((status.as_str(), room), ("checked_in", Some(d.room_b)));
}

#[tokio::test]
async fn the_day_page_counts_what_the_rows_say() {
    let app = TestApp::spawn().await;
    let d = day(&app).await;
    let (o, v) = (&d.fx.owner, d.fx.visit);
    assert_eq!(
        d.staff
            .post(&format!("/staff/visits/{v}/schedule/run"), &[])
            .await
            .status,
        303
    );
    // regs[0] received (2 persons, two issues: one resolved on the spot, one assigned), regs[1]
    // waiting, regs[2] no-show.
    sqlx::query(
        "UPDATE registrations SET status = 'received', checked_in_at = now() WHERE id = $1",
    )
    .bind(d.regs[0])
    .execute(o)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE registrations SET status = 'checked_in', checked_in_at = now() WHERE id = $1",
    )
    .bind(d.regs[1])
    .execute(o)
    .await
    .unwrap();
    sqlx::query("UPDATE registrations SET status = 'no_show' WHERE id = $1")
        .bind(d.regs[2])
        .execute(o)
        .await
        .unwrap();
    let reception: i64 = sqlx::query_scalar(
        "INSERT INTO receptions (visit_id, registration_id, room_id, started_at, ended_at, recorded_by) VALUES ($1, $2, $3, now(), now(), $4) RETURNING id",
    )
    .bind(v)
    .bind(d.regs[0])
    .bind(d.room_a)
    .bind(d.fx.staff_id)
    .fetch_one(o)
    .await
    .unwrap();
    for outcome in ["resolved_on_spot", "assigned", "explained"] {
        sqlx::query("INSERT INTO issues (visit_id, reception_id, category_id, summary, outcome) VALUES ($1, $2, $3, '道路', $4)")
            .bind(v)
            .bind(reception)
            .bind(d.fx.cat_build)
            .bind(outcome)
            .execute(o)
            .await
            .unwrap();
    }
    let page = d.staff.get(&format!("/staff/visits/{v}/day")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let t = |id: &str| page.text(&format!("#t-{id}"));
    assert_eq!(
        [
            t("registered"),
            t("checked-in"),
            t("waiting"),
            t("received"),
            t("persons"),
            t("resolved"),
            t("assigned"),
            t("no-show")
        ],
        ["3", "2", "1", "1", "2", "1", "1", "1"]
    );
    let rows = page.texts("#day-rooms tbody tr");
    assert!(rows[0].contains("第一接待室"));
    let day_js = xiafang::web::assets::url("day.js");
    assert!(page.body.contains(day_js) && page.body.contains("刷新"));
    assert_eq!(app.client().get(day_js).await.status, 200);
    assert_eq!(d.staff.get("/staff/visits/999999/day").await.status, 404);
    let visit_page = d.staff.get(&format!("/staff/visits/{v}")).await;
    assert!(
        visit_page
            .body
            .contains(&format!("/staff/visits/{v}/checkin"))
            && visit_page.body.contains(&format!("/staff/visits/{v}/day"))
    );
}

/// The visit form as stored, with the 前一天 12:00 起即可签到 box ticked or not.
async fn save_visit_form(d: &Day, eve: bool) -> u16 {
    let v = d.fx.visit;
    let row: (String, String, String, String, String, String, String) = sqlx::query_as(
        "SELECT title, county_id::text, lead_leader_id::text, visit_date::text, to_char(starts_at, 'HH24:MI'), to_char(ends_at, 'HH24:MI'), venue FROM visits WHERE id = $1",
    )
    .bind(v)
    .fetch_one(&d.fx.owner)
    .await
    .unwrap();
    let mut form = vec![
        ("title", row.0.as_str()),
        ("county_id", &row.1),
        ("lead_leader_id", &row.2),
        ("visit_date", &row.3),
        ("starts_at", &row.4),
        ("ends_at", &row.5),
        ("venue", &row.6),
    ];
    if eve {
        form.push(("checkin_opens_eve", "on"));
    }
    let r = d
        .staff
        .post(&format!("/staff/visits/{v}/edit"), &form)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let edit = d.staff.get(&format!("/staff/visits/{v}/edit")).await;
    let ticked = edit
        .html()
        .select(&scraper::Selector::parse("input[name=checkin_opens_eve][checked]").unwrap())
        .count();
    assert_eq!(ticked == 1, eve, "the form shows what was saved");
    r.status
}

#[tokio::test]
async fn check_in_opens_on_the_day_or_from_noon_the_day_before_when_the_visit_allows() {
    let app = spawn_for_days().await;
    let d = day(&app).await;
    let (o, v, reg) = (&d.fx.owner, d.fx.visit, d.regs[0]);
    let path = format!("/staff/visits/{v}/checkin");
    let one = format!("{path}/{reg}");
    let check_in = || d.staff.post(&one, &[]);

    // Two days before: the page says when 签到 opens, and a 签到 is refused with that message.
    move_to(&app, v, -2, (9, 0)).await;
    let page = d.staff.get(&path).await;
    assert_eq!(page.status, 200);
    let opens = page.text("#not-open");
    assert!(
        opens.contains("签到尚未开放") && opens.contains("00:00"),
        "{opens}"
    );
    let refused = check_in().await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.text("#not-open"), opens);
    assert_eq!(status_of(o, reg).await.0, "confirmed");

    // Staff tick 前一天 12:00 起即可签到 on the visit form: open from noon the day before.
    save_visit_form(&d, true).await;
    move_to(&app, v, -1, (11, 59)).await;
    let early = check_in().await;
    assert_eq!(early.status, 409);
    assert!(early.text("#not-open").contains("12:00"), "{}", early.body);
    move_to(&app, v, -1, (12, 0)).await;
    assert!(d.staff.get(&path).await.text("#not-open").is_empty());
    assert_eq!(check_in().await.status, 303);
    assert_eq!(status_of(o, reg).await.0, "checked_in");

    // Without the box, the afternoon before stays closed; the day itself opens it.
    save_visit_form(&d, false).await;
    let other = d.regs[1];
    move_to(&app, v, -1, (18, 0)).await;
    let refused = d.staff.post(&format!("{path}/{other}"), &[]).await;
    assert_eq!(refused.status, 409);
    assert_eq!(status_of(o, other).await.0, "confirmed");
    move_to(&app, v, 0, (0, 0)).await;
    let on_the_day = d.staff.post(&format!("{path}/{other}"), &[]).await;
    assert_eq!(on_the_day.status, 303, "{}", on_the_day.body);
    assert_eq!(status_of(o, other).await.0, "checked_in");
}
