//! The application: the router built from the route table (`routes.rs`), its middleware, and serving.

use crate::clock::SystemClock;
use crate::config::Config;
use crate::error::{AppError, ErrorMessage};
use crate::state::AppState;
use crate::web::json::{as_json, is_api};
use crate::web::{auth, errors, metrics};
use crate::{db, live};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Router, middleware};
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The boards' live streams (`/visits/{id}/board/events`): long-lived by design, so they do not
/// count as requests in flight.
fn is_board_stream(path: &str) -> bool {
    path.strip_prefix("/visits/")
        .and_then(|rest| rest.strip_suffix("/board/events"))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// What is compressed: the text pages are made of. Not the boards' event streams (a compressor
/// holds bytes back until its buffer fills, so calls would reach the hall late), nor images or
/// spreadsheets (compressed already).
fn compressible(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    matches!(
        mime,
        "text/html" | "text/css" | "text/javascript" | "application/json"
    )
}

/// gzip and brotli for bodies above a kilobyte (below, a body fits one packet anyway), both at
/// level 5. Brotli's default, 11, costs some 25 times the CPU of 5 on our stylesheet for 10 %
/// fewer bytes, on every response; at 5 it already beats gzip's best.
fn compression() -> CompressionLayer<impl Predicate> {
    let text = |_: StatusCode,
                _: axum::http::Version,
                headers: &axum::http::HeaderMap,
                _: &axum::http::Extensions| {
        headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(compressible)
    };
    CompressionLayer::new()
        .quality(CompressionLevel::Precise(5))
        .compress_when(SizeAbove::new(1024).and(text))
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
        Err(_) if is_api(req.uri().path()) => as_json(AppError::Overloaded.into_response()),
        Err(_) => errors::page(AppError::Overloaded),
    }
}

/// Refusals of the CSRF layer get a Chinese page like every other 403.
fn csrf_refusal(_: tower_http::csrf::ProtectionError) -> Response {
    AppError::CrossSite.into_response()
}

/// Every staff route of one visit (its registrations, rooms, notices, survey, schedule, check-in,
/// desk, day) starts so: a new route under it cannot escape the scope check.
const VISIT_SCOPED: &str = "/staff/visits/{id}";

/// A visit outside the signed-in account's jurisdiction answers 404, like an unknown id (§11).
async fn visit_scope(
    State(state): State<AppState>,
    Path(params): Path<Vec<(String, String)>>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Result<Response, AppError> {
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .and_then(|(_, v)| v.parse::<i64>().ok());
    let root = req
        .extensions()
        .get::<auth::CurrentUser>()
        .and_then(|u| u.jurisdiction_id);
    let Some(id) = id else {
        return Err(AppError::NotFound);
    };
    let mut conn = state.db.acquire().await?;
    if !crate::prepare::scope::visit_visible(&mut conn, id, root).await? {
        return Err(AppError::NotFound);
    }
    drop(conn);
    Ok(next.run(req).await)
}

/// A visit's staff routes get the scope check, inside the role guard: a role refused answers
/// 403, a visit out of reach 404.
fn scoped(
    state: &AppState,
    path: &str,
    endpoint: axum::routing::MethodRouter<AppState>,
) -> axum::routing::MethodRouter<AppState> {
    if path.starts_with(VISIT_SCOPED) {
        endpoint.route_layer(middleware::from_fn_with_state(state.clone(), visit_scope))
    } else {
        endpoint
    }
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
    let tls = state.config.secure_cookies;
    let mut routes = Router::new();
    for r in crate::routes::routes() {
        let access = r.access;
        let guarded = scoped(&state, r.path, r.endpoint).route_layer(middleware::from_fn(
            move |req, next| auth::guard(access, req, next),
        ));
        routes = routes.route(r.path, guarded);
    }
    let routes = routes
        .route_layer(middleware::from_fn(metrics::track))
        .fallback(not_found)
        .with_state(state.clone());
    // Every request passes these, outermost first. They wrap the router once: `Router::layer` would
    // wrap each route, cloning and boxing every layer again for every request.
    let stack = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %log_path(req.uri().path()))
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(compression())
        .map_response(move |r| security_headers(r, tls))
        .layer(middleware::from_fn(crate::web::elder::mode))
        .layer(middleware::from_fn_with_state(state.clone(), shed))
        .layer(middleware::from_fn(errors::layer_errors))
        .layer(CatchPanicLayer::custom(|_| AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(30)))
        .layer(middleware::from_fn_with_state(state.clone(), body_limit))
        .layer(CsrfLayer::new().with_rejection_response(csrf_refusal))
        .layer(middleware::from_fn_with_state(state, crate::web::context))
        .service(routes);
    Router::new().fallback_service(stack)
}

