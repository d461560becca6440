//! Attachments (附件, DESIGN §3): files on a case or on one of its documents, sealed in the
//! database. `rules` says what a file may be; here they are added, listed and opened, each
//! upload and download audited with the case as its object.
//!
//! The file name is sealed too: people name scans after the person in them (张三身份证.jpg),
//! and the download should keep the name it was given.

pub mod rules;

use crate::audit::{self, Actor, Entry};
use crate::clock::china_minute;
use crate::crypto::{Column, Keys};
use chrono::{DateTime, Utc};
use rules::FileType;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

impl Column {
    pub const ATTACHMENT_NAME: Column = Column::new("attachments", "name");
    pub const ATTACHMENT_CONTENT: Column = Column::new("attachments", "content");
}

/// A checked file to add: its safe name, its type by content, its bytes.
pub struct Upload<'a> {
    pub case_id: i64,
    pub document_id: Option<i64>,
    pub name: &'a str,
    pub file_type: FileType,
    pub bytes: &'a [u8],
}

/// Add the file, sealed, with its audit row. The document, when given, must be the case's.
pub async fn add(
    conn: &mut PgConnection,
    keys: &Keys,
    upload: &Upload<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let id = sqlx::query_scalar!(
        r#"SELECT nextval(pg_get_serial_sequence('attachments', 'id')) AS "id!""#
    )
    .fetch_one(&mut *conn)
    .await?;
    let name = keys.encrypt(Column::ATTACHMENT_NAME, id, upload.name)?;
    let content = keys.encrypt_bytes(Column::ATTACHMENT_CONTENT, id, upload.bytes)?;
    let by = actor
        .id
        .expect("attachments are uploaded by a signed-in user");
    sqlx::query!(
        "INSERT INTO attachments (id, case_id, document_id, kind, size, name_cipher, name_key_id,
                                  content_cipher, content_key_id, uploaded_by, uploaded_at)
         OVERRIDING SYSTEM VALUE
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
         WHERE $3::bigint IS NULL OR EXISTS (SELECT 1 FROM documents WHERE id = $3 AND case_id = $2)",
        id,
        upload.case_id,
        upload.document_id,
        upload.file_type.as_str(),
        upload.bytes.len() as i32,
        name.bytes,
        name.key_id,
        content.bytes,
        content.key_id,
        by,
        now
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        &mut *conn,
        actor,
        Entry::ok("attachment.upload")
            .on("case", upload.case_id)
            .detail(json!({
                "attachment_id": id,
                "document_id": upload.document_id,
                "type": upload.file_type.as_str(),
                "size": upload.bytes.len(),
            })),
    )
    .await?;
    Ok(id)
}

/// One line of a list of attachments.
pub struct Line {
    pub id: i64,
    pub document_id: Option<i64>,
    pub document_number: Option<String>,
    pub name: String,
    pub file_type: FileType,
    pub size: String,
    pub uploaded_by: String,
    pub uploaded_at: String,
}

/// The case's attachments (only those of `document`, when given), oldest first, names opened.
pub async fn list(
    db: &PgPool,
    keys: &Keys,
    case_id: i64,
    document: Option<i64>,
) -> anyhow::Result<Vec<Line>> {
    sqlx::query!(
        r#"SELECT a.id, a.document_id, d.number AS "document_number?", a.kind, a.size, a.name_cipher, a.name_key_id,
                  u.display_name AS uploaded_by, a.uploaded_at
           FROM attachments a JOIN users u ON u.id = a.uploaded_by LEFT JOIN documents d ON d.id = a.document_id
           WHERE a.case_id = $1 AND ($2::bigint IS NULL OR a.document_id = $2)
           ORDER BY a.id"#,
        case_id,
        document
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|a| {
        Ok(Line {
            id: a.id,
            document_id: a.document_id,
            document_number: a.document_number,
            name: keys.decrypt(Column::ATTACHMENT_NAME, a.id, a.name_key_id, &a.name_cipher)?,
            file_type: FileType::parse(&a.kind).unwrap_or(FileType::Pdf),
            size: rules::human_size(a.size.into()),
            uploaded_by: a.uploaded_by,
            uploaded_at: china_minute(a.uploaded_at),
        })
    })
    .collect()
}

/// A file opened.
pub struct File {
    pub id: i64,
    pub name: String,
    pub file_type: FileType,
    pub bytes: Vec<u8>,
}

/// Attachment `id` of case `case_id`, opened; None if there is no such pair.
pub async fn open(
    db: impl sqlx::PgExecutor<'_>,
    keys: &Keys,
    case_id: i64,
    id: i64,
) -> anyhow::Result<Option<File>> {
    let Some(a) = sqlx::query!(
        "SELECT kind, name_cipher, name_key_id, content_cipher, content_key_id
         FROM attachments WHERE id = $1 AND case_id = $2",
        id,
        case_id
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(File {
        id,
        name: keys.decrypt(Column::ATTACHMENT_NAME, id, a.name_key_id, &a.name_cipher)?,
        file_type: FileType::parse(&a.kind).unwrap_or(FileType::Pdf),
        bytes: keys.decrypt_bytes(
            Column::ATTACHMENT_CONTENT,
            id,
            a.content_key_id,
            &a.content_cipher,
        )?,
    }))
}

/// Every attachment of the case, opened (the archive file).
pub async fn open_all(db: &PgPool, keys: &Keys, case_id: i64) -> anyhow::Result<Vec<File>> {
    let ids = sqlx::query_scalar!(
        "SELECT id FROM attachments WHERE case_id = $1 ORDER BY id",
        case_id
    )
    .fetch_all(db)
    .await?;
    let mut files = Vec::with_capacity(ids.len());
    for id in ids {
        files.extend(open(db, keys, case_id, id).await?);
    }
    Ok(files)
}

/// A download: the file opened, its audit row written; None if the case has no such attachment.
pub async fn download(
    db: &PgPool,
    keys: &Keys,
    case_id: i64,
    id: i64,
    actor: &Actor,
) -> anyhow::Result<Option<File>> {
    let mut tx = db.begin().await?;
    let Some(file) = open(&mut *tx, keys, case_id, id).await? else {
        return Ok(None);
    };
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("attachment.download")
            .on("case", case_id)
            .detail(json!({ "attachment_id": id })),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(file))
}
