//! A visit as other modules read it: the facts a notice states, and the SMS to everyone still
//! expecting the day (cancellation, correction).

use crate::audit::{self, Actor, Entry};
use crate::clock::{china_date, cn_date};
use crate::error::AppError;
use crate::prepare::notice_text::{self, Facts, LeaderLine};
use crate::prepare::plan;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::PgConnection;

/// Statuses in which a visit can still be planned, changed or cancelled.
pub const PLANNABLE: [&str; 3] = ["draft", "announced", "closed_for_registration"];

/// A visit's checked values.
pub struct Valid {
    pub title: String,
    pub county_id: i64,
    pub lead_leader_id: i64,
    pub leader_ids: Vec<i64>,
    pub visit_date: NaiveDate,
    pub starts_at: NaiveTime,
    pub ends_at: NaiveTime,
    pub venue: String,
    pub address: String,
    pub scope: String,
    pub department_ids: Vec<i64>,
    pub slot_minutes: i32,
    pub registration_closes_at: Option<DateTime<Utc>>,
    pub deadline_days: i32,
    pub checkin_opens_eve: bool,
}

pub fn detail(v: &Valid) -> serde_json::Value {
    serde_json::json!({
        "title": v.title, "county_id": v.county_id, "lead_leader_id": v.lead_leader_id, "leader_ids": v.leader_ids,
        "visit_date": v.visit_date, "starts_at": v.starts_at, "ends_at": v.ends_at, "venue": v.venue, "address": v.address,
        "department_ids": v.department_ids, "slot_minutes": v.slot_minutes,
        "registration_closes_at": v.registration_closes_at, "deadline_days": v.deadline_days,
        "checkin_opens_eve": v.checkin_opens_eve,
    })
}

async fn replace_links(tx: &mut PgConnection, id: i64, v: &Valid) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM visit_leaders WHERE visit_id = $1 AND leader_id <> ALL($2)",
        id,
        &v.leader_ids
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("INSERT INTO visit_leaders (visit_id, leader_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING", id, &v.leader_ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "DELETE FROM visit_departments WHERE visit_id = $1 AND department_id <> ALL($2)",
        id,
        &v.department_ids
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO visit_departments (visit_id, department_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        id,
        &v.department_ids
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Create a visit (a draft), audited; returns its id.
pub async fn create(
    tx: &mut PgConnection,
    v: &Valid,
    organiser_id: i64,
    user_id: i64,
    actor: &Actor,
) -> Result<i64, AppError> {
    let id = sqlx::query_scalar!(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, starts_at, ends_at, venue, address, scope,
                             slot_minutes, registration_closes_at, deadline_days, created_by, organiser_id, checkin_opens_eve)
         SELECT $1, $2, l.level, l.id, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 FROM leaders l WHERE l.id = $3
         RETURNING id",
        v.county_id,
        v.title,
        v.lead_leader_id,
        v.visit_date,
        v.starts_at,
        v.ends_at,
        v.venue,
        v.address,
        v.scope,
        v.slot_minutes,
        v.registration_closes_at,
        v.deadline_days,
        user_id,
        organiser_id,
        v.checkin_opens_eve
    )
    .fetch_one(&mut *tx)
    .await?;
    replace_links(tx, id, v).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("visit.create").on("visit", id).detail(detail(v)),
    )
    .await?;
    Ok(id)
}

/// A visit as it stands, locked for an edit.
pub struct Locked {
    pub status: String,
    pub visit_date: NaiveDate,
    pub starts_at: NaiveTime,
    pub ends_at: NaiveTime,
    pub venue: String,
    pub address: String,
}

