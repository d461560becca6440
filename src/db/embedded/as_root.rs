//! Started as root: Postgres refuses to run as root, so the server runs as an unprivileged user
//! whose reach into the data directory is checked up front (or the cluster is relocated).

use super::*;

pub(super) fn runuser() -> String {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map_or_else(|| "runuser".to_string(), |p| p.to_string())
}

pub(super) fn user_ids(name: &str) -> Result<(Uid, Gid)> {
    let user =
        User::from_name(name)?.ok_or_else(|| anyhow!("the system user `{name}` does not exist"))?;
    Ok((user.uid, user.gid))
}

/// The owner of an existing cluster (following a relocation symlink), if any.
pub(super) fn existing_cluster_owner(dir: &Path) -> Option<u32> {
    fs::metadata(dir.join("PG_VERSION")).ok().map(|m| m.uid())
}

/// The user the web process runs as when xiafang is started as root (`crate::unprivileged`).
pub const WEB_USER: &str = "xiafang";
/// The server's user when the distribution made no `postgres` (never the web process's).
const CLUSTER_USER: &str = "xiafang-db";

/// The user to run the server as when we are root: an existing cluster's owner (an earlier
/// version may have made `xiafang`), else `postgres` (made by the distribution package), else
/// a system user `xiafang-db` we create.
pub(super) async fn run_as_user(existing_owner: Option<u32>) -> Result<String> {
    if let Some(uid) = existing_owner.filter(|u| *u != 0)
        && let Some(user) = User::from_uid(Uid::from_raw(uid))?
    {
        return Ok(user.name);
    }
    if User::from_name("postgres")?.is_some() {
        return Ok("postgres".to_string());
    }
    Ok(ensure_system_user(CLUSTER_USER).await?.name)
}

/// The system user `name` (with its own group and no login), created if missing.
pub async fn ensure_system_user(name: &str) -> Result<User> {
    if let Some(user) = User::from_name(name)? {
        return Ok(user);
    }
    let useradd = if Path::new("/usr/sbin/useradd").exists() {
        "/usr/sbin/useradd"
    } else {
        "useradd"
    };
    let mut cmd = Command::new(useradd);
    cmd.args([
        "--system",
        "--user-group",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        name,
    ]);
    let result = run(cmd, "useradd").await;
    // Another process may have created it meanwhile.
    if let Some(user) = User::from_name(name)? {
        tracing::info!("created the system user `{name}`");
        return Ok(user);
    }
    Err(result
        .err()
        .unwrap_or_else(|| anyhow!("useradd did not create `{name}`")))
    .with_context(|| format!("creating the system user `{name}` failed"))
}

