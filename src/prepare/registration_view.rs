//! The registration form as a view, shared by the pages that show it: the citizen's form
//! (public), staff on a citizen's behalf (prepare) and the walk-in desk (consult). It builds the
//! page, turns a refused submission into the form again, and runs the booking for a form POST.

use crate::audit::Actor;
use crate::error::AppError;
use crate::prepare::booking::{
    self, BookingRules, Claim, Exemption, Outcome, PhoneProof, Submission,
};
use crate::prepare::registration::{
    Channel, RegistrationForm, Valid, VisitInfo, normalize_phone, parse_window_choice, phone_error,
    validate, window_label,
};
use crate::prepare::registration_offer::{self, offered};
use crate::prepare::{form_token, phone_code};
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::form::Errors;
use crate::web::page::{Layout, render_status};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

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
    /// "验证码已发送至 …" after 获取验证码.
    pub code_sent: String,
}

impl RegisterPage {
    pub fn any_open_window(&self) -> bool {
        self.windows.iter().any(|w| !w.full)
    }
}

pub struct WindowChoice {
    pub id: i64,
    pub label: String,
    pub remaining: i32,
    pub full: bool,
    pub selected: bool,
    pub wait_selected: bool,
}

pub struct PageInput {
    pub form: RegistrationForm,
    pub errors: Errors,
    pub problem: String,
    pub full_window: Option<i64>,
    /// None: a new token is made.
    pub token: Option<String>,
    pub code_sent: String,
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
            code_sent: String::new(),
        }
    }

    /// The form as sent, shown again with `problem` above it.
    fn again(form: &RegistrationForm, problem: &str, token: Option<String>) -> Self {
        PageInput {
            form: form.clone(),
            errors: Errors::default(),
            problem: problem.to_owned(),
            full_window: None,
            token,
            code_sent: String::new(),
        }
    }
}

/// The configuration the booking needs.
pub fn booking_rules(state: &AppState) -> BookingRules {
    BookingRules {
        screening_lookback_months: state.config.screening_lookback_months,
        phone_code_max_wrong: state.config.phone_codes.max_wrong_tries,
    }
}

/// The visit a form is for (404 for an unknown id).
pub async fn load_visit(state: &AppState, id: i64) -> Result<VisitInfo, AppError> {
    registration_offer::load_visit(&state.db, id, state.config.registration_close_time).await
}

fn title(channel: Channel) -> &'static str {
    match channel {
        Channel::Online => "来访登记",
        Channel::Phone => "代为登记（电话）",
        Channel::WalkIn => "现场登记",
    }
}

/// The windows offered, with the places left and the citizen's choice marked.
async fn window_choices(
    state: &AppState,
    visit_id: i64,
    channel: Channel,
    form: &RegistrationForm,
) -> sqlx::Result<Vec<WindowChoice>> {
    if channel == Channel::WalkIn {
        return Ok(Vec::new());
    }
    let choice = parse_window_choice(&form.window_id, &form.join_waitlist);
    let windows = registration_offer::windows(&state.db, visit_id).await?;
    Ok(windows
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
        .collect())
}

pub async fn page(
    state: &AppState,
    ctx: &Ctx,
    visit: VisitInfo,
    channel: Channel,
    input: PageInput,
) -> Result<RegisterPage, AppError> {
    let now = state.clock.now();
    let closed = channel.closed(&visit, now);
    let (token, categories, windows) = if closed.is_some() {
        (String::new(), Vec::new(), Vec::new())
    } else {
        let token = match input.token {
            Some(t) => t,
            // Signed, not stored: showing a form writes nothing (DESIGN §7).
            None => form_token::issue(&state.keys, visit.id, now, state.config.form_token_ttl),
        };
        let groups = crate::admin::category_groups(&state.db, &[]).await?;
        let windows = window_choices(state, visit.id, channel, &input.form).await?;
        (token, groups, windows)
    };
    let full_window = input.full_window.and_then(|id| {
        windows
            .iter()
            .find(|w: &&WindowChoice| w.id == id)
            .map(|w| (w.id, w.label.clone()))
    });
    Ok(RegisterPage {
        layout: ctx.layout(title(channel)),
        action: channel.action(visit.id),
        visit,
        closed,
        staff: channel != Channel::Online,
        walk_in: channel == Channel::WalkIn,
        rooms: Vec::new(),
        code_sent: input.code_sent,
        token,
        form: input.form,
        errors: input.errors,
        problem: input.problem,
        full_window,
        categories,
        windows,
    })
}

