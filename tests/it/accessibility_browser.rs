//! Every public page, in the standard version and in 长辈版, on a 375×812 phone: no horizontal
//! scroll and no axe-core violation of impact serious or critical (GB/T 37668, WCAG 2.1 AA); 长辈版
//! keeps large text and large targets. axe-core comes from the npm registry, pinned by
//! tests/browser/package-lock.json; the test installs it (`npm ci`) when it is missing.

use crate::browser::{Browser, announced_visit};
use crate::harness::TestApp;
use std::path::PathBuf;
use std::sync::OnceLock;
use thirtyfour::prelude::*;

/// axe.min.js, installed by `npm ci --prefix tests/browser` on first use.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        let file = dir.join("node_modules/axe-core/axe.min.js");
        if !file.exists() {
            let status = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .status()
                .expect("npm (Debian package npm) must be installed");
            assert!(status.success(), "npm ci --prefix tests/browser failed");
        }
        std::fs::read_to_string(&file).unwrap()
    })
}

/// The serious and critical axe violations of the page shown, one line each; and `region`
/// (content outside every landmark: moderate for axe, but what the demo banner once was).
pub(crate) async fn axe_violations(b: &Browser) -> Vec<String> {
    b.driver.execute(axe_source(), vec![]).await.unwrap();
    let found = b
        .driver
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { resultTypes: ['violations'] })
                 .then(r => done(r.violations
                   .filter(v => v.impact === 'serious' || v.impact === 'critical' || v.id === 'region')
                   .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' — '
                     + v.nodes.map(n => n.target.join(' ')).join(', '))))
                 .catch(e => done(['axe failed: ' + e]));"#,
            vec![],
        )
        .await
        .unwrap();
    found.convert().unwrap()
}

/// The checks every public page passes, in either version.
async fn check(b: &Browser, name: &str) {
    let width = b.scroll_width().await;
    b.screenshot(&format!("a11y-{name}")).await;
    assert!(width <= 375, "{name}: {width} px wide on a 375-px phone");
    let violations = axe_violations(b).await;
    assert!(violations.is_empty(), "{name}: {violations:#?}");
}

pub(crate) async fn goto(b: &Browser, app: &TestApp, path: &str) {
    b.driver
        .goto(format!("{}{path}", app.origin()))
        .await
        .unwrap();
}

/// A computed style of the first element matching `css`, as a number of pixels.
async fn px(b: &Browser, css: &str, property: &str) -> f64 {
    let value: String = b
        .driver
        .execute(
            "const e = document.querySelector(arguments[0]);
             const s = getComputedStyle(e);
             return arguments[1] === 'height' ? String(e.getBoundingClientRect().height) : s[arguments[1]];",
            vec![serde_json::json!(css), serde_json::json!(property)],
        )
        .await
        .unwrap()
        .convert()
        .unwrap();
    value
        .trim_end_matches("px")
        .parse()
        .unwrap_or_else(|_| panic!("{css} {property}: {value}"))
}

/// 长辈版's text and targets (工信部适老化): base text ≥ 20 px, line height ≥ 1.5, buttons ≥ 48 px.
async fn large(b: &Browser, name: &str) {
    let font = px(b, "body", "fontSize").await;
    let line = px(b, "body", "lineHeight").await;
    assert!(font >= 20.0, "{name}: base text {font} px");
    assert!(
        line / font >= 1.5,
        "{name}: line height {line} px for {font} px"
    );
    let buttons: Vec<f64> = b
        .driver
        .execute(
            "return [...document.querySelectorAll('main button, main .button, main input:not([type=hidden]):not([type=radio]):not([type=checkbox]), .mode-switch')]
               .filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect().height);",
            vec![],
        )
        .await
        .unwrap()
        .convert()
        .unwrap();
    assert!(
        buttons.iter().all(|h| *h >= 48.0),
        "{name}: controls {buttons:?} px high"
    );
}

