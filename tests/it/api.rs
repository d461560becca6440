//! The JSON API: bearer tokens, public endpoints, registration with an Idempotency-Key, lookup,
//! case status scoping, the one error shape, and the OpenAPI document against the route table.

use crate::fixtures::assign_case;
use crate::harness::{Client, PASSWORD, TestApp};
use crate::register::{Visit, id_number, visit_on};
use serde_json::{Value, json};
use sqlx::PgPool;
use xiafang::clock::Clock;
use xiafang::followup::assign::{NewCase, Source};
use xiafang::web::auth::Role;

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        c.register_per_minute = 100_000;
        c.lookup_per_minute = 100_000;
    })
    .await
}

/// A plain API client (no cookies, no Origin): what an integration sends.
struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

struct JsonResp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Api {
    fn new(app: &TestApp, token: Option<&str>) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: app.origin(),
            token: token.map(str::to_owned),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> JsonResp {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        JsonResp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> JsonResp {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> JsonResp {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        self.send(req).await
    }
}

fn assert_error(r: &JsonResp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["error"]["code"], code, "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "a Chinese message: {message}"
    );
    assert!(r.body["error"]["fields"].is_object());
}

/// Create a token at /me/tokens as `client`; returns it (shown once, in the POST's own response,
/// never in a cookie: DESIGN §7).
pub(crate) async fn create_token(client: &Client, name: &str) -> String {
    let r = client.post("/me/tokens", &[("name", name)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let start = r.body.find("xft_").expect("the new token is shown once");
    let token = r.body[start..start + 68].to_owned();
    for cookie in r.headers.get_all("set-cookie") {
        let cookie = cookie.to_str().unwrap();
        assert!(
            !cookie.contains(&token[4..]),
            "no secret in a cookie: {cookie}"
        );
        assert!(
            !cookie.contains(&hex::encode(&token)[..40]),
            "not even hex-encoded"
        );
    }
    assert!(
        client.get("/me/tokens").await.body.find("xft_").is_none(),
        "shown only once"
    );
    token
}

#[tokio::test]
async fn a_token_carries_its_users_role_until_revoked() {
    let app = spawn().await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let token = create_token(&staff, "12345 热线对接").await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        stored,
        xiafang::web::session::hash(&token),
        "only the hash is stored"
    );
    assert_eq!(app.audit_count("api_token.create").await, 1);

    let api = Api::new(&app, Some(&token));
    let me = api.get("/api/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["role"], "staff");
    let used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_tokens")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(used.is_some());
    // The token is for the API only: the pages do not take it.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = no_redirects
        .get(format!("{}/staff/visits", app.origin()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);

    let id: i64 = sqlx::query_scalar("SELECT id FROM api_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let other = app.signed_in("other", Role::Staff).await;
    assert_eq!(
        other
            .post(&format!("/me/tokens/{id}/revoke"), &[])
            .await
            .status,
        404,
        "not someone else's token"
    );
    assert_eq!(
        staff
            .post(&format!("/me/tokens/{id}/revoke"), &[])
            .await
            .status,
        303
    );
    assert_eq!(app.audit_count("api_token.revoke").await, 1);
    let refused = api.get("/api/v1/me").await;
    assert_error(&refused, 401, "unauthorized");
    assert_eq!(refused.headers["www-authenticate"], "Bearer");
    assert_error(
        &Api::new(&app, Some("xft_nonsense")).get("/api/v1/me").await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn sysadmin_and_auditor_hold_no_tokens_and_the_sysadmin_revokes_them_all() {
    let app = spawn().await;
    for (name, role) in [("admin", Role::Sysadmin), ("auditor", Role::Auditor)] {
        let c = app.signed_in(name, role).await;
        assert_eq!(
            c.post("/me/tokens", &[("name", "x")]).await.status,
            403,
            "{name}"
        );
        assert_eq!(c.get("/me/tokens").await.status, 403, "{name}");
    }
    let handler = app.signed_in("jingban", Role::Handler).await;
    let empty = handler.post("/me/tokens", &[("name", " ")]).await;
    assert_eq!(empty.status, 422);
    assert!(!empty.field_error("name").is_empty());
    let t1 = create_token(&handler, "统计").await;
    create_token(&handler, "短信").await;
    let admin = app.signed_in("admin2", Role::Secadmin).await;
    let uid: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'jingban'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let page = admin.get(&format!("/admin/users/{uid}")).await;
    assert!(page.body.contains("有效令牌：2 个"), "{}", page.body);
    assert!(!page.body.contains("xft_"), "never the tokens themselves");
    assert_eq!(
        admin
            .post(&format!("/admin/users/{uid}/revoke-tokens"), &[])
            .await
            .status,
        303
    );
    assert_eq!(app.audit_count("api_token.revoke_all").await, 1);
    assert!(
        admin
            .get(&format!("/admin/users/{uid}"))
            .await
            .body
            .contains("有效令牌：0 个")
    );
    assert_error(
        &Api::new(&app, Some(&t1)).get("/api/v1/me").await,
        401,
        "unauthorized",
    );
}

/// The status of `GET /api/v1/me` with `token`.
async fn me_with(app: &TestApp, token: &str) -> u16 {
    Api::new(app, Some(token)).get("/api/v1/me").await.status
}

async fn user_id(app: &TestApp, username: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// `tokens_revoked` of the last audit entry `action`.
async fn tokens_revoked(app: &TestApp, action: &str) -> Value {
    let detail: Value = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(action)
    .fetch_one(&app.db)
    .await
    .unwrap();
    detail["tokens_revoked"].clone()
}

#[tokio::test]
async fn a_token_dies_with_its_owners_password_change() {
    let app = spawn().await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let token = create_token(&staff, "热线").await;
    assert_eq!(me_with(&app, &token).await, 200);
    let change = staff
        .post(
            "/account/password",
            &[
                ("current", PASSWORD),
                ("new", "Another-Pass-2026"),
                ("confirm", "Another-Pass-2026"),
            ],
        )
        .await;
    assert_eq!(change.status, 303, "{}", change.body);
    assert_eq!(me_with(&app, &token).await, 401, "the change revokes it");
    assert_eq!(tokens_revoked(&app, "password.change").await, 1);
    let fresh = create_token(&staff, "新的").await;
    assert_eq!(me_with(&app, &fresh).await, 200, "a new one works");
}

#[tokio::test]
async fn a_token_dies_with_a_reset_a_role_change_and_a_deactivation() {
    let app = spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    let sec = app.signed_in("anquan2", Role::Secadmin).await;
    let staff = app.signed_in("zhou", Role::Staff).await;
    let zhou = user_id(&app, "zhou").await;

    // A role change to another token-holding role: the old token would still carry a role.
    let token = create_token(&staff, "统计").await;
    assert_eq!(me_with(&app, &token).await, 200);
    let change = sec
        .post(
            &format!("/admin/users/{zhou}/authority"),
            &[("role", "supervisor")],
        )
        .await;
    assert_eq!(change.status, 303);
    assert_eq!(me_with(&app, &token).await, 401, "a role change revokes it");
    assert_eq!(tokens_revoked(&app, "user.role_change").await, 1);

    // A deactivation: the token stays dead after the account is active again.
    let token = create_token(&staff, "短信").await;
    assert_eq!(me_with(&app, &token).await, 200);
    for step in ["deactivate", "activate"] {
        let r = admin
            .post(&format!("/admin/users/{zhou}/{step}"), &[])
            .await;
        assert_eq!(r.status, 303, "{step}");
    }
    assert_eq!(
        me_with(&app, &token).await,
        401,
        "a deactivation revokes it"
    );
    assert_eq!(tokens_revoked(&app, "user.deactivate").await, 1);

    // A reset link, issued by the security administrator and used by the holder.
    let staff = app.client();
    assert_eq!(staff.login("zhou", PASSWORD).await.status, 303);
    let token = create_token(&staff, "对接").await;
    assert_eq!(me_with(&app, &token).await, 200);
    let link = crate::sanyuan::issue_reset_link(&sec, zhou).await;
    let reset = app
        .client()
        .post(
            &link,
            &[("new", "Reset-Pass-2026"), ("confirm", "Reset-Pass-2026")],
        )
        .await;
    assert_eq!(reset.status, 303);
    assert_eq!(me_with(&app, &token).await, 401, "a reset revokes it");
    assert_eq!(tokens_revoked(&app, "password.reset").await, 1);
}

#[tokio::test]
async fn an_expired_token_is_refused_while_a_fresh_one_works() {
    let app = spawn().await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let old = create_token(&staff, "旧令牌").await;
    let page = staff.get("/me/tokens").await;
    assert!(page.body.contains("有效期至"), "{}", page.body);
    app.clock.advance(chrono::Duration::days(89));
    assert_eq!(me_with(&app, &old).await, 200, "within 90 days");
    app.clock
        .advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
    assert_error(
        &Api::new(&app, Some(&old)).get("/api/v1/me").await,
        401,
        "unauthorized",
    );

    let staff = app.client();
    assert_eq!(staff.login("xinfang", PASSWORD).await.status, 303);
    let fresh = create_token(&staff, "新令牌").await;
    assert_eq!(me_with(&app, &fresh).await, 200);
    assert_eq!(me_with(&app, &old).await, 401);
    let page = staff.get("/me/tokens").await;
    assert!(page.body.contains("已过期"), "{}", page.body);
}

async fn published_visit(app: &TestApp) -> Visit {
    visit_on(
        &app.url,
        app.clock.now(),
        &[20, 1],
        Some(chrono::Duration::days(-1)),
    )
    .await
}

async fn category(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT id FROM categories WHERE name = '城乡建设' AND parent_id IS NOT NULL ORDER BY id LIMIT 1").fetch_one(&app.db).await.unwrap()
}

fn registration(id: &str, category: i64, window: i64) -> Value {
    json!({
        "name": "张三", "id_number": id, "phone": "13812345678", "address": "仙华街道人民路 1 号", "township": "仙华街道",
        "persons": 1, "category_id": category, "grievance": "村口道路破损，雨天积水。", "window_id": window, "consent": true,
    })
}

/// The registration with the SMS code just sent to its phone, as a citizen's app sends it.
async fn with_code(app: &TestApp, api: &Api, mut body: Value) -> Value {
    let phone = body["phone"].as_str().unwrap().to_owned();
    let sent = api
        .post("/api/v1/phone-codes", None, &json!({"phone": phone}))
        .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.body["phone_mask"], "138****5678");
    body["code"] = json!(app.sms_code(&phone).await);
    body
}

#[tokio::test]
async fn public_visits_and_notices() {
    let app = spawn().await;
    let v = published_visit(&app).await;
    let hidden = visit_on(&app.url, app.clock.now(), &[5], None).await;
    let api = Api::new(&app, None);
    let list = api.get("/api/v1/visits").await;
    assert_eq!(list.status, 200);
    let ids: Vec<i64> = list.body["visits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [v.id], "only announced visits");
    let one = api.get(&format!("/api/v1/visits/{}", v.id)).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["starts_at"], "08:00");
    assert_eq!(one.body["windows"].as_array().unwrap().len(), 2);
    assert_eq!(one.body["registration_open"], true);
    assert!(
        one.body["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "城乡建设")
    );
    let notice_id = one.body["notices"][0]["id"].as_i64().unwrap();
    let notice = api.get(&format!("/api/v1/notices/{notice_id}")).await;
    assert_eq!(notice.status, 200);
    assert_eq!(notice.body["body"], "公告正文");
    assert_error(
        &api.get(&format!("/api/v1/visits/{}", hidden.id)).await,
        404,
        "not_found",
    );
    assert_error(&api.get("/api/v1/notices/999999").await, 404, "not_found");
    assert_error(&api.get("/api/v1/visits/abc").await, 400, "bad_request");
    assert_error(&api.get("/api/v1/nothing/here").await, 404, "not_found");
}

#[tokio::test]
async fn registration_with_an_idempotency_key_happens_once() {
    let app = spawn().await;
    let v = published_visit(&app).await;
    let cat = category(&app).await;
    let api = Api::new(&app, None);
    let path = format!("/api/v1/visits/{}/registrations", v.id);
    let body = with_code(&app, &api, registration(&id_number(7), cat, v.windows[0])).await;

    let first = api.post(&path, Some("k-1"), &body).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let code = first.body["code"].as_str().unwrap().to_owned();
    assert_eq!(first.body["status"], "submitted");
    let again = api.post(&path, Some("k-1"), &body).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "the same answer replayed");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    assert_eq!(app.audit_count("registration.create").await, 1);

    let mut other = body.clone();
    other["name"] = json!("李四");
    let reused = api.post(&path, Some("k-1"), &other).await;
    assert_error(&reused, 422, "validation_failed");
    assert_error(&api.post(&path, None, &body).await, 400, "bad_request");
    let bad_json = api
        .send(
            api.http
                .post(format!("{}{path}", api.base))
                .header("Idempotency-Key", "k-2")
                .body("{not json"),
        )
        .await;
    assert_error(&bad_json, 400, "bad_request");

    // Validated like the form, with the same Chinese messages beside the fields.
    let mut wrong = registration("330726196001010010", cat, v.windows[0]);
    wrong["phone"] = json!("123");
    wrong["consent"] = json!(false);
    let invalid = api.post(&path, Some("k-3"), &wrong).await;
    assert_error(&invalid, 422, "validation_failed");
    assert_eq!(
        invalid.body["error"]["fields"]["id_number"],
        "身份证号不正确，请核对（18 位，最后一位可能是 X）"
    );
    assert_eq!(
        invalid.body["error"]["fields"]["phone"],
        "手机号码应为 11 位数字，以 13–19 开头"
    );
    assert!(
        invalid.body["error"]["fields"]["consent"]
            .as_str()
            .unwrap()
            .contains("同意")
    );

    // A full window: 409 naming the field; with join_waitlist: waitlisted.
    let second = with_code(&app, &api, registration(&id_number(8), cat, v.windows[1])).await;
    assert_eq!(api.post(&path, Some("k-4"), &second).await.status, 201);
    let third = with_code(&app, &api, registration(&id_number(9), cat, v.windows[1])).await;
    let full = api.post(&path, Some("k-5"), &third).await;
    assert_error(&full, 409, "conflict");
    assert_eq!(full.body["error"]["fields"]["window_id"], "该时段已满");
    // The code was not used by the refused registration: it serves the waiting list's.
    let mut wait = third.clone();
    wait["join_waitlist"] = json!(true);
    assert_eq!(
        api.post(&path, Some("k-6"), &wait).await.body["status"],
        "waitlisted"
    );

    // Lookup: code + 手机号码后四位.
    let found = api
        .post(
            "/api/v1/lookup",
            None,
            &json!({"code": code, "phone_last4": "5678"}),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["status"], "已提交，待审核");
    assert_eq!(found.body["room"], "");
    assert_error(
        &api.post(
            "/api/v1/lookup",
            None,
            &json!({"code": code, "phone_last4": "0000"}),
        )
        .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn a_public_registration_needs_the_sms_code_and_a_staff_token_is_exempt_and_audited() {
    let app = spawn().await;
    let v = published_visit(&app).await;
    let cat = category(&app).await;
    let path = format!("/api/v1/visits/{}/registrations", v.id);
    let public = Api::new(&app, None);
    let body = registration(&id_number(30), cat, v.windows[0]);
    let refused = public.post(&path, Some("p-1"), &body).await;
    assert_error(&refused, 422, "validation_failed");
    assert!(
        refused.body["error"]["fields"]["code"]
            .as_str()
            .unwrap()
            .contains("获取验证码"),
        "{}",
        refused.body
    );
    let mut wrong = with_code(&app, &public, body.clone()).await;
    let right = wrong["code"].as_str().unwrap().to_owned();
    wrong["code"] = json!(if right == "000000" {
        "111111"
    } else {
        "000000"
    });
    let refused = public.post(&path, Some("p-2"), &wrong).await;
    assert_error(&refused, 422, "validation_failed");
    assert!(
        refused.body["error"]["fields"]["code"]
            .as_str()
            .unwrap()
            .contains("不正确")
    );
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(none, 0);

    // The 12345 hotline registers a caller with its staff token: no code, and the audit says so.
    let staff = app.signed_in("rexian", Role::Staff).await;
    let hotline = Api::new(&app, Some(&create_token(&staff, "12345 热线").await));
    let mut caller = registration(&id_number(31), cat, v.windows[0]);
    caller["phone"] = json!("13900002222");
    let accepted = hotline.post(&path, Some("h-1"), &caller).await;
    assert_eq!(accepted.status, 201, "{}", accepted.body);
    let (action, object, detail): (String, String, Value) = sqlx::query_as(
        "SELECT action, object_id, detail FROM audit_log WHERE action = 'registration.phone_exempt'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM registrations WHERE code = $1")
        .bind(accepted.body["code"].as_str().unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        (action.as_str(), object),
        ("registration.phone_exempt", id.to_string())
    );
    assert_eq!(detail["exemption"], "staff_token");
}

#[tokio::test]
async fn asking_for_codes_too_often_answers_429_with_retry_after() {
    let app = TestApp::spawn_with(|c| c.phone_codes.per_ip_per_hour = 2).await;
    let api = Api::new(&app, None);
    for phone in ["13800000001", "13800000002"] {
        let sent = api
            .post("/api/v1/phone-codes", None, &json!({"phone": phone}))
            .await;
        assert_eq!(sent.status, 201, "{}", sent.body);
        assert_eq!(sent.body["expires_in"], 300);
    }
    let limited = api
        .post(
            "/api/v1/phone-codes",
            None,
            &json!({"phone": "13800000003"}),
        )
        .await;
    assert_error(&limited, 429, "rate_limited");
    let retry: i64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    let invalid = api
        .post("/api/v1/phone-codes", None, &json!({"phone": "123"}))
        .await;
    assert_error(&invalid, 422, "validation_failed");
    assert!(
        !invalid.body["error"]["fields"]["phone"]
            .as_str()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn too_many_and_too_large_answer_json() {
    let app = TestApp::spawn_with(|c| {
        c.lookup_per_minute = 2;
        c.max_body_bytes = 4096;
    })
    .await;
    let api = Api::new(&app, None);
    let ask = json!({"code": "ABCDEFGHJK", "phone_last4": "1234"});
    for _ in 0..2 {
        assert_eq!(api.post("/api/v1/lookup", None, &ask).await.status, 404);
    }
    let limited = api.post("/api/v1/lookup", None, &ask).await;
    assert_error(&limited, 429, "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
    let huge = json!({"code": "x".repeat(10_000), "phone_last4": "1234"});
    assert_error(
        &api.post("/api/v1/lookup", None, &huge).await,
        413,
        "payload_too_large",
    );
}

#[tokio::test]
async fn case_status_follows_who_may_open_the_case() {
    let app = spawn().await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    let v = published_visit(&app).await;
    let cat = category(&app).await;
    let handler = app.signed_in("zhujian", Role::Handler).await;
    let stranger = app.signed_in("shuili", Role::Handler).await;
    let leader = app.signed_in("lingdao", Role::Leader).await;
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let dept: i64 =
        sqlx::query_scalar("SELECT department_id FROM users WHERE username = 'zhujian'")
            .fetch_one(&owner)
            .await
            .unwrap();
    let other_leader: i64 = sqlx::query_scalar(
        "INSERT INTO leaders (name, title, level) VALUES ('王五', '副县长', 'county') RETURNING id",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    let staff_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'xinfang'")
        .fetch_one(&owner)
        .await
        .unwrap();
    let item: i64 = sqlx::query_scalar(
        "INSERT INTO survey_items (visit_id, township, category_id, summary, created_by) VALUES ($1, '仙华街道', $2, '道路维修', $3) RETURNING id",
    )
    .bind(v.id)
    .bind(cat)
    .bind(staff_id)
    .fetch_one(&owner)
    .await
    .unwrap();
    let nc = NewCase {
        visit_id: v.id,
        source: Source::SurveyItem(item),
        title: "道路维修",
        category_id: cat,
        lead_department_id: dept,
        co_department_ids: &[],
        owner_leader_id: other_leader,
        deadline_days: 60,
    };
    let made = assign_case(&app, &nc, staff_id, app.clock.now()).await;

    let path = &format!("/api/v1/cases/{}", made.code);
    let mine = Api::new(&app, Some(&create_token(&handler, "本单位").await))
        .get(path)
        .await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.body["status"], "assigned");
    assert_eq!(mine.body["department"], "zhujian单位");
    assert_eq!(mine.body["events"][0]["label"], "交办");
    assert_eq!(
        Api::new(&app, Some(&create_token(&staff, "全部").await))
            .get(path)
            .await
            .status,
        200
    );
    assert_error(
        &Api::new(&app, Some(&create_token(&stranger, "他单位").await))
            .get(path)
            .await,
        404,
        "not_found",
    );
    assert_error(
        &Api::new(&app, Some(&create_token(&leader, "非本人包案").await))
            .get(path)
            .await,
        404,
        "not_found",
    );
    assert_error(&Api::new(&app, None).get(path).await, 401, "unauthorized");
    // A signed-in role the route does not admit: 403, as JSON.
    let admin = app.signed_in("admin", Role::Sysadmin).await;
    let r = admin.get(path).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["error"]["code"],
        "forbidden"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_api_routes() {
    let doc: Value = serde_json::from_str(xiafang::api::OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let mut routed: Vec<String> = xiafang::routes::routes()
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(documented, routed);
    assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
    let served = reqwest::get(format!("{}/api/v1/openapi.json", spawn().await.origin()))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(served, doc);
}
