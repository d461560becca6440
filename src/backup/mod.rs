//! `xiafang backup` and `xiafang restore FILE` (issue 17): one dated tar archive holding a
//! `pg_dump` of the database (custom format), the roles it needs (`pg_dumpall --globals-only`,
//! no passwords) and a manifest. The key file is never in it: a backup is restored with the key
//! file kept apart from it, and `restore` checks that key file before it writes anything.

pub mod base;
pub mod manifest;

use crate::app::{Database, open_database};
use crate::config::Config;
use crate::crypto::Keys;
use crate::crypto::software::{KeysFile, Software};
use crate::crypto::store::{check_samples, samples};
use crate::db::{self, embedded};
use anyhow::{Context, Result, bail};
use manifest::{FORMAT, Manifest, archive_name, check_restorable, count_differences};
use sqlx::{Connection, Executor, PgConnection};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use tokio::process::Command;

const MANIFEST: &str = "manifest.json";
const GLOBALS: &str = "globals.sql";
const DUMP: &str = "db.dump";

/// `xiafang backup [--out DIR]`: the archive in `out` (default `<data-dir>/backups`).
pub async fn backup(config: &Config, out: Option<PathBuf>) -> Result<()> {
    let tools = embedded::tools_dir()?;
    let out = out.unwrap_or_else(|| config.data_dir.join("backups"));
    let database = open_database(config).await?;
    let result = async {
        let url = database
            .owner_url
            .as_deref()
            .or(database.url.as_deref())
            .context("没有数据库地址")?;
        let (path, manifest) = write_backup(&tools, url, &out).await?;
        let rows: i64 = manifest.tables.values().sum();
        record_backup(url, &path, &manifest, rows).await?;
        println!("备份已写入 {}", path.display());
        println!(
            "数据库结构：迁移 {}；{} 张表，共 {rows} 行；数据在密钥 {:?} 之下。",
            manifest.schema_version,
            manifest.tables.len(),
            manifest.key_ids
        );
        println!(
            "密钥文件 {} 不在备份里：没有它，备份中的个人信息无法解密。请把它另行保存，与备份分开存放（例如另一处的加密介质），恢复时用 --keys-file 指向它。",
            config.keys_path().display()
        );
        anyhow::Ok(())
    }
    .await;
    stop(&database).await?;
    result
}

/// The backup in the audit log of the database it copied (after the copy: not inside it).
async fn record_backup(url: &str, path: &Path, manifest: &Manifest, rows: i64) -> Result<()> {
    let mut conn = PgConnection::connect(url).await?;
    let actor = crate::audit::Actor {
        id: None,
        name: "备份命令（xiafang backup）".into(),
        role: None,
        ip: None,
        jurisdiction_id: None,
    };
    let detail = serde_json::json!({
        "file": path.display().to_string(),
        "rows": rows,
        "schema_version": manifest.schema_version,
    });
    crate::audit::record(
        &mut conn,
        &actor,
        crate::audit::Entry::ok("backup.create").detail(detail),
    )
    .await?;
    conn.close().await?;
    Ok(())
}

/// `xiafang restore FILE`: into an empty data directory (the embedded cluster) or an empty
/// database (XIAFANG_OWNER_DATABASE_URL). Everything that can refuse does so before the first write.
pub async fn restore(config: &Config, file: &Path) -> Result<()> {
    let tools = embedded::tools_dir()?;
    let work = WorkDir::new(
        &std::env::temp_dir().join(format!("xiafang-restore-{}", std::process::id())),
    )?;
    let manifest = unpack(file, &work.0)?;
    let known: Vec<i64> = db::MIGRATOR.iter().map(|m| m.version).collect();
    check_restorable(&manifest, &known).map_err(anyhow::Error::msg)?;
    let keys_path = config.keys_path();
    let keys = read_keys(&keys_path)?;
    if let Err(e) = check_samples(&keys, &manifest.samples) {
        bail!(
            "密钥文件 {} 解不开这个备份中的密文（{e:#}）：没有恢复任何内容。请用 --keys-file 指向与这个备份配套的密钥文件。\n\
             The keys file cannot decrypt this backup's data; nothing was restored.",
            keys_path.display()
        );
    }
    let embedded_target = config.database_url.is_none() && config.owner_database_url.is_none();
    let cluster_dir = config.data_dir.join("postgres");
    if embedded_target && embedded::holds_cluster(&cluster_dir) {
        bail!(
            "数据目录 {} 中已有数据库集群：恢复只写入空的数据目录（用 --data-dir 指定一个新的）。",
            cluster_dir.display()
        );
    }
    if !embedded_target && config.owner_database_url.is_none() {
        bail!(
            "恢复以数据库所有者身份进行：请设置 XIAFANG_OWNER_DATABASE_URL（或 --owner-database-url）"
        );
    }
    let database = open_database(config).await?;
    let result = restore_into(config, &database, &tools, &work.0, &manifest).await;
    stop(&database).await?;
    result
}