impl Cluster {
    /// The socket directory, on every start: ours alone (0700) or, as root, the server user's
    /// with the web user's group (0750), so that the web process reaches the socket and
    /// nothing else of the cluster.
    pub(super) fn prepare_sockets(&self) -> Result<()> {
        let dir = self.sockets();
        if !dir.exists() {
            DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
        }
        let Some(user) = &self.run_as else {
            return Ok(());
        };
        let (uid, gid) = user_ids(user)?;
        let web = User::from_name(WEB_USER)?.filter(|web| web.uid != uid);
        let (group, mode) = web.map_or((gid, 0o700), |web| (web.gid, 0o750));
        chown(&dir, Some(uid), Some(group))
            .with_context(|| format!("could not chown {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode))?;
        Ok(())
    }
}

/// Whether `user` can traverse into `dir` (every ancestor searchable), asked of the kernel itself.
pub async fn reachable_by(user: &str, dir: &Path) -> Result<bool> {
    let test = if Path::new("/usr/bin/test").exists() {
        "/usr/bin/test"
    } else {
        "test"
    };
    let status = Command::new(runuser())
        .args(["-u", user, "--", test, "-x"])
        .arg(dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .context("could not run runuser to check the data directory's permissions")?;
    Ok(status.success())
}

pub(super) fn make_private_dir(path: &Path, uid: Uid, gid: Gid) -> Result<()> {
    if !path.exists() {
        DirBuilder::new()
            .mode(0o700)
            .create(path)
            .with_context(|| format!("could not create {}", path.display()))?;
    }
    // Only adjust a directory that holds no cluster yet; an existing cluster keeps its owner.
    if !path.join("PG_VERSION").exists() {
        chown(path, Some(uid), Some(gid))
            .with_context(|| format!("could not chown {}", path.display()))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// As root: the real data directory, owned by `user` and reachable by it; relocated under
/// RELOCATE_ROOT (with `dir` a symlink to it) when an ancestor of `dir` is closed to `user`.
pub(super) async fn prepare_dir_as_root(dir: &Path, user: &str) -> Result<PathBuf> {
    let (uid, gid) = user_ids(user)?;
    let parent = fs::canonicalize(dir.parent().unwrap_or(Path::new("/")))?;
    let name = dir.file_name().unwrap_or_default();
    let canonical = parent.join(name);
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::read_link(dir)?;
            let target = if target.is_absolute() {
                target
            } else {
                parent.join(target)
            };
            if let Some(tp) = target.parent() {
                fs::create_dir_all(tp)?;
            }
            make_private_dir(&target, uid, gid)?;
            let target = fs::canonicalize(&target)?;
            if !reachable_by(user, &target).await? {
                bail!(
                    "The PostgreSQL data directory {} (a link to {}) is not reachable by the `{user}` user that runs the server: make that directory traversable by it or use a different --data-dir.",
                    dir.display(),
                    target.display()
                );
            }
            tracing::info!(dir = %dir.display(), cluster = %target.display(), "the embedded PostgreSQL cluster lives at the link's target");
            Ok(target)
        }
        Ok(m) if m.is_dir() => {
            if reachable_by(user, &parent).await? {
                make_private_dir(&canonical, uid, gid)?;
                return Ok(canonical);
            }
            if fs::read_dir(dir)?.next().is_some() {
                bail!(
                    "The PostgreSQL data directory {} is not reachable by the `{user}` user that runs the server (an enclosing directory is closed to it) and is not empty: move it out of that directory or use a --data-dir elsewhere, for example under /var/lib/xiafang.",
                    dir.display()
                );
            }
            fs::remove_dir(dir)?;
            relocate(dir, &canonical, uid, gid, user).await
        }
        Ok(_) => bail!(
            "The PostgreSQL data directory {} exists but is not a directory: remove it or use a different --data-dir.",
            dir.display()
        ),
        Err(_) => {
            if reachable_by(user, &parent).await? {
                make_private_dir(&canonical, uid, gid)?;
                Ok(canonical)
            } else {
                relocate(dir, &canonical, uid, gid, user).await
            }
        }
    }
}

pub(super) async fn relocate(
    dir: &Path,
    canonical: &Path,
    uid: Uid,
    gid: Gid,
    user: &str,
) -> Result<PathBuf> {
    let root = Path::new(RELOCATE_ROOT);
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(root)
        .with_context(|| format!("could not create {}", root.display()))?;
    let target = root.join(path_hash(canonical));
    make_private_dir(&target, uid, gid)?;
    if !reachable_by(user, &target).await? {
        bail!(
            "The relocated PostgreSQL data directory {} is not reachable by the `{user}` user: make {} traversable by it.",
            target.display(),
            root.display()
        );
    }
    symlink(&target, dir)
        .with_context(|| format!("could not link {} to {}", dir.display(), target.display()))?;
    tracing::info!(
        dir = %dir.display(),
        cluster = %target.display(),
        "the data directory is not reachable by the `{user}` user, so the embedded PostgreSQL cluster lives elsewhere and the data directory links to it"
    );
    Ok(target)
}

/// Not root: run everything as ourselves, in `dir` (or where its symlink points).
pub(super) fn prepare_dir(dir: &Path) -> Result<PathBuf> {
    if !dir.exists() {
        DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    fs::canonicalize(dir).with_context(|| format!("could not resolve {}", dir.display()))
}
