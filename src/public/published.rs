//! What the public may see of stage 1: a visit is public once one of its notices is published;
//! published notices by id.

use crate::clock::{china_date, cn_date, cn_minute};
use crate::error::AppError;
use crate::prepare::notice_store::NoticeView;
use sqlx::PgExecutor;

/// A visit is public once one of its notices is.
pub async fn is_public(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM notices WHERE visit_id = $1 AND status = 'published') AS "e!""#, id)
        .fetch_one(db)
        .await
}

/// A published notice with its visit.
pub struct Published {
    pub view: NoticeView,
    pub visit_id: i64,
    pub published_on: String,
}

/// The notice `id` if published (404 otherwise: a draft does not exist here).
pub async fn published_notice(db: impl PgExecutor<'_>, id: i64) -> Result<Published, AppError> {
    let n = sqlx::query!(
        r#"SELECT id, visit_id, kind, title, body, channels, published_at AS "published_at!" FROM notices WHERE id = $1 AND status = 'published'"#,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(Published {
        published_on: cn_date(china_date(n.published_at)),
        visit_id: n.visit_id,
        view: NoticeView {
            id: n.id,
            kind: n.kind,
            title: n.title,
            body: n.body,
            channels: n.channels,
            published: Some(cn_minute(n.published_at)),
        },
    })
}
