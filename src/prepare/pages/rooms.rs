//! `/staff/visits/{id}/rooms`: the reception rooms (接待室) — who sits there, for which departments and
//! categories — and the reception windows (接访时段) derived from the day's hours, the rooms and the slot length.

use crate::admin::CategoryGroup;
use crate::error::AppError;
use crate::prepare::plan::{self, hours};
use crate::prepare::room_store::{self, Valid};
use crate::prepare::windows::{self, lock_plannable};
use crate::state::AppState;
use crate::web::form::{Choice, ids};
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;

const PLANNABLE: [&str; 3] = ["draft", "announced", "closed_for_registration"];

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RoomForm {
    name: String,
    location: String,
    leader_ids: Vec<String>,
    department_ids: Vec<String>,
    category_ids: Vec<String>,
}

impl RoomForm {
    fn has(list: &[String], id: &i64) -> bool {
        list.iter().any(|c| c.trim() == id.to_string())
    }
    fn has_leader(&self, id: &i64) -> bool {
        Self::has(&self.leader_ids, id)
    }
    fn has_department(&self, id: &i64) -> bool {
        Self::has(&self.department_ids, id)
    }
    fn has_category(&self, id: &i64) -> bool {
        Self::has(&self.category_ids, id)
    }
}

struct Options {
    leaders: Vec<Choice>,
    departments: Vec<Choice>,
    groups: Vec<CategoryGroup>,
}

impl Options {
    /// The active leaders and departments of the host's line: its own, those below and those above
    /// it (a provincial visit seats provincial and county departments), never a sibling county's.
    async fn load(state: &AppState, visit_id: i64) -> sqlx::Result<Self> {
        let leaders = sqlx::query_as!(
            Choice,
            r#"SELECT l.id, l.name || '（' || l.title || '）' AS "label!" FROM leaders l
               WHERE l.active AND seats_at_visit(l.county_id, $1)
               ORDER BY array_position(ARRAY['province', 'city', 'county', 'township'], l.level), l.name"#,
            visit_id
        )
        .fetch_all(&state.db)
        .await?;
        let departments = sqlx::query_as!(
            Choice,
            "SELECT d.id, d.name AS label FROM departments d
             WHERE d.active AND seats_at_visit(d.jurisdiction_id, $1)
             ORDER BY d.name",
            visit_id
        )
        .fetch_all(&state.db)
        .await?;
        let groups = crate::admin::category_groups(&state.db, &[]).await?;
        Ok(Self {
            leaders,
            departments,
            groups,
        })
    }
}

fn validate(f: &RoomForm, o: &Options, errors: &mut Errors) -> Option<Valid> {
    let name = text(errors, "name", "接待室名称", &f.name, 1, 30);
    let location = text(errors, "location", "位置", &f.location, 0, 100);
    let leader_ids =
        ids(&f.leader_ids).filter(|v| v.iter().all(|id| o.leaders.iter().any(|c| c.id == *id)));
    if leader_ids.is_none() {
        errors.add("leader_ids", "所选接待领导不存在，请重新选择");
    }
    let department_ids = ids(&f.department_ids)
        .filter(|v| v.iter().all(|id| o.departments.iter().any(|c| c.id == *id)));
    if department_ids.is_none() {
        errors.add("department_ids", "所选责任单位不存在，请重新选择");
    }
    let category_ids = ids(&f.category_ids).filter(|v| {
        v.iter().all(|id| {
            o.groups
                .iter()
                .any(|g| g.options.iter().any(|c| c.id == *id))
        })
    });
    if category_ids.is_none() {
        errors.add("category_ids", "所选问题类别不存在或已停用，请重新选择");
    }
    if !errors.is_empty() {
        return None;
    }
    Some(Valid {
        name,
        location,
        leader_ids: leader_ids?,
        department_ids: department_ids?,
        category_ids: category_ids?,
    })
}

struct RoomRow {
    id: i64,
    name: String,
    location: String,
    leaders: String,
    departments: String,
    categories: String,
    in_use: bool,
}

struct WindowRow {
    id: i64,
    label: String,
    capacity: i32,
    booked: i32,
    /// The typed value when this window's form was refused.
    typed: Option<String>,
}

impl WindowRow {
    fn value(&self) -> String {
        self.typed
            .clone()
            .unwrap_or_else(|| self.capacity.to_string())
    }
}

#[derive(Template)]
#[template(path = "prepare/rooms.html")]
struct RoomsPage {
    layout: Layout,
    id: i64,
    plannable: bool,
    hours: String,
    slot_minutes: i32,
    rooms: Vec<RoomRow>,
    windows: Vec<WindowRow>,
    total_capacity: i64,
    total_booked: i64,
    planned_capacity: i64,
    any_booked: bool,
    form: RoomForm,
    errors: Errors,
    options: Options,
    /// A refused capacity: (window id, message).
    window_error: Option<(i64, String)>,
    /// Why 生成接访时段 was refused, shown at the top.
    refusal: Option<String>,
}

