//! Issue 11, the hardening half of DESIGN §7: exports of personal data are same-origin POSTs (the
//! full one with an audited reason), anonymous GETs write nothing, the purge, TLS cookies and
//! HSTS, `/metrics` behind a bearer token, no secret in a cookie, no secret in the log.

use crate::fixtures::{Reg, fixture, register as seed_registration};
use crate::harness::{Client, TestApp};
use crate::register::{Visit, form, id_number, visit_on};
use chrono::Duration;
use reqwest::header::ORIGIN;
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use xiafang::clock::Clock;
use xiafang::web::auth::Role;

/// The four exports that carry personal data, for a visit.
fn exports(visit: i64) -> [String; 4] {
    [
        format!("/staff/visits/{visit}/registrations.xlsx"),
        "/supervision.xlsx".into(),
        "/supervision/lists.xlsx?list=risk".into(),
        "/cases.xlsx".into(),
    ]
}

/// POST an export as `client` with extra headers; the path's query goes as the form body.
async fn post_export(app: &TestApp, client: &Client, path: &str, headers: &[(&str, &str)]) -> u16 {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut req = client
        .http
        .post(format!("{}{path}", app.origin()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn export_audits(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE '%export'")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn exports_answer_only_a_same_origin_post() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    for (i, path) in exports(fx.visit).into_iter().enumerate() {
        let done = 2 * i as i64;
        let cross = [("sec-fetch-site", "cross-site")];
        assert_eq!(
            post_export(&app, &staff, &path, &cross).await,
            403,
            "{path}"
        );
        let foreign = [(ORIGIN.as_str(), "https://evil.example")];
        assert_eq!(
            post_export(&app, &staff, &path, &foreign).await,
            403,
            "{path}"
        );
        assert_eq!(
            export_audits(&app.db).await,
            done,
            "{path}: refused, nothing exported"
        );
        let get = staff
            .http
            .get(format!("{}{path}", app.origin()))
            .send()
            .await
            .unwrap();
        assert_ne!(get.status().as_u16(), 200, "{path}: a GET exports nothing");
        assert_eq!(export_audits(&app.db).await, done, "{path}");
        let same = [("sec-fetch-site", "same-origin")];
        assert_eq!(post_export(&app, &staff, &path, &same).await, 200, "{path}");
        // Plain-HTTP intranets: no Sec-Fetch-Site, this site's Origin (the client's default).
        assert_eq!(post_export(&app, &staff, &path, &[]).await, 200, "{path}");
    }
    assert_eq!(export_audits(&app.db).await, 8);
}

#[tokio::test]
async fn the_full_export_asks_for_a_reason_that_goes_into_the_audit() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let reg = Reg {
        code: "AAAA2222",
        name: "张三",
        id: "33072619800101123",
        phone: "13812345678",
        township: "仙华街道",
        persons: 1,
        category: fx.cat_build,
        window: fx.windows[0],
        status: "submitted",
    };
    seed_registration(&fx, fx.visit, reg).await;
    let path = format!("/staff/visits/{}/registrations.xlsx", fx.visit);
    let list = staff
        .get(&format!(
            "/staff/visits/{}/registrations?status=submitted",
            fx.visit
        ))
        .await;
    assert!(
        list.body.contains("id=\"export-full\""),
        "the page offers it"
    );
    assert!(
        list.body.contains("name=\"status\" value=\"submitted\""),
        "filters kept"
    );

    let form = [("status", "submitted"), ("full", "1"), ("reason", "  ")];
    let r = staff.post(&path, &form).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("reason"), "请填写导出事由");
    assert!(
        r.body
            .contains("<input type=\"hidden\" name=\"status\" value=\"submitted\">")
    );
    let long = "因".repeat(201);
    let r = staff.post(&path, &[("full", "1"), ("reason", &long)]).await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("reason").contains("200"));
    assert_eq!(r.field_value("reason"), long, "what was typed is kept");
    assert_eq!(app.audit_count("personal_data.export").await, 0);

    let reason = "县信访局复核身份信息（工单 2026-118）";
    let form = [("status", "submitted"), ("full", "1"), ("reason", reason)];
    let r = staff
        .http
        .post(format!("{}{path}", app.origin()))
        .form(&form);
    assert_eq!(r.send().await.unwrap().status().as_u16(), 200);
    let detail: serde_json::Value =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'personal_data.export'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(detail["reason"], reason);
    assert_eq!(detail["full"], true);
}

