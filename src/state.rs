//! What every request shares: the pool, configuration, clock, keys, metrics and the live-update hub.
//! It imports no handler, so every layer may use it.

use crate::clock::SharedClock;
use crate::config::Config;
use crate::config::Timeouts;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

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
        let mut config = config;
        // An https public URL means TLS: Secure, __Host- cookies and HSTS (DESIGN §7).
        config.secure_cookies = config.tls();
        let in_flight = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight));
        let state = Self(Arc::new(Shared {
            db,
            config: Arc::new(config),
            clock,
            metrics: recorder(),
            keys,
            board: crate::live::bus(),
            demo: AtomicBool::default(),
            in_flight,
        }));
        state.refresh_demo_flag().await?;
        Ok(state)
    }

    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
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

/// The process-wide recorder (installed once even when tests run several apps in one process).
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ],
                )
                .expect("valid buckets")
                .install_recorder()
                .expect("one metrics recorder per process");
            describe();
            handle
        })
        .clone()
}

/// HELP text for the request metrics (`web::metrics`) and the pool's, which promtool requires.
fn describe() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests by route, method and status."
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route."
    );
    metrics::describe_gauge!(
        "db_pool_connections",
        "Open database connections in the pool."
    );
    metrics::describe_gauge!(
        "db_pool_idle_connections",
        "Idle database connections in the pool."
    );
}
