//! Test harness: a shared throwaway cluster per run, a migrated template database copied per test,
//! the real app on a random port with a manual clock, and a browser-like client. Two identities,
//! as in production: the owner migrates and writes test setup, the app's pool is the app role.

use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderValue, LOCATION, ORIGIN};
use reqwest::redirect::Policy;
use scraper::{Html, Selector};
use sqlx::PgPool;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use xiafang::app;
use xiafang::clock::{Clock, ManualClock};
use xiafang::config::Config;
use xiafang::config::rules::PhoneCodes;
use xiafang::db;
use xiafang::state::AppState;
use xiafang::web::auth::Role;
use xiafang::web::totp;

/// The server every test database lives on, and the migrated template they are copied from.
struct Server {
    target: Target,
    template: String,
    /// The password the template's migration gave the app role (roles are server-wide).
    app_password: String,
}

/// The app role's password on an external server unless XIAFANG_APP_PASSWORD says otherwise.
const EXTERNAL_APP_PASSWORD: &str = "xiafang-test-app";

enum Target {
    /// XIAFANG_OWNER_DATABASE_URL (the owner), whose database name is replaced per test.
    External(String),
    Embedded(db::embedded::Cluster),
}

impl Server {
    fn url(&self, database: &str) -> String {
        match &self.target {
            Target::External(url) => with_database_name(url, database),
            Target::Embedded(cluster) => cluster.url(database),
        }
    }
}

static SERVER: tokio::sync::OnceCell<Server> = tokio::sync::OnceCell::const_new();
static GUARDIAN: OnceLock<Mutex<std::process::ChildStdin>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// With XIAFANG_OWNER_DATABASE_URL: that server, as its owner. Without: one throwaway cluster for
/// this run, through the same embedded code the product uses, stopped and deleted by a guardian
/// process when this process exits.
async fn server() -> &'static Server {
    SERVER
        .get_or_init(|| async {
            let owner = std::env::var("XIAFANG_OWNER_DATABASE_URL").ok();
            let target = match owner.filter(|s| !s.is_empty()) {
                Some(url) => Target::External(url),
                None => {
                    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                        .join(format!("test-pg-{}", std::process::id()));
                    let cluster = db::embedded::Cluster::start(
                        &dir.join("postgres"),
                        db::embedded::ClusterOptions { fsync: false },
                    )
                    .await
                    .expect("start the test cluster");
                    guard_cluster(&cluster, &dir);
                    Target::Embedded(cluster)
                }
            };
            let template = format!("xf_tpl_{}", std::process::id());
            let app_password = match &target {
                Target::Embedded(cluster) => cluster.app_password().to_owned(),
                Target::External(_) => std::env::var("XIAFANG_APP_PASSWORD")
                    .ok()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| EXTERNAL_APP_PASSWORD.to_owned()),
            };
            let server = Server {
                target,
                template,
                app_password,
            };
            let admin = PgPool::connect(&server.url("postgres"))
                .await
                .expect("connect to the test server");
            drop_stale_databases(&admin).await;
            sqlx::query(&format!("CREATE DATABASE {}", server.template))
                .execute(&admin)
                .await
                .expect("create template");
            db::migrate(&server.url(&server.template), Some(&server.app_password))
                .await
                .expect("migrate template");
            let pool = db::connect(&server.url(&server.template), 1)
                .await
                .expect("connect template");
            xiafang::admin::reference::regions::ensure_shipped(&pool)
                .await
                .expect("load the shipped regions");
            pool.close().await;
            admin.close().await;
            server
        })
        .await
}

/// Replace the database name in a postgres URL.
fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map(|(b, q)| (b, Some(q)))
        .unwrap_or((url, None));
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Databases of earlier runs whose process is gone (names carry the pid).
async fn drop_stale_databases(admin: &PgPool) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'xf\\_%'")
            .fetch_all(admin)
            .await
            .unwrap();
    for name in names {
        let pid: Option<i32> = name.split('_').nth(2).and_then(|p| p.parse().ok());
        let alive = pid
            .is_some_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok());
        if !alive {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(admin)
                .await;
        }
    }
}

