//! The application: its state, the one route table (who may call what, DESIGN §2 and §5), and serving.

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::error::AppError;
use crate::web::auth::{self, Access, Role};
use crate::web::{account, ops, session};
use crate::{admin, api, consult, db, followup, prepare, public, reports, web};
use axum::extract::State;
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::{Router, middleware};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// What every request shares. One `Arc`, so that the clones each request makes of it (extractors,
/// middleware) cost one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub metrics: PrometheusHandle,
    pub keys: Arc<crate::privacy::Keys>,
    /// Queue changes announced by any instance (Postgres LISTEN/NOTIFY), for the boards' SSE clients.
    pub board: consult::board::Bus,
    /// Demo accounts exist: every page shows the 演示数据 banner.
    demo: AtomicBool,
    /// Permits for requests in flight (`config.max_in_flight`); none left: shed (see `shed`).
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub async fn new(
        db: PgPool,
        config: Config,
        clock: SharedClock,
        keys: Arc<crate::privacy::Keys>,
    ) -> anyhow::Result<Self> {
        let in_flight = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight));
        let state = Self(Arc::new(Shared {
            db,
            config: Arc::new(config),
            clock,
            metrics: ops::recorder(),
            keys,
            board: consult::board::bus(),
            demo: AtomicBool::default(),
            in_flight,
        }));
        state.refresh_demo_flag().await?;
        Ok(state)
    }

    pub fn timeouts(&self) -> session::Timeouts {
        session::Timeouts {
            idle: self.config.session_idle,
            absolute: self.config.session_absolute,
        }
    }

    pub fn demo_present(&self) -> bool {
        self.demo.load(Ordering::Relaxed)
    }

    pub async fn refresh_demo_flag(&self) -> sqlx::Result<()> {
        let present = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM users WHERE is_demo AND active) AS "e!""#
        )
        .fetch_one(&self.db)
        .await?;
        self.demo.store(present, Ordering::Relaxed);
        Ok(())
    }
}

/// One row of the route table.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    endpoint: MethodRouter<AppState>,
}

fn route<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("GET or POST");
    Route {
        method,
        path,
        access,
        endpoint: axum::routing::on(filter, handler),
    }
}

const PUBLIC: Access = Access::Public;
const SIGNED_IN: Access = Access::SignedIn;
const STAFF: Access = Access::Roles(&[Role::Staff]);
/// Reading registrations and dossiers, and unmasking (audited): staff and supervisors (DESIGN §2).
const STAFF_OR_SUPERVISOR: Access = Access::Roles(&[Role::Staff, Role::Supervisor]);
/// Cases: everyone who works them; object checks (own department, own cases) are in the handlers.
const CASE_READERS: Access =
    Access::Roles(&[Role::Staff, Role::Leader, Role::Handler, Role::Supervisor]);
const HANDLER: Access = Access::Roles(&[Role::Handler]);
const SUPERVISOR: Access = Access::Roles(&[Role::Supervisor]);
/// The second signature on a closure: the owning leader or a supervisor.
const LEADER_OR_SUPERVISOR: Access = Access::Roles(&[Role::Leader, Role::Supervisor]);
/// The desk (接待台): staff, and leaders in their own rooms (checked in the handlers, DESIGN §2).
const STAFF_OR_LEADER: Access = Access::Roles(&[Role::Staff, Role::Leader]);
const LEADER: Access = Access::Roles(&[Role::Leader]);
/// Own API tokens carry the user's own role (DESIGN §2): not the sysadmin nor the auditor.
const TOKEN_HOLDERS: Access =
    Access::Roles(&[Role::Staff, Role::Leader, Role::Handler, Role::Supervisor]);
const SYSADMIN: Access = Access::Roles(&[Role::Sysadmin]);
const AUDITOR: Access = Access::Roles(&[Role::Auditor]);

