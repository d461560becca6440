//! `/api/v1`: public visits and notices, registration (with an Idempotency-Key) and lookup for
//! the citizen channels, and case status for staff tokens. Same rules and messages as the forms.

use crate::api::{ApiError, ApiJson, ApiResult, OPENAPI};
use crate::clock::china_date;
use crate::prepare::booking::{self, Claim, Exemption, Outcome, PhoneProof, Submission};
use crate::prepare::phone_code;
use crate::prepare::registration::{self, Channel, RegistrationForm, Valid};
use crate::prepare::registration_offer::offered;
use crate::prepare::registration_view::{booking_rules, load_visit};
use crate::public::registration_status::{self as lookup, LookupForm};
use crate::state::AppState;
use crate::web::auth::CurrentUser;
use crate::web::form::Errors;
use crate::web::{Ctx, rate_limit};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A visit is public once one of its notices is; others do not exist here.
async fn public_visit(state: &AppState, id: i64) -> ApiResult<()> {
    if crate::public::published::is_public(&state.db, id).await? {
        Ok(())
    } else {
        Err(ApiError::from(crate::error::AppError::NotFound))
    }
}

/// The announced visits from today on, each with its published notices.
async fn visits_json(state: &AppState, only: Option<i64>) -> sqlx::Result<Vec<Value>> {
    let today = china_date(state.clock.now());
    let rows = sqlx::query!(
        r#"SELECT v.id, v.title, v.visit_date, v.starts_at, v.ends_at, v.venue, v.address, v.status,
                  COALESCE((SELECT json_agg(json_build_object('id', n.id, 'kind', n.kind, 'title', n.title) ORDER BY n.published_at, n.id)
                            FROM notices n WHERE n.visit_id = v.id AND n.status = 'published'), '[]'::json) AS "notices!"
           FROM visits v
           WHERE ($2::bigint IS NULL AND v.visit_date >= $1 OR v.id = $2)
             AND EXISTS (SELECT 1 FROM notices n WHERE n.visit_id = v.id AND n.status = 'published')
           ORDER BY v.visit_date, v.starts_at, v.id LIMIT 500"#,
        today,
        only
    )
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|v| {
            json!({
                "id": v.id, "title": v.title, "date": v.visit_date, "starts_at": v.starts_at.format("%H:%M").to_string(),
                "ends_at": v.ends_at.format("%H:%M").to_string(), "venue": v.venue, "address": v.address, "status": v.status,
                "notices": v.notices,
            })
        })
        .collect())
}

/// `GET /api/v1/visits`
pub async fn visits(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "visits": visits_json(&state, None).await? })))
}

/// `GET /api/v1/visits/{id}`: the visit, its windows with the places left, and the categories a
/// registration may name.
pub async fn visit(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let mut visit = visits_json(&state, Some(id))
        .await?
        .pop()
        .ok_or(ApiError::from(crate::error::AppError::NotFound))?;
    let windows: Vec<Value> = sqlx::query!(
        "SELECT id, starts_at, ends_at, capacity_slots - booked_slots AS \"remaining!\" FROM reception_windows WHERE visit_id = $1 ORDER BY starts_at, id",
        id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|w| json!({"id": w.id, "label": registration::window_label(w.starts_at, w.ends_at), "remaining": w.remaining.max(0), "full": w.remaining <= 0}))
    .collect();
    let categories: Vec<Value> = crate::admin::category_groups(&state.db, &[])
        .await?
        .into_iter()
        .flat_map(|g| {
            g.options
                .into_iter()
                .map(move |c| json!({"id": c.id, "name": c.label, "group": g.label.clone()}))
        })
        .collect();
    let info = load_visit(&state, id).await?;
    let closed = info.closed_message(state.clock.now());
    visit["registration_open"] = json!(closed.is_none());
    visit["registration_closes_at"] = json!(info.closes_at);
    visit["windows"] = json!(windows);
    visit["categories"] = json!(categories);
    Ok(Json(visit))
}

/// `GET /api/v1/notices/{id}`
pub async fn notice(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let p = crate::public::published::published_notice(&state.db, id).await?;
    let n = p.view;
    Ok(Json(json!({
        "id": n.id, "visit_id": p.visit_id, "kind": n.kind, "title": n.title, "body": n.body, "channels": n.channels,
        "published": n.published.unwrap_or_default(),
    })))
}

