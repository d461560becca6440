//! Citizens register, get a receipt, look it up and cancel; staff register on a citizen's behalf;
//! capacity holds under concurrent submissions over two instances; notifications are delivered once.

use crate::harness::{Client, Resp, TestApp};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use xiafang::clock::{Clock, china_date};
use xiafang::notify::{self, Delivery, Outgoing, Sender};
use xiafang::web::auth::Role;

/// Rate limits high: most tests post more than a citizen would in a minute.
async fn spawn() -> TestApp {
    TestApp::spawn_with(high_limits).await
}

fn high_limits(c: &mut xiafang::config::Config) {
    c.register_per_minute = 100_000;
    c.lookup_per_minute = 100_000;
}

pub struct Visit {
    pub id: i64,
    pub date: NaiveDate,
    pub windows: Vec<i64>,
}

/// An announced visit 12 days ahead (of the app's clock) with its first notice published
/// yesterday, and windows of the given capacities from 09:00, hourly.
async fn visit(app: &TestApp, capacities: &[i32]) -> Visit {
    visit_with(app, capacities, Some(Duration::days(-1))).await
}

/// `notice_in`: when the first notice is published relative to now (None: no notice).
async fn visit_with(app: &TestApp, capacities: &[i32], notice_in: Option<Duration>) -> Visit {
    visit_on(&app.url, app.clock.now(), capacities, notice_in).await
}

/// The same on the database of `url` (as its owner), at `now`: for tests that run the binary.
pub async fn visit_on(
    url: &str,
    now: chrono::DateTime<Utc>,
    capacities: &[i32],
    notice_in: Option<Duration>,
) -> Visit {
    let owner = PgPool::connect(url).await.unwrap();
    let date = china_date(now) + Duration::days(12);
    let staff: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, display_name, role, password_hash) VALUES ('planner' || floor(random() * 1e9)::text, '计划员', 'staff', 'x') RETURNING id",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    let county: i64 = sqlx::query_scalar(
        "INSERT INTO jurisdictions (name, code) VALUES ('浦阳县', '330799') ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    let leader: i64 = sqlx::query_scalar("INSERT INTO leaders (name, title, level) VALUES ('陈建国', '县委书记', 'county') RETURNING id")
        .fetch_one(&owner)
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, address, status, created_by)
         VALUES ($1, '县领导下访接访日', 'county', $2, $3, '仙华街道便民服务中心', '人民路 88 号', $4, $5) RETURNING id",
    )
    .bind(county)
    .bind(leader)
    .bind(date)
    .bind(if notice_in.is_some() { "announced" } else { "draft" })
    .bind(staff)
    .fetch_one(&owner)
    .await
    .unwrap();
    if let Some(offset) = notice_in {
        sqlx::query(
            "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, published_at, published_by, created_by)
             VALUES ($1, 'first', '一次公告', '公告正文', ARRAY['政府网站'], $2, 'published', $3, $4, $4)",
        )
        .bind(id)
        .bind(date - Duration::days(12))
        .bind(now + offset)
        .bind(staff)
        .execute(&owner)
        .await
        .unwrap();
    }
    let mut windows = Vec::new();
    for (i, capacity) in capacities.iter().enumerate() {
        let start = Shanghai
            .from_local_datetime(&date.and_hms_opt(9 + i as u32, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let w: i64 = sqlx::query_scalar(
            "INSERT INTO reception_windows (visit_id, starts_at, ends_at, capacity_slots) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(id)
        .bind(start)
        .bind(start + Duration::hours(1))
        .bind(capacity)
        .fetch_one(&owner)
        .await
        .unwrap();
        windows.push(w);
    }
    owner.close().await;
    Visit { id, date, windows }
}

async fn category(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT id FROM categories WHERE name = $1 AND parent_id IS NOT NULL ORDER BY id LIMIT 1",
    )
    .bind(name)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// A valid ID number (GB 11643 check digit) for each n: the birth date varies with n.
pub fn id_number(n: i64) -> String {
    let birth = NaiveDate::from_ymd_opt(1960, 1, 1).unwrap() + Duration::days(n);
    let body = format!("330726{}{:03}", birth.format("%Y%m%d"), n % 1000);
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

pub fn form<'a>(
    token: &'a str,
    id: &'a str,
    category: &'a str,
    window: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("form_token", token),
        ("name", "张三"),
        ("id_number", id),
        ("phone", "13812345678"),
        ("address", "仙华街道人民路 1 号"),
        ("township", "仙华街道"),
        ("persons", "1"),
        ("representatives", ""),
        ("category_id", category),
        ("grievance", "村口道路破损，雨天积水，希望尽快修复。"),
        ("window_id", window),
        ("consent", "1"),
    ]
}

pub fn set<'a>(f: &mut Vec<(&'a str, &'a str)>, key: &'a str, value: &'a str) {
    f.retain(|(k, _)| *k != key);
    f.push((key, value));
}

