//! The embedded PostgreSQL cluster (DESIGN §8): with no `DATABASE_URL`, xiafang runs its own
//! server from the PostgreSQL binaries installed on the machine, listening only on a Unix socket
//! inside the cluster directory. A sibling lock file records which process started the cluster,
//! so a second instance reuses it and only the starter stops it. Every role needs its password
//! (see `auth`), the owner's included.

mod as_root;
mod auth;
mod host;
mod pitr;
mod settings;

use as_root::*;
pub use as_root::{WEB_USER, ensure_system_user, reachable_by};
use host::*;
pub use pitr::recover;
pub use settings::parse_until;
use settings::*;
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::kill;
use nix::unistd::{Gid, Pid, Uid, User, chown, geteuid};
use tokio::process::Command;

/// Where distribution packages (Debian, Ubuntu) install the server binaries, one dir per version.
const LIB_ROOT: &str = "/usr/lib/postgresql";
/// Where a cluster goes when its checkout is not reachable by the unprivileged server user.
const RELOCATE_ROOT: &str = "/var/lib/xiafang/clusters";
const SOCKET_NAME: &str = ".s.PGSQL.5432";
/// `sun_path` is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
/// The cluster's superuser, the owner that migrates; the app role is `db::APP_ROLE`.
const SUPERUSER: &str = "xiafang";
/// Written on every start so that a moved checkout or a changed `fsync` option takes effect.
const SETTINGS_FILE: &str = "xiafang.conf";
const INCLUDE_LINE: &str = "include_if_exists = 'xiafang.conf'";
const START_TIMEOUT_SECS: u64 = 60;

/// How to run a cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClusterOptions {
    /// `false` only for throwaway test clusters: turns `fsync` and `full_page_writes` off.
    pub fsync: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { fsync: true }
    }
}

/// The PostgreSQL programs of one version (the server's, and beside them `pg_dump`, `pg_restore`,
/// `psql`), found on PATH or under /usr/lib/postgresql.
pub fn tools_dir() -> Result<PathBuf> {
    find_bin_dir(std::env::var_os("PATH").as_deref(), Path::new(LIB_ROOT))
}

/// The socket directory of the cluster in `dir` (e.g. `./data/postgres`, or the cluster it
/// links to): `<real data directory>.sock`.
pub fn socket_dir(dir: &Path) -> PathBuf {
    sibling(
        &fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        "sock",
    )
}

/// True when `dir` (e.g. `./data/postgres`, or the cluster it links to) holds a cluster.
pub fn holds_cluster(dir: &Path) -> bool {
    dir.join("PG_VERSION").exists()
}

/// A running cluster, started by this process (owner) or reused from another one.
#[derive(Debug)]
pub struct Cluster {
    /// The directory as given, made absolute; may be a symlink to a relocated cluster.
    dir: PathBuf,
    /// The real data directory (`-D`), which is also the socket directory.
    data: PathBuf,
    bin: PathBuf,
    /// The unprivileged user the server runs as when we are root (Postgres refuses root).
    run_as: Option<String>,
    /// `<dir>.lock`: the PID of the process that started the cluster.
    lock: PathBuf,
    /// `<dir>.startlock`: flock'ed around check-and-start and stop.
    start_lock: PathBuf,
    owner: bool,
    /// Read from (or generated into) the password files beside `dir`.
    owner_password: String,
    app_password: String,
}

impl Cluster {
    /// Ensure a cluster lives in `dir` (e.g. `./data/postgres`) and is running; start it if needed.
    pub async fn start(dir: &Path, opts: ClusterOptions) -> Result<Cluster> {
        Self::start_archiving(dir, opts, None).await
    }

