//! Started as root (DESIGN §7), `serve` splits in two. A small root parent keeps what only the
//! owner may hold: it starts the embedded cluster (as the cluster's own user), migrates as the
//! owner, checks the key file, then starts the serving process as the unprivileged `xiafang`
//! user and hands it the app role's URL and the keys through a pipe: that process can read
//! neither the owner's password file, nor the key file, nor the cluster's files, yet reaches
//! the socket. The parent forwards SIGTERM and Ctrl-C, waits, and stops the cluster last.

use crate::app::{Database, Handed, open_database};
use crate::config::Config;
use crate::crypto::Keys;
use crate::crypto::software::{KeysFile, Software};
use crate::db;
use crate::db::embedded::{WEB_USER, ensure_system_user, reachable_by};
use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{SignalKind, signal};

/// Set by the parent on the serving process: read the `Handoff` from standard input.
const HANDOFF_ENV: &str = "XIAFANG_HANDOFF";

/// Settings the serving process must not inherit: it gets the app role's URL in the handoff.
const WITHHELD: [&str; 5] = [
    "DATABASE_URL",
    "XIAFANG_OWNER_DATABASE_URL",
    "XIAFANG_APP_PASSWORD",
    "XIAFANG_KEYS_FILE",
    "PGPASSWORD",
];

/// What the root parent gives the serving process, and nothing more.
#[derive(Serialize, Deserialize)]
struct Handoff {
    database_url: String,
    keys: KeysFile,
}

/// In the serving process: what its root parent wrote on standard input, if it has a root parent.
pub fn receive() -> Result<Option<Handed>> {
    if std::env::var_os(HANDOFF_ENV).is_none_or(|v| v != "stdin") {
        return Ok(None);
    }
    let mut text = String::new();
    // Once, at start-up, before anything else runs: a blocking read is fine.
    std::io::stdin().read_to_string(&mut text)?;
    let handoff: Handoff =
        serde_json::from_str(&text).context("the parent's handoff is not readable")?;
    Ok(Some(Handed {
        database_url: handoff.database_url,
        keys: Keys::new(Software::from_file(&handoff.keys)?),
    }))
}

/// The root parent: everything that needs the owner, then the serving process, then the stop.
pub async fn supervise(config: &Config) -> Result<()> {
    let web = ensure_system_user(WEB_USER).await?;
    let database = open_database(config).await?;
    let result = async {
        let handoff = prepare(config, &database).await?;
        serve_as(&web, &handoff).await
    }
    .await;
    if let Some(cluster) = &database.cluster {
        cluster.stop().await?;
    }
    result
}

/// Migrations (embedded cluster only, as `app::run` does) and the key check, as root.
async fn prepare(config: &Config, database: &Database) -> Result<Handoff> {
    if let (Some(cluster), Some(owner)) = (&database.cluster, &database.owner_url) {
        if !reachable_by(WEB_USER, &cluster.sockets()).await? {
            bail!(
                "用户 {WEB_USER} 进不了数据库套接字目录 {}：请让它的上级目录可以进入（o+x），或换一个 --data-dir（例如 /var/lib/xiafang）。",
                cluster.sockets().display()
            );
        }
        db::migrate(owner, Some(cluster.app_password())).await?;
    }
    let database_url = database.app_url()?.to_owned();
    let pool = db::connect(&database_url, 2).await?;
    db::check_serving(&pool).await?;
    crate::crypto::store::keys_for_serving(&pool, &config.keys_path()).await?;
    pool.close().await;
    let keys = KeysFile::read(&config.keys_path())?
        .with_context(|| format!("密钥文件 {} 不见了", config.keys_path().display()))?;
    Ok(Handoff { database_url, keys })
}

/// This same command line as `user`, fed the handoff, until it exits; signals passed on to it.
async fn serve_as(user: &User, handoff: &Handoff) -> Result<()> {
    let exe = std::env::current_exe()?;
    if !reachable_by(&user.name, &exe).await? {
        bail!(
            "用户 {} 无法运行 {}：请把程序安装到 /usr/bin 之类人人可进的目录。",
            user.name,
            exe.display()
        );
    }
    let mut command = tokio::process::Command::new(&exe);
    command
        .args(std::env::args_os().skip(1))
        .uid(user.uid.as_raw())
        .gid(user.gid.as_raw())
        .current_dir("/")
        .env(HANDOFF_ENV, "stdin")
        .stdin(Stdio::piped())
        .kill_on_drop(true);
    for name in WITHHELD {
        command.env_remove(name);
    }
    // SAFETY: prctl is one system call, safe between fork and exec. Killed with the parent, the
    // serving process never outlives the one that stops the cluster.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    let mut child = command
        .spawn()
        .context("could not start the serving process")?;
    let mut stdin = child
        .stdin
        .take()
        .context("no pipe to the serving process")?;
    stdin.write_all(&serde_json::to_vec(handoff)?).await?;
    drop(stdin);
    tracing::info!(pid = child.id(), user = %user.name, "the serving process runs unprivileged");
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = term.recv() => pass_on(&child),
            _ = interrupt.recv() => pass_on(&child),
        }
    };
    if !status.success() {
        bail!("the serving process ended with {status}");
    }
    Ok(())
}

/// A stop request becomes the serving process's SIGTERM: it finishes the requests in flight.
fn pass_on(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    }
}