async fn token(client: &Client, visit: i64) -> String {
    let page = client.get(&format!("/visits/{visit}/register")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.field_value("form_token")
}

/// Register with a fresh form; returns the response of the POST.
async fn register(client: &Client, v: &Visit, id: &str, category: i64, window: i64) -> Resp {
    let t = token(client, v.id).await;
    let (c, w) = (category.to_string(), window.to_string());
    client
        .post_verified(&format!("/visits/{}/register", v.id), &form(&t, id, &c, &w))
        .await
}

fn code_of(r: &Resp) -> String {
    assert_eq!(r.status, 303, "{}", r.body);
    r.location()
        .strip_prefix("/registrations/")
        .expect("a receipt")
        .to_owned()
}

#[tokio::test]
async fn a_citizen_registers_and_only_their_browser_sees_the_receipt() {
    let app = spawn().await;
    let v = visit(&app, &[20, 20]).await;
    let cat = category(&app, "城乡建设").await;
    let citizen = app.client();
    let page = citizen.get(&format!("/visits/{}/register", v.id)).await;
    assert_eq!(page.status, 200);
    for label in [
        "姓名",
        "身份证号",
        "手机号码",
        "现住址",
        "所属乡镇",
        "来访人数",
        "代表姓名",
        "问题类别",
        "诉求内容",
    ] {
        assert!(
            page.texts("label").iter().any(|l| l == label),
            "label {label}"
        );
    }
    assert_eq!(page.text("legend"), "接访时段");
    assert!(
        page.texts("label")
            .iter()
            .any(|l| l == "我已阅读并同意《个人信息处理告知》")
    );
    assert!(page.text("details summary").contains("个人信息处理告知"));
    assert_eq!(page.text("form .actions button[type=submit]"), "提交登记");
    assert!(page.body.contains("剩余 20 个名额"));
    assert!(
        page.texts("optgroup").len() >= 3,
        "categories grouped by class"
    );

    let r = register(&citizen, &v, &id_number(1), cat, v.windows[1]).await;
    let code = code_of(&r);
    assert!(
        code.len() >= 8
            && code
                .chars()
                .all(|c| "23456789ABCDEFGHJKMNPQRSTUVWXYZ".contains(c)),
        "{code}"
    );
    let receipt = citizen.get(r.location()).await;
    assert_eq!(receipt.status, 200);
    assert_eq!(receipt.text("#code"), code);
    assert!(receipt.body.contains("登记编号"));
    assert!(receipt.text("#window").contains("10:00—11:00"));
    assert!(receipt.body.contains("身份证原件") && receipt.body.contains("/lookup"));
    assert!(receipt.body.contains("138****5678") && !receipt.body.contains("13812345678"));

    let stranger = app.client();
    let other = stranger.get(r.location()).await;
    assert_eq!(other.status, 303);
    assert_eq!(
        other.location(),
        "/lookup",
        "another browser is sent to the lookup"
    );
    assert_eq!(
        stranger.get("/registrations/ZZZZZZZZZZ").await.location(),
        "/lookup"
    );

    let row: (String, String, i16, String, Option<Vec<u8>>) =
        sqlx::query_as("SELECT status, channel, slots, id_number_mask, submitted_session_hash FROM registrations WHERE code = $1")
            .bind(&code)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (row.0.as_str(), row.1.as_str(), row.2),
        ("submitted", "online", 1)
    );
    assert_eq!(row.3, format!("330***********{}", &id_number(1)[14..]));
    assert_eq!(row.4.map(|h| h.len()), Some(32));
    let booked: i32 =
        sqlx::query_scalar("SELECT booked_slots FROM reception_windows WHERE id = $1")
            .bind(v.windows[1])
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(booked, 1);
    let (kind, mask, body): (String, String, String) = sqlx::query_as(
        "SELECT kind, recipient_mask, body FROM notifications WHERE kind <> 'phone.code'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), mask.as_str()),
        ("registration.submitted", "138****5678")
    );
    assert!(body.contains(&code) && body.contains("10:00—11:00"));
    assert_eq!(app.audit_count("registration.create").await, 1);
    let ip: String = sqlx::query_scalar("SELECT host(ip) FROM audit_log WHERE action = 'registration.create' AND actor_name = 'anonymous'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(ip, "127.0.0.1");
}

#[tokio::test]
async fn bad_fields_get_messages_beside_them_and_keep_what_was_typed() {
    let app = spawn().await;
    let v = visit(&app, &[20]).await;
    let cat = category(&app, "城乡建设").await.to_string();
    let client = app.client();
    let t = token(&client, v.id).await;
    let w = v.windows[0].to_string();
    let mut f = form(&t, "110105194912310021", &cat, &w);
    set(&mut f, "phone", "12812345678");
    set(&mut f, "persons", "8");
    set(&mut f, "address", "仙华街道<b>1</b>号");
    set(&mut f, "consent", "");
    let r = client.post(&format!("/visits/{}/register", v.id), &f).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.field_error("id_number").contains("身份证号不正确"),
        "{}",
        r.field_error("id_number")
    );
    assert!(r.field_error("phone").contains("11 位"));
    assert!(r.field_error("representatives").contains("超过 5 人"));
    assert!(r.field_error("consent").contains("个人信息处理告知"));
    assert_eq!(r.field_value("id_number"), "110105194912310021");
    assert_eq!(r.field_value("phone"), "12812345678");
    assert_eq!(r.field_value("persons"), "8");
    assert_eq!(r.field_value("address"), "仙华街道<b>1</b>号");
    assert_eq!(
        r.field_value("grievance"),
        "村口道路破损，雨天积水，希望尽快修复。"
    );
    assert_eq!(
        r.texts(&format!("input[name=window_id][value=\"{w}\"][checked]"))
            .len(),
        1,
        "the window stays chosen"
    );
    assert_eq!(
        r.texts(&format!("option[value=\"{cat}\"][selected]")).len(),
        1
    );
    assert_eq!(
        r.field_value("form_token"),
        t,
        "the same form token: nothing was used"
    );

    // Representatives given, the rest fixed: it goes through with two slots.
    let id = id_number(5);
    let mut f = form(&t, &id, &cat, &w);
    set(&mut f, "persons", "8");
    set(&mut f, "representatives", "张三、李四\n王五");
    let r = client
        .post_verified(&format!("/visits/{}/register", v.id), &f)
        .await;
    let code = code_of(&r);
    let (reg, slots, cipher, key_id): (i64, i16, Vec<u8>, i16) = sqlx::query_as(
        "SELECT id, slots, representatives_cipher, representatives_key_id FROM registrations WHERE code = $1",
    )
    .bind(&code)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let reps = crate::harness::test_keys()
        .open_representatives(reg, None, Some(cipher), Some(key_id))
        .unwrap();
    assert_eq!(slots, 2);
    assert_eq!(reps, ["张三", "李四", "王五"]);
    assert_eq!(app.audit_count("registration.create").await, 1);
}

