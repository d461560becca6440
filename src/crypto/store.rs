//! Where ciphertext is stored, and the two things done to all of it: the start-up check (the key
//! file must decrypt what the database holds) and `xiafang keys rotate`.

use super::free_text::{self, append_only_trigger};
use super::software::{KeysFile, Software};
use super::{Column, Field, Keys};
use anyhow::{Context, bail};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use std::fmt;
use std::path::Path;

/// How a table's rows are named in the associated data.
#[derive(Clone, Copy)]
enum RowKey {
    /// A bigint id, written in decimal.
    Id(&'static str),
    /// A bytea key, written in hex.
    Hash(&'static str),
}

/// One encrypted column: its ciphertext and key-id columns, and its blind index if it has one.
pub struct Stored {
    pub column: Column,
    cipher: &'static str,
    key_id: &'static str,
    row_key: RowKey,
    index: Option<(Field, &'static str)>,
}

/// Every encrypted column. Key id 0 marks the benchmark's placeholders (`seed-scale`), which are
/// not ciphertext: neither checked nor rotated.
pub const ENCRYPTED: &[Stored] = &[
    Stored {
        column: Column::REGISTRATION_ID_NUMBER,
        cipher: "id_number_cipher",
        key_id: "id_number_key_id",
        row_key: RowKey::Id("id"),
        index: Some((Field::IdNumber, "id_number_index")),
    },
    Stored {
        column: Column::REGISTRATION_PHONE,
        cipher: "phone_cipher",
        key_id: "phone_key_id",
        row_key: RowKey::Id("id"),
        index: Some((Field::Phone, "phone_index")),
    },
    Stored {
        column: Column::PHONE_CODE_PHONE,
        cipher: "phone_cipher",
        key_id: "phone_key_id",
        row_key: RowKey::Id("id"),
        index: Some((Field::Phone, "phone_index")),
    },
    Stored {
        column: Column::SURVEY_REPORTER_PHONE,
        cipher: "reporter_phone_cipher",
        key_id: "reporter_phone_key_id",
        row_key: RowKey::Id("id"),
        index: Some((Field::Phone, "reporter_phone_index")),
    },
    Stored {
        column: Column::REGISTRATION_NAME,
        cipher: "name_cipher",
        key_id: "name_key_id",
        row_key: RowKey::Id("id"),
        index: Some((Field::Name, "name_index")),
    },
    Stored {
        column: Column::REGISTRATION_ADDRESS,
        cipher: "address_cipher",
        key_id: "address_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::REGISTRATION_REPRESENTATIVES,
        cipher: "representatives_cipher",
        key_id: "representatives_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::REGISTRATION_GRIEVANCE,
        cipher: "grievance_cipher",
        key_id: "grievance_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::USER_TOTP_SECRET,
        cipher: "totp_secret",
        key_id: "totp_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::CHALLENGE_ENROL_SECRET,
        cipher: "enrol_secret",
        key_id: "enrol_key_id",
        row_key: RowKey::Hash("id_hash"),
        index: None,
    },
    Stored {
        column: Column::RECEPTION_STATEMENT,
        cipher: "statement_cipher",
        key_id: "statement_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::RECEPTION_CONSULTATION,
        cipher: "consultation_cipher",
        key_id: "consultation_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::RECEPTION_VERSION_STATEMENT,
        cipher: "statement_cipher",
        key_id: "statement_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::RECEPTION_VERSION_CONSULTATION,
        cipher: "consultation_cipher",
        key_id: "consultation_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::ISSUE_NOT_ACCEPTED_REASON,
        cipher: "not_accepted_reason_cipher",
        key_id: "not_accepted_reason_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::DOCUMENT_ADDRESSEE,
        cipher: "addressee_cipher",
        key_id: "addressee_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::DOCUMENT_BODY,
        cipher: "body_cipher",
        key_id: "body_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::ATTACHMENT_NAME,
        cipher: "name_cipher",
        key_id: "name_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::ATTACHMENT_CONTENT,
        cipher: "content_cipher",
        key_id: "content_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::CASE_REPLY,
        cipher: "reply_cipher",
        key_id: "reply_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::CASE_EVENT_TEXT,
        cipher: "text_cipher",
        key_id: "text_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::FEEDBACK_COMMENT,
        cipher: "comment_cipher",
        key_id: "comment_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::SURVEY_REPORTER,
        cipher: "reporter_cipher",
        key_id: "reporter_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::SURVEY_BACKGROUND,
        cipher: "background_cipher",
        key_id: "background_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::SURVEY_POLICY_BASIS,
        cipher: "policy_basis_cipher",
        key_id: "policy_basis_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
    Stored {
        column: Column::SURVEY_PROPOSED_HANDLING,
        cipher: "proposed_handling_cipher",
        key_id: "proposed_handling_key_id",
        row_key: RowKey::Id("id"),
        index: None,
    },
];

enum RowRef {
    Id(i64),
    Hash(Vec<u8>),
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowRef::Id(id) => write!(f, "{id}"),
            RowRef::Hash(h) => f.write_str(&hex::encode(h)),
        }
    }
}

/// Rows of an attachment's content re-encrypted per transaction: up to 10 MB each, held twice
/// (old and new ciphertext) in memory.
const LARGE_BATCH: i64 = 4;

impl Stored {
    /// The batch for this column: `batch` rows, fewer for the large ones.
    fn batch(&self, batch: i64) -> i64 {
        if self.column == Column::ATTACHMENT_CONTENT {
            batch.min(LARGE_BATCH)
        } else {
            batch
        }
    }

    fn key_sql(&self) -> &'static str {
        match self.row_key {
            RowKey::Id(c) | RowKey::Hash(c) => c,
        }
    }

    fn row_ref(&self, row: &PgRow) -> sqlx::Result<RowRef> {
        Ok(match self.row_key {
            RowKey::Id(c) => RowRef::Id(row.try_get(c)?),
            RowKey::Hash(c) => RowRef::Hash(row.try_get(c)?),
        })
    }

    /// Rows whose ciphertext `keep` selects (key id 0 and NULL never), oldest row first.
    fn select(&self, keep: &str, limit: &str) -> String {
        format!(
            "SELECT {key}, {cipher} AS cipher, {key_id} AS key_id FROM {table}
             WHERE {key_id} > 0 AND {keep} ORDER BY {key} {limit}",
            key = self.key_sql(),
            cipher = self.cipher,
            key_id = self.key_id,
            table = self.column.table,
        )
    }
}

/// Load the keys `serve` runs with, refusing — before anything is written — when the database
/// holds ciphertext that they cannot decrypt, or a rotation that changed the index key is
/// unfinished. A missing key file is generated only for a database with no ciphertext.
pub async fn keys_for_serving(db: &PgPool, path: &Path) -> anyhow::Result<Keys> {
    let Some(file) = KeysFile::read(path)? else {
        if let Some(found) = any_ciphertext(db).await? {
            bail!(
                "密钥文件 {path} 不存在，但数据库中已有密文（{found}）。请从备份恢复这个密钥文件（或用 --keys-file / XIAFANG_KEYS_FILE 指向它）后再启动；不要让服务生成新密钥，否则这些数据再也无法解密，重复登记也查不出来。\n\
                 The keys file {path} is missing but the database holds ciphertext ({found}): restore the keys file from its backup (or point --keys-file at it) and start again.",
                path = path.display()
            );
        }
        let file = KeysFile::generate();
        file.write(path)?;
        tracing::warn!(path = %path.display(), "generated new encryption keys: back this file up apart from the database");
        return Ok(Keys::new(Software::from_file(&file)?));
    };
    let keys = Keys::new(
        Software::from_file(&file)
            .with_context(|| format!("reading keys from {}", path.display()))?,
    );
    if let Err(e) = check(db, &keys).await {
        bail!(
            "密钥文件 {path} 解不开数据库中的密文：{e:#}。请恢复与这个数据库配套的密钥文件（从备份，或用 --keys-file 指向它）后再启动。\n\
             The keys file {path} cannot decrypt what the database holds: restore the keys file that belongs to this database.",
            path = path.display()
        );
    }
    if let Some(found) = stale_indexes(db, &keys).await? {
        bail!(
            "密钥轮换尚未完成：{found} 的盲索引仍由旧索引密钥算出，查重会漏。请先运行 `xiafang keys rotate` 完成轮换。\n\
             A key rotation is unfinished ({found} still carry the old index key's blind indexes): run `xiafang keys rotate` to finish it."
        );
    }
    Ok(keys)
}

/// The first encrypted column holding real ciphertext, as `table.column`.
async fn any_ciphertext(db: &PgPool) -> anyhow::Result<Option<Column>> {
    for s in ENCRYPTED {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE {} > 0)",
            s.column.table, s.key_id
        );
        if sqlx::query_scalar::<_, bool>(&sql).fetch_one(db).await? {
            return Ok(Some(s.column));
        }
    }
    Ok(None)
}

