//! Faults, with the real binary: killed under load, its database restarted under load, SIGTERM
//! during a registration, overload shed, oversized bodies refused. Tests that stop or restart
//! Postgres run it on a cluster of their own (fsync on), never on the shared server.

use crate::embedded::{free_port, signal, wait_ready};
use crate::harness::{TestApp, app_url, fresh_database};
use crate::register::{Visit, form, id_number, set, visit_on};
use chrono::{Duration as Days, Utc};
use nix::sys::signal::Signal::{SIGKILL, SIGTERM};
use reqwest::redirect::Policy;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xiafang::clock::Clock;
use xiafang::db::embedded::{Cluster, ClusterOptions};

/// A throwaway cluster of one test (fsync on: acknowledged commits must survive a crash),
/// stopped and deleted when dropped.
struct OwnCluster {
    cluster: Cluster,
    dir: PathBuf,
}

impl OwnCluster {
    async fn start(name: &str) -> OwnCluster {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("faults-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cluster = Cluster::start(&dir.join("postgres"), ClusterOptions { fsync: true })
            .await
            .expect("start the test's own cluster");
        xiafang::db::ensure_database(&cluster.url("postgres"), "xiafang")
            .await
            .unwrap();
        xiafang::db::migrate(&cluster.url("xiafang"), Some(cluster.app_password()))
            .await
            .unwrap();
        OwnCluster { cluster, dir }
    }

    /// The owner's URL (test setup and checks).
    fn url(&self) -> String {
        self.cluster.url("xiafang")
    }

    /// The app role's URL (what `xiafang serve` gets as DATABASE_URL).
    fn app_url(&self) -> String {
        self.cluster.app_url("xiafang")
    }

    /// `pg_ctl stop -m <mode>` as the user the server runs as (the cluster's own stop command, in another mode).
    fn stop(&self, mode: &str) {
        let argv: Vec<String> = self
            .cluster
            .stop_command()
            .into_iter()
            .map(|a| if a == "immediate" { mode.to_owned() } else { a })
            .collect();
        let status = pg_command(&argv).arg("-w").status().unwrap();
        assert!(status.success(), "pg_ctl stop -m {mode}");
    }

    /// Start the stopped server again, through the product's own start-up code.
    async fn restart(&mut self) {
        self.cluster = Cluster::start(&self.dir.join("postgres"), ClusterOptions { fsync: true })
            .await
            .expect("restart the cluster");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = pg_command(&self.cluster.stop_command()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_command(argv: &[String]) -> Command {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..])
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for var in ["PGDATA", "PGPORT", "PGHOST", "PGUSER", "PGDATABASE"] {
        c.env_remove(var);
    }
    c
}

/// `xiafang serve` on `port` over `url`, keys generated in `data`. The client IP comes from
/// X-Forwarded-For (each simulated citizen has its own), so the per-IP limit does not interfere.
/// `xiafang serve` on `app_url` (the app role's; the schema is migrated already).
fn serve(app_url: &str, data: &Path, port: u16, env: &[(&str, &str)]) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_xiafang"))
        .arg("serve")
        .env("DATABASE_URL", app_url)
        .env_remove("XIAFANG_OWNER_DATABASE_URL")
        .env("XIAFANG_BIND", format!("127.0.0.1:{port}"))
        .env("XIAFANG_DATA_DIR", data)
        .env("XIAFANG_TRUSTED_PROXIES", "127.0.0.1")
        // The tests read SMS codes from the outbox: nothing delivers (and erases) them first.
        .env("XIAFANG_JOBS", "off")
        .env("XIAFANG_PHONE_CODES_PER_HOUR", "100000")
        .env("RUST_LOG", "error")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Server(child)
}

/// A `xiafang serve` process, killed if a failing test leaves it running.
struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn data_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("faults-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A browser of one citizen: cookies, no redirects followed, this site's Origin.
fn browser(port: u16) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "origin",
        format!("http://127.0.0.1:{port}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .default_headers(headers)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

static NEXT_CITIZEN: AtomicU32 = AtomicU32::new(1);

/// What one registration attempt got back.
struct Answer {
    status: u16,
    /// The receipt code of a 303 to `/registrations/{code}`.
    code: Option<String>,
    body: String,
    retry_after: bool,
}

async fn answer(r: reqwest::Response) -> reqwest::Result<Answer> {
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    let code = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.strip_prefix("/registrations/"))
        .map(str::to_owned)
        .filter(|_| status == 303);
    Ok(Answer {
        status,
        code,
        body: r.text().await?,
        retry_after,
    })
}

/// The registration form's one-time token.
async fn form_token(
    http: &reqwest::Client,
    port: u16,
    visit: i64,
) -> reqwest::Result<Result<String, Answer>> {
    let r = answer(
        http.get(format!("http://127.0.0.1:{port}/visits/{visit}/register"))
            .send()
            .await?,
    )
    .await?;
    if r.status != 200 {
        return Ok(Err(r));
    }
    let doc = scraper::Html::parse_document(&r.body);
    let sel = scraper::Selector::parse("input[name=form_token]").unwrap();
    Ok(Ok(doc
        .select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .unwrap_or_default()
        .to_owned()))
}

/// POST a filled-in form (every other citizen a group of 8: two slots) from its own address and
/// phone, after 获取验证码 and with the code the phone received (read from the outbox of the
/// database at `url`, the owner's).
async fn post_form(
    http: &reqwest::Client,
    port: u16,
    url: &str,
    v: &Visit,
    category: i64,
    token: &str,
) -> reqwest::Result<Answer> {
    let n = NEXT_CITIZEN.fetch_add(1, Ordering::Relaxed);
    let (id, c, w) = (
        id_number(n as i64),
        category.to_string(),
        v.windows[n as usize % v.windows.len()].to_string(),
    );
    let mut f = form(token, &id, &c, &w);
    if n.is_multiple_of(2) {
        set(&mut f, "persons", "8");
        set(&mut f, "representatives", "张三、李四");
    }
    let phone = format!("139{n:08}");
    set(&mut f, "phone", &phone);
    let ip = format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255);
    let path = format!("http://127.0.0.1:{port}/visits/{}/register", v.id);
    let mut ask = f.clone();
    ask.push(("action", "send_code"));
    let sent = answer(
        http.post(&path)
            .header("x-forwarded-for", &ip)
            .form(&ask)
            .send()
            .await?,
    )
    .await?;
    if sent.status != 200 {
        return Ok(sent);
    }
    let code = crate::harness::sms_code(url, &phone).await;
    f.push(("code", &code));
    answer(
        http.post(&path)
            .header("x-forwarded-for", ip)
            .form(&f)
            .send()
            .await?,
    )
    .await
}

/// Fetch the form and register, as a citizen does.
async fn register(
    http: &reqwest::Client,
    port: u16,
    url: &str,
    v: &Visit,
    category: i64,
) -> reqwest::Result<Answer> {
    match form_token(http, port, v.id).await? {
        Ok(token) => post_form(http, port, url, v, category, &token).await,
        Err(refused) => Ok(refused),
    }
}

async fn category(url: &str) -> i64 {
    let owner = PgPool::connect(url).await.unwrap();
    let id = sqlx::query_scalar("SELECT id FROM categories WHERE name = '城乡建设' AND parent_id IS NOT NULL ORDER BY id LIMIT 1").fetch_one(&owner).await.unwrap();
    owner.close().await;
    id
}

/// Every answer the load got, and the receipts among them.
#[derive(Default)]
struct Tally {
    codes: Vec<String>,
    statuses: Vec<u16>,
    /// 503s without the Chinese page or without Retry-After.
    bad_503: Vec<String>,
}

/// `xiafang serve` over a cluster of its own, with four citizens registering (and reading pages)
/// in a loop until `finish`; refused connections (the app is down) are retried after a pause.
struct UnderLoad {
    pg: OwnCluster,
    url: String,
    data: PathBuf,
    port: u16,
    app: Server,
    visit: Arc<Visit>,
    category: i64,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl UnderLoad {
    async fn start(name: &str) -> Self {
        let pg = OwnCluster::start(name).await;
        let (url, data, port) = (pg.url(), data_dir(name), free_port());
        let app = serve(&pg.app_url(), &data, port, &[]);
        wait_ready(port).await;
        let visit = Arc::new(visit_on(&url, Utc::now(), &[400, 400], Some(Days::days(-1))).await);
        let category = category(&url).await;
        let (stop, tally) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(Mutex::new(Tally::default())),
        );
        let clients = load(4, port, &url, &visit, category, &stop, &tally);
        UnderLoad {
            pg,
            url,
            data,
            port,
            app,
            visit,
            category,
            stop,
            tally,
            clients,
        }
    }

