//! SMS through a gateway: the HTTP sender posts each message to a gateway (here a stub on a local
//! port that checks what Chinese gateways check: the template id, the signature and the variables'
//! lengths), the gateway's delivery receipts come back signed, and the outbox shows them.

use crate::fixtures::{Reg, fixture, register};
use crate::harness::TestApp;
use axum::http::{HeaderMap, StatusCode};
use chrono::Duration;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use xiafang::clock::Clock;
use xiafang::notify::gateway::{GatewayConfig, HttpSender};
use xiafang::notify::registry::{self, To};
use xiafang::notify::{self, Delivery};
use xiafang::privacy::Column;

const RECEIPT_SECRET: &str = "receipt-secret-of-the-test";
const KEY: &str = "gateway-key-of-the-test";

/// The deployment's approved template ids: one per citizen kind of the registry.
fn template_ids() -> BTreeMap<String, String> {
    registry::TEMPLATES
        .iter()
        .filter(|t| t.to == To::Citizen)
        .enumerate()
        .map(|(i, t)| (t.kind.to_owned(), format!("SMS_{}", 1000 + i)))
        .collect()
}

/// What the stub gateway accepted, and whether it is down (answers 500).
#[derive(Clone, Default)]
struct Stub {
    accepted: Arc<Mutex<Vec<Value>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

/// A gateway that refuses what a real one would: an unknown template id, another signature, a
/// variable missing, unexpected or longer than the template allows; otherwise it answers its id.
async fn gateway(stub: Stub) -> String {
    let ids = template_ids();
    let handler = move |headers: HeaderMap, axum::Json(m): axum::Json<Value>| {
        let stub = stub.clone();
        let ids = ids.clone();
        async move {
            if stub.down.load(std::sync::atomic::Ordering::SeqCst) {
                return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({}))).into_response();
            }
            let authorised = headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {KEY}"));
            let kind = ids
                .iter()
                .find(|(_, id)| m["template"] == **id)
                .map(|(k, _)| k.clone());
            let fits = kind
                .as_deref()
                .and_then(registry::template)
                .is_some_and(|t| {
                    let vars = m["variables"].as_object().unwrap();
                    vars.len() == t.vars.len()
                        && t.vars.iter().all(|v| {
                            vars.get(v.name)
                                .and_then(Value::as_str)
                                .is_some_and(|s| s.chars().count() <= v.max)
                        })
                });
            if !authorised || m["signature"] != "浦阳信访" || !fits {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": "refused"})),
                )
                    .into_response();
            }
            let mut accepted = stub.accepted.lock().unwrap();
            accepted.push(m);
            axum::Json(json!({"message_id": format!("gw-{}", accepted.len())})).into_response()
        }
    };
    use axum::response::IntoResponse;
    let app = axum::Router::new().route("/send", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/send")
}

fn sender(url: String) -> HttpSender {
    HttpSender::from_config(&GatewayConfig {
        url: Some(url),
        key: Some(KEY.into()),
        signature: Some("【浦阳信访】".into()),
        templates: template_ids(),
        receipt_secret: None,
        timeout: std::time::Duration::from_secs(5),
    })
    .unwrap()
    .unwrap()
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.sms.receipt_secret = Some(RECEIPT_SECRET.into())).await
}

fn reg<'a>(code: &'a str, id: &'a str, phone: &'a str, window: i64, category: i64) -> Reg<'a> {
    Reg {
        code,
        name: "王建华",
        id,
        phone,
        township: "城关镇",
        persons: 1,
        category,
        window,
        status: "submitted",
    }
}