/// The guardian waits for this process's end (its stdin closes) and then stops and deletes the cluster.
fn guard_cluster(cluster: &db::embedded::Cluster, dir: &std::path::Path) {
    use std::os::unix::process::CommandExt;
    let stop = cluster
        .stop_command()
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "read _; {stop} >/dev/null 2>&1; rm -rf {}",
        shell_quote(&dir.to_string_lossy())
    );
    // Never waited for: it outlives this process on purpose, to clean up after it.
    #[allow(clippy::zombie_processes)]
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0) // Ctrl-C on the test run must not kill the guardian before it cleans up
        .spawn()
        .expect("spawn guardian");
    let _ = GUARDIAN.set(Mutex::new(child.stdin.expect("guardian stdin")));
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The app role's URL of the database that `owner_url` (from `fresh_database`) names.
pub async fn app_url(owner_url: &str) -> String {
    db::url_as(owner_url, db::APP_ROLE, &server().await.app_password)
}

/// A fresh database copied from the migrated template; the owner's URL.
pub async fn fresh_database() -> String {
    let server = server().await;
    let name = format!(
        "xf_t_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let admin = PgPool::connect(&server.url("postgres")).await.unwrap();
    sqlx::query(&format!(
        "CREATE DATABASE {name} TEMPLATE {}",
        server.template
    ))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    let _ = GUARDIAN.get().map(|g| g.lock().unwrap().flush());
    server.url(&name)
}

pub const PASSWORD: &str = "Test-Passw0rd";

/// Where `TestApp::user` accounts belong: 浙江省, above every county the tests create (their codes
/// start with 33, so each lands under it), so that scoping leaves the tests' own data in view.
pub const HOME_JURISDICTION: &str = "330000";

pub struct TestApp {
    pub addr: SocketAddr,
    /// The app's own pool (logs in as the app role): what the app may do, and no more.
    pub db: PgPool,
    /// The owner's URL of this test's database (for setup the app role may not write).
    pub url: String,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let url = fresh_database().await;
        Self::start_on(url, configure).await
    }

    /// Another app instance on an existing database (several instances over one Postgres);
    /// `url` is the owner's, the instance's pool logs in as the app role.
    pub async fn start_on(url: String, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config {
            db_max_connections: 10,
            // Tests sign in often on a frozen clock; `login` tests set the limits they prove.
            login_per_ip_per_minute: 100_000,
            login_per_minute: 100_000,
            // Likewise, citizens of many tests share one phone and one IP; the phone code tests
            // set the limits they prove.
            phone_codes: PhoneCodes {
                interval: chrono::Duration::zero(),
                per_phone_per_day: 100_000,
                per_ip_per_hour: 100_000,
                per_hour: 100_000,
                ..PhoneCodes::default()
            },
            ..Config::default()
        };
        configure(&mut config);
        let pool = db::connect(&app_url(&url).await, config.db_max_connections)
            .await
            .unwrap();
        let clock = ManualClock::new(Utc::now());
        let state = AppState::new(pool.clone(), config, clock.clone(), test_keys())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(app::serve(listener, state.clone(), std::future::pending()));
        TestApp {
            addr,
            db: pool,
            url,
            clock,
            state,
        }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A browser-like client: keeps cookies, does not follow redirects, sends this site's Origin.
    pub fn client(&self) -> Client {
        Client::browser(&self.origin(), self.clock.clone(), self.url.clone())
    }

    /// The authenticator app of `username` (enrolled through the pages): its code for a step no
    /// login of this account has used yet, the clock stepped 30 s when needed.
    pub async fn next_code(&self, username: &str) -> String {
        next_code(&self.clock, &self.url, username, None).await
    }

    /// The recovery codes shown to `username` at its last enrolment (through `Client::login`).
    pub fn recovery_codes(&self, username: &str) -> Vec<String> {
        authenticators()
            .lock()
            .unwrap()
            .get(&(self.url.clone(), username.to_owned()))
            .map(|a| a.recovery_codes.clone())
            .unwrap_or_default()
    }

    /// Create an account directly (password `PASSWORD`, no forced change) and return its id.
    pub async fn user(&self, username: &str, role: Role) -> i64 {
        let owner = PgPool::connect(&self.url).await.unwrap();
        let department_id: Option<i64> = match role {
            Role::Handler => Some(
                sqlx::query_scalar(
                    "INSERT INTO departments (name, short_name) VALUES ($1, $1) RETURNING id",
                )
                .bind(format!("{username}单位"))
                .fetch_one(&owner)
                .await
                .unwrap(),
            ),
            _ => None,
        };
        let leader_id: Option<i64> = match role {
            Role::Leader => Some(
                sqlx::query_scalar("INSERT INTO leaders (name, title, level) VALUES ($1, '县长', 'county') RETURNING id")
                    .bind(username)
                    .fetch_one(&owner)
                    .await
                    .unwrap(),
            ),
            _ => None,
        };
        let hash = password_hash();
        let id = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, role, department_id, leader_id, password_hash, must_change_password, jurisdiction_id)
             VALUES ($1, $1, $2, $3, $4, $5, false, (SELECT id FROM jurisdictions WHERE code = $6)) RETURNING id",
        )
        .bind(username)
        .bind(role.as_str())
        .bind(department_id)
        .bind(leader_id)
        .bind(hash)
        .bind(HOME_JURISDICTION)
        .fetch_one(&owner)
        .await
        .unwrap();
        owner.close().await;
        id
    }

    /// A client already signed in as `username` (after creating the account).
    pub async fn signed_in(&self, username: &str, role: Role) -> Client {
        self.user(username, role).await;
        let client = self.client();
        let r = client.login(username, PASSWORD).await;
        assert_eq!(r.status, 303, "login of {username} failed: {}", r.body);
        client
    }

    /// The SMS code last sent to `phone`, read off the text the phone received.
    pub async fn sms_code(&self, phone: &str) -> String {
        sms_code(&self.url, phone).await
    }

    pub async fn audit_count(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

/// The tests' SMS gateway: it keeps every text it is given (by database and outbox id), so
/// that a test reads a verification code as the citizen does.
struct CapturingSms(String);

fn sms_inbox() -> &'static Mutex<HashMap<(String, i64), String>> {
    static INBOX: OnceLock<Mutex<HashMap<(String, i64), String>>> = OnceLock::new();
    INBOX.get_or_init(Default::default)
}

