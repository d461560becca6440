//! Documents read back: one opened for its page, a case's list, the ways of 送达.

use super::rules::Kind;
use crate::crypto::{Column, Keys};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

/// A document as its page shows it.
pub struct Document {
    pub id: i64,
    pub case_id: i64,
    pub kind: Kind,
    pub issuer_name: String,
    pub addressee: String,
    pub body: String,
    pub issued: bool,
    pub number: Option<String>,
    pub issued_on: Option<NaiveDate>,
    pub issued_at: Option<DateTime<Utc>>,
    pub text_hash: Option<Vec<u8>>,
    pub supersedes: Option<(i64, String)>,
    pub superseded_by: Option<(i64, Option<String>)>,
    pub query_code: String,
    pub deliveries: Vec<Delivery>,
}

pub struct Delivery {
    pub method: String,
    pub delivered_on: NaiveDate,
    pub reference: String,
    pub recorded_at: DateTime<Utc>,
}

impl Document {
    /// The body's paragraphs as printed (blank lines dropped).
    pub fn paragraphs(&self) -> Vec<&str> {
        self.body
            .split('\n')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// The date under the issuer's name.
    pub fn printed_date(&self) -> String {
        self.issued_on
            .map(super::rules::cn_long_date)
            .unwrap_or_else(|| "（未印发）".into())
    }
}

impl Delivery {
    pub fn method_label(&self) -> &'static str {
        method_label(&self.method)
    }
}

/// The ways of 送达, as the forms offer them.
pub const METHODS: [(&str, &str); 4] = [
    ("sms", "短信（电子送达）"),
    ("hand", "直接送达"),
    ("mail", "挂号信邮寄"),
    ("electronic", "其他电子方式"),
];

pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|(m, _)| *m == method)
        .map_or("", |(_, l)| l)
}

/// Document `id` of case `case_id`, opened; None if there is no such pair.
pub async fn load(
    db: &PgPool,
    keys: &Keys,
    case_id: i64,
    id: i64,
) -> anyhow::Result<Option<Document>> {
    let Some(d) = sqlx::query!(
        r#"SELECT d.id, d.case_id, d.kind, d.issuer_name, d.addressee_cipher, d.addressee_key_id, d.body_cipher, d.body_key_id,
                  d.status, d.number, d.issued_on, d.issued_at, d.text_hash, d.supersedes_id, c.query_code,
                  s.number AS "supersedes_number?",
                  n.id AS "superseded_by?", n.number AS "superseded_by_number?"
           FROM documents d JOIN cases c ON c.id = d.case_id
           LEFT JOIN documents s ON s.id = d.supersedes_id
           LEFT JOIN documents n ON n.supersedes_id = d.id
           WHERE d.id = $1 AND d.case_id = $2"#,
        id,
        case_id
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let deliveries = sqlx::query_as!(
        Delivery,
        "SELECT method, delivered_on, reference, recorded_at FROM document_deliveries WHERE document_id = $1 ORDER BY id",
        id
    )
    .fetch_all(db)
    .await?;
    Ok(Some(Document {
        id: d.id,
        case_id: d.case_id,
        kind: Kind::parse(&d.kind).unwrap_or(Kind::Acceptance),
        issuer_name: d.issuer_name,
        addressee: keys.decrypt(
            Column::DOCUMENT_ADDRESSEE,
            d.id,
            d.addressee_key_id,
            &d.addressee_cipher,
        )?,
        body: keys.decrypt(Column::DOCUMENT_BODY, d.id, d.body_key_id, &d.body_cipher)?,
        issued: d.status == "issued",
        number: d.number,
        issued_on: d.issued_on,
        issued_at: d.issued_at,
        text_hash: d.text_hash,
        supersedes: d.supersedes_id.zip(d.supersedes_number),
        superseded_by: d.superseded_by.map(|n| (n, d.superseded_by_number)),
        query_code: d.query_code,
        deliveries,
    }))
}

/// One line of a case's list of documents.
pub struct Line {
    pub id: i64,
    pub kind: Kind,
    pub number: Option<String>,
    pub issued_on: Option<NaiveDate>,
    pub issuer_name: String,
    pub deliveries: i64,
    pub superseded: bool,
}

impl Line {
    /// "2026年12月3日", as the citizen's timeline writes dates.
    pub fn issued_date(&self) -> String {
        self.issued_on
            .map(crate::clock::cn_date)
            .unwrap_or_default()
    }
}

pub async fn list(db: &PgPool, case_id: i64) -> sqlx::Result<Vec<Line>> {
    let rows = sqlx::query!(
        r#"SELECT d.id, d.kind, d.number, d.issued_on, d.issuer_name,
                  (SELECT count(*) FROM document_deliveries x WHERE x.document_id = d.id) AS "deliveries!",
                  EXISTS (SELECT 1 FROM documents n WHERE n.supersedes_id = d.id AND n.status = 'issued') AS "superseded!"
           FROM documents d WHERE d.case_id = $1 ORDER BY d.id"#,
        case_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Line {
            id: r.id,
            kind: Kind::parse(&r.kind).unwrap_or(Kind::Acceptance),
            number: r.number,
            issued_on: r.issued_on,
            issuer_name: r.issuer_name,
            deliveries: r.deliveries,
            superseded: r.superseded,
        })
        .collect())
}

/// The issued documents addressed to the citizen of cases `case_ids` (those their proof opens), per case.
pub async fn for_citizen(db: &PgPool, case_ids: &[i64]) -> sqlx::Result<Vec<(i64, Line)>> {
    let rows = sqlx::query!(
        r#"SELECT d.id, d.case_id, d.kind, d.number, d.issued_on, d.issuer_name,
                  (SELECT count(*) FROM document_deliveries x WHERE x.document_id = d.id) AS "deliveries!",
                  EXISTS (SELECT 1 FROM documents n WHERE n.supersedes_id = d.id AND n.status = 'issued') AS "superseded!"
           FROM documents d JOIN cases c ON c.id = d.case_id
           WHERE c.id = ANY($1) AND d.status = 'issued'
             AND d.kind NOT IN ('assignment', 'urging')
           ORDER BY d.issued_at, d.id"#,
        case_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.case_id,
                Line {
                    id: r.id,
                    kind: Kind::parse(&r.kind).unwrap_or(Kind::Acceptance),
                    number: r.number,
                    issued_on: r.issued_on,
                    issuer_name: r.issuer_name,
                    deliveries: r.deliveries,
                    superseded: r.superseded,
                },
            )
        })
        .collect())
}

/// Document `id` as the citizen of cases `case_ids` (those their proof opens) may read it: issued,
/// addressed to them, on one of their cases; None otherwise.
pub async fn citizen_document(
    db: &PgPool,
    keys: &Keys,
    case_ids: &[i64],
    id: i64,
) -> anyhow::Result<Option<Document>> {
    let case = sqlx::query_scalar!(
        "SELECT d.case_id FROM documents d
         WHERE d.id = $1 AND d.status = 'issued' AND d.kind NOT IN ('assignment', 'urging')
           AND d.case_id = ANY($2)",
        id,
        case_ids
    )
    .fetch_optional(db)
    .await?;
    match case {
        Some(case_id) => load(db, keys, case_id, id).await,
        None => Ok(None),
    }
}
