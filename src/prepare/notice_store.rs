//! Notices as other modules read them: a notice's view and a visit's published notices.

use crate::prepare::plan;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

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