#[tokio::test]
async fn registration_outside_the_open_period_is_refused_with_the_dates() {
    let app = spawn().await;
    let cat = category(&app, "城乡建设").await;
    // Not announced: no first notice yet.
    let draft = visit_with(&app, &[20], None).await;
    let client = app.client();
    let page = client.get(&format!("/visits/{}/register", draft.id)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text(".closed-message").contains("尚未发布公告"),
        "{}",
        page.body
    );
    assert!(
        page.texts("form[method=post]").is_empty(),
        "no form to fill"
    );
    let close = format!(
        "{} 17:00",
        xiafang::clock::cn_date(draft.date.pred_opt().unwrap())
    );
    assert!(
        page.text(".closed-message").contains(&close),
        "the close time: {}",
        page.text(".closed-message")
    );
    let c = cat.to_string();
    let w = draft.windows[0].to_string();
    let r = client
        .post(
            &format!("/visits/{}/register", draft.id),
            &form("x", &id_number(1), &c, &w),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.text(".closed-message").contains("登记尚未开始"));

    // First notice due tomorrow: registration opens then.
    let later = visit_with(&app, &[20], Some(Duration::days(1))).await;
    let page = client.get(&format!("/visits/{}/register", later.id)).await;
    assert!(
        page.text(".closed-message").contains("登记尚未开始"),
        "{}",
        page.text(".closed-message")
    );

    // Open now; after 17:00 the day before, closed.
    let v = visit(&app, &[20]).await;
    let t = token(&client, v.id).await;
    let close_at = Shanghai
        .from_local_datetime(&v.date.pred_opt().unwrap().and_hms_opt(17, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc);
    app.clock
        .advance(close_at - app.clock.now() + Duration::minutes(1));
    let w = v.windows[0].to_string();
    let r = client
        .post(
            &format!("/visits/{}/register", v.id),
            &form(&t, &id_number(2), &c, &w),
        )
        .await;
    assert_eq!(r.status, 403);
    let message = r.text(".closed-message");
    assert!(
        message.contains("已于")
            && message.contains(&format!(
                "{} 17:00",
                xiafang::clock::cn_date(v.date.pred_opt().unwrap())
            )),
        "{message}"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_double_submit_makes_one_registration_and_the_same_receipt() {
    let app = spawn().await;
    let v = visit(&app, &[20]).await;
    let c = category(&app, "城乡建设").await.to_string();
    let client = app.client();
    let t = token(&client, v.id).await;
    let w = v.windows[0].to_string();
    let id = id_number(3);
    let mut f = form(&t, &id, &c, &w);
    let path = format!("/visits/{}/register", v.id);
    let sms = client.request_code(&path, &f).await;
    f.push(("code", &sms));
    // Twice at the same moment, then once more.
    let (a, b) = tokio::join!(client.post(&path, &f), client.post(&path, &f));
    let again = client.post(&path, &f).await;
    let code = code_of(&a);
    assert_eq!(code_of(&b), code);
    assert_eq!(code_of(&again), code);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let booked: i32 = sqlx::query_scalar("SELECT booked_slots FROM reception_windows")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(booked, 1);
    assert_eq!(
        client.get(&format!("/registrations/{code}")).await.status,
        200
    );

    // A token nobody issued: the form again with a fresh token, nothing stored.
    let r = client
        .post(&path, &form("forged", &id_number(4), &c, &w))
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text("#problem").contains("页面已过期"));
    assert_ne!(r.field_value("form_token"), "forged");
    assert_eq!(r.field_value("name"), "张三");
}

#[tokio::test]
async fn lookup_says_the_same_for_a_wrong_phone_and_an_unknown_code() {
    let app = spawn().await;
    let v = visit(&app, &[20]).await;
    let cat = category(&app, "城乡建设").await;
    let code = code_of(&register(&app.client(), &v, &id_number(7), cat, v.windows[0]).await);
    let anyone = app.client();
    let page = anyone.get("/lookup").await;
    assert!(
        page.texts("label")
            .contains(&"登记编号或查询码".to_string())
            && page.texts("label").contains(&"手机号码后四位".to_string())
    );
    assert_eq!(page.text("form button"), "查询");

    let ok = anyone
        .post(
            "/lookup",
            &[("code", &code.to_lowercase()), ("phone_last4", "5678")],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.text("#status"), "已提交，待审核");
    assert!(ok.text("#window").contains("09:00—10:00"));
    assert!(
        ok.texts("#cases").is_empty(),
        "no case section before any case"
    );

    let wrong = anyone
        .post("/lookup", &[("code", &code), ("phone_last4", "0000")])
        .await;
    let unknown = anyone
        .post(
            "/lookup",
            &[("code", "ZZZZZZZZZZ"), ("phone_last4", "5678")],
        )
        .await;
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.field_error("code"), unknown.field_error("code"));
    assert!(!wrong.field_error("code").is_empty());
    assert!(!wrong.body.contains("已提交"));
}

#[tokio::test]
async fn a_full_window_offers_its_waiting_list_and_a_cancellation_promotes_the_first() {
    let app = spawn().await;
    let v = visit(&app, &[1, 5]).await;
    let cat = category(&app, "城乡建设").await;
    let first = app.client();
    let code_a = code_of(&register(&first, &v, &id_number(10), cat, v.windows[0]).await);

    // The second citizen had the form open before the window filled.
    let second = app.client();
    let t = token(&second, v.id).await;
    let (c, w) = (cat.to_string(), v.windows[0].to_string());
    let id_b = id_number(11);
    let mut f = form(&t, &id_b, &c, &w);
    set(&mut f, "phone", "13900001111");
    let path = format!("/visits/{}/register", v.id);
    let full = second.post_verified(&path, &f).await;
    assert_eq!(full.status, 409, "{}", full.body);
    assert!(full.text("#problem").contains("已满"));
    assert_eq!(full.text("#full-offer button"), "加入候补");
    assert!(
        full.body.contains("剩余 5 个名额"),
        "another window with places is offered"
    );
    assert_eq!(full.field_value("name"), "张三");
    let page = second.get(&path).await;
    assert!(page.body.contains("已满"), "the full window is marked");
    assert_eq!(
        page.texts(&format!("input[name=window_id][value=\"{w}\"]"))
            .len(),
        0,
        "and cannot be booked"
    );

    let w_join = v.windows[0].to_string();
    set(&mut f, "join_waitlist", &w_join);
    let joined = second.post_verified(&path, &f).await;
    let code_b = code_of(&joined);
    let receipt = second.get(joined.location()).await;
    assert!(receipt.text("#window").contains("候补"));
    let status: String = sqlx::query_scalar("SELECT status FROM registrations WHERE code = $1")
        .bind(&code_b)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "waitlisted");
    let booked: i32 =
        sqlx::query_scalar("SELECT booked_slots FROM reception_windows WHERE id = $1")
            .bind(v.windows[0])
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(booked, 1, "a waiting registration books nothing");

    // The first cancels from the status page: the waiting one moves up.
    let status_page = first
        .post("/lookup", &[("code", &code_a), ("phone_last4", "5678")])
        .await;
    assert_eq!(status_page.text("#status"), "已提交，待审核");
    let cancel = first
        .post(
            "/lookup/cancel",
            &[
                ("code", &code_a),
                ("phone_last4", "5678"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(cancel.status, 303);
    assert!(first.get("/lookup").await.body.contains("已取消"));
    let forged = app
        .client()
        .post(
            "/lookup/cancel",
            &[("code", &code_b), ("phone_last4", "5678")],
        )
        .await;
    assert_eq!(
        forged.status, 404,
        "cancelling needs the right phone digits"
    );

    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT code, status FROM registrations ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            (code_a.clone(), "cancelled".to_string()),
            (code_b.clone(), "submitted".to_string())
        ]
    );
    let promoted: bool = sqlx::query_scalar("SELECT promoted_at IS NOT NULL FROM waitlist")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(promoted);
    let booked: i32 =
        sqlx::query_scalar("SELECT booked_slots FROM reception_windows WHERE id = $1")
            .bind(v.windows[0])
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(booked, 1);
    let (mask, body): (String, String) = sqlx::query_as(
        "SELECT recipient_mask, body FROM notifications WHERE kind = 'registration.promoted'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(mask, "139****1111");
    assert!(body.contains(&code_b));
    assert_eq!(app.audit_count("registration.cancel").await, 1);
    let b_status = second
        .post("/lookup", &[("code", &code_b), ("phone_last4", "1111")])
        .await;
    assert_eq!(b_status.text("#status"), "已提交，待审核");
}

#[tokio::test]
async fn id_numbers_are_stored_encrypted_with_one_blind_index_and_screened() {
    let app = spawn().await;
    let v = visit(&app, &[20]).await;
    let legal = category(&app, "涉法涉诉").await;
    let id = id_number(42);
    let a = code_of(&register(&app.client(), &v, &id, legal, v.windows[0]).await);
    let b = code_of(&register(&app.client(), &v, &id, legal, v.windows[0]).await);
    let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT id_number_cipher, id_number_index, phone_cipher FROM registrations ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_ne!(rows[0].0, rows[1].0, "two different ciphertexts");
    assert_eq!(rows[0].1, rows[1].1, "one blind index");
    for (cipher, _, phone) in &rows {
        assert!(!cipher.windows(id.len()).any(|w| w == id.as_bytes()));
        assert!(!phone.windows(11).any(|w| w == b"13812345678"));
    }
    let dump: String = sqlx::query_scalar("SELECT string_agg(r::text, ' ') FROM registrations r")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        !dump.contains(&id) && !dump.contains(&id[6..14]),
        "no clear ID or birth date anywhere in the rows"
    );
    let logged: String = sqlx::query_scalar(
        "SELECT string_agg(detail::text || body, ' ') FROM audit_log, notifications",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!logged.contains(&id));

    let flags = |code: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT f.kind FROM screening_flags f JOIN registrations r ON r.id = f.registration_id WHERE r.code = $1 AND f.decision = 'pending' ORDER BY f.kind",
            )
            .bind(code)
            .fetch_all(&db)
            .await
            .unwrap()
        }
    };
    assert_eq!(flags(a).await, ["legal_channel"]);
    assert_eq!(flags(b).await, ["duplicate_in_visit", "legal_channel"]);

    // The same person in another visit within two months.
    let other = visit(&app, &[20]).await;
    let cat = category(&app, "城乡建设").await;
    let c = code_of(&register(&app.client(), &other, &id, cat, other.windows[0]).await);
    assert_eq!(flags(c).await, ["recent_or_open_case"]);
}

