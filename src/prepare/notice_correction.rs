//! 更正公告, the domain: once the public was told, a change of the date, hours or venue is
//! published as a correction of the notice, the visit (its windows and expected times) moves
//! with it, and everyone still expecting the day is told — in one transaction, audited.

use crate::audit::{self, Actor, Entry};
use crate::clock::{china_date, cn_date};
use crate::error::AppError;
use crate::prepare::notice_text::{self, Change};
use crate::prepare::plan::{NoticeDays, hours};
use crate::prepare::visit_store::{facts, notify_registrants};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::PgConnection;

/// The correction as the form gave it, its own fields already checked by the page.
pub struct Draft {
    pub date: Option<NaiveDate>,
    pub starts: Option<NaiveTime>,
    pub ends: Option<NaiveTime>,
    pub venue: String,
    pub address: String,
    pub reason: String,
    pub channels: Vec<String>,
    /// The page found nothing wrong with the fields themselves.
    pub fields_ok: bool,
}

/// Who corrects, when, and the configuration the correction needs.
pub struct Env<'a> {
    pub now: DateTime<Utc>,
    pub user_id: i64,
    pub actor: &'a Actor,
    pub base_url: &'a str,
    pub close_time: NaiveTime,
    pub notice_days: &'a NoticeDays,
}