/// What a form POST came to.
pub enum Handled {
    /// The form again (refused, invalid, full, stale), with its status.
    Page(Response),
    Done {
        code: String,
        window: String,
        waitlisted: bool,
        placed: Option<(String, i32)>,
        /// The registration just created (None: a replayed form).
        created: Option<i64>,
    },
}

impl Handled {
    /// The walk-in desk's flash message and the registration placed in a queue (its ticket is
    /// printed next), or the form again when it did not go through.
    #[allow(clippy::result_large_err)] // the page is the handler's answer as it stands
    pub fn walk_in_flash(self) -> Result<(String, Option<i64>), Response> {
        match self {
            Handled::Page(again) => Err(again),
            Handled::Done {
                code,
                placed: Some((room, number)),
                created,
                ..
            } => Ok((
                format!(
                    "现场登记完成并已签到。登记编号：{code}，{room}，排号 {number}（请告知来访人）"
                ),
                created,
            )),
            Handled::Done { code, .. } => Ok((format!("该表单已提交过。登记编号：{code}"), None)),
        }
    }
}

/// The open period and the one validation: the typed value, or the form again (403 when
/// closed, 422 when invalid).
pub async fn parse(
    state: &AppState,
    ctx: &Ctx,
    visit: &VisitInfo,
    channel: Channel,
    f: &RegistrationForm,
) -> Result<Result<Valid, Response>, AppError> {
    if channel.closed(visit, state.clock.now()).is_some() {
        let input = PageInput::again(f, "", None);
        let p = page(state, ctx, visit.clone(), channel, input).await?;
        return Ok(Err(render_status(StatusCode::FORBIDDEN, &p)));
    }
    let (category_ids, window_ids) = offered(&state.db, visit.id, channel).await?;
    let mut errors = Errors::default();
    if let Some(valid) = validate(f, channel, &category_ids, &window_ids, &mut errors) {
        return Ok(Ok(valid));
    }
    let token = Some(f.form_token.trim().to_owned()).filter(|t| !t.is_empty());
    let input = PageInput {
        errors,
        ..PageInput::again(f, "请按提示修改后重新提交。", token)
    };
    let p = page(state, ctx, visit.clone(), channel, input).await?;
    Ok(Err(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p)))
}

/// The booking's outcome as the form POST answers it.
pub async fn answer(
    state: &AppState,
    ctx: &Ctx,
    visit: VisitInfo,
    channel: Channel,
    f: &RegistrationForm,
    outcome: Outcome,
) -> Result<Handled, AppError> {
    let token = f.form_token.trim().to_owned();
    let (status, input, field) = match outcome {
        Outcome::Created {
            registration_id,
            code,
            window,
            waitlisted,
            placed,
            ..
        } => {
            return Ok(Handled::Done {
                code,
                window,
                waitlisted,
                placed,
                created: Some(registration_id),
            });
        }
        Outcome::Replayed { code } => {
            let (window, waitlisted, placed) = (String::new(), false, None);
            return Ok(Handled::Done {
                code,
                window,
                waitlisted,
                placed,
                created: None,
            });
        }
        Outcome::Full => {
            let problem = "您选择的接访时段已满。可以加入该时段的候补（有人取消时按顺序递补并通知您），或改选其他尚有名额的时段。";
            let full_window = parse_window_choice(&f.window_id, &f.join_waitlist).map(|w| w.0);
            let input = PageInput {
                full_window,
                ..PageInput::again(f, problem, Some(token))
            };
            (
                StatusCode::CONFLICT,
                input,
                Some(("window_id", "该时段已满")),
            )
        }
        Outcome::PhoneUnverified(refusal) => {
            let input = PageInput::again(f, "请按提示修改后重新提交。", Some(token));
            let message = refusal.message();
            let mut p = page(state, ctx, visit, channel, input).await?;
            p.errors.add("code", &message);
            return Ok(Handled::Page(render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &p,
            )));
        }
        // Stored and KeyReused come from an Idempotency-Key, never from a form.
        Outcome::StaleToken | Outcome::Stored(_) | Outcome::KeyReused => {
            let hours = state.config.form_token_ttl.num_hours();
            let problem = format!(
                "页面已过期（表单打开超过 {hours} 小时）或无法识别。您填写的内容已保留，请核对后再次提交。"
            );
            let input = PageInput::again(f, &problem, None);
            (StatusCode::UNPROCESSABLE_ENTITY, input, None)
        }
    };
    let mut p = page(state, ctx, visit, channel, input).await?;
    if let Some((name, message)) = field {
        p.errors.add(name, message);
    }
    Ok(Handled::Page(render_status(status, &p)))
}

