//! Notices, the domain: a notice's view, a visit's published notices, and the drafts of the
//! first and second notice generated from the visit as it stands.

use crate::audit::{self, Actor, Entry};
use crate::error::AppError;
use crate::prepare::plan::{self, NoticeDays};
use crate::prepare::visit_store::facts;
use chrono::{DateTime, NaiveTime, Utc};
use sqlx::{PgConnection, PgExecutor};

/// A notice as pages show it.
pub struct NoticeView {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub channels: Vec<String>,
    pub published: Option<String>,
}

impl NoticeView {
    pub fn kind_label(&self) -> &'static str {
        plan::notice_kind_label(&self.kind)
    }
    pub fn paragraphs(&self) -> Vec<&str> {
        self.body
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    }
    pub fn channel_list(&self) -> String {
        self.channels.join("、")
    }
}

/// Published notices of a visit, newest first, for public pages.
pub async fn published_for(
    db: impl PgExecutor<'_>,
    visit_id: i64,
) -> sqlx::Result<Vec<(i64, String, String, DateTime<Utc>)>> {
    Ok(sqlx::query!(
        r#"SELECT id, kind, title, published_at AS "published_at!" FROM notices WHERE visit_id = $1 AND status = 'published'
           ORDER BY published_at DESC, id DESC"#,
        visit_id
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|n| (n.id, n.kind, n.title, n.published_at))
    .collect())
}

/// Who generates a draft, and the configuration it needs.
pub struct Drafting<'a> {
    pub user_id: i64,
    pub actor: &'a Actor,
    pub base_url: &'a str,
    pub close_time: NaiveTime,
    pub notice_days: &'a NoticeDays,
}

/// Generate the draft of the `kind` (first or second) notice from the visit as it stands, or
/// regenerate it; refused once published or when the visit is cancelled. Audited.
pub async fn generate_draft(
    tx: &mut PgConnection,
    id: i64,
    kind: &str,
    d: Drafting<'_>,
) -> Result<i64, AppError> {
    let v = sqlx::query!(
        "SELECT status, visit_date FROM visits WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if v.status == "cancelled" {
        return Err(AppError::Conflict(
            "该下访活动已取消，不能再发公告。".into(),
        ));
    }
    if sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM notices WHERE visit_id = $1 AND kind = $2 AND status = 'published') AS "e!""#, id, kind)
        .fetch_one(&mut *tx)
        .await?
    {
        return Err(AppError::Conflict(format!("{}已发布，不能重新生成。", plan::notice_kind_label(kind))));
    }
    let facts = facts(tx, d.close_time, id, d.base_url).await?;
    let (title, body) = plan::compose(kind, &facts);
    let planned = d.notice_days.latest(kind, v.visit_date);
    let updated = sqlx::query_scalar!(
        "UPDATE notices SET title = $3, body = $4, planned_date = $5 WHERE visit_id = $1 AND kind = $2 AND status = 'draft' RETURNING id",
        id,
        kind,
        title,
        body,
        planned
    )
    .fetch_optional(&mut *tx)
    .await?;
    let notice_id = match updated {
        Some(n) => n,
        None => {
            sqlx::query_scalar!(
                "INSERT INTO notices (visit_id, kind, title, body, planned_date, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                id,
                kind,
                title,
                body,
                planned,
                d.user_id
            )
            .fetch_one(&mut *tx)
            .await?
        }
    };
    audit::record(
        &mut *tx,
        d.actor,
        Entry::ok("notice.generate")
            .on("notice", notice_id)
            .detail(serde_json::json!({"visit_id": id, "kind": kind})),
    )
    .await?;
    Ok(notice_id)
}
