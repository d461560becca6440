//! Documents applied: drafting from the case, editing a draft, issuing (number, hash, freeze),
//! correcting (a new draft that supersedes), recording deliveries (送达), and reading them back.
//! Each write runs in the caller's transaction with its audit row; the case is the audit object,
//! so an entry belongs to the case's jurisdiction.

use super::rules::{self, Issuer, Kind};
use crate::audit::{self, Actor, Entry};
use crate::clock::china_date;
use crate::crypto::{Column, Keys};
use crate::error::AppError;
use crate::followup::case_file;
use crate::followup::transitions::{self, Issued};
use crate::notify;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::json;
use sqlx::PgConnection;

impl Column {
    pub const DOCUMENT_ADDRESSEE: Column = Column::new("documents", "addressee");
    pub const DOCUMENT_BODY: Column = Column::new("documents", "body");
}

/// The body a document is issued in the name of.
struct Body {
    department_id: Option<i64>,
    jurisdiction_id: Option<i64>,
    name: String,
}

/// A jurisdiction as an issuing body: its government (the reviewing bodies) or its petition office.
async fn jurisdiction_body(
    conn: &mut PgConnection,
    id: i64,
    as_government: bool,
) -> sqlx::Result<Body> {
    let j = sqlx::query!(
        "SELECT name, government FROM jurisdictions WHERE id = $1",
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Body {
        department_id: None,
        jurisdiction_id: Some(id),
        name: if as_government {
            j.government
        } else {
            format!("{}信访局", j.name)
        },
    })
}

/// The body the latest request of `kind` (复查/复核意见书) was addressed to, if it names one.
async fn review_body(
    conn: &mut PgConnection,
    case_id: i64,
    kind: Kind,
) -> sqlx::Result<Option<Body>> {
    let r = sqlx::query!(
        r#"SELECT department_id, jurisdiction_id AS "jurisdiction_id!", body_name AS "body_name!" FROM reviews
           WHERE case_id = $1 AND kind || '_opinion' = $2 AND jurisdiction_id IS NOT NULL ORDER BY id DESC LIMIT 1"#,
        case_id,
        kind.as_str()
    )
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| Body {
        jurisdiction_id: r.department_id.is_none().then_some(r.jurisdiction_id),
        department_id: r.department_id,
        name: r.body_name,
    }))
}

