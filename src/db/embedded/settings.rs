//! The text of the settings file the embedded cluster reads (`xiafang.conf`, rewritten on every
//! start): the fixed settings, WAL archiving when asked for, and the settings of a
//! point-in-time recovery. Pure, so that quoting is tested here.

use super::ClusterOptions;
use anyhow::{Result, bail};
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use std::path::Path;

/// The socket itself is open to all: its directory decides who reaches it (`Cluster::sockets`).
pub(super) fn settings_text(socket_dir: &Path, opts: ClusterOptions) -> String {
    let onoff = if opts.fsync { "on" } else { "off" };
    format!(
        "listen_addresses = ''\n\
         port = 5432\n\
         unix_socket_directories = {}\n\
         unix_socket_permissions = 0777\n\
         fsync = {onoff}\n\
         full_page_writes = {onoff}\n\
         synchronous_commit = on\n\
         max_connections = 200\n\
         shared_buffers = 128MB\n\
         timezone = 'Asia/Shanghai'\n\
         log_min_messages = warning\n",
        conf_string(&socket_dir.to_string_lossy())
    )
}

/// Every finished WAL segment copied into `archive`: never over a file already there, and
/// renamed into place only once written and synced, so the archive never holds half a segment.
pub(super) fn archive_settings(archive: &Path) -> String {
    let dir = shell_word(&archive.to_string_lossy()).replace('%', "%%");
    let command = format!(
        "test ! -f {dir}/%f && cp %p {dir}/%f.partial && sync {dir}/%f.partial && mv {dir}/%f.partial {dir}/%f"
    );
    format!(
        "wal_level = replica\n\
         archive_mode = on\n\
         archive_command = {}\n",
        conf_string(&command)
    )
}

/// Replay the segments of `archive` up to `until`, then open the database for writing; the
/// server logs where it stopped (at level LOG).
pub(super) fn recovery_settings(archive: &Path, until: DateTime<Utc>) -> String {
    let dir = shell_word(&archive.to_string_lossy()).replace('%', "%%");
    format!(
        "restore_command = {}\n\
         recovery_target_time = '{}'\n\
         recovery_target_action = 'promote'\n\
         log_min_messages = log\n",
        conf_string(&format!("cp {dir}/%f %p")),
        until.format("%Y-%m-%d %H:%M:%S%.6f+00")
    )
}

/// `--until`: a time with its offset (as `SELECT now()` prints it, or RFC 3339), or without one,
/// then read as China time (UTC+8), the time the offices work in.
pub fn parse_until(text: &str) -> Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Ok(t.to_utc());
        }
    }
    let china = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format)
            && let Some(t) = t.and_local_timezone(china).single()
        {
            return Ok(t.to_utc());
        }
    }
    bail!(
        "看不懂恢复时刻 {text:?}：请写成 2026-12-03 15:30:00（北京时间）或带时区的 2026-12-03 15:30:00.123456+08"
    )
}

/// A string value in postgresql.conf.
fn conf_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// One word for `/bin/sh`, whatever it holds.
fn shell_word(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_follow_fsync_option() {
        let safe = settings_text(Path::new("/d"), ClusterOptions::default());
        assert!(safe.contains("fsync = on") && safe.contains("synchronous_commit = on"));
        assert!(
            safe.contains("listen_addresses = ''")
                && safe.contains("unix_socket_directories = '/d'")
        );
        let fast = settings_text(Path::new("/it's"), ClusterOptions { fsync: false });
        assert!(fast.contains("fsync = off") && fast.contains("full_page_writes = off"));
        assert!(fast.contains("synchronous_commit = on") && fast.contains("'/it''s'"));
        assert!(!safe.contains("archive"), "no archiving unless asked for");
    }

    #[test]
    fn archive_command_copies_to_a_temporary_name_and_never_overwrites() {
        let text = archive_settings(Path::new("/mnt/wal"));
        assert!(text.contains("archive_mode = on") && text.contains("wal_level = replica"));
        assert!(text.contains(
            "archive_command = 'test ! -f ''/mnt/wal''/%f && cp %p ''/mnt/wal''/%f.partial && sync ''/mnt/wal''/%f.partial && mv ''/mnt/wal''/%f.partial ''/mnt/wal''/%f'"
        ), "{text}");
    }

    #[test]
    fn odd_directory_names_stay_one_shell_word_and_no_placeholder() {
        let text = archive_settings(Path::new("/mnt/it's 100%"));
        // conf: '' is one quote; shell: '\'' closes, adds a quote, reopens; %% is a literal %.
        assert!(
            text.contains(r"test ! -f ''/mnt/it''\''''s 100%%''/%f"),
            "{text}"
        );
    }

    #[test]
    fn recovery_replays_up_to_the_moment_then_promotes() {
        let until = parse_until("2026-12-03 15:30:01.123456+08").unwrap();
        let text = recovery_settings(Path::new("/mnt/wal"), until);
        assert_eq!(
            text,
            "restore_command = 'cp ''/mnt/wal''/%f %p'\n\
             recovery_target_time = '2026-12-03 07:30:01.123456+00'\n\
             recovery_target_action = 'promote'\n\
             log_min_messages = log\n"
        );
    }

    #[test]
    fn until_reads_the_usual_spellings_and_china_time_without_an_offset() {
        let expected = parse_until("2026-12-03T07:30:00Z").unwrap();
        for text in [
            "2026-12-03 15:30:00+08",
            "2026-12-03 15:30:00+08:00",
            "2026-12-03T15:30:00+08:00",
            "2026-12-03 15:30:00",
            "2026-12-03 15:30",
            " 2026-12-03 07:30:00.000+00 ",
        ] {
            assert_eq!(parse_until(text).unwrap(), expected, "{text}");
        }
        for bad in ["", "yesterday", "2026-13-03 15:30", "15:30"] {
            let err = parse_until(bad).unwrap_err().to_string();
            assert!(err.contains("看不懂恢复时刻"), "{bad}: {err}");
        }
    }
}
