//! 更正接谈记录: whoever recorded a reception corrects it on the same day (`desk_rules::may_correct`).
//! The version it replaces is kept in `reception_versions`, its texts sealed again to that row.
//! Issues that became cases stay as they are (a case changes on its own page); the others are
//! replaced by the corrected list, whose new 交办 issues become cases. The audit entry carries
//! the issues before and after.

use crate::audit::{self, Entry};
use crate::consult::board;
use crate::consult::desk_rules::{may_correct, outcome_label};
use crate::consult::reception::{
    Choices, DeskError, DeskRoom, NewReception, Recorder, choice_ids, insert_issues,
};
use crate::crypto::free_text::{self, SealedText};
use crate::crypto::{Column, Keys};
use crate::error::AppError;
use crate::followup::assign::Assigned;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;

/// An issue that became a case: shown, not edited, on the correction form.
pub struct KeptIssue {
    pub case_id: i64,
    pub case_code: String,
    pub summary: String,
}

/// An issue the correction may change, as saved.
pub struct SavedIssue {
    pub category_id: i64,
    pub summary: String,
    pub outcome: String,
    pub reason: String,
}

/// A saved reception as its correction form starts.
pub struct Saved {
    pub reception_id: i64,
    pub code: String,
    pub statement: String,
    pub consultation: String,
    pub editable: Vec<SavedIssue>,
    pub kept: Vec<KeptIssue>,
    /// Recorded by this user today: may be corrected.
    pub correctable: bool,
}

/// What a correction did: the registration's code, the version now current, the cases it made.
pub struct Corrected {
    pub code: String,
    pub version: i64,
    pub cases: Vec<Assigned>,
}

struct Stored {
    id: i64,
    code: String,
    recorded_by: i64,
    recorded_at: DateTime<Utc>,
    statement: String,
    consultation: String,
}

/// The reception of a received batch of this room, locked (outside a transaction the lock ends
/// with the statement: reading the form costs nothing).
async fn stored(
    conn: &mut PgConnection,
    keys: &Keys,
    room: &DeskRoom,
    reg: i64,
) -> Result<Stored, AppError> {
    let r = sqlx::query!(
        r#"SELECT r.id, g.code, r.recorded_by, r.ended_at AS "ended_at!", r.statement, r.statement_cipher, r.statement_key_id,
                  r.consultation, r.consultation_cipher, r.consultation_key_id
           FROM receptions r JOIN registrations g ON g.id = r.registration_id
           WHERE r.registration_id = $1 AND r.visit_id = $2 AND r.room_id = $3 AND g.status = 'received' AND r.ended_at IS NOT NULL
           FOR UPDATE OF r"#,
        reg,
        room.visit_id,
        room.id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let open = |column, plain, cipher, key_id| {
        free_text::open(keys, column, r.id, Some(plain), cipher, key_id)
            .map(Option::unwrap_or_default)
    };
    Ok(Stored {
        id: r.id,
        statement: open(
            Column::RECEPTION_STATEMENT,
            r.statement,
            r.statement_cipher,
            r.statement_key_id,
        )?,
        consultation: open(
            Column::RECEPTION_CONSULTATION,
            r.consultation,
            r.consultation_cipher,
            r.consultation_key_id,
        )?,
        code: r.code,
        recorded_by: r.recorded_by,
        recorded_at: r.ended_at,
    })
}

/// An issue of the reception as saved, with its case if it became one.
struct IssueRow {
    category_id: i64,
    summary: String,
    outcome: String,
    reason: String,
    case: Option<(i64, String)>,
}

impl IssueRow {
    /// How the audit entry names it: "摘要（处理结果）", with the case's code for a 交办.
    fn line(&self) -> String {
        match &self.case {
            Some((_, code)) => format!("{}（交办 {code}）", self.summary),
            None => format!("{}（{}）", self.summary, outcome_label(&self.outcome)),
        }
    }
}

async fn issue_rows(
    conn: &mut PgConnection,
    keys: &Keys,
    reception_id: i64,
) -> Result<Vec<IssueRow>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT i.id, i.category_id, i.summary, i.outcome, i.not_accepted_reason, i.not_accepted_reason_cipher,
                  i.not_accepted_reason_key_id, c.id AS "case_id?", c.code AS "case_code?"
           FROM issues i LEFT JOIN cases c ON c.issue_id = i.id WHERE i.reception_id = $1 ORDER BY i.id"#,
        reception_id
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let reason = free_text::open(
                keys,
                Column::ISSUE_NOT_ACCEPTED_REASON,
                r.id,
                r.not_accepted_reason,
                r.not_accepted_reason_cipher,
                r.not_accepted_reason_key_id,
            )?;
            Ok(IssueRow {
                category_id: r.category_id,
                summary: r.summary,
                outcome: r.outcome,
                reason: reason.unwrap_or_default(),
                case: r.case_id.zip(r.case_code),
            })
        })
        .collect()
}

