//! Notifications to citizens and staff go through an outbox table, in the same transaction as
//! the change they announce; a sender delivers them later (DESIGN §3 notification).

use serde_json::Value;
use sqlx::PgExecutor;

/// A message to queue. Exactly one of `registration_id` (a citizen) and `user_id` (staff).
pub struct Message<'a> {
    pub registration_id: Option<i64>,
    pub user_id: Option<i64>,
    /// Shown in lists instead of the number or address itself.
    pub recipient_mask: &'a str,
    /// Template name, e.g. `registration.confirmed`.
    pub kind: &'a str,
    pub params: Value,
    pub body: String,
}

pub async fn queue(db: impl PgExecutor<'_>, m: Message<'_>) -> sqlx::Result<i64> {
    let channel = if m.registration_id.is_some() { "sms" } else { "log" };
    sqlx::query_scalar!(
        "INSERT INTO notifications (channel, registration_id, user_id, recipient_mask, kind, params, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        channel,
        m.registration_id,
        m.user_id,
        m.recipient_mask,
        m.kind,
        m.params,
        m.body
    )
    .fetch_one(db)
    .await
}
