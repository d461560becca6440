//! Passwords of the embedded cluster (DESIGN §7): every role authenticates with scram-sha-256,
//! over the socket too. The owner's and the app role's passwords are generated once and kept
//! 0600 beside the cluster directory (`postgres.owner-password`, `postgres.app-password`); a
//! cluster made by an earlier version (trust, no password files) is converted at start-up.

use super::*;
use sqlx::{Connection, Executor};
use std::os::unix::fs::OpenOptionsExt;

/// The only authentication the cluster accepts; `listen_addresses = ''` leaves the socket only,
/// the host lines keep a later TCP listener from falling back to anything weaker. The owner may
/// also stream a base backup (`xiafang backup --base`).
const HBA: &str = "# Managed by xiafang, rewritten on every start: a password for every role.\n\
local   all   all                 scram-sha-256\n\
local   replication   xiafang     scram-sha-256\n\
host    all   all   127.0.0.1/32  scram-sha-256\n\
host    all   all   ::1/128       scram-sha-256\n";

const OWNER_PASSWORD: &str = "owner-password";
const APP_PASSWORD: &str = "app-password";

/// The first line of a password file, its mode tightened to 0600 if it was looser.
fn read_secret(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            if fs::metadata(path)?.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
            }
            let pw = text.lines().next().unwrap_or("").trim().to_owned();
            if pw.is_empty() {
                bail!("the password file {} is empty", path.display());
            }
            Ok(Some(pw))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
    }
}

/// Write a password file 0600 from the start, atomically (a crash leaves the old file or the new).
fn write_secret(path: &Path, secret: &str) -> Result<()> {
    let tmp = sibling(path, "tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("could not create {}", tmp.display()))?;
    writeln!(f, "{secret}")?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("could not write {}", path.display()))
}

impl Cluster {
    fn secret_path(&self, which: &str) -> PathBuf {
        sibling(&self.dir, which)
    }

    /// A new cluster's owner password, written before initdb so that no cluster exists without it.
    pub(super) fn new_owner_password(&self) -> Result<String> {
        let pw = crate::db::generate_password();
        write_secret(&self.secret_path(OWNER_PASSWORD), &pw)?;
        Ok(pw)
    }

    /// initdb's `--pwfile`: beside the data directory (reachable by the server user, who reads
    /// it, and owned by it), removed as soon as initdb has run.
    pub(super) fn initdb_pwfile(&self, password: &str) -> Result<PwFile> {
        let path = sibling(&self.data, "initdb-pw");
        let _ = fs::remove_file(&path);
        write_secret(&path, password)?;
        if let Some(user) = &self.run_as {
            let (uid, gid) = user_ids(user)?;
            chown(&path, Some(uid), Some(gid))
                .with_context(|| format!("could not chown {}", path.display()))?;
        }
        Ok(PwFile(path))
    }

    /// Before the server starts: password authentication, if the owner's password is known.
    pub(super) fn write_hba_if_converted(&self) -> Result<()> {
        if self.secret_path(OWNER_PASSWORD).exists() {
            self.write_hba()?;
        }
        Ok(())
    }

    /// Rewrite pg_hba.conf (keeping its owner: it belongs to the server user); true if it changed.
    fn write_hba(&self) -> Result<bool> {
        let path = self.data.join("pg_hba.conf");
        if fs::read_to_string(&path).is_ok_and(|t| t == HBA) {
            return Ok(false);
        }
        fs::write(&path, HBA).with_context(|| format!("could not write {}", path.display()))?;
        Ok(true)
    }

    /// On a running cluster: both passwords known, the owner's set, pg_hba.conf asking for them.
    pub(super) async fn ensure_passwords(&mut self) -> Result<()> {
        let owner_path = self.secret_path(OWNER_PASSWORD);
        self.owner_password = match read_secret(&owner_path)? {
            Some(pw) => pw,
            None => self.convert_trust_cluster().await?,
        };
        if self.write_hba()? {
            let mut cmd = self.command(&self.bin.join("pg_ctl"));
            cmd.arg("reload").arg("-D").arg(&self.data).arg("-s");
            run(cmd, "pg_ctl reload").await?;
            self.wait_until_password_required().await?;
        }
        let app_path = self.secret_path(APP_PASSWORD);
        self.app_password = match read_secret(&app_path)? {
            Some(pw) => pw,
            None => {
                let pw = crate::db::generate_password();
                write_secret(&app_path, &pw)?;
                pw
            }
        };
        Ok(())
    }

    /// A cluster of an earlier version trusts its socket: give the owner a password (then the
    /// file, then pg_hba.conf, so that a crash anywhere leaves a cluster the next start can open).
    async fn convert_trust_cluster(&self) -> Result<String> {
        tracing::info!(cluster = %self.data.display(), "giving the embedded PostgreSQL cluster's roles passwords (it trusted its socket)");
        let mut conn = sqlx::PgConnection::connect(&self.url_with(SUPERUSER, None, "postgres"))
            .await
            .with_context(|| {
                format!(
                    "the owner's password file {} is missing and the cluster does not let the owner in without it: restore that file",
                    self.secret_path(OWNER_PASSWORD).display()
                )
            })?;
        let pw = crate::db::generate_password();
        conn.execute("SET password_encryption = 'scram-sha-256'")
            .await?;
        let sql: String =
            sqlx::query_scalar("SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)")
                .bind(SUPERUSER)
                .bind(&pw)
                .fetch_one(&mut conn)
                .await?;
        conn.execute(sql.as_str()).await?;
        conn.close().await?;
        write_secret(&self.secret_path(OWNER_PASSWORD), &pw)?;
        Ok(pw)
    }

    /// A reload is a signal: wait until the server has read the new pg_hba.conf.
    async fn wait_until_password_required(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(START_TIMEOUT_SECS);
        let url = self.url_with(SUPERUSER, None, "postgres");
        while let Ok(conn) = sqlx::PgConnection::connect(&url).await {
            let _ = conn.close().await;
            if Instant::now() > deadline {
                bail!("the embedded PostgreSQL server did not apply its new pg_hba.conf");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// A socket URL for `user` (with `password`, if any) and database `dbname`.
    pub(super) fn url_with(&self, user: &str, password: Option<&str>, dbname: &str) -> String {
        let password = password
            .map(|p| format!(":{}", percent_encode(p, false)))
            .unwrap_or_default();
        format!(
            "postgres://{user}{password}@localhost/{}?host={}",
            percent_encode(dbname, false),
            percent_encode(&self.sockets().to_string_lossy(), true)
        )
    }
}

/// A temporary password file, removed when dropped.
pub(super) struct PwFile(pub(super) PathBuf);

impl Drop for PwFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