/// The saved reception of `reg` as its correction form starts.
pub async fn saved(
    conn: &mut PgConnection,
    keys: &Keys,
    room: &DeskRoom,
    reg: i64,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Saved, AppError> {
    let r = stored(&mut *conn, keys, room, reg).await?;
    let (mut editable, mut kept) = (Vec::new(), Vec::new());
    for i in issue_rows(&mut *conn, keys, r.id).await? {
        match i.case {
            Some((case_id, case_code)) => kept.push(KeptIssue {
                case_id,
                case_code,
                summary: i.summary,
            }),
            None => editable.push(SavedIssue {
                category_id: i.category_id,
                summary: i.summary,
                outcome: i.outcome,
                reason: i.reason,
            }),
        }
    }
    Ok(Saved {
        reception_id: r.id,
        correctable: may_correct(r.recorded_by, user_id, r.recorded_at, now),
        code: r.code,
        statement: r.statement,
        consultation: r.consultation,
        editable,
        kept,
    })
}

/// Why a correction is refused.
pub const NOT_YOURS_TODAY: &str =
    "接谈记录只能由登记人在接谈当天更正。如需更改已交办的事项，请在交办件页面办理。";

/// Correct the reception of `reg`: `check` validates the corrected form (told whether issues
/// that became cases remain, which then suffice); the replaced version is kept, the issues
/// without a case replaced, the texts sealed again.
pub async fn correct<E>(
    tx: &mut PgConnection,
    room: &DeskRoom,
    reg: i64,
    check: impl FnOnce(&Choices, bool) -> Result<NewReception, E>,
    by: &Recorder<'_>,
) -> Result<Corrected, DeskError<E>> {
    let r = stored(&mut *tx, by.keys, room, reg).await?;
    if !may_correct(r.recorded_by, by.user_id, r.recorded_at, by.now) {
        return Err(DeskError::Refused(NOT_YOURS_TODAY.into()));
    }
    let before = issue_rows(&mut *tx, by.keys, r.id).await?;
    let kept: Vec<&IssueRow> = before.iter().filter(|i| i.case.is_some()).collect();
    let (categories, departments, leaders) = choice_ids(&mut *tx, room.visit_id).await?;
    let choices = Choices {
        categories: &categories,
        departments: &departments,
        leaders: &leaders,
    };
    let valid = check(&choices, !kept.is_empty()).map_err(DeskError::Invalid)?;
    let version = keep_version(&mut *tx, &r, &before, by).await?;
    sqlx::query!(
        "DELETE FROM issues i WHERE i.reception_id = $1 AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.issue_id = i.id)",
        r.id
    )
    .execute(&mut *tx)
    .await?;
    let cases = insert_issues(&mut *tx, room.visit_id, r.id, &valid.issues, by).await?;
    let statement = free_text::seal(by.keys, Column::RECEPTION_STATEMENT, r.id, &valid.statement)?;
    let consultation = free_text::seal(
        by.keys,
        Column::RECEPTION_CONSULTATION,
        r.id,
        &valid.consultation,
    )?;
    sqlx::query!(
        "UPDATE receptions SET statement = '', consultation = '', statement_cipher = $2, statement_key_id = $3,
                consultation_cipher = $4, consultation_key_id = $5 WHERE id = $1",
        r.id,
        statement.cipher,
        statement.key_id,
        consultation.cipher,
        consultation.key_id
    )
    .execute(&mut *tx)
    .await?;
    board::announce(&mut *tx, room.visit_id).await?;
    let after: Vec<String> = kept
        .iter()
        .map(|i| i.line())
        .chain(valid.issues.iter().map(|i| match i.assignment {
            Some(_) => format!("{}（交办）", i.summary),
            None => format!("{}（{}）", i.summary, outcome_label(i.outcome)),
        }))
        .collect();
    let detail = json!({
        "reception_id": r.id,
        "version": version + 1,
        "before": before.iter().map(IssueRow::line).collect::<Vec<_>>(),
        "after": after,
        "statement_changed": r.statement != valid.statement,
        "consultation_changed": r.consultation != valid.consultation,
        "cases": cases.iter().map(|c| c.code.as_str()).collect::<Vec<_>>(),
    });
    audit::record(
        &mut *tx,
        by.actor,
        Entry::ok("desk.correct")
            .on("registration", reg)
            .detail(detail),
    )
    .await?;
    Ok(Corrected {
        code: r.code,
        version: version + 1,
        cases,
    })
}

/// Keep the version being replaced; returns its number (1 for the reception as first saved).
async fn keep_version(
    tx: &mut PgConnection,
    r: &Stored,
    issues: &[IssueRow],
    by: &Recorder<'_>,
) -> sqlx::Result<i64> {
    let id = sqlx::query_scalar!(
        r#"SELECT nextval(pg_get_serial_sequence('reception_versions', 'id')) AS "id!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    let seal = |column, text: &str| -> sqlx::Result<SealedText> {
        free_text::seal(by.keys, column, id, text)
    };
    let statement = seal(Column::RECEPTION_VERSION_STATEMENT, &r.statement)?;
    let consultation = seal(Column::RECEPTION_VERSION_CONSULTATION, &r.consultation)?;
    let issues = json!(issues
        .iter()
        .map(|i| json!({ "category_id": i.category_id, "summary": i.summary, "outcome": i.outcome,
                         "case": i.case.as_ref().map(|(_, code)| code) }))
        .collect::<Vec<_>>());
    // A version was recorded when the one before it was replaced, or when the reception was saved.
    sqlx::query_scalar!(
        r#"INSERT INTO reception_versions (id, reception_id, version, statement_cipher, statement_key_id,
                                           consultation_cipher, consultation_key_id, issues, recorded_by, recorded_at, replaced_at)
           OVERRIDING SYSTEM VALUE
           SELECT $1, $2, count(*) + 1, $3, $4, $5, $6, $7, $8, COALESCE(max(replaced_at), $9), $10
           FROM reception_versions WHERE reception_id = $2
           RETURNING version::bigint AS "version!""#,
        id,
        r.id,
        statement.cipher,
        statement.key_id,
        consultation.cipher,
        consultation.key_id,
        issues,
        r.recorded_by,
        r.recorded_at,
        by.now
    )
    .fetch_one(&mut *tx)
    .await
}
