//! `/staff/visits/{id}/notices`: the 一次公告 and 二次公告, generated from the visit, edited as drafts and
//! published on time; corrections (更正公告) of the date, time or venue once the public was told.

use crate::audit::{self, Entry};
use crate::clock::china_date;
use crate::clock::{cn_date, cn_minute};
use crate::error::AppError;
use crate::prepare::notice_store::NoticeView;
use crate::prepare::pages::visits::{channels_of, parse_date, parse_time};
use crate::prepare::plan::base_url;
use crate::prepare::plan::{self, CHANNELS, Change, hours};
use crate::prepare::visit_store::{facts, notify_registrants};
use crate::state::AppState;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use serde::Deserialize;

/// Error keys of a notice form, per kind (two forms may share the page).
fn key(kind: &str, field: &str) -> &'static str {
    match (kind, field) {
        ("first", "title") => "first-title",
        ("first", "body") => "first-body",
        ("first", "channels") => "first-channels",
        ("first", _) => "first-publish",
        (_, "title") => "second-title",
        (_, "body") => "second-body",
        (_, "channels") => "second-channels",
        _ => "second-publish",
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct DraftForm {
    title: String,
    body: String,
    channels: Vec<String>,
}

impl DraftForm {
    fn has_channel(&self, c: &&str) -> bool {
        self.channels.iter().any(|x| x == c)
    }
}

/// One of the two scheduled notices: published, a draft being edited, or not yet generated.
struct Slot {
    kind: &'static str,
    label: &'static str,
    latest: String,
    published: Option<NoticeView>,
    draft: Option<(i64, DraftForm)>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CorrectionForm {
    visit_date: String,
    starts_at: String,
    ends_at: String,
    venue: String,
    address: String,
    reason: String,
    channels: Vec<String>,
}

impl CorrectionForm {
    fn has_channel(&self, c: &&str) -> bool {
        self.channels.iter().any(|x| x == c)
    }
}

#[derive(Template)]
#[template(path = "prepare/notices.html")]
struct NoticesPage {
    layout: Layout,
    id: i64,
    status: String,
    when: String,
    place: String,
    slots: Vec<Slot>,
    others: Vec<NoticeView>,
    can_correct: bool,
    correction: CorrectionForm,
    errors: Errors,
    channels: [&'static str; 6],
}

impl NoticesPage {
    fn err(&self, kind: &str, field: &str) -> &str {
        self.errors.get(&format!("{kind}-{field}"))
    }
}

/// What the handler wants kept on a re-rendered page (the user's typing).
#[derive(Default)]
struct Kept {
    draft: Option<(i64, DraftForm)>,
    correction: Option<CorrectionForm>,
}

async fn notices_page(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    id: i64,
    kept: Kept,
    errors: Errors,
) -> Result<NoticesPage, AppError> {
    let facts = facts(
        &mut *state.db.acquire().await?,
        state.config.registration_close_time,
        id,
        &base_url(&state.config, headers),
    )
    .await?;
    let status = sqlx::query_scalar!("SELECT status FROM visits WHERE id = $1", id)
        .fetch_one(&state.db)
        .await?;
    let rows = sqlx::query!(
        "SELECT id, kind, title, body, channels, status, published_at FROM notices WHERE visit_id = $1 ORDER BY created_at, id",
        id
    )
    .fetch_all(&state.db)
    .await?;
    let mut slots: Vec<Slot> = [("first", "一次公告"), ("second", "二次公告")]
        .into_iter()
        .map(|(kind, label)| Slot {
            kind,
            label,
            latest: cn_date(state.config.notice_days.latest(kind, facts.date)),
            published: None,
            draft: None,
        })
        .collect();
    let mut others = Vec::new();
    for r in rows {
        let view = NoticeView {
            id: r.id,
            kind: r.kind.clone(),
            title: r.title.clone(),
            body: r.body.clone(),
            channels: r.channels.clone(),
            published: r.published_at.map(cn_minute),
        };
        match slots.iter_mut().find(|s| s.kind == r.kind) {
            Some(slot) if r.status == "published" => slot.published = Some(view),
            Some(slot) => {
                slot.draft = Some((
                    r.id,
                    DraftForm {
                        title: r.title,
                        body: r.body,
                        channels: r.channels,
                    },
                ))
            }
            None => others.push(view),
        }
    }
    if let Some((nid, form)) = kept.draft {
        if let Some(slot) = slots
            .iter_mut()
            .find(|s| s.draft.as_ref().is_some_and(|(d, _)| *d == nid))
        {
            slot.draft = Some((nid, form));
        }
    }
    let today = china_date(state.clock.now());
    let can_correct =
        matches!(status.as_str(), "announced" | "closed_for_registration") && today < facts.date;
    let correction = kept.correction.unwrap_or(CorrectionForm {
        visit_date: facts.date.to_string(),
        starts_at: facts.starts.format("%H:%M").to_string(),
        ends_at: facts.ends.format("%H:%M").to_string(),
        venue: facts.venue.clone(),
        address: facts.address.clone(),
        ..CorrectionForm::default()
    });
    Ok(NoticesPage {
        layout: ctx.layout(&format!("公告：{}", facts.title)),
        id,
        status,
        when: facts.when(),
        place: facts.place(),
        slots,
        others,
        can_correct,
        correction,
        errors,
        channels: CHANNELS,
    })
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Page {
    render(
        &notices_page(
            &state,
            &ctx,
            &headers,
            id,
            Kept::default(),
            Errors::default(),
        )
        .await?,
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct GenerateForm {
    kind: String,
}

/// Generate the draft of a first or second notice from the visit as it stands (or regenerate it).
pub async fn generate(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<GenerateForm>,
) -> Page {
    let kind = match f.kind.as_str() {
        "first" => "first",
        "second" => "second",
        _ => return Err(AppError::BadRequest("请选择一次公告或二次公告。".into())),
    };
    let user = ctx.user.as_ref().ok_or(AppError::Forbidden)?;
    let mut tx = state.db.begin().await?;
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
    let facts = facts(
        &mut tx,
        state.config.registration_close_time,
        id,
        &base_url(&state.config, &headers),
    )
    .await?;
    let (title, body) = plan::compose(kind, &facts);
    let planned = state.config.notice_days.latest(kind, v.visit_date);
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
                user.id
            )
            .fetch_one(&mut *tx)
            .await?
        }
    };
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("notice.generate")
            .on("notice", notice_id)
            .detail(serde_json::json!({"visit_id": id, "kind": kind})),
    )
    .await?;
    tx.commit().await?;
    let message = format!(
        "已根据活动信息生成{}草稿，请核对后发布。",
        plan::notice_kind_label(kind)
    );
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{id}/notices#{kind}"),
        &message,
    ))
}