/// Every route, who may call it, and its handler. The router and the authorization tests read this.
pub fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        // Public: citizens, mostly on phones.
        route(M::GET, "/", PUBLIC, public::home::page),
        route(M::GET, "/static/{file}", PUBLIC, public::assets::file),
        route(M::GET, "/login", PUBLIC, account::login_page),
        route(M::POST, "/login", PUBLIC, account::login),
        // Public, stage 1 — visits, notices, the monthly schedule (plan and announce).
        route(M::GET, "/schedule", PUBLIC, public::visits::schedule),
        route(M::GET, "/visits/{id}", PUBLIC, public::visits::visit),
        route(M::GET, "/notices/{id}", PUBLIC, public::visits::notice),
        route(M::GET, "/notices/{id}/print", PUBLIC, public::visits::print),
        // Public, stage 1 — registration, receipt, lookup.
        route(
            M::GET,
            "/visits/{id}/register",
            PUBLIC,
            public::register::form_page,
        ),
        route(
            M::POST,
            "/visits/{id}/register",
            PUBLIC,
            public::register::submit,
        ),
        route(
            M::GET,
            "/registrations/{code}",
            PUBLIC,
            public::register::receipt,
        ),
        route(M::GET, "/lookup", PUBLIC, public::lookup::page),
        route(M::POST, "/lookup", PUBLIC, public::lookup::lookup),
        route(M::POST, "/lookup/cancel", PUBLIC, public::lookup::cancel),
        // Operations.
        route(M::GET, "/healthz", PUBLIC, ops::healthz),
        route(M::GET, "/readyz", PUBLIC, ops::readyz),
        route(M::GET, "/metrics", PUBLIC, ops::metrics),
        // Any signed-in account.
        route(M::POST, "/logout", SIGNED_IN, account::logout),
        route(
            M::GET,
            "/account/password",
            SIGNED_IN,
            account::password_page,
        ),
        route(
            M::POST,
            "/account/password",
            SIGNED_IN,
            account::change_password,
        ),
        route(M::GET, "/api/v1/me", SIGNED_IN, web::api_me),
        // Staff, stage 1 访前调查准备 — visits, rooms and windows, notices.
        route(M::GET, "/staff/visits", STAFF, prepare::visits::list),
        route(
            M::GET,
            "/staff/visits/new",
            STAFF,
            prepare::visits::new_page,
        ),
        route(M::POST, "/staff/visits/new", STAFF, prepare::visits::create),
        route(M::GET, "/staff/visits/{id}", STAFF, prepare::visits::show),
        route(
            M::GET,
            "/staff/visits/{id}/edit",
            STAFF,
            prepare::visits::edit_page,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/edit",
            STAFF,
            prepare::visits::update,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/cancel",
            STAFF,
            prepare::visits::cancel,
        ),
        route(
            M::GET,
            "/staff/visits/{id}/notices",
            STAFF,
            prepare::notices::page,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/notices",
            STAFF,
            prepare::notices::generate,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/notices/{notice}",
            STAFF,
            prepare::notices::update,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/notices/{notice}/publish",
            STAFF,
            prepare::notices::publish,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/correction",
            STAFF,
            prepare::notices::correct,
        ),
        route(
            M::GET,
            "/staff/visits/{id}/rooms",
            STAFF,
            prepare::rooms::page,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/rooms",
            STAFF,
            prepare::rooms::create,
        ),
        route(
            M::GET,
            "/staff/visits/{id}/rooms/{room}",
            STAFF,
            prepare::rooms::show,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/rooms/{room}",
            STAFF,
            prepare::rooms::update,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/rooms/{room}/delete",
            STAFF,
            prepare::rooms::delete,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/windows",
            STAFF,
            prepare::rooms::generate_windows,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/windows/{window}",
            STAFF,
            prepare::rooms::set_capacity,
        ),
        // Staff, stage 1 — registrations on a citizen's behalf.
        route(
            M::GET,
            "/staff/visits/{id}/registrations/new",
            STAFF,
            prepare::registration::staff_form,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/registrations/new",
            STAFF,
            prepare::registration::staff_submit,
        ),
        // Staff, stage 1 — triage, screening decisions, export; survey items.
        route(
            M::GET,
            "/staff/visits/{id}/registrations",
            STAFF_OR_SUPERVISOR,
            prepare::triage::list,
        ),
        route(
            M::GET,
            "/staff/visits/{id}/registrations.xlsx",
            STAFF_OR_SUPERVISOR,
            prepare::triage_export::export,
        ),
        route(
            M::GET,
            "/staff/visits/{id}/registrations/{reg}",
            STAFF_OR_SUPERVISOR,
            prepare::triage::show,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/registrations/{reg}/unmask",
            STAFF_OR_SUPERVISOR,
            prepare::triage::unmask,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/registrations/{reg}/category",
            STAFF,
            prepare::triage::change_category,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/registrations/{reg}/confirm",
            STAFF,
            prepare::triage::confirm,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/registrations/{reg}/reject",
            STAFF,
            prepare::triage::reject,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/registrations/{reg}/merge",
            STAFF,
            prepare::triage::merge,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/registrations/{reg}/flags/{flag}",
            STAFF,
            prepare::triage::decide_flag,
        ),
        route(
            M::GET,
            "/staff/visits/{id}/survey",
            STAFF_OR_SUPERVISOR,
            prepare::survey::list,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/survey",
            STAFF,
            prepare::survey::create,
        ),
        route(
            M::GET,
            "/staff/visits/{id}/survey/{item}",
            STAFF_OR_SUPERVISOR,
            prepare::survey::show,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/survey/{item}",
            STAFF,
            prepare::survey::update,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/survey/{item}/link",
            STAFF,
            prepare::survey::link,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/survey/{item}/unlink",
            STAFF,
            prepare::survey::unlink,
        ),
        // Staff, stage 2 访中会商研究 — the schedule (排接).
        route(
            M::GET,
            "/staff/visits/{id}/schedule",
            STAFF,
            consult::scheduling::page,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/schedule/run",
            STAFF,
            consult::scheduling::run,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/schedule/{reg}",
            STAFF,
            consult::scheduling::move_one,
        ),
        // Public, stage 2 — the queue board (叫号屏) and its live events.
        route(M::GET, "/visits/{id}/board", PUBLIC, consult::board::page),
        route(
            M::GET,
            "/visits/{id}/board/events",
            PUBLIC,
            consult::board::events,
        ),
        // (stage 2: publish the schedule, check-in, walk-ins, the day's counts)
        route(
            M::POST,
            "/staff/visits/{id}/schedule/publish",
            STAFF,
            consult::publish::publish,
        ),
        route(
            M::GET,
            "/staff/visits/{id}/checkin",
            STAFF,
            consult::checkin::page,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/checkin",
            STAFF,
            consult::checkin::search,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/checkin/{reg}",
            STAFF,
            consult::checkin::check_in_one,
        ),
        route(
            M::GET,
            "/staff/visits/{id}/walkin",
            STAFF,
            consult::checkin::walk_in_form,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/walkin",
            STAFF,
            consult::checkin::walk_in,
        ),
        route(
            M::GET,
            "/staff/visits/{id}/day",
            STAFF_OR_SUPERVISOR,
            consult::day::page,
        ),
        // (stage 2: the leader's desk, transfer, no-shows, /me/today)
        route(
            M::GET,
            "/staff/visits/{id}/rooms/{room}/desk",
            STAFF_OR_LEADER,
            consult::desk::page,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/rooms/{room}/desk/call",
            STAFF_OR_LEADER,
            consult::desk::call,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/rooms/{room}/desk/no-shows",
            STAFF_OR_LEADER,
            consult::desk::no_shows,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/rooms/{room}/desk/{reg}/record",
            STAFF_OR_LEADER,
            consult::desk::record,
        ),
        route(
            M::POST,
            "/staff/visits/{id}/rooms/{room}/desk/{reg}/transfer",
            STAFF_OR_LEADER,
            consult::desk::transfer,
        ),
        route(M::GET, "/me/today", LEADER, consult::today::page),
        // (stage 3: cases, the department inbox, feedback, handover)
        route(M::GET, "/cases", CASE_READERS, followup::inbox::list),
        route(M::GET, "/cases/{id}", CASE_READERS, followup::cases::show),
        route(
            M::POST,
            "/cases/{id}/accept",
            HANDLER,
            followup::cases::accept,
        ),
        route(
            M::POST,
            "/cases/{id}/return",
            HANDLER,
            followup::cases::return_case,
        ),
        route(
            M::POST,
            "/cases/{id}/progress",
            HANDLER,
            followup::cases::progress,
        ),
        route(
            M::POST,
            "/cases/{id}/extend",
            HANDLER,
            followup::cases::extend,
        ),
        route(
            M::POST,
            "/cases/{id}/notify-acceptance",
            HANDLER,
            followup::cases::notify_acceptance,
        ),
        route(
            M::POST,
            "/cases/{id}/submit",
            HANDLER,
            followup::cases::submit,
        ),
        route(
            M::POST,
            "/cases/{id}/approve-extension",
            SUPERVISOR,
            followup::cases::approve_extension,
        ),
        route(
            M::POST,
            "/cases/{id}/refuse-extension",
            SUPERVISOR,
            followup::cases::refuse_extension,
        ),
        route(
            M::POST,
            "/cases/{id}/approve",
            LEADER_OR_SUPERVISOR,
            followup::cases::approve,
        ),
        route(
            M::POST,
            "/cases/{id}/reject",
            LEADER_OR_SUPERVISOR,
            followup::cases::reject,
        ),
        route(
            M::POST,
            "/cases/{id}/reopen",
            SUPERVISOR,
            followup::cases::reopen,
        ),
        route(
            M::POST,
            "/cases/{id}/review",
            SUPERVISOR,
            followup::cases::review,
        ),
        route(
            M::POST,
            "/cases/{id}/decide-review",
            SUPERVISOR,
            followup::cases::decide_review_handler,
        ),
        route(
            M::POST,
            "/cases/{id}/reassign",
            STAFF,
            followup::cases::reassign,
        ),
        route(M::GET, "/dept/cases", HANDLER, followup::inbox::inbox),
        route(
            M::POST,
            "/lookup/{code}/feedback",
            PUBLIC,
            followup::feedback::rate,
        ),
        route(
            M::GET,
            "/leaders/{id}/handover",
            SUPERVISOR,
            followup::handover::show,
        ),
        route(
            M::POST,
            "/leaders/{id}/handover",
            SUPERVISOR,
            followup::handover::perform,
        ),
        // (stage 3: supervision, lists, reports, exports)
        route(
            M::GET,
            "/supervision",
            STAFF_OR_SUPERVISOR,
            followup::supervision::page,
        ),
        route(
            M::GET,
            "/supervision.xlsx",
            STAFF_OR_SUPERVISOR,
            followup::supervision::export,
        ),
        route(
            M::POST,
            "/cases/{id}/urge",
            SUPERVISOR,
            followup::supervision::urge,
        ),
        route(
            M::GET,
            "/supervision/lists",
            STAFF_OR_SUPERVISOR,
            followup::lists::page,
        ),
        route(
            M::GET,
            "/supervision/lists.xlsx",
            STAFF_OR_SUPERVISOR,
            followup::lists::export,
        ),
        route(
            M::GET,
            "/reports/visits/{id}",
            STAFF_OR_SUPERVISOR,
            reports::visit::show,
        ),
        route(M::GET, "/cases.xlsx", CASE_READERS, followup::inbox::export),
        // API v1 — integration (12345 hotline, SMS gateway, statistics); own tokens at /me/tokens.
        route(M::GET, "/me/tokens", TOKEN_HOLDERS, api::tokens::list),
        route(M::POST, "/me/tokens", TOKEN_HOLDERS, api::tokens::create),
        route(
            M::POST,
            "/me/tokens/{id}/revoke",
            TOKEN_HOLDERS,
            api::tokens::revoke,
        ),
        route(
            M::POST,
            "/admin/users/{id}/revoke-tokens",
            SYSADMIN,
            api::tokens::admin_revoke_all,
        ),
        route(M::GET, "/api/v1/openapi.json", PUBLIC, api::openapi),
        route(M::GET, "/api/v1/visits", PUBLIC, api::v1::visits),
        route(M::GET, "/api/v1/visits/{id}", PUBLIC, api::v1::visit),
        route(M::GET, "/api/v1/notices/{id}", PUBLIC, api::v1::notice),
        route(
            M::POST,
            "/api/v1/visits/{id}/registrations",
            PUBLIC,
            api::v1::register,
        ),
        route(M::POST, "/api/v1/lookup", PUBLIC, api::v1::lookup),
        route(M::GET, "/api/v1/cases/{code}", CASE_READERS, api::v1::case),
        // Administration: sysadmin only; it never reads petitions or the audit log.
        route(M::GET, "/admin/users", SYSADMIN, admin::users::list),
        route(M::POST, "/admin/users", SYSADMIN, admin::users::create),
        route(M::GET, "/admin/users/{id}", SYSADMIN, admin::users::show),
        route(M::POST, "/admin/users/{id}", SYSADMIN, admin::users::update),
        route(
            M::POST,
            "/admin/users/{id}/deactivate",
            SYSADMIN,
            admin::users::deactivate,
        ),
        route(
            M::POST,
            "/admin/users/{id}/activate",
            SYSADMIN,
            admin::users::activate,
        ),
        route(
            M::POST,
            "/admin/users/{id}/reset-password",
            SYSADMIN,
            admin::users::reset_password,
        ),
        route(
            M::GET,
            "/admin/departments",
            SYSADMIN,
            admin::departments::list,
        ),
        route(
            M::POST,
            "/admin/departments",
            SYSADMIN,
            admin::departments::create,
        ),
        route(
            M::GET,
            "/admin/departments/{id}",
            SYSADMIN,
            admin::departments::show,
        ),
        route(
            M::POST,
            "/admin/departments/{id}",
            SYSADMIN,
            admin::departments::update,
        ),
        route(M::GET, "/admin/leaders", SYSADMIN, admin::leaders::list),
        route(M::POST, "/admin/leaders", SYSADMIN, admin::leaders::create),
        route(
            M::GET,
            "/admin/leaders/{id}",
            SYSADMIN,
            admin::leaders::show,
        ),
        route(
            M::POST,
            "/admin/leaders/{id}",
            SYSADMIN,
            admin::leaders::update,
        ),
        route(
            M::GET,
            "/admin/categories",
            SYSADMIN,
            admin::categories::list,
        ),
        route(
            M::POST,
            "/admin/categories",
            SYSADMIN,
            admin::categories::create,
        ),
        route(
            M::GET,
            "/admin/categories/{id}",
            SYSADMIN,
            admin::categories::show,
        ),
        route(
            M::POST,
            "/admin/categories/{id}",
            SYSADMIN,
            admin::categories::update,
        ),
        route(M::GET, "/admin/calendar", SYSADMIN, admin::calendar::list),
        route(M::POST, "/admin/calendar", SYSADMIN, admin::calendar::set),
        route(
            M::POST,
            "/admin/calendar/{day}/delete",
            SYSADMIN,
            admin::calendar::delete,
        ),
        // Audit: the auditor only.
        route(M::GET, "/audit", AUDITOR, admin::audit::list),
    ]
}