/// The body limit (DESIGN §7): `max_body_bytes` for every request but an upload's, which may carry
/// a file (`routes::takes_file`). A declared length beyond it is refused before anything is read
/// (413, the Chinese page); a body that runs past it is cut off where it does.
async fn body_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let upload = crate::routes::takes_file(req.method(), req.uri().path());
    let limit = if upload {
        crate::followup::attachments::rules::UPLOAD_BODY_BYTES
    } else {
        state.config.max_body_bytes
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let mut refused = StatusCode::PAYLOAD_TOO_LARGE.into_response();
        if upload {
            let why = crate::followup::attachments::rules::TOO_LARGE;
            refused.extensions_mut().insert(ErrorMessage(why.into()));
        }
        return refused;
    }
    next.run(req.map(|body| Body::new(http_body_util::Limited::new(body, limit))))
        .await
}

/// The path as logged: a reset link's token is a live credential and stays out of the logs.
fn log_path(path: &str) -> &str {
    if path.starts_with("/reset/") {
        "/reset/{token}"
    } else {
        path
    }
}

/// Security headers on every response, error pages included (DESIGN §7); over TLS also HSTS, so
/// that a browser never again tries the site over plain HTTP.
fn security_headers(mut response: Response, tls: bool) -> Response {
    for (name, value) in SECURITY_HEADERS {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if tls {
        response.headers_mut().insert(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
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
    let board_listener = live::start_listener(state.db.clone(), state.board.clone()).await;
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
    bus.send(live::Signal::Closing);
    connections.shutdown().await;
    board_listener.abort();
    Ok(())
}

/// Where the database is: the configured server, or the embedded cluster this process may own.
/// Two identities: the owner (migrations only) and the app role (the pool, DESIGN §7).
pub struct Database {
    /// The app role's URL; None when only the owner's was configured (`migrate`).
    pub url: Option<String>,
    /// The owner's URL: the embedded cluster's superuser, or XIAFANG_OWNER_DATABASE_URL.
    pub owner_url: Option<String>,
    pub cluster: Option<db::embedded::Cluster>,
}

impl Database {
    /// The app role's URL, the only one a pool may use.
    pub fn app_url(&self) -> anyhow::Result<&str> {
        self.url.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "请设置 DATABASE_URL：应用角色 {} 的连接地址（`xiafang migrate` 创建该角色）",
                db::APP_ROLE
            )
        })
    }

    /// The password `migrate` gives the app role: the embedded cluster's own, or the configured one.
    pub fn app_password(&self, config: &Config) -> Option<String> {
        match &self.cluster {
            Some(cluster) => Some(cluster.app_password().to_owned()),
            None => config.app_password.clone(),
        }
    }
}

pub async fn open_database(config: &Config) -> anyhow::Result<Database> {
    if config.database_url.is_some() || config.owner_database_url.is_some() {
        return Ok(Database {
            url: config.database_url.clone(),
            owner_url: config.owner_database_url.clone(),
            cluster: None,
        });
    }
    let cluster = db::embedded::Cluster::start_archiving(
        &config.data_dir.join("postgres"),
        Default::default(),
        config.wal_archive.as_deref(),
    )
    .await?;
    db::ensure_database(&cluster.url("postgres"), "xiafang").await?;
    Ok(Database {
        url: Some(cluster.app_url("xiafang")),
        owner_url: Some(cluster.url("xiafang")),
        cluster: Some(cluster),
    })
}

/// What a root parent hands the serving process it started (`crate::unprivileged`), in place
/// of the database settings and the key file.
pub struct Handed {
    pub database_url: String,
    pub keys: crate::crypto::Keys,
}