/// The checked fields of a draft.
fn validate_draft(
    kind: &str,
    f: &DraftForm,
    errors: &mut Errors,
    publishing: bool,
) -> (String, String, Vec<String>) {
    let title = text(errors, key(kind, "title"), "公告标题", &f.title, 1, 100);
    let body = text(errors, key(kind, "body"), "公告正文", &f.body, 1, 20000);
    let channels = match channels_of(&f.channels) {
        Some(c) => c,
        None => {
            errors.add(key(kind, "channels"), "发布渠道不在可选范围内");
            Vec::new()
        }
    };
    if publishing && channels.is_empty() {
        errors.add(key(kind, "channels"), "请至少选择一个发布渠道");
    }
    (title, body, channels)
}

/// Save a draft's edits; with `publish`, also publish it if the dates allow.
async fn save(
    state: AppState,
    ctx: Ctx,
    headers: HeaderMap,
    id: i64,
    notice: i64,
    f: DraftForm,
    publish: bool,
) -> Page {
    let user = ctx.user.clone().ok_or(AppError::Forbidden)?;
    let mut tx = state.db.begin().await?;
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
    let kind = n.kind.as_str();
    let mut errors = Errors::default();
    let (title, body, channels) = validate_draft(kind, &f, &mut errors, publish);
    let now = state.clock.now();
    if publish && errors.is_empty() {
        let first_on = sqlx::query_scalar!("SELECT published_at FROM notices WHERE visit_id = $1 AND kind = 'first' AND status = 'published'", id)
            .fetch_optional(&mut *tx)
            .await?
            .flatten()
            .map(china_date);
        if let Err(message) =
            state
                .config
                .notice_days
                .check_publish(kind, v.visit_date, china_date(now), first_on)
        {
            errors.add(key(kind, "publish"), message);
        }
    }
    if !errors.is_empty() {
        if publish {
            let detail = serde_json::json!({"visit_id": id, "kind": kind, "refused": errors.get(key(kind, "publish"))});
            audit::record(
                &mut *tx,
                &ctx.actor(),
                Entry::failed("notice.publish")
                    .on("notice", notice)
                    .detail(detail),
            )
            .await?;
            tx.commit().await?;
        } else {
            drop(tx);
        }
        let kept = Kept {
            draft: Some((notice, f)),
            correction: None,
        };
        let page = notices_page(&state, &ctx, &headers, id, kept, errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let (published_at, published_by, status) = if publish {
        (Some(now), Some(user.id), "published")
    } else {
        (None, None, "draft")
    };
    sqlx::query!(
        "UPDATE notices SET title = $2, body = $3, channels = $4, status = $5, published_at = $6, published_by = $7 WHERE id = $1",
        notice,
        title,
        body,
        &channels,
        status,
        published_at,
        published_by
    )
    .execute(&mut *tx)
    .await?;
    let label = plan::notice_kind_label(kind);
    let message = if publish {
        if kind == "first" {
            // The first notice opens registration (DESIGN §3 visit states).
            sqlx::query!(
                "UPDATE visits SET status = 'announced' WHERE id = $1 AND status = 'draft'",
                id
            )
            .execute(&mut *tx)
            .await?;
        }
        let detail = serde_json::json!({"visit_id": id, "kind": kind, "channels": channels});
        audit::record(
            &mut *tx,
            &ctx.actor(),
            Entry::ok("notice.publish")
                .on("notice", notice)
                .detail(detail),
        )
        .await?;
        if kind == "first" {
            format!("{label}已发布，群众登记已开放。")
        } else {
            format!("{label}已发布。")
        }
    } else {
        audit::record(
            &mut *tx,
            &ctx.actor(),
            Entry::ok("notice.update")
                .on("notice", notice)
                .detail(serde_json::json!({"visit_id": id})),
        )
        .await?;
        format!("{label}草稿已保存。")
    };
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{id}/notices#{kind}"),
        &message,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, notice)): Path<(i64, i64)>,
    Form(f): Form<DraftForm>,
) -> Page {
    save(state, ctx, headers, id, notice, f, false).await
}

