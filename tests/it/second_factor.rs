//! The second factor (RFC 6238 TOTP, DESIGN §7): a password alone opens no session, a code is
//! accepted once, wrong codes lock like wrong passwords, recovery codes work once each, the
//! security administrator's reset makes the account enrol again, no API token works before
//! enrolment, and demo accounts skip it only while the server runs in demo mode.

use crate::harness::{Client, PASSWORD, Resp, TestApp};
use chrono::Duration;
use xiafang::web::auth::{Role, home_for};
use xiafang::web::session;

async fn password_only(client: &Client, username: &str) -> Resp {
    client
        .post("/login", &[("username", username), ("password", PASSWORD)])
        .await
}

/// The detail of the last audit entry of `action` with this outcome.
async fn demo_login(c: &Client) -> Resp {
    c.post(
        "/login",
        &[
            ("username", "xinfang"),
            ("password", xiafang::demo::DEMO_PASSWORD),
        ],
    )
    .await
}

async fn last_detail(app: &TestApp, action: &str, success: bool) -> serde_json::Value {
    sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = $1 AND success = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(action)
    .bind(success)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn failed_logins(app: &TestApp, id: i64) -> i32 {
    sqlx::query_scalar("SELECT failed_logins FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// A six-digit code that is not the one the authenticator shows now (nor one step either side).
async fn wrong_code(app: &TestApp, username: &str) -> String {
    let right = app.next_code(username).await;
    let n: u32 = right.parse().unwrap();
    format!("{:06}", (n + 500_000) % 1_000_000)
}

#[tokio::test]
async fn the_password_alone_opens_no_session() {
    let app = TestApp::spawn().await;
    app.user("zhang", Role::Staff).await;
    let client = app.client();
    let first = password_only(&client, "zhang").await;
    assert_eq!(first.status, 303);
    assert_eq!(first.location(), "/login/enrol", "the first sign-in enrols");
    let behind = client.get("/account/password").await;
    assert_eq!(behind.status, 303);
    assert_eq!(behind.location(), "/login?next=%2Faccount%2Fpassword");
    assert_eq!(client.get("/api/v1/me").await.status, 401);
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions, 0, "no session after the password step");

    let enrol = client.get("/login/enrol").await;
    assert!(enrol.text("main").contains("双因素认证"));
    assert!(enrol.body.contains("<svg"), "a QR code");
    assert!(!enrol.text("#totp-secret").is_empty(), "the secret as text");
    assert_eq!(enrol.headers["cache-control"], "no-store");

    // Enrolled: the next password step asks for a code, and still gives no session.
    assert_eq!(client.login("zhang", PASSWORD).await.status, 303);
    assert_eq!(client.get("/account/password").await.status, 200);
    let other = app.client();
    let second = password_only(&other, "zhang").await;
    assert_eq!(second.location(), "/login/second-factor");
    assert_eq!(other.get("/account/password").await.status, 303);
    assert_eq!(other.get("/login/second-factor").await.status, 200);
    // Without the challenge cookie the factor pages send the browser back to the password.
    let stranger = app.client();
    let back = stranger.get("/login/second-factor").await;
    assert_eq!(back.location(), "/login");
    let guessed = stranger
        .post("/login/second-factor", &[("code", "123456")])
        .await;
    assert_eq!(guessed.location(), "/login");
    // The challenge lasts 5 minutes.
    app.clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    let code = app.next_code("zhang").await;
    let late = other.post("/login/second-factor", &[("code", &code)]).await;
    assert_eq!(late.location(), "/login", "expired");
    assert_eq!(other.get("/account/password").await.status, 303);
}

#[tokio::test]
async fn wrong_codes_are_refused_and_lock_the_account_like_wrong_passwords() {
    let app = TestApp::spawn().await;
    let id = app.user("zhang", Role::Staff).await;
    let client = app.client();
    // While enrolling.
    password_only(&client, "zhang").await;
    let refused = client.post("/login/enrol", &[("code", "12345")]).await;
    assert_eq!(refused.status, 401);
    assert!(refused.field_error("code").contains("验证码不正确"));
    assert!(
        refused.text("#totp-secret").len() > 10,
        "the page is shown again"
    );
    assert_eq!(failed_logins(&app, id).await, 1);
    assert_eq!(client.login("zhang", PASSWORD).await.status, 303);
    assert_eq!(
        failed_logins(&app, id).await,
        0,
        "a full sign-in resets the count"
    );

    // Once enrolled: five wrong codes lock it; a password step in between resets nothing.
    let other = app.client();
    for n in 0..5 {
        assert_eq!(password_only(&other, "zhang").await.status, 303, "{n}");
        let code = wrong_code(&app, "zhang").await;
        let r = other.post("/login/second-factor", &[("code", &code)]).await;
        assert_eq!(r.status, 401);
        assert!(r.field_error("code").contains("验证码不正确"));
    }
    assert_eq!(failed_logins(&app, id).await, 5);
    assert_eq!(app.audit_count("account.locked").await, 1);
    let failure = last_detail(&app, "login", false).await;
    assert_eq!(failure["reason"], "wrong_code");
    assert_eq!(failure["factor"], "totp");

    let locked = password_only(&app.client(), "zhang").await;
    assert_eq!(
        locked.status, 401,
        "the right password is refused while locked"
    );
    app.clock
        .advance(Duration::minutes(30) + Duration::seconds(1));
    assert_eq!(other.login("zhang", PASSWORD).await.status, 303);
    assert_eq!(failed_logins(&app, id).await, 0);
}

#[tokio::test]
async fn a_code_is_accepted_once_and_a_replay_in_the_same_step_is_refused() {
    let app = TestApp::spawn().await;
    app.signed_in("zhang", Role::Staff).await;
    let (a, b) = (app.client(), app.client());
    password_only(&a, "zhang").await;
    password_only(&b, "zhang").await;
    let code = app.next_code("zhang").await;
    let first = a.post("/login/second-factor", &[("code", &code)]).await;
    assert_eq!(first.status, 303);
    assert_eq!(first.location(), home_for(Role::Staff));
    let replay = b.post("/login/second-factor", &[("code", &code)]).await;
    assert_eq!(replay.status, 401, "the same code in the same step");
    assert_eq!(
        last_detail(&app, "login", false).await["reason"],
        "replayed_code"
    );
    assert_eq!(b.get("/account/password").await.status, 303);
    // The next step's code works.
    let next = app.next_code("zhang").await;
    let ok = b.post("/login/second-factor", &[("code", &next)]).await;
    assert_eq!(ok.status, 303);
    let detail = last_detail(&app, "login", true).await;
    assert_eq!(detail["factor"], "totp");
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let app = TestApp::spawn().await;
    app.signed_in("zhang", Role::Staff).await;
    let codes = app.recovery_codes("zhang");
    assert_eq!(codes.len(), 10, "shown once after enrolment");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM recovery_codes WHERE code_hash = sha256(convert_to(replace($1, '-', ''), 'UTF8'))")
        .bind(&codes[0])
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 1, "kept as a SHA-256, never in clear");

    let client = app.client();
    password_only(&client, "zhang").await;
    let r = client
        .post("/login/second-factor", &[("code", &codes[0])])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(client.get("/account/password").await.status, 200);
    let detail = last_detail(&app, "login", true).await;
    assert_eq!(detail["factor"], "recovery_code");
    assert_eq!(detail["recovery_codes_left"], 9);

    let again = app.client();
    password_only(&again, "zhang").await;
    let used = again
        .post("/login/second-factor", &[("code", &codes[0])])
        .await;
    assert_eq!(used.status, 401, "used once already");
    let typed = format!(" {} ", codes[1].to_uppercase());
    let other = again
        .post("/login/second-factor", &[("code", &typed)])
        .await;
    assert_eq!(other.status, 303, "another code, however typed");
}

#[tokio::test]
async fn the_security_administrators_reset_makes_the_next_login_enrol_again() {
    let app = TestApp::spawn().await;
    let zhang = app.signed_in("zhang", Role::Staff).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'zhang'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let secadmin = app.signed_in("anquan_t", Role::Secadmin).await;
    let sysadmin = app.signed_in("root_t", Role::Sysadmin).await;
    let path = format!("/admin/users/{id}/reset-second-factor");

    let seen = sysadmin.get(&format!("/admin/users/{id}")).await;
    assert!(seen.text("#second-factor").contains("已绑定"));
    assert!(
        !seen.body.contains(&path),
        "no reset button for the sysadmin"
    );
    assert_eq!(sysadmin.post(&path, &[]).await.status, 403);
    let page = secadmin.get(&format!("/admin/users/{id}")).await;
    assert!(
        page.text("#second-factor button")
            .contains("重置双因素认证")
    );

    let reset = secadmin.post(&path, &[]).await;
    assert_eq!(reset.status, 303);
    assert_eq!(app.audit_count("second_factor.reset").await, 1);
    let (actor, object): (String, String) = sqlx::query_as(
        "SELECT actor_name, object_id FROM audit_log WHERE action = 'second_factor.reset'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((actor.as_str(), object), ("anquan_t", id.to_string()));
    assert_eq!(
        zhang.get("/account/password").await.status,
        303,
        "its sessions ended"
    );
    let after = secadmin.get(&format!("/admin/users/{id}")).await;
    assert!(after.text("#second-factor").contains("未绑定"));

    let again = password_only(&app.client(), "zhang").await;
    assert_eq!(again.location(), "/login/enrol", "enrols again");
    assert_eq!(zhang.login("zhang", PASSWORD).await.status, 303);
    assert_eq!(app.audit_count("second_factor.enrol").await, 4);

    let own: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'anquan_t'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let mine = secadmin
        .post(&format!("/admin/users/{own}/reset-second-factor"), &[])
        .await;
    assert_eq!(mine.status, 400, "nobody resets their own");
    let nobody = secadmin
        .post("/admin/users/999999/reset-second-factor", &[])
        .await;
    assert_eq!(nobody.status, 404);
}

#[tokio::test]
async fn no_api_token_works_or_is_made_before_enrolment() {
    let app = TestApp::spawn().await;
    let id = app.user("zhou", Role::Staff).await;
    let token = "xft_unenrolled0000000000000000000000000000000000000000000000000000";
    sqlx::query("INSERT INTO api_tokens (user_id, name, token_hash, expires_at) VALUES ($1, 'x', $2, now() + interval '1 day')")
        .bind(id)
        .bind(session::hash(token))
        .execute(&app.db)
        .await
        .unwrap();
    let me = |t: String| {
        app.client()
            .http
            .get(format!("{}/api/v1/me", app.origin()))
            .bearer_auth(t)
            .send()
    };
    assert_eq!(
        me(token.into()).await.unwrap().status(),
        401,
        "not enrolled"
    );

    // A session without the factor (made here directly; sign-in never gives one) cannot make one.
    let bare = session::create(
        &app.db,
        id,
        chrono::Utc::now(),
        "127.0.0.1".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let refused = reqwest::Client::new()
        .post(format!("{}/me/tokens", app.origin()))
        .header("Origin", app.origin())
        .header("Cookie", format!("{}={bare}", session::COOKIE))
        .form(&[("name", "热线")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("尚未绑定双因素认证"));

    let client = app.client();
    assert_eq!(client.login("zhou", PASSWORD).await.status, 303);
    let new_token = crate::api::create_token(&client, "热线").await;
    assert_eq!(me(new_token).await.unwrap().status(), 200, "enrolled");
}

#[tokio::test]
async fn demo_accounts_skip_the_second_factor_only_in_demo_mode() {
    let app = TestApp::spawn().await;
    let owner = sqlx::PgPool::connect(&app.url).await.unwrap();
    xiafang::demo::seed(&owner, app.clock.as_ref(), &app.state.keys)
        .await
        .unwrap();
    app.user("zhang", Role::Staff).await;
    let plain = app.client();
    let r = demo_login(&plain).await;
    assert_eq!(
        r.location(),
        "/login/enrol",
        "the is_demo flag alone skips nothing"
    );
    assert_eq!(plain.get("/staff/visits").await.status, 303);

    let demo = TestApp::start_on(app.url.clone(), |c| c.demo_mode = true).await;
    let client = demo.client();
    let r = demo_login(&client).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), home_for(Role::Staff), "signed in at once");
    assert_eq!(client.get("/staff/visits").await.status, 200);
    assert_eq!(
        last_detail(&demo, "login", true).await["second_factor"],
        "demo_mode"
    );
    let other = password_only(&demo.client(), "zhang").await;
    assert_eq!(
        other.location(),
        "/login/enrol",
        "not a demo account: the factor all the same"
    );
}

#[tokio::test]
async fn every_role_signs_in_through_the_second_factor() {
    let app = TestApp::spawn().await;
    for role in Role::ALL {
        let name = format!("r_{}", role.as_str());
        app.user(&name, role).await;
        let client = app.client();
        let first = password_only(&client, &name).await;
        assert_eq!(first.location(), "/login/enrol", "{role:?}");
        let r = client.login(&name, PASSWORD).await;
        assert_eq!(r.status, 303, "{role:?}");
        assert_eq!(r.location(), home_for(role), "{role:?}");
        let again = app.client().login(&name, PASSWORD).await;
        assert_eq!(again.location(), home_for(role), "{role:?} with a code");
    }
    let enrolled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'login' AND success AND detail->>'factor' = 'totp'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(enrolled, 14);
}

#[tokio::test]
async fn on_a_phone_the_enrolment_page_shows_the_qr_code_and_the_secret_and_fits() {
    let app = TestApp::spawn().await;
    app.user("wangjh", Role::Handler).await;
    let b = crate::browser::Browser::start(true).await;
    b.driver
        .goto(format!("{}/login", app.origin()))
        .await
        .unwrap();
    b.fill("用户名", "wangjh").await;
    b.fill("密码", PASSWORD).await;
    b.press("登录").await;
    b.screenshot("second-factor-enrol-phone").await;
    let text = b.body_text().await;
    assert!(
        text.contains("绑定双因素认证") && text.contains("动态验证码"),
        "{text}"
    );
    assert!(b.scroll_width().await <= 375, "no sideways scrolling");
    b.driver
        .execute(
            "document.querySelector('.totp-qr').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    let png = b.screenshot("second-factor-enrol-phone-qr").await;
    let qr = crate::browser::decode_qr(&png);
    assert!(
        qr.iter()
            .any(|s| s.starts_with("otpauth://totp/") && s.contains("wangjh")),
        "the QR code carries the account: {qr:?}"
    );
    b.pass_second_factor(&app, "wangjh").await;
    let landed = b.driver.current_url().await.unwrap();
    assert_eq!(landed.path(), home_for(Role::Handler));
    b.quit().await;
}
