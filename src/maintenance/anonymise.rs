//! Anonymisation: every personal field of a registration, a survey item or a case — and of what
//! hangs off it — cleared or overwritten, the rows kept with their codes, dates, categories and
//! outcomes for statistics. Nullable ciphertexts become NULL; the NOT NULL ones become empty under
//! key id 0, which reads as empty (`crypto::Keys`). Each function runs inside the caller's
//! transaction.

use crate::crypto::free_text::append_only_trigger;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// What stands where a required text was (a summary, a title).
pub const PLACEHOLDER: &str = "（已匿名化）";

/// Registrations `ids`, their receptions (and earlier versions), issues, screening flags and
/// messages. Returns how many were not anonymised before.
pub async fn registrations(
    conn: &mut PgConnection,
    ids: &[i64],
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE registrations SET
             name = NULL, name_cipher = NULL, name_key_id = NULL, name_index = NULL, name_mask = NULL,
             id_number_cipher = ''::bytea, id_number_key_id = 0, id_number_index = ''::bytea, id_number_mask = '',
             phone_cipher = NULL, phone_key_id = NULL, phone_index = NULL, phone_mask = NULL,
             address = NULL, address_cipher = NULL, address_key_id = NULL,
             representatives = NULL, representatives_cipher = NULL, representatives_key_id = NULL,
             grievance = NULL, grievance_cipher = NULL, grievance_key_id = NULL,
             submitted_session_hash = NULL, anonymised_at = $2
         WHERE id = ANY($1) AND anonymised_at IS NULL",
        ids,
        now
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query!(
        "UPDATE receptions SET statement = '', statement_cipher = NULL, statement_key_id = NULL,
                               consultation = '', consultation_cipher = NULL, consultation_key_id = NULL
         WHERE registration_id = ANY($1)",
        ids
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE reception_versions SET statement_cipher = NULL, statement_key_id = NULL,
                                       consultation_cipher = NULL, consultation_key_id = NULL, issues = '[]'
         WHERE reception_id IN (SELECT id FROM receptions WHERE registration_id = ANY($1))",
        ids
    )
    .execute(&mut *conn)
    .await?;
    let issues = sqlx::query_scalar!(
        "SELECT i.id FROM issues i JOIN receptions rc ON rc.id = i.reception_id WHERE rc.registration_id = ANY($1)",
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    self::issues(conn, &issues).await?;
    sqlx::query!(
        "UPDATE screening_flags SET detail = '',
                note = CASE WHEN decision = 'overridden' THEN $2 ELSE '' END
         WHERE registration_id = ANY($1)",
        ids,
        PLACEHOLDER
    )
    .execute(&mut *conn)
    .await?;
    let messages = sqlx::query_scalar!(
        "SELECT id FROM notifications WHERE registration_id = ANY($1)",
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    delete_notifications(conn, &messages).await?;
    Ok(done)
}

/// The summaries and reasons typed at the desk.
async fn issues(conn: &mut PgConnection, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE issues SET summary = $2, outcome_note = '',
                not_accepted_reason = CASE WHEN outcome = 'not_accepted' THEN $2 END,
                not_accepted_reason_cipher = NULL, not_accepted_reason_key_id = NULL
         WHERE id = ANY($1)",
        ids,
        PLACEHOLDER
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Survey items `ids` (访前调查): the reporter, their phone and the dossier's texts.
pub async fn survey_items(
    conn: &mut PgConnection,
    ids: &[i64],
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE survey_items SET summary = $3,
             reporter = '', reporter_cipher = NULL, reporter_key_id = NULL,
             background = '', background_cipher = NULL, background_key_id = NULL,
             policy_basis = '', policy_basis_cipher = NULL, policy_basis_key_id = NULL,
             proposed_handling = '', proposed_handling_cipher = NULL, proposed_handling_key_id = NULL,
             reporter_phone_cipher = NULL, reporter_phone_key_id = NULL, reporter_phone_index = NULL,
             reporter_phone_mask = NULL, anonymised_at = $2
         WHERE id = ANY($1) AND anonymised_at IS NULL",
        ids,
        now,
        PLACEHOLDER
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let messages = sqlx::query_scalar!(
        "SELECT id FROM notifications WHERE survey_item_id = ANY($1)",
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    delete_notifications(conn, &messages).await?;
    Ok(done)
}

/// What anonymising cases took with it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cases {
    pub cases: u64,
    /// Their registrations, once none of a registration's cases keeps personal data.
    pub registrations: u64,
    pub survey_items: u64,
}

/// Cases `ids`: the title, the reply, the history's texts, the rating comment, the documents'
/// addressees and texts, delivery references, attachments; the issue or survey item each came
/// from; and each registration none of whose cases keeps personal data any more. The append-only
/// triggers of the history and the issued documents are off for this transaction only.
pub async fn cases(
    conn: &mut PgConnection,
    ids: &[i64],
    now: DateTime<Utc>,
) -> sqlx::Result<Cases> {
    // Locks first, in one order, so that a form's transaction never waits on us while holding one.
    let triggers = [
        ("case_events", "case_events_no_update"),
        ("documents", "documents_frozen"),
    ];
    for (table, trigger) in triggers {
        debug_assert_eq!(append_only_trigger(table), Some(trigger));
        sqlx::query(&format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
            .execute(&mut *conn)
            .await?;
    }
    let done = sqlx::query!(
        "UPDATE cases SET title = $3, reply = NULL, reply_cipher = NULL, reply_key_id = NULL, anonymised_at = $2
         WHERE id = ANY($1) AND anonymised_at IS NULL",
        ids,
        now,
        PLACEHOLDER
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query!(
        "UPDATE case_events SET text = '', text_cipher = NULL, text_key_id = NULL
         WHERE case_id = ANY($1) AND (text <> '' OR text_cipher IS NOT NULL)",
        ids
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE feedback SET comment = '', comment_cipher = NULL, comment_key_id = NULL WHERE case_id = ANY($1)",
        ids
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE documents SET addressee_cipher = ''::bytea, addressee_key_id = 0, body_cipher = ''::bytea, body_key_id = 0
         WHERE case_id = ANY($1) AND (addressee_key_id <> 0 OR body_key_id <> 0)",
        ids
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE document_deliveries SET reference = ''
         WHERE document_id IN (SELECT id FROM documents WHERE case_id = ANY($1))",
        ids
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE attachments SET name_cipher = ''::bytea, name_key_id = 0, content_cipher = ''::bytea, content_key_id = 0
         WHERE case_id = ANY($1) AND (name_key_id <> 0 OR content_key_id <> 0)",
        ids
    )
    .execute(&mut *conn)
    .await?;
    for (table, trigger) in triggers {
        sqlx::query(&format!("ALTER TABLE {table} ENABLE TRIGGER {trigger}"))
            .execute(&mut *conn)
            .await?;
    }
    let sources = sqlx::query!(
        "SELECT issue_id, survey_item_id FROM cases WHERE id = ANY($1)",
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let issue_ids: Vec<i64> = sources.iter().filter_map(|s| s.issue_id).collect();
    let survey_ids: Vec<i64> = sources.iter().filter_map(|s| s.survey_item_id).collect();
    issues(conn, &issue_ids).await?;
    let survey_items = survey_items(conn, &survey_ids, now).await?;
    // A registration goes with its last case: the reporter's of a survey item, or the citizen's.
    let owners = sqlx::query_scalar!(
        r#"SELECT r.id AS "id!" FROM registrations r
           WHERE r.anonymised_at IS NULL
             AND (r.survey_item_id = ANY($2)
                  OR r.id IN (SELECT rc.registration_id FROM receptions rc JOIN issues i ON i.reception_id = rc.id
                              WHERE i.id = ANY($1)))
             AND NOT EXISTS (SELECT 1 FROM receptions rc JOIN issues i ON i.reception_id = rc.id
                             JOIN cases c ON c.issue_id = i.id
                             WHERE rc.registration_id = r.id AND c.anonymised_at IS NULL)"#,
        &issue_ids,
        &survey_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let registrations = registrations(conn, &owners, now).await?;
    Ok(Cases {
        cases: done,
        registrations,
        survey_items,
    })
}

/// Messages `ids` deleted; a document's delivery record keeps its method and day, not the message.
pub async fn delete_notifications(conn: &mut PgConnection, ids: &[i64]) -> sqlx::Result<u64> {
    sqlx::query!(
        "UPDATE document_deliveries SET notification_id = NULL WHERE notification_id = ANY($1)",
        ids
    )
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query!("DELETE FROM notifications WHERE id = ANY($1)", ids)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}