/// The boards' live streams (`/visits/{id}/board/events`): long-lived by design, so they do not
/// count as requests in flight.
fn is_board_stream(path: &str) -> bool {
    path.strip_prefix("/visits/")
        .and_then(|rest| rest.strip_suffix("/board/events"))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// Load shedding: beyond `max_in_flight` requests at once, answer 503 + Retry-After at once
/// instead of queueing until clients time out silently.
async fn shed(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    if is_board_stream(req.uri().path()) {
        return next.run(req).await;
    }
    match state.in_flight.clone().try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) if api::is_api(req.uri().path()) => {
            api::as_json(AppError::Overloaded.into_response())
        }
        Err(_) => AppError::Overloaded.into_response(),
    }
}

/// Refusals of the CSRF layer get a Chinese page like every other 403.
fn csrf_refusal(_: tower_http::csrf::ProtectionError) -> Response {
    AppError::CrossSite.into_response()
}

async fn not_found() -> AppError {
    AppError::NotFound
}

/// The security headers (DESIGN §7).
const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
];

pub fn router(state: AppState) -> Router {
    let mut routes = Router::new();
    for r in self::routes() {
        let access = r.access;
        let guarded = r
            .endpoint
            .route_layer(middleware::from_fn(move |req, next| {
                auth::guard(access, req, next)
            }));
        routes = routes.route(r.path, guarded);
    }
    let routes = routes
        .route_layer(middleware::from_fn(ops::track))
        .fallback(not_found)
        .with_state(state.clone());
    // Every request passes these, outermost first. They wrap the router once: `Router::layer` would
    // wrap each route, cloning and boxing every layer again for every request.
    let stack = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .map_response(security_headers)
        .layer(middleware::from_fn_with_state(state.clone(), shed))
        .layer(middleware::from_fn(crate::error::layer_errors))
        .layer(CatchPanicLayer::custom(|_| AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(30)))
        .layer(RequestBodyLimitLayer::new(state.config.max_body_bytes))
        .map_request(|req: axum::http::Request<tower_http::body::Limited<axum::body::Body>>| req.map(axum::body::Body::new))
        .layer(CsrfLayer::new().with_rejection_response(csrf_refusal))
        .layer(middleware::from_fn_with_state(state, web::context))
        .service(routes);
    Router::new().fallback_service(stack)
}