/// Rows in every table of the schema, by table.
async fn row_counts(db: &PgPool) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{t}\""))
            .fetch_one(db)
            .await
            .unwrap();
        out.push((t, n));
    }
    out
}

async fn open_visit(app: &TestApp) -> (Visit, String) {
    let v = visit_on(&app.url, app.clock.now(), &[20], Some(Duration::days(-1))).await;
    let category: i64 = sqlx::query_scalar(
        "SELECT id FROM categories WHERE parent_id IS NOT NULL ORDER BY id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    (v, category.to_string())
}

#[tokio::test]
async fn an_anonymous_get_of_the_registration_form_writes_no_row() {
    let app = TestApp::spawn().await;
    let (v, _) = open_visit(&app).await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    let before = row_counts(&owner).await;
    assert!(before.iter().any(|(t, _)| t == "form_tokens"));
    for _ in 0..3 {
        let page = app
            .client()
            .get(&format!("/visits/{}/register", v.id))
            .await;
        assert_eq!(page.status, 200);
        assert!(!page.field_value("form_token").is_empty());
    }
    assert_eq!(row_counts(&owner).await, before, "every table as it was");
}

#[tokio::test]
async fn an_expired_or_forged_token_keeps_the_form_with_a_clear_message() {
    let app = TestApp::spawn().await;
    let (v, c) = open_visit(&app).await;
    let client = app.client();
    let path = format!("/visits/{}/register", v.id);
    let old = client.get(&path).await.field_value("form_token");
    let w = v.windows[0].to_string();
    let id = id_number(21);

    // Forged: the expiry moved by a day (the signature no longer matches).
    let (expires, rest) = old.split_once('.').unwrap();
    let moved = format!("{}.{rest}", expires.parse::<i64>().unwrap() + 86_400);
    let r = client.post(&path, &form(&moved, &id, &c, &w)).await;
    assert_eq!(r.status, 422);
    assert!(
        r.text("#problem").contains("页面已过期"),
        "{}",
        r.text("#problem")
    );
    assert_eq!(r.field_value("id_number"), id, "what was typed is kept");

    app.clock.advance(Duration::hours(2) + Duration::minutes(1));
    let r = client.post(&path, &form(&old, &id, &c, &w)).await;
    assert_eq!(r.status, 422);
    assert!(
        r.text("#problem").contains("超过 2 小时"),
        "{}",
        r.text("#problem")
    );
    assert_eq!(r.field_value("name"), "张三");
    let fresh = r.field_value("form_token");
    assert_ne!(fresh, old);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM form_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "a refused token is not stored");

    let r = client
        .post_verified(&path, &form(&fresh, &id, &c, &w))
        .await;
    assert_eq!(r.status, 303, "the new token works: {}", r.body);
}