    /// Stop the citizens; every answer they got.
    async fn finish(&mut self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        futures_util::future::join_all(std::mem::take(&mut self.clients)).await;
        std::mem::take(&mut *self.tally.lock().unwrap())
    }

    /// SIGTERM: the app must exit cleanly.
    fn stop_app(mut self) {
        signal(&self.app, SIGTERM);
        assert!(self.app.wait().unwrap().success());
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn load(
    clients: usize,
    port: u16,
    url: &str,
    v: &Arc<Visit>,
    category: i64,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Mutex<Tally>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|i| {
            let (v, stop, tally) = (v.clone(), stop.clone(), tally.clone());
            let url = url.to_owned();
            tokio::spawn(async move {
                let mut round = 0;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    let http = browser(port);
                    let result = if (i + round) % 3 == 0 {
                        let page = if round % 2 == 0 {
                            format!("/visits/{}", v.id)
                        } else {
                            "/".to_owned()
                        };
                        match http
                            .get(format!("http://127.0.0.1:{port}{page}"))
                            .send()
                            .await
                        {
                            Ok(r) => answer(r).await,
                            Err(e) => Err(e),
                        }
                    } else {
                        register(&http, port, &url, &v, category).await
                    };
                    match result {
                        Ok(a) => {
                            let mut t = tally.lock().unwrap();
                            t.statuses.push(a.status);
                            if a.status == 503 && !(a.retry_after && a.body.contains("请稍后再试"))
                            {
                                t.bad_503.push(a.body);
                            }
                            t.codes.extend(a.code);
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        })
        .collect()
}

/// Every receipt exists, complete; every registration has its token, audit row and queued
/// confirmation (one transaction); each window's booked count is what its registrations hold.
async fn assert_consistent(url: &str, codes: &[String]) {
    let db = PgPool::connect(url).await.unwrap();
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM registrations
         WHERE code = ANY($1) AND name_cipher IS NOT NULL AND name_index IS NOT NULL AND name_mask <> '' AND id_number_cipher IS NOT NULL AND id_number_index IS NOT NULL AND id_number_mask <> ''
           AND phone_cipher IS NOT NULL AND phone_mask <> '' AND address_cipher IS NOT NULL AND township <> '' AND category_id IS NOT NULL
           AND grievance_cipher IS NOT NULL AND window_id IS NOT NULL AND slots IN (1, 2) AND consent_at IS NOT NULL AND submitted_session_hash IS NOT NULL
           AND (persons <= 5 OR representatives_count = 2)",
    )
    .bind(codes)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        found as usize,
        codes.len(),
        "every receipt a client got exists, complete"
    );
    let half_written: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM registrations r
         WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'registration.create' AND a.object_id = r.id::text)
            OR NOT EXISTS (SELECT 1 FROM notifications n WHERE n.registration_id = r.id)
            OR NOT EXISTS (SELECT 1 FROM form_tokens t WHERE t.registration_id = r.id AND t.used_at IS NOT NULL)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        half_written, 0,
        "no registration without its audit row, notification and used token"
    );
    let orphans: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM audit_log WHERE action = 'registration.create' AND object_id::bigint NOT IN (SELECT id FROM registrations))
              + (SELECT count(*) FROM form_tokens WHERE used_at IS NOT NULL AND registration_id IS NULL)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        orphans, 0,
        "no audit row or used token without its registration"
    );
    let off: Vec<(i64, i32, i64)> = sqlx::query_as(
        "SELECT w.id, w.booked_slots, coalesce((SELECT sum(slots) FROM registrations r WHERE r.window_id = w.id
             AND r.status IN ('submitted', 'confirmed', 'scheduled', 'checked_in', 'called', 'received', 'no_show')), 0)::bigint
         FROM reception_windows w",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    for (window, booked, held) in off {
        assert_eq!(
            booked as i64, held,
            "window {window}: booked slots = slots of the registrations holding them"
        );
    }
    db.close().await;
}

