//! The restore drill (issue 17), as an operator runs it on the embedded cluster: the demo and the
//! Pujiang day seeded, a case approved through its page, `xiafang backup`, a restore with the
//! wrong key file refused before it writes anything, a restore into a fresh data directory whose
//! every table counts as many rows as the original, and the app started on it showing the same.

use crate::embedded::{free_port, signal, wait_ready};
use crate::harness::Client;
use crate::keys::load;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use xiafang::crypto::software::KeysFile;
use xiafang::db::embedded::{Cluster, ClusterOptions};
use xiafang::demo::DEMO_PASSWORD;
use xiafang::privacy::Column;

fn xiafang(data_dir: &Path, keys: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xiafang"));
    c.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--keys-file")
        .arg(keys)
        .env_remove("DATABASE_URL")
        .env_remove("XIAFANG_OWNER_DATABASE_URL")
        .env("RUST_LOG", "warn");
    c
}

fn run(data_dir: &Path, keys: &Path, args: &[&str]) -> Output {
    xiafang(data_dir, keys, args).output().unwrap()
}

pub fn succeeded(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `serve --demo` (demo accounts sign in with their password alone) on a free port, ready.
async fn serve(data_dir: &Path, keys: &Path) -> (Child, Client, String) {
    let port = free_port();
    let child = xiafang(
        data_dir,
        keys,
        &["serve", "--demo", "--bind", &format!("127.0.0.1:{port}")],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    wait_ready(port).await;
    let origin = format!("http://127.0.0.1:{port}");
    let client = Client::for_origin(&origin);
    let login = client
        .post(
            "/login",
            &[("username", "ducha"), ("password", DEMO_PASSWORD)],
        )
        .await;
    assert_eq!(login.status, 303, "the demo supervisor signs in");
    (child, client, origin)
}

fn stop(mut child: Child) {
    signal(&child, nix::sys::signal::Signal::SIGTERM);
    assert!(
        child.wait().unwrap().success(),
        "the instance exits cleanly"
    );
}

/// What the drill compares, read on the cluster of `data_dir` with no app running on it.
struct Snapshot {
    counts: BTreeMap<String, i64>,
    id_number: (i64, String),
}

async fn snapshot(data_dir: &Path, keys: &Path) -> Snapshot {
    let cluster = Cluster::start(&data_dir.join("postgres"), ClusterOptions::default())
        .await
        .unwrap();
    let mut db = PgConnection::connect(&cluster.url("xiafang"))
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut counts = BTreeMap::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{table}\""))
            .fetch_one(&mut db)
            .await
            .unwrap();
        counts.insert(table, n);
    }
    let (id, cipher, key_id): (i64, Vec<u8>, i16) = sqlx::query_as(
        "SELECT id, id_number_cipher, id_number_key_id FROM registrations
         WHERE id_number_key_id > 0 ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    let number = load(keys)
        .decrypt(Column::REGISTRATION_ID_NUMBER, id, key_id, &cipher)
        .unwrap();
    db.close().await.unwrap();
    cluster.stop().await.unwrap();
    Snapshot {
        counts,
        id_number: (id, number),
    }
}