async fn stop(database: &Database) -> Result<()> {
    match &database.cluster {
        Some(cluster) => cluster.stop().await,
        None => Ok(()),
    }
}

fn read_keys(path: &Path) -> Result<Keys> {
    let file = KeysFile::read(path)?.with_context(|| {
        format!(
            "密钥文件 {} 不存在：恢复前请把与备份配套的密钥文件放到那里，或用 --keys-file 指向它。没有恢复任何内容。",
            path.display()
        )
    })?;
    Ok(Keys::new(Software::from_file(&file).with_context(
        || format!("reading keys from {}", path.display()),
    )?))
}

/// The writes, in order: roles, the dump in one transaction, the counts checked against the
/// manifest, then `migrate` (fresh app password, grants, any newer migrations).
async fn restore_into(
    config: &Config,
    database: &Database,
    tools: &Path,
    work: &Path,
    manifest: &Manifest,
) -> Result<()> {
    let owner = database.owner_url.as_deref().context("没有所有者地址")?;
    let mut conn = PgConnection::connect(owner).await?;
    let occupied = table_counts(&mut conn).await?;
    if !occupied.is_empty() {
        bail!(
            "目标数据库不是空的（已有 {} 张表）：恢复只写入空的数据库。",
            occupied.len()
        );
    }
    let roles = tool(tools, "psql", owner)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=0", "-f"])
        .arg(work.join(GLOBALS))
        .output()
        .await?;
    for line in String::from_utf8_lossy(&roles.stderr).lines() {
        // Roles the server has already (its owner, or an app role of another database) stay.
        if !line.contains("already exists") && !line.trim().is_empty() {
            eprintln!("xiafang: 角色：{line}");
        }
    }
    // Ownership and grants are the target's: the restoring owner owns, `migrate` grants.
    let restored = tool(tools, "pg_restore", owner)
        .args([
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
        ])
        .arg(work.join(DUMP))
        .output()
        .await?;
    succeeded(&restored, "pg_restore")?;
    let counts = table_counts(&mut conn).await?;
    conn.close().await?;
    let differences = count_differences(&manifest.tables, &counts);
    if !differences.is_empty() {
        bail!("恢复后的行数与备份不符：\n{}", differences.join("\n"));
    }
    let (password, generated) = match database.app_password(config) {
        Some(p) => (p, false),
        None => (db::generate_password(), true),
    };
    db::migrate(owner, Some(&password)).await?;
    println!(
        "已恢复 {}（{} 的备份，迁移 {}）：",
        database
            .cluster
            .as_ref()
            .map_or_else(|| "数据库".to_string(), |c| c.dir().display().to_string()),
        crate::clock::cn_minute(manifest.created_at),
        manifest.schema_version
    );
    for (table, rows) in &counts {
        println!("  {table}: {rows} 行");
    }
    println!(
        "共 {} 张表、{} 行，与备份清单逐表一致。",
        counts.len(),
        counts.values().sum::<i64>()
    );
    if generated {
        println!(
            "应用角色 {} 的新密码（只显示这一次，写进 DATABASE_URL）：{password}",
            db::APP_ROLE
        );
    } else {
        println!(
            "应用角色 {} 已设新密码；其他角色没有密码，需要时另行设置。",
            db::APP_ROLE
        );
    }
    Ok(())
}