/// Post a receipt as the gateway would, signed with `secret`.
async fn post_receipt(app: &TestApp, body: &Value, secret: &str) -> u16 {
    let body = serde_json::to_vec(body).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&body);
    reqwest::Client::new()
        .post(format!("{}/sms/receipts", app.origin()))
        .header("content-type", "application/json")
        .header("x-signature", hex::encode(mac.finalize().into_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn deliver(app: &TestApp, sender: &HttpSender) -> usize {
    let d = Delivery::from_config(&app.state.config);
    notify::deliver_batch(&app.db, app.clock.as_ref(), &app.state.keys, sender, &d)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_gateway_gets_template_signature_and_variables_and_its_receipt_shows_in_the_outbox() {
    let app = spawn().await;
    let (fx, staff) = fixture(&app).await;
    let stub = Stub::default();
    let sender = sender(gateway(stub.clone()).await);
    register(
        &fx,
        fx.visit,
        reg(
            "AAAA3333",
            "33072619800101001",
            "13812345678",
            fx.windows[0],
            fx.cat_build,
        ),
    )
    .await;
    register(
        &fx,
        fx.visit,
        reg(
            "AAAA2222",
            "33072619800101002",
            "13900001111",
            fx.windows[0],
            fx.cat_build,
        ),
    )
    .await;
    // Queued at the database's now(): a minute on, they are due on the manual clock.
    app.clock.advance(Duration::minutes(1));
    assert_eq!(deliver(&app, &sender).await, 2);

    let accepted = stub.accepted.lock().unwrap().clone();
    assert_eq!(
        accepted.len(),
        2,
        "the stub accepted both: template, signature, lengths"
    );
    let ids: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, gateway_id FROM notifications WHERE status = 'sent' ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(ids.len(), 2);
    let first = &accepted[0];
    assert_eq!(
        first["phone"], "13812345678",
        "the number decrypted at delivery"
    );
    assert_eq!(first["template"], template_ids()["registration.submitted"]);
    assert_eq!(first["reference"], ids[0].0.to_string());
    assert_eq!(first["variables"]["title"], "县领导下访接访日");
    assert_eq!(ids[0].1, "gw-1", "the gateway's id is kept for its receipt");
    assert_eq!(accepted[1]["phone"], "13900001111");

    let outbox = format!("/staff/visits/{}/outbox", fx.visit);
    let page = staff.get(&outbox).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.texts("#outbox td.delivery"), ["待回执", "待回执"]);
    assert!(!page.body.contains("13812345678"), "masks only");

    // A receipt signed with another secret, or not signed, changes nothing.
    let delivered =
        json!({"message_id": "gw-1", "status": "delivered", "at": "2026-12-02T08:00:00Z"});
    assert_eq!(post_receipt(&app, &delivered, "guessed").await, 403);
    let unsigned = reqwest::Client::new()
        .post(format!("{}/sms/receipts", app.origin()))
        .json(&delivered)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    assert_eq!(
        staff.get(&outbox).await.texts("#outbox td.delivery"),
        ["待回执", "待回执"]
    );

    assert_eq!(post_receipt(&app, &delivered, RECEIPT_SECRET).await, 200);
    let undelivered = json!([{"message_id": "gw-2", "status": "undelivered", "error": "空号"}]);
    assert_eq!(post_receipt(&app, &undelivered, RECEIPT_SECRET).await, 200);
    let (receipt, at): (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT receipt, receipt_at FROM notifications WHERE gateway_id = 'gw-1'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (receipt.as_str(), at.to_rfc3339().as_str()),
        ("delivered", "2026-12-02T08:00:00+00:00")
    );
    // Newest first.
    assert_eq!(
        staff.get(&outbox).await.texts("#outbox td.delivery"),
        ["未送达（空号）", "已送达"]
    );
    // A signed body that is no receipt: refused, not a server error.
    assert_eq!(
        post_receipt(&app, &json!({"hello": 1}), RECEIPT_SECRET).await,
        422
    );
}

#[tokio::test]
async fn a_gateway_answering_500_leaves_the_message_pending_for_a_later_try_and_no_number_fails_at_once()
 {
    let app = spawn().await;
    let (fx, _) = fixture(&app).await;
    let stub = Stub::default();
    stub.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let sender = sender(gateway(stub.clone()).await);
    register(
        &fx,
        fx.visit,
        reg(
            "AAAA3333",
            "33072619800101001",
            "13812345678",
            fx.windows[0],
            fx.cat_build,
        ),
    )
    .await;
    app.clock.advance(Duration::minutes(1));
    assert_eq!(deliver(&app, &sender).await, 1);
    let (status, attempts, later, error): (String, i32, bool, String) = sqlx::query_as(
        "SELECT status, attempts, next_attempt_at > $1, last_error FROM notifications",
    )
    .bind(app.clock.now())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((status.as_str(), attempts, later), ("pending", 1, true));
    assert!(
        error.contains("500") && !error.contains("13812345678"),
        "{error}"
    );
    assert_eq!(deliver(&app, &sender).await, 0, "not before its time");

    // The gateway is back: the next try after the backoff goes out.
    stub.down.store(false, std::sync::atomic::Ordering::SeqCst);
    app.clock
        .advance(Delivery::from_config(&app.state.config).backoff_base + Duration::seconds(1));
    assert_eq!(deliver(&app, &sender).await, 1);
    let status: String = sqlx::query_scalar("SELECT status FROM notifications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "sent");

    // A walk-in who gave no number: no retry will reach them, so the message fails at once.
    let walk_in = register(
        &fx,
        fx.visit,
        reg(
            "AAAA4444",
            "33072619800101004",
            "13900001111",
            fx.windows[0],
            fx.cat_build,
        ),
    )
    .await;
    sqlx::query(
        "UPDATE registrations SET channel = 'walk_in', created_by = $2, phone_cipher = NULL, phone_key_id = NULL, phone_index = NULL, phone_mask = NULL WHERE id = $1",
    )
    .bind(walk_in)
    .bind(fx.staff_id)
    .execute(&fx.owner)
    .await
    .unwrap();
    app.clock.advance(Duration::minutes(1));
    assert_eq!(deliver(&app, &sender).await, 1);
    let (status, attempts, error): (String, i32, String) = sqlx::query_as(
        "SELECT status, attempts, last_error FROM notifications WHERE registration_id = $1",
    )
    .bind(walk_in)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((status.as_str(), attempts), ("failed", 1), "{error}");
    assert_eq!(
        stub.accepted.lock().unwrap().len(),
        1,
        "nothing posted for it"
    );
}

#[tokio::test]
async fn a_verification_code_goes_to_the_codes_phone_and_its_text_is_erased_once_sent() {
    let app = spawn().await;
    let stub = Stub::default();
    let sender = sender(gateway(stub.clone()).await);
    let owner = sqlx::PgPool::connect(&app.url).await.unwrap();
    let keys = &app.state.keys;
    let id: i64 = 77;
    let phone = keys
        .encrypt(Column::PHONE_CODE_PHONE, id, "13711112222")
        .unwrap();
    sqlx::query(
        "INSERT INTO phone_codes (id, phone_cipher, phone_key_id, phone_index, phone_mask, code_hash, created_at, expires_at)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, '137****2222', $5, now(), now() + interval '5 minutes')",
    )
    .bind(id)
    .bind(&phone.bytes)
    .bind(phone.key_id)
    .bind(vec![7u8; 32])
    .bind(vec![9u8; 32])
    .execute(&owner)
    .await
    .unwrap();
    notify::queue(
        &app.db,
        notify::Message {
            registration_id: None,
            user_id: None,
            phone_code_id: Some(id),
            recipient_mask: "137****2222",
            kind: "phone.code",
            params: json!({"code": "042917", "minutes": "5"}),
        },
    )
    .await
    .unwrap();
    app.clock.advance(Duration::minutes(1));
    assert_eq!(deliver(&app, &sender).await, 1);
    let accepted = stub.accepted.lock().unwrap().clone();
    assert_eq!(accepted[0]["phone"], "13711112222");
    assert_eq!(
        accepted[0]["variables"],
        json!({"code": "042917", "minutes": "5"})
    );
    assert_eq!(accepted[0]["template"], template_ids()["phone.code"]);
    let (body, params): (String, Value) = sqlx::query_as("SELECT body, params FROM notifications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        !body.contains("042917") && params == json!({}),
        "{body} {params}"
    );

    // A kind the registry does not know is refused before anything is written.
    let unknown = notify::queue(
        &app.db,
        notify::Message {
            registration_id: None,
            user_id: None,
            phone_code_id: Some(id),
            recipient_mask: "137****2222",
            kind: "phone.cod",
            params: json!({"code": "042917"}),
        },
    )
    .await;
    assert!(unknown.is_err());
}
