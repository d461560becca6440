//! The embedded cluster as an operator meets it: `xiafang serve` with no DATABASE_URL, twice, killed, restarted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_xiafang");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn xiafang(data_dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn");
    c
}

pub fn serve(data_dir: &Path, port: u16) -> Child {
    xiafang(data_dir, &["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

pub async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("instance on port {port} never became ready");
}

pub fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

pub fn postmaster_running(cluster: &Path) -> bool {
    std::fs::read_to_string(cluster.join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
        .is_some_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok())
}

/// The start-up migrated as the owner and closed that connection: what stays connected to the
/// app's database is the pool, logged in as the app role (the owner's password is in the data dir).
async fn assert_only_the_app_role_is_connected(data: &Path) {
    use sqlx::Connection;
    let password = std::fs::read_to_string(data.join("postgres.owner-password")).unwrap();
    let url = format!(
        "postgres://xiafang:{}@localhost/postgres?host={}",
        password.trim(),
        xiafang::db::embedded::socket_dir(&data.join("postgres")).display()
    );
    let mut owner = sqlx::PgConnection::connect(&url).await.unwrap();
    let users: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT usename::text FROM pg_stat_activity WHERE datname = 'xiafang'",
    )
    .fetch_all(&mut owner)
    .await
    .unwrap();
    assert_eq!(users, ["xiafang_app"], "the pool's only identity");
    owner.close().await.unwrap();
}

#[tokio::test]
async fn a_second_instance_reuses_the_cluster_and_a_crash_loses_nothing() {
    use nix::sys::signal::Signal::{SIGKILL, SIGTERM};
    let data: PathBuf =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let cluster = data.join("postgres");
    let (port_a, port_b) = (free_port(), free_port());

    let mut a = serve(&data, port_a);
    wait_ready(port_a).await;
    assert_only_the_app_role_is_connected(&data).await;
    let home = reqwest::get(format!("http://127.0.0.1:{port_a}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("领导下访接访"),
        "the Chinese home page is served"
    );

    // A one-shot command on the same data directory reuses the running cluster.
    let add = xiafang(
        &data,
        &[
            "user",
            "add",
            "--username",
            "keeper",
            "--name",
            "保管员",
            "--role",
            "staff",
            "--jurisdiction",
            "330726",
        ],
    )
    .output()
    .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let stdout = String::from_utf8(add.stdout).unwrap();
    let password: String = stdout
        .split("一次性密码：")
        .nth(1)
        .unwrap()
        .chars()
        .take(12)
        .collect();
    assert!(
        postmaster_running(&cluster),
        "the one-shot command did not stop a cluster it did not start"
    );

    let mut b = serve(&data, port_b);
    wait_ready(port_b).await;
    signal(&b, SIGTERM);
    assert!(
        b.wait().unwrap().success(),
        "the second instance exits cleanly"
    );
    assert!(
        postmaster_running(&cluster),
        "stopping the second instance leaves the first one's cluster running"
    );
    wait_ready(port_a).await;

    // Crash the starter: the cluster outlives it; a restart takes it over with the data intact.
    signal(&a, SIGKILL);
    a.wait().unwrap();
    let mut a2 = serve(&data, port_a);
    wait_ready(port_a).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port_a}");
    let login = client
        .post(format!("{base}/login"))
        .form(&[("username", "keeper"), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        303,
        "the account made before the crash still signs in"
    );
    // Its first sign-in binds the second factor (on the real clock), then the forced change.
    assert_eq!(login.headers()["location"], "/login/enrol");
    let page = client.get(format!("{base}/login/enrol")).send().await;
    let page = page.unwrap().text().await.unwrap();
    let shown = page
        .split("id=\"totp-secret\" class=\"totp-secret\">")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .unwrap_or_else(|| panic!("the secret as text: {page}"));
    let secret = crate::harness::secret_from_text(shown);
    let code = xiafang::web::totp::code_at(&secret, chrono::Utc::now());
    let enrolled = client
        .post(format!("{base}/login/enrol"))
        .form(&[("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 200, "the recovery codes");
    let done = client
        .post(format!("{base}/login/continue"))
        .form(&[("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/account/password");

    // Ctrl-C in the terminal: the owner stops its cluster and leaves no Postgres behind.
    signal(&a2, nix::sys::signal::Signal::SIGINT);
    assert!(a2.wait().unwrap().success());
    assert!(
        !postmaster_running(&cluster),
        "the instance that owns the cluster stops it on Ctrl-C"
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// The user a process runs as (its real uid), from /proc.
fn user_of(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    let uid = nix::unistd::Uid::from_raw(uid.parse().unwrap());
    nix::unistd::User::from_uid(uid).unwrap().unwrap().name
}

/// The processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": the name may hold spaces and parentheses.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        if after_name.split(' ').nth(1) == Some(&parent.to_string()) {
            found.push(pid);
        }
    }
    found
}

/// Whether `test FLAG PATH` holds for the `xiafang` user.
fn as_web_user(flag: &str, path: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", "xiafang", "--", "test", flag])
        .arg(path)
        .status()
        .unwrap()
        .success()
}

#[tokio::test]
async fn started_as_root_the_web_process_runs_as_xiafang_and_cannot_read_the_owners_secrets() {
    use nix::sys::signal::Signal::SIGTERM;
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "embedded::started_as_root…: the suite does not run as root, so the server cannot be started as root here; nothing was checked"
        );
        return;
    }
    let data: PathBuf =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("as-root-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let port = free_port();
    let mut server = serve(&data, port);
    wait_ready(port).await;

    let parent = server.id();
    assert_eq!(user_of(parent), "root", "the parent keeps root");
    let children = children_of(parent);
    assert_eq!(children.len(), 1, "one serving process: {children:?}");
    let web = children[0];
    assert_eq!(
        user_of(web),
        "xiafang",
        "the serving process is unprivileged"
    );
    let cluster = data.join("postgres").canonicalize().unwrap();
    let postmaster: u32 = std::fs::read_to_string(cluster.join("postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cluster_user = user_of(postmaster);
    assert!(
        cluster_user != "xiafang" && cluster_user != "root",
        "the cluster runs as its own user, not {cluster_user}"
    );

    let sockets = xiafang::db::embedded::socket_dir(&data.join("postgres"));
    assert!(as_web_user("-x", &sockets), "it reaches the socket");
    let owner_password = data.join("postgres.owner-password");
    assert!(owner_password.exists());
    assert!(
        !as_web_user("-r", &owner_password),
        "not the owner's password"
    );
    assert!(
        !as_web_user("-r", &data.join("keys.json")),
        "not the key file"
    );
    assert!(!as_web_user("-x", &cluster), "not the cluster's files");
    let environ = std::fs::read(format!("/proc/{web}/environ")).unwrap();
    let owner_secret = std::fs::read_to_string(&owner_password).unwrap();
    assert!(
        !String::from_utf8_lossy(&environ).contains(owner_secret.trim()),
        "nor the owner's password in its environment"
    );

    signal(&server, SIGTERM);
    assert!(server.wait().unwrap().success(), "a clean stop");
    assert!(
        !Path::new(&format!("/proc/{web}")).exists(),
        "the serving process ended"
    );
    assert!(!postmaster_running(&cluster), "and the cluster was stopped");
    std::fs::remove_dir_all(&data).unwrap();
}