impl RoomsPage {
    fn window_error_for(&self, id: &i64) -> &str {
        match &self.window_error {
            Some((w, m)) if w == id => m,
            _ => "",
        }
    }
}

async fn rooms_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    form: RoomForm,
    errors: Errors,
    window_error: Option<(i64, String, String)>,
) -> Result<RoomsPage, AppError> {
    let v = sqlx::query!(
        "SELECT title, status, starts_at, ends_at, slot_minutes FROM visits WHERE id = $1",
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    let rooms = sqlx::query_as!(
        RoomRow,
        r#"SELECT r.id, r.name, r.location,
                  COALESCE((SELECT string_agg(l.name, '、' ORDER BY l.name) FROM room_leaders rl JOIN leaders l ON l.id = rl.leader_id WHERE rl.room_id = r.id), '') AS "leaders!",
                  COALESCE((SELECT string_agg(d.short_name, '、' ORDER BY d.name) FROM room_departments rd JOIN departments d ON d.id = rd.department_id WHERE rd.room_id = r.id), '') AS "departments!",
                  COALESCE((SELECT string_agg(c.name, '、' ORDER BY c.sort_order, c.name) FROM room_categories rc JOIN categories c ON c.id = rc.category_id WHERE rc.room_id = r.id), '') AS "categories!",
                  (EXISTS (SELECT 1 FROM registrations g WHERE g.room_id = r.id) OR EXISTS (SELECT 1 FROM receptions e WHERE e.room_id = r.id)) AS "in_use!"
           FROM rooms r WHERE r.visit_id = $1 ORDER BY r.sort_order, r.id"#,
        id
    )
    .fetch_all(&state.db)
    .await?;
    let windows: Vec<WindowRow> = sqlx::query!(
        "SELECT id, starts_at, ends_at, capacity_slots, booked_slots FROM reception_windows WHERE visit_id = $1 ORDER BY starts_at",
        id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|w| WindowRow {
        id: w.id,
        label: hours(w.starts_at.with_timezone(&Shanghai).time(), w.ends_at.with_timezone(&Shanghai).time()),
        capacity: w.capacity_slots,
        booked: w.booked_slots,
        typed: window_error.as_ref().filter(|(wid, _, _)| *wid == w.id).map(|(_, _, typed)| typed.clone()),
    })
    .collect();
    let any_booked = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM registrations WHERE visit_id = $1 AND window_id IS NOT NULL) AS "e!""#, id)
        .fetch_one(&state.db)
        .await?;
    let planned = plan::total_capacity(&plan::plan_windows(
        v.starts_at,
        v.ends_at,
        rooms.len() as i64,
        v.slot_minutes as i64,
    ));
    Ok(RoomsPage {
        layout: ctx.layout(&format!("接待室与接访时段：{}", v.title)),
        id,
        plannable: PLANNABLE.contains(&v.status.as_str()),
        hours: hours(v.starts_at, v.ends_at),
        slot_minutes: v.slot_minutes,
        total_capacity: windows.iter().map(|w| w.capacity as i64).sum(),
        total_booked: windows.iter().map(|w| w.booked as i64).sum(),
        planned_capacity: planned,
        any_booked,
        rooms,
        windows,
        form,
        errors,
        options: Options::load(state, id).await?,
        window_error: window_error.map(|(w, m, _)| (w, m)),
        refusal: None,
    })
}

pub async fn page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(
        &rooms_page(
            &state,
            &ctx,
            id,
            RoomForm::default(),
            Errors::default(),
            None,
        )
        .await?,
    )
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<RoomForm>,
) -> Page {
    let mut tx = state.db.begin().await?;
    lock_plannable(&mut tx, id).await?;
    let mut errors = Errors::default();
    let options = Options::load(&state, id).await?;
    if let Some(v) = validate(&f, &options, &mut errors) {
        match room_store::create(&mut tx, id, &v, &ctx.actor()).await? {
            Ok(_) => {
                tx.commit().await?;
                let message = format!("已添加接待室：{}。", v.name);
                let to = format!("/staff/visits/{id}/rooms");
                return Ok(redirect_with_flash(&state, &to, &message));
            }
            Err(taken) => errors.add("name", taken),
        }
    }
    drop(tx);
    let page = rooms_page(&state, &ctx, id, f, errors, None).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Template)]
#[template(path = "prepare/room.html")]
struct RoomPage {
    layout: Layout,
    id: i64,
    room: i64,
    form: RoomForm,
    errors: Errors,
    options: Options,
}

