//! What a backup says about itself, and the checks `restore` makes of it: pure, tested here.

use crate::crypto::store::Sample;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the archive's layout; `restore` refuses any other.
pub const FORMAT: u32 = 1;

/// `manifest.json` in the archive.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at: DateTime<Utc>,
    pub xiafang_version: String,
    /// The last migration applied to the database.
    pub schema_version: i64,
    /// The encryption key ids the data is sealed under (the key file must hold them all).
    pub key_ids: Vec<i16>,
    /// Every table of the schema and its row count, in the dump's snapshot.
    pub tables: BTreeMap<String, i64>,
    /// A ciphertext per encrypted column and key id, tried against the key file before a restore
    /// writes anything.
    pub samples: Vec<Sample>,
}

/// `xiafang-YYYYMMDD-HHMMSS.tar`, in China time (the office's clock).
pub fn archive_name(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&chrono_tz::Asia::Shanghai);
    format!("xiafang-{}.tar", local.format("%Y%m%d-%H%M%S"))
}

/// A restore needs a backup this binary can read and a schema it knows: the same, or older
/// (then `migrate` brings it up to date).
pub fn check_restorable(manifest: &Manifest, known: &[i64]) -> Result<(), String> {
    if manifest.format != FORMAT {
        return Err(format!(
            "备份格式 {} 不是本程序能读的格式 {FORMAT}。The backup's format {} is not {FORMAT}.",
            manifest.format, manifest.format
        ));
    }
    let latest = known.iter().copied().max().unwrap_or(0);
    if manifest.schema_version > latest || !known.contains(&manifest.schema_version) {
        return Err(format!(
            "备份的数据库结构（迁移 {}，xiafang {}）比本程序认识的（迁移 {latest}）新：请用不低于 {} 的 xiafang 恢复。\n\
             The backup's schema (migration {}) is newer than this binary knows ({latest}).",
            manifest.schema_version,
            manifest.xiafang_version,
            manifest.xiafang_version,
            manifest.schema_version
        ));
    }
    Ok(())
}

/// Where the restored counts differ from the backup's, one line a table (empty: all equal).
pub fn count_differences(
    expected: &BTreeMap<String, i64>,
    restored: &BTreeMap<String, i64>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (table, want) in expected {
        match restored.get(table) {
            Some(got) if got == want => {}
            Some(got) => lines.push(format!("{table}: 备份 {want} 行，恢复后 {got} 行")),
            None => lines.push(format!("{table}: 备份 {want} 行，恢复后没有这张表")),
        }
    }
    for table in restored.keys().filter(|t| !expected.contains_key(*t)) {
        lines.push(format!("{table}: 恢复后多出这张表"));
    }
    lines
}

/// A libpq URL without its password, and the password (percent-decoded): the password goes to
/// the tools in PGPASSWORD, not on a command line that `ps` shows.
pub fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some((userinfo, host)) = rest[..end].rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return (url.to_owned(), None);
    };
    (
        format!("{scheme}://{user}@{host}{}", &rest[end..]),
        Some(percent_decode(password)),
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(format: u32, schema_version: i64) -> Manifest {
        Manifest {
            format,
            created_at: Utc::now(),
            xiafang_version: "9.9.9".into(),
            schema_version,
            key_ids: vec![1],
            tables: BTreeMap::new(),
            samples: Vec::new(),
        }
    }

    #[test]
    fn a_newer_or_unknown_schema_is_refused_an_older_one_restores() {
        let known = [1, 2, 3, 5];
        assert!(check_restorable(&manifest(FORMAT, 5), &known).is_ok());
        assert!(check_restorable(&manifest(FORMAT, 2), &known).is_ok());
        let newer = check_restorable(&manifest(FORMAT, 6), &known).unwrap_err();
        assert!(
            newer.contains("迁移 6") && newer.contains("9.9.9"),
            "{newer}"
        );
        assert!(check_restorable(&manifest(FORMAT, 4), &known).is_err());
        assert!(check_restorable(&manifest(FORMAT + 1, 5), &known).is_err());
    }

    #[test]
    fn counts_differ_by_table_missing_or_extra() {
        let expected = BTreeMap::from([("cases".to_string(), 3), ("visits".to_string(), 2)]);
        assert!(count_differences(&expected, &expected).is_empty());
        let restored = BTreeMap::from([("cases".to_string(), 2), ("extra".to_string(), 0)]);
        assert_eq!(
            count_differences(&expected, &restored),
            [
                "cases: 备份 3 行，恢复后 2 行",
                "visits: 备份 2 行，恢复后没有这张表",
                "extra: 恢复后多出这张表"
            ]
        );
    }

    #[test]
    fn the_archive_is_named_by_china_time() {
        let at = "2026-12-03T16:30:05Z".parse().unwrap();
        assert_eq!(archive_name(at), "xiafang-20261204-003005.tar");
    }

    #[test]
    fn the_password_leaves_the_url() {
        assert_eq!(
            split_password("postgres://xiafang:o%2Fp@localhost/xiafang?host=/d/pg"),
            (
                "postgres://xiafang@localhost/xiafang?host=/d/pg".to_string(),
                Some("o/p".to_string())
            )
        );
        assert_eq!(
            split_password("postgresql://u:p%40ss@db:5432/x"),
            (
                "postgresql://u@db:5432/x".to_string(),
                Some("p@ss".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://u@db/x"),
            ("postgres://u@db/x".to_string(), None)
        );
        assert_eq!(
            split_password("postgres://db/x?user=a@b"),
            ("postgres://db/x?user=a@b".to_string(), None)
        );
    }
}