/// Security headers on every response, error pages included (DESIGN §7).
fn security_headers(mut response: Response) -> Response {
    for (name, value) in SECURITY_HEADERS {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}

/// Serve until `shutdown` resolves, then finish the requests in flight.
///
/// HTTP/1.1 straight on hyper rather than `axum::serve`: its HTTP/2 sniffing leaves every connection
/// a 16 KiB read buffer instead of 8 KiB, which 2,000 open hall boards would pay for nothing.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::TokioIo;
    use tower::ServiceExt;
    // Every instance listens, so a call made on any instance reaches the boards this one serves.
    let board_listener =
        consult::board::start_listener(state.db.clone(), state.board.clone()).await;
    let bus = state.board.clone();
    let app = router(state);
    // No header-read timer (every request would arm one): slow clients are the reverse proxy's to
    // absorb, as they were under axum::serve.
    let http = hyper::server::conn::http1::Builder::new();
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req
                });
        let connection = http.serve_connection(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    bus.send(consult::board::Signal::Closing);
    connections.shutdown().await;
    board_listener.abort();
    Ok(())
}

/// Where the database is: the configured server, or the embedded cluster this process may own.
pub struct Database {
    pub url: String,
    pub cluster: Option<db::embedded::Cluster>,
}

pub async fn open_database(config: &Config) -> anyhow::Result<Database> {
    if let Some(url) = &config.database_url {
        return Ok(Database {
            url: url.clone(),
            cluster: None,
        });
    }
    let cluster =
        db::embedded::Cluster::start(&config.data_dir.join("postgres"), Default::default()).await?;
    db::ensure_database(&cluster.url("postgres"), "xiafang").await?;
    Ok(Database {
        url: cluster.url("xiafang"),
        cluster: Some(cluster),
    })
}

