//! `xiafang backup --base` and `xiafang restore --base DIR --until TIME` (issue 17): a
//! `pg_basebackup` of the embedded cluster, and that copy replayed from the WAL archive
//! (`--wal-archive`) up to a moment, into an empty data directory.

use super::{WorkDir, stop, succeeded, table_counts, tool};
use crate::app::open_database;
use crate::config::Config;
use crate::db::{self, embedded};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use std::fs;
use std::path::{Path, PathBuf};

/// `xiafang backup --base [--out DIR]`: `<out>/xiafang-base-<China time>/` (default out: `<data-dir>/backups`).
pub async fn backup(config: &Config, out: Option<PathBuf>) -> Result<()> {
    refuse_external(config)?;
    let tools = embedded::tools_dir()?;
    let out = out.unwrap_or_else(|| config.data_dir.join("backups"));
    let database = open_database(config).await?;
    let result = async {
        let owner = database.owner_url.as_deref().context("没有所有者地址")?;
        fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
        let path = out.join(base_name(Utc::now()));
        // Written under a scratch name and renamed: a dated directory is always a whole backup.
        let partial = WorkDir::new(&path.with_extension("partial"))?;
        let copy = partial.0.join("base");
        let made = tool(&tools, "pg_basebackup", owner)
            .arg("--pgdata")
            .arg(&copy)
            .args(["--format=plain", "--wal-method=stream", "--checkpoint=fast"])
            .output()
            .await?;
        succeeded(&made, "pg_basebackup")?;
        fs::rename(&copy, &path).with_context(|| format!("could not write {}", path.display()))?;
        println!("基础备份已写入 {}", path.display());
        match &config.wal_archive {
            Some(archive) => println!(
                "之后的改动在 WAL 归档 {} 中：用 xiafang restore --base {} --until 时刻 --wal-archive {} 恢复到其间任一时刻。",
                archive.display(),
                path.display(),
                archive.display()
            ),
            None => println!(
                "注意：没有设置 --wal-archive（XIAFANG_WAL_ARCHIVE），这个基础备份之后的改动没有归档，无法按时刻恢复。"
            ),
        }
        println!(
            "密钥文件 {} 不在备份里：没有它，备份中的个人信息无法解密。请把它另行保存，与备份分开存放，恢复时用 --keys-file 指向它。",
            config.keys_path().display()
        );
        anyhow::Ok(())
    }
    .await;
    stop(&database).await?;
    result
}

/// `xiafang restore --base DIR --until TIME`: into an empty data directory; every role of the
/// restored cluster gets a fresh password.
pub async fn restore(config: &Config, base: &Path, until: DateTime<Utc>) -> Result<()> {
    refuse_external(config)?;
    let archive = config.wal_archive.as_deref().context(
        "按时刻恢复要从 WAL 归档重放：请用 --wal-archive（或 XIAFANG_WAL_ARCHIVE）指向归档目录。没有恢复任何内容。",
    )?;
    let cluster_dir = config.data_dir.join("postgres");
    let replayed = embedded::recover(&cluster_dir, base, archive, until).await?;
    let database = open_database(config).await?;
    let result = async {
        let owner = database.owner_url.as_deref().context("没有所有者地址")?;
        let password = database
            .app_password(config)
            .unwrap_or_else(db::generate_password);
        db::migrate(owner, Some(&password)).await?;
        let mut conn = PgConnection::connect(owner).await?;
        let counts = table_counts(&mut conn).await?;
        conn.close().await?;
        println!(
            "已把基础备份 {} 恢复到 {}，并从 WAL 归档 {} 重放到 {}（北京时间）：",
            base.display(),
            cluster_dir.display(),
            archive.display(),
            until
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%d %H:%M:%S%.6f")
        );
        for line in &replayed {
            println!("  {line}");
        }
        println!(
            "共 {} 张表、{} 行；数据库已脱离恢复状态，可以写入。各角色已设新密码。",
            counts.len(),
            counts.values().sum::<i64>()
        );
        println!(
            "个人信息仍在原来的密钥之下：启动时用 --keys-file 指向与这个数据库配套的密钥文件。"
        );
        anyhow::Ok(())
    }
    .await;
    stop(&database).await?;
    result
}

fn refuse_external(config: &Config) -> Result<()> {
    if config.database_url.is_some() || config.owner_database_url.is_some() {
        bail!(
            "基础备份和按时刻恢复只用于内置数据库集群；外部 PostgreSQL 服务器请用它自己的 WAL 归档与 pg_basebackup。"
        );
    }
    Ok(())
}

/// The dated directory of a base backup, named in China time like the logical backups.
fn base_name(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&chrono_tz::Asia::Shanghai);
    format!("xiafang-base-{}", local.format("%Y%m%d-%H%M%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_backups_are_named_by_china_time() {
        let at = DateTime::parse_from_rfc3339("2026-12-03T16:30:05Z")
            .unwrap()
            .to_utc();
        assert_eq!(base_name(at), "xiafang-base-20261204-003005");
    }
}
