//! The append-only audit log (DESIGN §7): who did what, from where, and whether it worked; each
//! entry chained to the one before by an SM3 hash, so that an altered or removed entry shows.

pub mod forward;
pub mod labels;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sm3::{Digest, Sm3};
use sqlx::types::ipnet::IpNet;
use sqlx::{Acquire, PgPool, Postgres};
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

/// One advisory lock orders the chain: an entry's predecessor is the last one committed before it.
/// It is held to the end of the caller's transaction (a form's few statements).
const CHAIN_LOCK: i64 = 7_263_010;

/// Write one audit row, inside the caller's transaction when given one. It belongs to the actor's
/// jurisdiction (else, for an anonymous act, the object's) and to its object's (migration 0024);
/// an entry of neither (an unknown name at the login form) only the auditor of a root
/// jurisdiction sees (`admin::audit_search`). It is chained to the entry before it (`chain`).
pub async fn record<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    actor: &Actor,
    entry: Entry<'_>,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    // The values exactly as they will be stored (jsonb's own text, inet's host), so that `verify`
    // recomputes the same hash from the row.
    let r = sqlx::query!(
        r#"SELECT now() AS "at!", $1::jsonb::text AS "detail!", host($2::inet) AS ip, o.j AS object_j,
                  COALESCE($3, (SELECT jurisdiction_id FROM users WHERE id = $4), o.j) AS j,
                  (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS prev
           FROM (SELECT audit_object_jurisdiction($5, $6) AS j) o"#,
        entry.detail,
        actor.ip.map(IpNet::from),
        actor.jurisdiction_id,
        actor.id,
        entry.object_type,
        entry.object_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    let row = Row {
        at: r.at,
        actor_id: actor.id,
        actor_name: actor.name.clone(),
        role: actor.role.map(str::to_owned),
        ip: r.ip,
        action: entry.action.to_owned(),
        object_type: entry.object_type.map(str::to_owned),
        object_id: entry.object_id,
        success: entry.success,
        detail: r.detail,
        jurisdiction_id: r.j,
        object_jurisdiction_id: r.object_j,
    };
    let hash = chain(r.prev.as_deref(), &row);
    sqlx::query!(
        "INSERT INTO audit_log (at, actor_id, actor_name, role, ip, action, object_type, object_id, success, detail,
                                jurisdiction_id, object_jurisdiction_id, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5::text::inet, $6, $7, $8, $9, $10::text::jsonb, $11, $12, $13, $14)",
        row.at,
        row.actor_id,
        row.actor_name,
        row.role,
        row.ip,
        row.action,
        row.object_type,
        row.object_id,
        row.success,
        row.detail,
        row.jurisdiction_id,
        row.object_jurisdiction_id,
        r.prev,
        &hash[..],
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// An audit entry's content, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub role: Option<String>,
    pub ip: Option<String>,
    pub action: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub success: bool,
    pub detail: String,
    pub jurisdiction_id: Option<i64>,
    pub object_jurisdiction_id: Option<i64>,
}

/// SM3 over the previous entry's hash and this entry's content: each field length-prefixed (a
/// missing one marked apart from an empty one), so no two contents encode alike. Changing,
/// removing or reordering an entry breaks the chain from there on.
pub fn chain(prev: Option<&[u8]>, row: &Row) -> [u8; 32] {
    fn field(h: &mut Sm3, value: Option<&[u8]>) {
        match value {
            Some(v) => {
                h.update((v.len() as u32).to_be_bytes());
                h.update(v);
            }
            None => h.update(u32::MAX.to_be_bytes()),
        }
    }
    let num = |n: Option<i64>| n.map(|n| n.to_string());
    let mut h = Sm3::new();
    field(&mut h, prev);
    for value in [
        Some(row.at.timestamp_micros().to_string()),
        num(row.actor_id),
        Some(row.actor_name.clone()),
        row.role.clone(),
        row.ip.clone(),
        Some(row.action.clone()),
        row.object_type.clone(),
        row.object_id.clone(),
        Some(row.success.to_string()),
        Some(row.detail.clone()),
        num(row.jurisdiction_id),
        num(row.object_jurisdiction_id),
    ] {
        field(&mut h, value.as_deref().map(str::as_bytes));
    }
    h.finalize().into()
}

/// What `verify` found.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Every entry's hash matches its content and its predecessor's.
    Intact { entries: i64 },
    /// The first entry whose content or link does not match.
    Broken {
        id: i64,
        at: DateTime<Utc>,
        why: &'static str,
    },
}

