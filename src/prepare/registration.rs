//! 来访登记: the one validation and the one booking transaction behind every channel (the public
//! form, staff on a citizen's behalf), the open period, codes, cancellation and the waiting list.

use crate::audit::{self, Actor, Entry};
use crate::clock::china_minute;
use crate::error::AppError;
use crate::notify;
use crate::prepare::screening;
use crate::privacy::{self, Field};
use crate::state::AppState;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render_status};
use crate::web::{Ctx, redirect_with_flash, session};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use rand::seq::IndexedRandom;
use serde::Deserialize;
use sqlx::PgConnection;

// ---- pure rules ----------------------------------------------------------------------------

/// No look-alikes (0/O, 1/I/L): codes are read out over the phone and typed by hand.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// 31^10 ≈ 8×10^14 codes: not guessable, never sequential.
pub const CODE_LEN: usize = 10;

pub fn new_code(rng: &mut impl rand::Rng) -> String {
    (0..CODE_LEN)
        .map(|_| *CODE_ALPHABET.choose(rng).unwrap() as char)
        .collect()
}

/// What people type as a code: spaces dropped, upper-cased.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

/// A batch of more than 5 persons takes two slots.
pub fn slots_for(persons: i32) -> i16 {
    if persons > 5 { 2 } else { 1 }
}

#[derive(Debug, PartialEq)]
pub enum Closed {
    /// No published first notice yet (or the visit is still a draft).
    NotYet,
    Over,
    Cancelled,
}

