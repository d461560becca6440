//! Every route of the route table: anonymous callers are refused, and each role reaches only its own.

use crate::harness::TestApp;
use axum::http::Method;
use xiafang::clock::Clock;
use xiafang::routes::routes;
use xiafang::web::auth::{Access, Role};
use xiafang::web::session;

/// A concrete path for a route pattern: unknown ids, so allowed roles get 404 rather than touching data.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                if seg == "{file}" { "app.css" } else { "999999" }
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn request(
    app: &TestApp,
    cookie: Option<&str>,
    method: &Method,
    path: &str,
) -> reqwest::Response {
    let url = format!("{}{}", app.origin(), concrete(path));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client
        .request(method.clone(), url)
        .header("Origin", app.origin());
    if let Some(c) = cookie {
        req = req.header("Cookie", format!("{}={c}", session::COOKIE));
    }
    if method == Method::POST {
        req = req
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("");
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn anonymous_requests_to_every_non_public_route_are_refused() {
    let app = TestApp::spawn().await;
    let mut checked = 0;
    for r in routes() {
        let res = request(&app, None, &r.method, r.path).await;
        let status = res.status().as_u16();
        match r.access {
            Access::Public => assert!(status < 500, "{} {} → {status}", r.method, r.path),
            _ if r.path.starts_with("/api/") => assert_eq!(status, 401, "{} {}", r.method, r.path),
            _ => {
                assert_eq!(status, 303, "{} {}", r.method, r.path);
                let location = res.headers()["location"].to_str().unwrap();
                assert!(
                    location.starts_with("/login?next=%2F"),
                    "{} {} → {location}",
                    r.method,
                    r.path
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "the table has its staff routes");
}

#[tokio::test]
async fn each_role_reaches_exactly_the_routes_of_its_role() {
    let app = TestApp::spawn().await;
    let mut users = Vec::new();
    for role in Role::ALL {
        users.push((role, app.user(&format!("u_{}", role.as_str()), role).await));
    }
    let mut allowed_seen = 0;
    for r in routes()
        .into_iter()
        .filter(|r| !matches!(r.access, Access::Public))
    {
        for &(role, user_id) in &users {
            // A session per request: POST /logout must not end the next request's session.
            let token = session::create(
                &app.db,
                user_id,
                app.clock.now(),
                "127.0.0.1".parse().unwrap(),
                None,
            )
            .await
            .unwrap();
            let res = request(&app, Some(&token), &r.method, r.path).await;
            let status = res.status().as_u16();
            let to_login = res
                .headers()
                .get("location")
                .is_some_and(|l| l.to_str().unwrap().starts_with("/login"));
            if r.access.allows(Some(role)) {
                assert!(
                    status != 401 && status != 403 && !to_login && status < 500,
                    "{role:?} {} {} → {status}",
                    r.method,
                    r.path
                );
                allowed_seen += 1;
            } else {
                assert_eq!(status, 403, "{role:?} may not {} {}", r.method, r.path);
            }
        }
    }
    assert!(allowed_seen > 0);
}

#[test]
fn the_route_table_has_no_duplicates_and_admin_is_for_administrators_only() {
    let table = routes();
    let mut seen = std::collections::HashSet::new();
    for r in &table {
        assert!(
            seen.insert((r.method.clone(), r.path)),
            "duplicate {} {}",
            r.method,
            r.path
        );
        if r.path.starts_with("/admin") {
            // 三员分立: the system and the security administrator, nobody who reads petitions.
            assert!(
                matches!(r.access, Access::Roles(roles)
                    if roles.iter().all(|r| matches!(r, Role::Sysadmin | Role::Secadmin))),
                "{}",
                r.path
            );
        }
        if r.path.starts_with("/audit") {
            assert!(
                matches!(r.access, Access::Roles(roles) if roles == [Role::Auditor]),
                "{}",
                r.path
            );
        }
    }
}
