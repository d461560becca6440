//! The database: the embedded cluster, migrations (as the owner) and the pool (as the app role).

pub mod embedded;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// The role every pooled connection switches to: no DDL, and only INSERT/SELECT on the audit log.
pub const APP_ROLE: &str = "xiafang_app";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Grants re-applied after every migration run, so each new table is covered without repeating them.
const GRANTS: &str = r#"
DO $$ BEGIN
    CREATE ROLE xiafang_app NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO xiafang_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO xiafang_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO xiafang_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM xiafang_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON _sqlx_migrations FROM xiafang_app;
"#;

/// Apply migrations as the owner named by `url`, then the app role's grants.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let opts = PgConnectOptions::from_str(url)?;
    let owner = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .context("connecting to PostgreSQL")?;
    MIGRATOR.run(&owner).await.context("running migrations")?;
    let mut tx = owner.begin().await?;
    // Concurrent GRANTs on one table fail with "tuple concurrently updated": serialise instances.
    tx.execute("SELECT pg_advisory_xact_lock(7263001)").await?;
    tx.execute(GRANTS).await?;
    // A non-superuser owner must be a member of the app role to SET ROLE to it.
    let is_super: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut *tx)
            .await?;
    if !is_super {
        tx.execute("GRANT xiafang_app TO CURRENT_USER").await?;
    }
    tx.commit().await?;
    owner.close().await;
    Ok(())
}

/// The application pool: every connection runs as the app role, even when `url` names a superuser.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let opts = PgConnectOptions::from_str(url)?.application_name("xiafang");
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SET ROLE xiafang_app; SET TIME ZONE 'Asia/Shanghai'")
                    .await?;
                Ok(())
            })
        })
        .connect_with(opts)
        .await
        .context("connecting to PostgreSQL")?;
    Ok(pool)
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
