//! Notifications to citizens and staff go through an outbox table, in the same transaction as
//! the change they announce; a sender delivers them later (DESIGN §3 notification).

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
    /// Template name, e.g. `registration.confirmed`.
    pub kind: &'a str,
    pub params: Value,
    pub body: String,
}

pub async fn queue(db: impl PgExecutor<'_>, m: Message<'_>) -> sqlx::Result<i64> {
    let channel = if m.user_id.is_none() { "sms" } else { "log" };
    sqlx::query_scalar!(
        "INSERT INTO notifications (channel, registration_id, user_id, phone_code_id, recipient_mask, kind, params, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        channel,
        m.registration_id,
        m.user_id,
        m.phone_code_id,
        m.recipient_mask,
        m.kind,
        m.params,
        m.body
    )
    .fetch_one(db)
    .await
}

/// A claimed message, as a sender sees it: a reference to the recipient and the mask, never a clear number.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: i64,
    pub channel: String,
    pub registration_id: Option<i64>,
    pub user_id: Option<i64>,
    pub phone_code_id: Option<i64>,
    pub recipient_mask: String,
    pub kind: String,
    pub body: String,
}

/// Delivers one message (an SMS gateway, e-mail...). An error means "try again later".
pub trait Sender: Send + Sync + 'static {
    fn send(&self, message: &Outgoing) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The default sender: notes in the log that a message went out. Neither the body (it holds the
/// registration code) nor the recipient's digits (with the code, a lookup credential): the
/// message itself stays in the outbox table (DESIGN §7).
pub struct LogSender;

impl Sender for LogSender {
    async fn send(&self, m: &Outgoing) -> anyhow::Result<()> {
        tracing::info!(id = m.id, channel = %m.channel, kind = %m.kind, chars = m.body.chars().count(), "notification");
        Ok(())
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

/// Claim a batch of due messages (each once, across instances), send them, record the outcome.
/// Returns how many were claimed.
pub async fn deliver_batch<S: Sender>(
    db: &sqlx::PgPool,
    clock: &dyn crate::clock::Clock,
    sender: &S,
    d: &Delivery,
) -> sqlx::Result<usize> {
    let now = clock.now();
    let mut tx = db.begin().await?;
    let claimed = sqlx::query_as!(
        Outgoing,
        "SELECT id, channel, registration_id, user_id, phone_code_id, recipient_mask, kind, body FROM notifications
         WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        d.batch
    )
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
    sqlx::query!(
        "UPDATE notifications SET next_attempt_at = $2 WHERE id = ANY($1)",
        &ids,
        now + LEASE
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    for m in &claimed {
        match sender.send(m).await {
            Ok(()) => {
                sqlx::query!(
                    "UPDATE notifications SET status = 'sent', sent_at = $2, attempts = attempts + 1, last_error = NULL,
                            body = CASE WHEN phone_code_id IS NULL THEN body ELSE $3 END,
                            params = CASE WHEN phone_code_id IS NULL THEN params ELSE '{}' END
                     WHERE id = $1",
                    m.id,
                    clock.now(),
                    CODE_ERASED
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
                let status = if attempts >= d.max_attempts {
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
    sender: S,
    d: Delivery,
    poll: std::time::Duration,
) {
    loop {
        match deliver_batch(&db, clock.as_ref(), &sender, &d).await {
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
            kind: "registration.confirmed".into(),
            body: "【下访接访】您的登记编号 K7QX9M2P 已受理，请凭编号与手机后四位 5678 查询。"
                .into(),
        };
        LogSender.send(&m).await.unwrap();
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("notification") && text.contains("id=41"),
            "{text}"
        );
        for secret in ["K7QX9M2P", "5678", "138****"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}