/// For each column and each key id found in it, the newest such ciphertext must decrypt: a key
/// file of another database has the same key ids but not the same keys.
async fn check(db: &PgPool, keys: &Keys) -> anyhow::Result<()> {
    let mut conn = db.acquire().await?;
    check_samples(keys, &samples(&mut conn).await?)
}

/// One ciphertext as stored, enough to try a key file on it away from the database (a backup's
/// manifest carries them, so that `restore` checks its key file before it writes anything).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub table: String,
    pub column: String,
    pub row: String,
    pub key_id: i16,
    /// Hex.
    pub cipher: String,
}

/// For each encrypted column and each key id in it, its newest ciphertext.
pub async fn samples(conn: &mut sqlx::PgConnection) -> anyhow::Result<Vec<Sample>> {
    let mut found = Vec::new();
    for s in ENCRYPTED {
        let ids: Vec<i16> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT {k} FROM {t} WHERE {k} > 0 ORDER BY 1",
            k = s.key_id,
            t = s.column.table
        ))
        .fetch_all(&mut *conn)
        .await?;
        for id in ids {
            let sql = s.select(&format!("{} = $1", s.key_id), "DESC LIMIT 1");
            let row = sqlx::query(&sql).bind(id).fetch_one(&mut *conn).await?;
            let cipher: Vec<u8> = row.try_get("cipher")?;
            found.push(Sample {
                table: s.column.table.to_owned(),
                column: s.column.column.to_owned(),
                row: s.row_ref(&row)?.to_string(),
                key_id: id,
                cipher: hex::encode(cipher),
            });
        }
    }
    Ok(found)
}

