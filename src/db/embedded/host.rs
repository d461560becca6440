//! The machine under the embedded cluster: where the server binaries are, pid and lock files,
//! processes, and running a program to completion.

use super::*;

/// The bin dir holding `initdb`, `pg_ctl` and `postgres` of one version: the first `initdb` on
/// PATH (symlinks resolved), else the highest version under `lib_root/*/bin`.
pub(super) fn find_bin_dir(path: Option<&OsStr>, lib_root: &Path) -> Result<PathBuf> {
    for entry in path.map(std::env::split_paths).into_iter().flatten() {
        let initdb = entry.join("initdb");
        if !is_executable(&initdb) {
            continue;
        }
        if let Some(bin) = fs::canonicalize(&initdb)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            && has_server_binaries(&bin)
        {
            return Ok(bin);
        }
    }
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    for entry in fs::read_dir(lib_root).into_iter().flatten().flatten() {
        let Some(version) = parse_version(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        let bin = entry.path().join("bin");
        if has_server_binaries(&bin) && best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    best.map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or under {}/*/bin: install them (for example `apt-get install postgresql`) or set DATABASE_URL to use an existing server.",
            lib_root.display()
        )
    })
}

pub(super) fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|p| p.parse().ok()).collect()
}

pub(super) fn has_server_binaries(bin: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| is_executable(&bin.join(b)))
}

pub(super) fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `<dir>.<ext>` beside the cluster dir (the cluster dir itself belongs to the server user).
pub(super) fn sibling(dir: &Path, ext: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(ext);
    dir.with_file_name(name)
}

/// Stable across builds and Rust versions (unlike `DefaultHasher`): FNV-1a, 64 bits, as 16 hex.
pub(super) fn path_hash(path: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

pub(super) fn check_socket_path(socket_dir: &Path) -> Result<()> {
    let socket = socket_dir.join(SOCKET_NAME);
    let len = socket.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        bail!(
            "The PostgreSQL socket path {} is {len} bytes, longer than the {MAX_SOCKET_PATH} that Unix sockets allow: use a shorter --data-dir (XIAFANG_DATA_DIR).",
            socket.display()
        );
    }
    Ok(())
}

pub(super) fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Run to completion; on failure the error carries the last lines the program printed.
pub(super) async fn run(mut cmd: Command, what: &str) -> Result<()> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cmd
        .output()
        .await
        .with_context(|| format!("could not run {what}"))?;
    if out.status.success() {
        return Ok(());
    }
    let printed = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    bail!("{what} failed ({}): {}", out.status, tail(&printed, 10))
}

pub(super) async fn lock_exclusive(path: &Path) -> Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("could not open the start lock {}", path.display()))?;
    let what = path.display().to_string();
    tokio::task::spawn_blocking(move || Flock::lock(file, FlockArg::LockExclusive))
        .await?
        .map_err(|(_, e)| anyhow!("could not lock {what}: {e}"))
}

pub(super) fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

pub(super) fn postmaster_pid(data: &Path) -> Option<u32> {
    read_pid(&data.join("postmaster.pid"))
}

pub(super) fn write_pid(path: &Path, pid: u32) -> Result<()> {
    let tmp = sibling(path, "tmp");
    fs::write(&tmp, format!("{pid}\n"))
        .with_context(|| format!("could not write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("could not write {}", path.display()))
}

/// Alive and not a zombie: a SIGKILLed postmaster can linger unreaped, and kill(pid, 0) still
/// succeeds on it.
pub(super) fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    raw > 0
        && matches!(kill(Pid::from_raw(raw), None), Ok(()) | Err(Errno::EPERM))
        && proc_stat(pid).is_none_or(|(_, state)| !matches!(state, 'Z' | 'X'))
}

/// Guards against a recycled PID in a stale postmaster.pid; trusts the PID if /proc is unreadable.
pub(super) fn is_postgres(pid: u32) -> bool {
    proc_stat(pid).is_none_or(|(comm, _)| matches!(comm.as_str(), "postgres" | "postmaster"))
}

/// (comm, state) from /proc/<pid>/stat.
pub(super) fn proc_stat(pid: u32) -> Option<(String, char)> {
    parse_proc_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

pub(super) fn parse_proc_stat(stat: &str) -> Option<(String, char)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let state = stat.get(close + 1..)?.trim_start().chars().next()?;
    Some((comm, state))
}
