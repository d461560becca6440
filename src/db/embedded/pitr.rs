//! Point-in-time recovery of the embedded cluster (issue 17): finished WAL segments archived into
//! a directory the operator names (on another disk), and a base backup replayed from that
//! archive up to a moment.

use super::*;
use chrono::{DateTime, Utc};

/// While the restored cluster replays, nobody knows its owner's password yet: the socket (in a
/// 0700 directory of the server user, mode 0700 itself) lets the owner in without one. The first
/// ordinary start then gives every role a fresh password, as for a cluster of an earlier version.
const RECOVERY_HBA: &str = "# Written by xiafang restore --base, replaced at the next start.\n\
local   all   all   trust\n";
const RECOVERY_SIGNAL: &str = "recovery.signal";

impl Cluster {
    /// The archive directory, made if missing (0700) and given to the server user who writes it.
    pub(super) async fn prepare_archive(&self, archive: &Path) -> Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(archive)
            .with_context(|| format!("could not create the WAL archive {}", archive.display()))?;
        if let Some(user) = &self.run_as {
            let (uid, gid) = user_ids(user)?;
            chown(archive, Some(uid), Some(gid))
                .with_context(|| format!("could not chown {}", archive.display()))?;
            if !reachable_by(user, archive).await? {
                bail!(
                    "The WAL archive {} is not reachable by the `{user}` user that runs the server: make its enclosing directories traversable by it.",
                    archive.display()
                );
            }
        }
        Ok(())
    }
}

/// Into the empty cluster directory `dir`: the base backup `base` (`pg_basebackup`, plain
/// format), replayed from `archive` up to `until`, promoted and stopped. Returns the server's
/// own account of where it stopped.
pub async fn recover(
    dir: &Path,
    base: &Path,
    archive: &Path,
    until: DateTime<Utc>,
) -> Result<Vec<String>> {
    if !holds_cluster(base) || !base.join("backup_label").is_file() {
        bail!(
            "{} 不是 `xiafang backup --base` 写的基础备份（缺少 PG_VERSION 或 backup_label）：没有恢复任何内容。",
            base.display()
        );
    }
    if !archive.is_dir() {
        bail!(
            "WAL 归档目录 {} 不存在：没有恢复任何内容。",
            archive.display()
        );
    }
    if fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!(
            "数据目录 {} 不是空的：按时刻恢复只写入空的数据目录（用 --data-dir 指定一个新的）。没有恢复任何内容。",
            dir.display()
        );
    }
    let archive = fs::canonicalize(archive)?;
    let base = fs::canonicalize(base)?;
    let dir = std::path::absolute(dir)?;
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)?;
    }
    let (data, run_as) = if geteuid().is_root() {
        let user = run_as_user(None).await?;
        (prepare_dir_as_root(&dir, &user).await?, Some(user))
    } else {
        (prepare_dir(&dir)?, None)
    };
    let cluster = Cluster {
        lock: sibling(&dir, "lock"),
        start_lock: sibling(&dir, "startlock"),
        dir,
        data,
        bin: tools_dir()?,
        run_as,
        owner: true,
        owner_password: String::new(),
        app_password: String::new(),
    };
    let mut copy = Command::new("cp");
    copy.arg("-a").arg(base.join(".")).arg(&cluster.data);
    run(copy, "cp").await?;
    // The copy holds the original server's socket lock; it names a process not ours.
    let _ = fs::remove_file(cluster.data.join(format!("{SOCKET_NAME}.lock")));
    fs::write(cluster.data.join("pg_hba.conf"), RECOVERY_HBA)?;
    fs::write(cluster.data.join(RECOVERY_SIGNAL), "")?;
    let _ = fs::remove_dir_all(cluster.data.join("log"));
    if let Some(user) = &cluster.run_as {
        let (uid, gid) = user_ids(user)?;
        let mut own = Command::new("chown");
        own.arg("-R").arg(format!("{uid}:{gid}")).arg(&cluster.data);
        run(own, "chown").await?;
    }
    cluster.prepare_sockets()?;
    cluster.write_settings(
        ClusterOptions::default(),
        &settings::recovery_settings(&archive, until),
    )?;
    cluster.pg_ctl_start().await?;
    let log = cluster.data.join("log").join("postgres.log");
    // The server removes recovery.signal once it has promoted itself.
    while cluster.data.join(RECOVERY_SIGNAL).exists() {
        if !cluster.running() {
            let text = fs::read_to_string(&log).unwrap_or_default();
            bail!("恢复没有完成，数据库日志的结尾：{}", tail(&text, 8));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.stop().await?;
    let text = fs::read_to_string(&log).unwrap_or_default();
    Ok(text
        .lines()
        .filter(|l| {
            [
                "recovery stopping",
                "last completed transaction",
                "selected new timeline",
            ]
            .iter()
            .any(|k| l.contains(k))
        })
        .map(str::to_owned)
        .collect())
}