impl xiafang::notify::Sender for CapturingSms {
    /// It reads the text, not the number: it works whatever keys sealed the phone.
    fn needs_phone(&self) -> bool {
        false
    }

    async fn send(&self, m: &xiafang::notify::Outgoing) -> anyhow::Result<Option<String>> {
        if let Some(code_id) = m.phone_code_id {
            let key = (self.0.clone(), code_id);
            let mut inbox = sms_inbox().lock().unwrap_or_else(|e| e.into_inner());
            inbox.insert(key, m.body.clone());
        }
        Ok(None)
    }
}

/// The code in the last verification SMS sent to `phone` in the database of `url` (the
/// owner's): the outbox is delivered through the capturing gateway (every message due goes).
/// Another client delivering at the same moment may hold the message for a little while; a
/// database restarting (the fault tests) is waited for.
pub async fn sms_code(url: &str, phone: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        if let Ok(Some(text)) = deliver_and_read(url, phone).await {
            let digits: String = text
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            assert_eq!(digits.len(), 6, "a 6-digit code in {text}");
            return digits;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the code to {phone} was not delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn deliver_and_read(url: &str, phone: &str) -> sqlx::Result<Option<String>> {
    let owner = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(3))
        .connect(url)
        .await?;
    // By the mask (whatever keys the app has): tests give their citizens phones whose masks differ.
    let latest: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM phone_codes WHERE phone_mask = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(xiafang::privacy::mask_phone(phone))
    .fetch_optional(&owner)
    .await?;
    let latest = latest.unwrap_or_else(|| panic!("no code was sent to {phone}"));
    // Messages are queued at the database's now(), which the app's manual clock may lag.
    let later = ManualClock::new(Utc::now() + chrono::Duration::hours(1));
    let delivery = xiafang::notify::Delivery {
        batch: 1000,
        ..xiafang::notify::Delivery::from_config(&Config::default())
    };
    let gateway = CapturingSms(url.to_owned());
    let delivered =
        xiafang::notify::deliver_batch(&owner, later.as_ref(), &test_keys(), &gateway, &delivery)
            .await;
    owner.close().await;
    delivered?;
    let inbox = sms_inbox().lock().unwrap_or_else(|e| e.into_inner());
    Ok(inbox.get(&(url.to_owned(), latest)).cloned())
}

/// One set of keys per test process, so that several instances on one database agree.
pub fn test_keys() -> Arc<xiafang::privacy::Keys> {
    static KEYS: OnceLock<Arc<xiafang::privacy::Keys>> = OnceLock::new();
    KEYS.get_or_init(|| Arc::new(xiafang::privacy::Keys::generate()))
        .clone()
}

/// argon2id of `PASSWORD`, computed once per test process.
fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password_auth::generate_hash(PASSWORD))
        .clone()
}