    /// As `start`, and a cluster this call starts copies every finished WAL segment into `wal_archive`.
    pub async fn start_archiving(
        dir: &Path,
        opts: ClusterOptions,
        wal_archive: Option<&Path>,
    ) -> Result<Cluster> {
        let bin = tools_dir()?;
        let dir = std::path::absolute(dir)
            .with_context(|| format!("could not resolve the data directory {}", dir.display()))?;
        let parent = dir
            .parent()
            .filter(|_| dir.file_name().is_some())
            .ok_or_else(|| {
                anyhow!(
                    "the PostgreSQL data directory {} has no parent directory",
                    dir.display()
                )
            })?
            .to_path_buf();
        fs::create_dir_all(&parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
        let lock = sibling(&dir, "lock");
        let start_lock = sibling(&dir, "startlock");
        let _guard = lock_exclusive(&start_lock).await?;

        let (data, run_as) = if geteuid().is_root() {
            let user = run_as_user(existing_cluster_owner(&dir)).await?;
            (prepare_dir_as_root(&dir, &user).await?, Some(user))
        } else {
            (prepare_dir(&dir)?, None)
        };
        let mut cluster = Cluster {
            dir,
            data,
            bin,
            run_as,
            lock,
            start_lock,
            owner: false,
            owner_password: String::new(),
            app_password: String::new(),
        };
        check_socket_path(&cluster.sockets())?;
        cluster.prepare_sockets()?;
        let me = std::process::id();

        if cluster.running() {
            match cluster.wait_for_socket().await {
                Ok(()) => {
                    match read_pid(&cluster.lock) {
                        Some(pid) if pid != me && pid_alive(pid) => {
                            tracing::info!(cluster = %cluster.data.display(), starter = pid, "reusing the running embedded PostgreSQL cluster");
                        }
                        _ => {
                            tracing::info!(cluster = %cluster.data.display(), "taking over the running embedded PostgreSQL cluster whose starter is gone");
                            write_pid(&cluster.lock, me)?;
                            cluster.owner = true;
                        }
                    }
                    cluster.ensure_passwords().await?;
                    return Ok(cluster);
                }
                // It was dying (e.g. just SIGKILLed): start a fresh one below.
                Err(_) if !cluster.running() => {}
                Err(e) => return Err(e),
            }
        }

        // Not running. A killed server leaves lock files naming its PID, which may still exist
        // as a zombie or have been recycled; Postgres refuses to start over either.
        cluster.clear_stale_locks();
        if !holds_cluster(&cluster.data) {
            let password = cluster.new_owner_password()?;
            cluster.initdb(opts, &password).await?;
        }
        let archiving = match wal_archive {
            Some(archive) => {
                cluster.prepare_archive(archive).await?;
                archive_settings(&fs::canonicalize(archive)?)
            }
            None => String::new(),
        };
        cluster.write_settings(opts, &archiving)?;
        cluster.write_hba_if_converted()?;
        cluster.pg_ctl_start().await?;
        cluster.wait_for_socket().await?;
        write_pid(&cluster.lock, me)?;
        cluster.owner = true;
        cluster.ensure_passwords().await?;
        tracing::info!(cluster = %cluster.data.display(), "started the embedded PostgreSQL cluster");
        Ok(cluster)
    }

    /// The owner's (superuser's) URL over the Unix socket, password included: for migrations
    /// and administration, never for the app's pool.
    pub fn url(&self, dbname: &str) -> String {
        self.url_with(SUPERUSER, Some(&self.owner_password), dbname)
    }

    /// The app role's URL over the Unix socket (the role itself is made by `db::migrate`).
    pub fn app_url(&self, dbname: &str) -> String {
        self.url_with(crate::db::APP_ROLE, Some(&self.app_password), dbname)
    }

    /// The password `db::migrate` gives the app role on this cluster.
    pub fn app_password(&self) -> &str {
        &self.app_password
    }

    /// True if this process started the cluster (and so must stop it).
    pub fn is_owner(&self) -> bool {
        self.owner
    }

    /// Stop the cluster if and only if this process is the owner; remove the lock file.
    pub async fn stop(&self) -> Result<()> {
        if !self.owner {
            return Ok(());
        }
        let _guard = lock_exclusive(&self.start_lock).await?;
        let me = std::process::id();
        match read_pid(&self.lock) {
            Some(pid) if pid != me && pid_alive(pid) => {
                tracing::warn!(
                    owner = pid,
                    "another process owns the embedded PostgreSQL cluster now; not stopping it"
                );
                return Ok(());
            }
            _ => {}
        }
        if self.running() {
            let mut cmd = self.command(&self.bin.join("pg_ctl"));
            cmd.arg("stop").arg("-D").arg(&self.data);
            cmd.args(["-m", "fast", "-w", "-t", "60", "-s"])
                .process_group(0);
            run(cmd, "pg_ctl stop").await?;
            tracing::info!(cluster = %self.data.display(), "stopped the embedded PostgreSQL cluster");
        }
        if read_pid(&self.lock).is_none_or(|pid| pid == me) {
            let _ = fs::remove_file(&self.lock);
        }
        Ok(())
    }

    /// argv of a shell-free command that stops this cluster immediately, whoever started it.
    pub fn stop_command(&self) -> Vec<String> {
        let mut argv = Vec::new();
        if let Some(user) = &self.run_as {
            argv.extend([runuser(), "-u".into(), user.clone(), "--".into()]);
        }
        argv.push(self.bin.join("pg_ctl").to_string_lossy().into_owned());
        argv.extend([
            "stop".into(),
            "-D".into(),
            self.data.to_string_lossy().into_owned(),
        ]);
        argv.extend(["-m".into(), "immediate".into()]);
        argv
    }

    /// The directory as given (absolute); when relocated, a symlink to the real cluster.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn running(&self) -> bool {
        postmaster_pid(&self.data).is_some_and(|pid| pid_alive(pid) && is_postgres(pid))
    }