/// The whole citizen's way, in one version (`at`: "" or "/elder"): every page checked.
async fn walk(b: &Browser, app: &TestApp, at: &str, visit: i64, notice: i64, code: &str) {
    let elder = !at.is_empty();
    let mode = if elder { "elder" } else { "standard" };
    let pages = [
        ("home", format!("{at}/")),
        ("region", format!("{at}/r/{}", xiafang::demo::COUNTY_A)),
        ("schedule", format!("{at}/schedule")),
        ("visit", format!("{at}/visits/{visit}")),
        ("notice", format!("{at}/notices/{notice}")),
        ("poster", format!("{at}/notices/{notice}/print")),
        ("register", format!("{at}/visits/{visit}/register")),
        ("receipt", format!("{at}/registrations/{code}")),
        ("lookup", format!("{at}/lookup")),
        ("not-found", format!("{at}/no-such-page")),
    ];
    for (name, path) in &pages {
        goto(b, app, path).await;
        let name = format!("{mode}-{name}");
        check(b, &name).await;
        if elder {
            large(b, &name).await;
        }
    }
    // The form refused: errors beside the fields.
    goto(b, app, &format!("{at}/visits/{visit}/register")).await;
    b.press("提交登记").await;
    check(b, &format!("{mode}-register-refused")).await;
    // The status page, and the confirmation before cancelling.
    goto(b, app, &format!("{at}/lookup")).await;
    b.fill("登记编号或查询码", code).await;
    b.fill("手机号码后四位", "5678").await;
    b.press("查询").await;
    assert!(b.body_text().await.contains("待审核"));
    check(b, &format!("{mode}-status")).await;
    b.press("取消登记").await;
    assert!(b.body_text().await.contains("确认取消"));
    check(b, &format!("{mode}-cancel-confirm")).await;
    if elder {
        large(b, "elder-cancel-confirm").await;
        let path = b.driver.current_url().await.unwrap().path().to_owned();
        assert_eq!(path, "/elder/lookup/cancel", "the form kept the version");
    }
}

/// A registration made through the form, as a citizen does (the receipt is this browser's).
async fn register(b: &Browser, app: &TestApp, visit: i64) -> String {
    goto(b, app, &format!("/visits/{visit}/register")).await;
    b.fill("姓名", "李秀英").await;
    b.fill("身份证号", "11010519491231002X").await;
    b.fill("手机号码", "13812345678").await;
    b.fill("现住址", "仙华街道人民路 12 号").await;
    b.fill("所属乡镇", "仙华街道").await;
    b.fill("来访人数", "1").await;
    b.field("问题类别")
        .await
        .find(By::XPath(".//option[normalize-space()='城乡建设']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.fill("诉求内容", "村口道路损坏两年未修，雨天无法通行。")
        .await;
    b.driver
        .find(By::Css("input[name=window_id]:not([disabled])"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.field("我已阅读并同意《个人信息处理告知》")
        .await
        .click()
        .await
        .unwrap();
    // The phone is proven with the SMS code: the form comes back with everything kept.
    b.press("获取验证码").await;
    let code = app.sms_code("13812345678").await;
    b.fill("验证码", &code).await;
    b.press("提交登记").await;
    sqlx::query_scalar("SELECT code FROM registrations")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_public_page_in_both_versions_fits_a_phone_and_passes_axe() {
    let app = TestApp::spawn_with(|c| {
        c.register_per_minute = 1000;
        c.lookup_per_minute = 1000;
    })
    .await;
    let (visit, notice) = announced_visit(&app).await;
    let b = Browser::start(true).await;
    let code = register(&b, &app, visit).await;
    walk(&b, &app, "/elder", visit, notice, &code).await;
    walk(&b, &app, "", visit, notice, &code).await;
    b.quit().await;
}

/// The switch at the top of every page leads to the same page in 长辈版, and every link and form
/// of 长辈版 stays inside it.
#[tokio::test]
async fn the_switch_at_the_top_opens_elder_mode_and_its_links_stay_in_it() {
    let app = TestApp::spawn().await;
    let (visit, _) = announced_visit(&app).await;
    let b = Browser::start(true).await;
    goto(&b, &app, &format!("/visits/{visit}")).await;
    b.press("长辈版").await;
    let url = b.driver.current_url().await.unwrap();
    assert_eq!(url.path(), format!("/elder/visits/{visit}"));
    large(&b, "elder-visit").await;
    b.press("我要登记").await;
    assert_eq!(
        b.driver.current_url().await.unwrap().path(),
        format!("/elder/visits/{visit}/register")
    );
    b.press("标准版").await;
    assert_eq!(
        b.driver.current_url().await.unwrap().path(),
        format!("/visits/{visit}/register")
    );
    let font = px(&b, "body", "fontSize").await;
    assert!(font < 20.0, "the standard version is back: {font} px");
    b.quit().await;
}
