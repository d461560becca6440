//! Stage 1, plan and announce: visits, the notice rules, corrections, cancellation, rooms and
//! windows, and the public pages — driven over HTTP as staff and as a citizen.

use crate::harness::{Client, PASSWORD, Resp, TestApp};
use chrono::{Duration, NaiveDate};
use sqlx::PgPool;
use xiafang::clock::cn_date;
use xiafang::clock::{Clock, china_date};
use xiafang::privacy::{Column, Field};
use xiafang::web::auth::Role;

struct Fixture {
    county: i64,
    lead: i64,
    deputy: i64,
    departments: Vec<i64>,
}

async fn owner(app: &TestApp) -> PgPool {
    PgPool::connect(&app.url).await.unwrap()
}

/// A county, two leaders and two departments.
async fn fixture(app: &TestApp) -> Fixture {
    let db = owner(app).await;
    let county: i64 = sqlx::query_scalar(
        "INSERT INTO jurisdictions (name, code) VALUES ('浦阳县', '330799') RETURNING id",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let lead: i64 = sqlx::query_scalar(
        "INSERT INTO leaders (name, title, level, portfolio, county_id) VALUES ('陈建国', '县委书记', 'county', '主持县委全面工作', $1) RETURNING id",
    )
    .bind(county)
    .fetch_one(&db)
    .await
    .unwrap();
    let deputy: i64 = sqlx::query_scalar(
        "INSERT INTO leaders (name, title, level, portfolio, county_id) VALUES ('周慧敏', '副县长', 'county', '分管住房和城乡建设', $1) RETURNING id",
    )
    .bind(county)
    .fetch_one(&db)
    .await
    .unwrap();
    let departments: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO departments (name, short_name) VALUES ('县住房和城乡建设局', '住建局'), ('县人力资源和社会保障局', '人社局') RETURNING id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    db.close().await;
    Fixture {
        county,
        lead,
        deputy,
        departments,
    }
}

/// Sessions time out when the clock jumps days: sign in again.
async fn relogin(app: &TestApp) -> Client {
    let client = app.client();
    assert_eq!(client.login("xinfang", PASSWORD).await.status, 303);
    client
}

fn today(app: &TestApp) -> NaiveDate {
    china_date(app.clock.now())
}

/// Create a visit over HTTP, `days` ahead; returns its id.
async fn create_visit(app: &TestApp, staff: &Client, fx: &Fixture, days: i64) -> i64 {
    let date = (today(app) + Duration::days(days)).to_string();
    let (county, lead, deputy) = (
        fx.county.to_string(),
        fx.lead.to_string(),
        fx.deputy.to_string(),
    );
    let (d1, d2) = (fx.departments[0].to_string(), fx.departments[1].to_string());
    let r = staff
        .post(
            "/staff/visits/new",
            &[
                ("title", "县领导下访接访日"),
                ("county_id", &county),
                ("lead_leader_id", &lead),
                ("leader_ids", &deputy),
                ("visit_date", &date),
                ("starts_at", "08:00"),
                ("ends_at", "17:00"),
                ("venue", "仙华街道便民服务中心"),
                ("address", "人民路 88 号"),
                ("scope", "城乡建设、劳动社保方面的诉求"),
                ("department_ids", &d1),
                ("department_ids", &d2),
                ("slot_minutes", "15"),
                ("registration_closes_at", ""),
                ("deadline_days", "60"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    r.location()
        .trim_start_matches("/staff/visits/")
        .parse()
        .unwrap()
}

/// Generate the draft of `kind` and return its id.
async fn draft(app: &TestApp, staff: &Client, visit: i64, kind: &str) -> i64 {
    let r = staff
        .post(&format!("/staff/visits/{visit}/notices"), &[("kind", kind)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    sqlx::query_scalar(
        "SELECT id FROM notices WHERE visit_id = $1 AND kind = $2 AND status = 'draft'",
    )
    .bind(visit)
    .bind(kind)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// Publish a draft with its stored text and the given channels.
async fn publish(
    app: &TestApp,
    staff: &Client,
    visit: i64,
    notice: i64,
    channels: &[&str],
) -> Resp {
    let (title, body): (String, String) =
        sqlx::query_as("SELECT title, body FROM notices WHERE id = $1")
            .bind(notice)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let mut form = vec![("title", title.as_str()), ("body", body.as_str())];
    form.extend(channels.iter().map(|c| ("channels", *c)));
    staff
        .post(
            &format!("/staff/visits/{visit}/notices/{notice}/publish"),
            &form,
        )
        .await
}

async fn status_of(app: &TestApp, visit: i64) -> String {
    sqlx::query_scalar("SELECT status FROM visits WHERE id = $1")
        .bind(visit)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_visit_shows_errors_beside_fields_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let form = staff.get("/staff/visits/new").await;
    assert_eq!(form.status, 200);
    assert_eq!(form.field_value("starts_at"), "08:00");
    assert_eq!(form.field_value("slot_minutes"), "15");
    assert_eq!(form.field_value("deadline_days"), "60");

    let soon = (today(&app) + Duration::days(5)).to_string();
    let earliest = cn_date(today(&app) + Duration::days(10));
    let county = fx.county.to_string();
    let r = staff
        .post(
            "/staff/visits/new",
            &[
                ("title", ""),
                ("county_id", &county),
                ("lead_leader_id", ""),
                ("visit_date", &soon),
                ("starts_at", "17:00"),
                ("ends_at", "08:00"),
                ("venue", "仙华街道<便民>中心"),
                ("slot_minutes", "3"),
                ("deadline_days", "90"),
                ("registration_closes_at", "yesterday"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("title"), "请填写活动名称");
    assert_eq!(r.field_error("lead_leader_id"), "请选择接访领导");
    assert!(
        r.field_error("visit_date").contains(&earliest),
        "{}",
        r.field_error("visit_date")
    );
    assert_eq!(r.field_error("ends_at"), "结束时间须晚于开始时间");
    assert!(r.field_error("slot_minutes").contains("5–120"));
    assert!(r.field_error("deadline_days").contains("1–60"));
    assert!(!r.field_error("registration_closes_at").is_empty());
    assert_eq!(
        r.field_value("venue"),
        "仙华街道<便民>中心",
        "typed values kept"
    );
    assert_eq!(r.field_value("visit_date"), soon);
    let visits: i64 = sqlx::query_scalar("SELECT count(*) FROM visits")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(visits, 0);

    let id = create_visit(&app, &staff, &fx, 12).await;
    let row: (String, String, i32, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
        "SELECT status, level, slot_minutes, registration_closes_at FROM visits WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (row.0.as_str(), row.1.as_str(), row.2, row.3),
        ("draft", "county", 15, None),
        "level from the lead leader; NULL close = default"
    );
    let accompanying: i64 =
        sqlx::query_scalar("SELECT count(*) FROM visit_leaders WHERE visit_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(accompanying, 1);
    assert_eq!(app.audit_count("visit.create").await, 1);

    let page = staff.get(&format!("/staff/visits/{id}")).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.texts(".checklist li.missing").len(),
        7,
        "nothing is done yet"
    );
    let links = page
        .html()
        .select(&scraper::Selector::parse(".checklist li a").unwrap())
        .map(|a| a.value().attr("href").unwrap().to_owned())
        .collect::<Vec<_>>();
    for part in ["notices", "rooms", "survey", "registrations", "schedule"] {
        assert!(
            links.contains(&format!("/staff/visits/{id}/{part}")),
            "{part} in {links:?}"
        );
    }
    let list = staff.get("/staff/visits").await;
    assert!(list.text("table.data").contains("县领导下访接访日"));
}

#[tokio::test]
async fn notices_go_out_on_time_and_in_order_or_not_at_all() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let visit = create_visit(&app, &staff, &fx, 12).await;
    let visit_date = today(&app) + Duration::days(12);
    let first = draft(&app, &staff, visit, "first").await;
    let second = draft(&app, &staff, visit, "second").await;
    let body: String = sqlx::query_scalar("SELECT body FROM notices WHERE id = $1")
        .bind(first)
        .fetch_one(&app.db)
        .await
        .unwrap();
    for part in [
        "陈建国（县委书记，主持县委全面工作）",
        "周慧敏（副县长，分管住房和城乡建设）",
        "仙华街道便民服务中心（人民路 88 号）",
        "城乡建设、劳动社保",
        "17:00",
        &format!("/visits/{visit}/register"),
    ] {
        assert!(body.contains(part), "{part} in {body}");
    }

    let r = publish(&app, &staff, visit, second, &["广播"]).await;
    assert_eq!(r.status, 422, "the second may not go out before the first");
    assert!(
        r.field_error("second-publish").contains("请先发布一次公告"),
        "{}",
        r.field_error("second-publish")
    );

    app.clock.advance(Duration::days(3));
    let staff = relogin(&app).await;
    let r = publish(&app, &staff, visit, first, &["广播"]).await;
    assert_eq!(r.status, 422, "9 days ahead is too late");
    let latest = cn_date(visit_date - Duration::days(10));
    assert!(
        r.field_error("first-publish")
            .contains(&format!("一次公告最迟应于 {latest} 发布")),
        "{}",
        r.field_error("first-publish")
    );
    assert_eq!(status_of(&app, visit).await, "draft");
    app.clock.advance(Duration::days(-3));
    let staff = relogin(&app).await;

    let r = publish(&app, &staff, visit, first, &[]).await;
    assert_eq!(r.field_error("first-channels"), "请至少选择一个发布渠道");
    let public = app.client();
    assert_eq!(
        public.get(&format!("/visits/{visit}")).await.status,
        404,
        "nothing published yet"
    );

    let r = publish(&app, &staff, visit, first, &["广播", "村务公开栏"]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        status_of(&app, visit).await,
        "announced",
        "the first notice opens registration"
    );
    let page = public.get(&format!("/visits/{visit}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(&format!("href=\"/visits/{visit}/register\"")),
        "我要登记"
    );
    assert!(page.text("main").contains("周慧敏"));
    assert_eq!(public.get(&format!("/notices/{first}")).await.status, 200);
    assert!(
        public
            .get("/")
            .await
            .body
            .contains(&format!("/notices/{first}")),
        "home links the notice"
    );

    let same_day = publish(&app, &staff, visit, second, &["广播"]).await;
    assert_eq!(same_day.status, 422, "the second goes out after the first");
    app.clock.advance(Duration::days(1));
    let staff = relogin(&app).await;
    assert_eq!(
        publish(&app, &staff, visit, second, &["电视"]).await.status,
        303
    );
    let (ok, refused): (i64, i64) = sqlx::query_as("SELECT count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success) FROM audit_log WHERE action = 'notice.publish'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((ok, refused), (2, 4), "refusals are audited too");

    // Published is final: the handler refuses, and so does the database.
    let edit = staff
        .post(
            &format!("/staff/visits/{visit}/notices/{first}"),
            &[
                ("title", "改过的标题"),
                ("body", "改过"),
                ("channels", "广播"),
            ],
        )
        .await;
    assert_eq!(edit.status, 409);
    let title: String = sqlx::query_scalar("SELECT title FROM notices WHERE id = $1")
        .bind(first)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(title.starts_with("关于"), "{title}");
    let direct = sqlx::query("UPDATE notices SET title = 'x' WHERE id = $1")
        .bind(first)
        .execute(&app.db)
        .await;
    assert!(direct.is_err(), "the trigger refuses it too");
}

#[tokio::test]
async fn after_the_first_notice_date_time_and_venue_change_only_by_a_linked_correction() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let visit = create_visit(&app, &staff, &fx, 12).await;
    let first = draft(&app, &staff, visit, "first").await;
    assert_eq!(
        publish(&app, &staff, visit, first, &["广播"]).await.status,
        303
    );

    let edit = staff.get(&format!("/staff/visits/{visit}/edit")).await;
    assert_eq!(edit.status, 200);
    let moved = (today(&app) + Duration::days(14)).to_string();
    let (county, lead) = (fx.county.to_string(), fx.lead.to_string());
    let r = staff
        .post(
            &format!("/staff/visits/{visit}/edit"),
            &[
                ("title", "县领导下访接访日"),
                ("county_id", &county),
                ("lead_leader_id", &lead),
                ("visit_date", &moved),
                ("starts_at", "08:00"),
                ("ends_at", "17:00"),
                ("venue", "仙华街道便民服务中心"),
                ("address", "人民路 88 号"),
                ("scope", "新的受理范围"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.field_error("visit_date").contains("更正公告"),
        "{}",
        r.field_error("visit_date")
    );
    assert_eq!(r.field_value("visit_date"), moved);

    // Windows exist: they move with the day.
    let db = owner(&app).await;
    sqlx::query("INSERT INTO rooms (visit_id, name) VALUES ($1, '第 1 接待室')")
        .bind(visit)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        staff
            .post(&format!("/staff/visits/{visit}/windows"), &[])
            .await
            .status,
        303
    );

    let r = staff
        .post(
            &format!("/staff/visits/{visit}/correction"),
            &[
                ("visit_date", &moved),
                ("starts_at", "08:00"),
                ("ends_at", "17:00"),
                ("venue", "县第一中学"),
                ("address", "解放路 12 号"),
                ("reason", "场地调整"),
                ("channels", "广播"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let v: (NaiveDate, String) =
        sqlx::query_as("SELECT visit_date, venue FROM visits WHERE id = $1")
            .bind(visit)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        v,
        (today(&app) + Duration::days(14), "县第一中学".to_owned())
    );
    let c: (Option<i64>, String, String) =
        sqlx::query_as("SELECT corrects_notice_id, body, status FROM notices WHERE visit_id = $1 AND kind = 'correction'").bind(visit).fetch_one(&app.db).await.unwrap();
    assert_eq!(c.0, Some(first), "linked to the notice it corrects");
    assert_eq!(c.2, "published");
    assert!(
        c.1.contains("接访地点：仙华街道便民服务中心 → 县第一中学"),
        "{}",
        c.1
    );
    assert!(c.1.contains(&format!(
        "{} → {}",
        cn_date(today(&app) + Duration::days(12)),
        cn_date(today(&app) + Duration::days(14))
    )));
    let window_day: NaiveDate = sqlx::query_scalar("SELECT min((starts_at AT TIME ZONE 'Asia/Shanghai')::date) FROM reception_windows WHERE visit_id = $1")
        .bind(visit)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(window_day, today(&app) + Duration::days(14));
    assert_eq!(app.audit_count("notice.correct").await, 1);

    let too_soon = (today(&app) + Duration::days(3)).to_string();
    let r = staff
        .post(
            &format!("/staff/visits/{visit}/correction"),
            &[
                ("visit_date", &too_soon),
                ("starts_at", "08:00"),
                ("ends_at", "17:00"),
                ("venue", "县第一中学"),
                ("reason", "x"),
                ("channels", "广播"),
            ],
        )
        .await;
    assert_eq!(
        r.status, 422,
        "the notices must still have gone out 10 days ahead"
    );
    assert!(
        r.field_error("visit_date").contains("最早"),
        "{}",
        r.field_error("visit_date")
    );
}

/// A registration by phone, inserted directly.
async fn registration(
    app: &TestApp,
    db: &PgPool,
    visit: i64,
    staff_id: i64,
    code: &str,
    phone: &str,
    status: &str,
) {
    let keys = &app.state.keys;
    let id_number = "11010519491231002X";
    let id: i64 =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('registrations', 'id'))")
            .fetch_one(db)
            .await
            .unwrap();
    let id_sealed = keys
        .encrypt(Column::REGISTRATION_ID_NUMBER, id, id_number)
        .unwrap();
    let phone_sealed = keys.encrypt(Column::REGISTRATION_PHONE, id, phone).unwrap();
    let category: i64 =
        sqlx::query_scalar("SELECT id FROM categories WHERE name = '城乡建设' LIMIT 1")
            .fetch_one(db)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO registrations (visit_id, code, channel, name, id_number_cipher, id_number_key_id, id_number_index, id_number_mask,
                                    phone_cipher, phone_key_id, phone_index, phone_mask, category_id, grievance, status, consent_at, created_by,
                                    reject_reason, id) OVERRIDING SYSTEM VALUE
         VALUES ($1, $2, 'phone', '张三', $3, $4, $5, $6, $7, $8, $9, $10, $11, '房屋漏水', $12, now(), $13, $14, $15)",
    )
    .bind(visit)
    .bind(code)
    .bind(&id_sealed.bytes)
    .bind(id_sealed.key_id)
    .bind(keys.blind_index(Field::IdNumber, id_number))
    .bind(xiafang::privacy::mask_id_number(id_number))
    .bind(&phone_sealed.bytes)
    .bind(phone_sealed.key_id)
    .bind(keys.blind_index(Field::Phone, phone))
    .bind(xiafang::privacy::mask_phone(phone))
    .bind(category)
    .bind(status)
    .bind(staff_id)
    .bind((status == "rejected").then_some("重复登记"))
    .bind(id)
    .execute(db)
    .await
    .unwrap();
}

#[tokio::test]
async fn cancelling_publishes_a_notice_and_tells_every_registrant_at_once() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let staff_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'xinfang'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let visit = create_visit(&app, &staff, &fx, 12).await;
    let first = draft(&app, &staff, visit, "first").await;
    assert_eq!(
        publish(&app, &staff, visit, first, &["广播"]).await.status,
        303
    );
    let db = owner(&app).await;
    registration(
        &app,
        &db,
        visit,
        staff_id,
        "ABCDEFGH",
        "13812345678",
        "submitted",
    )
    .await;
    registration(
        &app,
        &db,
        visit,
        staff_id,
        "BCDEFGHJ",
        "13912345678",
        "confirmed",
    )
    .await;
    registration(
        &app,
        &db,
        visit,
        staff_id,
        "CDEFGHJK",
        "13712345678",
        "rejected",
    )
    .await;

    let missing = staff
        .post(
            &format!("/staff/visits/{visit}/cancel"),
            &[("cancel_reason", "")],
        )
        .await;
    assert_eq!(missing.status, 422);
    assert_eq!(missing.field_error("cancel_reason"), "请填写取消原因");
    assert_eq!(
        missing.field_error("cancel_channels"),
        "请至少选择一个发布渠道"
    );
    assert_eq!(status_of(&app, visit).await, "announced");

    let r = staff
        .post(
            &format!("/staff/visits/{visit}/cancel"),
            &[
                ("cancel_reason", "台风预警"),
                ("cancel_channels", "广播"),
                ("cancel_channels", "微信公众号"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(status_of(&app, visit).await, "cancelled");
    let (body, status): (String, String) = sqlx::query_as(
        "SELECT body, status FROM notices WHERE visit_id = $1 AND kind = 'cancellation'",
    )
    .bind(visit)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(status, "published");
    assert!(body.contains("台风预警"));
    let notified: Vec<(String, String)> =
        sqlx::query_as("SELECT recipient_mask, body FROM notifications WHERE kind = 'visit.cancelled' ORDER BY recipient_mask").fetch_all(&app.db).await.unwrap();
    assert_eq!(notified.len(), 2, "the rejected registrant is not told");
    assert_eq!(notified[0].0, "138****5678");
    assert!(notified[0].1.contains("台风预警") && !notified[0].1.contains("13812345678"));
    assert_eq!(app.audit_count("visit.cancel").await, 1);
    let page = app.client().get(&format!("/visits/{visit}")).await;
    assert!(page.text("main").contains("已取消"));
    assert!(
        !page.body.contains(&format!("/visits/{visit}/register")),
        "no registration for a cancelled day"
    );
    assert_eq!(
        staff
            .post(
                &format!("/staff/visits/{visit}/cancel"),
                &[("cancel_reason", "再次"), ("cancel_channels", "广播")]
            )
            .await
            .status,
        409
    );
}

#[tokio::test]
async fn fourteen_rooms_make_504_slots_and_capacity_never_drops_below_bookings() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let visit = create_visit(&app, &staff, &fx, 12).await;
    let rooms = format!("/staff/visits/{visit}/rooms");
    // No room yet: the rooms page again, saying why at the top and leading to the room form.
    let refused = staff
        .post(&format!("/staff/visits/{visit}/windows"), &[])
        .await;
    assert_eq!(refused.status, 409, "no rooms yet");
    assert_eq!(refused.text("#refusal h2"), "未能生成接访时段");
    assert!(refused.text("#refusal").contains("请先添加接待室"));
    assert_eq!(
        refused
            .html()
            .select(&scraper::Selector::parse("#refusal a").unwrap())
            .map(|a| a.value().attr("href").unwrap_or("").to_owned())
            .collect::<Vec<_>>(),
        ["#add-room"]
    );
    assert!(refused.text("#add-room").contains("添加接待室"));

    let bad = staff
        .post(
            &rooms,
            &[("name", ""), ("location", "二楼"), ("leader_ids", "999999")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.field_error("name"), "请填写接待室名称");
    assert!(!bad.field_error("leader_ids").is_empty());
    assert_eq!(bad.field_value("location"), "二楼");

    let category: i64 =
        sqlx::query_scalar("SELECT id FROM categories WHERE name = '城乡建设' LIMIT 1")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let (lead, dept, cat) = (
        fx.lead.to_string(),
        fx.departments[0].to_string(),
        category.to_string(),
    );
    for i in 1..=14 {
        let name = format!("第 {i} 接待室");
        let r = staff
            .post(
                &rooms,
                &[
                    ("name", &name),
                    ("location", "教学楼"),
                    ("leader_ids", &lead),
                    ("department_ids", &dept),
                    ("category_ids", &cat),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let dup = staff.post(&rooms, &[("name", "第 1 接待室")]).await;
    assert_eq!(dup.field_error("name"), "本次活动已有同名接待室");
    assert_eq!(
        staff
            .post(&format!("/staff/visits/{visit}/windows"), &[])
            .await
            .status,
        303
    );
    let (windows, capacity): (i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(capacity_slots) FROM reception_windows WHERE visit_id = $1",
    )
    .bind(visit)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((windows, capacity), (9, 504), "14 rooms × 4 per hour × 9 h");
    let page = staff.get(&rooms).await;
    assert_eq!(page.texts("#windows tbody tr").len(), 9);
    assert!(page.text("#windows").contains("504"));

    // 10 slots of the first window are booked.
    let db = owner(&app).await;
    let window: i64 = sqlx::query_scalar(
        "SELECT id FROM reception_windows WHERE visit_id = $1 ORDER BY starts_at LIMIT 1",
    )
    .bind(visit)
    .fetch_one(&app.db)
    .await
    .unwrap();
    sqlx::query("UPDATE reception_windows SET booked_slots = 10 WHERE id = $1")
        .bind(window)
        .execute(&db)
        .await
        .unwrap();
    let low = staff
        .post(
            &format!("/staff/visits/{visit}/windows/{window}"),
            &[("capacity", "5")],
        )
        .await;
    assert_eq!(low.status, 422);
    assert!(
        low.field_error(&format!("capacity-{window}"))
            .contains("不能少于 10"),
        "{}",
        low.body
    );
    assert_eq!(low.field_value("capacity"), "5", "the typed value is kept");
    let junk = staff
        .post(
            &format!("/staff/visits/{visit}/windows/{window}"),
            &[("capacity", "many")],
        )
        .await;
    assert_eq!(junk.status, 422);
    assert_eq!(
        staff
            .post(
                &format!("/staff/visits/{visit}/windows/{window}"),
                &[("capacity", "60")]
            )
            .await
            .status,
        303
    );
    let cap: i32 = sqlx::query_scalar("SELECT capacity_slots FROM reception_windows WHERE id = $1")
        .bind(window)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(cap, 60);
    assert_eq!(app.audit_count("window.capacity").await, 1);
    assert_eq!(app.audit_count("room.create").await, 14);

    let room: i64 =
        sqlx::query_scalar("SELECT id FROM rooms WHERE visit_id = $1 AND name = '第 14 接待室'")
            .bind(visit)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let edit = staff.get(&format!("{rooms}/{room}")).await;
    assert_eq!(edit.field_value("name"), "第 14 接待室");
    // 删除 asks first: the step names the room, deletes nothing, and leads back.
    let delete = format!("{rooms}/{room}/delete");
    let ask = staff.post(&delete, &[]).await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    assert!(ask.text("main h2").contains("第 14 接待室"));
    assert_eq!(
        ask.text(&format!("form[action='{delete}'] button")),
        "确认删除"
    );
    assert_eq!(ask.field_value("confirm"), "1");
    assert!(ask.body.contains(&format!("href=\"{rooms}\"")));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM rooms WHERE id = $1")
        .bind(room)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 1, "nothing deleted before the confirmation");
    assert_eq!(app.audit_count("room.delete").await, 0);
    assert_eq!(staff.post(&delete, &[("confirm", "1")]).await.status, 303);
    assert_eq!(app.audit_count("room.delete").await, 1);
    assert_eq!(staff.post(&delete, &[]).await.status, 404);
}

#[tokio::test]
async fn public_pages_show_only_what_was_published() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let visit = create_visit(&app, &staff, &fx, 12).await;
    let first = draft(&app, &staff, visit, "first").await;
    let public = app.client();
    for path in [
        format!("/visits/{visit}"),
        format!("/notices/{first}"),
        format!("/notices/{first}/print"),
        "/visits/999999".into(),
        "/notices/999999".into(),
    ] {
        assert_eq!(public.get(&path).await.status, 404, "{path}");
    }
    let schedule = public
        .get(&format!(
            "/schedule?month={}",
            (today(&app) + Duration::days(12)).format("%Y-%m")
        ))
        .await;
    assert!(
        !schedule.body.contains(&format!("/visits/{visit}\"")),
        "drafts are not scheduled"
    );
}

#[tokio::test]
async fn the_monthly_schedule_goes_county_by_county() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let db = owner(&app).await;
    let other: i64 = sqlx::query_scalar(
        "INSERT INTO jurisdictions (name, code) VALUES ('安和县', '330798') RETURNING id",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let staff_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'xinfang'")
        .fetch_one(&db)
        .await
        .unwrap();
    let day = NaiveDate::from_ymd_opt(2030, 5, 20).unwrap();
    for (county, title, status) in [
        (fx.county, "浦阳县五月接访日", "announced"),
        (other, "安和县五月接访日", "announced"),
        (other, "安和县草稿", "draft"),
    ] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by) VALUES ($1, $2, 'county', $3, $4, '便民服务中心', $5, $6) RETURNING id",
        )
        .bind(county)
        .bind(title)
        .bind(fx.lead)
        .bind(day)
        .bind(status)
        .bind(staff_id)
        .fetch_one(&db)
        .await
        .unwrap();
        if status == "announced" {
            sqlx::query(
                "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, published_at, published_by, created_by)
                 VALUES ($1, 'first', $2, '正文', ARRAY['广播'], '2030-05-10', 'published', now(), $3, $3)",
            )
            .bind(id)
            .bind(format!("关于{title}的公告"))
            .bind(staff_id)
            .execute(&db)
            .await
            .unwrap();
        }
    }
    let r = app.client().get("/schedule?month=2030-05").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.texts("section.county h2"), vec!["安和县", "浦阳县"]);
    assert!(r.text("main").contains("2030年5月20日（星期一）"));
    assert!(r.text("main").contains("陈建国（县委书记）"));
    assert!(!r.body.contains("安和县草稿"));
    for bad in [
        "/schedule?month=2030-13",
        "/schedule?month=%FF%FE",
        "/schedule?month=",
        "/schedule",
    ] {
        let r = app.client().get(bad).await;
        assert_eq!(r.status, 200, "{bad}");
        assert!(
            r.text("h1")
                .contains(&today(&app).format("%Y年%-m月").to_string()),
            "{bad} shows this month"
        );
    }
    let _ = staff;
}

#[tokio::test]
async fn the_printed_notice_carries_a_qr_code_of_the_registration_url() {
    let app =
        TestApp::spawn_with(|c| c.public_url = Some("https://xf.example.gov.cn/".into())).await;
    let fx = fixture(&app).await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let visit = create_visit(&app, &staff, &fx, 12).await;
    let first = draft(&app, &staff, visit, "first").await;
    assert_eq!(
        publish(&app, &staff, visit, first, &["村务公开栏"])
            .await
            .status,
        303
    );
    let r = app.client().get(&format!("/notices/{first}/print")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<svg"), "an inline SVG QR code");
    assert!(
        !r.html()
            .select(&scraper::Selector::parse("[style]").unwrap())
            .any(|_| true),
        "no inline styles (CSP)"
    );
    assert!(r.text(".poster").contains(&format!(
        "https://xf.example.gov.cn/visits/{visit}/register"
    )));
    assert!(r.text(".poster-facts").contains("接访时间："));
    assert_eq!(r.texts(".poster").len(), 1);
}
