//! Stage 2 排接: 自动排接 over HTTP — competent rooms (own categories or default departments), priority,
//! two-slot batches, unmatched registrations listed, moving by hand locks an assignment.

use crate::harness::{test_keys, Client, TestApp};
use chrono::{Duration, Utc};
use sqlx::PgPool;
use xiafang::privacy::{self, Field};
use xiafang::web::auth::Role;

/// An 18-digit ID with the right GB 11643 check digit.
fn id_number(first17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    let id = format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char);
    assert!(privacy::valid_id_number(&id));
    id
}


struct Fx {
    owner: PgPool,
    visit: i64,
    windows: [i64; 2],
    cat_build: i64,
    cat_law: i64,
}

struct Reg<'a> {
    code: &'a str,
    name: &'a str,
    id: &'a str,
    phone: &'a str,
    township: &'a str,
    persons: i32,
    category: i64,
    window: i64,
    status: &'a str,
}

async fn id_of(db: &PgPool, sql: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sql).bind(arg).fetch_one(db).await.unwrap()
}

/// A visit with two hourly windows of 20 slots, as the owner.
async fn visit(owner: &PgPool, staff_id: i64, title: &str) -> (i64, [i64; 2]) {
    let county: i64 = sqlx::query_scalar(
        "INSERT INTO counties (name, code) VALUES ('浦阳县', '330726') ON CONFLICT (code) DO UPDATE SET name = excluded.name RETURNING id",
    )
    .fetch_one(owner)
    .await
    .unwrap();
    let leader: i64 = sqlx::query_scalar("INSERT INTO leaders (name, title, level) VALUES ('陈建国', '县委书记', 'county') RETURNING id")
        .fetch_one(owner)
        .await
        .unwrap();
    let day = (Utc::now() + Duration::days(12)).date_naive();
    let visit: i64 = sqlx::query_scalar(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by)
         VALUES ($1, $2, 'county', $3, $4, '便民服务中心', 'announced', $5) RETURNING id",
    )
    .bind(county)
    .bind(title)
    .bind(leader)
    .bind(day)
    .bind(staff_id)
    .fetch_one(owner)
    .await
    .unwrap();
    let mut windows = [0; 2];
    for (i, hour) in [1, 2].into_iter().enumerate() {
        // 09:00 and 10:00 Asia/Shanghai
        windows[i] = sqlx::query_scalar(
            "INSERT INTO reception_windows (visit_id, starts_at, ends_at, capacity_slots)
             VALUES ($1, ($2::date + make_time($3, 0, 0)) AT TIME ZONE 'UTC', ($2::date + make_time($3 + 1, 0, 0)) AT TIME ZONE 'UTC', 20) RETURNING id",
        )
        .bind(visit)
        .bind(day)
        .bind(hour)
        .fetch_one(owner)
        .await
        .unwrap();
    }
    (visit, windows)
}

async fn fixture(app: &TestApp) -> (Fx, Client) {
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    let staff_id = id_of(&owner, "SELECT id FROM users WHERE username = $1", "xinfang").await;
    let (visit, windows) = visit(&owner, staff_id, "县领导下访接访日").await;
    let cat_build = id_of(&owner, "SELECT id FROM categories WHERE name = $1 AND parent_id IS NOT NULL ORDER BY id LIMIT 1", "城乡建设").await;
    let cat_law = id_of(&owner, "SELECT id FROM categories WHERE name = $1 AND parent_id IS NOT NULL ORDER BY id LIMIT 1", "涉法涉诉").await;
    (Fx { owner, visit, windows, cat_build, cat_law }, staff)
}

