use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use xiafang::config::Config;
use xiafang::web::auth::Role;
use xiafang::{admin, app, backup, db, demo, unprivileged, web};

/// 下访接访服务平台 — leaders' visit-down reception days.
#[derive(Parser)]
#[command(name = "xiafang", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct Common {
    /// Address to listen on.
    #[arg(
        long,
        env = "XIAFANG_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    bind: SocketAddr,
    /// Holds the embedded PostgreSQL cluster and generated keys.
    #[arg(long, env = "XIAFANG_DATA_DIR", default_value = "data", global = true)]
    data_dir: PathBuf,
    /// Use this PostgreSQL server instead of the embedded cluster: the app role (xiafang_app), the only identity `serve` uses.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// The schema owner on that server, for `migrate` and `seed-scale` (never used by `serve`).
    #[arg(
        long,
        env = "XIAFANG_OWNER_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    owner_database_url: Option<String>,
    /// The password `migrate` sets for the app role (default: generated when the role is created, printed once).
    #[arg(
        long,
        env = "XIAFANG_APP_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    app_password: Option<String>,
    /// Peers whose X-Forwarded-For is trusted (comma-separated IPs).
    #[arg(
        long,
        env = "XIAFANG_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Mark cookies Secure (set when served over TLS).
    #[arg(long, env = "XIAFANG_SECURE_COOKIES", global = true)]
    secure_cookies: bool,
    /// Encryption and blind-index keys (JSON); default <data-dir>/keys.json. Generated only while the database holds no ciphertext: back it up apart from the database.
    #[arg(long, env = "XIAFANG_KEYS_FILE", global = true)]
    keys_file: Option<PathBuf>,
    /// Embedded cluster only: copy every finished WAL segment into this directory, for
    /// `restore --base --until` (off by default). Put it on another disk than the data directory.
    #[arg(long, env = "XIAFANG_WAL_ARCHIVE", global = true)]
    wal_archive: Option<PathBuf>,
    /// Database connections per instance.
    #[arg(
        long,
        env = "XIAFANG_DB_CONNECTIONS",
        default_value_t = 20,
        global = true
    )]
    db_connections: u32,
    /// Requests served at once; beyond it the server answers 503 at once (live board streams not counted).
    #[arg(
        long,
        env = "XIAFANG_MAX_IN_FLIGHT",
        default_value_t = 512,
        global = true
    )]
    max_in_flight: usize,
    /// The site's public address, used in notices and their QR codes (default: http://<Host header>).
    #[arg(long, env = "XIAFANG_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Background jobs in this instance (reminders, 催办, outbox delivery): on or off (e.g. while benchmarking).
    #[arg(long, env = "XIAFANG_JOBS", default_value = "on", value_parser = ["on", "off"], global = true)]
    jobs: String,
    /// Days an API token works after it is issued.
    #[arg(long, env = "XIAFANG_API_TOKEN_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u16).range(1..), global = true)]
    api_token_days: u16,
    /// Sign-in attempts per client IP and minute; beyond it 429.
    #[arg(
        long,
        env = "XIAFANG_LOGIN_PER_IP_PER_MINUTE",
        default_value_t = 20,
        global = true
    )]
    login_per_ip_per_minute: u32,
    /// Sign-in attempts per minute from all clients together; beyond it 429.
    #[arg(
        long,
        env = "XIAFANG_LOGIN_PER_MINUTE",
        default_value_t = 300,
        global = true
    )]
    login_per_minute: u32,
    /// SMS verification codes per phone number and (China) calendar day; beyond it 429.
    #[arg(
        long,
        env = "XIAFANG_PHONE_CODES_PER_PHONE_PER_DAY",
        default_value_t = 5,
        global = true
    )]
    phone_codes_per_phone_per_day: u32,
    /// SMS verification codes per client IP and hour (many citizens share a carrier's address); beyond it 429.
    #[arg(
        long,
        env = "XIAFANG_PHONE_CODES_PER_IP_PER_HOUR",
        default_value_t = 60,
        global = true
    )]
    phone_codes_per_ip_per_hour: u32,
    /// SMS verification codes per hour from the whole deployment (a ceiling on SMS cost); beyond it 429.
    #[arg(
        long,
        env = "XIAFANG_PHONE_CODES_PER_HOUR",
        default_value_t = 3000,
        global = true
    )]
    phone_codes_per_hour: u32,
    /// Bearer token that opens /metrics to the monitoring system; unset: /metrics answers 404.
    #[arg(
        long,
        env = "XIAFANG_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    metrics_token: Option<String>,
    /// Forward every audit entry, as it is committed, to syslog off the host: udp://HOST:PORT,
    /// tcp://HOST:PORT or unix:/dev/log (the local daemon, which forwards it on).
    #[arg(long, env = "XIAFANG_AUDIT_SYSLOG", global = true, value_parser = xiafang::audit::forward::Target::parse)]
    audit_syslog: Option<xiafang::audit::forward::Target>,
    /// The SMS gateway's address (citizens' messages are posted there as JSON); unset: the log.
    #[arg(long, env = "XIAFANG_SMS_GATEWAY_URL", global = true)]
    sms_gateway_url: Option<String>,
    /// Sent to the gateway as `Authorization: Bearer …`.
    #[arg(
        long,
        env = "XIAFANG_SMS_GATEWAY_KEY",
        global = true,
        hide_env_values = true
    )]
    sms_gateway_key: Option<String>,
    /// The signature (签名) registered with the gateway, e.g. 浦阳信访.
    #[arg(long, env = "XIAFANG_SMS_SIGNATURE", global = true)]
    sms_signature: Option<String>,
    /// The approved template id of each kind of SMS: kind=ID,kind=ID,...
    #[arg(long, env = "XIAFANG_SMS_TEMPLATES", global = true, value_parser = xiafang::notify::gateway::parse_templates)]
    sms_templates: Option<std::collections::BTreeMap<String, String>>,
    /// The secret the gateway signs delivery receipts with (HMAC-SHA256 in X-Signature).
    #[arg(
        long,
        env = "XIAFANG_SMS_RECEIPT_SECRET",
        global = true,
        hide_env_values = true
    )]
    sms_receipt_secret: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the site (the default).
    Serve {
        /// Seed the demo county first (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Back the database up into one dated file: dump, roles, manifest (never the key file).
    Backup {
        /// Where the file goes (default: <data-dir>/backups); better on another disk.
        #[arg(long, env = "XIAFANG_BACKUP_DIR")]
        out: Option<PathBuf>,
        /// Instead: a base backup (pg_basebackup) of the embedded cluster into a dated directory,
        /// the start of a point-in-time recovery with the WAL archive.
        #[arg(long)]
        base: bool,
    },
    /// Restore a backup into an empty data directory or empty database, checked first against the key file.
    Restore {
        /// The file `xiafang backup` wrote.
        #[arg(required_unless_present = "base")]
        file: Option<PathBuf>,
        /// Instead: the directory `xiafang backup --base` wrote, replayed from --wal-archive.
        #[arg(long, conflicts_with = "file", requires = "until")]
        base: Option<PathBuf>,
        /// Replay up to this moment: 2026-12-03 15:30:00 (China time) or with an offset.
        #[arg(long, requires = "base", value_parser = xiafang::db::embedded::parse_until)]
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The field encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The jurisdiction tree.
    Regions {
        #[command(subcommand)]
        command: RegionsCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// As the owner (daily, on a timer): retention and anonymisation, audit-entry expiry, the
    /// audit chain check — all in this order, or the one named; non-zero exit if any fails.
    Maintenance {
        #[command(subcommand)]
        task: Option<MaintenanceCommand>,
        /// Where closed cases are written as 一案一档 files before anonymisation (default: <data-dir>/archive).
        #[arg(long, env = "XIAFANG_ARCHIVE_DIR", global = true)]
        archive_dir: Option<PathBuf>,
    },
    /// Seed the demo county and exit.
    Demo {
        /// Also seed the 2003 Pujiang day at full size, today: 14 rooms, 429 registrations scheduled.
        #[arg(long)]
        pujiang: bool,
    },
    /// Fill the database with a large synthetic county for benchmarks (see src/followup/seed_scale.rs).
    SeedScale {
        #[arg(long, default_value_t = 1_000_000)]
        cases: i64,
        #[arg(long, default_value_t = 2_000_000)]
        registrations: i64,
        /// Password of the bench_* accounts it creates.
        #[arg(long, default_value = "Bench-Passw0rd")]
        password: String,
    },
}

#[derive(Subcommand)]
enum RegionsCommand {
    /// Load townships (统计用区划代码) from a CSV of code,name,county_code; idempotent.
    ImportTownships {
        /// The CSV file (UTF-8; an optional header line; 12-digit codes are cut to 9 digits).
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the SM3 chain of every entry; exit non-zero at the first that does not match.
    Verify,
}

#[derive(Subcommand, Clone, Copy)]
enum MaintenanceCommand {
    /// Anonymise what is past its period (closed cases archived first), delete old notifications.
    Retention,
    /// Delete audit entries older than their period.
    AuditExpiry,
    /// Recompute the audit chain.
    AuditVerify,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// As the owner: add a new SM4 key (and an HMAC-SM3 index key if needed) as current, then
    /// re-encrypt every ciphertext under it in batches; rerun to continue an interrupted rotation.
    Rotate {
        /// Rows per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..))]
        batch: i64,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account and print its one-time password (to be changed at first login).
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        /// staff, leader, handler, supervisor, sysadmin, secadmin or auditor
        #[arg(long, default_value = "sysadmin")]
        role: String,
        #[arg(long)]
        department_id: Option<i64>,
        #[arg(long)]
        leader_id: Option<i64>,
        /// The GB/T 2260 code of the jurisdiction it belongs to (it sees that and what is below).
        #[arg(long)]
        jurisdiction: String,
    },
}

impl Common {
    fn config(self) -> Config {
        Config {
            bind: self.bind,
            data_dir: self.data_dir,
            database_url: self.database_url.filter(|s| !s.is_empty()),
            owner_database_url: self.owner_database_url.filter(|s| !s.is_empty()),
            app_password: self.app_password.filter(|s| !s.is_empty()),
            trusted_proxies: self.trusted_proxies,
            secure_cookies: self.secure_cookies,
            db_max_connections: self.db_connections,
            max_in_flight: self.max_in_flight,
            keys_file: self.keys_file,
            wal_archive: self.wal_archive.filter(|p| !p.as_os_str().is_empty()),
            public_url: self.public_url.filter(|s| !s.is_empty()),
            jobs: self.jobs == "on",
            api_token_ttl: chrono::Duration::days(self.api_token_days.into()),
            login_per_ip_per_minute: self.login_per_ip_per_minute,
            login_per_minute: self.login_per_minute,
            phone_codes: xiafang::config::rules::PhoneCodes {
                per_phone_per_day: self.phone_codes_per_phone_per_day,
                per_ip_per_hour: self.phone_codes_per_ip_per_hour,
                per_hour: self.phone_codes_per_hour,
                ..Default::default()
            },
            metrics_token: self.metrics_token.filter(|s| !s.is_empty()),
            audit_syslog: self.audit_syslog,
            sms: xiafang::notify::gateway::GatewayConfig {
                url: self.sms_gateway_url.filter(|s| !s.is_empty()),
                key: self.sms_gateway_key.filter(|s| !s.is_empty()),
                signature: self.sms_signature.filter(|s| !s.is_empty()),
                templates: self.sms_templates.unwrap_or_default(),
                receipt_secret: self.sms_receipt_secret.filter(|s| !s.is_empty()),
                ..Config::default().sms
            },
            ..Config::default()
        }
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let config = cli.common.config();
    let result = match cli.command.unwrap_or(Command::Serve { demo: false }) {
        // Started as root: a root parent, and this command again as the `xiafang` user.
        Command::Serve { .. } if nix::unistd::geteuid().is_root() => {
            unprivileged::supervise(&config).await
        }
        Command::Serve { demo } => match unprivileged::receive() {
            Ok(handed) => app::run(config, demo, handed).await,
            Err(e) => Err(e),
        },
        Command::Backup { out, base: false } => backup::backup(&config, out).await,
        Command::Backup { out, base: true } => backup::base::backup(&config, out).await,
        Command::Restore {
            base: Some(base),
            until: Some(until),
            ..
        } => backup::base::restore(&config, &base, until).await,
        Command::Restore { file, .. } => {
            backup::restore(&config, &file.expect("clap requires FILE without --base")).await
        }
        command => with_database(&config, command).await,
    };
    if let Err(e) = result {
        eprintln!("xiafang: {e:#}");
        std::process::exit(1);
    }
}

/// `keys rotate`: what it did, per column.
async fn rotate_keys(owner: &str, keys_path: &std::path::Path, batch: i64) -> anyhow::Result<()> {
    let pool = db::connect(owner, 2).await?;
    let done = xiafang::crypto::store::rotate(&pool, keys_path, batch).await?;
    let keys = xiafang::crypto::store::keys_for_serving(&pool, keys_path).await?;
    let sealed = xiafang::prepare::legacy_plaintext::encrypt(&pool, &keys, batch).await?;
    pool.close().await;
    if done.new_key {
        println!(
            "已在 {} 中加入 SM4 密钥 {} 并设为当前密钥。",
            keys_path.display(),
            done.key_id
        );
        println!("请立即把这个密钥文件另行备份（与数据库备份分开存放）。");
    } else {
        println!("继续上次未完成的轮换：当前密钥 {}。", done.key_id);
    }
    if done.new_index_key {
        println!("盲索引密钥已换为 HMAC-SM3，盲索引随密文一并重算。");
    }
    if sealed > 0 {
        println!("登记的姓名、地址、代表和诉求：{sealed} 行明文已加密");
    }
    for (column, rows) in &done.rows {
        println!("{column}: {rows} 行已重新加密");
    }
    for (column, rows) in done.sealed.iter().filter(|(_, rows)| *rows > 0) {
        println!("{column}: {rows} 行明文已加密");
    }
    println!("轮换完成：全部密文都在密钥 {} 之下。", done.key_id);
    Ok(())
}

/// `maintenance [TASK]`: each task's summary, or why it failed; an error if any did.
async fn maintenance(
    owner: &str,
    keys_path: &std::path::Path,
    task: Option<MaintenanceCommand>,
    archive_dir: &std::path::Path,
) -> anyhow::Result<()> {
    use xiafang::maintenance::{self, Task};
    let tasks = match task {
        None => Task::ALL.to_vec(),
        Some(MaintenanceCommand::Retention) => vec![Task::Retention],
        Some(MaintenanceCommand::AuditExpiry) => vec![Task::AuditExpiry],
        Some(MaintenanceCommand::AuditVerify) => vec![Task::AuditVerify],
    };
    let pool = db::connect(owner, 3).await?;
    let keys = xiafang::crypto::store::keys_for_serving(&pool, keys_path).await?;
    let done = maintenance::run(&pool, &keys, &tasks, chrono::Utc::now(), archive_dir).await;
    pool.close().await;
    let mut failed = 0;
    for outcome in done? {
        match outcome {
            Ok(summary) => println!("{summary}"),
            Err(e) => {
                failed += 1;
                eprintln!("失败：{e:#}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("维护任务中有 {failed} 项失败。{failed} maintenance task(s) failed.");
    }
    Ok(())
}

/// `regions import-townships FILE`: all lines or none.
async fn import_townships(pool: &sqlx::PgPool, file: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("无法读取 {} (cannot read it): {e}", file.display()))?;
    let mut tx = pool.begin().await?;
    let n = admin::reference::regions::import_townships(&mut tx, &text).await?;
    tx.commit().await?;
    println!("已导入 {n} 个乡镇（街道）。Imported {n} townships.");
    Ok(())
}

/// One-shot commands: open the database (starting the embedded cluster if needed), act, stop what we started.
async fn with_database(config: &Config, command: Command) -> anyhow::Result<()> {
    let database = app::open_database(config).await?;
    let result = async {
        if let Some(owner) = &database.owner_url {
            let password = database.app_password(config);
            if let Some(generated) = db::migrate(owner, password.as_deref()).await? {
                println!("已创建应用角色 {}，密码（只显示这一次，写进 DATABASE_URL）：{generated}", db::APP_ROLE);
            }
        } else if matches!(command, Command::Migrate | Command::SeedScale { .. } | Command::Keys { .. } | Command::Maintenance { .. }) {
            anyhow::bail!("这个命令以数据库所有者身份运行：请设置 XIAFANG_OWNER_DATABASE_URL（或 --owner-database-url）");
        }
        if let Command::Migrate = command {
            println!("数据库已迁移到最新版本。");
            return anyhow::Ok(());
        }
        if let Command::Keys { command: KeysCommand::Rotate { batch } } = command {
            let owner = database.owner_url.as_deref().expect("checked above");
            return rotate_keys(owner, &config.keys_path(), batch).await;
        }
        if let Command::Maintenance { task, archive_dir } = command {
            let owner = database.owner_url.as_deref().expect("checked above");
            let archive_dir = archive_dir.unwrap_or_else(|| config.data_dir.join("archive"));
            return maintenance(owner, &config.keys_path(), task, &archive_dir).await;
        }
        let pool = db::connect(database.app_url()?, 2).await?;
        db::check_serving(&pool).await?;
        admin::reference::regions::ensure_shipped(&pool).await?;
        match command {
            Command::Migrate => unreachable!(),
            Command::Demo { pujiang: false } => {
                let keys = xiafang::crypto::store::keys_for_serving(&pool, &config.keys_path()).await?;
                demo::seed(&pool, &xiafang::clock::SystemClock, &keys).await?;
                println!("演示数据已就绪。");
            }
            Command::Demo { pujiang: true } => {
                let keys = xiafang::crypto::store::keys_for_serving(&pool, &config.keys_path()).await?;
                let visit = demo::pujiang::seed(&pool, &xiafang::clock::SystemClock, &keys).await?;
                println!("演示数据已就绪：浦江 2003 全规模接访日（活动 {visit}），14 个接待室，429 批登记已排接。");
            }
            Command::User { command: UserCommand::Add { username, name, role, department_id, leader_id, jurisdiction } } => {
                let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role}"))?;
                if let Some(problem) = admin::accounts::check_new_username(&pool, &username).await? {
                    anyhow::bail!("{problem}");
                }
                let password = admin::accounts::one_time_password();
                let hash = web::password::hash_password(password.clone()).await?;
                let account = admin::accounts::NewAccount {
                    username: &username,
                    display_name: &name,
                    role,
                    department_id,
                    leader_id,
                    jurisdiction_id: Some(jurisdiction_id(&pool, &jurisdiction).await?),
                    is_demo: false,
                };
                admin::accounts::insert_account(&pool, &account, &hash, true).await?;
                println!("已创建用户 {username}（{}）。一次性密码：{password}\n首次登录后必须修改密码。", role.label());
            }
            Command::Regions { command: RegionsCommand::ImportTownships { file } } => import_townships(&pool, &file).await?,
            Command::Audit { command: AuditCommand::Verify } => match xiafang::audit::verify(&pool).await? {
                xiafang::audit::Verdict::Intact { entries } => println!("审计日志完整：{entries} 条，哈希链逐条核对无误。"),
                xiafang::audit::Verdict::Broken { id, at, why } => {
                    anyhow::bail!("审计日志在第 {id} 条（{}）处断开：{why}。The audit chain breaks at entry {id}.", xiafang::clock::cn_minute(at))
                }
            },
            Command::SeedScale { cases, registrations, password } => {
                let owner = database.owner_url.as_deref().expect("checked above");
                xiafang::followup::seed_scale::seed(owner, &xiafang::followup::seed_scale::Options { cases, registrations, password }).await?;
            }
            Command::Serve { .. } | Command::Keys { .. } | Command::Maintenance { .. } | Command::Backup { .. } | Command::Restore { .. } => {
                unreachable!()
            }
        }
        pool.close().await;
        anyhow::Ok(())
    }
    .await;
    if let Some(cluster) = &database.cluster {
        cluster.stop().await?;
    }
    result
}

/// The id of the jurisdiction with GB/T 2260 code `code`, or a clear refusal.
async fn jurisdiction_id(pool: &sqlx::PgPool, code: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar!("SELECT id FROM jurisdictions WHERE code = $1", code)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!("没有行政区划代码为 {code} 的辖区（省、市、县为 6 位，乡镇为 9 位）")
        })
}