    /// A command for a server binary, run as the unprivileged user when we are root.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new(runuser());
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        // "/" is reachable by everyone; libpq/server variables from the caller must not leak in.
        cmd.current_dir("/");
        for var in [
            "PGDATA",
            "PGPORT",
            "PGHOST",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
            "PGPASSWORD",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// The socket's directory, beside the data directory: the server user's own (where the web
    /// process, if another user, may enter through its group) while the data stays 0700.
    pub fn sockets(&self) -> PathBuf {
        sibling(&self.data, "sock")
    }

    fn clear_stale_locks(&self) {
        let socket_lock = self.sockets().join(format!("{SOCKET_NAME}.lock"));
        for path in [self.data.join("postmaster.pid"), socket_lock] {
            let stale = match read_pid(&path) {
                Some(pid) => !(pid_alive(pid) && is_postgres(pid)),
                None => path.exists(),
            };
            if stale {
                tracing::info!(file = %path.display(), "removing a stale lock file of a stopped PostgreSQL server");
                let _ = fs::remove_file(&path);
            }
        }
    }

    async fn initdb(&self, opts: ClusterOptions, password: &str) -> Result<()> {
        tracing::info!(cluster = %self.data.display(), "creating the embedded PostgreSQL cluster (initdb)");
        let pwfile = self.initdb_pwfile(password)?;
        let mut last_err = None;
        for locale in ["C.UTF-8", "C"] {
            let mut cmd = self.command(&self.bin.join("initdb"));
            cmd.arg("-D").arg(&self.data);
            cmd.args([
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-instructions",
            ]);
            cmd.arg(format!("--locale={locale}"));
            cmd.arg("--pwfile").arg(&pwfile.0);
            if !opts.fsync {
                cmd.arg("--no-sync");
            }
            match run(cmd, "initdb").await {
                Ok(_) => return Ok(()),
                // initdb empties the directory on failure, so the retry starts clean.
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err
            .expect("initdb was tried")
            .context("initdb failed with --locale=C.UTF-8 and with --locale=C"))
    }

    /// Point postgresql.conf at our settings file and (re)write it; both owned by the server user.
    fn write_settings(&self, opts: ClusterOptions, extra: &str) -> Result<()> {
        let conf = self.data.join("postgresql.conf");
        let text = fs::read_to_string(&conf)
            .with_context(|| format!("could not read {}", conf.display()))?;
        if !text.lines().any(|l| l.trim() == INCLUDE_LINE) {
            let mut f = OpenOptions::new().append(true).open(&conf)?;
            writeln!(
                f,
                "\n# Settings managed by xiafang, rewritten on every start.\n{INCLUDE_LINE}"
            )?;
        }
        let settings = settings_text(&self.sockets(), opts) + extra;
        let path = self.data.join(SETTINGS_FILE);
        fs::write(&path, settings)
            .with_context(|| format!("could not write {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        let log_dir = self.data.join("log");
        fs::create_dir_all(&log_dir)?;
        fs::set_permissions(&log_dir, fs::Permissions::from_mode(0o700))?;
        if let Some(user) = &self.run_as {
            let (uid, gid) = user_ids(user)?;
            for p in [&path, &log_dir] {
                chown(p.as_path(), Some(uid), Some(gid))
                    .with_context(|| format!("could not chown {}", p.display()))?;
            }
        }
        Ok(())
    }

    async fn pg_ctl_start(&self) -> Result<()> {
        let log = self.data.join("log").join("postgres.log");
        let mut attempt = 0;
        loop {
            let mut cmd = self.command(&self.bin.join("pg_ctl"));
            cmd.arg("start")
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&log);
            cmd.args(["-w", "-t", &START_TIMEOUT_SECS.to_string(), "-s"]);
            // Own process group: Ctrl-C in the terminal must not reach the server; we stop it.
            cmd.process_group(0);
            let Err(e) = run(cmd, "pg_ctl start").await else {
                return Ok(());
            };
            let log_tail = tail(&fs::read_to_string(&log).unwrap_or_default(), 8);
            // After a SIGKILL of the postmaster its children take a moment to notice and exit.
            if (log_tail.contains("is still in use") || log_tail.contains("already exists"))
                && attempt < 10
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.clear_stale_locks();
                continue;
            }
            return Err(e.context(format!(
                "the server log {} ends with: {log_tail}",
                log.display()
            )));
        }
    }

    /// Until the postmaster accepts on its socket. A socket file alone proves nothing: a
    /// SIGKILLed server leaves it behind.
    async fn wait_for_socket(&self) -> Result<()> {
        let socket = self.sockets().join(SOCKET_NAME);
        let deadline = Instant::now() + Duration::from_secs(START_TIMEOUT_SECS);
        loop {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return Ok(());
            }
            if !self.running() {
                bail!(
                    "the embedded PostgreSQL server in {} stopped before accepting connections",
                    self.data.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the embedded PostgreSQL server is running but did not accept connections on {} within {START_TIMEOUT_SECS} s",
                    socket.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("xiafang-embedded-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn fake_bin(dir: &Path, names: &[&str]) {
        fs::create_dir_all(dir).unwrap();
        for n in names {
            let p = dir.join(n);
            fs::write(&p, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    const ALL: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

    #[test]
    fn finds_highest_version_under_lib_root() {
        let root = scratch("lib");
        fake_bin(&root.join("9.6/bin"), &ALL);
        fake_bin(&root.join("16/bin"), &ALL);
        fake_bin(&root.join("17/bin"), &["initdb"]); // incomplete: skipped
        fake_bin(&root.join("notaversion/bin"), &ALL);
        let bin = find_bin_dir(Some(OsStr::new("")), &root).unwrap();
        assert_eq!(bin, root.join("16/bin"));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn path_wins_and_symlinks_resolve_to_one_version() {
        let root = scratch("path");
        fake_bin(&root.join("lib/15/bin"), &ALL);
        fake_bin(&root.join("lib/17/bin"), &ALL);
        let on_path = root.join("local-bin");
        fs::create_dir_all(&on_path).unwrap();
        symlink(root.join("lib/15/bin/initdb"), on_path.join("initdb")).unwrap();
        let path = std::env::join_paths([root.join("empty"), on_path]).unwrap();
        let bin = find_bin_dir(Some(&path), &root.join("lib")).unwrap();
        assert_eq!(bin, fs::canonicalize(root.join("lib/15/bin")).unwrap());
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn missing_binaries_give_one_sentence() {
        let root = scratch("none");
        let err = find_bin_dir(None, &root).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH"
            ),
            "{err}"
        );
        assert!(
            err.contains("apt-get install postgresql") && err.contains("DATABASE_URL"),
            "{err}"
        );
        assert_eq!(err.matches(". ").count(), 0, "one sentence: {err}");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("10").unwrap() > parse_version("9.6").unwrap());
        assert_eq!(parse_version("15"), Some(vec![15]));
        assert_eq!(parse_version("15beta"), None);
    }

    #[test]
    fn path_hash_is_stable_and_16_hex() {
        let h = path_hash(Path::new("/root/xiafang/data/postgres"));
        assert_eq!(h.len(), 16);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, path_hash(Path::new("/root/xiafang/data/postgres")));
        assert_ne!(h, path_hash(Path::new("/root/xiafang2/data/postgres")));
        // FNV-1a of the empty input is the offset basis: pins the algorithm across builds.
        assert_eq!(path_hash(Path::new("")), "cbf29ce484222325");
    }

    #[test]
    fn lock_files_are_siblings() {
        let d = Path::new("/srv/app/data/postgres");
        assert_eq!(sibling(d, "lock"), Path::new("/srv/app/data/postgres.lock"));
        assert_eq!(
            sibling(Path::new("/x/pg.v1"), "lock"),
            Path::new("/x/pg.v1.lock")
        );
    }

    #[test]
    fn socket_path_limit() {
        assert!(check_socket_path(Path::new("/srv/app/data/postgres")).is_ok());
        let exact = format!(
            "/{}",
            "a".repeat(MAX_SOCKET_PATH - 1 - 1 - SOCKET_NAME.len())
        );
        assert_eq!(
            Path::new(&exact).join(SOCKET_NAME).as_os_str().len(),
            MAX_SOCKET_PATH
        );
        assert!(check_socket_path(Path::new(&exact)).is_ok());
        let long = format!("{exact}b");
        let err = check_socket_path(Path::new(&long)).unwrap_err().to_string();
        assert!(err.contains("shorter --data-dir"), "{err}");
    }

    #[test]
    fn url_encodes_socket_dir() {
        let c = Cluster {
            dir: "/a b/data/postgres".into(),
            data: "/a b/data/postgres".into(),
            bin: "/usr/lib/postgresql/15/bin".into(),
            run_as: Some("postgres".into()),
            lock: "/a b/data/postgres.lock".into(),
            start_lock: "/a b/data/postgres.startlock".into(),
            owner: false,
            owner_password: "o/p".into(),
            app_password: "apw".into(),
        };
        assert_eq!(
            c.url("xiafang"),
            "postgres://xiafang:o%2Fp@localhost/xiafang?host=/a%20b/data/postgres.sock"
        );
        assert_eq!(
            c.app_url("x y"),
            "postgres://xiafang_app:apw@localhost/x%20y?host=/a%20b/data/postgres.sock"
        );
        let argv = c.stop_command();
        assert_eq!(argv[1..4], ["-u", "postgres", "--"]);
        assert_eq!(
            argv[4..],
            [
                "/usr/lib/postgresql/15/bin/pg_ctl",
                "stop",
                "-D",
                "/a b/data/postgres",
                "-m",
                "immediate"
            ]
        );
    }

    #[test]
    fn pid_files_parse_first_line() {
        let d = scratch("pid");
        let p = d.join("postmaster.pid");
        fs::write(&p, "4242\n/var/lib/x\n1700000000\n").unwrap();
        assert_eq!(read_pid(&p), Some(4242));
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert_eq!(
            parse_proc_stat("13602 (postgres) Z 1 13602"),
            Some(("postgres".into(), 'Z'))
        );
        assert_eq!(parse_proc_stat("7 (a) b) S 1"), Some(("a) b".into(), 'S')));
        fs::remove_dir_all(d).unwrap();
    }
}
