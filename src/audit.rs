//! The append-only audit log (DESIGN §7): who did what, from where, and whether it worked.

use serde_json::Value;
use sqlx::PgExecutor;
use std::net::IpAddr;

/// The person behind an audited action; a failed login has only the name that was typed.
pub struct Actor {
    pub id: Option<i64>,
    pub name: String,
    pub role: Option<&'static str>,
    pub ip: Option<IpAddr>,
    /// Where the actor belongs (DESIGN §2): the entry belongs there. `None` with an `id` is looked
    /// up from the account; without an `id` (anonymous), the entry belongs to its object's.
    pub jurisdiction_id: Option<i64>,
}

pub struct Entry<'a> {
    pub action: &'a str,
    pub object_type: Option<&'a str>,
    pub object_id: Option<String>,
    pub success: bool,
    pub detail: Value,
}

impl<'a> Entry<'a> {
    pub fn ok(action: &'a str) -> Self {
        Self {
            action,
            object_type: None,
            object_id: None,
            success: true,
            detail: Value::Object(Default::default()),
        }
    }
    pub fn failed(action: &'a str) -> Self {
        Self {
            success: false,
            ..Self::ok(action)
        }
    }
    pub fn on(mut self, object_type: &'a str, object_id: impl ToString) -> Self {
        self.object_type = Some(object_type);
        self.object_id = Some(object_id.to_string());
        self
    }
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Write one audit row, inside the caller's transaction when given one. It belongs to the actor's
/// jurisdiction (else, for an anonymous act, the object's) and to its object's (migration 0024);
/// an entry of neither (an unknown name at the login form) only the auditor of a root
/// jurisdiction sees (`admin::audit_search`).
pub async fn record(db: impl PgExecutor<'_>, actor: &Actor, entry: Entry<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "WITH object AS (SELECT audit_object_jurisdiction($6, $7) AS j)
         INSERT INTO audit_log (actor_id, actor_name, role, ip, action, object_type, object_id, success, detail,
                                jurisdiction_id, object_jurisdiction_id)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9,
                COALESCE($10, (SELECT jurisdiction_id FROM users WHERE id = $1), object.j), object.j
         FROM object",
        actor.id,
        actor.name,
        actor.role,
        actor.ip.map(sqlx::types::ipnet::IpNet::from),
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.success,
        entry.detail,
        actor.jurisdiction_id,
    )
    .execute(db)
    .await?;
    Ok(())
}
