//! Every kind of document prints to one A4 page (issue 15): drafted and issued along the case's
//! own path by the side that issues it, then printed by headless Chromium, its number, title and
//! (for the citizen's kinds) 查询码 in the printed text; the 交办单 and 督办单 read as addressed
//! to the lead department.

use crate::browser::Browser;
use crate::cases::{case, ok, world};
use crate::documents::{draft, issue, number};
use crate::fixtures::member;
use crate::harness::{Client, PASSWORD};
use serde_json::json;
use xiafang::followup::documents::Kind;
use xiafang::web::auth::Role;

/// A screenshot of the page as it prints (print media, the width and height of A4 within its
/// margins), to look at: the PDF itself is only counted.
async fn screenshot_as_printed(b: &Browser, name: &str) {
    let cdp = b.driver.cdp();
    let page = json!({"width": 680, "height": 1010, "deviceScaleFactor": 1, "mobile": false});
    let print = json!({"media": "print"});
    cdp.send_raw("Emulation.setEmulatedMedia", print)
        .await
        .unwrap();
    cdp.send_raw("Emulation.setDeviceMetricsOverride", page)
        .await
        .unwrap();
    b.screenshot(name).await;
    cdp.send_raw("Emulation.clearDeviceMetricsOverride", json!({}))
        .await
        .unwrap();
    cdp.send_raw("Emulation.setEmulatedMedia", json!({"media": ""}))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_kind_of_document_prints_to_one_a4_page_with_its_number_title_and_query_code() {
    let w = world().await;
    let id = case(&w, "DPAA234567", w.owner_leader).await;
    let refused = case(&w, "DPBB234567", w.owner_leader).await;
    let mut issued: Vec<(i64, i64, Kind)> = Vec::new();
    let mut make = async |who: &Client, case: i64, kind: Kind| {
        let doc = draft(who, case, kind.as_str()).await;
        assert_eq!(issue(who, case, doc).await.status, 303, "{kind:?}");
        issued.push((case, doc, kind));
    };
    // The office assigns, the department accepts (or refuses the other case) and extends.
    make(&w.staff, id, Kind::Assignment).await;
    make(&w.lead, refused, Kind::NonAcceptance).await;
    ok(&w.lead, id, "accept", &[]).await;
    make(&w.lead, id, Kind::Acceptance).await;
    let extension = [("extension_days", "20"), ("extension_reason", "需协调资金")];
    ok(&w.lead, id, "extend", &extension).await;
    ok(&w.supervisor, id, "approve-extension", &[]).await;
    make(&w.lead, id, Kind::Extension).await;
    make(&w.supervisor, id, Kind::Urging).await;
    // The answer in writing, then closure; 复查 and 复核, recorded by a supervisor.
    make(&w.lead, id, Kind::Opinion).await;
    ok(
        &w.lead,
        id,
        "submit",
        &[("result", "resolved"), ("reply", "村道已于本月修复。")],
    )
    .await;
    ok(&w.owner, id, "approve", &[]).await;
    // Addressed to the first body the case page offers (the lead department's government):
    // the county's supervisors decide the 复查, the city's issue the 复核意见书.
    let county = member(
        &w.app,
        &w.fx.owner,
        "ducha_xian",
        Role::Supervisor,
        "330726",
    )
    .await;
    let city = member(&w.app, &w.fx.owner, "ducha_shi", Role::Supervisor, "330700").await;
    let reviewer = county
        .get(&format!("/cases/{id}"))
        .await
        .field_value("reviewer");
    let review = [("review_text", "申请复查"), ("reviewer", reviewer.as_str())];
    ok(&county, id, "review", &review).await;
    make(&county, id, Kind::ReviewOpinion).await;
    ok(&county, id, "decide-review", &[("decision", "upheld")]).await;
    let reviewer = county
        .get(&format!("/cases/{id}"))
        .await
        .field_value("reviewer");
    let review = [("review_text", "申请复核"), ("reviewer", reviewer.as_str())];
    ok(&county, id, "review", &review).await;
    make(&city, id, Kind::ReReviewOpinion).await;
    assert_eq!(issued.len(), Kind::ALL.len(), "every kind");

    let department: String = sqlx::query_scalar("SELECT name FROM departments WHERE id = $1")
        .bind(w.lead_dept)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap();
    let b = Browser::start(false).await;
    b.log_in(&w.app, "ducha", PASSWORD).await;
    for (case, doc, kind) in issued {
        let query_code: String = sqlx::query_scalar("SELECT query_code FROM cases WHERE id = $1")
            .bind(case)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
        let number = number(&w, doc).await.unwrap();
        b.driver
            .goto(format!(
                "{}/cases/{case}/documents/{doc}/print",
                w.app.origin()
            ))
            .await
            .unwrap();
        let text = b.body_text().await;
        assert!(
            text.contains(&number) && text.contains(kind.title()),
            "{kind:?}: {text}"
        );
        assert!(text.contains(&query_code), "{kind:?}: {text}");
        if kind.to_citizen() {
            assert!(text.contains("张三："), "{kind:?}: {text}");
        } else {
            // For the department: addressed to it once, nothing the citizen is told to do.
            assert!(
                text.contains(&format!("{department}：")),
                "{kind:?}: {text}"
            );
            assert_eq!(text.matches(&format!("{department}：")).count(), 1);
            assert!(!text.contains("手机号后四位"), "{kind:?}: {text}");
        }
        let name = format!("documents-print-{}", kind.as_str());
        screenshot_as_printed(&b, &name).await;
        assert_eq!(b.print_pages(&name).await, 1, "{kind:?} on one A4 page");
    }
    b.quit().await;
}
