//! What every request shares: the pool, configuration, clock, keys, metrics and the live-update hub.
//! It imports no handler, so every layer may use it.

use crate::clock::SharedClock;
use crate::config::Config;
use crate::web::{ops, session};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What every request shares. One `Arc`, so that the clones each request makes of it (extractors,
/// middleware) cost one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub metrics: PrometheusHandle,
    pub keys: Arc<crate::privacy::Keys>,
    /// Queue changes announced by any instance (Postgres LISTEN/NOTIFY), for the boards' SSE clients.
    pub board: crate::live::Bus,
    /// Demo accounts exist: every page shows the 演示数据 banner.
    demo: AtomicBool,
    /// Permits for requests in flight (`config.max_in_flight`); none left: shed (see `shed`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub async fn new(
        db: PgPool,
        config: Config,
        clock: SharedClock,
        keys: Arc<crate::privacy::Keys>,
    ) -> anyhow::Result<Self> {
        let in_flight = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight));
        let state = Self(Arc::new(Shared {
            db,
            config: Arc::new(config),
            clock,
            metrics: ops::recorder(),
            keys,
            board: crate::live::bus(),
            demo: AtomicBool::default(),
            in_flight,
        }));
        state.refresh_demo_flag().await?;
        Ok(state)
    }

    pub fn timeouts(&self) -> session::Timeouts {
        session::Timeouts {
            idle: self.config.session_idle,
            absolute: self.config.session_absolute,
        }
    }

    pub fn demo_present(&self) -> bool {
        self.demo.load(Ordering::Relaxed)
    }

    pub async fn refresh_demo_flag(&self) -> sqlx::Result<()> {
        let present = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM users WHERE is_demo AND active) AS "e!""#
        )
        .fetch_one(&self.db)
        .await?;
        self.demo.store(present, Ordering::Relaxed);
        Ok(())
    }
}
