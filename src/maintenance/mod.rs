//! The owner's maintenance (DESIGN §7 Retention; `xiafang maintenance`, daily on a timer):
//! retention and anonymisation (`retention`), audit-entry expiry (`audit_expiry`) and the audit
//! chain check. Each task records what it did in the audit log and answers a Chinese summary.
//! It runs beside serving instances: short transactions, and one run at a time.

pub mod anonymise;
pub mod audit_expiry;
pub mod retention;
pub mod rules;

use crate::audit::{self, Actor, Entry, Verdict};
use crate::crypto::Keys;
use anyhow::bail;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use std::path::Path;

/// One task of `xiafang maintenance`, in the order the plain command runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    Retention,
    AuditExpiry,
    AuditVerify,
}

impl Task {
    pub const ALL: [Task; 3] = [Task::Retention, Task::AuditExpiry, Task::AuditVerify];

    fn label(self) -> &'static str {
        match self {
            Task::Retention => "到期匿名化与删除",
            Task::AuditExpiry => "审计日志到期删除",
            Task::AuditVerify => "审计日志核对",
        }
    }
}

/// Rows per transaction.
pub const BATCH: i64 = 500;

/// The advisory lock of a maintenance run ("xfmaint").
const LOCK: i64 = 0x0078_666d_6169_6e74;

/// The audit log's name for these runs: no person.
fn system() -> Actor {
    Actor {
        id: None,
        name: "系统维护".into(),
        role: None,
        ip: None,
        jurisdiction_id: None,
    }
}

/// Run `tasks` in order as of `now`, each to its end even when one before failed: each task's
/// summary, or why it failed.
pub async fn run(
    owner: &PgPool,
    keys: &Keys,
    tasks: &[Task],
    now: DateTime<Utc>,
    archive_dir: &Path,
) -> anyhow::Result<Vec<anyhow::Result<String>>> {
    let mut lock = owner.acquire().await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK)
        .fetch_one(&mut *lock)
        .await?;
    if !got {
        bail!("另一次维护正在运行，本次不执行。Another maintenance run is under way.");
    }
    let mut done = Vec::new();
    for &task in tasks {
        let outcome = run_one(owner, keys, task, now, archive_dir).await;
        done.push(outcome.map_err(|e| e.context(task.label())));
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK)
        .execute(&mut *lock)
        .await?;
    Ok(done)
}

async fn run_one(
    owner: &PgPool,
    keys: &Keys,
    task: Task,
    now: DateTime<Utc>,
    archive_dir: &Path,
) -> anyhow::Result<String> {
    match task {
        Task::Retention => {
            let mut d = retention::Done::default();
            let outcome = retention::run(owner, keys, now, archive_dir, BATCH, &mut d).await;
            let detail = json!({
                "registrations": d.registrations, "survey_items": d.survey_items,
                "cases_archived": d.cases, "case_sources": d.case_sources,
                "notifications": d.notifications, "phone_codes": d.phone_codes,
                "archive_dir": archive_dir.display().to_string(),
            });
            // What was committed is recorded, even when a later step failed.
            let entry = match outcome {
                Ok(()) => Entry::ok("maintenance.retention"),
                Err(_) => Entry::failed("maintenance.retention"),
            };
            audit::record(owner, &system(), entry.detail(detail)).await?;
            outcome?;
            Ok(format!(
                "到期匿名化：未形成交办件的登记 {} 条、调查事项 {} 条；已结交办件 {} 件先归档为一案一档文件（{}）后匿名化，随之匿名化登记和调查事项 {} 条；删除通知 {} 条、短信验证码 {} 条。",
                d.registrations,
                d.survey_items,
                d.cases,
                archive_dir.display(),
                d.case_sources,
                d.notifications,
                d.phone_codes
            ))
        }
        Task::AuditExpiry => {
            let e = audit_expiry::run(owner, now, BATCH).await?;
            let detail = json!({ "entries": e.entries, "kept_from": e.kept_from });
            audit::record(
                owner,
                &system(),
                Entry::ok("maintenance.audit_expiry").detail(detail),
            )
            .await?;
            Ok(format!(
                "审计日志到期删除：{} 条（保留第 {} 条及以后的条目）。",
                e.entries, e.kept_from
            ))
        }
        Task::AuditVerify => match audit::verify(owner).await? {
            Verdict::Intact { entries } => {
                let detail = json!({ "entries": entries });
                audit::record(
                    owner,
                    &system(),
                    Entry::ok("maintenance.audit_verify").detail(detail),
                )
                .await?;
                Ok(format!("审计日志完整：{entries} 条，哈希链逐条核对无误。"))
            }
            Verdict::Broken { id, at, why } => {
                let detail = json!({ "id": id, "reason": why });
                audit::record(
                    owner,
                    &system(),
                    Entry::failed("maintenance.audit_verify").detail(detail),
                )
                .await?;
                bail!(
                    "审计日志在第 {id} 条（{}）处断开：{why}。The audit chain breaks at entry {id}.",
                    crate::clock::cn_minute(at)
                )
            }
        },
    }
}