/// `xiafang serve`: database, migrations (embedded only: an external server is migrated by its
/// owner with `xiafang migrate`), optional demo data, then serve until SIGTERM/Ctrl-C.
pub async fn run(mut config: Config, demo: bool, handed: Option<Handed>) -> anyhow::Result<()> {
    // Only here do demo accounts skip the second factor.
    config.demo_mode = demo;
    if let Some(handed) = &handed {
        config.database_url = Some(handed.database_url.clone());
        (config.owner_database_url, config.app_password) = (None, None);
    }
    let database = open_database(&config).await?;
    let result = async {
        if let (Some(cluster), Some(owner)) = (&database.cluster, &database.owner_url) {
            db::migrate(owner, Some(cluster.app_password())).await?;
        }
        let pool = db::connect(database.app_url()?, config.db_max_connections).await?;
        db::check_serving(&pool).await?;
        // Before anything is written: the key file must decrypt what the database holds.
        let keys = Arc::new(match handed {
            Some(handed) => handed.keys,
            None => crate::crypto::store::keys_for_serving(&pool, &config.keys_path()).await?,
        });
        crate::admin::reference::regions::ensure_shipped(&pool).await?;
        if demo {
            crate::demo::seed(&pool, &SystemClock, &keys).await?;
        }
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        tracing::info!(address = %config.bind, "xiafang 已启动：http://{}", config.bind);
        let delivery = crate::notify::Delivery::from_config(&config);
        let poll = config.notify_poll;
        let state = AppState::new(pool.clone(), config, Arc::new(SystemClock), keys).await?;
        let mut jobs = vec![tokio::spawn(housekeeping(state.clone()))];
        if let Some(target) = state.config.audit_syslog.clone() {
            // In every instance; the cursor's lock keeps each entry to one sender.
            jobs.push(tokio::spawn(crate::audit::forward::run(
                pool.clone(),
                target,
            )));
        }
        if state.config.jobs {
            // Outbox delivery runs in every instance; SKIP LOCKED claims keep each message to one sender.
            let (db, clock, keys) = (pool.clone(), state.clock.clone(), state.keys.clone());
            jobs.push(
                match crate::notify::gateway::HttpSender::from_config(&state.config.sms)? {
                    Some(gateway) => tokio::spawn(crate::notify::run_delivery(
                        db, clock, keys, gateway, delivery, poll,
                    )),
                    None => tokio::spawn(crate::notify::run_delivery(
                        db,
                        clock,
                        keys,
                        crate::notify::LogSender,
                        delivery,
                        poll,
                    )),
                },
            );
            // Reminders and 催办 run in every instance too; claims and a unique key keep each to one.
            jobs.push(tokio::spawn(crate::followup::jobs::run_loop(
                pool.clone(),
                state.clock.clone(),
                state.config.case_rules.clone(),
                state.config.job_batch,
                state.config.job_poll,
                uuid::Uuid::new_v4().to_string(),
            )));
            // Planned notices too: a claim and the unique published notice keep each to one.
            jobs.push(tokio::spawn(crate::prepare::notice_jobs::run_loop(
                pool.clone(),
                state.clock.clone(),
                state.config.notice_days,
                state.config.job_poll,
                uuid::Uuid::new_v4().to_string(),
            )));
        } else {
            tracing::warn!(
                "XIAFANG_JOBS=off: no reminders, 催办, planned notices or outbox delivery in this instance"
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

/// Once a minute in every instance: the purge (one instance at a time), and the demo banner follows
/// whether demo accounts still exist (another instance may have seeded or deactivated them).
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    crate::job_runs::started("purge");
    loop {
        tick.tick().await;
        let windows = crate::purge::Windows {
            sessions: state.timeouts(),
            idempotency: state.config.idempotency_key_ttl,
        };
        let purged = crate::purge::run(&state.db, state.clock.now(), &windows).await;
        if purged.is_ok() {
            crate::job_runs::ran("purge");
        }
        match purged {
            Ok(Some(p)) => tracing::debug!(?p, "purged"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
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
    fn a_reset_token_is_not_logged() {
        assert_eq!(log_path("/reset/abc123"), "/reset/{token}");
        assert_eq!(log_path("/cases/7"), "/cases/7");
    }

    #[test]
    fn pages_styles_scripts_and_json_are_compressed_streams_and_files_not() {
        for t in [
            "text/html; charset=utf-8",
            "text/css; charset=utf-8",
            "text/javascript; charset=utf-8",
            "application/json",
        ] {
            assert!(compressible(t), "{t}");
        }
        for t in [
            "text/event-stream",
            "image/png",
            "image/svg+xml",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "",
        ] {
            assert!(!compressible(t), "{t}");
        }
    }

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
