//! 离任交接, what the page shows: a departing leader's open cases, the possible successors and
//! the handovers done (新官要理旧账). The handover itself is `transitions::hand_over`.

use crate::clock::china_minute;
use crate::followup::transitions::OPEN;
use crate::web::form::Choice;
use sqlx::PgPool;

/// A leader's name with title, if the leader exists within `within`'s subtree (a leader not yet
/// placed in any jurisdiction counts as within every one, as before jurisdictions).
pub async fn leader_name(
    db: &PgPool,
    leader_id: i64,
    within: Option<i64>,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        r#"SELECT name || '（' || title || '）' AS "n!" FROM leaders
           WHERE id = $1 AND COALESCE(county_id, $2) IN (SELECT jurisdiction_subtree($2))"#,
        leader_id,
        within
    )
    .fetch_optional(db)
    .await
}

/// The cases a handover of `leader_id` would move now.
pub async fn open_cases(db: &PgPool, leader_id: i64) -> sqlx::Result<Vec<OpenCase>> {
    let open_states: Vec<String> = OPEN.iter().map(|s| s.to_string()).collect();
    sqlx::query_as!(
        OpenCase,
        "SELECT id, code, title, status FROM cases WHERE owner_leader_id = $1 AND status = ANY($2) ORDER BY id",
        leader_id,
        &open_states
    )
    .fetch_all(db)
    .await
}

/// Active leaders other than `leader_id` within `within`'s subtree.
pub async fn successors(
    db: &PgPool,
    leader_id: i64,
    within: Option<i64>,
) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        r#"SELECT id, name || '（' || title || '）' AS "label!" FROM leaders
           WHERE active AND id <> $1 AND COALESCE(county_id, $2) IN (SELECT jurisdiction_subtree($2)) ORDER BY name"#,
        leader_id,
        within
    )
    .fetch_all(db)
    .await
}

/// The handovers from or to `leader_id`, newest first.
pub async fn records(db: &PgPool, leader_id: i64) -> sqlx::Result<Vec<Record>> {
    let rows = sqlx::query!(
        r#"SELECT h.id, h.at, h.note, f.name AS from_name, t.name AS to_name, u.display_name AS by_name,
                  ARRAY(SELECT c.id FROM handover_cases hc JOIN cases c ON c.id = hc.case_id WHERE hc.handover_id = h.id ORDER BY c.id) AS "case_ids!",
                  ARRAY(SELECT c.code FROM handover_cases hc JOIN cases c ON c.id = hc.case_id WHERE hc.handover_id = h.id ORDER BY c.id) AS "case_codes!"
           FROM handovers h JOIN leaders f ON f.id = h.from_leader_id JOIN leaders t ON t.id = h.to_leader_id JOIN users u ON u.id = h.performed_by
           WHERE h.from_leader_id = $1 OR h.to_leader_id = $1 ORDER BY h.at DESC, h.id DESC"#,
        leader_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Record {
            id: r.id,
            at: china_minute(r.at),
            from: r.from_name,
            to: r.to_name,
            by: r.by_name,
            note: r.note,
            cases: r.case_ids.into_iter().zip(r.case_codes).collect(),
        })
        .collect())
}

pub struct OpenCase {
    pub id: i64,
    pub code: String,
    pub title: String,
    pub status: String,
}

impl OpenCase {
    pub fn status_label(&self) -> &'static str {
        crate::followup::state::State::parse(&self.status)
            .map(|s| s.label())
            .unwrap_or("")
    }
}

/// A handover done, with the cases it moved.
pub struct Record {
    pub id: i64,
    pub at: String,
    pub from: String,
    pub to: String,
    pub by: String,
    pub note: String,
    pub cases: Vec<(i64, String)>,
}
