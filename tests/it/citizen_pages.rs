//! The citizen's pages over HTTP: what the status page says follows the state, 登记查询 is found
//! from every page, digits open the number pad, cancelling asks first, and 长辈版 (`/elder/...`)
//! keeps every link, form and redirect inside itself.

use crate::fixtures::{Reg, fixture, register};
use crate::harness::{Resp, TestApp};
use crate::register::visit_on;
use chrono::Duration;
use scraper::Selector;
use xiafang::clock::Clock;

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.lookup_per_minute = 100_000).await
}

/// A registration with `code`, the first 17 digits of an ID, `phone` and `status`.
fn reg<'a>(
    code: &'a str,
    id: &'a str,
    phone: &'a str,
    status: &'a str,
    category: i64,
    window: i64,
) -> Reg<'a> {
    Reg {
        code,
        name: "李秀英",
        id,
        phone,
        township: "仙华街道",
        persons: 1,
        category,
        window,
        status,
    }
}

/// Every value of `attr` on the elements matching `css`.
fn attrs(r: &Resp, css: &str, attr: &str) -> Vec<String> {
    let sel = Selector::parse(css).unwrap();
    r.html()
        .select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_status_page_asks_for_the_id_card_only_while_the_day_is_ahead() {
    let app = spawn().await;
    let (fx, _) = fixture(&app).await;
    let w = fx.windows[0];
    for (code, id, phone, status) in [
        ("KQRS2345", "33072619800101100", "13800002345", "confirmed"),
        ("KQRS2346", "33072619800101200", "13800002346", "submitted"),
        ("KQRS2347", "33072619800101300", "13800002347", "submitted"),
    ] {
        register(&fx, fx.visit, reg(code, id, phone, status, fx.cat_build, w)).await;
    }
    for moved in [
        "UPDATE registrations SET status = 'rejected', reject_reason = '不属于本次接访受理范围' WHERE code = 'KQRS2346'",
        "INSERT INTO rooms (visit_id, name) SELECT visit_id, '第一接待室' FROM registrations WHERE code = 'KQRS2347'",
        "UPDATE registrations SET status = 'received', checked_in_at = now(), called_at = now(),
             room_id = (SELECT id FROM rooms LIMIT 1), queue_number = 1, expected_at = now() WHERE code = 'KQRS2347'",
    ] {
        sqlx::query(moved).execute(&fx.owner).await.unwrap();
    }
    let citizen = app.client();
    let look = async |code: &str, last4: &str| {
        let r = citizen
            .post("/lookup", &[("code", code), ("phone_last4", last4)])
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.text("#next-step")
    };
    let confirmed = look("KQRS2345", "2345").await;
    assert!(
        confirmed.contains("身份证原件") && confirmed.contains("签到"),
        "{confirmed}"
    );
    let rejected = look("KQRS2346", "2346").await;
    assert!(rejected.contains("未予受理"), "{rejected}");
    let received = look("KQRS2347", "2347").await;
    assert!(received.contains("接谈已完成"), "{received}");
    for text in [&rejected, &received] {
        assert!(!text.contains("身份证") && !text.contains("签到"), "{text}");
    }
    let page = citizen
        .post("/lookup", &[("code", "KQRS2347"), ("phone_last4", "2347")])
        .await;
    assert!(
        !page.body.contains("身份证"),
        "nowhere on the page after the reception"
    );
}

#[tokio::test]
async fn cancelling_shows_the_registration_and_asks_to_confirm_first() {
    let app = spawn().await;
    let (fx, _) = fixture(&app).await;
    let r = reg(
        "KQRS2345",
        "33072619800101100",
        "13800005678",
        "submitted",
        fx.cat_build,
        fx.windows[0],
    );
    let id = register(&fx, fx.visit, r).await;
    let status = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM registrations WHERE id = $1")
            .bind(id)
            .fetch_one(&fx.owner)
            .await
            .unwrap()
    };
    let citizen = app.client();
    let proof = [("code", "KQRS2345"), ("phone_last4", "5678")];
    let page = citizen.post("/lookup", &proof).await;
    assert_eq!(page.text("#status"), "已提交，待审核");
    assert_eq!(
        attrs(&page, "form[action='/lookup/cancel']", "method"),
        ["post"]
    );

    // The first tap: the summary and a 确认取消 button carrying the proof; nothing cancelled.
    let ask = citizen.post("/lookup/cancel", &proof).await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    assert_eq!(ask.text("h1"), "确认取消登记");
    assert!(
        ask.text("main").contains("县领导下访接访日"),
        "{}",
        ask.body
    );
    assert!(ask.text("main").contains("09:00—10:00"));
    assert_eq!(ask.text("form[action='/lookup/cancel'] button"), "确认取消");
    assert_eq!(ask.field_value("confirm"), "yes");
    assert_eq!(ask.field_value("phone_last4"), "5678");
    assert_eq!(ask.text("form[action='/lookup'] button"), "不取消，返回");
    assert_eq!(status().await, "submitted");

    // The confirming POST cancels; a wrong phone cannot.
    let wrong = citizen
        .post(
            "/lookup/cancel",
            &[
                ("code", "KQRS2345"),
                ("phone_last4", "0000"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 404);
    assert_eq!(status().await, "submitted");
    let done = citizen
        .post(
            "/lookup/cancel",
            &[
                ("code", "KQRS2345"),
                ("phone_last4", "5678"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(status().await, "cancelled");
    assert!(citizen.get("/lookup").await.body.contains("已取消"));
    let after = citizen.post("/lookup", &proof).await;
    assert!(after.text("#next-step").contains("已取消"));
    assert!(after.texts("form[action='/lookup/cancel']").is_empty());
    // Asking again shows no confirmation of what cannot be cancelled.
    let again = citizen.post("/lookup/cancel", &proof).await;
    assert_eq!(again.status, 303);
    assert!(citizen.get("/lookup").await.body.contains("已无法取消"));
}

#[tokio::test]
async fn lookup_is_on_every_public_page_and_digits_open_the_number_pad() {
    let app = spawn().await;
    let v = visit_on(&app.url, app.clock.now(), &[20], Some(Duration::days(-1))).await;
    let anyone = app.client();
    for path in ["/", "/schedule", &format!("/visits/{}", v.id), "/lookup"] {
        let page = anyone.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            attrs(&page, "nav.site-nav a", "href").contains(&"/lookup".to_owned()),
            "{path}: 登记查询 in the menu"
        );
    }
    let home = anyone.get("/").await;
    assert!(attrs(&home, "main a", "href").contains(&"/lookup".to_owned()));
    let visit = anyone.get(&format!("/visits/{}", v.id)).await;
    assert!(attrs(&visit, "main a", "href").contains(&"/lookup".to_owned()));
    assert!(visit.texts("main a").contains(&"登记查询".to_owned()));

    let lookup = anyone.get("/lookup").await;
    assert_eq!(attrs(&lookup, "#f-phone_last4", "inputmode"), ["numeric"]);
    assert_eq!(attrs(&lookup, "#f-phone_last4", "pattern"), ["[0-9]*"]);
    assert_eq!(attrs(&lookup, "#f-phone_last4", "maxlength"), ["4"]);
    let form = anyone.get(&format!("/visits/{}/register", v.id)).await;
    assert_eq!(attrs(&form, "#f-phone", "inputmode"), ["numeric"]);
    assert_eq!(attrs(&form, "#f-phone", "autocomplete"), ["tel"]);
    assert_eq!(attrs(&form, "#f-persons", "inputmode"), ["numeric"]);
    // The ID may end in X: a text keyboard, with the digits' pattern.
    assert!(attrs(&form, "#f-id_number", "inputmode").is_empty());
    assert_eq!(
        attrs(&form, "#f-id_number", "pattern"),
        ["[0-9]{17}[0-9Xx]"]
    );
}

/// Every site link and form action of a 长辈版 page stays in 长辈版; the switch leads out.
fn stays_in_elder_mode(r: &Resp, path: &str) {
    assert_eq!(attrs(r, "html", "class"), ["elder"], "{path}");
    assert_eq!(r.text(".mode-switch"), "标准版", "{path}");
    let links = attrs(r, "a[href^='/']:not(.mode-switch)", "href");
    let actions = attrs(r, "form[action^='/']", "action");
    assert!(!links.is_empty(), "{path}");
    for to in links.iter().chain(&actions) {
        assert!(to.starts_with("/elder/"), "{path}: {to} leaves 长辈版");
    }
}

#[tokio::test]
async fn elder_mode_is_carried_in_the_address_through_links_forms_and_redirects() {
    let app = spawn().await;
    let v = visit_on(&app.url, app.clock.now(), &[20], Some(Duration::days(-1))).await;
    let anyone = app.client();

    let standard = anyone.get(&format!("/visits/{}", v.id)).await;
    assert!(attrs(&standard, "html", "class").is_empty());
    assert_eq!(standard.text(".mode-switch"), "长辈版");
    assert_eq!(
        attrs(&standard, ".mode-switch", "href"),
        [format!("/elder/visits/{}", v.id)]
    );

    for path in [
        "/elder".to_owned(),
        "/elder/".to_owned(),
        "/elder/schedule".to_owned(),
        format!("/elder/visits/{}", v.id),
        format!("/elder/visits/{}/register", v.id),
        "/elder/lookup".to_owned(),
    ] {
        let page = anyone.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        stays_in_elder_mode(&page, &path);
    }
    let elder_visit = anyone.get(&format!("/elder/visits/{}", v.id)).await;
    assert_eq!(
        attrs(&elder_visit, ".mode-switch", "href"),
        [format!("/visits/{}", v.id)]
    );
    let month = anyone.get("/elder/schedule?month=2026-05").await;
    assert_eq!(
        attrs(&month, ".mode-switch", "href"),
        ["/schedule?month=2026-05"]
    );

    // The public 404 in 长辈版, and a lookup refused.
    let missing = anyone.get("/elder/no-such-page").await;
    assert_eq!(missing.status, 404);
    stays_in_elder_mode(&missing, "404");
    let refused = anyone
        .post(
            "/elder/lookup",
            &[("code", "ZZZZZZZZ"), ("phone_last4", "0000")],
        )
        .await;
    assert_eq!(refused.status, 404);
    stays_in_elder_mode(&refused, "refused lookup");

    // Redirects stay inside: a receipt for another browser, a finished cancellation.
    let receipt = anyone.get("/elder/registrations/KQRS2345").await;
    assert_eq!(receipt.status, 303);
    assert_eq!(receipt.location(), "/elder/lookup");
    let (fx, _) = fixture(&app).await;
    let r = reg(
        "KQRS2345",
        "33072619800101100",
        "13800005678",
        "submitted",
        fx.cat_build,
        fx.windows[0],
    );
    register(&fx, fx.visit, r).await;
    let proof = [("code", "KQRS2345"), ("phone_last4", "5678")];
    let status = anyone.post("/elder/lookup", &proof).await;
    stays_in_elder_mode(&status, "status");
    let ask = anyone.post("/elder/lookup/cancel", &proof).await;
    stays_in_elder_mode(&ask, "cancel confirmation");
    assert_eq!(attrs(&ask, ".mode-switch", "href"), ["/lookup"]);
    let done = anyone
        .post(
            "/elder/lookup/cancel",
            &[
                ("code", "KQRS2345"),
                ("phone_last4", "5678"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location(), "/elder/lookup");
    // Not a prefix of another word.
    assert_eq!(anyone.get("/elderly").await.status, 404);
}
