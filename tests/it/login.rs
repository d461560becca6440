//! Signing in under attack: a lockout that parallel guesses cannot race, limits on `/login` per
//! client and overall, and one answer for every kind of refusal (DESIGN §7).

use crate::harness::{PASSWORD, TestApp};
use chrono::{DateTime, Duration, Utc};
use reqwest::header::RETRY_AFTER;
use xiafang::clock::Clock;
use xiafang::config::Config;
use xiafang::web::auth::Role;

async fn failed_logins_audited(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'login' AND NOT success")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn parallel_wrong_passwords_lock_the_account_and_the_right_one_waits_for_the_lock() {
    let app = TestApp::spawn().await;
    let id = app.user("zhang", Role::Staff).await;
    let clients: Vec<_> = (0..50).map(|_| app.client()).collect();
    let guesses =
        futures_util::future::join_all(clients.iter().map(|c| c.login("zhang", "Wrong-pass1")));
    // The right password, sent while the guesses are still running, once five failures are recorded.
    let right = async {
        while failed_logins_audited(&app).await < 5 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        app.client().login("zhang", PASSWORD).await
    };
    let (answers, right) = tokio::join!(guesses, right);
    assert!(answers.iter().all(|a| a.status == 401));
    assert_eq!(
        right.status, 401,
        "the right password after the 5th failure is refused"
    );

    let (failed, locked_until): (i32, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT failed_logins, locked_until FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(failed >= 5, "every guess counted: {failed}");
    assert!(locked_until.is_some_and(|t| t > app.clock.now()));
    assert_eq!(app.audit_count("account.locked").await, 1, "locked once");
    assert_eq!(failed_logins_audited(&app).await, 51);

    app.clock.advance(Duration::minutes(29));
    let still = app.client().login("zhang", PASSWORD).await;
    assert_eq!(still.status, 401, "still locked after 29 minutes");
    app.clock
        .advance(Duration::minutes(1) + Duration::seconds(1));
    let ok = app.client().login("zhang", PASSWORD).await;
    assert_eq!(ok.status, 303, "open once the lock has ended");
    let failed: i32 = sqlx::query_scalar("SELECT failed_logins FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(failed, 0);
}

fn assert_too_many(r: &crate::harness::Resp) {
    assert_eq!(r.status, 429);
    let retry: i64 = r.headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(r.body.contains("操作过于频繁"), "{}", r.body);
}

#[tokio::test]
async fn the_21st_attempt_from_one_address_within_a_minute_is_refused() {
    let defaults = Config::default();
    assert_eq!(defaults.login_per_ip_per_minute, 20);
    let app = TestApp::spawn_with(|c| {
        c.login_per_ip_per_minute = defaults.login_per_ip_per_minute;
        c.login_per_minute = defaults.login_per_minute;
    })
    .await;
    app.user("zhang", Role::Staff).await;
    let client = app.client();
    for _ in 0..20 {
        assert_eq!(client.login("zhang", "Wrong-pass1").await.status, 401);
    }
    assert_too_many(&client.login("zhang", PASSWORD).await);
    assert_eq!(
        failed_logins_audited(&app).await,
        20,
        "refused before the password is looked at"
    );
    assert_eq!(app.audit_count("account.locked").await, 1);

    app.clock.advance(Duration::minutes(1));
    assert_eq!(
        client.login("nobody", "Wrong-pass1").await.status,
        401,
        "the next minute counts afresh"
    );
}

/// A wrong password whose X-Forwarded-For names 10.0.0.`n`.
fn wrong_password_from(
    client: &crate::harness::Client,
    app: &TestApp,
    n: u8,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
    client
        .http
        .post(format!("{}/login", app.origin()))
        .header("x-forwarded-for", format!("10.0.0.{n}"))
        .form(&[("username", "nobody"), ("password", "Wrong-pass1")])
        .send()
}

#[tokio::test]
async fn attempts_from_every_address_together_have_a_limit_too() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.login_per_ip_per_minute = Config::default().login_per_ip_per_minute;
        c.login_per_minute = 5;
    })
    .await;
    let client = app.client();
    let from = |n: u8| wrong_password_from(&client, &app, n);
    for n in 1..=5 {
        assert_eq!(from(n).await.unwrap().status(), 401);
    }
    let refused = from(6).await.unwrap();
    assert_eq!(refused.status(), 429, "a sixth address within the minute");
    assert!(refused.headers().contains_key(RETRY_AFTER));
    assert_eq!(failed_logins_audited(&app).await, 5);
}

#[tokio::test]
async fn every_refusal_gives_the_same_page() {
    let app = TestApp::spawn().await;
    app.user("zhang", Role::Staff).await;
    let inactive = app.user("wang", Role::Staff).await;
    sqlx::query("UPDATE users SET active = false WHERE id = $1")
        .bind(inactive)
        .execute(&app.db)
        .await
        .unwrap();
    let client = app.client();
    // The same typed name each time would hide nothing: compare with the typed name blanked out.
    let page = |name: &str, body: &str| body.replace(name, "NAME");
    let unknown = client.login("nobody", "Wrong-pass1").await;
    let wrong = client.login("zhang", "Wrong-pass1").await;
    let off = client.login("wang", PASSWORD).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(off.status, unknown.status);
    assert_eq!(page("zhang", &wrong.body), page("nobody", &unknown.body));
    assert_eq!(page("wang", &off.body), page("nobody", &unknown.body));
    assert_eq!(wrong.text("[role=alert]"), unknown.text("[role=alert]"));
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // No trusted proxy: every request comes from the peer, whatever X-Forwarded-For says, so a
    // client cannot dodge the per-address limit by inventing addresses.
    let app = TestApp::spawn_with(|c| {
        c.login_per_ip_per_minute = 3;
    })
    .await;
    let client = app.client();
    let from = |n: u8| wrong_password_from(&client, &app, n);
    for n in 1..=3 {
        assert_eq!(from(n).await.unwrap().status(), 401);
    }
    assert_eq!(
        from(4).await.unwrap().status(),
        429,
        "one address: the peer's"
    );
    let ips: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT host(ip) FROM audit_log WHERE action = 'login'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(ips, ["127.0.0.1"], "the audit records the peer");
}

#[tokio::test]
async fn each_role_lands_on_its_own_work_after_signing_in() {
    let app = TestApp::spawn().await;
    let homes = [
        (Role::Staff, "/staff/visits"),
        (Role::Leader, "/me/today"),
        (Role::Handler, "/dept/cases"),
        (Role::Supervisor, "/supervision"),
        (Role::Auditor, "/audit"),
        (Role::Sysadmin, "/admin/users"),
        (Role::Secadmin, "/admin/users"),
    ];
    for (role, home) in homes {
        let name = format!("home_{}", role.as_str());
        app.user(&name, role).await;
        let client = app.client();
        let login = client.login(&name, PASSWORD).await;
        assert_eq!((login.status, login.location()), (303, home), "{name}");
        assert_eq!(client.get(home).await.status, 200, "{name} may open {home}");
    }
}
