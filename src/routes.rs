//! The one route table (DESIGN §2 and §5): every path, who may call it, and its handler. The
//! router (`app::router`) and the authorization tests read it; it is the only file naming handlers.

use crate::followup::attachments;
use crate::state::AppState;
use crate::web::auth::{Access, Role};
use crate::web::pages::{account, ops, second_factor, sms};
use crate::{admin, api, consult, duty, followup, prepare, public, reports};
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};

/// One row of the route table.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub endpoint: MethodRouter<AppState>,
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

/// A route that takes a file (`POST …/attachments`): its body may be as large as an upload, here and
/// in the app's body limit (`takes_file`).
fn upload<H, T>(path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    assert!(
        takes_file(&Method::POST, path),
        "{path} is not an upload path"
    );
    let mut r = route(Method::POST, path, access, handler);
    r.endpoint = r
        .endpoint
        .layer(DefaultBodyLimit::max(attachments::rules::UPLOAD_BODY_BYTES));
    r
}

/// Whether a request may carry a file, so the app lets its body be larger than a form's.
pub fn takes_file(method: &Method, path: &str) -> bool {
    method == Method::POST && path.starts_with("/cases/") && path.ends_with("/attachments")
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
/// An account's authority (role, link), unlocking, reset links, second factors, tokens (DESIGN §2).
const SECADMIN: Access = Access::Roles(&[Role::Secadmin]);
/// Both administrators see accounts: the sysadmin edits them, the secadmin sets their authority.
const ACCOUNT_ADMINS: Access = Access::Roles(&[Role::Sysadmin, Role::Secadmin]);
const AUDITOR: Access = Access::Roles(&[Role::Auditor]);

#[rustfmt::skip]
/// Every route, who may call it, and its handler. The router and the authorization tests read this.
pub fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        // Public: citizens, mostly on phones.
        route(M::GET, "/", PUBLIC, public::pages::home::page),
        route(M::GET, "/static/{file}", PUBLIC, public::pages::assets::file),
        route(M::GET, "/login", PUBLIC, account::login_page),
        route(M::POST, "/login", PUBLIC, account::login),
        // The second factor: the challenge cookie of a right password, not a session, reaches these.
        route(M::GET, "/login/enrol", PUBLIC, second_factor::enrol_page),
        route(M::POST, "/login/enrol", PUBLIC, second_factor::answer),
        route(M::GET, "/login/second-factor", PUBLIC, second_factor::code_page),
        route(M::POST, "/login/second-factor", PUBLIC, second_factor::answer),
        // Public, stage 1 — visits, notices, the monthly schedule (plan and announce).
        route(M::GET, "/schedule", PUBLIC, public::pages::visits::schedule),
        // Public by region: a province, city or county by its code, shareable (DESIGN §11).
        route(M::GET, "/r/{code}", PUBLIC, public::pages::region::page),
        route(M::GET, "/visits/{id}", PUBLIC, public::pages::visits::visit),
        route(M::GET, "/notices/{id}", PUBLIC, public::pages::visits::notice),
        route(M::GET, "/notices/{id}/print", PUBLIC, public::pages::visits::print),
        // Public, stage 1 — registration, receipt, lookup.
        route(M::GET, "/visits/{id}/register", PUBLIC, public::pages::register::form_page),
        route(M::POST, "/visits/{id}/register", PUBLIC, public::pages::register::submit),
        route(M::GET, "/registrations/{code}", PUBLIC, public::pages::register::receipt),
        route(M::GET, "/lookup", PUBLIC, public::pages::lookup::page),
        route(M::POST, "/lookup", PUBLIC, public::pages::lookup::lookup),
        route(M::POST, "/lookup/cancel", PUBLIC, public::pages::lookup::cancel),
        route(M::POST, "/lookup/documents/{doc}", PUBLIC, public::pages::lookup::document),
        // Operations.
        route(M::GET, "/healthz", PUBLIC, ops::healthz),
        route(M::GET, "/readyz", PUBLIC, ops::readyz),
        route(M::GET, "/metrics", PUBLIC, reports::pages::metrics::metrics),
        // The SMS gateway's delivery receipts: signed with the shared secret, checked in the handler.
        route(M::POST, "/sms/receipts", PUBLIC, sms::receipts),
        // Any signed-in account.
        route(M::POST, "/logout", SIGNED_IN, account::logout),
        route(M::POST, "/login/continue", SIGNED_IN, second_factor::finish),
        route(M::GET, "/account/password", SIGNED_IN, account::password_page),
        route(M::POST, "/account/password", SIGNED_IN, account::change_password),
        // A reset link (issued by the security administrator): its holder sets a new password.
        route(M::GET, "/reset/{token}", PUBLIC, admin::pages::reset::form_page),
        route(M::POST, "/reset/{token}", PUBLIC, admin::pages::reset::submit),
        route(M::GET, "/api/v1/me", SIGNED_IN, account::me),
        // Staff, stage 1 访前调查准备 — visits, rooms and windows, notices.
        route(M::GET, "/staff/visits", STAFF, prepare::pages::visits::list),
        route(M::GET, "/staff/visits/new", STAFF, prepare::pages::visits::new_page),
        route(M::POST, "/staff/visits/new", STAFF, prepare::pages::visits::create),
        route(M::GET, "/staff/visits/{id}", STAFF, prepare::pages::visits::show),
        route(M::GET, "/staff/visits/{id}/edit", STAFF, prepare::pages::visits::edit_page),
        route(M::POST, "/staff/visits/{id}/edit", STAFF, prepare::pages::visits::update),
        route(M::POST, "/staff/visits/{id}/cancel", STAFF, prepare::pages::visits::cancel),
        route(M::GET, "/staff/visits/{id}/notices", STAFF, prepare::pages::notices::page),
        route(M::POST, "/staff/visits/{id}/notices", STAFF, prepare::pages::notices::generate),
        route(M::POST, "/staff/visits/{id}/notices/{notice}", STAFF, prepare::pages::notices::update),
        route(M::POST, "/staff/visits/{id}/notices/{notice}/publish", STAFF, prepare::pages::notices::publish),
        route(M::POST, "/staff/visits/{id}/notices/{notice}/schedule", STAFF, prepare::pages::notices::schedule),
        route(M::POST, "/staff/visits/{id}/notices/{notice}/unschedule", STAFF, prepare::pages::notices::unschedule),
        route(M::POST, "/staff/visits/{id}/correction", STAFF, prepare::pages::notices::correct),
        route(M::GET, "/staff/visits/{id}/rooms", STAFF, prepare::pages::rooms::page),
        route(M::POST, "/staff/visits/{id}/rooms", STAFF, prepare::pages::rooms::create),
        route(M::GET, "/staff/visits/{id}/rooms/{room}", STAFF, prepare::pages::rooms::show),
        route(M::POST, "/staff/visits/{id}/rooms/{room}", STAFF, prepare::pages::rooms::update),
        route(M::POST, "/staff/visits/{id}/rooms/{room}/delete", STAFF, prepare::pages::rooms::delete),
        route(M::POST, "/staff/visits/{id}/windows", STAFF, prepare::pages::rooms::generate_windows),
        route(M::POST, "/staff/visits/{id}/windows/{window}", STAFF, prepare::pages::rooms::set_capacity),

        // Staff, stage 1 — the county's duty rota (值守接访): each duty day is a visit of its own.
        route(M::GET, "/staff/duty", STAFF, duty::pages::rota::page),
        route(M::POST, "/staff/duty", STAFF, duty::pages::rota::save),
        route(M::POST, "/staff/duty/generate", STAFF, duty::pages::rota::generate),

        // Staff, stage 1 — registrations on a citizen's behalf.
        route(M::GET, "/staff/visits/{id}/registrations/new", STAFF, prepare::pages::registration::staff_form),
        route(M::POST, "/staff/visits/{id}/registrations/new", STAFF, prepare::pages::registration::staff_submit),

        // Staff, stage 1 — triage, screening decisions, export; survey items.
        route(M::GET, "/staff/visits/{id}/registrations", STAFF_OR_SUPERVISOR, prepare::pages::triage_index::list),
        route(M::POST, "/staff/visits/{id}/registrations.xlsx", STAFF_OR_SUPERVISOR, prepare::pages::triage_export::export),
        route(M::POST, "/staff/visits/{id}/registrations/bulk", STAFF, prepare::pages::triage_bulk::bulk),
        route(M::GET, "/staff/visits/{id}/registrations/{reg}", STAFF_OR_SUPERVISOR, prepare::pages::triage::show),
        route(M::POST, "/staff/visits/{id}/registrations/{reg}/unmask", STAFF_OR_SUPERVISOR, prepare::pages::triage::unmask),
        route(M::POST, "/staff/visits/{id}/registrations/{reg}/category", STAFF, prepare::pages::triage::change_category),
        route(M::POST, "/staff/visits/{id}/registrations/{reg}/confirm", STAFF, prepare::pages::triage::confirm),
        route(M::POST, "/staff/visits/{id}/registrations/{reg}/reject", STAFF, prepare::pages::triage::reject),
        route(M::POST, "/staff/visits/{id}/registrations/{reg}/merge", STAFF, prepare::pages::triage::merge),
        route(M::POST, "/staff/visits/{id}/registrations/{reg}/flags/{flag}", STAFF, prepare::pages::triage::decide_flag),
        route(M::GET, "/staff/visits/{id}/survey", STAFF_OR_SUPERVISOR, prepare::pages::survey::list),
        route(M::POST, "/staff/visits/{id}/survey", STAFF, prepare::pages::survey::create),
        route(M::GET, "/staff/visits/{id}/survey/{item}", STAFF_OR_SUPERVISOR, prepare::pages::survey::show),
        route(M::POST, "/staff/visits/{id}/survey/{item}", STAFF, prepare::pages::survey::update),
        route(M::POST, "/staff/visits/{id}/survey/{item}/link", STAFF, prepare::pages::survey::link),
        route(M::POST, "/staff/visits/{id}/survey/{item}/unlink", STAFF, prepare::pages::survey::unlink),

        // Staff, stage 2 访中会商研究 — the schedule (排接).
        route(M::GET, "/staff/visits/{id}/schedule", STAFF, consult::pages::schedule::page),
        route(M::POST, "/staff/visits/{id}/schedule/run", STAFF, consult::pages::schedule::run),
        route(M::POST, "/staff/visits/{id}/schedule/{reg}", STAFF, consult::pages::schedule::move_one),
        route(M::GET, "/staff/visits/{id}/schedule/rooms/{room}/print", STAFF, consult::pages::printouts::room_list),

        // Public, stage 2 — the queue board (叫号屏) and its live events.
        route(M::GET, "/visits/{id}/board", PUBLIC, consult::pages::board::page),
        route(M::GET, "/visits/{id}/board/events", PUBLIC, consult::pages::board::events),
        // (stage 2: publish the schedule, check-in, walk-ins, the day's counts)
        route(M::POST, "/staff/visits/{id}/schedule/publish", STAFF, consult::pages::schedule::publish),
        route(M::GET, "/staff/visits/{id}/checkin", STAFF, consult::pages::checkin::page),
        route(M::POST, "/staff/visits/{id}/checkin", STAFF, consult::pages::checkin::search),
        route(M::POST, "/staff/visits/{id}/checkin/{reg}", STAFF, consult::pages::checkin::check_in_one),
        route(M::GET, "/staff/visits/{id}/checkin/{reg}/ticket", STAFF, consult::pages::printouts::ticket),
        route(M::GET, "/staff/visits/{id}/walkin", STAFF, consult::pages::checkin::walk_in_form),
        route(M::POST, "/staff/visits/{id}/walkin", STAFF, consult::pages::checkin::walk_in),
        route(M::GET, "/staff/visits/{id}/day", STAFF_OR_SUPERVISOR, consult::pages::day::page),
        route(M::GET, "/staff/visits/{id}/outbox", STAFF, prepare::pages::outbox::page),

        // (stage 2: the leader's desk, transfer, no-shows, /me/today)
        route(M::GET, "/staff/visits/{id}/rooms/{room}/desk", STAFF_OR_LEADER, consult::pages::desk::page),
        route(M::POST, "/staff/visits/{id}/rooms/{room}/desk/call", STAFF_OR_LEADER, consult::pages::desk::call),
        route(M::POST, "/staff/visits/{id}/rooms/{room}/desk/no-shows", STAFF_OR_LEADER, consult::pages::desk::no_shows),
        route(M::POST, "/staff/visits/{id}/rooms/{room}/desk/{reg}/record", STAFF_OR_LEADER, consult::pages::desk::record),
        route(M::POST, "/staff/visits/{id}/rooms/{room}/desk/{reg}/transfer", STAFF_OR_LEADER, consult::pages::desk::transfer),
        route(M::GET, "/staff/visits/{id}/rooms/{room}/desk/{reg}/correct", STAFF_OR_LEADER, consult::pages::desk_correct::page),
        route(M::POST, "/staff/visits/{id}/rooms/{room}/desk/{reg}/correct", STAFF_OR_LEADER, consult::pages::desk_correct::save),
        route(M::GET, "/me/today", LEADER, consult::pages::today::page),

        // (stage 3: cases, the department inbox, feedback, handover)
        route(M::GET, "/cases", CASE_READERS, followup::pages::inbox::list),
        route(M::GET, "/cases/{id}", CASE_READERS, followup::pages::cases::show),
        route(M::POST, "/cases/{id}/accept", HANDLER, followup::pages::cases::accept),
        route(M::POST, "/cases/{id}/return", HANDLER, followup::pages::cases::return_case),
        route(M::POST, "/cases/{id}/progress", HANDLER, followup::pages::cases::progress),
        route(M::POST, "/cases/{id}/extend", HANDLER, followup::pages::cases::extend),
        route(M::POST, "/cases/{id}/submit", HANDLER, followup::pages::cases::submit),
        route(M::POST, "/cases/{id}/approve-extension", SUPERVISOR, followup::pages::cases::approve_extension),
        route(M::POST, "/cases/{id}/refuse-extension", SUPERVISOR, followup::pages::cases::refuse_extension),
        route(M::POST, "/cases/{id}/approve", LEADER_OR_SUPERVISOR, followup::pages::cases::approve),
        route(M::POST, "/cases/{id}/reject", LEADER_OR_SUPERVISOR, followup::pages::cases::reject),
        route(M::POST, "/cases/{id}/reopen", SUPERVISOR, followup::pages::cases::reopen),
        route(M::POST, "/cases/{id}/review", SUPERVISOR, followup::pages::cases::review),
        route(M::POST, "/cases/{id}/decide-review", SUPERVISOR, followup::pages::cases::decide_review_handler),
        route(M::POST, "/cases/{id}/hearing", SUPERVISOR, followup::pages::reviews::hearing),
        route(M::POST, "/cases/{id}/reassign", STAFF, followup::pages::cases::reassign),
        // Documents in writing: each kind is drafted and issued by its own side (rules::may_draft).
        route(M::POST, "/cases/{id}/documents", CASE_READERS, followup::pages::documents::create),
        route(M::GET, "/cases/{id}/documents/{doc}", CASE_READERS, followup::pages::documents::show),
        route(M::POST, "/cases/{id}/documents/{doc}", CASE_READERS, followup::pages::documents::save),
        route(M::POST, "/cases/{id}/documents/{doc}/issue", CASE_READERS, followup::pages::documents::issue),
        route(M::POST, "/cases/{id}/documents/{doc}/correct", CASE_READERS, followup::pages::documents::correct),
        route(M::POST, "/cases/{id}/documents/{doc}/deliveries", CASE_READERS, followup::pages::documents::deliver),
        route(M::GET, "/cases/{id}/documents/{doc}/print", CASE_READERS, followup::pages::documents::print),
        // Attachments: added by those who act on the case, read by all who see it (checked in the handlers).
        upload("/cases/{id}/attachments", CASE_READERS, followup::pages::attachments::upload),
        upload("/cases/{id}/documents/{doc}/attachments", CASE_READERS, followup::pages::attachments::upload_to_document),
        route(M::GET, "/cases/{id}/attachments/{attachment}", CASE_READERS, followup::pages::attachments::download),
        route(M::GET, "/cases/{id}/archive", CASE_READERS, followup::pages::attachments::archive),
        route(M::GET, "/dept/cases", HANDLER, followup::pages::inbox::inbox),
        route(M::POST, "/lookup/{code}/feedback", PUBLIC, public::pages::feedback::rate),
        route(M::POST, "/lookup/{code}/review", PUBLIC, public::pages::review::request),
        route(M::GET, "/leaders/{id}/handover", SUPERVISOR, followup::pages::handover::show),
        route(M::POST, "/leaders/{id}/handover", SUPERVISOR, followup::pages::handover::perform),

        // (stage 3: supervision, lists, reports, exports)
        route(M::GET, "/supervision", STAFF_OR_SUPERVISOR, followup::pages::supervision::page),
        route(M::POST, "/supervision.xlsx", STAFF_OR_SUPERVISOR, followup::pages::supervision::export),
        route(M::POST, "/cases/{id}/urge", SUPERVISOR, followup::pages::supervision::urge),
        route(M::GET, "/supervision/lists", STAFF_OR_SUPERVISOR, followup::pages::lists::page),
        route(M::POST, "/supervision/lists.xlsx", STAFF_OR_SUPERVISOR, followup::pages::lists::export),
        route(M::GET, "/reports/visits/{id}", STAFF_OR_SUPERVISOR, reports::pages::visit::show),
        route(M::POST, "/cases.xlsx", CASE_READERS, followup::pages::inbox::export),

        // API v1 — integration (12345 hotline, SMS gateway, statistics); own tokens at /me/tokens.
        route(M::GET, "/me/tokens", TOKEN_HOLDERS, api::pages::tokens::list),
        route(M::POST, "/me/tokens", TOKEN_HOLDERS, api::pages::tokens::create),
        route(M::POST, "/me/tokens/{id}/revoke", TOKEN_HOLDERS, api::pages::tokens::revoke),
        route(M::POST, "/admin/users/{id}/revoke-tokens", SECADMIN, api::pages::tokens::admin_revoke_all),
        route(M::GET, "/api/v1/openapi.json", PUBLIC, api::endpoints::v1::openapi),
        route(M::GET, "/api/v1/visits", PUBLIC, api::endpoints::v1::visits),
        route(M::GET, "/api/v1/visits/{id}", PUBLIC, api::endpoints::v1::visit),
        route(M::GET, "/api/v1/notices/{id}", PUBLIC, api::endpoints::v1::notice),
        route(M::POST, "/api/v1/visits/{id}/registrations", PUBLIC, api::endpoints::v1::register),
        route(M::POST, "/api/v1/phone-codes", PUBLIC, api::endpoints::v1::phone_code),
        route(M::POST, "/api/v1/lookup", PUBLIC, api::endpoints::v1::lookup),
        route(M::GET, "/api/v1/cases/{code}", CASE_READERS, api::endpoints::v1::case),



        // Administration (三员分立): the sysadmin keeps accounts (never their authority) and the
        // reference data; the security administrator sets authority. Neither reads petitions.
        route(M::GET, "/admin/users", ACCOUNT_ADMINS, admin::pages::users::list),
        route(M::POST, "/admin/users", SYSADMIN, admin::pages::users::create),
        route(M::GET, "/admin/users/{id}", ACCOUNT_ADMINS, admin::pages::users::show),
        route(M::POST, "/admin/users/{id}", SYSADMIN, admin::pages::users::update),
        route(M::POST, "/admin/users/{id}/deactivate", SYSADMIN, admin::pages::users::deactivate),
        route(M::POST, "/admin/users/{id}/activate", SYSADMIN, admin::pages::users::activate),
        route(M::POST, "/admin/users/{id}/authority", SECADMIN, admin::pages::authority::update),
        route(M::POST, "/admin/users/{id}/unlock", SECADMIN, admin::pages::authority::unlock),
        route(M::POST, "/admin/users/{id}/reset-link", SECADMIN, admin::pages::authority::reset_link),
        route(M::POST, "/admin/users/{id}/reset-second-factor", SECADMIN, admin::pages::second_factor::reset),
        route(M::GET, "/admin/departments", SYSADMIN, admin::pages::departments::list),
        route(M::POST, "/admin/departments", SYSADMIN, admin::pages::departments::create),
        route(M::GET, "/admin/departments/{id}", SYSADMIN, admin::pages::departments::show),
        route(M::POST, "/admin/departments/{id}", SYSADMIN, admin::pages::departments::update),
        route(M::POST, "/admin/departments/{id}/superiors", SYSADMIN, admin::pages::departments::superiors),
        route(M::GET, "/admin/leaders", SYSADMIN, admin::pages::leaders::list),
        route(M::POST, "/admin/leaders", SYSADMIN, admin::pages::leaders::create),
        route(M::GET, "/admin/leaders/{id}", SYSADMIN, admin::pages::leaders::show),
        route(M::POST, "/admin/leaders/{id}", SYSADMIN, admin::pages::leaders::update),
        route(M::GET, "/admin/categories", SYSADMIN, admin::pages::categories::list),
        route(M::POST, "/admin/categories", SYSADMIN, admin::pages::categories::create),
        route(M::GET, "/admin/categories/{id}", SYSADMIN, admin::pages::categories::show),
        route(M::POST, "/admin/categories/{id}", SYSADMIN, admin::pages::categories::update),
        route(M::GET, "/admin/calendar", SYSADMIN, admin::pages::calendar::list),
        route(M::POST, "/admin/calendar", SYSADMIN, admin::pages::calendar::set),
        route(M::POST, "/admin/calendar/{day}/delete", SYSADMIN, admin::pages::calendar::delete),
        // Audit: the auditor only.
        route(M::GET, "/audit", AUDITOR, admin::pages::audit::list),
        route(M::POST, "/audit.xlsx", AUDITOR, admin::pages::audit::export),
    ]
}
