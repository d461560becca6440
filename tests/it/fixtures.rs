//! Fixtures shared by the staff-side tests: a visit with two windows, registrations made the way
//! the registration form makes them (encrypted with the app's keys, slots booked), and cases made
//! the way the app makes them (`assign`, then the transitions).

use crate::harness::{Client, PASSWORD, TestApp, test_keys};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use sqlx::PgPool;
use xiafang::audit::Actor;
use xiafang::followup::assign::{Assigned, NewCase, assign};
use xiafang::followup::documents::rules::Kind;
use xiafang::followup::documents::store;
use xiafang::followup::state::Action;
use xiafang::followup::transitions::{self, By, Input, Outcome, Rating, Request};
use xiafang::prepare::booking::{self, BookingRules, Claim, Exemption, PhoneProof, Submission};
use xiafang::prepare::registration::{Channel, Valid};
use xiafang::prepare::registration_offer;
use xiafang::privacy;
use xiafang::web::auth::{CurrentUser, Role};

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
        "INSERT INTO jurisdictions (name, code) VALUES ('浦阳县', '330726') ON CONFLICT (code) DO UPDATE SET name = excluded.name RETURNING id",
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
    book(fx, visit, r, false).await
}

/// As `register`, keeping the flags the booking's screening raised.
pub async fn register_keeping_flags(fx: &Fx, visit: i64, r: Reg<'_>) -> i64 {
    book(fx, visit, r, true).await
}

async fn book(fx: &Fx, visit: i64, r: Reg<'_>, keep_flags: bool) -> i64 {
    let keys = test_keys();
    let now = Utc::now();
    let mut tx = fx.owner.begin().await.unwrap();
    let close = NaiveTime::from_hms_opt(17, 0, 0).unwrap();
    let info = registration_offer::load_visit(&mut *tx, visit, close)
        .await
        .unwrap();
    let token = xiafang::prepare::form_token::issue(&keys, visit, now, Duration::hours(2));
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
        jurisdiction_id: None,
    };
    let submission = Submission {
        visit: &info,
        valid: &valid,
        channel: Channel::Online,
        created_by: None,
        session_hash: None,
        claim: Claim::FormToken(&token),
        actor: &actor,
        // Set up by staff: no SMS code.
        phone_proof: PhoneProof::Exempt(Exemption::OnBehalf),
    };
    let rules = BookingRules {
        screening_lookback_months: 2,
        phone_code_max_wrong: 5,
    };
    let outcome = booking::submit(&mut tx, &submission, now, &keys, rules)
        .await
        .unwrap();
    let booking::Outcome::Created {
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
    sqlx::query("DELETE FROM screening_flags WHERE registration_id = $1 AND NOT $2")
        .bind(registration_id)
        .bind(keep_flags)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    registration_id
}

/// Move an account (and a handler's department, a leader's leader) to jurisdiction `j`.
pub async fn place(owner: &PgPool, username: &str, j: i64) {
    sqlx::query("UPDATE users SET jurisdiction_id = $2 WHERE username = $1")
        .bind(username)
        .bind(j)
        .execute(owner)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE departments SET jurisdiction_id = $2 WHERE id = (SELECT department_id FROM users WHERE username = $1)",
    )
    .bind(username)
    .bind(j)
    .execute(owner)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE leaders SET county_id = $2 WHERE id = (SELECT leader_id FROM users WHERE username = $1)",
    )
    .bind(username)
    .bind(j)
    .execute(owner)
    .await
    .unwrap();
}

/// An account of `role` in the jurisdiction with `code` (its department or leader there too),
/// signed in through the login form.
pub async fn member(
    app: &TestApp,
    owner: &PgPool,
    username: &str,
    role: Role,
    code: &str,
) -> Client {
    app.user(username, role).await;
    let j = id_of(owner, "SELECT id FROM jurisdictions WHERE code = $1", code).await;
    place(owner, username, j).await;
    let client = app.client();
    let r = client.login(username, PASSWORD).await;
    assert_eq!(r.status, 303, "{username} signs in: {}", r.body);
    client
}

