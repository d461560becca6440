//! What a registration form offers and needs before booking: the visit with its open period, its
//! windows, and the categories and window ids a channel accepts.

use crate::error::AppError;
use crate::prepare::registration::{Channel, VisitInfo};
use chrono::{DateTime, NaiveTime, Utc};
use sqlx::{PgExecutor, PgPool};

/// The visit a registration form is for, with its close time (`close_time`: the configured default
/// hour when the visit sets none); 404 for an unknown id.
pub async fn load_visit(
    db: impl PgExecutor<'_>,
    id: i64,
    close_time: NaiveTime,
) -> Result<VisitInfo, AppError> {
    let v = sqlx::query!(
        r#"SELECT v.id, v.title, v.visit_date, v.starts_at, v.ends_at, v.venue, v.address, v.status, v.registration_closes_at,
                  (SELECT min(n.published_at) FROM notices n
                    WHERE n.visit_id = v.id AND n.kind = 'first' AND n.status = 'published') AS first_notice_at
           FROM visits v WHERE v.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(VisitInfo {
        id: v.id,
        title: v.title,
        date: v.visit_date,
        hours: format!(
            "{}—{}",
            v.starts_at.format("%H:%M"),
            v.ends_at.format("%H:%M")
        ),
        venue: v.venue,
        address: v.address,
        status: v.status,
        first_notice_at: v.first_notice_at,
        closes_at: crate::prepare::plan::registration_closes_at(
            v.visit_date,
            v.registration_closes_at,
            close_time,
        ),
    })
}

/// A reception window with its booked and total slots.
pub struct Window {
    pub id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity_slots: i32,
    pub booked_slots: i32,
}

/// The windows of a visit, in time order.
pub async fn windows(db: impl PgExecutor<'_>, visit_id: i64) -> sqlx::Result<Vec<Window>> {
    sqlx::query_as!(
        Window,
        "SELECT id, starts_at, ends_at, capacity_slots, booked_slots FROM reception_windows WHERE visit_id = $1 ORDER BY starts_at",
        visit_id
    )
    .fetch_all(db)
    .await
}

/// The category and window ids a form of `channel` offers (what `validate` accepts).
pub async fn offered(
    db: &PgPool,
    visit_id: i64,
    channel: Channel,
) -> sqlx::Result<(Vec<i64>, Vec<i64>)> {
    let category_ids = crate::admin::category_groups(db, &[])
        .await?
        .into_iter()
        .flat_map(|g| g.options)
        .map(|c| c.id)
        .collect();
    let window_ids = if channel == Channel::WalkIn {
        Vec::new()
    } else {
        windows(db, visit_id).await?.iter().map(|w| w.id).collect()
    };
    Ok((category_ids, window_ids))
}

/// The visit's rooms, for staff to pick one for a walk-in no room is competent for.
pub async fn rooms(db: impl PgExecutor<'_>, visit_id: i64) -> sqlx::Result<Vec<(i64, String)>> {
    Ok(sqlx::query!(
        "SELECT id, name FROM rooms WHERE visit_id = $1 ORDER BY sort_order, id",
        visit_id
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.id, r.name))
    .collect())
}