/// A walk-in for whose category no room is competent: the form again with the visit's rooms.
pub async fn no_room(
    state: &AppState,
    ctx: &Ctx,
    visit: VisitInfo,
    f: &RegistrationForm,
) -> Result<Response, AppError> {
    let problem =
        "没有对口的接待室（问题类别不在任何接待室的受理范围内），请选择一个接待室后再次提交。";
    let token = Some(f.form_token.trim().to_owned());
    let input = PageInput::again(f, problem, token);
    let p = page(state, ctx, visit, Channel::WalkIn, input).await?;
    let mut errors = Errors::default();
    errors.add("room_id", "请选择接待室");
    let rooms = registration_offer::rooms(&state.db, p.visit.id).await?;
    Ok(render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &RegisterPage { errors, rooms, ..p },
    ))
}

/// A form's submission, counted once by its one-time token.
pub fn form_submission<'a>(
    visit: &'a VisitInfo,
    valid: &'a Valid,
    channel: Channel,
    f: &'a RegistrationForm,
    actor: &'a Actor,
    created_by: Option<i64>,
    session_hash: Option<Vec<u8>>,
) -> Submission<'a> {
    let phone_proof = match Exemption::of_channel(channel) {
        Some(exemption) => PhoneProof::Exempt(exemption),
        None => PhoneProof::Code(&f.code),
    };
    Submission {
        visit,
        valid,
        channel,
        created_by,
        session_hash,
        claim: Claim::FormToken(f.form_token.trim()),
        actor,
        phone_proof,
    }
}

/// 获取验证码 on the citizen's form: a code to the typed phone, and the form again with every
/// value kept — the note under the phone field, or its error (429 with Retry-After at a limit).
pub async fn send_code(
    state: &AppState,
    ctx: &Ctx,
    visit: VisitInfo,
    f: &RegistrationForm,
) -> Result<Response, AppError> {
    let token = Some(f.form_token.trim().to_owned()).filter(|t| !t.is_empty());
    let mut input = PageInput::again(f, "", token);
    let now = state.clock.now();
    if let Some(closed) = Channel::Online.closed(&visit, now) {
        input.problem = closed;
        let p = page(state, ctx, visit, Channel::Online, input).await?;
        return Ok(render_status(StatusCode::FORBIDDEN, &p));
    }
    let phone = normalize_phone(&f.phone);
    if let Some(e) = phone_error(&phone) {
        input.errors.add("phone", e);
        let p = page(state, ctx, visit, Channel::Online, input).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p));
    }
    let rules = &state.config.phone_codes;
    let mut tx = state.db.begin().await?;
    let sent = phone_code::request(&mut tx, &state.keys, rules, &phone, ctx.ip, now).await?;
    tx.commit().await?;
    match sent {
        Ok(sent) => {
            let minutes = rules.ttl.num_minutes();
            input.code_sent = format!("验证码已发送至 {}，{minutes} 分钟内有效", sent.mask);
            let p = page(state, ctx, visit, Channel::Online, input).await?;
            Ok(render_status(StatusCode::OK, &p))
        }
        Err(limited) => {
            input.errors.add("phone", limited.message(now));
            let p = page(state, ctx, visit, Channel::Online, input).await?;
            let mut response = render_status(StatusCode::TOO_MANY_REQUESTS, &p);
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(limited.retry_after()),
            );
            Ok(response)
        }
    }
}

/// The whole POST of the public and the staff form: open period, validation, the booking in
/// one transaction, and the page to show again when it does not go through.
pub async fn handle(
    state: &AppState,
    ctx: &Ctx,
    visit: VisitInfo,
    channel: Channel,
    f: RegistrationForm,
    session_hash: Option<Vec<u8>>,
    created_by: Option<i64>,
) -> Result<Handled, AppError> {
    let valid = match parse(state, ctx, &visit, channel, &f).await? {
        Ok(valid) => valid,
        Err(again) => return Ok(Handled::Page(again)),
    };
    let actor = ctx.actor();
    let submission = form_submission(
        &visit,
        &valid,
        channel,
        &f,
        &actor,
        created_by,
        session_hash,
    );
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let rules = booking_rules(state);
    let outcome = booking::submit(&mut tx, &submission, now, &state.keys, rules).await?;
    tx.commit().await?;
    answer(state, ctx, visit, channel, &f, outcome).await
}
