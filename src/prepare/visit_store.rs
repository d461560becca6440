//! A visit as other modules read it: the facts a notice states, and the SMS to everyone still
//! expecting the day (cancellation, correction).

use crate::error::AppError;
use crate::prepare::plan::{self, Facts, LeaderLine};
use chrono::NaiveTime;
use sqlx::PgConnection;

/// What a notice says about visit `id`, as the visit stands now.
pub async fn facts(
    db: &mut PgConnection,
    close_time: NaiveTime,
    id: i64,
    base: &str,
) -> Result<Facts, AppError> {
    let v = sqlx::query!(
        r#"SELECT v.title, c.name AS county, v.visit_date, v.starts_at, v.ends_at, v.venue, v.address, v.scope,
                  v.registration_closes_at,
                  COALESCE((SELECT array_agg(d.short_name ORDER BY d.name) FROM visit_departments vd
                            JOIN departments d ON d.id = vd.department_id WHERE vd.visit_id = v.id), '{}') AS "departments!"
           FROM visits v JOIN counties c ON c.id = v.county_id WHERE v.id = $1"#,
        id
    )
    .fetch_optional(&mut *db)
    .await?
    .ok_or(AppError::NotFound)?;
    let leaders = sqlx::query!(
        r#"SELECT l.name, l.title, l.portfolio FROM leaders l JOIN visits v ON v.id = $1
           WHERE l.id = v.lead_leader_id OR l.id IN (SELECT leader_id FROM visit_leaders WHERE visit_id = $1)
           ORDER BY (l.id = v.lead_leader_id) DESC,
                    array_position(ARRAY['province', 'city', 'county', 'township'], l.level), l.name"#,
        id
    )
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .map(|l| LeaderLine { name: l.name, title: l.title, portfolio: l.portfolio })
    .collect();
    Ok(Facts {
        county: v.county,
        title: v.title,
        date: v.visit_date,
        starts: v.starts_at,
        ends: v.ends_at,
        venue: v.venue,
        address: v.address,
        scope: v.scope,
        leaders,
        departments: v.departments,
        closes_at: plan::registration_closes_at(v.visit_date, v.registration_closes_at, close_time),
        register_url: format!("{base}/visits/{id}/register"),
    })
}

/// Queue `kind` to every registrant still expecting the day (not cancelled or rejected); returns how many.
pub async fn notify_registrants(
    tx: &mut PgConnection,
    visit_id: i64,
    kind: &str,
    body: &str,
    params: serde_json::Value,
) -> sqlx::Result<usize> {
    let registrants = sqlx::query!(
        r#"SELECT id, COALESCE(phone_mask, name) AS "mask!" FROM registrations
           WHERE visit_id = $1 AND status NOT IN ('cancelled', 'rejected') ORDER BY id"#,
        visit_id
    )
    .fetch_all(&mut *tx)
    .await?;
    for r in &registrants {
        crate::notify::queue(
            &mut *tx,
            crate::notify::Message {
                registration_id: Some(r.id),
                user_id: None,
                recipient_mask: &r.mask,
                kind,
                params: params.clone(),
                body: body.chars().take(2000).collect(),
            },
        )
        .await?;
    }
    Ok(registrants.len())
}
