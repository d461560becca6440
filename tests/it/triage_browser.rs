//! Triage at Pujiang size in Chromium (issue 16): staff confirm 400 submitted registrations of a
//! visit in a handful of clicks, from the list, with the counts telling them where they stand.

use crate::browser::Browser;
use crate::fixtures::{Reg, fixture, register};
use crate::harness::{PASSWORD, TestApp};
use thirtyfour::prelude::*;

const COUNT: usize = 400;

/// A registration code from the unambiguous alphabet, one per `i`.
fn code(i: usize) -> String {
    let alphabet = xiafang::prepare::registration::CODE_ALPHABET;
    let mut n = i;
    let tail: String = (0..5)
        .map(|_| {
            let c = alphabet[n % alphabet.len()] as char;
            n /= alphabet.len();
            c
        })
        .collect();
    format!("TRG{tail}")
}

#[tokio::test]
async fn staff_confirm_400_submitted_registrations_in_under_ten_clicks() {
    let app = TestApp::spawn().await;
    let (fx, _) = fixture(&app).await;
    // A day of Pujiang's size: room in its two windows for everyone.
    sqlx::query("UPDATE reception_windows SET capacity_slots = 1000 WHERE visit_id = $1")
        .bind(fx.visit)
        .execute(&fx.owner)
        .await
        .unwrap();
    for i in 0..COUNT {
        let (code, id, phone) = (
            code(i),
            format!("33072619900101{i:03}"),
            format!("137{i:08}"),
        );
        let reg = Reg {
            code: &code,
            name: "钱八",
            id: &id,
            phone: &phone,
            township: "仙华街道",
            persons: 1,
            category: fx.cat_build,
            window: fx.windows[i % 2],
            status: "submitted",
        };
        register(&fx, fx.visit, reg).await;
    }
    let b = Browser::start(false).await;
    b.log_in(&app, "xinfang", PASSWORD).await;
    let mut clicks = 0;
    b.driver
        .goto(format!(
            "{}/staff/visits/{}/registrations",
            app.origin(),
            fx.visit
        ))
        .await
        .unwrap();
    clicks += 1; // 来访登记, from the visit's page
    let counts = b
        .driver
        .find(By::Css(".status-counts"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(counts.contains("待审核 400"), "{counts}");
    // 状态: 待审核, then 筛选.
    let status = b.field("状态").await;
    status.click().await.unwrap();
    status
        .find(By::XPath("./option[normalize-space()='待审核']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    clicks += 2;
    b.press("筛选").await;
    clicks += 1;
    b.screenshot("triage-submitted-list").await;
    b.press(&format!("确认筛选结果中全部待审核登记（{COUNT} 件）"))
        .await;
    clicks += 1;
    b.screenshot("triage-confirmed-all").await;
    let flash = b
        .driver
        .find(By::Css(".flash"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(flash, format!("已确认 {COUNT} 件登记。"));
    let confirmed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM registrations WHERE visit_id = $1 AND status = 'confirmed'",
    )
    .bind(fx.visit)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    assert_eq!(confirmed, COUNT as i64);
    assert!(clicks < 10, "{clicks} clicks");
    b.quit().await;
}