#[tokio::test]
async fn staff_register_on_a_citizens_behalf_with_the_same_rules() {
    let app = spawn().await;
    let v = visit(&app, &[1]).await;
    let cat = category(&app, "劳动社保").await.to_string();
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let path = format!("/staff/visits/{}/registrations/new", v.id);
    let page = staff.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.texts("label")
            .iter()
            .any(|l| l == "已告知个人信息处理规则")
    );
    assert!(!page.body.contains("我已阅读并同意"));
    let t = page.field_value("form_token");
    let w = v.windows[0].to_string();
    let mut f = form(&t, "330726199001011230", &cat, &w);
    set(&mut f, "consent", "");
    let bad = staff.post(&path, &f).await;
    assert_eq!(bad.status, 422);
    assert!(bad.field_error("id_number").contains("身份证号不正确"));
    assert!(bad.field_error("informed").contains("告知"));

    let id = id_number(77);
    let mut f = form(&t, &id, &cat, &w);
    set(&mut f, "informed", "1");
    let ok = staff.post(&path, &f).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let flash = staff.get(ok.location()).await;
    let (code, channel, created_by): (String, String, Option<i64>) =
        sqlx::query_as("SELECT code, channel, created_by FROM registrations")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(flash.text(".flash").contains(&code));
    assert_eq!(channel, "phone");
    assert!(created_by.is_some());
    // No SMS code for a caller registered by staff: the audit says so.
    let exempt: serde_json::Value = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'registration.phone_exempt'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(exempt["exemption"], "on_behalf");

    // No capacity exemption for staff.
    let t = staff.get(&path).await.field_value("form_token");
    let id2 = id_number(78);
    let mut f = form(&t, &id2, &cat, &w);
    set(&mut f, "informed", "1");
    assert_eq!(staff.post(&path, &f).await.status, 409);
    assert_eq!(
        app.client().get(&path).await.status,
        303,
        "anonymous → login"
    );
}