/// Dump, roles and manifest from one snapshot, written whole or not at all into `out`.
async fn write_backup(tools: &Path, url: &str, out: &Path) -> Result<(PathBuf, Manifest)> {
    fs::create_dir_all(out).with_context(|| format!("could not create {}", out.display()))?;
    let created_at = chrono::Utc::now();
    let path = out.join(archive_name(created_at));
    let work = WorkDir::new(&out.join(format!(".xiafang-backup-{}", std::process::id())))?;
    let mut conn = PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    // The counts and samples read the snapshot pg_dump dumps: they describe exactly what it holds.
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut conn)
        .await?;
    let dumped = tool(tools, "pg_dump", url)
        .args(["--format=custom", "--snapshot", &snapshot, "--file"])
        .arg(work.0.join(DUMP))
        .output()
        .await?;
    succeeded(&dumped, "pg_dump")?;
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut conn)
        .await?;
    let globals = tool(tools, "pg_dumpall", url)
        .args([
            "--globals-only",
            "--no-role-passwords",
            "-l",
            &database,
            "--file",
        ])
        .arg(work.0.join(GLOBALS))
        .output()
        .await?;
    succeeded(&globals, "pg_dumpall")?;
    let schema_version: i64 =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .context("the database holds no migrations (run `xiafang migrate` first)")?;
    let samples = samples(&mut conn).await?;
    let mut key_ids: Vec<i16> = samples.iter().map(|s| s.key_id).collect();
    key_ids.sort_unstable();
    key_ids.dedup();
    let manifest = Manifest {
        format: FORMAT,
        created_at,
        xiafang_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version,
        key_ids,
        tables: table_counts(&mut conn).await?,
        samples,
    };
    conn.execute("COMMIT").await?;
    conn.close().await?;
    write_archive(&path, &manifest, &work.0)?;
    Ok((path, manifest))
}

/// Every table of the public schema and its row count.
async fn table_counts(conn: &mut PgConnection) -> Result<BTreeMap<String, i64>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut counts = BTreeMap::new();
    for table in tables {
        let sql = format!(
            "SELECT count(*) FROM public.\"{}\"",
            table.replace('"', "\"\"")
        );
        let rows: i64 = sqlx::query_scalar(&sql).fetch_one(&mut *conn).await?;
        counts.insert(table, rows);
    }
    Ok(counts)
}

/// A PostgreSQL client program on the database of `url`, its password in the environment.
fn tool(tools: &Path, program: &str, url: &str) -> Command {
    let (url, password) = manifest::split_password(url);
    let mut cmd = Command::new(tools.join(program));
    cmd.arg("--no-password").arg("--dbname").arg(url);
    cmd.stdin(std::process::Stdio::null());
    for var in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS"] {
        cmd.env_remove(var);
    }
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    cmd
}

fn succeeded(output: &Output, what: &str) -> Result<()> {
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The archive at `path`: written beside it under another name, then renamed; mode 0600 (it
/// holds personal data, sealed or not).
fn write_archive(path: &Path, manifest: &Manifest, work: &Path) -> Result<()> {
    let partial = path.with_extension("tar.partial");
    let _ = fs::remove_file(&partial);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("could not create {}", partial.display()))?;
    let mut tar = tar::Builder::new(file);
    let json = serde_json::to_vec_pretty(manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(manifest.created_at.timestamp().max(0) as u64);
    tar.append_data(&mut header, MANIFEST, json.as_slice())?;
    for name in [GLOBALS, DUMP] {
        tar.append_file(name, &mut File::open(work.join(name))?)?;
    }
    tar.into_inner()?.sync_all()?;
    fs::rename(&partial, path).with_context(|| format!("could not write {}", path.display()))
}

/// The archive's three files into `into` (names of our choosing: nothing else is unpacked).
fn unpack(file: &Path, into: &Path) -> Result<Manifest> {
    let opened = File::open(file).with_context(|| format!("could not open {}", file.display()))?;
    let mut archive = tar::Archive::new(opened);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let Some(known) = [MANIFEST, GLOBALS, DUMP].into_iter().find(|n| *n == name) else {
            bail!("{} 不是 xiafang 的备份：其中有 {name}", file.display());
        };
        if !entry.header().entry_type().is_file() {
            bail!("{} 不是 xiafang 的备份：{name} 不是文件", file.display());
        }
        entry.unpack(into.join(known))?;
    }
    for name in [MANIFEST, GLOBALS, DUMP] {
        if !into.join(name).is_file() {
            bail!("{} 不是完整的 xiafang 备份：缺少 {name}", file.display());
        }
    }
    serde_json::from_slice(&fs::read(into.join(MANIFEST))?)
        .with_context(|| format!("{} 的清单读不懂", file.display()))
}

/// A private scratch directory, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(path: &Path) -> Result<WorkDir> {
        let _ = fs::remove_dir_all(path);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(path)
            .with_context(|| format!("could not create {}", path.display()))?;
        Ok(WorkDir(path.to_path_buf()))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