/// A registration as the registration form makes it: encrypted numbers with the app's keys,
/// masks, blind index, and its slots booked in its window.
async fn register(fx: &Fx, visit: i64, r: Reg<'_>) -> i64 {
    let keys = test_keys();
    let id = id_number(r.id);
    let sealed_id = keys.encrypt(&id);
    let sealed_phone = keys.encrypt(r.phone);
    let slots: i16 = if r.persons > 5 { 2 } else { 1 };
    let reps: Vec<String> = if r.persons > 5 { vec!["代表甲".into(), "代表乙".into()] } else { vec![] };
    let reg: i64 = sqlx::query_scalar(
        "INSERT INTO registrations (visit_id, code, channel, name, id_number_cipher, id_number_key_id, id_number_index, id_number_mask,
                                    phone_cipher, phone_key_id, phone_index, phone_mask, address, township, persons, representatives,
                                    category_id, grievance, window_id, slots, status, consent_at)
         VALUES ($1, $2, 'online', $3, $4, $5, $6, $7, $8, $9, $10, $11, '人民路 1 号', $12, $13, $14, $15, '道路损坏多年未修', $16, $17, $18, now())
         RETURNING id",
    )
    .bind(visit)
    .bind(r.code)
    .bind(r.name)
    .bind(&sealed_id.bytes)
    .bind(sealed_id.key_id)
    .bind(keys.blind_index(Field::IdNumber, &id))
    .bind(privacy::mask_id_number(&id))
    .bind(&sealed_phone.bytes)
    .bind(sealed_phone.key_id)
    .bind(keys.blind_index(Field::Phone, r.phone))
    .bind(privacy::mask_phone(r.phone))
    .bind(r.township)
    .bind(r.persons)
    .bind(reps)
    .bind(r.category)
    .bind(r.window)
    .bind(slots)
    .bind(r.status)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    sqlx::query("UPDATE reception_windows SET booked_slots = booked_slots + $2 WHERE id = $1")
        .bind(r.window)
        .bind(i32::from(slots))
        .execute(&fx.owner)
        .await
        .unwrap();
    reg
}


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
        sqlx::query_scalar::<_, i64>("INSERT INTO rooms (visit_id, name) VALUES ($1, $2) RETURNING id").bind(fx.visit).bind(name)
    };
    let room_a = room("第一接待室").fetch_one(o).await.unwrap();
    let room_b = room("第二接待室").fetch_one(o).await.unwrap();
    sqlx::query("INSERT INTO room_categories (room_id, category_id) VALUES ($1, $2)").bind(room_a).bind(fx.cat_build).execute(o).await.unwrap();
    let dept: i64 = sqlx::query_scalar("INSERT INTO departments (name, short_name) VALUES ('县司法局测试', '司法局测') RETURNING id").fetch_one(o).await.unwrap();
    sqlx::query("INSERT INTO category_departments (category_id, department_id) VALUES ($1, $2) ON CONFLICT DO NOTHING").bind(fx.cat_law).bind(dept).execute(o).await.unwrap();
    sqlx::query("INSERT INTO room_departments (room_id, department_id) VALUES ($1, $2)").bind(room_b).bind(dept).execute(o).await.unwrap();
    let cat_edu = id_of(o, "SELECT id FROM categories WHERE name = $1 AND parent_id IS NOT NULL ORDER BY id LIMIT 1", "教育医疗").await;
    let [w9, w10] = fx.windows;
    let r = |code, id, persons, category, window, status| Reg { code, name: "张三", id, phone: "13812345678", township: "仙华街道", persons, category, window, status };
    let regs = [
        register(&fx, fx.visit, r("AAAA2222", "33072619800101123", 1, fx.cat_build, w9, "confirmed")).await,
        register(&fx, fx.visit, r("BBBB3333", "33072619751212456", 7, fx.cat_build, w9, "confirmed")).await,
        register(&fx, fx.visit, r("CCCC4444", "33072619900505789", 2, fx.cat_law, w10, "confirmed")).await,
        register(&fx, fx.visit, r("DDDD5555", "33072619850303321", 1, cat_edu, w9, "confirmed")).await,
        register(&fx, fx.visit, r("EEEE6666", "33072619700707654", 1, fx.cat_build, w9, "submitted")).await,
    ];
    Day { fx, staff, room_a, room_b, regs }
}

async fn placement(o: &PgPool, reg: i64) -> (Option<i64>, Option<i32>, Option<String>, String, bool) {
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
    assert_eq!(placement(o, d.regs[1]).await, (Some(d.room_a), Some(1), Some("09:00".into()), "scheduled".into(), false));
    assert_eq!(placement(o, d.regs[0]).await, (Some(d.room_a), Some(2), Some("09:30".into()), "scheduled".into(), false));
    // Competent through its department; inside its own window.
    assert_eq!(placement(o, d.regs[2]).await, (Some(d.room_b), Some(1), Some("10:00".into()), "scheduled".into(), false));
    // No competent room: left unscheduled and listed, never dropped.
    assert_eq!(placement(o, d.regs[3]).await, (None, None, None, "confirmed".into(), false));
    assert_eq!(placement(o, d.regs[4]).await.3, "submitted");
    assert_eq!(app.audit_count("schedule.run").await, 1);

    let page = d.staff.get(&path).await;
    assert!(page.texts("tr.unmatched td").contains(&"DDDD5555".to_string()), "{}", page.body);
    assert!(page.body.contains("75.0%"), "3 of 4 matched: {}", page.body);
    assert!(page.text(&format!("#room-{}", d.room_a)).contains("BBBB3333"));
    assert!(!page.body.contains("EEEE6666"));

    // Running again gives the same schedule (the deferred queue constraint allows renumbering).
    assert_eq!(d.staff.post(&format!("{path}/run"), &[]).await.status, 303);
    assert_eq!(placement(o, d.regs[0]).await.1, Some(2));
    assert_eq!(d.staff.get("/staff/visits/999999/schedule").await.status, 404);
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
    let resp = d.staff.post(&format!("{path}/{reg}"), &[("room_id", &room_b), ("queue_number", "1")]).await;
    assert_eq!(resp.status, 422);
    assert_eq!(resp.text(&format!("#f-queue-{reg} ~ p.error")), "该接待室已有这个排队号");
    assert_eq!(resp.html().select(&scraper::Selector::parse(&format!("#f-queue-{reg}")).unwrap()).next().unwrap().value().attr("value"), Some("1"));
    let resp = d.staff.post(&format!("{path}/{reg}"), &[("room_id", &room_b), ("queue_number", "零")]).await;
    assert_eq!(resp.status, 422);
    assert!(resp.body.contains("请填写 1 到 9999 之间的排队号"));
    assert_eq!(placement(o, reg).await.0, Some(d.room_a));

    let resp = d.staff.post(&format!("{path}/{reg}"), &[("room_id", &room_b), ("queue_number", "5")]).await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    assert_eq!(placement(o, reg).await, (Some(d.room_b), Some(5), Some("09:30".into()), "scheduled".into(), true));
    assert_eq!(app.audit_count("schedule.move").await, 1);

    assert_eq!(d.staff.post(&format!("{path}/run"), &[]).await.status, 303);
    let kept = placement(o, reg).await;
    assert_eq!((kept.0, kept.1, kept.4), (Some(d.room_b), Some(5), true));
    let page = d.staff.get(&path).await;
    assert!(page.text(&format!("#room-{}", d.room_b)).contains("已锁定"));

    // Unknown registration, or another visit's: 404.
    assert_eq!(d.staff.post(&format!("{path}/999999"), &[("room_id", &room_b), ("queue_number", "6")]).await.status, 404);
    assert_eq!(d.staff.post(&format!("{path}/{}", d.regs[4]), &[("room_id", &room_b), ("queue_number", "6")]).await.status, 404);
}