#[tokio::test]
async fn too_many_posts_from_one_address_get_429() {
    let app = TestApp::spawn_with(|c| {
        c.register_per_minute = 2;
        c.lookup_per_minute = 3;
    })
    .await;
    let v = visit(&app, &[20]).await;
    let client = app.client();
    let path = format!("/visits/{}/register", v.id);
    for _ in 0..2 {
        assert_eq!(client.post(&path, &[("name", "x")]).await.status, 422);
    }
    let limited = client.post(&path, &[("name", "x")]).await;
    assert_eq!(limited.status, 429);
    let retry: i64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert!(limited.body.contains("操作过于频繁"));
    for _ in 0..3 {
        assert_eq!(
            client
                .post("/lookup", &[("code", "AAAAAAAA"), ("phone_last4", "1234")])
                .await
                .status,
            404
        );
    }
    assert_eq!(
        client
            .post("/lookup", &[("code", "AAAAAAAA"), ("phone_last4", "1234")])
            .await
            .status,
        429
    );
    app.clock.advance(Duration::minutes(1));
    assert_eq!(
        client
            .post("/lookup", &[("code", "AAAAAAAA"), ("phone_last4", "1234")])
            .await
            .status,
        404,
        "a new minute"
    );

    // Ended windows are purged; the current one keeps counting.
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rate_limits")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let before = rows().await;
    let purged = xiafang::web::rate_limit::purge(&app.db, app.clock.now())
        .await
        .unwrap() as i64;
    assert!(purged >= 1);
    assert_eq!(rows().await, before - purged);
    assert_eq!(rows().await, 1, "only this minute's lookup counter is left");
}