/// The registration as JSON: the form's fields with their natural types.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewRegistration {
    name: String,
    id_number: String,
    phone: String,
    address: String,
    township: String,
    persons: i64,
    representatives: Vec<String>,
    category_id: i64,
    grievance: String,
    window_id: i64,
    join_waitlist: bool,
    consent: bool,
    /// The SMS code from `POST /api/v1/phone-codes` (staff tokens need none).
    code: String,
}

impl NewRegistration {
    /// The form `registration::validate` checks, so that the API validates exactly like it.
    fn as_form(&self) -> RegistrationForm {
        let flag = |b: bool| if b { "1".to_owned() } else { String::new() };
        RegistrationForm {
            name: self.name.clone(),
            id_number: self.id_number.clone(),
            phone: self.phone.clone(),
            address: self.address.clone(),
            township: self.township.clone(),
            persons: self.persons.to_string(),
            representatives: self.representatives.join("\n"),
            category_id: self.category_id.to_string(),
            grievance: self.grievance.clone(),
            window_id: if self.join_waitlist {
                format!("{}:waitlist", self.window_id)
            } else {
                self.window_id.to_string()
            },
            consent: flag(self.consent),
            ..Default::default()
        }
    }
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    let key = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "请在请求头 Idempotency-Key 中提供 1–255 个字符的唯一键（重试时使用同一个键）。",
        ));
    }
    Ok(key.to_owned())
}

fn stored(answer: Outcome) -> ApiResult<Response> {
    match answer {
        Outcome::Stored(body) => Ok((StatusCode::CREATED, Json(body)).into_response()),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "该 Idempotency-Key 已用于另一个不同的请求，请为新的登记使用新的键。",
        )
        .field("idempotency_key", "该键已用于不同的请求内容")),
    }
}

/// `POST /api/v1/visits/{id}/registrations` → 201 with 登记编号; a retry with the same
/// Idempotency-Key and body answers the same, without a second registration.
pub async fn register(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<Response> {
    let limit = state.config.register_per_minute;
    let ip_key = format!("register:{}", ctx.ip);
    if let Err(too_many) = rate_limit::hit(&state.db, &ip_key, limit, state.clock.now()).await {
        return Ok(too_many);
    }
    let key = idempotency_key(&headers)?;
    let request_hash = request_hash(id, &body);
    // A replay answers as the first time, even once registration has closed since.
    if let Some(answer) = booking::earlier_answer(&state.db, &key, &request_hash).await? {
        return stored(answer);
    }
    let ApiJson(new) = ApiJson::<NewRegistration>::parse(&body)?;
    let (visit, valid) = validated(&state, id, &new).await?;
    let actor = ctx.actor();
    let claim = Claim::Idempotency {
        key: &key,
        request_hash,
    };
    let created_by = ctx.user.as_ref().map(|u| u.id);
    let submission = Submission {
        created_by,
        phone_proof: phone_proof(created_by, &new.code),
        ..Submission::online(&visit, &valid, claim, &actor, "")
    };
    let (now, rules) = (state.clock.now(), booking_rules(&state));
    let mut tx = state.db.begin().await?;
    let outcome = booking::submit(&mut tx, &submission, now, &state.keys, rules).await?;
    tx.commit().await?;
    created(outcome)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PhoneCodeRequest {
    phone: String,
}

/// `POST /api/v1/phone-codes`: an SMS code to the phone, for a registration within its validity
/// → 201; 429 with Retry-After at a limit.
pub async fn phone_code(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(r): ApiJson<PhoneCodeRequest>,
) -> ApiResult<Response> {
    let phone = registration::normalize_phone(&r.phone);
    if let Some(e) = registration::phone_error(&phone) {
        let invalid = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "请按提示修改后重新提交。");
        return Err(invalid.field("phone", e));
    }
    let (rules, now) = (&state.config.phone_codes, state.clock.now());
    let mut tx = state.db.begin().await?;
    let sent = phone_code::request(&mut tx, &state.keys, rules, &phone, ctx.ip, now).await?;
    tx.commit().await?;
    match sent {
        Ok(sent) => {
            let body = json!({"phone_mask": sent.mask, "expires_in": rules.ttl.num_seconds()});
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Err(limited) => {
            let message = limited.message(now);
            let refused = ApiError::new(StatusCode::TOO_MANY_REQUESTS, message.clone());
            let mut response = refused.field("phone", &message).into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from(limited.retry_after()),
            );
            Ok(response)
        }
    }
}

/// A staff token (the 12345 hotline registering a caller) vouches for the phone itself; the
/// public needs the SMS code.
fn phone_proof(staff: Option<i64>, code: &str) -> PhoneProof<'_> {
    match staff {
        Some(_) => PhoneProof::Exempt(Exemption::StaffToken),
        None => PhoneProof::Code(code),
    }
}