pub struct Client {
    pub http: reqwest::Client,
    base: String,
    clock: Arc<ManualClock>,
    /// The test database: accounts (and their authenticators) are per database.
    database: String,
}

impl Client {
    fn browser(origin: &str, clock: Arc<ManualClock>, database: String) -> Client {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .default_headers(headers)
            .build()
            .unwrap();
        Client {
            http,
            base: origin.to_owned(),
            clock,
            database,
        }
    }

    /// A browser of a server the test started as a process (`serve --demo`: demo accounts sign
    /// in with their password alone, so no authenticator is needed).
    pub fn for_origin(origin: &str) -> Client {
        Client::browser(origin, ManualClock::new(Utc::now()), origin.to_owned())
    }
}

/// What a user's authenticator app holds, as the harness learnt it from the enrolment page.
struct Authenticator {
    secret: Vec<u8>,
    /// The last time step a code was made for: the server accepts each step once.
    last_step: i64,
    recovery_codes: Vec<String>,
}

type Authenticators = Mutex<HashMap<(String, String), Authenticator>>;

/// Shared by every client (and browser) of every app in this process, keyed by database and user.
fn authenticators() -> &'static Authenticators {
    static MAP: OnceLock<Authenticators> = OnceLock::new();
    MAP.get_or_init(Default::default)
}

/// The code `username`'s authenticator shows now (after enrolling with `secret`, when given). The
/// manual clock moves on by 30 s when this step was used already, so two logins never share one.
/// A test that turned the clock back (before steps already used) gets them forgotten, here and on
/// the server, as if the authenticator were bound afresh: the server never accepts a step twice.
pub async fn next_code(
    clock: &ManualClock,
    database: &str,
    username: &str,
    secret: Option<Vec<u8>>,
) -> String {
    let key = (database.to_owned(), username.to_owned());
    if let Some(secret) = secret {
        let fresh = Authenticator {
            secret,
            last_step: i64::MIN,
            recovery_codes: Vec::new(),
        };
        authenticators().lock().unwrap().insert(key.clone(), fresh);
    }
    let last = authenticators()
        .lock()
        .unwrap()
        .get(&key)
        .unwrap_or_else(|| panic!("{username} has not enrolled through the harness"))
        .last_step;
    if totp::step_of(clock.now()) + 1 < last {
        let owner = PgPool::connect(database).await.unwrap();
        sqlx::query("UPDATE users SET totp_last_step = NULL WHERE lower(username) = lower($1)")
            .bind(username)
            .execute(&owner)
            .await
            .unwrap();
        owner.close().await;
        authenticators()
            .lock()
            .unwrap()
            .get_mut(&key)
            .unwrap()
            .last_step = i64::MIN;
    }
    let mut map = authenticators().lock().unwrap();
    let a = map.get_mut(&key).unwrap();
    while totp::step_of(clock.now()) <= a.last_step {
        clock.advance(chrono::Duration::seconds(totp::STEP));
    }
    a.last_step = totp::step_of(clock.now());
    totp::code_at(&a.secret, clock.now())
}

/// The secret as the enrolment page shows it for manual entry (Base32 in groups).
pub fn secret_from_text(text: &str) -> Vec<u8> {
    let b32: String = text.split_whitespace().collect();
    totp_rs::Secret::try_from_base32(&b32)
        .unwrap_or_else(|_| panic!("not a Base32 secret: {text}"))
        .as_bytes()
        .to_vec()
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn html(&self) -> Html {
        Html::parse_document(&self.body)
    }
    /// Text of every element matching `css`, whitespace-trimmed.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let sel = Selector::parse(css).unwrap();
        self.html()
            .select(&sel)
            .map(|e| e.text().collect::<String>().trim().to_owned())
            .collect()
    }
    pub fn text(&self, css: &str) -> String {
        self.texts(css).into_iter().next().unwrap_or_default()
    }
    /// The error shown next to a form field.
    pub fn field_error(&self, name: &str) -> String {
        self.text(&format!("#e-{name}"))
    }
    /// The value a form field holds (inputs: value attribute; textareas: text).
    pub fn field_value(&self, name: &str) -> String {
        let sel = Selector::parse(&format!("[name=\"{name}\"]")).unwrap();
        let doc = self.html();
        doc.select(&sel)
            .next()
            .map(|e| {
                e.value()
                    .attr("value")
                    .map(str::to_owned)
                    .unwrap_or_else(|| e.text().collect())
            })
            .unwrap_or_default()
    }
}