/// Registration is open from the first notice's publication until the close time, while announced.
pub fn open_period(
    status: &str,
    first_notice_at: Option<DateTime<Utc>>,
    closes: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Closed> {
    match status {
        "cancelled" => return Err(Closed::Cancelled),
        "draft" => return Err(Closed::NotYet),
        "announced" => {}
        _ => return Err(Closed::Over),
    }
    match first_notice_at {
        Some(t) if t <= now => {}
        _ => return Err(Closed::NotYet),
    }
    if now >= closes {
        Err(Closed::Over)
    } else {
        Ok(())
    }
}

/// 代表姓名: one per line, or separated by 、 ， or ,.
pub fn parse_representatives(s: &str) -> Vec<String> {
    s.split(['\n', '\r', '、', '，', ','].as_ref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The window chosen: `123` books, `123:waitlist` (or the 加入候补 button) joins its waiting list
/// when it is full.
pub fn parse_window_choice(window_id: &str, join_waitlist: &str) -> Option<(i64, bool)> {
    if let Ok(id) = join_waitlist.trim().parse() {
        return Some((id, true));
    }
    let v = window_id.trim();
    match v.strip_suffix(":waitlist") {
        Some(id) => id.parse().ok().map(|id| (id, true)),
        None => v.parse().ok().map(|id| (id, false)),
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct RegistrationForm {
    pub form_token: String,
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub address: String,
    pub township: String,
    pub persons: String,
    pub representatives: String,
    pub category_id: String,
    pub grievance: String,
    pub window_id: String,
    pub join_waitlist: String,
    /// Public form: 我已阅读并同意《个人信息处理告知》.
    pub consent: String,
    /// Staff form: 已告知个人信息处理规则.
    pub informed: String,
    /// Walk-in: the room staff chose when no room is competent for the category.
    pub room_id: String,
}

/// A form that passed validation, normalised.
#[derive(Debug)]
pub struct Valid {
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub address: String,
    pub township: String,
    pub persons: i32,
    pub representatives: Vec<String>,
    pub category_id: i64,
    pub grievance: String,
    /// None for a walk-in: it is queued in a room at once, not booked in a window.
    pub window_id: Option<i64>,
    pub waitlist: bool,
    /// Walk-in: the room staff picked (checked against the visit's rooms when placing).
    pub room_id: Option<i64>,
}

/// Check every field (lengths as the DB CHECKs in 0002), with Chinese messages beside each.
/// `categories` and `windows` are the ids the form offered. A walk-in needs no window, and its
/// phone is optional (the batch is at the desk; the schema allows it for staff channels).
pub fn validate(
    f: &RegistrationForm,
    channel: Channel,
    categories: &[i64],
    windows: &[i64],
    errors: &mut Errors,
) -> Option<Valid> {
    let walk_in = channel == Channel::WalkIn;
    let name = text(errors, "name", "姓名", &f.name, 1, 50);
    let id_number = privacy::normalize_id_number(&f.id_number);
    if id_number.is_empty() {
        errors.add("id_number", "请填写身份证号");
    } else if !privacy::valid_id_number(&id_number) {
        errors.add(
            "id_number",
            "身份证号不正确，请核对（18 位，最后一位可能是 X）",
        );
    }
    let phone: String = f
        .phone
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if phone.is_empty() {
        if !walk_in {
            errors.add("phone", "请填写手机号码");
        }
    } else if !privacy::valid_phone(&phone) {
        errors.add("phone", "手机号码应为 11 位数字，以 13–19 开头");
    }
    let address = text(errors, "address", "现住址", &f.address, 1, 200);
    let township = text(errors, "township", "所属乡镇", &f.township, 1, 30);
    let persons = match f.persons.trim().parse::<i32>() {
        Ok(n) if (1..=200).contains(&n) => n,
        _ => {
            errors.add("persons", "来访人数应为 1–200 之间的整数");
            0
        }
    };
    let mut representatives = Vec::new();
    if persons > 5 {
        representatives = parse_representatives(&f.representatives);
        if representatives.is_empty() {
            errors.add(
                "representatives",
                "来访人数超过 5 人的，请推选代表并填写代表姓名（1–5 名）",
            );
        } else if representatives.len() > 5 {
            errors.add("representatives", "代表不超过 5 人");
        } else if representatives.iter().any(|n| n.chars().count() > 50) {
            errors.add("representatives", "每位代表姓名不超过 50 个字");
        }
    }
    let category_id = f
        .category_id
        .trim()
        .parse()
        .ok()
        .filter(|id| categories.contains(id));
    if category_id.is_none() {
        errors.add("category_id", "请选择问题类别");
    }
    let grievance = text(errors, "grievance", "诉求内容", &f.grievance, 1, 2000);
    let window =
        parse_window_choice(&f.window_id, &f.join_waitlist).filter(|(id, _)| windows.contains(id));
    if window.is_none() && !walk_in {
        errors.add("window_id", "请选择接访时段");
    }
    if channel != Channel::Online {
        if f.informed.trim().is_empty() {
            errors.add("informed", "请确认已向来访人告知个人信息处理规则");
        }
    } else if f.consent.trim().is_empty() {
        errors.add("consent", "请阅读并同意《个人信息处理告知》后再提交");
    }
    let (window_id, waitlist) = match window {
        Some((id, wait)) => (Some(id), wait),
        None => (None, false),
    };
    if !errors.is_empty() {
        return None;
    }
    Some(Valid {
        name,
        id_number,
        phone,
        address,
        township,
        persons,
        representatives,
        category_id: category_id?,
        grievance,
        window_id,
        waitlist,
        room_id: if walk_in {
            f.room_id.trim().parse().ok()
        } else {
            None
        },
    })
}

// ---- the visit, its windows and categories ------------------------------------------------

pub struct VisitInfo {
    pub id: i64,
    pub title: String,
    pub date: NaiveDate,
    pub hours: String,
    pub venue: String,
    pub address: String,
    pub status: String,
    pub first_notice_at: Option<DateTime<Utc>>,
    pub closes_at: DateTime<Utc>,
}

impl VisitInfo {
    pub fn date_label(&self) -> String {
        crate::clock::cn_date(self.date)
    }
    pub fn closes_label(&self) -> String {
        crate::clock::cn_minute(self.closes_at)
    }

    /// Why registration is closed now, with the dates, or None when it is open.
    pub fn closed_message(&self, now: DateTime<Utc>) -> Option<String> {
        let close = self.closes_label();
        let when = format!("接访日期：{} {}。", self.date_label(), self.hours);
        match open_period(&self.status, self.first_notice_at, self.closes_at, now).err()? {
            Closed::Cancelled => Some(format!("本次接访活动已取消，不再接受登记。{when}")),
            Closed::NotYet => Some(match self.first_notice_at {
                Some(t) => format!(
                    "登记尚未开始：登记时间为 {} 至 {close}。{when}",
                    china_minute(t)
                ),
                None => format!(
                    "本次接访尚未发布公告，登记尚未开始；公告发布后即可登记，截止时间为 {close}。{when}"
                ),
            }),
            Closed::Over => Some(format!(
                "本次接访登记已于 {close} 截止{}。{when}接访当天可到现场登记。",
                self.first_notice_at
                    .map(|t| format!("（登记时间：{} 至 {close}）", china_minute(t)))
                    .unwrap_or_default()
            )),
        }
    }
}

pub async fn load_visit(state: &AppState, id: i64) -> Result<VisitInfo, AppError> {
    let v = sqlx::query!(
        r#"SELECT v.id, v.title, v.visit_date, v.starts_at, v.ends_at, v.venue, v.address, v.status, v.registration_closes_at,
                  (SELECT min(n.published_at) FROM notices n
                    WHERE n.visit_id = v.id AND n.kind = 'first' AND n.status = 'published') AS first_notice_at
           FROM visits v WHERE v.id = $1"#,
        id
    )
    .fetch_optional(&state.db)
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
            state.config.registration_close_time,
        ),
    })
}

pub fn window_label(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> String {
    format!(
        "{}—{}",
        starts_at.with_timezone(&Shanghai).format("%H:%M"),
        ends_at.with_timezone(&Shanghai).format("%H:%M")
    )
}

pub struct WindowChoice {
    pub id: i64,
    pub label: String,
    pub remaining: i32,
    pub full: bool,
    pub selected: bool,
    pub wait_selected: bool,
}

struct Window {
    id: i64,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    capacity_slots: i32,
    booked_slots: i32,
}

async fn windows(state: &AppState, visit_id: i64) -> sqlx::Result<Vec<Window>> {
    sqlx::query_as!(
        Window,
        "SELECT id, starts_at, ends_at, capacity_slots, booked_slots FROM reception_windows WHERE visit_id = $1 ORDER BY starts_at",
        visit_id
    )
    .fetch_all(&state.db)
    .await
}

// ---- the form page ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "public/register.html")]
pub struct RegisterPage {
    pub layout: Layout,
    pub visit: VisitInfo,
    pub closed: Option<String>,
    pub staff: bool,
    pub action: String,
    pub token: String,
    pub form: RegistrationForm,
    pub errors: Errors,
    /// A message above the form (window full, stale form).
    pub problem: String,
    /// The full window the citizen chose: offer its waiting list.
    pub full_window: Option<(i64, String)>,
    pub categories: Vec<crate::admin::CategoryGroup>,
    pub windows: Vec<WindowChoice>,
    pub walk_in: bool,
    /// Walk-in with no competent room: the visit's rooms for staff to pick from.
    pub rooms: Vec<(i64, String)>,
}

impl RegisterPage {
    pub fn any_open_window(&self) -> bool {
        self.windows.iter().any(|w| !w.full)
    }
}

/// Which kind of form: the citizen's own, staff on a citizen's behalf (phone channel), or a
/// walk-in registered at the check-in desk on the day (现场登记).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Channel {
    Online,
    Phone,
    WalkIn,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::Phone => "phone",
            Channel::WalkIn => "walk_in",
        }
    }
    fn action(self, visit_id: i64) -> String {
        match self {
            Channel::Online => format!("/visits/{visit_id}/register"),
            Channel::Phone => format!("/staff/visits/{visit_id}/registrations/new"),
            Channel::WalkIn => format!("/staff/visits/{visit_id}/walkin"),
        }
    }

    /// Why this channel cannot register now. Walk-ins come on the day, after the close, so only
    /// a cancelled visit refuses them.
    pub fn closed(self, visit: &VisitInfo, now: DateTime<Utc>) -> Option<String> {
        match self {
            Channel::WalkIn if visit.status == "cancelled" => {
                Some("本次接访活动已取消，不再接受登记。".into())
            }
            Channel::WalkIn => None,
            _ => visit.closed_message(now),
        }
    }
}

