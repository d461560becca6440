//! The field keys as an operator meets them: a database written under the AES keys of before,
//! `xiafang keys rotate` to SM4, a ciphertext moved into another row, and `serve` without its key
//! file.

use crate::fixtures::{self, fixture, id_number};
use crate::harness::{TestApp, app_url, fresh_database};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use xiafang::clock::ManualClock;
use xiafang::consult::checkin_rules::Query;
use xiafang::crypto::software::{KeysFile, Software};
use xiafang::privacy::{Column, Field, Keys};

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("keys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `xiafang ARGS --keys-file KEYS` over an external database, as an operator runs it.
pub(crate) fn xiafang(owner_url: &str, app_url: &str, keys: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xiafang"))
        .args(args)
        .arg("--keys-file")
        .arg(keys)
        .arg("--data-dir")
        .arg(keys.parent().unwrap())
        .env("DATABASE_URL", app_url)
        .env("XIAFANG_OWNER_DATABASE_URL", owner_url)
        .env("XIAFANG_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

pub(crate) fn load(path: &Path) -> Keys {
    Keys::new(Software::from_file(&KeysFile::read(path).unwrap().unwrap()).unwrap())
}

/// An app instance on the database `url` with `keys`, as `serve` would run it.
pub(crate) async fn app_with(url: &str, keys: Keys) -> TestApp {
    let config = xiafang::config::Config {
        db_max_connections: 4,
        login_per_ip_per_minute: 100_000,
        login_per_minute: 100_000,
        ..Default::default()
    };
    let db = xiafang::db::connect(&app_url(url).await, 4).await.unwrap();
    let clock = ManualClock::new(chrono::Utc::now());
    let state = xiafang::state::AppState::new(db.clone(), config, clock.clone(), Arc::new(keys))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(xiafang::app::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    TestApp {
        addr,
        db,
        url: url.to_owned(),
        clock,
        state,
    }
}

/// The keys file main wrote before 国密: bare hex, AES-256-GCM key 1, an HMAC-SHA256 index key.
const AES_KEY: [u8; 32] = [0x11; 32];
const INDEX_KEY: [u8; 32] = [0x22; 32];

fn write_aes_keys(path: &Path) {
    let file = serde_json::json!({
        "current": 1,
        "encryption": {"1": hex::encode(AES_KEY)},
        "index": hex::encode(INDEX_KEY),
    });
    std::fs::write(path, file.to_string()).unwrap();
}

/// A number as main stored it: `nonce | AES-GCM`, no associated data, with the format byte 1
/// that migration 0023 put in front; and its HMAC-SHA256 blind index.
fn as_main_wrote(field: Field, value: &str) -> (Vec<u8>, Vec<u8>) {
    let nonce: [u8; 12] = rand::random();
    let mut bytes = vec![1u8];
    bytes.extend(nonce);
    bytes.extend(
        Aes256Gcm::new_from_slice(&AES_KEY)
            .unwrap()
            .encrypt(Nonce::from_slice(&nonce), value.as_bytes())
            .unwrap(),
    );
    let tag: &[u8] = match field {
        Field::IdNumber => b"id_number\0",
        Field::Phone => b"phone\0",
        Field::Name => b"name\0",
    };
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&INDEX_KEY).unwrap();
    mac.update(tag);
    mac.update(value.as_bytes());
    (bytes, mac.finalize().into_bytes().to_vec())
}

async fn insert_as_main_wrote(fx: &fixtures::Fx, code: &str, id: &str, phone: &str) -> i64 {
    let (id_cipher, id_index) = as_main_wrote(Field::IdNumber, id);
    let (phone_cipher, phone_index) = as_main_wrote(Field::Phone, phone);
    sqlx::query_scalar(
        "INSERT INTO registrations (visit_id, code, channel, name, id_number_cipher, id_number_key_id, id_number_index, id_number_mask,
                                    phone_cipher, phone_key_id, phone_index, phone_mask, category_id, grievance, status, consent_at, created_by)
         VALUES ($1, $2, 'phone', '张三', $3, 1, $4, $5, $6, 1, $7, $8, $9, '房屋漏水', 'confirmed', now(), $10) RETURNING id",
    )
    .bind(fx.visit)
    .bind(code)
    .bind(id_cipher)
    .bind(id_index)
    .bind(xiafang::privacy::mask_id_number(id))
    .bind(phone_cipher)
    .bind(phone_index)
    .bind(xiafang::privacy::mask_phone(phone))
    .bind(fx.cat_build)
    .bind(fx.staff_id)
    .fetch_one(&fx.owner)
    .await
    .unwrap()
}

async fn unmask(
    client: &crate::harness::Client,
    visit: i64,
    reg: i64,
    field: &str,
) -> crate::harness::Resp {
    client
        .post(
            &format!("/staff/visits/{visit}/registrations/{reg}/unmask"),
            &[("field", field)],
        )
        .await
}

#[tokio::test]
async fn a_database_written_under_the_aes_keys_reads_the_same_after_rotating_to_sm4() {
    let dir = scratch("rotate");
    let path = dir.join("keys.json");
    write_aes_keys(&path);
    let url = fresh_database().await;
    // The staff member signs in (enrolling the second factor under AES key 1), and two numbers
    // are stored as main stored them: the same person registered twice.
    let old = app_with(&url, load(&path)).await;
    let (fx, staff) = fixture(&old).await;
    let (id, phone_a, phone_b) = (id_number("33072619700101001"), "13812345678", "13912345678");
    let a = insert_as_main_wrote(&fx, "AAAA222222", &id, phone_a).await;
    let b = insert_as_main_wrote(&fx, "BBBB333333", &id, phone_b).await;
    let shown = unmask(&staff, fx.visit, a, "phone").await;
    assert_eq!(
        shown.text("#unmasked-value"),
        phone_a,
        "AES data reads before"
    );

    let out = xiafang(
        &url,
        &app_url(&url).await,
        &path,
        &["keys", "rotate", "--batch", "1"],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "SM4 密钥 2",
        "HMAC-SM3",
        "registrations.id_number: 2 行",
        "registrations.phone: 2 行",
        "users.totp_secret: 1 行",
    ] {
        assert!(said.contains(line), "{line} in: {said}");
    }
    let stored: Vec<(i16, i32, i16, i32)> = sqlx::query_as(
        "SELECT id_number_key_id, get_byte(id_number_cipher, 0), phone_key_id, get_byte(phone_cipher, 0) FROM registrations ORDER BY id",
    )
    .fetch_all(&fx.owner)
    .await
    .unwrap();
    assert_eq!(stored, vec![(2, 3, 2, 3); 2], "all SM4-GCM under key 2");
    // The name and grievance main stored in plaintext are sealed too (migration 0027).
    assert!(said.contains("2 行明文已加密"), "{said}");
    let rows: String =
        sqlx::query_scalar("SELECT string_agg(row_to_json(r)::text, ' ') FROM registrations r")
            .fetch_one(&fx.owner)
            .await
            .unwrap();
    assert!(
        !rows.contains("张三") && !rows.contains("房屋漏水"),
        "{rows}"
    );

    // An instance restarted with the rotated file reads everything as before.
    let keys = load(&path);
    let index = keys.blind_index(Field::IdNumber, &id);
    let new = app_with(&url, keys).await;
    let staff = new.client();
    assert_eq!(
        staff
            .login("xinfang", crate::harness::PASSWORD)
            .await
            .status,
        303,
        "the second factor survived"
    );
    for (reg, field, clear) in [
        (a, "phone", phone_a),
        (b, "phone", phone_b),
        (b, "id_number", id.as_str()),
    ] {
        let shown = unmask(&staff, fx.visit, reg, field).await;
        assert_eq!(shown.status, 200, "{}", shown.body);
        assert_eq!(shown.text("#unmasked-value"), clear);
    }
    let page = staff
        .get(&format!("/staff/visits/{}/registrations/{a}", fx.visit))
        .await;
    assert!(page.body.contains("张三") && page.body.contains("房屋漏水"));
    // Screening and the check-in search match on the new HMAC-SM3 index.
    let indexes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT id_number_index FROM registrations ORDER BY id")
            .fetch_all(&fx.owner)
            .await
            .unwrap();
    assert_eq!(indexes, vec![index.clone(); 2]);
    let mut conn = new.db.acquire().await.unwrap();
    for query in [Query::IdNumber(id.clone()), Query::Phone(phone_b.into())] {
        let found = xiafang::consult::arrival::find(&mut conn, &new.state.keys, fx.visit, &query)
            .await
            .unwrap();
        assert!(!found.here.is_empty(), "{query:?} found");
    }
    drop(conn);

    // An instance still on the old keys wrote a row meanwhile: rerunning continues, no new key.
    let c = insert_as_main_wrote(&fx, "CCCC444444", &id, phone_a).await;
    let out = xiafang(&url, &app_url(&url).await, &path, &["keys", "rotate"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("继续")
            && said.contains("registrations.phone: 1 行")
            && said.contains("users.totp_secret: 0 行"),
        "{said}"
    );
    let shown = unmask(&staff, fx.visit, c, "phone").await;
    assert_eq!(shown.text("#unmasked-value"), phone_a);
    let index_c: Vec<u8> =
        sqlx::query_scalar("SELECT id_number_index FROM registrations WHERE id = $1")
            .bind(c)
            .fetch_one(&fx.owner)
            .await
            .unwrap();
    assert_eq!(index_c, index, "re-indexed too");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_ciphertext_copied_into_another_row_does_not_decrypt() {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let reg = |code, id, phone| fixtures::Reg {
        code,
        name: "李四",
        id,
        phone,
        township: "仙华街道",
        persons: 1,
        category: fx.cat_build,
        window: fx.windows[0],
        status: "confirmed",
    };
    let a = fixtures::register(
        &fx,
        fx.visit,
        reg("AAAA222222", "33072619700101001", "13812345678"),
    )
    .await;
    let b = fixtures::register(
        &fx,
        fx.visit,
        reg("BBBB333333", "33072619800101002", "13912345678"),
    )
    .await;
    // Someone with the database's rights puts A's phone into B's row.
    sqlx::query(
        "UPDATE registrations b SET phone_cipher = a.phone_cipher, phone_key_id = a.phone_key_id
         FROM registrations a WHERE a.id = $1 AND b.id = $2",
    )
    .bind(a)
    .bind(b)
    .execute(&fx.owner)
    .await
    .unwrap();

    let shown = unmask(&staff, fx.visit, b, "phone").await;
    assert_eq!(
        shown.status, 500,
        "refused, with the generic page: {}",
        shown.body
    );
    assert!(!shown.body.contains("13812345678"));
    assert_eq!(
        app.audit_count("personal_data.unmask").await,
        0,
        "nothing shown, nothing audited"
    );
    let (cipher, key): (Vec<u8>, i16) =
        sqlx::query_as("SELECT phone_cipher, phone_key_id FROM registrations WHERE id = $1")
            .bind(b)
            .fetch_one(&fx.owner)
            .await
            .unwrap();
    let err = app
        .state
        .keys
        .decrypt(Column::REGISTRATION_PHONE, b, key, &cipher)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("registrations.phone of row {b}")) && err.contains("does not verify"),
        "{err}"
    );
    // A's own row still reads.
    let shown = unmask(&staff, fx.visit, a, "phone").await;
    assert_eq!(shown.text("#unmasked-value"), "13812345678");
}

/// What start-up might write: accounts, audit entries, jurisdictions, registrations.
async fn fingerprint(owner: &PgPool) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT unnest(ARRAY[(SELECT count(*) FROM users), (SELECT count(*) FROM audit_log),
                             (SELECT count(*) FROM jurisdictions), (SELECT count(*) FROM registrations)])",
    )
    .fetch_all(owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn serve_without_the_key_file_that_encrypted_the_database_exits_and_writes_nothing() {
    let dir = scratch("serve");
    let path = dir.join("keys.json");
    KeysFile::generate().write(&path).unwrap();
    let url = fresh_database().await;
    let app = app_with(&url, load(&path)).await;
    let (fx, _staff) = fixture(&app).await;
    let (id, phone) = (id_number("33072619700101001"), "13812345678");
    let keys = load(&path);
    let reg: i64 =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('registrations', 'id'))")
            .fetch_one(&fx.owner)
            .await
            .unwrap();
    let id_sealed = keys
        .encrypt(Column::REGISTRATION_ID_NUMBER, reg, &id)
        .unwrap();
    let phone_sealed = keys
        .encrypt(Column::REGISTRATION_PHONE, reg, phone)
        .unwrap();
    sqlx::query(
        "INSERT INTO registrations (id, visit_id, code, channel, name, id_number_cipher, id_number_key_id, id_number_index, id_number_mask,
                                    phone_cipher, phone_key_id, phone_index, phone_mask, category_id, grievance, status, consent_at, created_by)
         OVERRIDING SYSTEM VALUE
         VALUES ($1, $2, 'AAAA222222', 'phone', '张三', $3, $4, $5, $6, $7, $8, $9, $10, $11, '房屋漏水', 'confirmed', now(), $12)",
    )
    .bind(reg)
    .bind(fx.visit)
    .bind(id_sealed.bytes)
    .bind(id_sealed.key_id)
    .bind(keys.blind_index(Field::IdNumber, &id))
    .bind(xiafang::privacy::mask_id_number(&id))
    .bind(phone_sealed.bytes)
    .bind(phone_sealed.key_id)
    .bind(keys.blind_index(Field::Phone, phone))
    .bind(xiafang::privacy::mask_phone(phone))
    .bind(fx.cat_build)
    .bind(fx.staff_id)
    .execute(&fx.owner)
    .await
    .unwrap();
    let app_db = app_url(&url).await;
    let before = fingerprint(&fx.owner).await;

    // The key file is gone.
    std::fs::rename(&path, dir.join("elsewhere.json")).unwrap();
    let out = xiafang(&url, &app_db, &path, &["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "served without its keys: {err}");
    assert!(
        err.contains("不存在") && err.contains("恢复") && err.contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!path.exists(), "no new keys generated");
    assert_eq!(fingerprint(&fx.owner).await, before, "nothing written");

    // Another database's key file (same key ids, other keys).
    KeysFile::generate().write(&path).unwrap();
    let other = std::fs::read(&path).unwrap();
    let out = xiafang(&url, &app_db, &path, &["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "served with other keys: {err}");
    assert!(
        err.contains("解不开") && err.contains("registrations.id_number"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        other,
        "the file is left as it was"
    );
    assert_eq!(fingerprint(&fx.owner).await, before, "nothing written");
    // Neither may `keys rotate` re-encrypt with them.
    let out = xiafang(&url, &app_db, &path, &["keys", "rotate"]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&path).unwrap(), other);
    std::fs::remove_dir_all(&dir).unwrap();
}
