//! Journeys in a real browser (headless Chromium through chromedriver), driven by the visible
//! labels of DESIGN §6. Each step leaves a screenshot under target/screenshots/.

use crate::harness::{TestApp, next_code, secret_from_text};
use std::path::PathBuf;
use std::time::Duration;
use thirtyfour::ChromeCapabilities;
use thirtyfour::common::print::{PrintMargins, PrintPage, PrintParameters};
use thirtyfour::prelude::*;
use tokio::process::{Child, Command};

/// A chromedriver of our own and one headless Chromium session; both end with the value.
pub struct Browser {
    pub driver: WebDriver,
    _chromedriver: Child,
}

impl Browser {
    /// `phone`: a 375-px-wide mobile viewport (Chrome's device emulation).
    pub async fn start(phone: bool) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let chromedriver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) must be installed");
        let mut caps = ChromeCapabilities::new();
        caps.set_binary("/usr/bin/chromium").unwrap();
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--lang=zh-CN",
        ] {
            caps.add_arg(arg).unwrap();
        }
        if phone {
            caps.add_experimental_option(
                "mobileEmulation",
                serde_json::json!({"deviceMetrics": {"width": 375, "height": 812, "pixelRatio": 2}}),
            )
            .unwrap();
        } else {
            caps.add_arg("--window-size=1280,1000").unwrap();
        }
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..50 {
            match WebDriver::new(&url, caps.clone()).await {
                Ok(driver) => {
                    return Browser {
                        driver,
                        _chromedriver: chromedriver,
                    };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start headless Chromium: {last:?}");
    }

    /// End the session now (dropping it unended makes thirtyfour wait out a long timeout).
    pub async fn quit(self) {
        self.driver.quit().await.unwrap();
    }

    /// The input labelled `label` (every input has a <label for>, DESIGN §6).
    pub async fn field(&self, label: &str) -> WebElement {
        let l = self
            .driver
            .find(By::XPath(format!("//label[normalize-space()='{label}']")))
            .await
            .unwrap_or_else(|_| panic!("no label {label}"));
        let id = l
            .attr("for")
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("label {label} has no for"));
        self.driver.find(By::Id(id)).await.unwrap()
    }

    pub async fn fill(&self, label: &str, value: &str) {
        let f = self.field(label).await;
        f.clear().await.unwrap();
        f.send_keys(value).await.unwrap();
    }

    /// A button with this text, else a link (a page's 登录 button before the header's 登录 link).
    pub async fn button(&self, text: &str) -> WebElement {
        if let Ok(button) = self
            .driver
            .find(By::XPath(format!("//button[normalize-space()='{text}']")))
            .await
        {
            return button;
        }
        self.driver
            .find(By::XPath(format!("//a[normalize-space()='{text}']")))
            .await
            .unwrap_or_else(|_| panic!("no button {text}"))
    }

    /// Click a button or link and wait until the page it leaves is gone.
    pub async fn press(&self, text: &str) {
        let el = self.button(text).await;
        el.click().await.unwrap();
        el.wait_until()
            .stale()
            .await
            .unwrap_or_else(|_| panic!("pressing {text} did not load a page"));
    }

    /// Sign in on the login page as a user does, second factor included (a fresh cookie jar first:
    /// one browser serves several people), and check that it worked.
    pub async fn log_in(&self, app: &TestApp, username: &str, password: &str) {
        self.driver.delete_all_cookies().await.unwrap();
        self.driver
            .goto(format!("{}/login", app.origin()))
            .await
            .unwrap();
        self.fill("用户名", username).await;
        self.fill("密码", password).await;
        // The submit button, not the 登录 link in the header.
        let button = self
            .driver
            .find(By::XPath("//form//button[normalize-space()='登录']"))
            .await
            .unwrap();
        button.click().await.unwrap();
        button.wait_until().stale().await.unwrap();
        self.pass_second_factor(app, username).await;
        let path = self.driver.current_url().await.unwrap().path().to_owned();
        assert!(
            !path.starts_with("/login"),
            "{username} is signed in: {}",
            self.body_text().await
        );
    }

    /// After the password: the second factor as a user answers it — the first time the secret is
    /// read off the enrolment page (as typed into an authenticator app by hand) and the recovery
    /// codes are acknowledged; later the app's code. A demo account in demo mode sees neither.
    pub async fn pass_second_factor(&self, app: &TestApp, username: &str) {
        let path = self.driver.current_url().await.unwrap().path().to_owned();
        match path.as_str() {
            "/login/enrol" => {
                self.screenshot(&format!("enrol-{username}")).await;
                let text = self
                    .driver
                    .find(By::Id("totp-secret"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                let secret = secret_from_text(&text);
                let code = next_code(&app.clock, &app.url, username, Some(secret)).await;
                self.fill("动态验证码", &code).await;
                self.press("确认绑定").await;
                self.screenshot(&format!("recovery-codes-{username}")).await;
                self.press("我已保存恢复码，继续").await;
            }
            "/login/second-factor" => {
                let code = next_code(&app.clock, &app.url, username, None).await;
                self.fill("动态验证码或恢复码", &code).await;
                self.press("验证").await;
            }
            _ => {}
        }
    }

    pub async fn scroll_width(&self) -> i64 {
        self.driver
            .execute("return document.documentElement.scrollWidth", vec![])
            .await
            .unwrap()
            .convert()
            .unwrap()
    }

    pub async fn body_text(&self) -> String {
        self.driver
            .find(By::Tag("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn screenshot(&self, name: &str) -> Vec<u8> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.driver.screenshot_as_png().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        png
    }

    /// The page printed to PDF by Chromium (A4), and its number of pages.
    pub async fn print_pages(&self, name: &str) -> usize {
        // A4 with the WebDriver default 1 cm margins; nothing shrunk to fit, so overflow shows as a second page.
        let a4 = PrintPage {
            width: 21.0,
            height: 29.7,
        };
        self.print_on(name, a4, PrintMargins::default()).await
    }

    /// The page printed to PDF on paper of `page` (cm) with `margin`, and its number of pages.
    pub async fn print_on(&self, name: &str, page: PrintPage, margin: PrintMargins) -> usize {
        let params = PrintParameters {
            background: true,
            page,
            margin,
            shrink_to_fit: false,
            ..Default::default()
        };
        let pdf = self.driver.print_page(params).await.unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::write(dir.join(format!("{name}.pdf")), &pdf).unwrap();
        pdf_page_count(&pdf)
    }
}

/// Pages of a PDF: its page objects (`/Type /Page`, not `/Pages`).
fn pdf_page_count(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.matches("/Type /Page").count() - text.matches("/Type /Pages").count()
        + text.matches("/Type/Page").count()
        - text.matches("/Type/Pages").count()
}

/// Every QR code readable in a PNG screenshot.
pub fn decode_qr(png: &[u8]) -> Vec<String> {
    let img = image::load_from_memory(png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|(_, s)| s))
        .collect()
}

/// The demo county (an announced visit with its 一次公告) plus reception windows for its day.
pub async fn announced_visit(app: &TestApp) -> (i64, i64) {
    let owner = sqlx::PgPool::connect(&app.url).await.unwrap();
    xiafang::demo::seed(&owner, app.clock.as_ref(), &app.state.keys)
        .await
        .unwrap();
    app.state.refresh_demo_flag().await.unwrap();
    // The demo's upcoming visit in its first county: announced, with rooms and windows.
    let (visit, notice): (i64, i64) = sqlx::query_as(
        "SELECT v.id, n.id FROM visits v JOIN notices n ON n.visit_id = v.id
         JOIN jurisdictions j ON j.id = v.county_id
         WHERE v.status = 'announced' AND NOT v.duty AND j.code = $1 ORDER BY n.id LIMIT 1",
    )
    .bind(xiafang::demo::COUNTY_A)
    .fetch_one(&owner)
    .await
    .unwrap();
    owner.close().await;
    (visit, notice)
}

#[tokio::test]
async fn the_public_notice_and_its_poster_print_to_one_a4_page_with_a_working_qr_code() {
    let app = TestApp::spawn().await;
    let (visit, notice) = announced_visit(&app).await;
    let b = Browser::start(false).await;
    b.driver.goto(app.origin()).await.unwrap();
    b.screenshot("stage1-01-home").await;
    let link = b.driver.find(By::PartialLinkText("公告")).await.unwrap();
    link.click().await.unwrap();
    link.wait_until().stale().await.unwrap();
    assert_eq!(
        b.driver.current_url().await.unwrap().path(),
        format!("/notices/{notice}")
    );
    let text = b.body_text().await;
    assert!(
        text.contains("仙华街道便民服务中心") && text.contains("受理范围"),
        "{text}"
    );
    b.screenshot("stage1-02-notice").await;

    b.driver
        .goto(format!("{}/notices/{notice}/print", app.origin()))
        .await
        .unwrap();
    b.screenshot("stage1-03-poster").await;
    assert_eq!(
        b.print_pages("stage1-03-poster").await,
        1,
        "the poster prints to exactly one A4 page"
    );
    let qr = b
        .driver
        .find(By::Css(".poster-qr"))
        .await
        .unwrap()
        .screenshot_as_png()
        .await
        .unwrap();
    assert_eq!(
        decode_qr(&qr),
        [format!("{}/visits/{visit}/register", app.origin())],
        "the QR code is the registration URL"
    );
    b.quit().await;
}

#[tokio::test]
async fn a_citizen_registers_on_a_phone_and_looks_the_registration_up() {
    let app = TestApp::spawn().await;
    let (visit, _) = announced_visit(&app).await;
    let b = Browser::start(true).await;
    b.driver
        .goto(format!("{}/visits/{visit}", app.origin()))
        .await
        .unwrap();
    assert!(
        b.scroll_width().await <= 375,
        "the visit page fits a 375-px phone"
    );
    b.screenshot("stage1-04-visit-phone").await;
    b.press("我要登记").await;

    assert!(
        b.scroll_width().await <= 375,
        "the form fits a 375-px phone"
    );
    b.screenshot("stage1-05-register-phone").await;
    // A mistake first: the message stands beside the field and the rest is kept.
    b.fill("姓名", "李秀英").await;
    b.fill("身份证号", "330726198001011230").await;
    b.fill("手机号码", "13812345678").await;
    b.fill("现住址", "仙华街道人民路 12 号").await;
    b.fill("所属乡镇", "仙华街道").await;
    b.fill("来访人数", "2").await;
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
    // 获取验证码 posts the form: it comes back with everything kept and the code on its way.
    b.press("获取验证码").await;
    let sent = b
        .driver
        .find(By::Id("code-sent"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sent.contains("验证码已发送至 138****5678"), "{sent}");
    assert_eq!(
        b.field("诉求内容").await.value().await.unwrap().as_deref(),
        Some("村口道路损坏两年未修，雨天无法通行。")
    );
    let code = app.sms_code("13812345678").await;
    b.fill("验证码", &code).await;
    b.press("提交登记").await;
    let error = b
        .driver
        .find(By::Id("e-id_number"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("身份证号"), "{error}");
    assert_eq!(
        b.field("姓名").await.value().await.unwrap().as_deref(),
        Some("李秀英")
    );
    b.screenshot("stage1-06-register-error-phone").await;

    b.fill("身份证号", "11010519491231002X").await;
    if !b
        .field("我已阅读并同意《个人信息处理告知》")
        .await
        .is_selected()
        .await
        .unwrap()
    {
        b.field("我已阅读并同意《个人信息处理告知》")
            .await
            .click()
            .await
            .unwrap();
    }
    b.press("提交登记").await;
    let receipt = b.body_text().await;
    assert!(receipt.contains("登记编号"), "{receipt}");
    assert!(
        b.scroll_width().await <= 375,
        "the receipt fits a 375-px phone"
    );
    b.screenshot("stage1-07-receipt-phone").await;
    let code: String = sqlx::query_scalar("SELECT code FROM registrations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(receipt.contains(&code));

    b.driver
        .goto(format!("{}/lookup", app.origin()))
        .await
        .unwrap();
    b.fill("登记编号或查询码", &code).await;
    b.fill("手机号码后四位", "5678").await;
    b.press("查询").await;
    let status = b.body_text().await;
    assert!(status.contains("待审核"), "{status}");
    assert!(
        b.scroll_width().await <= 375,
        "the status page fits a 375-px phone"
    );
    b.screenshot("stage1-08-status-phone").await;
    b.quit().await;
}
