//! Configuration: every number a rule uses is here (or per visit), never a literal in a handler.

pub mod rules;

use chrono::Duration;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Config {
    pub bind: SocketAddr,
    /// Holds the embedded cluster (`postgres/`) and generated keys.
    pub data_dir: PathBuf,
    /// Use this server instead of the embedded cluster: the app role's URL, all `serve` uses.
    pub database_url: Option<String>,
    /// The owner's URL on that server, for `migrate` (and `seed-scale`) only.
    pub owner_database_url: Option<String>,
    /// The password `migrate` gives the app role; unset: generated when the role is made, and printed once.
    pub app_password: Option<String>,
    pub db_max_connections: u32,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub lockout_failures: i32,
    pub lockout_duration: Duration,
    /// How long an API token works after it is issued (DESIGN §7: 90 days by default).
    pub api_token_ttl: Duration,
    /// Peers whose X-Forwarded-For is believed (DESIGN §7).
    pub trusted_proxies: Vec<IpAddr>,
    /// Mark cookies `Secure`: set when served over TLS (directly or behind a TLS proxy).
    pub secure_cookies: bool,
    pub max_body_bytes: usize,
    /// Requests served at once per instance; beyond it 503 + Retry-After (SSE streams not counted).
    pub max_in_flight: usize,
    /// The embedded cluster copies every finished WAL segment here (point-in-time recovery);
    /// `None`: no archiving. Belongs on another disk than the data directory.
    pub wal_archive: Option<PathBuf>,
    /// Encryption and index keys; default `<data_dir>/keys.json`, generated only while the database holds no ciphertext.
    pub keys_file: Option<PathBuf>,
    /// Registration closes at this local time on the day before the visit, unless the visit says otherwise.
    pub registration_close_time: chrono::NaiveTime,
    /// How long a registration form's signed token stays valid (DESIGN §7: 2 hours).
    pub form_token_ttl: Duration,
    /// An API Idempotency-Key answers retries this long; then the purge removes it.
    pub idempotency_key_ttl: Duration,
    /// Bearer token that opens `/metrics`; unset: `/metrics` is not served (404).
    pub metrics_token: Option<String>,
    /// Where the audit log is forwarded as it is written (`src/audit/forward.rs`); `None`: nowhere.
    pub audit_syslog: Option<crate::audit::forward::Target>,
    /// Per client IP and minute, counted in Postgres so that the limit holds across instances.
    pub register_per_minute: u32,
    pub lookup_per_minute: u32,
    /// Sign-in attempts per client IP and minute, and from everywhere together (DESIGN §7): checked
    /// before the password hash runs, so that guessing cannot exhaust the memory argon2 needs.
    pub login_per_ip_per_minute: u32,
    pub login_per_minute: u32,
    /// SMS codes that verify a citizen's phone: their life, tries and sending limits.
    pub phone_codes: rules::PhoneCodes,
    /// Screening: an earlier registration of the same ID within this many months is flagged.
    pub screening_lookback_months: u32,
    /// Outbox delivery: batch size, poll interval, attempts before `failed`, backoff base and cap.
    pub notify_batch: i64,
    pub notify_poll: std::time::Duration,
    pub notify_max_attempts: i32,
    pub notify_backoff_base: Duration,
    pub notify_backoff_max: Duration,
    /// The SMS gateway (unset: SMS go to the log), its signature, template ids and receipts' secret.
    pub sms: crate::notify::gateway::GatewayConfig,
    /// The site's public address for links and QR codes on notices (e.g. `https://xf.example.gov.cn`);
    /// unset: `http://{Host header}`.
    pub public_url: Option<String>,
    /// Lead times of the 一次公告 and 二次公告 (days before the visit date).
    pub notice_days: rules::NoticeDays,
    /// Case deadlines (DESIGN §4).
    pub case_rules: rules::CaseRules,
    /// Deadline jobs (reminders, 催办): cases claimed per transaction, pause between passes.
    pub job_batch: i64,
    pub job_poll: std::time::Duration,
    /// Run the background jobs (deadlines, outbox) in this instance; off only for measuring.
    pub jobs: bool,
    /// The dashboard's 三率 weights and the satisfaction bar (DESIGN §4 supervision).
    pub supervision: rules::Weights,
    /// Months between visits per leader level (6/3/1, DESIGN §1).
    pub cadence: rules::Cadence,
    /// Which cases and registrations make the 风险清单, and how long struck-off items stay listed.
    pub lists: rules::ListRules,
    /// `serve --demo`: demo accounts (users.is_demo) sign in without the second factor. Never
    /// set otherwise: the flag on an account alone skips nothing (DESIGN §7).
    pub demo_mode: bool,
}

impl Config {
    /// Served over TLS (an https public URL, or `--secure-cookies` behind a TLS proxy): cookies
    /// are `Secure` with the `__Host-` prefix and every response carries HSTS.
    pub fn tls(&self) -> bool {
        self.secure_cookies
            || self
                .public_url
                .as_deref()
                .is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("https://"))
    }

    pub fn keys_path(&self) -> PathBuf {
        self.keys_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys.json"))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".parse().unwrap(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            owner_database_url: None,
            app_password: None,
            db_max_connections: 20,
            session_idle: Duration::minutes(30),
            session_absolute: Duration::hours(12),
            lockout_failures: 5,
            lockout_duration: Duration::minutes(30),
            api_token_ttl: Duration::days(90),
            trusted_proxies: Vec::new(),
            secure_cookies: false,
            max_body_bytes: 1024 * 1024,
            max_in_flight: 512,
            keys_file: None,
            wal_archive: None,
            registration_close_time: chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            form_token_ttl: Duration::hours(2),
            idempotency_key_ttl: Duration::hours(24),
            metrics_token: None,
            audit_syslog: None,
            register_per_minute: 10,
            lookup_per_minute: 10,
            login_per_ip_per_minute: 20,
            login_per_minute: 300,
            phone_codes: Default::default(),
            screening_lookback_months: 2,
            notify_batch: 50,
            notify_poll: std::time::Duration::from_secs(5),
            notify_max_attempts: 6,
            notify_backoff_base: Duration::seconds(30),
            notify_backoff_max: Duration::hours(1),
            sms: crate::notify::gateway::GatewayConfig {
                timeout: std::time::Duration::from_secs(10),
                ..Default::default()
            },
            public_url: None,
            notice_days: Default::default(),
            case_rules: Default::default(),
            job_batch: 100,
            job_poll: std::time::Duration::from_secs(60),
            jobs: true,
            supervision: Default::default(),
            cadence: Default::default(),
            lists: Default::default(),
            demo_mode: false,
        }
    }
}

/// Outbox delivery as configured (here, so that `notify` needs nothing of the configuration).
impl crate::notify::Delivery {
    pub fn from_config(c: &Config) -> Self {
        Self {
            batch: c.notify_batch,
            max_attempts: c.notify_max_attempts,
            backoff_base: c.notify_backoff_base,
            backoff_max: c.notify_backoff_max,
        }
    }
}

/// How long a session lasts idle, and at most (DESIGN §7).
pub struct Timeouts {
    pub idle: Duration,
    pub absolute: Duration,
}
