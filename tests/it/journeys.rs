//! The journeys of DESIGN §9 in headless Chromium, by the visible words of DESIGN §6: staff plan and
//! publish a visit (journey 1); a leader receives on the day and assigns a case (3), which a
//! department closes, a supervisor approves and the citizen rates on a phone (4). Journey 2 is in
//! browser.rs. Every step leaves a screenshot under target/screenshots/journey-*.png.

use crate::browser::Browser;
use crate::fixtures::{Reg, fixture, register};
use crate::harness::{PASSWORD, TestApp};
use chrono::{NaiveDate, NaiveTime};
use thirtyfour::prelude::*;
use xiafang::clock::{Clock, china_date, china_instant};
use xiafang::web::auth::Role;

/// Pick the option shown as `text` in the select labelled `label` (adds to a multiple select).
async fn choose(b: &Browser, label: &str, text: &str) {
    let select = b.field(label).await;
    select
        .find(By::XPath(format!(".//option[normalize-space()='{text}']")))
        .await
        .unwrap_or_else(|_| panic!("{label} offers no {text}"))
        .click()
        .await
        .unwrap();
}

/// Date and time inputs take their value in the browser's locale when typed; set the ISO value.
async fn set(b: &Browser, label: &str, value: &str) {
    let input = b.field(label).await;
    b.driver
        .execute(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))",
            vec![input.to_json().unwrap(), value.into()],
        )
        .await
        .unwrap();
}

async fn goto(b: &Browser, app: &TestApp, path: &str) {
    b.driver
        .goto(format!("{}{path}", app.origin()))
        .await
        .unwrap();
}

async fn flash(b: &Browser) -> String {
    match b.driver.find(By::Css(".flash")).await {
        Ok(f) => f.text().await.unwrap(),
        Err(_) => String::new(),
    }
}

/// A 375-px phone never scrolls sideways.
async fn fits_phone(b: &Browser, page: &str) {
    let w = b.scroll_width().await;
    assert!(w <= 375, "{page} is {w} px wide on a 375-px phone");
}

async fn owner(app: &TestApp) -> sqlx::PgPool {
    sqlx::PgPool::connect(&app.url).await.unwrap()
}