fn alive(child: &mut Child) -> bool {
    child.try_wait().unwrap().is_none()
}

#[tokio::test]
async fn a_crash_of_the_app_and_of_postgres_loses_no_acknowledged_registration() {
    let mut l = UnderLoad::start("crash").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    signal(&l.app, SIGKILL);
    l.app.wait().unwrap();
    let before = l.tally.lock().unwrap().codes.len();
    assert!(before > 0, "receipts were given before the crash");
    // Postgres crashes too (no shutdown checkpoint): what was acknowledged must come back from the WAL.
    l.pg.stop("immediate");
    l.pg.restart().await;
    l.app = serve(&l.pg.app_url(), &l.data, l.port, &[]);
    wait_ready(l.port).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = l.finish().await;
    assert!(
        t.codes.len() > before,
        "receipts were given after the restart too"
    );
    assert!(
        t.statuses.iter().all(|s| *s < 500 || *s == 503),
        "no 5xx but 503: {:?}",
        t.statuses
    );
    assert_consistent(&l.url, &t.codes).await;
    l.stop_app();
}

#[tokio::test]
async fn a_database_restart_under_load_gives_503_and_the_app_recovers_by_itself() {
    let mut l = UnderLoad::start("restart").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // `pg_ctl restart -m fast`, with the server down for two seconds in between.
    l.pg.stop("fast");
    tokio::time::sleep(Duration::from_secs(2)).await;
    l.pg.restart().await;
    let restarted = Instant::now();
    let http = browser(l.port);
    loop {
        let a = register(&http, l.port, &l.url, &l.visit, l.category)
            .await
            .unwrap();
        if a.status == 303 {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(30),
            "the app recovers within 30 s by itself; last answer {}",
            a.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let t = l.finish().await;
    assert!(alive(&mut l.app), "the same process recovered");

    let unavailable = t.statuses.iter().filter(|s| **s == 503).count();
    assert!(unavailable > 0, "requests during the outage answered 503");
    let others: Vec<u16> = t
        .statuses
        .iter()
        .copied()
        .filter(|s| *s >= 500 && *s != 503)
        .collect();
    assert!(others.is_empty(), "no 500 or other 5xx: {others:?}");
    assert!(
        t.bad_503.is_empty(),
        "every 503 is the Chinese page with Retry-After: {:?}",
        t.bad_503.first()
    );
    assert_consistent(&l.url, &t.codes).await;
    l.stop_app();
}

/// Lock the visit's window rows in a transaction of the test: registration POSTs block on
/// their capacity UPDATE until it ends.
async fn lock_windows(owner: &PgPool, v: &Visit) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT id FROM reception_windows WHERE visit_id = $1 FOR UPDATE")
        .bind(v.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

async fn wait_for_blocked(owner: &PgPool, waiting: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xiafang' AND wait_event_type = 'Lock'")
            .fetch_one(owner)
            .await
            .unwrap();
        if n >= waiting {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "registrations never blocked on the window lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_registration_commit_and_exits_zero() {
    let (url, data, port) = (fresh_database().await, data_dir("term"), free_port());
    let mut app = serve(&app_url(&url).await, &data, port, &[]);
    wait_ready(port).await;
    let v = visit_on(&url, Utc::now(), &[20], Some(Days::days(-1))).await;
    let cat = category(&url).await;
    let owner = PgPool::connect(&url).await.unwrap();
    let http = browser(port);
    let token = form_token(&http, port, v.id).await.unwrap().ok().unwrap();

    let lock = lock_windows(&owner, &v).await;
    let v = Arc::new(v);
    let post = tokio::spawn({
        let (v, url) = (v.clone(), url.clone());
        async move { post_form(&http, port, &url, &v, cat, &token).await.unwrap() }
    });
    wait_for_blocked(&owner, 1).await;
    signal(&app, SIGTERM);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        alive(&mut app),
        "the process waits for the registration in flight"
    );
    lock.rollback().await.unwrap();

    let a = post.await.unwrap();
    assert_eq!(a.status, 303, "{}", a.body);
    let code = a.code.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = app.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the process exits after finishing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert_consistent(&url, &[code]).await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn beyond_its_capacity_the_server_sheds_at_once_with_503_and_retry_after() {
    let (url, data, port) = (fresh_database().await, data_dir("shed"), free_port());
    let mut app = serve(
        &app_url(&url).await,
        &data,
        port,
        &[("XIAFANG_MAX_IN_FLIGHT", "2")],
    );
    wait_ready(port).await;
    let v = Arc::new(visit_on(&url, Utc::now(), &[20], Some(Days::days(-1))).await);
    let cat = category(&url).await;
    let owner = PgPool::connect(&url).await.unwrap();
    let citizens: Vec<_> = (0..2).map(|_| browser(port)).collect();
    let mut tokens = Vec::new();
    for c in &citizens {
        tokens.push(form_token(c, port, v.id).await.unwrap().ok().unwrap());
    }
    // A live board stream is open throughout: it does not take one of the two places.
    let board = browser(port)
        .get(format!(
            "http://127.0.0.1:{port}/visits/{}/board/events",
            v.id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(board.status(), 200);

    let lock = lock_windows(&owner, &v).await;
    let posts: Vec<_> = citizens
        .into_iter()
        .zip(tokens)
        .map(|(http, token)| {
            let (v, url) = (v.clone(), url.clone());
            tokio::spawn(
                async move { post_form(&http, port, &url, &v, cat, &token).await.unwrap() },
            )
        })
        .collect();
    wait_for_blocked(&owner, 2).await;

    let started = Instant::now();
    for path in [
        "/".to_owned(),
        format!("/visits/{}", v.id),
        format!("/visits/{}/register", v.id),
    ] {
        let r = answer(
            browser(port)
                .get(format!("http://127.0.0.1:{port}{path}"))
                .send()
                .await
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(
            r.status, 503,
            "{path} is shed while two requests are in flight"
        );
        assert!(r.retry_after, "Retry-After on {path}");
        assert!(
            r.body.contains("当前访问人数较多，请稍后再试。"),
            "{}",
            r.body
        );
    }
    // An integration is refused in the API's own JSON shape.
    let r = answer(
        browser(port)
            .get(format!("http://127.0.0.1:{port}/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!((r.status, r.retry_after), (503, true));
    let body: serde_json::Value =
        serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("JSON, not a page: {}", r.body));
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert_eq!(body["error"]["message"], "当前访问人数较多，请稍后再试。");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shed at once, not queued: {:?}",
        started.elapsed()
    );
    let second_board = browser(port)
        .get(format!(
            "http://127.0.0.1:{port}/visits/{}/board/events",
            v.id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(second_board.status(), 200, "board streams are not counted");

    lock.rollback().await.unwrap();
    for p in posts {
        assert_eq!(p.await.unwrap().status, 303);
    }
    let r = browser(port)
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "served again once the load is gone");
    drop((board, second_board));
    signal(&app, SIGTERM);
    assert!(app.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&data);
}

/// Send raw HTTP/1.1 and return the status line's code and the body.
async fn raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer and close before reading everything: a broken pipe is fine.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn chunked(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in data.chunks(1000) {
        out.extend(format!("{:x}\r\n", part.len()).into_bytes());
        out.extend(part);
        out.extend(b"\r\n");
    }
    out.extend(b"0\r\n\r\n");
    out
}

#[tokio::test]
async fn oversized_bodies_get_413_with_a_chinese_page_however_they_are_sent() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 8 * 1024).await;
    let v = visit_on(&app.url, app.clock.now(), &[20], Some(Days::days(-1))).await;
    let client = app.client();
    let page = client.get(&format!("/visits/{}/register", v.id)).await;
    let token = page.field_value("form_token");
    let big = "诉".repeat(10_000);
    let id = id_number(1);
    let mut f = form(&token, &id, "1", "1");
    set(&mut f, "grievance", &big);
    const MESSAGE: &str = "提交的内容过大，请删减后重新提交。";

    // With an honest Content-Length: refused before the handler runs.
    let r = client.post(&format!("/visits/{}/register", v.id), &f).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains(MESSAGE), "{}", r.body);
    assert!(
        r.headers.contains_key("content-security-policy"),
        "security headers on the error page too"
    );
    let r = client
        .post("/login", &[("username", &big), ("password", "x")])
        .await;
    assert_eq!(r.status, 413);
    assert!(r.body.contains(MESSAGE));

    // Chunked, with no Content-Length, and chunked with a lying Content-Length.
    let body = serde_urlencoded::to_string(&f).unwrap();
    let origin = app.origin();
    for extra in ["", "Content-Length: 10\r\n"] {
        let head = format!(
            "POST /visits/{}/register HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n{extra}Connection: close\r\n\r\n",
            v.id, app.addr
        );
        let (status, text) = raw(app.addr, &head, &chunked(body.as_bytes())).await;
        if extra.is_empty() {
            assert_eq!(status, 413, "{text}");
            assert!(text.contains(MESSAGE), "{text}");
        } else {
            // Both headers is a malformed request (RFC 9112 §6.3): refused, never handled.
            assert!(status == 413 || status == 400, "{text}");
        }
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing oversized was registered");
    // A body within the limit still goes through.
    let r = client
        .post_verified(
            &format!("/visits/{}/register", v.id),
            &form(
                &token,
                &id,
                &category(&app.url).await.to_string(),
                &v.windows[0].to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
}