/// DESIGN §9: 200 concurrent registrations into a window of 20, over two instances on one database.
#[tokio::test]
async fn two_hundred_concurrent_registrations_never_overbook_a_window_of_twenty() {
    let one = spawn().await;
    let two = TestApp::start_on(one.url.clone(), high_limits).await;
    let v = visit(&one, &[20, 20]).await;
    let cat = category(&one, "城乡建设").await;
    let path = format!("/visits/{}/register", v.id);
    // Each citizen opens the form first (own browser, own token).
    let mut prepared = Vec::new();
    for i in 0..200 {
        let client = if i % 2 == 0 {
            one.client()
        } else {
            two.client()
        };
        let t = token(&client, v.id).await;
        prepared.push((client, t, id_number(1000 + i), format!("1390000{i:04}")));
    }
    let w = v.windows[0].to_string();
    let c = cat.to_string();
    let mut forms: Vec<_> = prepared
        .iter()
        .map(|(_, t, id, phone)| {
            let mut f = form(t, id, &c, &w);
            set(&mut f, "phone", phone);
            f
        })
        .collect();
    // Each has the SMS code for their phone first.
    let mut codes = Vec::new();
    for ((client, ..), f) in prepared.iter().zip(&forms) {
        codes.push(client.request_code(&path, f).await);
    }
    for (f, code) in forms.iter_mut().zip(&codes) {
        f.push(("code", code.as_str()));
    }
    let answers = futures_join_all(
        prepared
            .iter()
            .zip(&forms)
            .map(|((client, ..), f)| client.post(&path, f)),
    )
    .await;
    let mut receipts = 0;
    let mut full = 0;
    for r in &answers {
        assert!(r.status != 429 && r.status < 500, "{} {}", r.status, r.body);
        match r.status {
            303 => {
                assert!(r.location().starts_with("/registrations/"));
                receipts += 1;
            }
            409 => {
                assert!(
                    r.text("#full-offer button") == "加入候补" && r.body.contains("剩余 20 个名额"),
                    "the waiting list and another window"
                );
                full += 1;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!((receipts, full), (20, 180));
    let booked: i32 =
        sqlx::query_scalar("SELECT booked_slots FROM reception_windows WHERE id = $1")
            .bind(v.windows[0])
            .fetch_one(&one.db)
            .await
            .unwrap();
    assert_eq!(booked, 20);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&one.db)
        .await
        .unwrap();
    assert_eq!(n, 20);
}

/// Poll every future together (no extra dependency): all 200 requests are in flight at once.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

struct Counting(Arc<AtomicUsize>, bool);

impl Sender for Counting {
    async fn send(&self, _: &Outgoing) -> anyhow::Result<Option<String>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        if self.1 {
            anyhow::bail!("gateway down")
        } else {
            Ok(None)
        }
    }
}

#[tokio::test]
async fn a_queued_notification_is_sent_once_and_failures_back_off() {
    let app = spawn().await;
    let v = visit(&app, &[20]).await;
    let cat = category(&app, "城乡建设").await;
    for i in 0..3 {
        code_of(&register(&app.client(), &v, &id_number(300 + i), cat, v.windows[0]).await);
    }
    // The rows were queued at the database's now(); the manual clock catches up. (Reading the
    // SMS codes delivered what was queued before each; the last confirmation is still due.)
    app.clock.advance(Duration::minutes(1));
    let due: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE status = 'pending'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(due >= 1);
    let d = Delivery::from_config(&app.state.config);
    let sent = Arc::new(AtomicUsize::new(0));
    let (a, b) = (Counting(sent.clone(), false), Counting(sent.clone(), false));
    let (x, y) = tokio::join!(
        notify::deliver_batch(&app.db, app.clock.as_ref(), &app.state.keys, &a, &d),
        notify::deliver_batch(&app.db, app.clock.as_ref(), &app.state.keys, &b, &d)
    );
    assert_eq!(
        x.unwrap() + y.unwrap(),
        due as usize,
        "each claimed by one instance"
    );
    assert_eq!(sent.load(Ordering::SeqCst), due as usize);
    assert_eq!(
        notify::deliver_batch(&app.db, app.clock.as_ref(), &app.state.keys, &a, &d)
            .await
            .unwrap(),
        0,
        "nothing twice"
    );
    let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM notifications")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(statuses.iter().all(|s| s == "sent"));

    // A failing gateway: retried later, then given up.
    code_of(&register(&app.client(), &v, &id_number(400), cat, v.windows[0]).await);
    app.clock.advance(Duration::minutes(1));
    let down = Counting(Arc::new(AtomicUsize::new(0)), true);
    assert_eq!(
        notify::deliver_batch(&app.db, app.clock.as_ref(), &app.state.keys, &down, &d)
            .await
            .unwrap(),
        1
    );
    let (attempts, wait): (i32, f64) = sqlx::query_as(
        "SELECT attempts, extract(epoch FROM next_attempt_at - $1)::float8 FROM notifications WHERE status = 'pending'",
    )
    .bind(app.clock.now())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(attempts, 1);
    assert!(
        (wait - d.backoff_base.num_seconds() as f64).abs() < 1.0,
        "{wait}"
    );
    assert_eq!(
        notify::deliver_batch(&app.db, app.clock.as_ref(), &app.state.keys, &down, &d)
            .await
            .unwrap(),
        0,
        "not before its time"
    );
    for _ in 1..d.max_attempts {
        app.clock.advance(d.backoff_max + Duration::seconds(1));
        notify::deliver_batch(&app.db, app.clock.as_ref(), &app.state.keys, &down, &d)
            .await
            .unwrap();
    }
    let (status, attempts): (String, i32) =
        sqlx::query_as("SELECT status, attempts FROM notifications ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("failed", d.max_attempts));
}

#[tokio::test]
async fn added_capacity_goes_to_the_waiting_list_first() {
    let app = spawn().await;
    let v = visit(&app, &[1]).await;
    let cat = category(&app, "城乡建设").await;
    register(&app.client(), &v, &id_number(20), cat, v.windows[0]).await;
    let waiting = app.client();
    let t = token(&waiting, v.id).await;
    let (c, w) = (cat.to_string(), v.windows[0].to_string());
    let id = id_number(21);
    let mut f = form(&t, &id, &c, &w);
    set(&mut f, "join_waitlist", &w);
    let code = code_of(
        &waiting
            .post_verified(&format!("/visits/{}/register", v.id), &f)
            .await,
    );

    let staff = app
        .signed_in("xinfang", xiafang::web::auth::Role::Staff)
        .await;
    let raised = staff
        .post(
            &format!("/staff/visits/{}/windows/{}", v.id, v.windows[0]),
            &[("capacity", "2")],
        )
        .await;
    assert_eq!(raised.status, 303, "{}", raised.body);
    let status: String = sqlx::query_scalar("SELECT status FROM registrations WHERE code = $1")
        .bind(&code)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        status, "submitted",
        "the added place went to the waiting registration"
    );
    let booked: i32 =
        sqlx::query_scalar("SELECT booked_slots FROM reception_windows WHERE id = $1")
            .bind(v.windows[0])
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(booked, 2);
}

/// The outbox row of the last code sent, and its phone code row: the code is stored only hashed.
async fn stored_code(app: &TestApp) -> (Option<chrono::DateTime<Utc>>, i32) {
    sqlx::query_as("SELECT used_at, wrong_tries FROM phone_codes ORDER BY id DESC LIMIT 1")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

fn another(code: &str) -> String {
    if code == "000000" { "111111" } else { "000000" }.to_owned()
}

#[tokio::test]
async fn a_registration_needs_the_sms_code_beside_the_phone_and_keeps_every_value() {
    let app = spawn().await;
    let v = visit(&app, &[20]).await;
    let (c, w) = (
        category(&app, "城乡建设").await.to_string(),
        v.windows[0].to_string(),
    );
    let client = app.client();
    let page = client.get(&format!("/visits/{}/register", v.id)).await;
    assert_eq!(
        page.text("button[name=action][value=send_code]"),
        "获取验证码"
    );
    let code_input = "input[name=code][inputmode=numeric][autocomplete=one-time-code]";
    assert_eq!(page.texts(code_input).len(), 1);
    assert!(page.texts("label").contains(&"验证码".to_string()));
    let t = page.field_value("form_token");
    let id = id_number(501);
    let path = format!("/visits/{}/register", v.id);
    let mut f = form(&t, &id, &c, &w);
    let kept = |r: &Resp| {
        assert_eq!(r.field_value("name"), "张三");
        assert_eq!(r.field_value("id_number"), id);
        assert_eq!(r.field_value("phone"), "13812345678");
        assert_eq!(r.field_value("address"), "仙华街道人民路 1 号");
        assert_eq!(
            r.field_value("grievance"),
            "村口道路破损，雨天积水，希望尽快修复。"
        );
        assert_eq!(
            r.texts(&format!("input[name=window_id][value=\"{w}\"][checked]"))
                .len(),
            1
        );
        assert_eq!(
            r.texts(&format!("option[value=\"{c}\"][selected]")).len(),
            1
        );
        assert_eq!(r.texts("input[name=consent][checked]").len(), 1);
        assert_eq!(r.field_value("form_token"), t);
    };

    // Without a code: refused beside the code field, everything kept.
    let r = client.post(&path, &f).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.field_error("code").contains("获取验证码"),
        "{}",
        r.field_error("code")
    );
    kept(&r);

    // 获取验证码: the form again, everything kept, and where the code went.
    let mut ask = f.clone();
    ask.push(("action", "send_code"));
    let sent = client.post(&path, &ask).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(
        sent.text("#code-sent"),
        "验证码已发送至 138****5678，5 分钟内有效"
    );
    kept(&sent);
    let code = app.sms_code("13812345678").await;
    let (used, tries) = stored_code(&app).await;
    assert_eq!((used, tries), (None, 0));
    let hash: Vec<u8> = sqlx::query_scalar("SELECT code_hash FROM phone_codes")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        !hash.windows(6).any(|w| w == code.as_bytes()),
        "stored hashed"
    );

    // A wrong code: refused, counted, everything kept (the typed code too).
    let wrong = another(&code);
    f.push(("code", &wrong));
    let r = client.post(&path, &f).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("code"), "验证码不正确，还可以再试 4 次");
    assert_eq!(r.field_value("code"), wrong);
    kept(&r);
    assert_eq!(stored_code(&app).await.1, 1);

    // The right one: registered, and the code is used up by it.
    set(&mut f, "code", &code);
    let first = code_of(&client.post(&path, &f).await);
    assert!(stored_code(&app).await.0.is_some());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    // The same code on another form: used.
    let t2 = token(&client, v.id).await;
    let id2 = id_number(502);
    let mut f2 = form(&t2, &id2, &c, &w);
    f2.push(("code", &code));
    let r = client.post(&path, &f2).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("code"), "该验证码已使用，请重新获取");
    assert_ne!(
        code_of(&client.post_verified(&path, &form(&t2, &id2, &c, &w)).await),
        first
    );

    // Five minutes on, a code has expired.
    let t3 = token(&client, v.id).await;
    let id3 = id_number(503);
    let f3 = form(&t3, &id3, &c, &w);
    let late = client.request_code(&path, &f3).await;
    app.clock.advance(Duration::minutes(5));
    let mut f3 = f3.clone();
    f3.push(("code", &late));
    let r = client.post(&path, &f3).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("code"), "验证码已过期，请重新获取");
}

