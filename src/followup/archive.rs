//! 一案一档 (DESIGN §7): a case's archive file — a ZIP with a printable `index.html` (the case,
//! its parties masked as on the case page, the reception record, the timeline, the contents), each
//! issued document as a printable page, and every attachment — for transfer to the 档案 system.
//! `build` knows nothing of HTTP, so the retention job can write the same file to disk.

use crate::audit::{self, Actor, Entry};
use crate::clock::{china_date, cn_date};
use crate::crypto::Keys;
use crate::followup::attachments::{self, rules::clean_name};
use crate::followup::case_file::{self, Citizen, Dossier, EventLine};
use crate::followup::documents::read::{self, Document};
use crate::followup::state::State as CaseState;
use askama::Template;
use chrono::{DateTime, Datelike, Utc};
use serde_json::json;
use sqlx::PgPool;
use std::io::{Cursor, Write};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// The stylesheet the pages link to, as the app serves it: they print as the app prints.
const STYLE: &str = include_str!("../../static/app.css");

/// One line of the index's contents: the file in the archive and what it is.
struct Content {
    path: String,
    what: String,
}

#[derive(Template)]
#[template(path = "followup/archive_index.html")]
struct Index {
    code: String,
    query_code: String,
    title: String,
    status: &'static str,
    category: String,
    lead_department: String,
    co_departments: String,
    owner_leader: String,
    reply: String,
    citizen: Option<Citizen>,
    dossier: Option<Dossier>,
    events: Vec<EventLine>,
    documents: Vec<Content>,
    attachments: Vec<Content>,
    made_on: String,
}

#[derive(Template)]
#[template(path = "followup/archive_document.html")]
struct DocumentFile<'a> {
    d: &'a Document,
}

/// The file name of the archive of case `code`.
pub fn file_name(code: &str) -> String {
    format!("{}-一案一档.zip", clean_name(code, "交办件"))
}

/// The archive file of case `id`, as of `now`.
pub async fn build(
    db: &PgPool,
    keys: &Keys,
    id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<(String, Vec<u8>)> {
    let c = sqlx::query!(
        "SELECT code, query_code, status FROM cases WHERE id = $1",
        id
    )
    .fetch_one(db)
    .await?;
    let details = case_file::details(db, keys, id).await?;
    let mut documents = Vec::new();
    for line in read::list(db, id).await? {
        if line.number.is_some() {
            documents.extend(read::load(db, keys, id, line.id).await?);
        }
    }
    let files = attachments::open_all(db, keys, id).await?;
    let index = Index {
        title: details.title,
        status: CaseState::parse(&c.status).map_or("", CaseState::label),
        category: details.category,
        lead_department: details.lead_department,
        co_departments: details.co,
        owner_leader: details.owner,
        reply: details.reply.unwrap_or_default(),
        citizen: case_file::citizen(db, keys, id).await?.map(|(c, _)| c),
        dossier: case_file::dossier(db, keys, id).await?,
        events: case_file::events(db, keys, id).await?,
        documents: documents
            .iter()
            .enumerate()
            .map(|(i, d)| Content {
                path: document_path(i, d),
                what: format!("{} {}", d.kind.title(), d.number.as_deref().unwrap_or("")),
            })
            .collect(),
        attachments: files
            .iter()
            .enumerate()
            .map(|(i, f)| Content {
                path: attachment_path(i, &f.name),
                what: f.file_type.label().to_owned(),
            })
            .collect(),
        made_on: cn_date(china_date(now)),
        code: c.code.clone(),
        query_code: c.query_code,
    };
    let today = china_date(now);
    let modified = zip::DateTime::from_date_and_time(
        today.year().clamp(1980, 2107) as u16,
        today.month() as u8,
        today.day() as u8,
        0,
        0,
        0,
    )?;
    let text = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(modified);
    // PDFs and photos are compressed already: stored as they are.
    let stored = text.compression_method(CompressionMethod::Stored);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("index.html", text)?;
    zip.write_all(index.render()?.as_bytes())?;
    zip.start_file("style.css", text)?;
    zip.write_all(STYLE.as_bytes())?;
    for (entry, d) in index.documents.iter().zip(&documents) {
        zip.start_file(entry.path.as_str(), text)?;
        zip.write_all(DocumentFile { d }.render()?.as_bytes())?;
    }
    for (entry, f) in index.attachments.iter().zip(&files) {
        zip.start_file(entry.path.as_str(), stored)?;
        zip.write_all(&f.bytes)?;
    }
    Ok((file_name(&c.code), zip.finish()?.into_inner()))
}

fn document_path(i: usize, d: &Document) -> String {
    let number = d.number.as_deref().unwrap_or("");
    let stem = clean_name(&format!("{}{number}", d.kind.title()), "文书");
    format!("文书/{:02}-{stem}.html", i + 1)
}

fn attachment_path(i: usize, name: &str) -> String {
    format!("附件/{:02}-{}", i + 1, clean_name(name, "附件"))
}

/// The archive downloaded by `actor`, audited.
pub async fn export(
    db: &PgPool,
    keys: &Keys,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<(String, Vec<u8>)> {
    let (name, bytes) = build(db, keys, id, now).await?;
    audit::record(
        db,
        actor,
        Entry::ok("case.archive")
            .on("case", id)
            .detail(json!({ "bytes": bytes.len() })),
    )
    .await?;
    Ok((name, bytes))
}
