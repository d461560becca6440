//! Database identities (DESIGN §7): the app's pool logs in as `xiafang_app`, which can neither
//! erase history nor become the owner; the embedded cluster asks every role for its password,
//! also a cluster made by an earlier version that trusted its socket; `serve` refuses an owner's
//! URL and a schema that is behind.

use crate::harness::{TestApp, app_url, fresh_database};
use sqlx::{Connection, PgConnection, PgPool};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use xiafang::db::embedded::{Cluster, ClusterOptions};

fn code(err: &sqlx::Error) -> String {
    err.as_database_error()
        .and_then(|e| e.code())
        .unwrap_or_default()
        .into_owned()
}

#[tokio::test]
async fn a_pooled_connection_cannot_erase_history_or_become_the_owner() {
    let app = TestApp::spawn().await;
    app.client().login("nobody", "wrong-Pass1").await;
    let before = app.audit_count("login").await;
    assert_eq!(before, 1);
    let owner = PgPool::connect(&app.url).await.unwrap();
    let owner_name: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&owner)
        .await
        .unwrap();

    let mut conn = app.db.acquire().await.unwrap();
    let who: (String, String) = sqlx::query_as("SELECT session_user::text, current_user::text")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(who, ("xiafang_app".into(), "xiafang_app".into()));
    for sql in [
        "RESET ROLE; DELETE FROM audit_log".to_owned(),
        format!("SET ROLE \"{owner_name}\""),
        format!("SET SESSION AUTHORIZATION \"{owner_name}\""),
        "UPDATE case_events SET text = ''".into(),
        "DELETE FROM case_events".into(),
        "TRUNCATE case_events".into(),
        "UPDATE feedback SET comment = ''".into(),
        "DELETE FROM feedback".into(),
        "TRUNCATE feedback".into(),
        "TRUNCATE audit_log".into(),
        "ALTER TABLE audit_log DISABLE TRIGGER ALL".into(),
    ] {
        let err = sqlx::raw_sql(&sql)
            .execute(&mut *conn)
            .await
            .expect_err(&sql);
        assert!(
            code(&err) == "42501" || code(&err) == "42883",
            "{sql}: expected permission denied, got {err}"
        );
    }
    // Adding history stays allowed: the app writes it.
    let can: (bool, bool, bool) = sqlx::query_as(
        "SELECT has_table_privilege('audit_log', 'INSERT'), has_table_privilege('case_events', 'INSERT'), has_table_privilege('feedback', 'INSERT')",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(can, (true, true, true));
    drop(conn);
    assert_eq!(app.audit_count("login").await, before);
    owner.close().await;
}

fn xiafang(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dbroles-serve-{}", std::process::id()));
    Command::new(env!("CARGO_BIN_EXE_xiafang"))
        .args(args)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("DATABASE_URL")
        .env_remove("XIAFANG_OWNER_DATABASE_URL")
        .env("XIAFANG_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[tokio::test]
async fn serve_refuses_the_owners_url_and_a_schema_that_is_behind() {
    let owner_url = fresh_database().await;
    let app = app_url(&owner_url).await;

    let out = xiafang(&[("DATABASE_URL", &owner_url)], &["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "serve ran as the owner: {err}");
    assert!(err.contains("xiafang_app"), "{err}");

    let owner = PgPool::connect(&owner_url).await.unwrap();
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&owner)
    .await
    .unwrap();
    owner.close().await;
    let out = xiafang(&[("DATABASE_URL", &app)], &["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "serve ran on an old schema: {err}");
    assert!(err.contains("xiafang migrate"), "{err}");

    let out = xiafang(&[("DATABASE_URL", &app)], &["migrate"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("XIAFANG_OWNER_DATABASE_URL"),
        "{err}"
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dbroles-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The owner's URL without its password.
fn without_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let user = userinfo.split(':').next().unwrap();
    format!("{scheme}://{user}@{host}")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn refused_without_password(cluster: &Cluster) {
    let err = PgConnection::connect(&without_password(&cluster.url("postgres")))
        .await
        .expect_err("the owner got in without its password");
    let text = err.to_string();
    assert!(
        code(&err) == "28P01" || text.contains("password"),
        "refused for its password: {text}"
    );
}

#[tokio::test]
async fn embedded_cluster_asks_every_role_for_its_password() {
    let dir = scratch("fresh");
    let cluster = Cluster::start(&dir.join("postgres"), ClusterOptions { fsync: false })
        .await
        .unwrap();
    let result = async {
        for file in ["postgres.owner-password", "postgres.app-password"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        refused_without_password(&cluster).await;
        PgConnection::connect(&cluster.url("postgres"))
            .await
            .unwrap();

        // migrate makes the app role with the cluster's app password; then it logs in.
        xiafang::db::migrate(&cluster.url("postgres"), Some(cluster.app_password()))
            .await
            .unwrap();
        let mut app = PgConnection::connect(&cluster.app_url("postgres"))
            .await
            .unwrap();
        let super_: bool =
            sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                .fetch_one(&mut app)
                .await
                .unwrap();
        assert!(!super_);
        let wrong = cluster
            .app_url("postgres")
            .replace(cluster.app_password(), "guess");
        assert!(PgConnection::connect(&wrong).await.is_err());
    }
    .await;
    cluster.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[tokio::test]
async fn embedded_cluster_of_an_earlier_version_is_converted_at_start_up() {
    let dir = scratch("trust");
    let pg = dir.join("postgres");
    // Make what the previous version made: no passwords, a socket that trusts everyone.
    let cluster = Cluster::start(&pg, ClusterOptions { fsync: false })
        .await
        .unwrap();
    let mut owner = PgConnection::connect(&cluster.url("postgres"))
        .await
        .unwrap();
    for sql in [
        "CREATE DATABASE xiafang",
        "ALTER ROLE xiafang PASSWORD NULL",
    ] {
        sqlx::raw_sql(sql).execute(&mut owner).await.unwrap();
    }
    owner.close().await.unwrap();
    cluster.stop().await.unwrap();
    for file in ["postgres.owner-password", "postgres.app-password"] {
        std::fs::remove_file(dir.join(file)).unwrap();
    }
    std::fs::write(pg.join("pg_hba.conf"), "local all all trust\n").unwrap();

    let cluster = Cluster::start(&pg, ClusterOptions { fsync: false })
        .await
        .unwrap();
    let result = async {
        assert_eq!(mode(&dir.join("postgres.owner-password")), 0o600);
        let hba = std::fs::read_to_string(pg.join("pg_hba.conf")).unwrap();
        assert!(
            hba.contains("scram-sha-256") && !hba.contains("trust"),
            "{hba}"
        );
        refused_without_password(&cluster).await;
        // The upgrade goes on: migrate as the owner makes the app role, and it logs in.
        let generated = xiafang::db::migrate(&cluster.url("xiafang"), None)
            .await
            .unwrap();
        let password = generated.expect("a new app role's password is shown once");
        let app = xiafang::db::url_as(&cluster.url("xiafang"), "xiafang_app", &password);
        PgConnection::connect(&app).await.unwrap();
        let again = xiafang::db::migrate(&cluster.url("xiafang"), None)
            .await
            .unwrap();
        assert_eq!(again, None, "an existing role keeps its password");
    }
    .await;
    cluster.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