pub async fn publish(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, notice)): Path<(i64, i64)>,
    Form(f): Form<DraftForm>,
) -> Page {
    save(state, ctx, headers, id, notice, f, true).await
}

/// 更正公告: change the date, time or venue of an announced visit, telling the public what changed.
pub async fn correct(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CorrectionForm>,
) -> Page {
    let user = ctx.user.clone().ok_or(AppError::Forbidden)?;
    let mut tx = state.db.begin().await?;
    let v = sqlx::query!("SELECT status, visit_date, starts_at, ends_at, venue, address FROM visits WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let today = china_date(now);
    if !matches!(v.status.as_str(), "announced" | "closed_for_registration")
        || today >= v.visit_date
    {
        return Err(AppError::Conflict(
            "只有已公告、尚未到接访日的活动可以发布更正公告。".into(),
        ));
    }
    let published = sqlx::query!(
        "SELECT id, kind, published_at AS \"published_at!\" FROM notices WHERE visit_id = $1 AND status = 'published' AND kind IN ('first', 'second', 'correction')
         ORDER BY published_at DESC, id DESC",
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    let published_on = |kind: &str| {
        published
            .iter()
            .find(|n| n.kind == kind)
            .map(|n| china_date(n.published_at))
    };
    let mut errors = Errors::default();
    let new_date = parse_date(&f.visit_date);
    let starts = parse_time(&f.starts_at);
    let ends = parse_time(&f.ends_at);
    match new_date {
        None => errors.add("visit_date", "请填写接访日期，如 2026-12-12"),
        Some(d) if d != v.visit_date => {
            if let Err(m) = state.config.notice_days.check_new_date(
                d,
                today,
                published_on("first"),
                published_on("second"),
            ) {
                errors.add("visit_date", m);
            }
        }
        _ => {}
    }
    if starts.is_none() {
        errors.add("starts_at", "请填写开始时间，如 08:00");
    }
    match (starts, ends) {
        (_, None) => errors.add("ends_at", "请填写结束时间，如 17:00"),
        (Some(s), Some(e)) if e <= s => errors.add("ends_at", "结束时间须晚于开始时间"),
        _ => {}
    }
    let venue = text(&mut errors, "venue", "接访地点", &f.venue, 1, 100);
    let address = text(&mut errors, "address", "详细地址", &f.address, 0, 200);
    let reason = text(&mut errors, "reason", "更正原因", &f.reason, 1, 200);
    let channels = channels_of(&f.channels).unwrap_or_default();
    if channels.is_empty() {
        errors.add("channels", "请至少选择一个发布渠道");
    }
    let mut changes = Vec::new();
    if let (Some(d), Some(s), Some(e)) = (new_date, starts, ends) {
        if d != v.visit_date {
            changes.push(Change {
                label: "接访日期",
                old: cn_date(v.visit_date),
                new: cn_date(d),
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
                errors.add("starts_at", "已有群众登记了接访时段，不能更改接访时间；如确需更改，请取消本次活动后重新安排");
            }
        }
        if venue != v.venue {
            changes.push(Change {
                label: "接访地点",
                old: v.venue.clone(),
                new: venue.clone(),
            });
        }
        if address != v.address {
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
                new: shown(&address),
            });
        }
        if changes.is_empty() && errors.is_empty() {
            errors.add("visit_date", "接访日期、时间、地点均未改变，无需更正");
        }
    }
    let (Some(d), Some(s), Some(e)) = (new_date, starts, ends) else {
        drop(tx);
        return correction_refused(&state, &ctx, &headers, id, f, errors).await;
    };
    if !errors.is_empty() {
        drop(tx);
        return correction_refused(&state, &ctx, &headers, id, f, errors).await;
    }
    let old_facts = facts(
        &mut tx,
        state.config.registration_close_time,
        id,
        &base_url(&state.config, &headers),
    )
    .await?;
    let (title, body) = plan::compose_correction(&old_facts, &changes, &reason);
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
        &channels,
        today,
        now,
        user.id
    )
    .fetch_one(&mut *tx)
    .await?;
    let shift_days = (d - v.visit_date).num_days() as i32;
    // An explicit registration close moves with the day.
    sqlx::query!(
        "UPDATE visits SET visit_date = $2, starts_at = $3, ends_at = $4, venue = $5, address = $6,
                registration_closes_at = registration_closes_at + make_interval(days => $7)
         WHERE id = $1",
        id,
        d,
        s,
        e,
        venue,
        address,
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
    if (s, e) != (v.starts_at, v.ends_at) {
        // Nothing is booked (checked above): existing windows follow the new hours.
        let has_windows = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM reception_windows WHERE visit_id = $1) AS "e!""#,
            id
        )
        .fetch_one(&mut *tx)
        .await?;
        if has_windows {
            let _ = crate::prepare::pages::rooms::regenerate_windows(&mut tx, id, false).await?;
        }
    }
    let what = changes
        .iter()
        .map(|c| format!("{}：{} → {}", c.label, c.old, c.new))
        .collect::<Vec<_>>()
        .join("；");
    let message = format!(
        "【下访接访】您登记的“{}”有变更：{what}。请按更正后的时间、地点到场。",
        old_facts.title
    );
    let notified = notify_registrants(
        &mut tx,
        id,
        "visit.corrected",
        &message,
        serde_json::json!({"visit_id": id, "notice_id": notice_id}),
    )
    .await?;
    let detail = serde_json::json!({
        "visit_id": id, "corrects": corrects, "reason": reason, "notified": notified,
        "changes": changes.iter().map(|c| serde_json::json!({"field": c.label, "old": c.old, "new": c.new})).collect::<Vec<_>>(),
    });
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("notice.correct")
            .on("notice", notice_id)
            .detail(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{id}/notices"),
        &format!("更正公告已发布，活动信息已更新，已通知 {notified} 批登记群众。"),
    ))
}

async fn correction_refused(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    id: i64,
    f: CorrectionForm,
    errors: Errors,
) -> Page {
    let page = notices_page(
        state,
        ctx,
        headers,
        id,
        Kept {
            draft: None,
            correction: Some(f),
        },
        errors,
    )
    .await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