pub async fn lock(tx: &mut PgConnection, id: i64) -> Result<Locked, AppError> {
    sqlx::query_as!(
        Locked,
        "SELECT status, visit_date, starts_at, ends_at, venue, address FROM visits WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)
}

/// Save an edit, audited.
pub async fn update(
    tx: &mut PgConnection,
    id: i64,
    v: &Valid,
    actor: &Actor,
) -> Result<(), AppError> {
    sqlx::query!(
        // A visit organised by its host moves with it; one organised above stays so.
        "UPDATE visits SET county_id = $2, organiser_id = CASE WHEN organiser_id = county_id THEN $2 ELSE organiser_id END, title = $3, lead_leader_id = $4, level = (SELECT level FROM leaders WHERE id = $4),
                visit_date = $5, starts_at = $6, ends_at = $7, venue = $8, address = $9, scope = $10, slot_minutes = $11,
                registration_closes_at = $12, deadline_days = $13, checkin_opens_eve = $14
         WHERE id = $1",
        id,
        v.county_id,
        v.title,
        v.lead_leader_id,
        v.visit_date,
        v.starts_at,
        v.ends_at,
        v.venue,
        v.address,
        v.scope,
        v.slot_minutes,
        v.registration_closes_at,
        v.deadline_days,
        v.checkin_opens_eve
    )
    .execute(&mut *tx)
    .await?;
    replace_links(tx, id, v).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("visit.update").on("visit", id).detail(detail(v)),
    )
    .await?;
    Ok(())
}

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
           FROM visits v JOIN jurisdictions c ON c.id = v.county_id WHERE v.id = $1"#,
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
    params: serde_json::Value,
) -> sqlx::Result<usize> {
    let registrants = sqlx::query!(
        r#"SELECT id, COALESCE(phone_mask, name_mask, name) AS "mask!" FROM registrations
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
                phone_code_id: None,
                recipient_mask: &r.mask,
                kind,
                params: params.clone(),
            },
        )
        .await?;
    }
    Ok(registrants.len())
}

/// A cancellation as the form gave it, its own fields checked by the page.
pub struct Cancellation {
    pub reason: String,
    pub channels: Vec<String>,
    pub fields_ok: bool,
}

pub struct CancelEnv<'a> {
    pub now: DateTime<Utc>,
    pub user_id: i64,
    pub actor: &'a Actor,
    pub base_url: &'a str,
    pub close_time: NaiveTime,
}

/// Cancel a visit before its day: the cancellation notice (once announced), the status and an
/// SMS to every registrant. Ok(Ok(notified)), or Ok(Err(field errors)) with nothing written.
pub async fn cancel(
    tx: &mut PgConnection,
    id: i64,
    c: &Cancellation,
    env: CancelEnv<'_>,
) -> Result<Result<usize, Vec<(&'static str, String)>>, AppError> {
    let v = sqlx::query!(
        "SELECT status, visit_date, title FROM visits WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let now = env.now;
    if !PLANNABLE.contains(&v.status.as_str()) || china_date(now) >= v.visit_date {
        return Err(AppError::Conflict(format!(
            "该下访活动{}，不能取消（取消须在接访日之前）。",
            plan::status_label(&v.status)
        )));
    }
    let announced = v.status != "draft";
    if announced && c.channels.is_empty() {
        return Ok(Err(vec![(
            "cancel_channels",
            "请至少选择一个发布渠道".into(),
        )]));
    }
    if !c.fields_ok {
        return Ok(Err(Vec::new()));
    }
    let facts = facts(&mut *tx, env.close_time, id, env.base_url).await?;
    // A draft was never announced: there is nobody to tell, so no notice.
    let mut notice_id = None;
    if announced {
        let (title, body) = notice_text::compose_cancellation(&facts, &c.reason);
        notice_id = Some(
            sqlx::query_scalar!(
                "INSERT INTO notices (visit_id, kind, corrects_notice_id, title, body, channels, planned_date, status, published_at, published_by, created_by)
                 VALUES ($1, 'cancellation', (SELECT id FROM notices WHERE visit_id = $1 AND kind = 'first' AND status = 'published'),
                         $2, $3, $4, $5, 'published', $6, $7, $7)
                 RETURNING id",
                id,
                title,
                body,
                &c.channels,
                china_date(now),
                now,
                env.user_id
            )
            .fetch_one(&mut *tx)
            .await?,
        );
    }
    sqlx::query!("UPDATE visits SET status = 'cancelled' WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    let params = serde_json::json!({
        "title": v.title, "date": cn_date(v.visit_date), "reason": c.reason, "county": facts.county,
    });
    let notified = notify_registrants(tx, id, "visit.cancelled", params).await?;
    audit::record(
        &mut *tx,
        env.actor,
        Entry::ok("visit.cancel").on("visit", id).detail(
            serde_json::json!({"reason": c.reason, "notice_id": notice_id, "notified": notified}),
        ),
    )
    .await?;
    Ok(Ok(notified))
}