/// Every sample decrypts with `keys`; a column this binary does not know is refused too.
pub fn check_samples(keys: &Keys, samples: &[Sample]) -> anyhow::Result<()> {
    for sample in samples {
        let stored = ENCRYPTED
            .iter()
            .find(|s| s.column.table == sample.table && s.column.column == sample.column)
            .with_context(|| {
                format!(
                    "unknown encrypted column {}.{}",
                    sample.table, sample.column
                )
            })?;
        let cipher = hex::decode(&sample.cipher).context("a sample's ciphertext is not hex")?;
        keys.decrypt_bytes(stored.column, &sample.row, sample.key_id, &cipher)?;
    }
    Ok(())
}

/// An indexed column with rows under a key older than the index key (not re-indexed yet).
async fn stale_indexes(db: &PgPool, keys: &Keys) -> anyhow::Result<Option<Column>> {
    for s in ENCRYPTED.iter().filter(|s| s.index.is_some()) {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {t} WHERE {k} > 0 AND {k} < $1)",
            t = s.column.table,
            k = s.key_id
        );
        let stale: bool = sqlx::query_scalar(&sql)
            .bind(keys.index_since())
            .fetch_one(db)
            .await?;
        if stale {
            return Ok(Some(s.column));
        }
    }
    Ok(None)
}

/// What `keys rotate` did.
pub struct Rotation {
    /// The key everything is now under, and whether this run made it (else it continued).
    pub key_id: i16,
    pub new_key: bool,
    pub new_index_key: bool,
    /// Rows re-encrypted, per column.
    pub rows: Vec<(Column, u64)>,
    /// Free texts still in plaintext (from before migration 0028) that this run sealed, per column.
    pub sealed: Vec<(Column, u64)>,
}