async fn count(db: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_purge_removes_expired_sessions_tokens_keys_and_counters() {
    let app = TestApp::spawn().await;
    let (v, c) = open_visit(&app).await;
    let _staff = app.signed_in("xinfang", Role::Staff).await;
    let client = app.client();
    let path = format!("/visits/{}/register", v.id);
    let t = client.get(&path).await.field_value("form_token");
    let w = v.windows[0].to_string();
    let r = client
        .post_verified(&path, &form(&t, &id_number(5), &c, &w))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let owner = PgPool::connect(&app.url).await.unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at)
         VALUES ('registration', 'k-1', decode(repeat('ab', 32), 'hex'), 201, '{}', $1)",
    )
    .bind(app.clock.now())
    .execute(&owner)
    .await
    .unwrap();
    let tables = ["sessions", "form_tokens", "idempotency_keys", "rate_limits"];
    let windows = xiafang::purge::Windows {
        sessions: app.state.timeouts(),
        idempotency: app.state.config.idempotency_key_ttl,
    };
    let purged = xiafang::purge::run(&app.db, app.clock.now(), &windows)
        .await
        .unwrap();
    assert_eq!(purged, Some(Default::default()), "nothing has expired yet");
    for table in tables {
        assert!(count(&owner, table).await >= 1, "{table}");
    }

    // Another instance purging right now: this one leaves it.
    let mut held = owner.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(0x0078_6670_7572_6765_i64)
        .execute(&mut *held)
        .await
        .unwrap();
    app.clock.advance(Duration::hours(25));
    let now = app.clock.now();
    assert_eq!(
        xiafang::purge::run(&app.db, now, &windows).await.unwrap(),
        None
    );
    held.rollback().await.unwrap();

    let p = xiafang::purge::run(&app.db, now, &windows)
        .await
        .unwrap()
        .unwrap();
    assert!(
        p.sessions >= 1 && p.form_tokens == 1 && p.idempotency_keys == 1,
        "{p:?}"
    );
    assert!(p.rate_limits >= 1, "{p:?}");
    for table in tables {
        assert_eq!(count(&owner, table).await, 0, "{table}");
    }
    assert_eq!(
        count(&owner, "registrations").await,
        1,
        "registrations stay"
    );
}

fn set_cookies(r: &crate::harness::Resp) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn over_https_cookies_are_secure_and_host_prefixed_and_hsts_is_sent() {
    let app =
        TestApp::spawn_with(|c| c.public_url = Some("https://xf.example.gov.cn".into())).await;
    let (v, _) = open_visit(&app).await;
    app.user("xinfang", Role::Staff).await;
    let client = app.client();
    let home = client.get("/").await;
    assert_eq!(
        home.headers["strict-transport-security"],
        "max-age=31536000"
    );
    let missing = client.get("/no-such-page").await;
    assert_eq!(
        missing.headers["strict-transport-security"],
        "max-age=31536000"
    );
    // The first sign-in binds the second factor; the second ends in the code step's response.
    client.login("xinfang", crate::harness::PASSWORD).await;
    let login = client.login("xinfang", crate::harness::PASSWORD).await;
    let form = client.get(&format!("/visits/{}/register", v.id)).await;
    let cookies = [set_cookies(&login), set_cookies(&form)].concat();
    assert!(
        cookies.iter().any(|c| c.starts_with("__Host-xf_session=")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("__Host-xf_receipt=")),
        "{cookies:?}"
    );
    for c in &cookies {
        assert!(c.starts_with("__Host-"), "{c}");
        assert!(c.contains("; Secure") && c.contains("; Path=/") && c.contains("; HttpOnly"));
        assert!(!c.contains("Domain="), "{c}");
    }
}

#[tokio::test]
async fn over_plain_http_there_is_no_hsts_and_no_secure_cookie() {
    let app = TestApp::spawn().await;
    app.user("xinfang", Role::Staff).await;
    let client = app.client();
    assert!(
        client
            .get("/")
            .await
            .headers
            .get("strict-transport-security")
            .is_none()
    );
    client.login("xinfang", crate::harness::PASSWORD).await;
    let login = client.login("xinfang", crate::harness::PASSWORD).await;
    let cookies = set_cookies(&login);
    assert!(
        cookies.iter().any(|c| c.starts_with("xf_session=")),
        "{cookies:?}"
    );
    assert!(cookies.iter().all(|c| !c.contains("Secure")), "{cookies:?}");
}

