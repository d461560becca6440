//! Notifications to citizens and staff go through an outbox table, in the same transaction as
//! the change they announce; a sender delivers them later (DESIGN §3 notification). Every message
//! is a kind of the registry with its variables (`registry`); citizens' go out by SMS through a
//! gateway when one is configured (`gateway`), which reports delivery back.

pub mod gateway;
pub mod registry;

use crate::privacy::{Column, Keys};
use serde_json::Value;
use sqlx::PgExecutor;

/// A message to queue. Exactly one of `registration_id` (a citizen), `user_id` (staff) and
/// `phone_code_id` (a verification code, to the phone it verifies).
pub struct Message<'a> {
    pub registration_id: Option<i64>,
    pub user_id: Option<i64>,
    pub phone_code_id: Option<i64>,
    /// Shown in lists instead of the number or address itself.
    pub recipient_mask: &'a str,
    /// The registry's kind, e.g. `registration.submitted`.
    pub kind: &'a str,
    /// The kind's variables, e.g. `{"code": "…", "window": "…"}`; the text is rendered from them.
    pub params: Value,
}

/// Queue a message; its text is rendered from the registry (a kind or variable the registry does
/// not accept is a bug, refused here before anything is written).
pub async fn queue(db: impl PgExecutor<'_>, m: Message<'_>) -> sqlx::Result<i64> {
    insert(db, m, None).await
}

/// Queue an SMS to the reporter of survey item `survey_item_id` (to the phone recorded with it).
pub async fn queue_to_survey_reporter(
    db: impl PgExecutor<'_>,
    survey_item_id: i64,
    recipient_mask: &str,
    kind: &str,
    params: Value,
) -> sqlx::Result<i64> {
    let m = Message {
        registration_id: None,
        user_id: None,
        phone_code_id: None,
        recipient_mask,
        kind,
        params,
    };
    insert(db, m, Some(survey_item_id)).await
}

async fn insert(
    db: impl PgExecutor<'_>,
    m: Message<'_>,
    survey_item_id: Option<i64>,
) -> sqlx::Result<i64> {
    let channel = if m.user_id.is_none() { "sms" } else { "log" };
    let rendered =
        registry::render(m.kind, &m.params).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query_scalar!(
        "INSERT INTO notifications (channel, registration_id, user_id, phone_code_id, survey_item_id, recipient_mask, kind, params, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        channel,
        m.registration_id,
        m.user_id,
        m.phone_code_id,
        survey_item_id,
        m.recipient_mask,
        m.kind,
        rendered.params,
        rendered.body
    )
    .fetch_one(db)
    .await
}

/// A claimed message, as a sender sees it: a reference to the recipient, the mask, and the phone
/// number decrypted only now, for the gateway.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: i64,
    pub channel: String,
    pub registration_id: Option<i64>,
    pub user_id: Option<i64>,
    pub phone_code_id: Option<i64>,
    pub recipient_mask: String,
    pub kind: String,
    /// The registry's variables of `kind`.
    pub params: Value,
    pub body: String,
    /// An SMS's number, filled in by `deliver_batch`; None for staff and for registrants without one.
    pub phone: Option<Phone>,
}

/// A clear phone number that shows only its mask when printed or logged by mistake.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(pub String);

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Phone(…)")
    }
}

/// Delivers one message (an SMS gateway, e-mail...). An error means "try again later", unless it
/// is `Undeliverable`; Ok holds the gateway's own id of the message, which its receipt names.
pub trait Sender: Send + Sync + 'static {
    fn send(
        &self,
        message: &Outgoing,
    ) -> impl Future<Output = anyhow::Result<Option<String>>> + Send;

    /// Whether it sends to the number itself: only then is the number decrypted.
    fn needs_phone(&self) -> bool {
        true
    }
}

