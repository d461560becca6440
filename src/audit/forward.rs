//! Forwarding the audit log off the host (issue 13, DESIGN §7): every committed entry, in chain
//! order, as an RFC 5424 syslog message carrying its content and hashes — a copy that the
//! database's owner cannot reach, against which `verify`'s chain is anchored.
//!
//! Entries are read back after they commit, so a rolled-back act is never forwarded. The chain's
//! lock makes ids commit in order, so a cursor on the id never skips one; the cursor's row is
//! locked by the one instance forwarding at a time. A failed send is retried on the next pass
//! (at least once).

use anyhow::{Context, bail};
use serde_json::json;
use sqlx::PgPool;
use std::path::PathBuf;
use syslog::{Facility, Formatter5424, Logger, LoggerBackend};

/// Where entries go: `udp://host:port`, `tcp://host:port` or `unix:/dev/log` (the local daemon,
/// which forwards them on).
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Udp(String),
    Tcp(String),
    Unix(PathBuf),
}

impl Target {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let s = s.trim();
        Ok(if let Some(addr) = s.strip_prefix("udp://") {
            Self::Udp(addr.to_owned())
        } else if let Some(addr) = s.strip_prefix("tcp://") {
            Self::Tcp(addr.to_owned())
        } else if let Some(path) = s.strip_prefix("unix:") {
            Self::Unix(PathBuf::from(path))
        } else {
            bail!(
                "XIAFANG_AUDIT_SYSLOG 应为 udp://主机:端口、tcp://主机:端口 或 unix:/dev/log，而不是 {s}"
            )
        })
    }

    /// The cursor's key.
    fn name(&self) -> String {
        match self {
            Self::Udp(a) => format!("udp://{a}"),
            Self::Tcp(a) => format!("tcp://{a}"),
            Self::Unix(p) => format!("unix:{}", p.display()),
        }
    }

    fn connect(&self) -> anyhow::Result<Logger<LoggerBackend, Formatter5424>> {
        let formatter = Formatter5424 {
            facility: Facility::LOG_AUTHPRIV,
            hostname: None,
            process: "xiafang".into(),
            pid: std::process::id(),
        };
        Ok(match self {
            Self::Udp(a) => syslog::udp(formatter, "0.0.0.0:0", a.as_str())?,
            Self::Tcp(a) => syslog::tcp(formatter, a.as_str())?,
            Self::Unix(p) => syslog::unix_custom(formatter, p)?,
        })
    }
}

/// One pass: up to `batch` entries after the target's cursor, sent in id order, then the cursor
/// moved. Returns how many were sent (0 when another instance holds the cursor).
pub async fn pass(db: &PgPool, target: &Target, batch: i64) -> anyhow::Result<usize> {
    let name = target.name();
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO audit_forwarding (target) VALUES ($1) ON CONFLICT DO NOTHING",
        name
    )
    .execute(&mut *tx)
    .await?;
    let Some(last) = sqlx::query_scalar!(
        "SELECT last_id FROM audit_forwarding WHERE target = $1 FOR UPDATE SKIP LOCKED",
        name
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(0);
    };
    let rows = sqlx::query!(
        r#"SELECT id, at, actor_id, actor_name, role, host(ip) AS ip, action, object_type, object_id, success,
                  detail, jurisdiction_id, object_jurisdiction_id, prev_hash, hash
           FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"#,
        last,
        batch
    )
    .fetch_all(&mut *tx)
    .await?;
    let Some(newest) = rows.last().map(|r| r.id) else {
        return Ok(0);
    };
    let messages: Vec<String> = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id, "at": r.at, "actor_id": r.actor_id, "actor_name": r.actor_name,
                "role": r.role, "ip": r.ip, "action": r.action, "object_type": r.object_type,
                "object_id": r.object_id, "success": r.success, "detail": r.detail,
                "jurisdiction_id": r.jurisdiction_id, "object_jurisdiction_id": r.object_jurisdiction_id,
                "prev_hash": r.prev_hash.map(hex::encode), "hash": r.hash.map(hex::encode),
            })
            .to_string()
        })
        .collect();
    let sent = messages.len();
    let target = target.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut logger = target.connect()?;
        for m in messages {
            logger
                .info((1, Default::default(), m))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    })
    .await?
    .with_context(|| format!("forwarding the audit log to {name}"))?;
    sqlx::query!(
        "UPDATE audit_forwarding SET last_id = $2, forwarded_at = now() WHERE target = $1",
        name,
        newest
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(sent)
}

/// Forward for as long as the instance runs: a pass a second, a failure logged and retried.
pub async fn run(db: PgPool, target: Target) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        loop {
            match pass(&db, &target, 500).await {
                Ok(500) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "审计日志转发失败，稍后重试");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_refuse_what_is_not_one() {
        assert_eq!(
            Target::parse("udp://10.0.0.5:514").unwrap(),
            Target::Udp("10.0.0.5:514".into())
        );
        assert_eq!(
            Target::parse("tcp://log.example:601").unwrap(),
            Target::Tcp("log.example:601".into())
        );
        assert_eq!(
            Target::parse("unix:/dev/log").unwrap(),
            Target::Unix("/dev/log".into())
        );
        assert!(Target::parse("10.0.0.5:514").is_err());
    }
}