/// Who issues `kind` on case `case_id`: the lead department; the host county's petition office
/// (交办单); the supervisor's office (督办单); the body the 复查/复核 was addressed to (one from
/// before bodies were chosen: the lead department's government, or the one above it for 复核).
/// None: there is no such body (复核 above a root jurisdiction).
async fn issuing_body(
    conn: &mut PgConnection,
    case_id: i64,
    kind: Kind,
    supervisor_jurisdiction: Option<i64>,
) -> sqlx::Result<Option<Body>> {
    if matches!(kind, Kind::ReviewOpinion | Kind::ReReviewOpinion)
        && let Some(body) = review_body(conn, case_id, kind).await?
    {
        return Ok(Some(body));
    }
    let c = sqlx::query!(
        r#"SELECT d.id AS department_id, d.name AS department, v.county_id,
                  COALESCE(d.jurisdiction_id, v.county_id) AS "department_jurisdiction!",
                  (SELECT parent_id FROM jurisdictions WHERE id = COALESCE(d.jurisdiction_id, v.county_id)) AS parent_id
           FROM cases c JOIN departments d ON d.id = c.lead_department_id JOIN visits v ON v.id = c.visit_id
           WHERE c.id = $1"#,
        case_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let government = match kind {
        Kind::ReviewOpinion => Some(c.department_jurisdiction),
        Kind::ReReviewOpinion => c.parent_id,
        _ => None,
    };
    Ok(match kind.issuer() {
        Issuer::LeadDepartment => Some(Body {
            department_id: Some(c.department_id),
            jurisdiction_id: None,
            name: c.department,
        }),
        Issuer::Office => Some(jurisdiction_body(conn, c.county_id, false).await?),
        Issuer::Supervision if kind == Kind::Urging => match supervisor_jurisdiction {
            Some(j) => Some(jurisdiction_body(conn, j, false).await?),
            None => None,
        },
        Issuer::Supervision => match government {
            Some(j) => Some(jurisdiction_body(conn, j, true).await?),
            None => None,
        },
    })
}

/// What a body's numbers are made of: its 机关代字 (set, or derived from the names) and its
/// jurisdiction's pattern. The sequence key is one counter per body, kind and year.
async fn numbering(
    conn: &mut PgConnection,
    department_id: Option<i64>,
    jurisdiction_id: Option<i64>,
) -> sqlx::Result<(String, String, String)> {
    let n = sqlx::query!(
        r#"SELECT COALESCE(NULLIF(dep.doc_abbr, ''), NULLIF(j.doc_abbr, ''), '') AS "abbr!", dep.short_name AS "short_name?",
                  COALESCE(j.name, '') AS "jurisdiction!",
                  COALESCE(j.doc_number_pattern, '{abbr}{kind}〔{year}〕{n}号') AS "pattern!"
           FROM (SELECT $1::bigint AS d, $2::bigint AS j) x
           LEFT JOIN departments dep ON dep.id = x.d
           LEFT JOIN jurisdictions j ON j.id = COALESCE(x.j, dep.jurisdiction_id)"#,
        department_id,
        jurisdiction_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let abbr = if n.abbr.is_empty() {
        rules::default_abbr(&n.jurisdiction, n.short_name.as_deref())
    } else {
        n.abbr
    };
    let key = match (department_id, jurisdiction_id) {
        (Some(d), _) => format!("d:{d}"),
        (None, j) => format!("j:{}", j.unwrap_or_default()),
    };
    Ok((abbr, n.pattern, key))
}

/// The bodies the petitioner may turn to after `kind` (复查 after an opinion, 复核 after 复查).
async fn next_reviewer(conn: &mut PgConnection, case_id: i64, kind: Kind) -> sqlx::Result<String> {
    let done = match kind {
        Kind::Opinion => 0,
        Kind::ReviewOpinion => 1,
        _ => return Ok(String::new()),
    };
    let bodies = crate::followup::reviews::store::reviewers_after(conn, case_id, done).await?;
    let names: Vec<String> = bodies.into_iter().map(|b| b.name).collect();
    Ok(names.join("或"))
}

/// Start a draft of `kind` on the case, every field filled from it, in the caller's transaction.
/// Returns the document's id, or None when the kind has no issuing body for this case.
pub async fn draft(
    tx: &mut PgConnection,
    keys: &Keys,
    case_id: i64,
    kind: Kind,
    supervisor_jurisdiction: Option<i64>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<i64>> {
    let details = case_file::details(&mut *tx, keys, case_id).await?;
    let citizen = case_file::citizen(&mut *tx, keys, case_id).await?;
    // An approved extension is in force only once told: its draft names the date it will set.
    let c = sqlx::query!(
        r#"SELECT code, query_code, deadline_days,
                  COALESCE(extended_due_on, due_on + (SELECT (data->>'days')::int FROM case_events
                      WHERE case_id = cases.id AND kind = 'extension_approved' ORDER BY id DESC LIMIT 1)) AS extended_due_on
           FROM cases WHERE id = $1"#,
        case_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let Some(body) = issuing_body(tx, case_id, kind, supervisor_jurisdiction).await? else {
        return Ok(None);
    };
    let reviewer = next_reviewer(tx, case_id, kind).await?;
    let citizen_name = citizen.map(|(c, _)| c.name).unwrap_or_default();
    let addressee = if kind.to_citizen() {
        citizen_name
    } else {
        details.lead_department.clone()
    };
    let reply = match kind {
        Kind::Opinion => details.reply.clone().unwrap_or_default(),
        _ => String::new(),
    };
    let text = rules::draft_body(
        kind,
        &rules::Facts {
            addressee: &addressee,
            case_title: &details.title,
            case_code: &c.code,
            query_code: &c.query_code,
            received_on: china_date(details.assigned_at),
            department: &details.lead_department,
            next_reviewer: &reviewer,
            due_on: details.due_on,
            extended_due_on: c.extended_due_on,
            deadline_days: c.deadline_days,
            reply: &reply,
            owner_leader: &details.owner,
            review_days: rules::REQUEST_DAYS,
        },
    );
    let id = sqlx::query_scalar!(
        r#"SELECT nextval(pg_get_serial_sequence('documents', 'id')) AS "id!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    let a = keys.encrypt(Column::DOCUMENT_ADDRESSEE, id, &addressee)?;
    let b = keys.encrypt(Column::DOCUMENT_BODY, id, &text)?;
    let by = actor.id.expect("documents are drafted by a signed-in user");
    sqlx::query!(
        "INSERT INTO documents (id, case_id, kind, department_id, jurisdiction_id, issuer_name,
                                addressee_cipher, addressee_key_id, body_cipher, body_key_id, drafted_by, drafted_at)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        id,
        case_id,
        kind.as_str(),
        body.department_id,
        body.jurisdiction_id,
        body.name,
        a.bytes,
        a.key_id,
        b.bytes,
        b.key_id,
        by,
        now
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("document.draft")
            .on("case", case_id)
            .detail(json!({ "document_id": id, "kind": kind.as_str() })),
    )
    .await?;
    Ok(Some(id))
}

/// The draft's kind, locked; Conflict once issued (a draft is the only thing that changes).
async fn lock_draft(conn: &mut PgConnection, case_id: i64, id: i64) -> Result<Kind, AppError> {
    let d = sqlx::query!(
        "SELECT kind, status FROM documents WHERE id = $1 AND case_id = $2 FOR UPDATE",
        id,
        case_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if d.status != "draft" {
        return Err(AppError::Conflict(
            "该文书已印发，不能修改；如需更正，请制作更正文书".into(),
        ));
    }
    Ok(Kind::parse(&d.kind).unwrap_or(Kind::Acceptance))
}

/// Save the edited addressee and body of a draft.
pub async fn save(
    conn: &mut PgConnection,
    keys: &Keys,
    case_id: i64,
    id: i64,
    addressee: &str,
    body: &str,
    actor: &Actor,
) -> Result<(), AppError> {
    lock_draft(conn, case_id, id).await?;
    let a = keys.encrypt(Column::DOCUMENT_ADDRESSEE, id, addressee)?;
    let b = keys.encrypt(Column::DOCUMENT_BODY, id, body)?;
    sqlx::query!(
        "UPDATE documents SET addressee_cipher = $2, addressee_key_id = $3, body_cipher = $4, body_key_id = $5 WHERE id = $1",
        id,
        a.bytes,
        a.key_id,
        b.bytes,
        b.key_id
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        &mut *conn,
        actor,
        Entry::ok("document.edit")
            .on("case", case_id)
            .detail(json!({ "document_id": id })),
    )
    .await?;
    Ok(())
}

/// Issue a draft: the next number of its body, kind and year (the counter's row stays locked to
/// the end of the transaction, so numbers are consecutive and unique under concurrent issuing),
/// the SM3 hash of what is printed, frozen from now on. Returns the number.
pub async fn issue(
    conn: &mut PgConnection,
    keys: &Keys,
    case_id: i64,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let kind = lock_draft(conn, case_id, id).await?;
    let d = sqlx::query!(
        "SELECT department_id, jurisdiction_id, issuer_name, addressee_cipher, addressee_key_id, body_cipher, body_key_id,
                supersedes_id
         FROM documents WHERE id = $1",
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    let corrects = d.supersedes_id.is_some();
    if !corrects {
        transitions::check_issue(conn, case_id, kind).await?;
    }
    let (abbr, pattern, body_key) = numbering(conn, d.department_id, d.jurisdiction_id).await?;
    let issued_on = china_date(now);
    let year = issued_on.year();
    let seq = sqlx::query_scalar!(
        "INSERT INTO document_sequences (body, kind, year, last) VALUES ($1, $2, $3, 1)
         ON CONFLICT (body, kind, year) DO UPDATE SET last = document_sequences.last + 1 RETURNING last",
        body_key,
        kind.as_str(),
        year
    )
    .fetch_one(&mut *conn)
    .await?;
    let number = rules::format_number(&pattern, &abbr, kind, year, seq);
    let addressee = keys.decrypt(
        Column::DOCUMENT_ADDRESSEE,
        id,
        d.addressee_key_id,
        &d.addressee_cipher,
    )?;
    let text = keys.decrypt(Column::DOCUMENT_BODY, id, d.body_key_id, &d.body_cipher)?;
    let hash = keys.hash(
        rules::hashed_text(&number, kind, &d.issuer_name, &addressee, &text, issued_on).as_bytes(),
    );
    let by = actor.id.expect("documents are issued by a signed-in user");
    sqlx::query!(
        "UPDATE documents SET status = 'issued', year = $2, seq = $3, number = $4, issued_by = $5, issued_at = $6,
                              issued_on = $7, text_hash = $8 WHERE id = $1",
        id,
        year,
        seq,
        number,
        by,
        now,
        issued_on,
        &hash[..]
    )
    .execute(&mut *conn)
    .await?;
    if !corrects {
        let issued = Issued {
            id,
            kind,
            number: &number,
            on: issued_on,
            by,
        };
        transitions::written(conn, keys, case_id, &issued, now).await?;
    }
    audit::record(
        &mut *conn,
        actor,
        Entry::ok("document.issue")
            .on("case", case_id)
            .detail(json!({ "document_id": id, "kind": kind.as_str(), "number": number })),
    )
    .await?;
    Ok(number)
}

/// A correction: a new draft with the issued document's text, superseding it once issued.
pub async fn correct(
    conn: &mut PgConnection,
    keys: &Keys,
    case_id: i64,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let d = sqlx::query!(
        "SELECT kind, status, department_id, jurisdiction_id, issuer_name, addressee_cipher, addressee_key_id, body_cipher, body_key_id,
                EXISTS (SELECT 1 FROM documents n WHERE n.supersedes_id = documents.id) AS \"corrected!\"
         FROM documents WHERE id = $1 AND case_id = $2 FOR UPDATE",
        id,
        case_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if d.status != "issued" {
        return Err(AppError::Conflict("草稿可直接修改，无需更正".into()));
    }
    if d.corrected {
        return Err(AppError::Conflict("该文书已有更正文书".into()));
    }
    let addressee = keys.decrypt(
        Column::DOCUMENT_ADDRESSEE,
        id,
        d.addressee_key_id,
        &d.addressee_cipher,
    )?;
    let text = keys.decrypt(Column::DOCUMENT_BODY, id, d.body_key_id, &d.body_cipher)?;
    let new_id = sqlx::query_scalar!(
        r#"SELECT nextval(pg_get_serial_sequence('documents', 'id')) AS "id!""#
    )
    .fetch_one(&mut *conn)
    .await?;
    let a = keys.encrypt(Column::DOCUMENT_ADDRESSEE, new_id, &addressee)?;
    let b = keys.encrypt(Column::DOCUMENT_BODY, new_id, &text)?;
    sqlx::query!(
        "INSERT INTO documents (id, case_id, kind, department_id, jurisdiction_id, issuer_name, addressee_cipher, addressee_key_id,
                                body_cipher, body_key_id, drafted_by, drafted_at, supersedes_id)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        new_id,
        case_id,
        d.kind,
        d.department_id,
        d.jurisdiction_id,
        d.issuer_name,
        a.bytes,
        a.key_id,
        b.bytes,
        b.key_id,
        actor.id.expect("documents are corrected by a signed-in user"),
        now,
        id
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        &mut *conn,
        actor,
        Entry::ok("document.correct")
            .on("case", case_id)
            .detail(json!({ "document_id": new_id, "supersedes": id })),
    )
    .await?;
    Ok(new_id)
}

/// One 送达 as its form records it: how, on which day, with what reference (挂号信单号…).
#[derive(Clone, Copy)]
pub struct Service<'a> {
    pub method: &'a str,
    pub delivered_on: NaiveDate,
    pub reference: &'a str,
}

/// Record a 送达. By SMS the citizen is sent the document's number and the 查询码 through the
/// outbox, to the registration's phone; other methods record the date the form gives.
pub async fn deliver(
    conn: &mut PgConnection,
    case_id: i64,
    id: i64,
    service: &Service<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Service {
        method,
        delivered_on,
        reference,
    } = *service;
    let d = sqlx::query!(
        r#"SELECT d.kind, d.status, d.number, c.query_code, r.id AS "registration_id?", r.phone_mask AS "phone_mask?"
           FROM documents d JOIN cases c ON c.id = d.case_id
           LEFT JOIN registrations r ON r.id = case_registration(c.id) AND r.phone_mask IS NOT NULL
           WHERE d.id = $1 AND d.case_id = $2"#,
        id,
        case_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if d.status != "issued" {
        return Err(AppError::Conflict("文书印发后才能送达".into()));
    }
    let kind = Kind::parse(&d.kind).unwrap_or(Kind::Acceptance);
    let notification_id = if method == "sms" {
        let (Some(registration_id), Some(mask)) = (d.registration_id, d.phone_mask) else {
            return Err(AppError::Conflict(
                "信访人未留手机号码，不能短信送达".into(),
            ));
        };
        let number = d.number.unwrap_or_default();
        Some(
            notify::queue(
                &mut *conn,
                notify::Message {
                    registration_id: Some(registration_id),
                    user_id: None,
                    phone_code_id: None,
                    recipient_mask: &mask,
                    kind: "document.issued",
                    params: json!({ "title": kind.title().trim_start_matches("信访事项"), "number": number, "query_code": d.query_code }),
                },
            )
            .await?,
        )
    } else {
        None
    };
    sqlx::query!(
        "INSERT INTO document_deliveries (document_id, method, delivered_on, reference, notification_id, recorded_by, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id,
        method,
        delivered_on,
        reference,
        notification_id,
        actor.id.expect("deliveries are recorded by a signed-in user"),
        now
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        &mut *conn,
        actor,
        Entry::ok("document.deliver")
            .on("case", case_id)
            .detail(json!({ "document_id": id, "method": method, "delivered_on": delivered_on })),
    )
    .await?;
    Ok(())
}
