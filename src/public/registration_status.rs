//! A registration's status as its citizen sees it (the `/lookup` page, the API's lookup, the
//! rating form): the proof (登记编号 + 手机号码后四位), the rate limit, and the status
//! page with the cases that came of it.

use crate::clock::china_minute;
use crate::error::AppError;
use crate::prepare::booking;
use crate::prepare::lifecycle::{RegistrationStatus as Status, citizen_status_label};
use crate::prepare::registration;
use crate::state::AppState;
use crate::web::form::Errors;
use crate::web::page::Layout;
use crate::web::{Ctx, rate_limit};
use askama::Template;
use serde::Deserialize;

/// A refused rating form, shown again under its case.
#[derive(Default)]
pub struct Draft {
    pub case_code: String,
    pub rating: String,
    pub comment: String,
    pub errors: Errors,
}

/// The proof a citizen gives: code + the last 4 digits of the phone they registered with.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LookupForm {
    pub code: String,
    pub phone_last4: String,
}

#[derive(Template)]
#[template(path = "public/status.html")]
pub struct StatusPage {
    pub(crate) layout: Layout,
    pub(crate) code: String,
    pub(crate) phone_last4: String,
    pub(crate) status: &'static str,
    pub(crate) reject_reason: String,
    pub(crate) visit_title: String,
    pub(crate) visit_date: String,
    pub(crate) venue: String,
    pub(crate) window: String,
    pub(crate) waitlist_position: Option<i64>,
    pub(crate) room: String,
    pub(crate) queue_number: Option<i32>,
    pub(crate) expected_at: String,
    pub(crate) cancellable: bool,
    pub(crate) cases: Vec<CaseLine>,
}

/// A case as its citizen sees it: the public parts only.
pub(crate) struct CaseLine {
    pub(crate) code: String,
    pub(crate) title: String,
    pub(crate) status: &'static str,
    pub(crate) due: String,
    pub(crate) result: &'static str,
    pub(crate) reply: String,
    pub(crate) rating: &'static str,
    pub(crate) can_rate: bool,
    pub(crate) dissatisfied: bool,
    /// The rating form as typed and its errors, when this case's form was refused.
    pub(crate) draft: Draft,
}

/// The registration this proof opens, if it does.
pub async fn find(state: &AppState, f: &LookupForm) -> Result<Option<i64>, AppError> {
    Ok(booking::find_by_code_and_phone(&state.db, &f.code, &f.phone_last4).await?)
}

pub async fn limited(state: &AppState, ctx: &Ctx) -> Result<(), axum::response::Response> {
    rate_limit::hit(
        &state.db,
        &format!("lookup:{}", ctx.ip),
        state.config.lookup_per_minute,
        state.clock.now(),
    )
    .await
}

/// The status page of registration `id`; `draft`: a refused rating form to show again.
pub async fn status_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    f: &LookupForm,
    mut draft: Option<Draft>,
) -> Result<StatusPage, AppError> {
    let r = sqlx::query!(
        r#"SELECT r.code, r.status, r.reject_reason, r.queue_number, r.expected_at, r.notified_assignment, v.title, v.visit_date, v.venue, v.address,
                  w.starts_at AS "window_starts?", w.ends_at AS "window_ends?", rm.name AS "room?", rm.location AS "room_location?",
                  (SELECT count(*) FROM waitlist o WHERE o.window_id = wl.window_id AND o.promoted_at IS NULL
                      AND (o.created_at, o.id) <= (wl.created_at, wl.id)) AS waitlist_position
           FROM registrations r JOIN visits v ON v.id = r.visit_id
           LEFT JOIN reception_windows w ON w.id = r.window_id
           LEFT JOIN rooms rm ON rm.id = r.room_id
           LEFT JOIN waitlist wl ON wl.registration_id = r.id AND wl.promoted_at IS NULL
           WHERE r.id = $1"#,
        id
    )
    .fetch_one(&state.db)
    .await?;
    let cases = crate::followup::case_view::for_citizen(&state.db, &state.keys, id)
        .await?
        .into_iter()
        .map(|c| CaseLine {
            due: c
                .effective_due_on
                .map(crate::clock::cn_date)
                .unwrap_or_default(),
            result: c.public_result(),
            reply: c.public_reply(),
            rating: c.rating_label(),
            can_rate: c.can_rate(),
            dissatisfied: c.dissatisfied(),
            status: c.status_label(),
            draft: draft.take_if(|d| d.case_code == c.code).unwrap_or_default(),
            code: c.code,
            title: c.title,
        })
        .collect();
    let today = crate::clock::china_date(state.clock.now());
    let window = match (r.window_starts, r.window_ends) {
        (Some(s), Some(e)) => registration::window_label(s, e),
        _ => String::new(),
    };
    // The assignment is the citizen's once it was published to them (发布排接) or they checked in.
    let status = Status::parse(&r.status);
    let shown = r.notified_assignment.is_some()
        || matches!(
            status,
            Some(Status::CheckedIn | Status::Called | Status::Received)
        );
    let room = match (r.room.filter(|_| shown), r.room_location) {
        (Some(name), Some(loc)) if !loc.is_empty() => format!("{name}（{loc}）"),
        (Some(name), _) => name,
        _ => String::new(),
    };
    Ok(StatusPage {
        layout: ctx.layout("登记状态"),
        code: r.code,
        phone_last4: f.phone_last4.trim().to_owned(),
        status: citizen_status_label(&r.status),
        reject_reason: r.reject_reason.unwrap_or_default(),
        visit_title: r.title,
        visit_date: crate::clock::cn_date(r.visit_date),
        venue: if r.address.is_empty() {
            r.venue
        } else {
            format!("{}（{}）", r.venue, r.address)
        },
        window,
        waitlist_position: if status == Some(Status::Waitlisted) {
            r.waitlist_position
        } else {
            None
        },
        room,
        queue_number: r.queue_number.filter(|_| shown),
        expected_at: r
            .expected_at
            .filter(|_| shown)
            .map(china_minute)
            .unwrap_or_default(),
        cancellable: status.is_some_and(Status::cancellable) && r.visit_date > today,
        cases,
    })
}
