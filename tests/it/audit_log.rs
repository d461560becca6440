//! The auditor reads the log in Chinese (issue 16): an action chosen by its Chinese name, details
//! as "字段：值" lines, bad dates refused beside their field, and the filtered log exported as
//! .xlsx, the export itself an entry of the log.

use crate::fixtures::export_text;
use crate::harness::{Resp, TestApp};
use scraper::Selector;
use xiafang::web::auth::Role;

/// The value of the option of select `name` that reads `label`.
fn option_value(page: &Resp, name: &str, label: &str) -> String {
    let sel = Selector::parse(&format!("select[name=\"{name}\"] option")).unwrap();
    page.html()
        .select(&sel)
        .find(|o| o.text().collect::<String>().trim() == label)
        .and_then(|o| o.value().attr("value").map(str::to_owned))
        .unwrap_or_else(|| panic!("no option {label}"))
}

/// The export form's hidden fields as a form body: the filter the page shows.
fn export_body(page: &Resp) -> String {
    let sel = Selector::parse("form#export input[type=hidden]").unwrap();
    let pairs: Vec<(String, String)> = page
        .html()
        .select(&sel)
        .map(|i| {
            let attr = |a| i.value().attr(a).unwrap_or_default().to_owned();
            (attr("name"), attr("value"))
        })
        .collect();
    serde_urlencoded::to_string(pairs).unwrap()
}

#[tokio::test]
async fn the_auditor_filters_by_a_chinese_action_and_exports_what_it_finds() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root1", Role::Sysadmin).await;
    let r = admin
        .post(
            "/admin/departments",
            &[("name", "县审计测试局"), ("short_name", "审计测试")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    let auditor = app.signed_in("audit1", Role::Auditor).await;
    let all = auditor.get("/audit").await;
    assert_eq!(all.status, 200);
    assert!(
        all.texts("table.data tbody td")
            .iter()
            .any(|t| t.starts_with("登录"))
    );
    let region = all.text("div.table-scroll[role=region][tabindex=\"0\"][aria-label] table");
    assert!(
        !region.is_empty(),
        "the wide table scrolls from the keyboard"
    );

    let value = option_value(&all, "action", "新增责任单位");
    let page = auditor.get(&format!("/audit?action={value}")).await;
    assert_eq!(page.status, 200);
    let rows = page.texts("table.data tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("新增责任单位") && rows[0].contains("root1"));
    let detail = page.text("table.data tbody td.audit-detail");
    assert!(detail.contains("名称：县审计测试局"), "{detail}");
    assert!(!detail.contains(['{', '}']), "{detail}");
    assert_eq!(
        page.text("select[name=action] option[selected]"),
        "新增责任单位"
    );

    let (status, text) = export_text(&app, &auditor, "/audit.xlsx", &export_body(&page)).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("新增责任单位") && text.contains("县审计测试局"),
        "{text}"
    );
    assert!(!text.contains("登录\t"), "only the chosen action: {text}");

    let value = option_value(&all, "action", "导出审计日志");
    let exports = auditor.get(&format!("/audit?action={value}")).await;
    let rows = exports.texts("table.data tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("audit1") && rows[0].contains("条数：1"),
        "{}",
        rows[0]
    );
}

#[tokio::test]
async fn a_bad_date_is_refused_beside_its_field_and_the_filter_kept() {
    let app = TestApp::spawn().await;
    let auditor = app.signed_in("audit1", Role::Auditor).await;
    let page = auditor
        .get("/audit?from=2026-13-45&to=2026-03-01&actor=root1")
        .await;
    assert_eq!(page.status, 422);
    assert!(page.field_error("from").contains("日期"), "{}", page.body);
    assert_eq!(page.field_value("from"), "2026-13-45");
    assert_eq!(page.field_value("actor"), "root1");
    let page = auditor.get("/audit?from=2026-03-02&to=2026-03-01").await;
    assert_eq!(page.status, 422);
    assert_eq!(page.field_error("to"), "截止日期不能早于起始日期");
    let (status, _) = export_text(&app, &auditor, "/audit.xlsx", "from=not-a-date").await;
    assert_eq!(
        status, 400,
        "an export of a bad filter is refused, never a 500"
    );
}