pub enum Corrected {
    /// Published; how many registrations were told.
    Published { notified: usize },
    /// Nothing written: the field errors found against the visit as it stands.
    Refused(Vec<(&'static str, String)>),
}

struct Current {
    visit_date: NaiveDate,
    starts_at: NaiveTime,
    ends_at: NaiveTime,
    venue: String,
    address: String,
}

struct PublishedNotice {
    id: i64,
    kind: String,
    published_at: DateTime<Utc>,
}

/// Check the correction against the visit and publish it.
pub async fn publish(
    tx: &mut PgConnection,
    id: i64,
    d: &Draft,
    env: Env<'_>,
) -> Result<Corrected, AppError> {
    let v = sqlx::query!("SELECT status, visit_date, starts_at, ends_at, venue, address FROM visits WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let today = china_date(env.now);
    if !matches!(v.status.as_str(), "announced" | "closed_for_registration")
        || today >= v.visit_date
    {
        return Err(AppError::Conflict(
            "只有已公告、尚未到接访日的活动可以发布更正公告。".into(),
        ));
    }
    let published = sqlx::query_as!(
        PublishedNotice,
        "SELECT id, kind, published_at AS \"published_at!\" FROM notices WHERE visit_id = $1 AND status = 'published' AND kind IN ('first', 'second', 'correction')
         ORDER BY published_at DESC, id DESC",
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    let current = Current {
        visit_date: v.visit_date,
        starts_at: v.starts_at,
        ends_at: v.ends_at,
        venue: v.venue,
        address: v.address,
    };
    let mut refusals = Vec::new();
    let changes = check(tx, id, d, &current, &published, &env, &mut refusals).await?;
    let (Some(date), Some(starts), Some(ends)) = (d.date, d.starts, d.ends) else {
        return Ok(Corrected::Refused(refusals));
    };
    if !refusals.is_empty() || !d.fields_ok {
        return Ok(Corrected::Refused(refusals));
    }
    let moved = (date, starts, ends);
    let notified = apply(tx, id, d, &current, moved, &published, &changes, &env).await?;
    Ok(Corrected::Published { notified })
}

/// The changes the correction makes, and what refuses it given the visit as it stands.
async fn check(
    tx: &mut PgConnection,
    id: i64,
    d: &Draft,
    v: &Current,
    published: &[PublishedNotice],
    env: &Env<'_>,
    refusals: &mut Vec<(&'static str, String)>,
) -> Result<Vec<Change>, AppError> {
    let today = china_date(env.now);
    let published_on = |kind: &str| {
        published
            .iter()
            .find(|n| n.kind == kind)
            .map(|n| china_date(n.published_at))
    };
    if let Some(date) = d.date.filter(|date| *date != v.visit_date)
        && let Err(m) = env.notice_days.check_new_date(
            date,
            today,
            published_on("first"),
            published_on("second"),
        )
    {
        refusals.push(("visit_date", m));
    }
    let mut changes = Vec::new();
    let (Some(date), Some(s), Some(e)) = (d.date, d.starts, d.ends) else {
        return Ok(changes);
    };
    if date != v.visit_date {
        changes.push(Change {
            label: "接访日期",
            old: cn_date(v.visit_date),
            new: cn_date(date),
        });
    }
    if (s, e) != (v.starts_at, v.ends_at) {
        changes.push(Change {
            label: "接访时间",
            old: hours(v.starts_at, v.ends_at),
            new: hours(s, e),
        });
        let booked = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM registrations WHERE visit_id = $1 AND window_id IS NOT NULL) AS "e!""#,
            id
        )
        .fetch_one(&mut *tx)
        .await?;
        if booked {
            refusals.push((
                "starts_at",
                "已有群众登记了接访时段，不能更改接访时间；如确需更改，请取消本次活动后重新安排"
                    .into(),
            ));
        }
    }
    if d.venue != v.venue {
        changes.push(Change {
            label: "接访地点",
            old: v.venue.clone(),
            new: d.venue.clone(),
        });
    }
    if d.address != v.address {
        let shown = |a: &str| {
            if a.is_empty() {
                "（无）".to_owned()
            } else {
                a.to_owned()
            }
        };
        changes.push(Change {
            label: "详细地址",
            old: shown(&v.address),
            new: shown(&d.address),
        });
    }
    if changes.is_empty() && refusals.is_empty() && d.fields_ok {
        refusals.push((
            "visit_date",
            "接访日期、时间、地点均未改变，无需更正".into(),
        ));
    }
    Ok(changes)
}

/// Publish the correction, move the visit, and tell the registrants; returns how many.
#[allow(clippy::too_many_arguments)]
async fn apply(
    tx: &mut PgConnection,
    id: i64,
    d: &Draft,
    v: &Current,
    (date, s, e): (NaiveDate, NaiveTime, NaiveTime),
    published: &[PublishedNotice],
    changes: &[Change],
    env: &Env<'_>,
) -> Result<usize, AppError> {
    let old_facts = facts(tx, env.close_time, id, env.base_url).await?;
    let (title, body) = notice_text::compose_correction(&old_facts, changes, &d.reason);
    let corrects = published
        .iter()
        .find(|n| n.kind != "correction")
        .or(published.first())
        .map(|n| n.id);
    let notice_id = sqlx::query_scalar!(
        "INSERT INTO notices (visit_id, kind, corrects_notice_id, title, body, channels, planned_date, status, published_at, published_by, created_by)
         VALUES ($1, 'correction', $2, $3, $4, $5, $6, 'published', $7, $8, $8) RETURNING id",
        id,
        corrects,
        title,
        body,
        &d.channels,
        china_date(env.now),
        env.now,
        env.user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let shift_days = (date - v.visit_date).num_days() as i32;
    move_visit(tx, id, d, (date, s, e), shift_days).await?;
    if (s, e) != (v.starts_at, v.ends_at) {
        // Nothing is booked (checked above): existing windows follow the new hours.
        let has_windows = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM reception_windows WHERE visit_id = $1) AS "e!""#,
            id
        )
        .fetch_one(&mut *tx)
        .await?;
        if has_windows {
            let _ = crate::prepare::windows::regenerate_windows(tx, id, false).await?;
        }
    }
    let what = changes
        .iter()
        .map(|c| format!("{}：{} → {}", c.label, c.old, c.new))
        .collect::<Vec<_>>()
        .join("；");
    let params = serde_json::json!({"title": old_facts.title, "changes": what});
    let notified = notify_registrants(tx, id, "visit.corrected", params).await?;
    let detail = serde_json::json!({
        "visit_id": id, "corrects": corrects, "reason": d.reason, "notified": notified,
        "changes": changes.iter().map(|c| serde_json::json!({"field": c.label, "old": c.old, "new": c.new})).collect::<Vec<_>>(),
    });
    audit::record(
        &mut *tx,
        env.actor,
        Entry::ok("notice.correct")
            .on("notice", notice_id)
            .detail(detail),
    )
    .await?;
    Ok(notified)
}

/// The visit's new day, hours and place; an explicit registration close, the windows and the
/// expected times move with the day.
async fn move_visit(
    tx: &mut PgConnection,
    id: i64,
    d: &Draft,
    (date, s, e): (NaiveDate, NaiveTime, NaiveTime),
    shift_days: i32,
) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE visits SET visit_date = $2, starts_at = $3, ends_at = $4, venue = $5, address = $6,
                registration_closes_at = registration_closes_at + make_interval(days => $7)
         WHERE id = $1",
        id,
        date,
        s,
        e,
        d.venue,
        d.address,
        shift_days
    )
    .execute(&mut *tx)
    .await?;
    if shift_days != 0 {
        sqlx::query!(
            "UPDATE reception_windows SET starts_at = starts_at + make_interval(days => $2), ends_at = ends_at + make_interval(days => $2) WHERE visit_id = $1",
            id,
            shift_days
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE registrations SET expected_at = expected_at + make_interval(days => $2) WHERE visit_id = $1 AND expected_at IS NOT NULL",
            id,
            shift_days
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