/// A fresh one-time token for a form; only its hash is stored.
pub async fn new_form_token(state: &AppState, visit_id: i64) -> sqlx::Result<String> {
    let token = session::new_token();
    sqlx::query!(
        "INSERT INTO form_tokens (token_hash, visit_id, created_at) VALUES ($1, $2, $3)",
        session::hash(&token),
        visit_id,
        state.clock.now()
    )
    .execute(&state.db)
    .await?;
    Ok(token)
}

pub struct PageInput {
    pub form: RegistrationForm,
    pub errors: Errors,
    pub problem: String,
    pub full_window: Option<i64>,
    /// None: a new token is made.
    pub token: Option<String>,
}

impl PageInput {
    pub fn blank() -> Self {
        PageInput {
            form: RegistrationForm {
                persons: "1".into(),
                ..Default::default()
            },
            errors: Errors::default(),
            problem: String::new(),
            full_window: None,
            token: None,
        }
    }
}

pub async fn page(
    state: &AppState,
    ctx: &Ctx,
    visit: VisitInfo,
    channel: Channel,
    input: PageInput,
) -> Result<RegisterPage, AppError> {
    let closed = channel.closed(&visit, state.clock.now());
    let title = match channel {
        Channel::Online => "来访登记",
        Channel::Phone => "代为登记（电话）",
        Channel::WalkIn => "现场登记",
    };
    let (token, categories, windows) = if closed.is_some() {
        (String::new(), Vec::new(), Vec::new())
    } else {
        let token = match input.token {
            Some(t) => t,
            None => new_form_token(state, visit.id).await?,
        };
        let groups = crate::admin::category_groups(&state.db, &[]).await?;
        let choice = parse_window_choice(&input.form.window_id, &input.form.join_waitlist);
        let offered = if channel == Channel::WalkIn {
            Vec::new()
        } else {
            windows(state, visit.id).await?
        };
        let windows = offered
            .into_iter()
            .map(|w| {
                let remaining = (w.capacity_slots - w.booked_slots).max(0);
                WindowChoice {
                    id: w.id,
                    label: window_label(w.starts_at, w.ends_at),
                    remaining,
                    full: remaining == 0,
                    selected: remaining > 0 && choice.is_some_and(|(id, _)| id == w.id),
                    wait_selected: remaining == 0 && choice == Some((w.id, true)),
                }
            })
            .collect();
        (token, groups, windows)
    };
    let full_window = input.full_window.and_then(|id| {
        windows
            .iter()
            .find(|w: &&WindowChoice| w.id == id)
            .map(|w| (w.id, w.label.clone()))
    });
    Ok(RegisterPage {
        layout: ctx.layout(title),
        action: channel.action(visit.id),
        visit,
        closed,
        staff: channel != Channel::Online,
        walk_in: channel == Channel::WalkIn,
        rooms: Vec::new(),
        token,
        form: input.form,
        errors: input.errors,
        problem: input.problem,
        full_window,
        categories,
        windows,
    })
}

// ---- the booking transaction --------------------------------------------------------------

pub struct Submission<'a> {
    pub visit: &'a VisitInfo,
    pub valid: &'a Valid,
    pub channel: Channel,
    pub created_by: Option<i64>,
    /// SHA-256 of the submitting browser's receipt cookie (online only).
    pub session_hash: Option<Vec<u8>>,
    pub claim: Claim<'a>,
    pub actor: &'a Actor,
}

/// What makes a submission count once: the form's one-time token, or the API's Idempotency-Key.
pub enum Claim<'a> {
    FormToken(&'a str),
    /// `request_hash`: SHA-256 of what was sent under the key; the key with another body is refused.
    Idempotency {
        key: &'a str,
        request_hash: Vec<u8>,
    },
}

/// The scope of registration keys in `idempotency_keys`.
const IDEMPOTENCY_SCOPE: &str = "registration";

/// What a created registration answers, stored with its Idempotency-Key so a replay answers the same.
pub fn receipt_json(code: &str, waitlisted: bool, window: &str) -> serde_json::Value {
    serde_json::json!({"code": code, "status": if waitlisted { "waitlisted" } else { "submitted" }, "window": window})
}

#[derive(Debug)]
pub enum Outcome {
    /// `placed`: a walk-in's room and queue number.
    Created {
        code: String,
        window: String,
        waitlisted: bool,
        placed: Option<(String, i32)>,
    },
    /// A walk-in for whose category no room is competent: staff pick a room.
    NoRoom,
    /// The same form was submitted before: its registration.
    Replayed { code: String },
    /// The window is full and the citizen did not ask for its waiting list.
    Full,
    /// An unknown, expired or foreign token: show the form again with a new one.
    StaleToken,
    /// The same Idempotency-Key with the same request: the stored answer.
    Stored(serde_json::Value),
    /// The same Idempotency-Key with another request.
    KeyReused,
}

