//! The demo county: seeded once however often it is asked for, and flagged on every page.

use crate::harness::TestApp;
use sqlx::PgPool;
use xiafang::demo::{DEMO_ACCOUNTS, DEMO_PASSWORD, seed};

#[tokio::test]
async fn the_demo_seeds_once_and_every_page_says_so() {
    // `serve --demo`: demo accounts sign in with the password alone.
    let app = TestApp::spawn_with(|c| c.demo_mode = true).await;
    assert!(
        !app.client().get("/").await.body.contains("演示数据"),
        "no banner without demo accounts"
    );

    let owner = PgPool::connect(&app.url).await.unwrap();
    seed(&owner, app.clock.as_ref()).await.unwrap();
    seed(&owner, app.clock.as_ref()).await.unwrap();
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE is_demo")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(users, DEMO_ACCOUNTS.len() as i64, "idempotent");
    let visits: i64 = sqlx::query_scalar("SELECT count(*) FROM visits")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(visits, 1);
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

    for (username, _, role) in DEMO_ACCOUNTS {
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