/// Walk the whole log in id order and recompute every hash (`xiafang audit verify`). The first
/// entry's link is taken as it is: entries before it may have been purged by retention.
pub async fn verify(db: &PgPool) -> sqlx::Result<Verdict> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query!(
        r#"SELECT id, at, actor_id, actor_name, role, host(ip) AS ip, action, object_type, object_id, success,
                  detail::text AS "detail!", jurisdiction_id, object_jurisdiction_id, prev_hash, hash
           FROM audit_log ORDER BY id"#
    )
    .fetch(db);
    let mut prev: Option<Vec<u8>> = None;
    let mut entries = 0;
    while let Some(r) = rows.try_next().await? {
        let broken = |why| Verdict::Broken {
            id: r.id,
            at: r.at,
            why,
        };
        if entries > 0 && r.prev_hash != prev {
            return Ok(broken(
                "它记录的上一条的哈希与上一条不符（其前的条目被删除、插入或改动）",
            ));
        }
        let row = Row {
            at: r.at,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            role: r.role,
            ip: r.ip,
            action: r.action,
            object_type: r.object_type,
            object_id: r.object_id,
            success: r.success,
            detail: r.detail,
            jurisdiction_id: r.jurisdiction_id,
            object_jurisdiction_id: r.object_jurisdiction_id,
        };
        if r.hash.as_deref() != Some(&chain(r.prev_hash.as_deref(), &row)[..]) {
            return Ok(broken("它的内容与它的哈希不符（这一条被改动）"));
        }
        prev = r.hash;
        entries += 1;
    }
    Ok(Verdict::Intact { entries })
}

/// Chain the entries written before the chain existed (migration 0025), in id order. The owner
/// runs it from `migrate`; the app role could not (it may not UPDATE the log). An unchained entry
/// after the chain's first is not from before it: it stays unchained, and `verify` names it.
pub async fn chain_unchained(owner: &PgPool) -> sqlx::Result<u64> {
    let mut tx = owner.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query!(
        r#"SELECT id, at, actor_id, actor_name, role, host(ip) AS ip, action, object_type, object_id, success,
                  detail::text AS "detail!", jurisdiction_id, object_jurisdiction_id,
                  (SELECT p.hash FROM audit_log p WHERE p.id < a.id ORDER BY p.id DESC LIMIT 1) AS prev
           FROM audit_log a
           WHERE hash IS NULL AND id < COALESCE((SELECT min(id) FROM audit_log WHERE hash IS NOT NULL), 'Infinity'::numeric)
           ORDER BY id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut prev = rows.first().and_then(|r| r.prev.clone());
    for r in &rows {
        let row = Row {
            at: r.at,
            actor_id: r.actor_id,
            actor_name: r.actor_name.clone(),
            role: r.role.clone(),
            ip: r.ip.clone(),
            action: r.action.clone(),
            object_type: r.object_type.clone(),
            object_id: r.object_id.clone(),
            success: r.success,
            detail: r.detail.clone(),
            jurisdiction_id: r.jurisdiction_id,
            object_jurisdiction_id: r.object_jurisdiction_id,
        };
        let hash = chain(prev.as_deref(), &row);
        sqlx::query!(
            "UPDATE audit_log SET prev_hash = $2, hash = $3 WHERE id = $1",
            r.id,
            prev.as_deref(),
            &hash[..]
        )
        .execute(&mut *tx)
        .await?;
        prev = Some(hash.to_vec());
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            actor_id: Some(7),
            actor_name: "xinfang".into(),
            role: Some("staff".into()),
            ip: Some("10.0.0.1".into()),
            action: "visit.create".into(),
            object_type: Some("visit".into()),
            object_id: Some("12".into()),
            success: true,
            detail: r#"{"title": "领导接访日"}"#.into(),
            jurisdiction_id: Some(3),
            object_jurisdiction_id: Some(3),
        }
    }

    #[test]
    fn sm3_is_the_standards_hash() {
        // GB/T 32905-2016, example 1: SM3("abc").
        let digest: [u8; 32] = Sm3::digest(b"abc").into();
        assert_eq!(
            hex::encode(digest),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn any_change_of_content_or_link_changes_the_hash() {
        let base = chain(None, &row());
        assert_eq!(base, chain(None, &row()), "deterministic");
        assert_ne!(base, chain(Some(&[0; 32]), &row()), "the link counts");
        let changed = [
            Row {
                actor_name: "xinfang2".into(),
                ..row()
            },
            Row {
                success: false,
                ..row()
            },
            Row {
                detail: r#"{"title": "领导接访日 "}"#.into(),
                ..row()
            },
            Row {
                at: row().at + chrono::Duration::microseconds(1),
                ..row()
            },
            Row {
                role: None,
                ..row()
            },
            Row {
                object_jurisdiction_id: None,
                ..row()
            },
        ];
        for r in changed {
            assert_ne!(base, chain(None, &r), "{r:?}");
        }
        // A missing field and an empty one differ; moving text between fields is seen.
        assert_ne!(
            chain(
                None,
                &Row {
                    role: Some(String::new()),
                    ..row()
                }
            ),
            chain(
                None,
                &Row {
                    role: None,
                    ..row()
                }
            )
        );
        assert_ne!(
            chain(
                None,
                &Row {
                    object_type: Some("visit1".into()),
                    object_id: Some("2".into()),
                    ..row()
                }
            ),
            base
        );
    }
}
