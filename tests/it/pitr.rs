//! Point-in-time recovery (issue 17), as an operator runs it on the embedded cluster of its own
//! data directory: `serve --wal-archive`, `backup --base` while it serves, registration A, the
//! moment noted, registration B, the segment switched and archived, then `restore --base --until`
//! that moment into a fresh data directory: A is there, B is not.

use crate::backup::{owner, succeeded};
use crate::embedded::{free_port, signal, wait_ready};
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xiafang::db::embedded::{Cluster, ClusterOptions};

fn xiafang(data_dir: &Path, archive: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xiafang"));
    c.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--keys-file")
        .arg(data_dir.join("keys.json"))
        .arg("--wal-archive")
        .arg(archive)
        .env_remove("DATABASE_URL")
        .env_remove("XIAFANG_OWNER_DATABASE_URL")
        .env("RUST_LOG", "warn");
    c
}

/// A registration in the demo's first visit, its code `code` (ciphertexts of the right shape:
/// this test reads only codes).
async fn register(db: &mut PgConnection, code: &str) {
    sqlx::query(
        "INSERT INTO registrations (visit_id, code, channel, name, id_number_cipher, id_number_key_id,
             id_number_index, id_number_mask, category_id, grievance, consent_at, created_by)
         VALUES ((SELECT min(id) FROM visits), $1, 'walk_in', '按时刻', decode(repeat('00', 29), 'hex'), 0,
             decode(repeat('00', 32), 'hex'), '110***********123X', (SELECT min(id) FROM categories),
             '恢复演练', now(), (SELECT min(id) FROM users))",
    )
    .bind(code)
    .execute(db)
    .await
    .unwrap();
}

/// `serve`, stopped by SIGTERM even when an assertion fails (it holds the test's stderr).
struct Server(Child);

impl Server {
    fn stop(mut self) {
        signal(&self.0, nix::sys::signal::Signal::SIGTERM);
        assert!(self.0.wait().unwrap().success(), "serve exits cleanly");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.0.try_wait().is_ok_and(|s| s.is_none()) {
            signal(&self.0, nix::sys::signal::Signal::SIGTERM);
            let _ = self.0.wait();
        }
    }
}

async fn codes(db: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT code FROM registrations WHERE code LIKE 'ZZZZ%' ORDER BY code")
        .fetch_all(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_restore_until_a_moment_holds_what_was_committed_before_it_and_nothing_after() {
    let root =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pitr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (original, restored) = (root.join("a"), root.join("b"));
    let (archive, bases) = (root.join("wal-archive"), root.join("bases"));

    let port = free_port();
    let server = Server(
        xiafang(
            &original,
            &archive,
            &["serve", "--demo", "--bind", &format!("127.0.0.1:{port}")],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap(),
    );
    wait_ready(port).await;

    let printed = succeeded(
        &xiafang(
            &original,
            &archive,
            &["backup", "--base", "--out", bases.to_str().unwrap()],
        )
        .output()
        .unwrap(),
        "backup --base",
    );
    assert!(
        printed.contains("分开存放"),
        "the base backup says that keys are kept apart: {printed}"
    );
    let base = std::fs::read_dir(&bases)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("xiafang-base-")
        })
        .expect("one dated base backup");
    assert!(
        !base.join("keys.json").exists(),
        "no key file in the base backup"
    );

    let mut db = owner(&original).await;
    register(&mut db, "ZZZZAAAA").await;
    let noted: String = sqlx::query_scalar("SELECT now()::text")
        .fetch_one(&mut db)
        .await
        .unwrap();
    register(&mut db, "ZZZZBBBB").await;
    let segment: String = sqlx::query_scalar("SELECT pg_walfile_name(pg_switch_wal())")
        .fetch_one(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !archive.join(&segment).exists() {
        assert!(
            Instant::now() < deadline,
            "segment {segment} was not archived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop();

    std::fs::create_dir_all(&restored).unwrap();
    std::fs::copy(original.join("keys.json"), restored.join("keys.json")).unwrap();
    let restore = [
        "restore",
        "--base",
        base.to_str().unwrap(),
        "--until",
        noted.as_str(),
    ];
    let report = succeeded(
        &xiafang(&restored, &archive, &restore).output().unwrap(),
        "restore --base --until",
    );
    assert!(
        report.contains("recovery stopping before commit"),
        "the restore says where replay stopped: {report}"
    );
    let again = xiafang(&restored, &archive, &restore).output().unwrap();
    assert!(
        !again.status.success(),
        "a restore never writes over a cluster"
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("没有恢复任何内容"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let cluster = Cluster::start(&restored.join("postgres"), ClusterOptions::default())
        .await
        .unwrap();
    let mut db = PgConnection::connect(&cluster.url("xiafang"))
        .await
        .unwrap();
    assert_eq!(
        codes(&mut db).await,
        ["ZZZZAAAA"],
        "A is restored and B is not"
    );
    let writable: bool = sqlx::query_scalar("SELECT NOT pg_is_in_recovery()")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(writable, "the restored cluster was promoted");
    db.close().await.unwrap();
    cluster.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