/// Validate and register in one transaction: the token is consumed, the window booked (never
/// beyond its capacity), the registration, its screening flags, audit row and confirmation
/// queued together. Nothing is acknowledged before the commit.
pub async fn submit(state: &AppState, s: Submission<'_>) -> Result<Outcome, AppError> {
    let now = state.clock.now();
    let v = s.valid;
    let mut tx = state.db.begin().await?;
    if let Some(done) = claim(state, &mut tx, s.visit.id, &s.claim).await? {
        return Ok(done);
    }

    let id_index = state.keys.blind_index(Field::IdNumber, &v.id_number);
    let category_name =
        sqlx::query_scalar!("SELECT name FROM categories WHERE id = $1", v.category_id)
            .fetch_one(&mut *tx)
            .await?;
    let months = state.config.screening_lookback_months;
    let since = now
        .checked_sub_months(chrono::Months::new(months))
        .unwrap_or(now);
    let evidence = screening::gather(
        &mut tx,
        s.visit.id,
        &id_index,
        since,
        &category_name,
        months,
    )
    .await?;
    let flags = screening::flags(&evidence);

    // Capacity: the conditional UPDATE takes the window's row lock, so concurrent bookings on any
    // instance queue here and the one that would overbook finds zero rows.
    let slots = slots_for(v.persons);
    let (window, waitlisted) = match v.window_id {
        // A walk-in is queued in a room below, not booked in a window.
        None => (String::new(), false),
        Some(window_id) => {
            let booked = sqlx::query!(
                "UPDATE reception_windows SET booked_slots = booked_slots + $3
                 WHERE id = $1 AND visit_id = $2 AND booked_slots + $3 <= capacity_slots RETURNING starts_at, ends_at",
                window_id,
                s.visit.id,
                i32::from(slots)
            )
            .fetch_optional(&mut *tx)
            .await?;
            match booked {
                Some(w) => (window_label(w.starts_at, w.ends_at), false),
                None if v.waitlist => {
                    let w = sqlx::query!("SELECT starts_at, ends_at FROM reception_windows WHERE id = $1 AND visit_id = $2", window_id, s.visit.id)
                        .fetch_one(&mut *tx)
                        .await?;
                    (window_label(w.starts_at, w.ends_at), true)
                }
                None => return Ok(Outcome::Full),
            }
        }
    };

    let id_sealed = state.keys.encrypt(&v.id_number);
    // A walk-in may come without a phone: all four phone columns stay NULL then.
    let phone = Some(v.phone.as_str()).filter(|p| !p.is_empty());
    let phone_sealed = phone.map(|p| state.keys.encrypt(p));
    let phone_mask = phone.map(privacy::mask_phone);
    let status = if waitlisted {
        "waitlisted"
    } else {
        "submitted"
    };
    let mut attempt = 0;
    let (registration_id, code) = loop {
        let code = new_code(&mut rand::rng());
        sqlx::query!("SAVEPOINT new_code").execute(&mut *tx).await?;
        let inserted = sqlx::query_scalar!(
            "INSERT INTO registrations (visit_id, code, channel, name, id_number_cipher, id_number_key_id, id_number_index, id_number_mask,
                phone_cipher, phone_key_id, phone_index, phone_mask, address, township, persons, representatives, category_id, grievance,
                window_id, slots, status, consent_at, submitted_session_hash, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $22)
             RETURNING id",
            s.visit.id,
            code,
            s.channel.as_str(),
            v.name,
            id_sealed.bytes,
            id_sealed.key_id,
            id_index,
            privacy::mask_id_number(&v.id_number),
            phone_sealed.as_ref().map(|p| &p.bytes),
            phone_sealed.as_ref().map(|p| p.key_id),
            phone.map(|p| state.keys.blind_index(Field::Phone, p)),
            phone_mask,
            v.address,
            v.township,
            v.persons,
            &v.representatives,
            v.category_id,
            v.grievance,
            v.window_id,
            slots,
            status,
            now,
            s.session_hash,
            s.created_by,
        )
        .fetch_one(&mut *tx)
        .await;
        match inserted {
            Ok(id) => break (id, code),
            // A code already taken (one in 10^14): draw again.
            Err(sqlx::Error::Database(e))
                if e.constraint() == Some("registrations_code_key") && attempt < 5 =>
            {
                sqlx::query!("ROLLBACK TO SAVEPOINT new_code")
                    .execute(&mut *tx)
                    .await?;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    };
    if let (true, Some(window_id)) = (waitlisted, v.window_id) {
        sqlx::query!(
            "INSERT INTO waitlist (registration_id, window_id, created_at) VALUES ($1, $2, $3)",
            registration_id,
            window_id,
            now
        )
        .execute(&mut *tx)
        .await?;
    }
    // A walk-in is checked in to the best competent room (or the one staff picked) at once.
    let placed = if s.channel == Channel::WalkIn {
        crate::consult::scheduling::lock_visit(&mut tx, s.visit.id).await?;
        let Some(p) =
            crate::consult::arrival::place(&mut tx, s.visit.id, registration_id, v.room_id, now)
                .await?
        else {
            return Ok(Outcome::NoRoom);
        };
        crate::consult::board::announce(&mut *tx, s.visit.id).await?;
        Some(p)
    } else {
        None
    };
    screening::record(&mut tx, registration_id, &flags).await?;
    match &s.claim {
        Claim::FormToken(token) => {
            sqlx::query!(
                "UPDATE form_tokens SET registration_id = $2 WHERE token_hash = $1",
                session::hash(token),
                registration_id
            )
            .execute(&mut *tx)
            .await?;
        }
        Claim::Idempotency { key, .. } => {
            sqlx::query!(
                "UPDATE idempotency_keys SET registration_id = $3, status_code = 201, response = $4 WHERE scope = $1 AND key = $2",
                IDEMPOTENCY_SCOPE,
                key,
                registration_id,
                receipt_json(&code, waitlisted, &window)
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    let detail = serde_json::json!({
        "visit_id": s.visit.id, "code": code, "channel": s.channel.as_str(), "window_id": v.window_id,
        "waitlisted": waitlisted, "flags": flags.iter().map(|f| f.kind).collect::<Vec<_>>(),
        "room_id": placed.as_ref().map(|p| p.room_id), "queue_number": placed.as_ref().map(|p| p.queue_number),
    });
    audit::record(
        &mut *tx,
        s.actor,
        Entry::ok("registration.create")
            .on("registration", registration_id)
            .detail(detail),
    )
    .await?;
    let when = format!("{} {}", s.visit.date_label(), window);
    let (kind, body) = if let Some(p) = &placed {
        (
            "registration.walk_in",
            format!(
                "您已在{}现场登记，登记编号 {code}，{}，排号{}。请留意叫号。",
                s.visit.title, p.room_name, p.queue_number
            ),
        )
    } else if waitlisted {
        (
            "registration.waitlisted",
            format!(
                "您已登记{}，登记编号 {code}，已加入 {when} 时段候补；有名额时将通知您。",
                s.visit.title
            ),
        )
    } else {
        (
            "registration.submitted",
            format!(
                "您已登记{}，登记编号 {code}，接访时段 {when}。请携带身份证原件和相关材料按时到场。",
                s.visit.title
            ),
        )
    };
    // Without a phone (walk-ins may have none) there is nobody to text.
    if let Some(mask) = &phone_mask {
        let message = notify::Message {
            registration_id: Some(registration_id),
            user_id: None,
            recipient_mask: mask,
            kind,
            params: serde_json::json!({"code": code, "window": when}),
            body,
        };
        notify::queue(&mut *tx, message).await?;
    }
    tx.commit().await?;
    Ok(Outcome::Created {
        code,
        window,
        waitlisted,
        placed: placed.map(|p| (p.room_name, p.queue_number)),
    })
}

/// Take the claim inside the booking transaction; Some: the submission ends here (replay, stale
/// token, reused key). The row lock on the token or key serialises a double submit: the second
/// waits for the first to commit, then sees it used.
async fn claim(
    state: &AppState,
    tx: &mut PgConnection,
    visit_id: i64,
    claim: &Claim<'_>,
) -> Result<Option<Outcome>, AppError> {
    let now = state.clock.now();
    match claim {
        Claim::FormToken(token) => {
            let token_hash = session::hash(token);
            let claimed = sqlx::query_scalar!(
                "UPDATE form_tokens SET used_at = $3 WHERE token_hash = $1 AND visit_id = $2 AND used_at IS NULL AND created_at > $4 RETURNING visit_id",
                &token_hash,
                visit_id,
                now,
                now - state.config.form_token_ttl
            )
            .fetch_optional(&mut *tx)
            .await?;
            if claimed.is_some() {
                return Ok(None);
            }
            let earlier = sqlx::query_scalar!(
                "SELECT r.code FROM form_tokens t JOIN registrations r ON r.id = t.registration_id WHERE t.token_hash = $1 AND t.visit_id = $2",
                &token_hash,
                visit_id
            )
            .fetch_optional(&mut *tx)
            .await?;
            Ok(Some(match earlier {
                Some(code) => Outcome::Replayed { code },
                None => Outcome::StaleToken,
            }))
        }
        Claim::Idempotency { key, request_hash } => {
            // 202 and an empty answer until the registration is made in this same transaction.
            let inserted = sqlx::query_scalar!(
                "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at) VALUES ($1, $2, $3, 202, '{}', $4)
                 ON CONFLICT (scope, key) DO NOTHING RETURNING key",
                IDEMPOTENCY_SCOPE,
                key,
                request_hash,
                now
            )
            .fetch_optional(&mut *tx)
            .await?;
            if inserted.is_some() {
                return Ok(None);
            }
            Ok(earlier_answer(&mut *tx, key, request_hash).await?)
        }
    }
}

/// What an Idempotency-Key answered before: the stored answer for the same request, `KeyReused`
/// for another; None for a key not used yet.
pub async fn earlier_answer(
    db: impl sqlx::PgExecutor<'_>,
    key: &str,
    request_hash: &[u8],
) -> sqlx::Result<Option<Outcome>> {
    let earlier = sqlx::query!(
        "SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
        IDEMPOTENCY_SCOPE,
        key
    )
    .fetch_optional(db)
    .await?;
    Ok(earlier.map(|e| {
        if e.request_hash == request_hash {
            Outcome::Stored(e.response)
        } else {
            Outcome::KeyReused
        }
    }))
}

// ---- cancellation and the waiting list ----------------------------------------------------

/// Statuses a citizen (or staff) may still cancel before the day.
pub const CANCELLABLE: [&str; 4] = ["submitted", "confirmed", "waitlisted", "scheduled"];

/// Promote waiting registrations of `window_id`, first come first served, while their slots fit.
/// Each promoted registration is notified. Returns how many were promoted.
pub async fn promote_waiting(
    conn: &mut PgConnection,
    window_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<usize> {
    let mut promoted = 0;
    loop {
        let Some(next) = sqlx::query!(
            r#"SELECT w.id, r.id AS registration_id, r.slots, r.code, r.phone_mask, v.title, v.visit_date, rw.starts_at, rw.ends_at
               FROM waitlist w JOIN registrations r ON r.id = w.registration_id JOIN visits v ON v.id = r.visit_id
               JOIN reception_windows rw ON rw.id = w.window_id
               WHERE w.window_id = $1 AND w.promoted_at IS NULL AND r.status = 'waitlisted'
               ORDER BY w.created_at, w.id LIMIT 1 FOR UPDATE OF w, r"#,
            window_id
        )
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(promoted);
        };
        let fits = sqlx::query_scalar!(
            "UPDATE reception_windows SET booked_slots = booked_slots + $2 WHERE id = $1 AND booked_slots + $2 <= capacity_slots RETURNING id",
            window_id,
            i32::from(next.slots)
        )
        .fetch_optional(&mut *conn)
        .await?;
        if fits.is_none() {
            return Ok(promoted);
        }
        sqlx::query!(
            "UPDATE waitlist SET promoted_at = $2 WHERE id = $1",
            next.id,
            now
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            "UPDATE registrations SET status = 'submitted' WHERE id = $1",
            next.registration_id
        )
        .execute(&mut *conn)
        .await?;
        let when = format!(
            "{} {}",
            next.visit_date.format("%Y年%-m月%-d日"),
            window_label(next.starts_at, next.ends_at)
        );
        let mask = next.phone_mask.unwrap_or_else(|| "（无手机号码）".into());
        notify::queue(
            &mut *conn,
            notify::Message {
                registration_id: Some(next.registration_id),
                user_id: None,
                recipient_mask: &mask,
                kind: "registration.promoted",
                params: serde_json::json!({"code": next.code, "window": when}),
                body: format!("您在{}的候补登记（编号 {}）已有名额，接访时段 {when}。请携带身份证原件和相关材料按时到场。", next.title, next.code),
            },
        )
        .await?;
        promoted += 1;
    }
}

/// Statuses in which a registration holds booked slots of its window.
pub fn holds_slots(status: &str) -> bool {
    matches!(
        status,
        "submitted" | "confirmed" | "scheduled" | "checked_in" | "called" | "received" | "no_show"
    )
}

/// Give back what a registration leaving the pipeline (cancelled, rejected, merged) held: its
/// slots, and then the window's waiting list moves up; or its own place on the waiting list.
/// Returns how many waiting registrations were promoted.
pub async fn release_place(
    conn: &mut PgConnection,
    registration_id: i64,
    status: &str,
    window_id: Option<i64>,
    slots: i16,
    now: DateTime<Utc>,
) -> sqlx::Result<usize> {
    if status == "waitlisted" {
        sqlx::query!(
            "DELETE FROM waitlist WHERE registration_id = $1",
            registration_id
        )
        .execute(&mut *conn)
        .await?;
        return Ok(0);
    }
    let Some(window_id) = window_id.filter(|_| holds_slots(status)) else {
        return Ok(0);
    };
    sqlx::query!(
        "UPDATE reception_windows SET booked_slots = booked_slots - $2 WHERE id = $1",
        window_id,
        i32::from(slots)
    )
    .execute(&mut *conn)
    .await?;
    promote_waiting(conn, window_id, now).await
}

/// Cancel a registration: its slots go back to the window and the waiting list moves up, in the
/// caller's transaction. False when it can no longer be cancelled.
pub async fn cancel(
    conn: &mut PgConnection,
    registration_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let Some(r) = sqlx::query!(
        "SELECT r.status, r.window_id, r.slots, r.visit_id FROM registrations r JOIN visits v ON v.id = r.visit_id
         WHERE r.id = $1 AND v.visit_date > $2 FOR UPDATE OF r",
        registration_id,
        crate::clock::china_date(now)
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(false);
    };
    if !CANCELLABLE.contains(&r.status.as_str()) {
        return Ok(false);
    }
    sqlx::query!(
        "UPDATE registrations SET status = 'cancelled' WHERE id = $1",
        registration_id
    )
    .execute(&mut *conn)
    .await?;
    let promoted =
        release_place(conn, registration_id, &r.status, r.window_id, r.slots, now).await?;
    let detail =
        serde_json::json!({"visit_id": r.visit_id, "from": r.status, "promoted": promoted});
    audit::record(
        &mut *conn,
        actor,
        Entry::ok("registration.cancel")
            .on("registration", registration_id)
            .detail(detail),
    )
    .await?;
    Ok(true)
}

// ---- staff: on a citizen's behalf ----------------------------------------------------------

/// `GET /staff/visits/{id}/registrations/new`
pub async fn staff_form(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let visit = load_visit(&state, id).await?;
    Ok(render_status(
        StatusCode::OK,
        &page(&state, &ctx, visit, Channel::Phone, PageInput::blank()).await?,
    ))
}

/// `POST /staff/visits/{id}/registrations/new`: the same validation and transaction as the public form.
pub async fn staff_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<RegistrationForm>,
) -> Page {
    let visit = load_visit(&state, id).await?;
    let created_by = ctx.user.as_ref().map(|u| u.id);
    let outcome = handle(&state, &ctx, visit, Channel::Phone, f, None, created_by).await?;
    Ok(match outcome {
        Handled::Page(r) => r,
        Handled::Done {
            code,
            window,
            waitlisted,
            ..
        } => {
            let message = if window.is_empty() {
                format!("该表单已提交过。登记编号：{code}")
            } else if waitlisted {
                format!("已代为登记并加入 {window} 时段候补。登记编号：{code}（请告知来访人）")
            } else {
                format!("已代为登记，接访时段 {window}。登记编号：{code}（请告知来访人）")
            };
            redirect_with_flash(
                &state,
                &format!("/staff/visits/{id}/registrations/new"),
                &message,
            )
        }
    })
}

/// The category and window ids a form of `channel` offers (what `validate` accepts).
pub async fn offered(
    state: &AppState,
    visit_id: i64,
    channel: Channel,
) -> sqlx::Result<(Vec<i64>, Vec<i64>)> {
    let category_ids = crate::admin::category_groups(&state.db, &[])
        .await?
        .into_iter()
        .flat_map(|g| g.options)
        .map(|c| c.id)
        .collect();
    let window_ids = if channel == Channel::WalkIn {
        Vec::new()
    } else {
        windows(state, visit_id)
            .await?
            .iter()
            .map(|w| w.id)
            .collect()
    };
    Ok((category_ids, window_ids))
}

pub enum Handled {
    /// The form again (refused, invalid, full, stale), with its status.
    Page(Response),
    Done {
        code: String,
        window: String,
        waitlisted: bool,
        placed: Option<(String, i32)>,
    },
}

/// The whole POST for either channel: open period, validation, the transaction, and the page
/// to show again when it does not go through.
pub async fn handle(
    state: &AppState,
    ctx: &Ctx,
    visit: VisitInfo,
    channel: Channel,
    f: RegistrationForm,
    session_hash: Option<Vec<u8>>,
    created_by: Option<i64>,
) -> Result<Handled, AppError> {
    let again = |errors, problem: &str, full_window, token: Option<String>| PageInput {
        form: f.clone(),
        errors,
        problem: problem.to_owned(),
        full_window,
        token,
    };
    if channel.closed(&visit, state.clock.now()).is_some() {
        let p = page(
            state,
            ctx,
            visit,
            channel,
            again(Errors::default(), "", None, None),
        )
        .await?;
        return Ok(Handled::Page(render_status(StatusCode::FORBIDDEN, &p)));
    }
    let (category_ids, window_ids) = offered(state, visit.id, channel).await?;
    let mut errors = Errors::default();
    let token = f.form_token.trim().to_owned();
    let Some(valid) = validate(&f, channel, &category_ids, &window_ids, &mut errors) else {
        let p = page(
            state,
            ctx,
            visit,
            channel,
            again(
                errors,
                "请按提示修改后重新提交。",
                None,
                Some(token).filter(|t| !t.is_empty()),
            ),
        )
        .await?;
        return Ok(Handled::Page(render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &p,
        )));
    };
    let actor = ctx.actor();
    let submission = Submission {
        visit: &visit,
        valid: &valid,
        channel,
        created_by,
        session_hash,
        claim: Claim::FormToken(&token),
        actor: &actor,
    };
    match submit(state, submission).await? {
        Outcome::Created {
            code,
            window,
            waitlisted,
            placed,
        } => Ok(Handled::Done {
            code,
            window,
            waitlisted,
            placed,
        }),
        Outcome::Replayed { code } => {
            let window = String::new();
            Ok(Handled::Done {
                code,
                window,
                waitlisted: false,
                placed: None,
            })
        }
        Outcome::NoRoom => {
            let problem = "没有对口的接待室（问题类别不在任何接待室的受理范围内），请选择一个接待室后再次提交。";
            let p = page(
                state,
                ctx,
                visit,
                channel,
                again(Errors::default(), problem, None, Some(token)),
            )
            .await?;
            let mut errors = Errors::default();
            errors.add("room_id", "请选择接待室");
            let rooms = sqlx::query!(
                "SELECT id, name FROM rooms WHERE visit_id = $1 ORDER BY sort_order, id",
                p.visit.id
            )
            .fetch_all(&state.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
            Ok(Handled::Page(render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &RegisterPage { errors, rooms, ..p },
            )))
        }
        Outcome::Full => {
            let problem = "您选择的接访时段已满。可以加入该时段的候补（有人取消时按顺序递补并通知您），或改选其他尚有名额的时段。";
            let p = page(
                state,
                ctx,
                visit,
                channel,
                again(Errors::default(), problem, valid.window_id, Some(token)),
            )
            .await?;
            let mut errors = Errors::default();
            errors.add("window_id", "该时段已满");
            let p = RegisterPage { errors, ..p };
            Ok(Handled::Page(render_status(StatusCode::CONFLICT, &p)))
        }
        // Stored and KeyReused come from an Idempotency-Key, never from a form.
        Outcome::StaleToken | Outcome::Stored(_) | Outcome::KeyReused => {
            let problem = "页面已过期或已提交过，请核对填写的内容后再次提交。";
            let p = page(
                state,
                ctx,
                visit,
                channel,
                again(Errors::default(), problem, None, None),
            )
            .await?;
            Ok(Handled::Page(render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &p,
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn codes_are_long_random_and_unambiguous() {
        let mut rng = rand::rng();
        let a = new_code(&mut rng);
        assert_eq!(a.len(), CODE_LEN);
        const { assert!(CODE_LEN >= 8) };
        assert!(a.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        for c in ["0", "O", "1", "I", "L"] {
            assert!(
                !std::str::from_utf8(CODE_ALPHABET).unwrap().contains(c),
                "{c} is a look-alike"
            );
        }
        let many: std::collections::HashSet<String> =
            (0..1000).map(|_| new_code(&mut rng)).collect();
        assert_eq!(many.len(), 1000);
        assert_eq!(normalize_code(" abcd efgh "), "ABCDEFGH");
    }

    #[test]
    fn open_from_the_first_notice_until_the_close() {
        let close = at("2026-12-02T09:00:00Z");
        let notice = Some(at("2026-11-20T02:00:00Z"));
        assert_eq!(
            open_period("announced", notice, close, at("2026-11-25T00:00:00Z")),
            Ok(())
        );
        assert_eq!(
            open_period("announced", notice, close, at("2026-12-02T09:00:00Z")),
            Err(Closed::Over)
        );
        assert_eq!(
            open_period("announced", notice, close, at("2026-11-20T01:59:00Z")),
            Err(Closed::NotYet)
        );
        assert_eq!(
            open_period("announced", None, close, at("2026-11-25T00:00:00Z")),
            Err(Closed::NotYet)
        );
        assert_eq!(
            open_period("draft", notice, close, at("2026-11-25T00:00:00Z")),
            Err(Closed::NotYet)
        );
        assert_eq!(
            open_period(
                "closed_for_registration",
                notice,
                close,
                at("2026-11-25T00:00:00Z")
            ),
            Err(Closed::Over)
        );
        assert_eq!(
            open_period("cancelled", notice, close, at("2026-11-25T00:00:00Z")),
            Err(Closed::Cancelled)
        );
    }

    #[test]
    fn representatives_split_on_lines_and_chinese_commas() {
        assert_eq!(
            parse_representatives("张三、李四，王五,赵六\n钱七\r\n\n"),
            ["张三", "李四", "王五", "赵六", "钱七"]
        );
        assert!(parse_representatives(" 、 ").is_empty());
    }

    #[test]
    fn window_choices() {
        assert_eq!(parse_window_choice("12", ""), Some((12, false)));
        assert_eq!(parse_window_choice("12:waitlist", ""), Some((12, true)));
        assert_eq!(
            parse_window_choice("12", "13"),
            Some((13, true)),
            "the 加入候补 button wins"
        );
        assert_eq!(parse_window_choice("x", ""), None);
        assert_eq!(slots_for(5), 1);
        assert_eq!(slots_for(6), 2);
    }

    fn good() -> RegistrationForm {
        RegistrationForm {
            name: "张三".into(),
            id_number: " 11010519491231002x ".into(),
            phone: "138 1234 5678".into(),
            address: "仙华街道人民路 1 号".into(),
            township: "仙华街道".into(),
            persons: "1".into(),
            category_id: "4".into(),
            grievance: "道路破损".into(),
            window_id: "9".into(),
            consent: "1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_form_is_normalised() {
        let mut e = Errors::default();
        let v = validate(&good(), Channel::Online, &[4], &[9], &mut e).expect("valid");
        assert_eq!(v.id_number, "11010519491231002X");
        assert_eq!(v.phone, "13812345678");
        assert!(v.representatives.is_empty());
    }

    #[test]
    fn each_field_has_its_message() {
        let f = RegistrationForm {
            id_number: "110105194912310021".into(),
            phone: "12812345678".into(),
            persons: "8".into(),
            consent: String::new(),
            window_id: "10".into(),
            ..good()
        };
        let mut e = Errors::default();
        assert!(validate(&f, Channel::Online, &[4], &[9], &mut e).is_none());
        assert!(e.get("id_number").contains("身份证号不正确"));
        assert!(e.get("phone").contains("11 位"));
        assert!(e.get("representatives").contains("代表"));
        assert_eq!(
            e.get("window_id"),
            "请选择接访时段",
            "a window of another visit"
        );
        assert!(e.get("consent").contains("个人信息处理告知"));
        assert_eq!(e.get("name"), "");

        let mut e = Errors::default();
        let six = RegistrationForm {
            persons: "8".into(),
            representatives: "甲、乙、丙、丁、戊、己".into(),
            ..good()
        };
        assert!(validate(&six, Channel::Online, &[4], &[9], &mut e).is_none());
        assert_eq!(e.get("representatives"), "代表不超过 5 人");
        for persons in ["0", "201", "abc", ""] {
            let mut e = Errors::default();
            validate(
                &RegistrationForm {
                    persons: persons.into(),
                    ..good()
                },
                Channel::Online,
                &[4],
                &[9],
                &mut e,
            );
            assert_eq!(
                e.get("persons"),
                "来访人数应为 1–200 之间的整数",
                "{persons}"
            );
        }
        let mut e = Errors::default();
        let staff = RegistrationForm {
            consent: String::new(),
            ..good()
        };
        assert!(validate(&staff, Channel::Phone, &[4], &[9], &mut e).is_none());
        assert!(e.get("informed").contains("告知"));
        assert_eq!(
            e.get("consent"),
            "",
            "staff confirm 已告知 instead of the citizen's consent"
        );
    }

    #[test]
    fn a_walk_in_needs_no_window_and_may_come_without_a_phone() {
        let walk_in = RegistrationForm {
            phone: String::new(),
            window_id: String::new(),
            consent: String::new(),
            informed: "1".into(),
            room_id: "5".into(),
            ..good()
        };
        let mut e = Errors::default();
        let v = validate(&walk_in, Channel::WalkIn, &[4], &[], &mut e).expect("valid");
        assert_eq!(
            (v.window_id, v.phone.as_str(), v.room_id),
            (None, "", Some(5))
        );
        let mut e = Errors::default();
        assert!(
            validate(
                &RegistrationForm {
                    phone: "123".into(),
                    ..walk_in
                },
                Channel::WalkIn,
                &[4],
                &[],
                &mut e
            )
            .is_none()
        );
        assert!(
            e.get("phone").contains("11 位"),
            "a phone given is still checked"
        );
        let mut e = Errors::default();
        let phone = RegistrationForm {
            phone: String::new(),
            window_id: String::new(),
            informed: "1".into(),
            ..good()
        };
        assert!(validate(&phone, Channel::Phone, &[4], &[9], &mut e).is_none());
        assert_eq!(
            (e.get("phone"), e.get("window_id")),
            ("请填写手机号码", "请选择接访时段")
        );
    }
}