#[tokio::test]
async fn metrics_answer_only_the_configured_bearer_token() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.client().get("/metrics").await.status,
        404,
        "none configured"
    );

    let app = TestApp::spawn_with(|c| c.metrics_token = Some("m-7f3a9c".into())).await;
    let url = format!("{}/metrics", app.origin());
    let http = reqwest::Client::new();
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 401);
    let wrong = http.get(&url).bearer_auth("m-7f3a9").send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    let right = http.get(&url).bearer_auth("m-7f3a9c").send().await.unwrap();
    assert_eq!(right.status().as_u16(), 200);
    assert!(right.text().await.unwrap().contains("http_requests_total"));
}

#[tokio::test]
async fn a_new_api_token_is_shown_in_the_response_and_never_in_a_cookie() {
    let app = TestApp::spawn().await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let r = staff
        .post("/me/tokens", &[("name", "12345 热线对接")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let start = r.body.find("xft_").expect("the page shows it");
    let token = &r.body[start..start + 68];
    let cookies = set_cookies(&r).join("\n");
    assert!(!cookies.contains(&token[4..]), "{cookies}");
    assert!(!cookies.contains(&hex::encode(token)[..40]), "{cookies}");
    assert!(
        !cookies.contains(&hex::encode(&token[4..])[..40]),
        "{cookies}"
    );
}

/// A log written to memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn the_log_holds_no_typed_username_registration_code_or_phone_digits() {
    let app = TestApp::spawn().await;
    // This test's thread only (the app runs on it: a current-thread runtime); from here on, so
    // that the schema's own text (migrations) is not in it.
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    // tracing caches each callsite's interest process-wide, computed on whichever thread first
    // reaches it: a sibling test without a subscriber would cache "never" and blind this capture.
    // A bare global registry is interested in everything, so no thread caches "never".
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    let typed = "Wrong-Field-Pa55word";
    let r = app.client().login(typed, "whatever-1").await;
    assert_ne!(r.status, 303);

    let (v, c) = open_visit(&app).await;
    let client = app.client();
    let path = format!("/visits/{}/register", v.id);
    let t = client.get(&path).await.field_value("form_token");
    let w = v.windows[0].to_string();
    let r = client
        .post_verified(&path, &form(&t, &id_number(8), &c, &w))
        .await;
    let code = r
        .location()
        .trim_start_matches("/registrations/")
        .to_owned();
    assert!(code.len() >= 8, "{}", r.location());
    // Queued at the database's now(): a minute on, it is due on the manual clock.
    app.clock.advance(Duration::minutes(1));
    let delivery = xiafang::notify::Delivery::from_config(&app.state.config);
    let sent = xiafang::notify::deliver_batch(
        &app.db,
        app.clock.as_ref(),
        &app.state.keys,
        &xiafang::notify::LogSender,
        &delivery,
    )
    .await
    .unwrap();
    assert!(sent >= 1);

    let text = log.text();
    assert!(
        text.contains("/login") && text.contains("notification"),
        "the log was captured"
    );
    assert!(
        !text.contains(typed),
        "the typed username of a failed login"
    );
    assert!(!text.contains(&code), "the registration code");
    assert!(
        !text.contains("****"),
        "no phone, not even masked (its last digits)"
    );
}

#[tokio::test]
async fn a_server_fault_gives_a_generic_page_with_no_internals() {
    let app = TestApp::spawn().await;
    // Break the database under the app: the next read of visits fails inside sqlx.
    let owner = sqlx::PgPool::connect(&app.url).await.unwrap();
    sqlx::query("ALTER TABLE visits RENAME TO visits_gone")
        .execute(&owner)
        .await
        .unwrap();
    let r = app.client().get("/schedule").await;
    assert_eq!(r.status, 500);
    assert!(r.body.contains("系统"), "a Chinese page: {}", r.body);
    for internal in [
        "visits",
        "relation",
        "sqlx",
        "error returned",
        "panicked",
        "src/",
    ] {
        assert!(!r.body.contains(internal), "{internal} leaked: {}", r.body);
    }
    assert!(r.headers.contains_key("content-security-policy"));
}