#[tokio::test]
async fn the_sixth_try_on_one_code_is_refused_even_with_the_right_code() {
    let app = spawn().await;
    let v = visit(&app, &[20]).await;
    let (c, w) = (
        category(&app, "城乡建设").await.to_string(),
        v.windows[0].to_string(),
    );
    let client = app.client();
    let t = token(&client, v.id).await;
    let id = id_number(511);
    let path = format!("/visits/{}/register", v.id);
    let mut f = form(&t, &id, &c, &w);
    let code = client.request_code(&path, &f).await;
    let wrong = another(&code);
    f.push(("code", &wrong));
    for left in (0..5).rev() {
        let r = client.post(&path, &f).await;
        assert_eq!(r.status, 422);
        assert!(
            r.field_error("code").contains("不正确"),
            "{}",
            r.field_error("code")
        );
        if left > 0 {
            assert!(r.field_error("code").contains(&format!("{left} 次")));
        }
    }
    set(&mut f, "code", &code);
    let sixth = client.post(&path, &f).await;
    assert_eq!(sixth.status, 422);
    assert_eq!(sixth.field_error("code"), "验证码错误次数过多，请重新获取");
    assert_eq!(stored_code(&app).await, (None, 5));
    // A new code works.
    code_of(&client.post_verified(&path, &form(&t, &id, &c, &w)).await);
}