/// Every sheet of an .xlsx export (a POST with form `body`) as text; empty unless 200.
pub async fn export_text(app: &TestApp, client: &Client, path: &str, body: &str) -> (u16, String) {
    let r = client
        .http
        .post(format!("{}{path}", app.origin()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    workbook_text(r).await
}

/// Every sheet of a workbook answer as text, one line per row; empty unless 200.
pub async fn workbook_text(r: reqwest::Response) -> (u16, String) {
    use calamine::Reader;
    let status = r.status().as_u16();
    if status != 200 {
        return (status, String::new());
    }
    let bytes = r.bytes().await.unwrap();
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut text = String::new();
    for name in book.sheet_names() {
        for row in book.worksheet_range(&name).unwrap().rows() {
            for c in row {
                text.push_str(&c.to_string());
                text.push('\t');
            }
            text.push('\n');
        }
    }
    (status, text)
}

/// Download an .xlsx as `client` and read one sheet back: (status, rows of cell texts). Exports
/// are POSTs from the site's own page: `path`'s query goes as the form body.
pub async fn xlsx(
    app: &TestApp,
    client: &Client,
    path: &str,
    sheet: &str,
) -> (u16, Vec<Vec<String>>) {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let r = client
        .http
        .post(format!("{}{path}", app.origin()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.to_owned())
        .send()
        .await
        .unwrap();
    read_sheet(r, sheet).await
}

/// Like `xlsx`, for an export without personal data (a GET link: the visit report).
pub async fn xlsx_get(
    app: &TestApp,
    client: &Client,
    path: &str,
    sheet: &str,
) -> (u16, Vec<Vec<String>>) {
    let r = client
        .http
        .get(format!("{}{path}", app.origin()))
        .send()
        .await
        .unwrap();
    read_sheet(r, sheet).await
}

async fn read_sheet(r: reqwest::Response, sheet: &str) -> (u16, Vec<Vec<String>>) {
    use calamine::Reader;
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

// ---------------------------------------------------------------------------------------------
// Cases, made the way the app makes them: `assign`, then `followup::transitions` (no INSERTs).
// ---------------------------------------------------------------------------------------------

/// User `user_id` as the domain sees them (role, department, leader from `users`).
pub async fn acting(db: &PgPool, user_id: i64) -> CurrentUser {
    let (username, role, department_id, leader_id, jurisdiction_id): (
        String,
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    ) = sqlx::query_as(
        "SELECT username, role, department_id, leader_id, jurisdiction_id FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
    .unwrap();
    let roles = [
        Role::Sysadmin,
        Role::Staff,
        Role::Supervisor,
        Role::Leader,
        Role::Handler,
        Role::Auditor,
    ];
    CurrentUser {
        id: user_id,
        display_name: username.clone(),
        username,
        role: roles.into_iter().find(|r| r.as_str() == role).unwrap(),
        department_id,
        leader_id,
        jurisdiction_id,
        must_change_password: false,
        session_hash: None,
    }
}

/// A user with `role` (and `department_id`, for handlers): the first there is, or a new one who
/// cannot sign in.
pub async fn user_with_role(db: &PgPool, role: Role, department_id: Option<i64>) -> i64 {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM users WHERE role = $1 AND active AND department_id IS NOT DISTINCT FROM $2 ORDER BY id LIMIT 1",
    )
    .bind(role.as_str())
    .bind(department_id)
    .fetch_optional(db)
    .await
    .unwrap();
    if let Some(id) = found {
        return id;
    }
    sqlx::query_scalar(
        "INSERT INTO users (username, display_name, role, department_id, password_hash, must_change_password, jurisdiction_id)
         VALUES ($1, $1, $2, $3, '!', false, (SELECT id FROM jurisdictions WHERE code = '330000')) RETURNING id",
    )
    .bind(format!("{}-{}", role.as_str(), department_id.unwrap_or(0)))
    .bind(role.as_str())
    .bind(department_id)
    .fetch_one(db)
    .await
    .unwrap()
}

fn audit_actor(user: &CurrentUser) -> Actor {
    Actor {
        id: Some(user.id),
        name: user.username.clone(),
        role: Some(user.role.as_str()),
        ip: None,
        jurisdiction_id: user.jurisdiction_id,
    }
}

/// 交办 by `staff_id` at `at`, through the app's own `assign`.
pub async fn assign_case(
    app: &TestApp,
    c: &NewCase<'_>,
    staff_id: i64,
    at: DateTime<Utc>,
) -> Assigned {
    let staff = acting(&app.db, staff_id).await;
    let mut tx = app.db.begin().await.unwrap();
    let made = assign(
        &mut tx,
        &app.state.config.case_rules,
        c,
        &audit_actor(&staff),
        at,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    made
}

/// One transition of case `case_id` by user `user_id` at `at`, as its form would take it.
pub async fn step(
    app: &TestApp,
    case_id: i64,
    action: Action,
    input: Input,
    user_id: i64,
    at: DateTime<Utc>,
) -> Outcome {
    let user = acting(&app.db, user_id).await;
    let actor = audit_actor(&user);
    let by = By {
        user: &user,
        actor: &actor,
        keys: &app.state.keys,
    };
    let rules = &app.state.config.case_rules;
    let mut tx = app.db.begin().await.unwrap();
    let req = Request {
        action,
        version: None,
        input,
    };
    let done = transitions::apply(&mut tx, case_id, &req, &by, at, rules)
        .await
        .unwrap_or_else(|e| panic!("{action:?} on case {case_id}: {e:?}"));
    tx.commit().await.unwrap();
    done
}

/// User `user_id` drafts a document of `kind` on the case and issues it at `at`, as the
/// documents pages do. Returns its number.
pub async fn issue_document(
    app: &TestApp,
    case_id: i64,
    kind: Kind,
    user_id: i64,
    at: DateTime<Utc>,
) -> String {
    let user = acting(&app.db, user_id).await;
    let actor = audit_actor(&user);
    let keys = &app.state.keys;
    let mut tx = app.db.begin().await.unwrap();
    let root = user.jurisdiction_id;
    let id = store::draft(&mut tx, keys, case_id, kind, root, &actor, at)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no issuing body for {kind:?}"));
    let number = store::issue(&mut tx, keys, case_id, id, &actor, at)
        .await
        .unwrap_or_else(|e| panic!("issuing {kind:?} on case {case_id}: {e:?}"));
    tx.commit().await.unwrap();
    number
}

/// The citizen rates case `case_id` at `at`.
pub async fn rate_case(app: &TestApp, case_id: i64, rating: &str, at: DateTime<Utc>) {
    let actor = Actor {
        id: None,
        name: "anonymous".into(),
        role: None,
        ip: None,
        jurisdiction_id: None,
    };
    let r = Rating {
        rating,
        comment: "",
    };
    let rules = &app.state.config.case_rules;
    let mut tx = app.db.begin().await.unwrap();
    transitions::rate(&mut tx, case_id, &r, &actor, at, rules, &app.state.keys)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}