/// `xiafang keys rotate`, as the owner: unless a rotation is unfinished (rows under an older key
/// remain), add a new SM4 key as current (and an HMAC-SM3 index key if the index key is not one)
/// and save the key file; then re-encrypt every older ciphertext, and recompute its blind index,
/// in batches of `batch` rows, one transaction each. Rerunning after an interruption continues.
pub async fn rotate(owner: &PgPool, path: &Path, batch: i64) -> anyhow::Result<Rotation> {
    let Some(mut file) = KeysFile::read(path)? else {
        bail!(
            "密钥文件 {} 不存在：轮换需要现有的密钥（请先恢复它）。",
            path.display()
        );
    };
    let keys = Keys::new(Software::from_file(&file)?);
    check(owner, &keys).await.context(
        "这个密钥文件解不开数据库中的密文，不能轮换 (the keys file does not match the database)",
    )?;
    let (keys, new_key, new_index_key) = if unfinished(owner, &keys).await? {
        (keys, false, false)
    } else {
        let (_, new_index) = file.rotate()?;
        file.write(path)?;
        (Keys::new(Software::from_file(&file)?), true, new_index)
    };
    let mut rows = Vec::new();
    for s in ENCRYPTED {
        rows.push((s.column, reencrypt(owner, &keys, s, batch).await?));
    }
    let sealed = free_text::seal_plaintext(owner, &keys, batch).await?;
    Ok(Rotation {
        key_id: keys.current_key_id(),
        new_key,
        new_index_key,
        rows,
        sealed,
    })
}

async fn unfinished(db: &PgPool, keys: &Keys) -> anyhow::Result<bool> {
    for s in ENCRYPTED {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {t} WHERE {k} > 0 AND {k} <> $1)",
            t = s.column.table,
            k = s.key_id
        );
        if sqlx::query_scalar::<_, bool>(&sql)
            .bind(keys.current_key_id())
            .fetch_one(db)
            .await?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Re-encrypt `s`'s ciphertexts not under the current key, `batch` rows per transaction.
async fn reencrypt(db: &PgPool, keys: &Keys, s: &Stored, batch: i64) -> anyhow::Result<u64> {
    let current = keys.current_key_id();
    let select = s.select(
        &format!("{} <> $1", s.key_id),
        "LIMIT $2 FOR UPDATE SKIP LOCKED",
    );
    let index_sql = s
        .index
        .map(|(_, col)| format!(", {col} = $4"))
        .unwrap_or_default();
    let update = format!(
        "UPDATE {t} SET {c} = $1, {k} = $2{index_sql} WHERE {key} = $3",
        t = s.column.table,
        c = s.cipher,
        k = s.key_id,
        key = s.key_sql(),
    );
    let batch = s.batch(batch);
    let mut done = 0;
    loop {
        let mut tx = db.begin().await?;
        let rows = sqlx::query(&select)
            .bind(current)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(done);
        }
        let trigger = append_only_trigger(s.column.table);
        if let Some(trigger) = trigger {
            let sql = format!("ALTER TABLE {} DISABLE TRIGGER {trigger}", s.column.table);
            sqlx::query(&sql).execute(&mut *tx).await?;
        }
        for row in &rows {
            let row_ref = s.row_ref(row)?;
            let old: Vec<u8> = row.try_get("cipher")?;
            let old_key: i16 = row.try_get("key_id")?;
            let plain = keys.decrypt_bytes(s.column, &row_ref, old_key, &old)?;
            let sealed = keys.encrypt_bytes(s.column, &row_ref, &plain)?;
            let mut q = sqlx::query(&update).bind(sealed.bytes).bind(sealed.key_id);
            q = match &row_ref {
                RowRef::Id(id) => q.bind(*id),
                RowRef::Hash(h) => q.bind(h.clone()),
            };
            if let Some((field, _)) = s.index {
                q = q.bind(keys.blind_index(field, std::str::from_utf8(&plain)?));
            }
            q.execute(&mut *tx).await?;
        }
        if let Some(trigger) = trigger {
            let sql = format!("ALTER TABLE {} ENABLE TRIGGER {trigger}", s.column.table);
            sqlx::query(&sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        done += rows.len() as u64;
    }
}