/// A message no retry will deliver (an SMS to a registrant without a phone number): failed at once.
#[derive(Debug)]
pub struct Undeliverable(pub &'static str);

impl std::fmt::Display for Undeliverable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Undeliverable {}

/// The default sender: notes in the log that a message went out. Neither the body (it holds the
/// registration code) nor the recipient's digits (with the code, a lookup credential): the
/// message itself stays in the outbox table (DESIGN §7).
pub struct LogSender;

impl Sender for LogSender {
    fn needs_phone(&self) -> bool {
        false
    }

    async fn send(&self, m: &Outgoing) -> anyhow::Result<Option<String>> {
        tracing::info!(id = m.id, channel = %m.channel, kind = %m.kind, chars = m.body.chars().count(), "notification");
        Ok(None)
    }
}

/// How delivery retries.
#[derive(Clone, Copy, Debug)]
pub struct Delivery {
    pub batch: i64,
    pub max_attempts: i32,
    pub backoff_base: chrono::Duration,
    pub backoff_max: chrono::Duration,
}

/// The wait before the next try after `attempts` failed ones: base, 2×base, 4×base... capped.
pub fn backoff(attempts: i32, base: chrono::Duration, max: chrono::Duration) -> chrono::Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    base.checked_mul(1 << doublings).unwrap_or(max).min(max)
}

/// A verification code's text once it has been sent or given up: the code is a credential for
/// five minutes, and nobody browsing the outbox needs it after the gateway has it.
const CODE_ERASED: &str = "验证码短信（内容已清除）";

/// While a claimed message is being sent, other instances leave it alone for this long.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// The number an SMS goes to, decrypted at the last moment: the registration's, the code's or
/// the survey reporter's.
async fn phone_of(db: &sqlx::PgPool, keys: &Keys, m: &Outgoing) -> anyhow::Result<Option<Phone>> {
    let (column, row, sealed) = if let Some(id) = m.registration_id {
        let r = sqlx::query!(
            "SELECT phone_cipher, phone_key_id FROM registrations WHERE id = $1",
            id
        )
        .fetch_one(db)
        .await?;
        (
            Column::REGISTRATION_PHONE,
            id,
            r.phone_cipher.zip(r.phone_key_id),
        )
    } else if let Some(id) = m.phone_code_id {
        let r = sqlx::query!(
            "SELECT phone_cipher, phone_key_id FROM phone_codes WHERE id = $1",
            id
        )
        .fetch_one(db)
        .await?;
        (
            Column::PHONE_CODE_PHONE,
            id,
            Some((r.phone_cipher, r.phone_key_id)),
        )
    } else if m.channel == "sms" {
        // The one recipient `Outgoing` does not name: a survey item's reporter.
        let Some(r) = sqlx::query!(
            r#"SELECT s.id, s.reporter_phone_cipher, s.reporter_phone_key_id
               FROM notifications n JOIN survey_items s ON s.id = n.survey_item_id WHERE n.id = $1"#,
            m.id
        )
        .fetch_optional(db)
        .await?
        else {
            return Ok(None);
        };
        (
            Column::SURVEY_REPORTER_PHONE,
            r.id,
            r.reporter_phone_cipher.zip(r.reporter_phone_key_id),
        )
    } else {
        return Ok(None);
    };
    match sealed {
        // The benchmark's placeholders (`seed-scale`): no number.
        Some((_, 0)) | None => Ok(None),
        Some((cipher, key_id)) => Ok(Some(Phone(keys.decrypt(column, row, key_id, &cipher)?))),
    }
}

