//! The day's printouts in Chromium (issue 16): a room's list on A4 from the schedule, and the
//! queue ticket that follows a check-in, one page of an 80 mm receipt roll with a QR code of the
//! citizen's status page.

use crate::browser::{Browser, decode_qr};
use crate::harness::{TestApp, test_keys};
use thirtyfour::common::print::{PrintMargins, PrintPage};
use thirtyfour::prelude::*;
use xiafang::demo::{DEMO_PASSWORD, pujiang};

#[tokio::test]
async fn a_rooms_list_prints_on_a4_and_a_check_in_prints_its_ticket_on_80_mm() {
    let app = TestApp::spawn_with(|c| c.demo_mode = true).await;
    let visit = pujiang::seed(&app.db, &*app.clock, &test_keys())
        .await
        .unwrap();
    let b = Browser::start(false).await;
    b.log_in(&app, "xinfang", DEMO_PASSWORD).await;
    b.driver
        .goto(format!("{}/staff/visits/{visit}/schedule", app.origin()))
        .await
        .unwrap();
    b.press("打印接待名单").await;
    let rows = b
        .driver
        .find_all(By::Css(".room-list tbody tr"))
        .await
        .unwrap()
        .len();
    let text = b.body_text().await;
    assert!(rows > 20 && text.contains("接待名单"), "{rows}: {text}");
    assert!(text.contains("某"), "names masked: {text}");
    b.screenshot("room-list").await;
    let pages = b.print_pages("room-list").await;
    assert!(
        (1..=rows.div_ceil(20)).contains(&pages),
        "{rows} batches on {pages} A4 pages"
    );

    // The first scheduled batch checks in at the desk; its ticket is the next page.
    let code: String = sqlx::query_scalar(
        "SELECT code FROM registrations WHERE visit_id = $1 AND status = 'scheduled' ORDER BY id LIMIT 1",
    )
    .bind(visit)
    .fetch_one(&app.db)
    .await
    .unwrap();
    b.driver
        .goto(format!("{}/staff/visits/{visit}/checkin", app.origin()))
        .await
        .unwrap();
    b.fill("登记编号、手机号码或身份证号", &code).await;
    b.press("查找").await;
    b.press("签到").await;
    let url = b.driver.current_url().await.unwrap();
    assert!(url.path().ends_with("/ticket"), "{url}");
    let ticket = b
        .driver
        .find(By::Css(".ticket"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ticket.contains(&code) && ticket.contains("排队号"),
        "{ticket}"
    );
    let png = b.screenshot("queue-ticket").await;
    let status = format!("/registrations/{code}");
    assert!(
        decode_qr(&png).iter().any(|q| q.ends_with(&status)),
        "the QR code leads to {status}"
    );
    let roll = PrintPage {
        width: 8.0,
        height: 14.0,
    };
    let margin = PrintMargins {
        top: 0.3,
        bottom: 0.3,
        left: 0.3,
        right: 0.3,
    };
    assert_eq!(b.print_on("queue-ticket", roll, margin).await, 1);
    b.quit().await;
}