#[tokio::test]
async fn journey_1_staff_plan_a_visit_publish_the_first_notice_and_print_it() {
    let app = TestApp::spawn().await;
    // What the sysadmin has set up: the county, leaders and departments.
    let o = owner(&app).await;
    sqlx::query("INSERT INTO jurisdictions (name, code) VALUES ('浦阳县', '330799')")
        .execute(&o)
        .await
        .unwrap();
    sqlx::query("INSERT INTO leaders (name, title, level) VALUES ('陈建国', '县委书记', 'county'), ('王建华', '副县长', 'county')").execute(&o).await.unwrap();
    sqlx::query("INSERT INTO departments (name, short_name) VALUES ('县住房和城乡建设局', '县住建局'), ('县民政局', '县民政局')").execute(&o).await.unwrap();
    app.user("xinfang", Role::Staff).await;
    let day = china_date(app.clock.now()) + chrono::Duration::days(12);

    let b = Browser::start(false).await;
    b.log_in(&app, "xinfang", PASSWORD).await;
    b.screenshot("journey1-01-signed-in").await;

    goto(&b, &app, "/staff/visits/new").await;
    b.fill("活动名称", "县领导下访接访日").await;
    choose(&b, "区县", "浦阳县").await;
    choose(&b, "接访领导", "陈建国（县委书记）").await;
    set(&b, "接访日期", &day.to_string()).await;
    set(&b, "开始时间", "08:00").await;
    set(&b, "结束时间", "17:00").await;
    b.fill("接访地点", "仙华街道便民服务中心").await;
    b.fill("详细地址", "浦阳县人民路 1 号").await;
    b.fill("受理范围", "城乡建设、征地拆迁、劳动社保等方面的诉求。")
        .await;
    choose(&b, "参加部门", "县住房和城乡建设局").await;
    b.screenshot("journey1-02-visit-form").await;
    b.press("创建活动").await;
    let text = b.body_text().await;
    assert!(flash(&b).await.contains("已创建下访活动"), "{text}");
    let visit: i64 = sqlx::query_scalar("SELECT id FROM visits")
        .fetch_one(&o)
        .await
        .unwrap();
    assert_eq!(
        b.driver.current_url().await.unwrap().path(),
        format!("/staff/visits/{visit}")
    );
    b.screenshot("journey1-03-visit").await;

    b.press("接待室与时段").await;
    b.fill("接待室名称", "第一接待室").await;
    b.fill("位置", "教学楼 101").await;
    choose(&b, "接待领导", "王建华（副县长）").await;
    choose(&b, "责任单位", "县住房和城乡建设局").await;
    b.press("添加接待室").await;
    assert!(
        flash(&b).await.contains("已添加接待室：第一接待室"),
        "{}",
        b.body_text().await
    );
    b.press("生成接访时段").await;
    assert!(
        flash(&b).await.contains("接访时段"),
        "{}",
        b.body_text().await
    );
    b.screenshot("journey1-04-rooms").await;

    goto(&b, &app, &format!("/staff/visits/{visit}/notices")).await;
    b.press("生成一次公告").await;
    let web = b
        .driver
        .find(By::Css("input[name=channels][value='政府网站']"))
        .await
        .unwrap();
    if !web.is_selected().await.unwrap() {
        web.click().await.unwrap();
    }
    b.screenshot("journey1-05-first-notice-draft").await;
    b.press("发布").await;
    let text = b.body_text().await;
    assert!(text.contains("已发布"), "{text}");
    let (status, published): (String, bool) = sqlx::query_as("SELECT v.status, n.status = 'published' FROM visits v JOIN notices n ON n.visit_id = v.id AND n.kind = 'first'")
        .fetch_one(&o)
        .await
        .unwrap();
    assert_eq!((status.as_str(), published), ("announced", true));
    b.screenshot("journey1-06-first-notice-published").await;

    b.press("打印海报").await;
    let poster = b.body_text().await;
    assert!(
        poster.contains("仙华街道便民服务中心") && poster.contains("陈建国"),
        "{poster}"
    );
    b.screenshot("journey1-07-poster").await;
    assert_eq!(
        b.print_pages("journey1-07-poster").await,
        1,
        "the poster prints to exactly one A4 page"
    );
    b.quit().await;
}