/// A case page without what differs between two sign-ins (the forms' tokens).
async fn case_page(client: &Client, id: i64) -> String {
    let page = client.get(&format!("/cases/{id}")).await;
    assert_eq!(page.status, 200, "the case page");
    page.html()
        .select(&scraper::Selector::parse("main").unwrap())
        .next()
        .expect("a main element")
        .text()
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The owner's connection to the cluster a running `serve` started on `data_dir`.
pub async fn owner(data_dir: &Path) -> PgConnection {
    let password = std::fs::read_to_string(data_dir.join("postgres.owner-password")).unwrap();
    let url = format!(
        "postgres://xiafang:{}@localhost/xiafang?host={}",
        password.trim(),
        xiafang::db::embedded::socket_dir(&data_dir.join("postgres")).display()
    );
    PgConnection::connect(&url).await.unwrap()
}

/// The demo county's first case awaiting the supervisor's approval, approved through its page.
async fn approve_a_case(data_dir: &Path, client: &Client) -> i64 {
    let mut db = owner(data_dir).await;
    let id: i64 = sqlx::query_scalar(
        "SELECT c.id FROM cases c JOIN visits v ON v.id = c.visit_id JOIN jurisdictions j ON j.id = v.county_id
         WHERE c.status = 'closure_submitted' AND j.code = $1 ORDER BY c.id LIMIT 1",
    )
    .bind(xiafang::demo::COUNTY_A)
    .fetch_one(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    let page = client.get(&format!("/cases/{id}")).await;
    let version = page.field_value("version");
    let approved = client
        .post(
            &format!("/cases/{id}/approve"),
            &[("version", version.as_str()), ("decision_note", "同意办结")],
        )
        .await;
    assert_eq!(approved.status, 303, "the supervisor approves the closure");
    id
}

/// A citizen registered at the Pujiang day's door by the demo staff account (现场登记): the
/// newest registration, so the drill's ID number is one written through a form.
async fn register_a_walk_in(data_dir: &Path, origin: &str) -> String {
    let mut db = owner(data_dir).await;
    let (visit, category): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT id FROM visits WHERE title LIKE '%浦江 2003%'),
                (SELECT id FROM categories WHERE parent_id IS NOT NULL ORDER BY id LIMIT 1)",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    let staff = Client::for_origin(origin);
    let login = staff
        .post(
            "/login",
            &[("username", "xinfang"), ("password", DEMO_PASSWORD)],
        )
        .await;
    assert_eq!(login.status, 303, "the demo staff account signs in");
    let path = format!("/staff/visits/{visit}/walkin");
    let token = staff.get(&path).await.field_value("form_token");
    let id_number = crate::fixtures::id_number("33072619650505123");
    let registered = staff
        .post(
            &path,
            &[
                ("form_token", token.as_str()),
                ("name", "备份演练"),
                ("id_number", &id_number),
                ("phone", "13905790123"),
                ("address", "浦阳县仙华街道"),
                ("township", "仙华街道"),
                ("persons", "1"),
                ("category_id", &category.to_string()),
                ("grievance", "备份演练：村口路灯不亮。"),
                ("informed", "on"),
            ],
        )
        .await;
    assert_eq!(registered.status, 303, "the walk-in: {}", registered.body);
    id_number
}

#[tokio::test]
async fn a_backup_restores_into_a_fresh_directory_with_every_row_and_only_with_its_key_file() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("backup-drill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (original, restored, out) = (root.join("a"), root.join("b"), root.join("backups"));
    let keys = original.join("keys.json");
    succeeded(&run(&original, &keys, &["demo"]), "demo");
    succeeded(
        &run(&original, &keys, &["demo", "--pujiang"]),
        "demo --pujiang",
    );

    let (server, client, origin) = serve(&original, &keys).await;
    let registered = register_a_walk_in(&original, &origin).await;
    let case = approve_a_case(&original, &client).await;
    let flashed = case_page(&client, case).await;
    assert!(flashed.contains("已审核通过"), "{flashed}");
    let shown = case_page(&client, case).await;
    assert!(
        shown.contains("已办结") && shown.contains("同意办结"),
        "{shown}"
    );
    stop(server);
    let before = snapshot(&original, &keys).await;
    assert_eq!(before.id_number.1, registered, "the walk-in is the newest");

    let printed = succeeded(
        &run(
            &original,
            &keys,
            &["backup", "--out", out.to_str().unwrap()],
        ),
        "backup",
    );
    assert!(
        printed.contains(keys.to_str().unwrap()) && printed.contains("分开存放"),
        "the backup says where the key file must be kept: {printed}"
    );
    let archive = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tar"))
        .expect("one dated archive");
    let cluster = Cluster::start(&original.join("postgres"), ClusterOptions::default())
        .await
        .unwrap();
    let mut db = PgConnection::connect(&cluster.url("xiafang"))
        .await
        .unwrap();
    let audited: String = sqlx::query_scalar(
        "SELECT detail->>'file' FROM audit_log WHERE action = 'backup.create' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(
        audited,
        archive.display().to_string(),
        "the backup is audited"
    );
    db.close().await.unwrap();
    cluster.stop().await.unwrap();
    let members: Vec<String> = tar::Archive::new(std::fs::File::open(&archive).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(members, ["manifest.json", "globals.sql", "db.dump"]);
    let key_file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keys).unwrap()).unwrap();
    let archive_bytes = std::fs::read(&archive).unwrap();
    for key in [
        &key_file["index"]["key"],
        &key_file["encryption"]["1"]["key"],
    ] {
        let hex = key.as_str().unwrap();
        let raw = hex::decode(hex).unwrap();
        assert!(
            !archive_bytes
                .windows(hex.len())
                .any(|w| w == hex.as_bytes())
                && !archive_bytes.windows(raw.len()).any(|w| w == raw),
            "the key file is never inside the backup"
        );
    }

    // Another database's key file: refused, and the target directory stays empty.
    let wrong = root.join("wrong-keys.json");
    KeysFile::generate().write(&wrong).unwrap();
    let refused = run(&restored, &wrong, &["restore", archive.to_str().unwrap()]);
    assert!(!refused.status.success(), "a restore with the wrong keys");
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("解不开") && why.contains("没有恢复任何内容"),
        "{why}"
    );
    assert!(
        !restored.exists(),
        "nothing was written before the key file was checked"
    );

    let report = succeeded(
        &run(&restored, &keys, &["restore", archive.to_str().unwrap()]),
        "restore",
    );
    assert!(
        report.contains(&format!("cases: {} 行", before.counts["cases"])),
        "the restore says what it restored: {report}"
    );
    let again = run(&restored, &keys, &["restore", archive.to_str().unwrap()]);
    assert!(
        !again.status.success(),
        "a restore never writes over a cluster"
    );

    let after = snapshot(&restored, &keys).await;
    assert_eq!(
        after.counts, before.counts,
        "every table counts the same rows"
    );
    assert!(
        before.counts["registrations"] >= 429 && before.counts["cases"] > 0,
        "the demo and the Pujiang day are in it: {:?}",
        before.counts
    );
    assert_eq!(
        after.id_number, before.id_number,
        "the ID number decrypts the same"
    );

    let (server, client, _) = serve(&restored, &keys).await;
    assert_eq!(
        case_page(&client, case).await,
        shown,
        "the case page reads the same"
    );
    stop(server);
    let _ = std::fs::remove_dir_all(&root);
}