async fn room_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    room: i64,
    form: Option<RoomForm>,
    errors: Errors,
) -> Result<RoomPage, AppError> {
    let r = sqlx::query!(
        r#"SELECT name, location,
                  COALESCE(ARRAY(SELECT leader_id FROM room_leaders WHERE room_id = $1), '{}') AS "leader_ids!",
                  COALESCE(ARRAY(SELECT department_id FROM room_departments WHERE room_id = $1), '{}') AS "department_ids!",
                  COALESCE(ARRAY(SELECT category_id FROM room_categories WHERE room_id = $1), '{}') AS "category_ids!"
           FROM rooms WHERE id = $1 AND visit_id = $2"#,
        room,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    let form = form.unwrap_or(RoomForm {
        name: r.name.clone(),
        location: r.location,
        leader_ids: r.leader_ids.iter().map(i64::to_string).collect(),
        department_ids: r.department_ids.iter().map(i64::to_string).collect(),
        category_ids: r.category_ids.iter().map(i64::to_string).collect(),
    });
    Ok(RoomPage {
        layout: ctx.layout(&format!("接待室：{}", r.name)),
        id,
        room,
        form,
        errors,
        options: Options::load(state, id).await?,
    })
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, room)): Path<(i64, i64)>,
) -> Page {
    render(&room_page(&state, &ctx, id, room, None, Errors::default()).await?)
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, room)): Path<(i64, i64)>,
    Form(f): Form<RoomForm>,
) -> Page {
    let mut tx = state.db.begin().await?;
    lock_plannable(&mut tx, id).await?;
    room_store::lock(&mut tx, id, room).await?;
    let mut errors = Errors::default();
    let options = Options::load(&state, id).await?;
    if let Some(v) = validate(&f, &options, &mut errors) {
        match room_store::update(&mut tx, id, room, &v, &ctx.actor()).await? {
            Ok(()) => {
                tx.commit().await?;
                let message = format!("已保存接待室：{}。", v.name);
                let to = format!("/staff/visits/{id}/rooms");
                return Ok(redirect_with_flash(&state, &to, &message));
            }
            Err(taken) => errors.add("name", taken),
        }
    }
    drop(tx);
    let page = room_page(&state, &ctx, id, room, Some(f), errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// `confirm=1` once the step asking first was answered.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    confirm: String,
}

/// 确认删除: what will be deleted, and the way back.
#[derive(Template)]
#[template(path = "prepare/room_delete.html")]
struct DeleteStep {
    layout: Layout,
    id: i64,
    room: i64,
    name: String,
}

/// Delete a room nobody has been scheduled into yet, after a confirmation step (a page, so it
/// works without JavaScript).
pub async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, room)): Path<(i64, i64)>,
    Form(c): Form<ConfirmForm>,
) -> Page {
    let mut tx = state.db.begin().await?;
    lock_plannable(&mut tx, id).await?;
    if c.confirm != "1" {
        let name = room_store::deletable(&mut tx, id, room).await?;
        let layout = ctx.layout("确认删除接待室");
        return render(&DeleteStep {
            layout,
            id,
            room,
            name,
        });
    }
    let name = room_store::delete(&mut tx, id, room, &ctx.actor()).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{id}/rooms"),
        &format!("已删除接待室：{name}。"),
    ))
}

/// 生成接访时段; a refusal (no room yet, places already booked, visit past planning) re-renders
/// the page with the reason at the top.
pub async fn generate_windows(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let (count, total) = match windows::generate(&mut tx, id, &ctx.actor()).await {
        Err(AppError::Conflict(reason)) => {
            drop(tx);
            let (form, errors) = (RoomForm::default(), Errors::default());
            let mut page = rooms_page(&state, &ctx, id, form, errors, None).await?;
            page.refusal = Some(reason);
            return Ok(render_status(StatusCode::CONFLICT, &page));
        }
        done => done?,
    };
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{id}/rooms#windows"),
        &format!("已生成 {count} 个接访时段，共 {total} 个号。"),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CapacityForm {
    capacity: String,
}

/// Adjust one window's capacity: never below what is already booked.
pub async fn set_capacity(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, window)): Path<(i64, i64)>,
    Form(f): Form<CapacityForm>,
) -> Page {
    let capacity = match f.capacity.trim().parse::<i32>() {
        Ok(n) if (0..=10_000).contains(&n) => Ok(n),
        _ => Err("容量须为 0–10000 的整数".to_owned()),
    };
    let (actor, now) = (ctx.actor(), state.clock.now());
    let n = capacity.clone().unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let set = match capacity {
        Ok(capacity) => windows::set_capacity(&mut tx, id, window, capacity, &actor, now).await?,
        Err(message) => windows::check_window(&mut tx, id, window)
            .await
            .map(|_| Err(message))?,
    };
    match set {
        Ok(promoted) => {
            tx.commit().await?;
            let message = format!("时段容量已改为 {n}，候补递补 {promoted} 人。");
            let to = format!("/staff/visits/{id}/rooms#windows");
            Ok(redirect_with_flash(&state, &to, &message))
        }
        Err(message) => {
            drop(tx);
            let refused = Some((window, message, f.capacity.clone()));
            let (form, errors) = (RoomForm::default(), Errors::default());
            let page = rooms_page(&state, &ctx, id, form, errors, refused).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}