/// Claim a batch of due messages (each once, across instances), send them, record the outcome.
/// Returns how many were claimed.
pub async fn deliver_batch<S: Sender>(
    db: &sqlx::PgPool,
    clock: &dyn crate::clock::Clock,
    keys: &Keys,
    sender: &S,
    d: &Delivery,
) -> sqlx::Result<usize> {
    let now = clock.now();
    let mut tx = db.begin().await?;
    let mut claimed = sqlx::query!(
        "SELECT id, channel, registration_id, user_id, phone_code_id, recipient_mask, kind, params, body FROM notifications
         WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        d.batch
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| Outgoing {
        id: r.id,
        channel: r.channel,
        registration_id: r.registration_id,
        user_id: r.user_id,
        phone_code_id: r.phone_code_id,
        recipient_mask: r.recipient_mask,
        kind: r.kind,
        params: r.params,
        body: r.body,
        phone: None,
    })
    .collect::<Vec<_>>();
    let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
    sqlx::query!(
        "UPDATE notifications SET next_attempt_at = $2 WHERE id = ANY($1)",
        &ids,
        now + LEASE
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    for m in &mut claimed {
        let phone = if sender.needs_phone() {
            phone_of(db, keys, m).await
        } else {
            Ok(None)
        };
        let sent = match phone {
            Ok(phone) => {
                m.phone = phone;
                sender.send(m).await
            }
            Err(e) => Err(e),
        };
        match sent {
            Ok(gateway_id) => {
                sqlx::query!(
                    "UPDATE notifications SET status = 'sent', sent_at = $2, attempts = attempts + 1, last_error = NULL,
                            gateway_id = $4,
                            body = CASE WHEN phone_code_id IS NULL THEN body ELSE $3 END,
                            params = CASE WHEN phone_code_id IS NULL THEN params ELSE '{}' END
                     WHERE id = $1",
                    m.id,
                    clock.now(),
                    CODE_ERASED,
                    gateway_id
                )
                .execute(db)
                .await?;
            }
            Err(e) => {
                let error: String = format!("{e:#}").chars().take(2000).collect();
                tracing::warn!(id = m.id, error = %error, "notification not delivered");
                let attempts = sqlx::query_scalar!(
                    "SELECT attempts + 1 AS \"a!\" FROM notifications WHERE id = $1",
                    m.id
                )
                .fetch_one(db)
                .await?;
                let status = if attempts >= d.max_attempts || e.is::<Undeliverable>() {
                    "failed"
                } else {
                    "pending"
                };
                sqlx::query!(
                    "UPDATE notifications SET attempts = $2, status = $3, next_attempt_at = $4, last_error = $5,
                            body = CASE WHEN phone_code_id IS NULL OR $3 <> 'failed' THEN body ELSE $6 END,
                            params = CASE WHEN phone_code_id IS NULL OR $3 <> 'failed' THEN params ELSE '{}' END
                     WHERE id = $1",
                    m.id,
                    attempts,
                    status,
                    clock.now() + backoff(attempts, d.backoff_base, d.backoff_max),
                    error,
                    CODE_ERASED
                )
                .execute(db)
                .await?;
            }
        }
    }
    Ok(claimed.len())
}

/// The background loop every instance runs: deliver what is due, then wait a little.
pub async fn run_delivery<S: Sender>(
    db: sqlx::PgPool,
    clock: crate::clock::SharedClock,
    keys: std::sync::Arc<Keys>,
    sender: S,
    d: Delivery,
    poll: std::time::Duration,
) {
    crate::job_runs::started("outbox");
    loop {
        let batch = deliver_batch(&db, clock.as_ref(), &keys, &sender, &d).await;
        if batch.is_ok() {
            crate::job_runs::ran("outbox");
        }
        match batch {
            // A full batch: there may be more waiting.
            Ok(n) if n as i64 >= d.batch => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox delivery failed; retrying"),
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let (base, max) = (Duration::seconds(30), Duration::hours(1));
        assert_eq!(backoff(1, base, max), Duration::seconds(30));
        assert_eq!(backoff(2, base, max), Duration::seconds(60));
        assert_eq!(backoff(3, base, max), Duration::seconds(120));
        assert_eq!(backoff(7, base, max), Duration::seconds(1920));
        assert_eq!(backoff(8, base, max), Duration::hours(1), "capped");
        assert_eq!(backoff(1000, base, max), Duration::hours(1), "no overflow");
        assert_eq!(backoff(0, base, max), base);
    }

    /// A log written to memory.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_log_sender_writes_neither_the_code_nor_the_phone_digits() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let m = Outgoing {
            id: 41,
            channel: "sms".into(),
            registration_id: Some(9),
            user_id: None,
            phone_code_id: None,
            recipient_mask: "138****5678".into(),
            kind: "registration.submitted".into(),
            params: serde_json::json!({"title": "县委书记下访", "code": "K7QX9M2P", "window": "12月4日 09:00—10:00"}),
            body: "您的登记编号 K7QX9M2P 已受理，请凭编号与手机后四位 5678 查询。".into(),
            phone: Some(Phone("13812345678".into())),
        };
        LogSender.send(&m).await.unwrap();
        let code = Outgoing {
            id: 42,
            registration_id: None,
            phone_code_id: Some(3),
            kind: "phone.code".into(),
            params: serde_json::json!({"code": "042917"}),
            body: "验证码 042917，5 分钟内有效，请勿告诉他人。".into(),
            ..m
        };
        LogSender.send(&code).await.unwrap();
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("notification") && text.contains("id=41") && text.contains("id=42"),
            "{text}"
        );
        for secret in ["K7QX9M2P", "5678", "138****", "1381234", "042917"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}
