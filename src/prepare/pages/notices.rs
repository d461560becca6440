//! `/staff/visits/{id}/notices`: the 一次公告 and 二次公告, generated from the visit, edited as drafts and
//! published on time; corrections (更正公告) of the date, time or venue once the public was told.

use crate::clock::china_date;
use crate::clock::{cn_date, cn_minute};
use crate::error::AppError;
use crate::prepare::notice_correction::{self as correction, Corrected};
use crate::prepare::notice_store::{self, NoticeView};
use crate::prepare::pages::visit_form::{channels_of, parse_date, parse_time};
use crate::prepare::plan::{self, CHANNELS};
use crate::prepare::visit_store::facts;
use crate::state::AppState;
use crate::web::base_url;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Datelike;

use serde::Deserialize;

/// Error keys of a notice form, per kind (two forms may share the page).
fn key(kind: &str, field: &str) -> &'static str {
    match (kind, field) {
        ("first", "title") => "first-title",
        ("first", "body") => "first-body",
        ("first", "channels") => "first-channels",
        ("first", "planned_on") => "first-planned_on",
        ("first", _) => "first-publish",
        (_, "title") => "second-title",
        (_, "body") => "second-body",
        (_, "channels") => "second-channels",
        (_, "planned_on") => "second-planned_on",
        _ => "second-publish",
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct DraftForm {
    title: String,
    body: String,
    channels: Vec<String>,
    /// The date of a scheduled publication (08:00 China time).
    planned_on: String,
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
    /// 待发布（计划 12月9日 8:00）while the draft is scheduled.
    plan: Option<String>,
    /// Why the jobs did not publish it on its planned date.
    plan_refused: Option<String>,
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

    /// The fields checked on their own; the rest is checked against the visit.
    fn draft(&self) -> (Errors, correction::Draft) {
        let mut errors = Errors::default();
        let date = parse_date(&self.visit_date);
        let starts = parse_time(&self.starts_at);
        let ends = parse_time(&self.ends_at);
        if date.is_none() {
            errors.add("visit_date", "请填写接访日期，如 2026-12-12");
        }
        if starts.is_none() {
            errors.add("starts_at", "请填写开始时间，如 08:00");
        }
        match (starts, ends) {
            (_, None) => errors.add("ends_at", "请填写结束时间，如 17:00"),
            (Some(s), Some(e)) if e <= s => errors.add("ends_at", "结束时间须晚于开始时间"),
            _ => {}
        }
        let venue = text(&mut errors, "venue", "接访地点", &self.venue, 1, 100);
        let address = text(&mut errors, "address", "详细地址", &self.address, 0, 200);
        let reason = text(&mut errors, "reason", "更正原因", &self.reason, 1, 200);
        let channels = channels_of(&self.channels).unwrap_or_default();
        if channels.is_empty() {
            errors.add("channels", "请至少选择一个发布渠道");
        }
        let fields_ok = errors.is_empty();
        let draft = correction::Draft {
            date,
            starts,
            ends,
            venue,
            address,
            reason,
            channels,
            fields_ok,
        };
        (errors, draft)
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

/// 待发布（计划 12月9日 8:00）
fn plan_label(on: chrono::NaiveDate) -> String {
    let hour = notice_store::SCHEDULED_HOUR;
    format!("待发布（计划 {}月{}日 {hour}:00）", on.month(), on.day())
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
        "SELECT id, kind, title, body, channels, status, published_at, planned_date, scheduled_by, schedule_refused FROM notices WHERE visit_id = $1 ORDER BY created_at, id",
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
            plan: None,
            plan_refused: None,
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
                let scheduled = r.scheduled_by.is_some();
                slot.plan = scheduled.then(|| plan_label(r.planned_date));
                slot.plan_refused = r.schedule_refused;
                let planned_on = scheduled.then(|| r.planned_date.to_string());
                let form = DraftForm {
                    title: r.title,
                    body: r.body,
                    channels: r.channels,
                    planned_on: planned_on.unwrap_or_default(),
                };
                slot.draft = Some((r.id, form))
            }
            None => others.push(view),
        }
    }
    if let Some((nid, form)) = kept.draft
        && let Some(slot) = slots
            .iter_mut()
            .find(|s| s.draft.as_ref().is_some_and(|(d, _)| *d == nid))
    {
        slot.draft = Some((nid, form));
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
    let draft = notice_store::Drafting {
        user_id: user.id,
        actor: &ctx.actor(),
        base_url: &base_url(&state.config, &headers),
        close_time: state.config.registration_close_time,
        notice_days: &state.config.notice_days,
    };
    let mut tx = state.db.begin().await?;
    notice_store::generate_draft(&mut tx, id, kind, draft).await?;
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
    let (now, actor) = (state.clock.now(), ctx.actor());
    let mut tx = state.db.begin().await?;
    let draft = notice_store::lock_draft(&mut tx, id, notice).await?;
    let kind = draft.kind.as_str();
    let mut errors = Errors::default();
    let (title, body, channels) = validate_draft(kind, &f, &mut errors, publish);
    if publish && errors.is_empty() {
        let days = &state.config.notice_days;
        if let Some(message) = notice_store::publish_refusal(&mut tx, &draft, now, days).await? {
            errors.add(key(kind, "publish"), message);
        }
    }
    if !errors.is_empty() {
        if publish {
            let refused = errors.get(key(kind, "publish"));
            notice_store::record_refused_publish(&mut tx, &draft, refused, &actor).await?;
            tx.commit().await?;
        }
        return draft_refused(&state, &ctx, &headers, (id, notice), f, errors).await;
    }
    let content = notice_store::Content {
        title,
        body,
        channels,
    };
    let published = publish.then_some((now, user.id));
    notice_store::save_draft(&mut tx, &draft, &content, published, &actor).await?;
    tx.commit().await?;
    let label = plan::notice_kind_label(kind);
    let message = match (publish, kind) {
        (true, "first") => format!("{label}已发布，群众登记已开放。"),
        (true, _) => format!("{label}已发布。"),
        (false, _) => format!("{label}草稿已保存。"),
    };
    let to = format!("/staff/visits/{id}/notices#{kind}");
    Ok(redirect_with_flash(&state, &to, &message))
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

/// The notices page again with the draft as typed and why it was refused (422).
async fn draft_refused(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    (id, notice): (i64, i64),
    f: DraftForm,
    errors: Errors,
) -> Page {
    let kept = Kept {
        draft: Some((notice, f)),
        correction: None,
    };
    let page = notices_page(state, ctx, headers, id, kept, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// The planned date as typed, if the notice periods would allow publishing the draft then.
async fn planned_on(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    draft: &notice_store::LockedDraft,
    typed: &str,
    errors: &mut Errors,
) -> Result<Option<chrono::NaiveDate>, AppError> {
    let field = key(&draft.kind, "planned_on");
    let Some(on) = parse_date(typed) else {
        errors.add(field, "请填写计划发布日期，如 2026-12-09");
        return Ok(None);
    };
    let (now, days) = (state.clock.now(), &state.config.notice_days);
    match notice_store::schedule_refusal(tx, draft, on, now, days).await? {
        Some(why) => {
            errors.add(field, why);
            Ok(None)
        }
        None => Ok(Some(on)),
    }
}

/// 定时发布: save the draft and plan it for 08:00 on a date; the jobs publish it then if the
/// notice periods still allow.
pub async fn schedule(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, notice)): Path<(i64, i64)>,
    Form(f): Form<DraftForm>,
) -> Page {
    let user = ctx.user.clone().ok_or(AppError::Forbidden)?;
    let mut tx = state.db.begin().await?;
    let draft = notice_store::lock_draft(&mut tx, id, notice).await?;
    let mut errors = Errors::default();
    let (title, body, channels) = validate_draft(&draft.kind, &f, &mut errors, true);
    let on = planned_on(&mut tx, &state, &draft, &f.planned_on, &mut errors).await?;
    let Some(on) = on.filter(|_| errors.is_empty()) else {
        drop(tx);
        return draft_refused(&state, &ctx, &headers, (id, notice), f, errors).await;
    };
    let content = notice_store::Content {
        title,
        body,
        channels,
    };
    notice_store::schedule(&mut tx, &draft, &content, (on, user.id), &ctx.actor()).await?;
    tx.commit().await?;
    let label = plan::notice_kind_label(&draft.kind);
    let message = format!("{label}{}，届时自动发布。", plan_label(on));
    let to = format!("/staff/visits/{id}/notices#{}", draft.kind);
    Ok(redirect_with_flash(&state, &to, &message))
}

/// 取消定时: the draft waits to be published by hand.
pub async fn unschedule(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, notice)): Path<(i64, i64)>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let draft = notice_store::lock_draft(&mut tx, id, notice).await?;
    notice_store::unschedule(&mut tx, &draft, &ctx.actor()).await?;
    tx.commit().await?;
    let label = plan::notice_kind_label(&draft.kind);
    let to = format!("/staff/visits/{id}/notices#{}", draft.kind);
    Ok(redirect_with_flash(
        &state,
        &to,
        &format!("已取消{label}的定时发布。"),
    ))
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
    let (mut errors, draft) = f.draft();
    let (actor, base_url) = (ctx.actor(), base_url(&state.config, &headers));
    let env = correction::Env {
        now: state.clock.now(),
        user_id: user.id,
        actor: &actor,
        base_url: &base_url,
        close_time: state.config.registration_close_time,
        notice_days: &state.config.notice_days,
    };
    let mut tx = state.db.begin().await?;
    match correction::publish(&mut tx, id, &draft, env).await? {
        Corrected::Published { notified } => {
            tx.commit().await?;
            let message = format!("更正公告已发布，活动信息已更新，已通知 {notified} 批登记群众。");
            Ok(redirect_with_flash(
                &state,
                &format!("/staff/visits/{id}/notices"),
                &message,
            ))
        }
        Corrected::Refused(refusals) => {
            drop(tx);
            for (field, message) in refusals {
                errors.add(field, message);
            }
            correction_refused(&state, &ctx, &headers, id, f, errors).await
        }
    }
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