/// What a key's request is: the visit and the exact body (the same key with another body is refused).
fn request_hash(visit_id: i64, body: &[u8]) -> Vec<u8> {
    Sha256::new()
        .chain_update(visit_id.to_be_bytes())
        .chain_update(body)
        .finalize()
        .to_vec()
}

/// The visit (public, open for registration) and the registration as the form validates it.
async fn validated(
    state: &AppState,
    id: i64,
    new: &NewRegistration,
) -> ApiResult<(registration::VisitInfo, Valid)> {
    public_visit(state, id).await?;
    let visit = load_visit(state, id).await?;
    if let Some(message) = Channel::Online.closed(&visit, state.clock.now()) {
        return Err(ApiError::new(StatusCode::CONFLICT, message));
    }
    let (category_ids, window_ids) = offered(&state.db, id, Channel::Online).await?;
    let mut errors = Errors::default();
    let form = new.as_form();
    match registration::validate(
        &form,
        Channel::Online,
        &category_ids,
        &window_ids,
        &mut errors,
    ) {
        Some(valid) => Ok((visit, valid)),
        None => Err(ApiError::invalid(&errors)),
    }
}

/// The booking's outcome as the API answers it.
fn created(outcome: Outcome) -> ApiResult<Response> {
    match outcome {
        Outcome::Created {
            code,
            window,
            waitlisted,
            ..
        } => Ok((
            StatusCode::CREATED,
            Json(booking::receipt_json(&code, waitlisted, &window)),
        )
            .into_response()),
        Outcome::Full => Err(ApiError::new(
            StatusCode::CONFLICT,
            "所选接访时段已满，可设 join_waitlist 加入候补，或改选其他时段。",
        )
        .field("window_id", "该时段已满")),
        Outcome::PhoneUnverified(refusal) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "手机号码未通过短信验证码验证，请按提示处理后重新提交。",
        )
        .field("code", &refusal.message())),
        other @ (Outcome::Stored(_) | Outcome::KeyReused) => stored(other),
        // Form tokens only.
        Outcome::Replayed { .. } | Outcome::StaleToken => Err(ApiError::new(
            StatusCode::CONFLICT,
            "请求无法完成，请稍后重试。",
        )),
    }
}

/// `POST /api/v1/lookup`: code + 手机号码后四位 → the status the citizen's page shows.
pub async fn lookup(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(f): ApiJson<LookupForm>,
) -> ApiResult<Response> {
    if let Err(too_many) = lookup::limited(&state, &ctx).await {
        return Ok(too_many);
    }
    let Some(id) = lookup::find(&state, &f).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "未找到与该登记编号和手机号码后四位相符的登记，请核对后重试。",
        ));
    };
    let p = lookup::status_page(&state, &ctx, id, &f, None).await?;
    let cases: Vec<Value> = p
        .cases
        .iter()
        .map(|c| json!({"code": c.code, "title": c.title, "status": c.status, "due": c.due, "result": c.result, "reply": c.reply, "rating": c.rating}))
        .collect();
    Ok(Json(json!({
        "code": p.code, "status": p.status, "reject_reason": p.reject_reason, "visit_title": p.visit_title, "visit_date": p.visit_date,
        "venue": p.venue, "window": p.window, "waitlist_position": p.waitlist_position, "room": p.room,
        "queue_number": p.queue_number, "expected_at": p.expected_at, "cases": cases,
    }))
    .into_response())
}

/// `GET /api/v1/cases/{code}`: for whoever may open the case file (others: 404, as on the pages).
/// Read through `followup::case_view`, as the citizen's lookup page reads it.
pub async fn case(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    let (c, events) = crate::followup::case_view::for_staff(&state.db, &state.keys, &code, &user)
        .await?
        .ok_or_else(|| ApiError::from(crate::error::AppError::NotFound))?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| json!({"kind": e.kind, "label": e.label, "at": e.at}))
        .collect();
    Ok(Json(json!({
        "code": c.code, "title": c.title, "status": c.status, "status_label": c.status_label(),
        "department": c.department, "leader": c.leader, "deadline_days": c.deadline_days, "assigned_at": c.assigned_at,
        "accept_due_on": c.accept_due_on, "due_on": c.due_on, "extended_due_on": c.extended_due_on, "effective_due_on": c.effective_due_on,
        "closed_at": c.closed_at, "result": c.result, "events": events,
    })))
}

/// `GET /api/v1/openapi.json`
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