#[tokio::test]
async fn codes_per_phone_and_per_ip_are_limited_with_429_and_retry_after() {
    let app = TestApp::spawn_with(|c| {
        high_limits(c);
        c.phone_codes.interval = Duration::minutes(1);
        c.phone_codes.per_phone_per_day = 2;
        c.phone_codes.per_ip_per_hour = 3;
    })
    .await;
    // The day's limit ends at midnight in China: start well clear of it (the clock is real time).
    let to_midnight = |now: DateTime<Utc>| {
        let tomorrow = china_date(now).succ_opt().unwrap().and_hms_opt(0, 0, 0);
        Shanghai
            .from_local_datetime(&tomorrow.unwrap())
            .unwrap()
            .with_timezone(&Utc)
            - now
    };
    if to_midnight(app.clock.now()) < Duration::minutes(10) {
        app.clock
            .advance(to_midnight(app.clock.now()) + Duration::minutes(1));
    }
    let v = visit(&app, &[20]).await;
    let (c, w) = (
        category(&app, "城乡建设").await.to_string(),
        v.windows[0].to_string(),
    );
    let client = app.client();
    let t = token(&client, v.id).await;
    let id = id_number(521);
    let path = format!("/visits/{}/register", v.id);
    let ask = |phone: &'static str| {
        let mut f = form(&t, &id, &c, &w);
        set(&mut f, "phone", phone);
        f.push(("action", "send_code"));
        f
    };
    let retry_after =
        |r: &Resp| -> i64 { r.headers["retry-after"].to_str().unwrap().parse().unwrap() };
    assert_eq!(client.post(&path, &ask("13812345678")).await.status, 200);

    // Once a minute per phone.
    let soon = client.post(&path, &ask("13812345678")).await;
    assert_eq!(soon.status, 429, "{}", soon.body);
    assert_eq!(retry_after(&soon), 60);
    assert_eq!(
        soon.field_error("phone"),
        "验证码已发送，每个手机号码每分钟只能获取一次，请 60 秒后再试"
    );
    assert_eq!(soon.field_value("name"), "张三", "the form, kept");
    app.clock.advance(Duration::seconds(61));
    assert_eq!(client.post(&path, &ask("13812345678")).await.status, 200);

    // Two a day per phone (here): the third waits for midnight in China.
    app.clock.advance(Duration::seconds(61));
    let today = client.post(&path, &ask("13812345678")).await;
    assert_eq!(today.status, 429);
    let midnight = to_midnight(app.clock.now()).num_seconds();
    assert!(
        (retry_after(&today) - midnight).abs() <= 1,
        "{} {midnight}",
        retry_after(&today)
    );
    assert!(
        today
            .field_error("phone")
            .contains("今天获取验证码已达 2 次"),
        "{}",
        today.field_error("phone")
    );

    // Three an hour per IP (here): the refusals above were not counted.
    assert_eq!(client.post(&path, &ask("13900001111")).await.status, 200);
    let ip = client.post(&path, &ask("13700002222")).await;
    assert_eq!(ip.status, 429);
    assert!((1..=3600).contains(&retry_after(&ip)));
    assert!(
        ip.field_error("phone")
            .contains("您所在的网络获取验证码过于频繁"),
        "{}",
        ip.field_error("phone")
    );
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM phone_codes")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sent, 3);
}
