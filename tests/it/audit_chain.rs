//! The tamper-evident audit log (issue 13, DESIGN §7): every entry is chained to the one before by
//! an SM3 hash; `xiafang audit verify` recomputes the chain and names the first entry that does not
//! match — whoever changed it, the owner included.

use crate::harness::{PASSWORD, TestApp};
use std::process::{Command, Output};
use xiafang::audit::forward;
use xiafang::web::auth::Role;

/// `xiafang audit verify` on this test's database, as the app role.
async fn verify(app: &TestApp) -> Output {
    let url = crate::harness::app_url(&app.url).await;
    let data = std::env::temp_dir().join(format!("xf-audit-{}", std::process::id()));
    Command::new(env!("CARGO_BIN_EXE_xiafang"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", url)
        .env("XIAFANG_DATA_DIR", data)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn altering_or_removing_one_entry_with_the_owners_rights_breaks_the_chain_there() {
    let app = TestApp::spawn().await;
    // Audited acts through the app: sign-ins, a failed one, a sign-out.
    app.user("xinfang", Role::Staff).await;
    for _ in 0..3 {
        let c = app.client();
        assert_eq!(c.login("xinfang", PASSWORD).await.status, 303);
        assert_eq!(c.post("/logout", &[]).await.status, 303);
    }
    assert_eq!(
        app.client().login("xinfang", "wrong-password").await.status,
        401
    );
    let owner = sqlx::PgPool::connect(&app.url).await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id")
        .fetch_all(&owner)
        .await
        .unwrap();
    assert!(ids.len() >= 7, "{ids:?}");
    let unchained: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE hash IS NULL")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(unchained, 0);

    let out = verify(&app).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("审计日志完整：{} 条", ids.len())),
        "{}",
        text(&out)
    );

    // The owner rewrites one entry's detail: verify fails at that entry.
    let victim = ids[ids.len() / 2];
    sqlx::query("UPDATE audit_log SET success = NOT success WHERE id = $1")
        .bind(victim)
        .execute(&owner)
        .await
        .unwrap();
    let out = verify(&app).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("第 {victim} 条")),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("被改动"), "{}", text(&out));
    // Put back, it verifies again; removing it instead breaks the chain at the next entry.
    sqlx::query("UPDATE audit_log SET success = NOT success WHERE id = $1")
        .bind(victim)
        .execute(&owner)
        .await
        .unwrap();
    assert!(verify(&app).await.status.success());
    sqlx::query("DELETE FROM audit_log WHERE id = $1")
        .bind(victim)
        .execute(&owner)
        .await
        .unwrap();
    let out = verify(&app).await;
    assert!(!out.status.success());
    let next = ids[ids.len() / 2 + 1];
    assert!(
        text(&out).contains(&format!("第 {next} 条")),
        "{}",
        text(&out)
    );
    owner.close().await;
}

/// `xiafang migrate` as the owner of this test's database.
fn migrate(app: &TestApp) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xiafang"))
        .arg("migrate")
        .env("XIAFANG_OWNER_DATABASE_URL", &app.url)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

#[tokio::test]
async fn migrate_chains_a_log_from_before_the_chain_and_never_an_entry_slipped_in_after_it() {
    let app = TestApp::spawn().await;
    app.user("xinfang", Role::Staff).await;
    for _ in 0..3 {
        assert_eq!(app.client().login("xinfang", PASSWORD).await.status, 303);
    }
    let owner = sqlx::PgPool::connect(&app.url).await.unwrap();
    // A log as migration 0025 finds it: no hashes.
    sqlx::query("UPDATE audit_log SET prev_hash = NULL, hash = NULL")
        .execute(&owner)
        .await
        .unwrap();
    assert!(!verify(&app).await.status.success());
    let out = migrate(&app);
    assert!(out.status.success(), "{}", text(&out));
    let out = verify(&app).await;
    assert!(out.status.success(), "{}", text(&out));
    // An entry written around the app afterwards is not chained by the next migrate.
    let forged: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (actor_name, action, success) VALUES ('xinfang', 'login', true) RETURNING id",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert!(migrate(&app).status.success());
    let out = verify(&app).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("第 {forged} 条")),
        "{}",
        text(&out)
    );
    owner.close().await;
}

#[tokio::test]
async fn committed_entries_are_forwarded_to_syslog_once_in_chain_order_with_their_hashes() {
    let app = TestApp::spawn().await;
    app.user("xinfang", Role::Staff).await;
    for _ in 0..2 {
        assert_eq!(app.client().login("xinfang", PASSWORD).await.status, 303);
    }
    let collector = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    collector
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let target =
        forward::Target::parse(&format!("udp://{}", collector.local_addr().unwrap())).unwrap();
    let stored: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(
        forward::pass(&app.db, &target, 100).await.unwrap(),
        stored.len()
    );
    let mut buf = [0u8; 8192];
    for (id, hash) in &stored {
        let n = collector.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(line.contains("xiafang"), "{line}");
        assert!(line.contains(&format!("\"id\":{id},")), "{line}");
        assert!(line.contains(&hex::encode(hash)), "{line}");
    }
    // Nothing again; a new act is sent next time, alone.
    assert_eq!(forward::pass(&app.db, &target, 100).await.unwrap(), 0);
    assert_eq!(app.client().login("xinfang", PASSWORD).await.status, 303);
    assert!(forward::pass(&app.db, &target, 100).await.unwrap() >= 1);
    let n = collector.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("\"action\":\"login\""));
}
