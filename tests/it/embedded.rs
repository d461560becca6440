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

fn serve(data_dir: &Path, port: u16) -> Child {
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

fn postmaster_running(cluster: &Path) -> bool {
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
        data.join("postgres").canonicalize().unwrap().display()
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