#[tokio::test]
async fn journeys_3_and_4_a_leader_assigns_a_case_it_is_closed_approved_and_rated_satisfied() {
    let app = TestApp::spawn().await;
    let (fx, _staff) = fixture(&app).await;
    let o = &fx.owner;
    // The leader in room 1 with the 住建局 at the table; the 住建局's handler; a supervisor.
    let leader_user = app.user("wangjh", Role::Leader).await;
    let leader: i64 = sqlx::query_scalar("UPDATE leaders SET name = '王建华', title = '副县长' WHERE id = (SELECT leader_id FROM users WHERE id = $1) RETURNING id")
        .bind(leader_user)
        .fetch_one(o)
        .await
        .unwrap();
    app.user("zhujian", Role::Handler).await;
    let dept: i64 = sqlx::query_scalar("UPDATE departments SET name = '县住房和城乡建设局', short_name = '县住建局' WHERE name = 'zhujian单位' RETURNING id").fetch_one(o).await.unwrap();
    app.user("ducha", Role::Supervisor).await;
    let room: i64 = sqlx::query_scalar("INSERT INTO rooms (visit_id, name, location, sort_order) VALUES ($1, '第一接待室', '教学楼 101', 0) RETURNING id")
        .bind(fx.visit)
        .fetch_one(o)
        .await
        .unwrap();
    sqlx::query("INSERT INTO room_leaders (room_id, leader_id) VALUES ($1, $2)")
        .bind(room)
        .bind(leader)
        .execute(o)
        .await
        .unwrap();
    sqlx::query("INSERT INTO room_departments (room_id, department_id) VALUES ($1, $2)")
        .bind(room)
        .bind(dept)
        .execute(o)
        .await
        .unwrap();
    // A registration placed in room 1 as number 1 and checked in at the door.
    let reg = register(
        &fx,
        fx.visit,
        Reg {
            code: "KQRS2345",
            name: "张三丰",
            id: "33072619800101123",
            phone: "13812345678",
            township: "仙华街道",
            persons: 1,
            category: fx.cat_build,
            window: fx.windows[0],
            status: "confirmed",
        },
    )
    .await;
    sqlx::query(
        "UPDATE registrations g SET room_id = $2, queue_number = 1, expected_at = w.starts_at, status = 'checked_in', checked_in_at = w.starts_at
         FROM reception_windows w WHERE w.id = g.window_id AND g.id = $1",
    )
    .bind(reg)
    .bind(room)
    .execute(o)
    .await
    .unwrap();
    // The clock on the visit day, 09:30.
    let day: NaiveDate = sqlx::query_scalar("SELECT visit_date FROM visits WHERE id = $1")
        .bind(fx.visit)
        .fetch_one(o)
        .await
        .unwrap();
    app.clock
        .advance(china_instant(day, NaiveTime::from_hms_opt(9, 30, 0).unwrap()) - app.clock.now());

    // Journey 3: the leader on a phone.
    let phone = Browser::start(true).await;
    phone.log_in(&app, "wangjh", PASSWORD).await;
    goto(&phone, &app, "/me/today").await;
    let today = phone.body_text().await;
    assert!(
        today.contains("第一接待室")
            && today.contains("县住房和城乡建设局")
            && today.contains("县领导下访接访日"),
        "{today}"
    );
    fits_phone(&phone, "/me/today").await;
    phone.screenshot("journey3-01-today-phone").await;

    phone.press("进入接待台").await;
    assert_eq!(
        phone.driver.current_url().await.unwrap().path(),
        format!("/staff/visits/{}/rooms/{room}/desk", fx.visit)
    );
    assert!(phone.body_text().await.contains("张三丰"));
    fits_phone(&phone, "the desk").await;
    phone.screenshot("journey3-02-desk-phone").await;

    phone.press("叫号").await;
    let current = phone
        .driver
        .find(By::Id("current"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        current.contains("第 1 号")
            && current.contains("张三丰")
            && current.contains("138****5678"),
        "{current}"
    );
    fits_phone(&phone, "the desk with a batch at the table").await;
    phone.screenshot("journey3-03-called-phone").await;

    phone.fill("接谈情况", "反映村口道路损坏两年未修。").await;
    phone.fill("事项摘要", "村口道路损坏未修").await;
    choose(&phone, "处理结果", "交办").await;
    choose(&phone, "承办单位", "县住房和城乡建设局").await;
    choose(&phone, "包案领导", "王建华（副县长）").await;
    phone.fill("办结时限（天）", "30").await;
    phone.screenshot("journey3-04-record-phone").await;
    phone.press("保存接谈记录").await;
    let (case, case_code): (i64, String) = sqlx::query_as("SELECT id, code FROM cases")
        .fetch_one(o)
        .await
        .unwrap();
    let shown = flash(&phone).await;
    assert!(
        shown.contains(&case_code),
        "the flash names the case: {shown}"
    );
    fits_phone(&phone, "the desk after recording").await;
    phone.screenshot("journey3-05-recorded-phone").await;

    // Journey 4: the 住建局 signs for it and submits closure; a supervisor approves.
    let desk = Browser::start(false).await;
    desk.log_in(&app, "zhujian", PASSWORD).await;
    goto(&desk, &app, "/dept/cases").await;
    assert!(desk.body_text().await.contains(&case_code));
    desk.screenshot("journey4-01-inbox").await;
    desk.press(&case_code).await;
    assert_eq!(
        desk.driver.current_url().await.unwrap().path(),
        format!("/cases/{case}")
    );
    desk.screenshot("journey4-02-case").await;
    desk.press("签收").await;
    desk.screenshot("journey4-03-accepted").await;
    // Acceptance and the answer are documents in writing, issued from the case page.
    for (kind, shot) in [
        ("信访事项受理告知书", "journey4-03a-acceptance"),
        ("信访事项处理意见书", "journey4-03b-opinion"),
    ] {
        choose(&desk, "起草文书", kind).await;
        desk.press("按交办件生成草稿").await;
        desk.press("印发（编号并定稿）").await;
        assert!(desk.body_text().await.contains("已印发，文号"));
        desk.screenshot(shot).await;
        goto(&desk, &app, &format!("/cases/{case}")).await;
    }
    choose(&desk, "办理结果", "已解决").await;
    desk.fill("答复意见", "村口道路已于本月修复，经回访群众认可。")
        .await;
    desk.press("申请办结").await;
    desk.screenshot("journey4-04-closure-submitted").await;

    desk.log_in(&app, "ducha", PASSWORD).await;
    goto(&desk, &app, &format!("/cases/{case}")).await;
    desk.press("审核通过").await;
    desk.screenshot("journey4-05-approved").await;
    let status: String = sqlx::query_scalar("SELECT status FROM cases WHERE id = $1")
        .bind(case)
        .fetch_one(o)
        .await
        .unwrap();
    assert_eq!(status, "closed");

    // The citizen looks it up on the phone and rates it 满意.
    phone.driver.delete_all_cookies().await.unwrap();
    goto(&phone, &app, "/lookup").await;
    phone.fill("登记编号或查询码", "KQRS2345").await;
    phone.fill("手机号码后四位", "5678").await;
    phone.press("查询").await;
    let status_page = phone.body_text().await;
    assert!(
        status_page.contains(&case_code) && status_page.contains("村口道路已于本月修复"),
        "{status_page}"
    );
    fits_phone(&phone, "the lookup result with the reply").await;
    phone.screenshot("journey4-06-lookup-phone").await;
    phone
        .driver
        .find(By::XPath("//label[normalize-space()='满意']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    phone.press("提交评价").await;
    fits_phone(&phone, "the lookup after rating").await;
    phone.screenshot("journey4-07-rated-phone").await;
    let (status, rating): (String, Option<String>) =
        sqlx::query_as("SELECT status, rating FROM cases WHERE id = $1")
            .bind(case)
            .fetch_one(o)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), rating.as_deref()),
        ("rated", Some("satisfied"))
    );

    // The supervisor's dashboard and the case file show it.
    goto(&desk, &app, "/supervision").await;
    let row = desk
        .driver
        .find(By::XPath(
            "//table[@id='departments']//tr[td[normalize-space()='县住房和城乡建设局']]",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        row.matches("100.0%").count(),
        3,
        "响应率, 解决率 and 满意率 all 100% for the 住建局: {row}"
    );
    desk.screenshot("journey4-08-supervision").await;
    goto(&desk, &app, &format!("/cases/{case}")).await;
    let file = desk.body_text().await;
    assert!(file.contains("满意"), "{file}");
    desk.screenshot("journey4-09-case-rated").await;
    // The visit report: the Pujiang table.
    goto(&desk, &app, &format!("/reports/visits/{}", fx.visit)).await;
    for (line, value) in [
        ("交办（件）", "1"),
        ("已办结（件）", "1"),
        ("满意率", "100.0%"),
    ] {
        let cell = desk
            .driver
            .find(By::XPath(format!(
                "//tr[th[normalize-space()='{line}']]/td"
            )))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(cell.trim(), value, "{line} on the visit report");
    }
    desk.screenshot("journey4-10-visit-report").await;

    phone.quit().await;
    desk.quit().await;
}
