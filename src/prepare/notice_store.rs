//! Notices, the domain: a notice's view, a visit's published notices, and the drafts of the
//! first and second notice generated from the visit as it stands.

use crate::audit::{self, Actor, Entry};
use crate::clock::china_date;
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
    let (title, body) = crate::prepare::notice_text::compose(kind, &facts);
    let planned = d.notice_days.latest(kind, v.visit_date);
    let updated = sqlx::query_scalar!(
        "UPDATE notices SET title = $3, body = $4, planned_date = CASE WHEN scheduled_by IS NULL THEN $5 ELSE planned_date END WHERE visit_id = $1 AND kind = $2 AND status = 'draft' RETURNING id",
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

/// A draft notice of a visit, both locked for an edit or its publication.
pub struct LockedDraft {
    pub visit_id: i64,
    pub id: i64,
    pub kind: String,
    pub visit_date: chrono::NaiveDate,
}

/// The draft `notice` of visit `id`; refused once published or when the visit is cancelled.
pub async fn lock_draft(
    tx: &mut PgConnection,
    id: i64,
    notice: i64,
) -> Result<LockedDraft, AppError> {
    let v = sqlx::query!(
        "SELECT status, visit_date FROM visits WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let n = sqlx::query!(
        "SELECT kind, status FROM notices WHERE id = $1 AND visit_id = $2 FOR UPDATE",
        notice,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if n.status == "published" {
        return Err(AppError::Conflict(
            "公告已发布，不能修改。如需更改接访日期、时间或地点，请发布更正公告。".into(),
        ));
    }
    if v.status == "cancelled" {
        return Err(AppError::Conflict(
            "该下访活动已取消，不能再发公告。".into(),
        ));
    }
    Ok(LockedDraft {
        visit_id: id,
        id: notice,
        kind: n.kind,
        visit_date: v.visit_date,
    })
}

/// Why the draft may not be published today (the notice periods), if it may not.
pub async fn publish_refusal(
    tx: &mut PgConnection,
    d: &LockedDraft,
    now: DateTime<Utc>,
    notice_days: &NoticeDays,
) -> Result<Option<String>, AppError> {
    let first_on = sqlx::query_scalar!("SELECT published_at FROM notices WHERE visit_id = $1 AND kind = 'first' AND status = 'published'", d.visit_id)
        .fetch_optional(&mut *tx)
        .await?
        .flatten()
        .map(china_date);
    Ok(notice_days
        .check_publish(&d.kind, d.visit_date, china_date(now), first_on)
        .err())
}

/// A refused publication is audited too.
pub async fn record_refused_publish(
    tx: &mut PgConnection,
    d: &LockedDraft,
    refused: &str,
    actor: &Actor,
) -> Result<(), AppError> {
    let detail = serde_json::json!({"visit_id": d.visit_id, "kind": d.kind, "refused": refused});
    audit::record(
        &mut *tx,
        actor,
        Entry::failed("notice.publish")
            .on("notice", d.id)
            .detail(detail),
    )
    .await?;
    Ok(())
}

/// What a notice says, as checked.
pub struct Content {
    pub title: String,
    pub body: String,
    pub channels: Vec<String>,
}

/// Save the draft; with `published` (when, by whom) publish it — the first notice opens
/// registration (DESIGN §3 visit states). Audited.
pub async fn save_draft(
    tx: &mut PgConnection,
    d: &LockedDraft,
    c: &Content,
    published: Option<(DateTime<Utc>, i64)>,
    actor: &Actor,
) -> Result<(), AppError> {
    let (published_at, published_by, status) = match published {
        Some((at, by)) => (Some(at), Some(by), "published"),
        None => (None, None, "draft"),
    };
    sqlx::query!(
        "UPDATE notices SET title = $2, body = $3, channels = $4, status = $5, published_at = $6, published_by = $7 WHERE id = $1",
        d.id,
        c.title,
        c.body,
        &c.channels,
        status,
        published_at,
        published_by
    )
    .execute(&mut *tx)
    .await?;
    let (id, kind) = (d.visit_id, d.kind.as_str());
    let entry = if published.is_some() {
        if kind == "first" {
            sqlx::query!(
                "UPDATE visits SET status = 'announced' WHERE id = $1 AND status = 'draft'",
                id
            )
            .execute(&mut *tx)
            .await?;
        }
        let detail = serde_json::json!({"visit_id": id, "kind": kind, "channels": c.channels});
        Entry::ok("notice.publish")
            .on("notice", d.id)
            .detail(detail)
    } else {
        let detail = serde_json::json!({"visit_id": id});
        Entry::ok("notice.update").on("notice", d.id).detail(detail)
    };
    audit::record(&mut *tx, actor, entry).await?;
    Ok(())
}

/// 08:00 China time: when a scheduled notice goes out on its planned date.
pub const SCHEDULED_HOUR: u32 = 8;

/// Why the draft may not be planned for `on` (the notice periods as they would stand then). A
/// second notice counts the first as published on its own planned date while it is scheduled.
pub async fn schedule_refusal(
    tx: &mut PgConnection,
    d: &LockedDraft,
    on: chrono::NaiveDate,
    now: DateTime<Utc>,
    notice_days: &NoticeDays,
) -> Result<Option<String>, AppError> {
    if on < china_date(now) {
        return Ok(Some("计划发布日期不能早于今天。".into()));
    }
    let first_on = sqlx::query_scalar!(
        r#"SELECT CASE WHEN status = 'published' THEN (published_at AT TIME ZONE 'Asia/Shanghai')::date ELSE planned_date END AS "on!"
           FROM notices WHERE visit_id = $1 AND kind = 'first' AND (status = 'published' OR scheduled_by IS NOT NULL)
           ORDER BY status = 'published' DESC, id DESC LIMIT 1"#,
        d.visit_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(notice_days
        .check_publish(&d.kind, d.visit_date, on, first_on)
        .err())
}

/// Plan the draft (saved with `c`) for 08:00 on `on`, in `user_id`'s name; a new plan clears the
/// reason an earlier one was refused. Audited.
pub async fn schedule(
    tx: &mut PgConnection,
    d: &LockedDraft,
    c: &Content,
    (on, user_id): (chrono::NaiveDate, i64),
    actor: &Actor,
) -> Result<(), AppError> {
    save_draft(tx, d, c, None, actor).await?;
    sqlx::query!(
        "UPDATE notices SET planned_date = $2, scheduled_by = $3, schedule_refused = NULL WHERE id = $1",
        d.id,
        on,
        user_id
    )
    .execute(&mut *tx)
    .await?;
    let detail = serde_json::json!({"visit_id": d.visit_id, "kind": d.kind, "planned_date": on});
    let entry = Entry::ok("notice.schedule")
        .on("notice", d.id)
        .detail(detail);
    audit::record(&mut *tx, actor, entry).await?;
    Ok(())
}

/// Withdraw the plan: the draft waits to be published by hand. Audited.
pub async fn unschedule(
    tx: &mut PgConnection,
    d: &LockedDraft,
    actor: &Actor,
) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE notices SET scheduled_by = NULL, schedule_refused = NULL WHERE id = $1",
        d.id
    )
    .execute(&mut *tx)
    .await?;
    let detail = serde_json::json!({"visit_id": d.visit_id, "kind": d.kind});
    let entry = Entry::ok("notice.unschedule")
        .on("notice", d.id)
        .detail(detail);
    audit::record(&mut *tx, actor, entry).await?;
    Ok(())
}
