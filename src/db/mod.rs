//! The database: the embedded cluster, migrations (as the owner) and the pool (as the app role).

pub mod embedded;

use anyhow::{Context, bail};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// The login role every pooled connection uses: no DDL, and only INSERT/SELECT on what must stay.
pub const APP_ROLE: &str = "xiafang_app";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Grants re-applied after every migration run, so each new table is covered without repeating
/// them; the owner's default privileges cover a table created some other way. `audit_log`,
/// `case_events`, `feedback`, `document_deliveries` and `reception_versions` are history, `attachments` evidence: the app role may add
/// rows and read them, never change or remove one (DESIGN §7).
const GRANTS: &str = r#"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO xiafang_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO xiafang_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO xiafang_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, case_events, feedback, document_deliveries, attachments, reception_versions FROM xiafang_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON _sqlx_migrations FROM xiafang_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON retention_periods FROM xiafang_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO xiafang_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO xiafang_app;
"#;

/// A new random password (hex: safe in a URL and in a shell).
pub fn generate_password() -> String {
    hex::encode(rand::random::<[u8; 24]>())
}

/// Apply migrations as the owner named by `owner_url`, make sure the app role can log in, then
/// apply its grants. The app role gets `app_password` when one is given; when the role is missing
/// (or cannot log in yet) and none is given, a generated password is set and returned, to be
/// shown once.
pub async fn migrate(
    owner_url: &str,
    app_password: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let opts = PgConnectOptions::from_str(owner_url)?;
    let owner = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .context("connecting to PostgreSQL as the owner")?;
    MIGRATOR.run(&owner).await.context("running migrations")?;
    crate::audit::chain_unchained(&owner)
        .await
        .context("chaining the audit log's earlier entries")?;
    let mut tx = owner.begin().await?;
    // Concurrent GRANTs on one table fail with "tuple concurrently updated": serialise instances.
    tx.execute("SELECT pg_advisory_xact_lock(7263001)").await?;
    let generated = ensure_app_role(&mut tx, app_password).await?;
    tx.execute(GRANTS).await?;
    tx.commit().await?;
    owner.close().await;
    Ok(generated)
}

/// Create the app role, or let it log in, with the given or a generated password.
async fn ensure_app_role(
    conn: &mut sqlx::PgConnection,
    password: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let can_login: Option<bool> =
        sqlx::query_scalar("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1")
            .bind(APP_ROLE)
            .fetch_optional(&mut *conn)
            .await?;
    let (verb, password, generated) = match (can_login, password) {
        (Some(true), None) => return Ok(None),
        (None, Some(p)) => ("CREATE", p.to_owned(), None),
        (Some(_), Some(p)) => ("ALTER", p.to_owned(), None),
        (None, None) => ("CREATE", generate_password(), Some(())),
        (Some(false), None) => ("ALTER", generate_password(), Some(())),
    };
    conn.execute("SET LOCAL password_encryption = 'scram-sha-256'")
        .await?;
    let sql: String = sqlx::query_scalar(
        "SELECT format('%s ROLE %I LOGIN PASSWORD %L', $1::text, $2::text, $3::text)",
    )
    .bind(verb)
    .bind(APP_ROLE)
    .bind(&password)
    .fetch_one(&mut *conn)
    .await?;
    alter_role_retrying(conn, &sql).await.with_context(|| {
        format!(
            "could not {} the role {APP_ROLE}: the owner needs CREATEROLE (or create it yourself)",
            verb.to_lowercase()
        )
    })?;
    Ok(generated.map(|()| password))
}

/// Roles are cluster-wide, so two databases migrating at once (the advisory lock is per database)
/// may race on the same role row and one fails with "tuple concurrently updated"; try again.
async fn alter_role_retrying(conn: &mut sqlx::PgConnection, sql: &str) -> sqlx::Result<()> {
    let mut attempt = 0;
    loop {
        let mut savepoint = sqlx::Connection::begin(&mut *conn).await?;
        match savepoint.execute(sql).await {
            Ok(_) => return savepoint.commit().await,
            Err(e) if attempt < 5 && is_concurrent_update(&e) => {
                savepoint.rollback().await?;
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_concurrent_update(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.message().contains("tuple concurrently updated"))
}

/// The application pool. `app_url` names the app role; nothing here changes identity.
pub async fn connect(app_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let opts = PgConnectOptions::from_str(app_url)?.application_name("xiafang");
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SET TIME ZONE 'Asia/Shanghai'").await?;
                Ok(())
            })
        })
        .connect_with(opts)
        .await
        .context("connecting to PostgreSQL")?;
    Ok(pool)
}

/// What `serve` checks before it serves: the schema holds every migration this binary knows, and
/// the pool's role cannot rewrite the audit log (so it is the app role, not the owner).
pub async fn check_serving(pool: &PgPool) -> anyhow::Result<()> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    if MIGRATOR.iter().any(|m| !applied.contains(&m.version)) {
        bail!(
            "数据库结构落后于本程序（缺少迁移）：请先以所有者身份运行 `xiafang migrate`（XIAFANG_OWNER_DATABASE_URL），再启动服务"
        );
    }
    let (user, owner_like): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, has_table_privilege('audit_log', 'UPDATE') OR has_table_privilege('audit_log', 'TRUNCATE')",
    )
    .fetch_one(pool)
    .await?;
    if owner_like {
        bail!(
            "DATABASE_URL 指向的角色 {user} 可以改写审计日志：它必须是应用角色 {APP_ROLE}（由 `xiafang migrate` 创建），所有者只用于迁移"
        );
    }
    Ok(())
}

/// `url` with its user and password replaced (for the app role's URL on the owner's server).
pub fn url_as(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = match rest[..end].rsplit_once('@') {
        Some((_, host)) => host,
        None => &rest[..end],
    };
    format!(
        "{scheme}://{}:{}@{host}{}",
        userinfo_encode(user),
        userinfo_encode(password),
        &rest[end..]
    )
}

fn userinfo_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// True when the database answers and holds every migration this binary knows.
pub async fn is_migrated(pool: &PgPool) -> bool {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    sqlx::query_scalar::<_, Option<i64>>("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .is_ok_and(|v| v == Some(latest))
}

/// Create `dbname` on the server of `admin_url` if it is missing (the embedded cluster starts with `postgres` only).
pub async fn ensure_database(admin_url: &str, dbname: &str) -> anyhow::Result<()> {
    let opts = PgConnectOptions::from_str(admin_url)?;
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(dbname)
            .fetch_one(&admin)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", dbname.replace('"', ""));
        if let Err(e) = admin.execute(sql.as_str()).await {
            // Another instance may have created it a moment ago.
            if e.as_database_error()
                .is_none_or(|d| d.code().as_deref() != Some("42P04"))
            {
                return Err(e.into());
            }
        }
    }
    admin.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_as_replaces_the_user_and_password_only() {
        assert_eq!(
            url_as(
                "postgres://owner:s3cret@db.example:5432/xf?sslmode=require",
                "xiafang_app",
                "a b@c"
            ),
            "postgres://xiafang_app:a%20b%40c@db.example:5432/xf?sslmode=require"
        );
        assert_eq!(
            url_as(
                "postgres://xiafang@localhost/x?host=/d/pg",
                "xiafang_app",
                "p"
            ),
            "postgres://xiafang_app:p@localhost/x?host=/d/pg"
        );
        assert_eq!(
            url_as("postgresql://h/db", "u", "p"),
            "postgresql://u:p@h/db"
        );
    }
}