impl Client {
    async fn wrap(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        Self::wrap(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A GET reached by following a link on `referer` (an absolute URL).
    pub async fn get_from(&self, path: &str, referer: &str) -> Resp {
        Self::wrap(
            self.http
                .get(format!("{}{path}", self.base))
                .header(reqwest::header::REFERER, referer)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        Self::wrap(
            self.http
                .post(format!("{}{path}", self.base))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Submit a form with one file, as a browser does (`multipart/form-data`): `field` holds the
    /// bytes of `file_name`, declared as `declared_type`.
    pub async fn post_file(
        &self,
        path: &str,
        field: &str,
        file_name: &str,
        declared_type: &str,
        bytes: &[u8],
    ) -> Resp {
        let boundary = "----xiafang-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: {declared_type}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let sent = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        Self::wrap(sent).await
    }

    /// A download: status, headers and the bytes as sent.
    pub async fn get_bytes(&self, path: &str) -> (u16, HeaderMap, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, headers, r.bytes().await.unwrap().to_vec())
    }

    /// Press 获取验证码 on the registration form at `path` with the values of `form`; the code the
    /// phone received.
    pub async fn request_code(&self, path: &str, form: &[(&str, &str)]) -> String {
        let mut f: Vec<(&str, &str)> = form
            .iter()
            .filter(|(k, _)| *k != "action")
            .copied()
            .collect();
        f.push(("action", "send_code"));
        let r = self.post(path, &f).await;
        assert_eq!(r.status, 200, "获取验证码: {}", r.body);
        assert!(r.text("#code-sent").contains("验证码已发送"), "{}", r.body);
        let phone = form
            .iter()
            .find(|(k, _)| *k == "phone")
            .map(|(_, v)| *v)
            .expect("a phone in the form");
        sms_code(&self.database, phone).await
    }

    /// Submit the registration form at `path` as a citizen does: 获取验证码 first, then the form
    /// with the code from the SMS.
    pub async fn post_verified(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let code = self.request_code(path, form).await;
        let mut f: Vec<(&str, &str)> = form.iter().filter(|(k, _)| *k != "code").copied().collect();
        f.push(("code", &code));
        self.post(path, &f).await
    }

    /// The whole sign-in as a user does it: the password, then enrolment (first time: the secret
    /// read off the page, the recovery codes kept, 继续) or the code of the authenticator app.
    /// Returns the last answer: 303 means signed in; a refused password gives its 401 page.
    pub async fn login(&self, username: &str, password: &str) -> Resp {
        let r = self
            .post("/login", &[("username", username), ("password", password)])
            .await;
        match r.location() {
            "/login/enrol" => self.enrol(username).await,
            "/login/second-factor" => {
                let code = next_code(&self.clock, &self.database, username, None).await;
                self.post("/login/second-factor", &[("code", &code)]).await
            }
            _ => r,
        }
    }

    async fn enrol(&self, username: &str) -> Resp {
        let page = self.get("/login/enrol").await;
        assert_eq!(page.status, 200, "enrolment page: {}", page.body);
        let secret = secret_from_text(&page.text("#totp-secret"));
        let code = next_code(&self.clock, &self.database, username, Some(secret)).await;
        let done = self.post("/login/enrol", &[("code", &code)]).await;
        if done.status != 200 {
            return done;
        }
        let codes = done.texts(".recovery-codes li");
        assert_eq!(codes.len(), 10, "ten recovery codes: {}", done.body);
        let key = (self.database.clone(), username.to_owned());
        if let Some(a) = authenticators().lock().unwrap().get_mut(&key) {
            a.recovery_codes = codes;
        }
        let next = done.field_value("next");
        self.post("/login/continue", &[("next", &next)]).await
    }
}