/// `xiafang serve`: database, migrations, optional demo data, then serve until SIGTERM/Ctrl-C.
pub async fn run(config: Config, demo: bool) -> anyhow::Result<()> {
    let database = open_database(&config).await?;
    let result = async {
        db::migrate(&database.url).await?;
        let pool = db::connect(&database.url, config.db_max_connections).await?;
        if demo {
            crate::demo::seed(&pool, &SystemClock).await?;
        }
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        tracing::info!(address = %config.bind, "xiafang 已启动：http://{}", config.bind);
        let keys = Arc::new(crate::privacy::Keys::load_or_create(&config.keys_path())?);
        let delivery = crate::notify::Delivery::from_config(&config);
        let poll = config.notify_poll;
        let state = AppState::new(pool.clone(), config, Arc::new(SystemClock), keys).await?;
        let mut jobs = vec![tokio::spawn(housekeeping(state.clone()))];
        if state.config.jobs {
            // Outbox delivery runs in every instance; SKIP LOCKED claims keep each message to one sender.
            jobs.push(tokio::spawn(crate::notify::run_delivery(
                pool.clone(),
                state.clock.clone(),
                crate::notify::LogSender,
                delivery,
                poll,
            )));
            // Reminders and 催办 run in every instance too; claims and a unique key keep each to one.
            jobs.push(tokio::spawn(crate::followup::jobs::run_loop(
                pool.clone(),
                state.clock.clone(),
                state.config.case_rules.clone(),
                state.config.job_batch,
                state.config.job_poll,
                uuid::Uuid::new_v4().to_string(),
            )));
        } else {
            tracing::warn!(
                "XIAFANG_JOBS=off: no reminders, 催办 or outbox delivery in this instance"
            );
        }
        serve(listener, state, shutdown_signal()).await?;
        jobs.iter().for_each(|j| j.abort());
        pool.close().await;
        anyhow::Ok(())
    }
    .await;
    if let Some(cluster) = &database.cluster {
        cluster.stop().await?;
    }
    result
}

/// Once a minute in every instance: ended rate-limit windows go, and the demo banner follows
/// whether demo accounts still exist (another instance may have seeded or deactivated them).
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = crate::web::rate_limit::purge(&state.db, state.clock.now()).await {
            tracing::warn!(error = %e, "purging rate-limit counters failed");
        }
        if let Err(e) = state.refresh_demo_flag().await {
            tracing::warn!(error = %e, "refreshing the demo flag failed");
        }
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_board_stream_is_exempt_from_shedding() {
        assert!(is_board_stream("/visits/12/board/events"));
        for path in [
            "/visits/12/board",
            "/visits//board/events",
            "/visits/12/x/board/events",
            "/visits/1/board/events/",
            "/api/visits/1/board/events",
        ] {
            assert!(!is_board_stream(path), "{path}");
        }
    }
}
