//! Fixtures shared by the staff-side tests: a visit with two windows, and registrations made
//! the way the registration form makes them (encrypted with the app's keys, slots booked).

use crate::harness::{Client, TestApp, test_keys};
use chrono::{Duration, NaiveTime, Utc};
use sqlx::PgPool;
use xiafang::audit::Actor;
use xiafang::prepare::booking::{self, BookingRules, Claim, Outcome, Submission};
use xiafang::prepare::registration::{Channel, Valid};
use xiafang::prepare::registration_offer;
use xiafang::privacy;
use xiafang::web::auth::Role;

/// An 18-digit ID with the right GB 11643 check digit.
pub fn id_number(first17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let id = format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char);
    assert!(privacy::valid_id_number(&id));
    id
}

pub struct Fx {
    pub owner: PgPool,
    pub visit: i64,
    pub windows: [i64; 2],
    pub cat_build: i64,
    pub cat_law: i64,
    pub staff_id: i64,
}

pub struct Reg<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub id: &'a str,
    pub phone: &'a str,
    pub township: &'a str,
    pub persons: i32,
    pub category: i64,
    pub window: i64,
    pub status: &'a str,
}

pub async fn id_of(db: &PgPool, sql: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(arg)
        .fetch_one(db)
        .await
        .unwrap()
}

/// A visit with two hourly windows of 20 slots, as the owner.
pub async fn visit(owner: &PgPool, staff_id: i64, title: &str) -> (i64, [i64; 2]) {
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

pub async fn fixture(app: &TestApp) -> (Fx, Client) {
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    let staff_id = id_of(
        &owner,
        "SELECT id FROM users WHERE username = $1",
        "xinfang",
    )
    .await;
    let (visit, windows) = visit(&owner, staff_id, "县领导下访接访日").await;
    let cat_build = id_of(
        &owner,
        "SELECT id FROM categories WHERE name = $1 AND parent_id IS NOT NULL ORDER BY id LIMIT 1",
        "城乡建设",
    )
    .await;
    let cat_law = id_of(
        &owner,
        "SELECT id FROM categories WHERE name = $1 AND parent_id IS NOT NULL ORDER BY id LIMIT 1",
        "涉法涉诉",
    )
    .await;
    (
        Fx {
            owner,
            visit,
            windows,
            cat_build,
            cat_law,
            staff_id,
        },
        staff,
    )
}

/// A registration booked by the same domain function as the registration form (encrypted with
/// the app's keys, masks, blind index, its slots booked in its window, audited, confirmation
/// queued), then given the test's code and status. Its screening flags are dropped: each test
/// sets up the flags it is about.
pub async fn register(fx: &Fx, visit: i64, r: Reg<'_>) -> i64 {
    let keys = test_keys();
    let now = Utc::now();
    let mut tx = fx.owner.begin().await.unwrap();
    let close = NaiveTime::from_hms_opt(17, 0, 0).unwrap();
    let info = registration_offer::load_visit(&mut *tx, visit, close)
        .await
        .unwrap();
    let token = registration_offer::new_form_token(&mut *tx, visit, now)
        .await
        .unwrap();
    let valid = Valid {
        name: r.name.into(),
        id_number: id_number(r.id),
        phone: r.phone.into(),
        address: "人民路 1 号".into(),
        township: r.township.into(),
        persons: r.persons,
        representatives: if r.persons > 5 {
            vec!["代表甲".into(), "代表乙".into()]
        } else {
            vec![]
        },
        category_id: r.category,
        grievance: "道路损坏多年未修".into(),
        window_id: Some(r.window),
        waitlist: false,
        room_id: None,
    };
    let actor = Actor {
        id: Some(fx.staff_id),
        name: "xinfang".into(),
        role: Some("staff"),
        ip: None,
    };
    let submission = Submission {
        visit: &info,
        valid: &valid,
        channel: Channel::Online,
        created_by: None,
        session_hash: None,
        claim: Claim::FormToken(&token),
        actor: &actor,
    };
    let rules = BookingRules {
        screening_lookback_months: 2,
        form_token_ttl: Duration::hours(24),
    };
    let outcome = booking::submit(&mut tx, &submission, now, &keys, rules)
        .await
        .unwrap();
    let Outcome::Created {
        registration_id, ..
    } = outcome
    else {
        panic!(
            "the fixture's registration {} was not booked: {outcome:?}",
            r.code
        );
    };
    sqlx::query("UPDATE registrations SET code = $2, status = $3 WHERE id = $1")
        .bind(registration_id)
        .bind(r.code)
        .bind(r.status)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM screening_flags WHERE registration_id = $1")
        .bind(registration_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    registration_id
}

/// Download an .xlsx as `client` and read one sheet back: (status, rows of cell texts).
pub async fn xlsx(
    app: &TestApp,
    client: &Client,
    path: &str,
    sheet: &str,
) -> (u16, Vec<Vec<String>>) {
    use calamine::Reader;
    let r = client
        .http
        .get(format!("{}{path}", app.origin()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status != 200 {
        return (status, vec![]);
    }
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = r.bytes().await.unwrap();
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = book.worksheet_range(sheet).unwrap();
    (
        status,
        range
            .rows()
            .map(|row| row.iter().map(|c| c.to_string()).collect())
            .collect(),
    )
}
