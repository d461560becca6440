//! The demo county: seeded once however often it is asked for, and flagged on every page.

use crate::harness::{Client, TestApp};
use crate::register::{form, id_number};
use sqlx::PgPool;
use xiafang::demo::{COUNTY_A, COUNTY_B, DEMO_ACCOUNTS, DEMO_PASSWORD, seed};

/// The app in demo mode with the demo seeded: (app, owner pool).
async fn seeded() -> (TestApp, PgPool) {
    let app = TestApp::spawn_with(|c| c.demo_mode = true).await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    seed(&owner, app.clock.as_ref(), &app.state.keys)
        .await
        .unwrap();
    app.state.refresh_demo_flag().await.unwrap();
    (app, owner)
}

async fn demo_client(app: &TestApp, username: &str) -> Client {
    let client = app.client();
    let r = client
        .post(
            "/login",
            &[("username", username), ("password", DEMO_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 303, "{username} signs in");
    client
}

/// The upcoming visit of the county with this code: (id, title).
async fn upcoming(owner: &PgPool, code: &str) -> (i64, String) {
    sqlx::query_as(
        "SELECT v.id, v.title FROM visits v JOIN jurisdictions j ON j.id = v.county_id WHERE j.code = $1 AND v.status = 'announced' AND NOT v.duty",
    )
    .bind(code)
    .fetch_one(owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_demo_seeds_once_and_every_page_says_so() {
    // `serve --demo`: demo accounts sign in with the password alone.
    let app = TestApp::spawn_with(|c| c.demo_mode = true).await;
    assert!(
        !app.client().get("/").await.body.contains("演示数据"),
        "no banner without demo accounts"
    );

    let owner = PgPool::connect(&app.url).await.unwrap();
    seed(&owner, app.clock.as_ref(), &app.state.keys)
        .await
        .unwrap();
    seed(&owner, app.clock.as_ref(), &app.state.keys)
        .await
        .unwrap();
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE is_demo")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(users, DEMO_ACCOUNTS.len() as i64, "idempotent");
    let visits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM visits WHERE status = 'announced' AND NOT duty")
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(visits, 2, "one upcoming visit in each county, once");
    // 浦阳县's duty rota: a leader on every working day ahead this month and next, once.
    let duty: Vec<(chrono::NaiveDate, bool)> = sqlx::query_as(
        "SELECT v.visit_date, COALESCE(c.is_workday, extract(isodow FROM v.visit_date) < 6)
         FROM visits v LEFT JOIN calendar_days c ON c.day = v.visit_date
         WHERE v.duty AND v.status = 'announced' ORDER BY v.visit_date",
    )
    .fetch_all(&owner)
    .await
    .unwrap();
    assert!(duty.len() >= 15, "{duty:?}");
    assert!(duty.iter().all(|(_, workday)| *workday), "{duty:?}");
    let (first_duty, _) = duty[0];
    let schedule = app
        .client()
        .get(&format!("/schedule?month={}", first_duty.format("%Y-%m")))
        .await
        .body;
    assert!(schedule.contains("领导值守接访"), "{schedule}");
    // The home page lists the visits and only the rota's next day, not a month of duty days.
    let home = app.client().get("/").await;
    let listed = home.texts(".visit-list li strong");
    assert_eq!(
        listed.iter().filter(|t| t.contains("值守")).count(),
        1,
        "{listed:?}"
    );
    assert!(
        listed.iter().any(|t| t.contains("领导下访接访日")),
        "{listed:?}"
    );
    let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(cases, 72, "a year of history, once");
    app.state.refresh_demo_flag().await.unwrap();

    let home = app.client().get("/").await;
    assert!(home.text(".demo-banner").contains("演示数据"));
    assert!(
        home.text("main").contains("仙华街道便民服务中心"),
        "the upcoming visit is listed"
    );
    assert!(
        home.text("main").contains("公告"),
        "its first notice is listed"
    );

    for (username, _, role, _) in DEMO_ACCOUNTS {
        let client = app.client();
        let r = client
            .post(
                "/login",
                &[("username", username), ("password", DEMO_PASSWORD)],
            )
            .await;
        assert_eq!(r.status, 303, "{username}");
        assert_eq!(r.location(), xiafang::web::auth::home_for(role));
        let landing = client.get(r.location()).await;
        assert_eq!(landing.status, 200, "{username} lands on a page");
        assert!(
            landing.text(".demo-banner").contains("演示数据"),
            "{username}"
        );
    }
}

#[tokio::test]
async fn a_citizen_registers_for_the_demo_visit_the_moment_it_is_seeded() {
    let (app, owner) = seeded().await;
    let (visit, _) = upcoming(&owner, COUNTY_A).await;
    let rooms: i64 = sqlx::query_scalar("SELECT count(*) FROM rooms WHERE visit_id = $1")
        .bind(visit)
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(rooms, 2, "the visit has its rooms");
    let window: i64 = sqlx::query_scalar(
        "SELECT id FROM reception_windows WHERE visit_id = $1 AND capacity_slots > 0 ORDER BY starts_at LIMIT 1",
    )
    .bind(visit)
    .fetch_one(&owner)
    .await
    .unwrap();
    let category: i64 = sqlx::query_scalar(
        "SELECT id FROM categories WHERE name = '城乡建设' AND parent_id IS NOT NULL ORDER BY id LIMIT 1",
    )
    .fetch_one(&owner)
    .await
    .unwrap();

    let citizen = app.client();
    let page = citizen.get(&format!("/visits/{visit}/register")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.field_value("form_token");
    let (id, c, w) = (id_number(7), category.to_string(), window.to_string());
    let r = citizen
        .post_verified(
            &format!("/visits/{visit}/register"),
            &form(&token, &id, &c, &w),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with("/registrations/"), "a receipt");
    let booked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM registrations WHERE visit_id = $1 AND window_id = $2",
    )
    .bind(visit)
    .bind(window)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(booked, 1);
}

#[tokio::test]
async fn the_second_county_sees_its_own_visits_and_the_city_sees_both_counties() {
    let (app, owner) = seeded().await;
    let (a, title_a) = upcoming(&owner, COUNTY_A).await;
    let (b, title_b) = upcoming(&owner, COUNTY_B).await;

    let staff_b = demo_client(&app, "xinfang_b").await;
    let list = staff_b.get("/staff/visits").await;
    assert_eq!(list.status, 200);
    assert!(
        list.text("main").contains(&title_b),
        "its own county's visit"
    );
    assert!(
        !list.text("main").contains(&title_a),
        "not the other county's"
    );
    assert_eq!(staff_b.get(&format!("/staff/visits/{b}")).await.status, 200);
    assert_eq!(staff_b.get(&format!("/staff/visits/{a}")).await.status, 404);

    let staff_a = demo_client(&app, "xinfang").await;
    let list = staff_a.get("/staff/visits").await;
    assert!(list.text("main").contains(&title_a));
    assert!(!list.text("main").contains(&title_b));

    let city = demo_client(&app, "ducha_shi").await;
    let page = city.get("/supervision").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let ranking = page.text("#counties");
    assert!(
        ranking.contains("浦阳县") && ranking.contains("安和县"),
        "both counties ranked: {ranking}"
    );
    let county = demo_client(&app, "ducha").await.get("/supervision").await;
    assert!(
        !county.text("main").contains("安和县"),
        "a county's supervisor sees no other county"
    );
}

#[tokio::test]
async fn the_demo_has_a_year_of_cases_in_every_state() {
    let (app, owner) = seeded().await;
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM cases GROUP BY status ORDER BY status")
            .fetch_all(&owner)
            .await
            .unwrap();
    let names: Vec<&str> = states.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "accepted",
            "assigned",
            "closed",
            "closure_submitted",
            "rated"
        ],
        "{states:?}"
    );
    let (urged, dissatisfied, past): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM cases WHERE first_urged_at IS NOT NULL),
                (SELECT count(*) FROM cases WHERE rating = 'dissatisfied'),
                (SELECT count(DISTINCT visit_date) FROM visits WHERE visit_date < current_date)",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert!(urged >= 2, "some overdue cases are urged");
    assert!(dissatisfied >= 2, "some ratings are 不满意");
    assert_eq!(past, 12, "a visit every month for a year");

    let county = demo_client(&app, "ducha").await.get("/supervision").await;
    assert_eq!(county.status, 200);
    assert!(
        county.text("main").contains("县住房和城乡建设局"),
        "the county's dashboard ranks its departments"
    );
}
