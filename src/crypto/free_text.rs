//! The free texts of the reception and the case (接谈情况, 会商意见, 答复意见, the case history's
//! texts, the rating comment) and of the survey's dossier: sealed when written, opened one row at a time when shown.
//!
//! Each has its plaintext column (for rows from before migration 0028, and '' / NULL once sealed)
//! and `_cipher` / `_key_id` columns. An empty text stays '' in clear: nothing to hide. `keys
//! rotate` seals what is still plaintext (`seal_plaintext`).

use super::{Column, Keys};
use anyhow::Context;
use sqlx::{PgPool, Row};

impl Column {
    pub const RECEPTION_STATEMENT: Column = Column::new("receptions", "statement");
    pub const RECEPTION_CONSULTATION: Column = Column::new("receptions", "consultation");
    /// An earlier version of a corrected reception's texts (no plaintext column: sealed from the start).
    pub const RECEPTION_VERSION_STATEMENT: Column = Column::new("reception_versions", "statement");
    pub const RECEPTION_VERSION_CONSULTATION: Column =
        Column::new("reception_versions", "consultation");
    pub const ISSUE_NOT_ACCEPTED_REASON: Column = Column::new("issues", "not_accepted_reason");
    pub const CASE_REPLY: Column = Column::new("cases", "reply");
    pub const CASE_EVENT_TEXT: Column = Column::new("case_events", "text");
    pub const FEEDBACK_COMMENT: Column = Column::new("feedback", "comment");
    pub const SURVEY_REPORTER: Column = Column::new("survey_items", "reporter");
    pub const SURVEY_BACKGROUND: Column = Column::new("survey_items", "background");
    pub const SURVEY_POLICY_BASIS: Column = Column::new("survey_items", "policy_basis");
    pub const SURVEY_PROPOSED_HANDLING: Column = Column::new("survey_items", "proposed_handling");
}

/// The columns sealed here, with whether their plaintext column is nullable (cleared to NULL).
pub const FREE_TEXTS: &[(Column, bool)] = &[
    (Column::RECEPTION_STATEMENT, false),
    (Column::RECEPTION_CONSULTATION, false),
    (Column::ISSUE_NOT_ACCEPTED_REASON, true),
    (Column::CASE_REPLY, true),
    (Column::CASE_EVENT_TEXT, false),
    (Column::FEEDBACK_COMMENT, false),
    (Column::SURVEY_REPORTER, false),
    (Column::SURVEY_BACKGROUND, false),
    (Column::SURVEY_POLICY_BASIS, false),
    (Column::SURVEY_PROPOSED_HANDLING, false),
];

/// A text as stored: the plaintext column's value, and the ciphertext with its key id.
#[derive(Debug, Default)]
pub struct SealedText {
    pub cipher: Option<Vec<u8>>,
    pub key_id: Option<i16>,
}

/// Seal `text` for `column` of row `row`; an empty text is not sealed.
pub fn seal(keys: &Keys, column: Column, row: i64, text: &str) -> sqlx::Result<SealedText> {
    if text.is_empty() {
        return Ok(SealedText::default());
    }
    let s = keys
        .encrypt(column, row, text)
        .map_err(|e| sqlx::Error::Encode(e.into()))?;
    Ok(SealedText {
        cipher: Some(s.bytes),
        key_id: Some(s.key_id),
    })
}

/// The text of `column` in row `row`: the ciphertext's when there is one, else the plaintext.
/// A ciphertext that does not decrypt is an error (never shown as empty).
pub fn open(
    keys: &Keys,
    column: Column,
    row: i64,
    plain: Option<String>,
    cipher: Option<Vec<u8>>,
    key_id: Option<i16>,
) -> sqlx::Result<Option<String>> {
    match (cipher, key_id) {
        (Some(bytes), Some(key_id)) => keys
            .decrypt(column, row, key_id, &bytes)
            .map(Some)
            .map_err(|e| sqlx::Error::Decode(e.into())),
        _ => Ok(plain),
    }
}

/// The trigger that keeps `table` append-only for the application, which the owner lifts inside
/// its own transaction to rewrite a ciphertext.
pub fn append_only_trigger(table: &str) -> Option<&'static str> {
    match table {
        "case_events" => Some("case_events_no_update"),
        "documents" => Some("documents_frozen"),
        _ => None,
    }
}

/// Seal, as the owner, the free texts still in plaintext (rows from before migration 0028),
/// `batch` rows a transaction, and clear their plaintext. Returns the rows sealed per column.
pub async fn seal_plaintext(
    owner: &PgPool,
    keys: &Keys,
    batch: i64,
) -> anyhow::Result<Vec<(Column, u64)>> {
    let mut done = Vec::new();
    for &(column, nullable) in FREE_TEXTS {
        let (t, c) = (column.table, column.column);
        let select = format!(
            "SELECT id, {c} AS plain FROM {t} WHERE {c}_cipher IS NULL AND {c} <> ''
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
        );
        let cleared = if nullable { "NULL" } else { "''" };
        let update = format!(
            "UPDATE {t} SET {c} = {cleared}, {c}_cipher = $2, {c}_key_id = $3 WHERE id = $1"
        );
        let mut n = 0;
        loop {
            let mut tx = owner.begin().await?;
            let rows = sqlx::query(&select).bind(batch).fetch_all(&mut *tx).await?;
            if rows.is_empty() {
                tx.commit().await?;
                break;
            }
            if let Some(trigger) = append_only_trigger(t) {
                sqlx::query(&format!("ALTER TABLE {t} DISABLE TRIGGER {trigger}"))
                    .execute(&mut *tx)
                    .await?;
            }
            for row in &rows {
                let id: i64 = row.try_get("id")?;
                let plain: String = row.try_get("plain")?;
                let sealed = keys
                    .encrypt(column, id, &plain)
                    .with_context(|| format!("sealing {column} of row {id}"))?;
                sqlx::query(&update)
                    .bind(id)
                    .bind(sealed.bytes)
                    .bind(sealed.key_id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(trigger) = append_only_trigger(t) {
                sqlx::query(&format!("ALTER TABLE {t} ENABLE TRIGGER {trigger}"))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            n += rows.len() as u64;
        }
        done.push((column, n));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_text_stays_clear_and_a_sealed_one_opens_only_in_its_row() {
        let keys = Keys::generate();
        let col = Column::CASE_REPLY;
        assert!(seal(&keys, col, 7, "").unwrap().cipher.is_none());
        let s = seal(&keys, col, 7, "已答复").unwrap();
        let opened = open(&keys, col, 7, None, s.cipher.clone(), s.key_id).unwrap();
        assert_eq!(opened.as_deref(), Some("已答复"));
        assert!(open(&keys, col, 8, None, s.cipher, s.key_id).is_err());
        let legacy = open(&keys, col, 7, Some("旧".into()), None, None).unwrap();
        assert_eq!(legacy.as_deref(), Some("旧"), "plaintext of before");
    }
}
