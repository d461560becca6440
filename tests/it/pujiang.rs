//! The 2003 Pujiang day replayed through the real routes: `demo --pujiang` seeds 429 scheduled
//! registrations; staff publish the schedule, check everyone in and register the walk-ins; every
//! room's desk calls and records each batch; the day page ends at 436 batches, 667 persons and 91
//! issues resolved on the spot.

use crate::harness::{TestApp, test_keys};
use futures_util::stream::{self, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use thirtyfour::prelude::*;
use xiafang::demo::DEMO_PASSWORD;
use xiafang::demo::pujiang::{self, BATCHES, PERSONS, RESOLVED_ON_SPOT, WALK_IN_PERSONS};

#[tokio::test]
async fn the_pujiang_day_replayed_ends_at_436_batches_667_persons_and_91_resolved_on_the_spot() {
    // `serve --demo`: the demo accounts sign in without the second factor.
    let app = TestApp::spawn_with(|c| c.demo_mode = true).await;
    let visit = pujiang::seed(&app.db, &*app.clock, &test_keys())
        .await
        .unwrap();
    assert_eq!(
        pujiang::seed(&app.db, &*app.clock, &test_keys())
            .await
            .unwrap(),
        visit,
        "seeding twice finds the day"
    );
    let staff = app.client();
    assert_eq!(staff.login("xinfang", DEMO_PASSWORD).await.status, 303);
    let leader = app.client();
    assert_eq!(leader.login("lingdao", DEMO_PASSWORD).await.status, 303);

    // Cadence (issue 12): every leader seated in a room has gone down today, not only the lead.
    let seated: Vec<String> = sqlx::query_scalar(
        "WITH seated AS (SELECT rl.leader_id FROM room_leaders rl JOIN rooms r ON r.id = rl.room_id WHERE r.visit_id = $1)
         SELECT DISTINCT l.name FROM leaders l WHERE l.id IN (SELECT leader_id FROM seated)
           AND NOT EXISTS (SELECT 1 FROM leaders o WHERE o.name = l.name AND o.id NOT IN (SELECT leader_id FROM seated))",
    )
    .bind(visit)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(seated.len() > 50, "{}", seated.len());
    let behind = staff
        .get("/supervision/lists")
        .await
        .texts("#cadence tbody tr td:first-child");
    assert!(!behind.iter().any(|n| seated.contains(n)), "{behind:?}");

    // 发布排接: every registrant is told room, number and time.
    assert_eq!(
        staff
            .post(&format!("/staff/visits/{visit}/schedule/publish"), &[])
            .await
            .status,
        303
    );
    let told: i64 = sqlx::query_scalar("SELECT count(DISTINCT registration_id) FROM notifications WHERE kind = 'registration.scheduled'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(told, pujiang::REGISTRATIONS as i64);

    // 签到: everyone registered comes (Pujiang had no no-shows to speak of).
    let scheduled: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM registrations WHERE visit_id = $1 AND status = 'scheduled' ORDER BY id",
    )
    .bind(visit)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(scheduled.len(), pujiang::REGISTRATIONS);
    let statuses: Vec<u16> = stream::iter(scheduled)
        .map(|reg| {
            let staff = &staff;
            async move {
                staff
                    .post(&format!("/staff/visits/{visit}/checkin/{reg}"), &[])
                    .await
                    .status
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 303), "{statuses:?}");

    // 现场登记: the walk-ins of the day, each placed in a competent room at once.
    let category: i64 = sqlx::query_scalar("SELECT id FROM categories WHERE name = '城乡建设' AND parent_id IS NOT NULL ORDER BY id LIMIT 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    for (i, persons) in WALK_IN_PERSONS.iter().enumerate() {
        let form = staff.get(&format!("/staff/visits/{visit}/walkin")).await;
        let token = form.field_value("form_token");
        let id_number =
            crate::fixtures::id_number(&format!("3307261970011{}{:03}", i % 9 + 1, 100 + i));
        let persons = persons.to_string();
        let category = category.to_string();
        let r = staff
            .post(
                &format!("/staff/visits/{visit}/walkin"),
                &[
                    ("form_token", &token),
                    ("name", "现场来访"),
                    ("id_number", &id_number),
                    ("phone", ""),
                    ("address", "浦阳县仙华街道"),
                    ("township", "仙华街道"),
                    ("persons", &persons),
                    ("category_id", &category),
                    ("grievance", "现场反映：村口道路坑洼，出行困难。"),
                    ("informed", "on"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "walk-in {i}: {}", r.body);
    }

    // Every room receives its queue; room 1 is worked by the county secretary himself.
    let rooms: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT r.id, min(rl.leader_id) FROM rooms r JOIN room_leaders rl ON rl.room_id = r.id WHERE r.visit_id = $1 GROUP BY r.id ORDER BY r.id",
    )
    .bind(visit)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let department: i64 =
        sqlx::query_scalar("SELECT id FROM departments WHERE name = '县住房和城乡建设局'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let next_batch = AtomicUsize::new(0);
    let received: Vec<usize> = stream::iter(rooms.iter().enumerate())
        .map(|(n, &(room, owner))| {
            let (app, next_batch) = (&app, &next_batch);
            let desk_user = if n == 0 { &leader } else { &staff };
            async move {
                let desk = format!("/staff/visits/{visit}/rooms/{room}/desk");
                let mut count = 0;
                loop {
                    let call = desk_user.post(&format!("{desk}/call"), &[]).await;
                    if call.status == 409 {
                        break count;
                    }
                    assert_eq!(call.status, 303, "call in room {room}: {}", call.body);
                    let (reg, category): (i64, i64) =
                        sqlx::query_as("SELECT id, category_id FROM registrations WHERE room_id = $1 AND status = 'called'")
                            .bind(room)
                            .fetch_one(&app.db)
                            .await
                            .unwrap();
                    let outcome = pujiang::outcome(next_batch.fetch_add(1, Ordering::SeqCst));
                    let (category, owner, department) = (category.to_string(), owner.to_string(), department.to_string());
                    let mut form = vec![
                        ("statement", "来访人反映的情况已记录。"),
                        ("consultation", "相关部门当场会商。"),
                        ("i0_category", category.as_str()),
                        ("i0_summary", "群众反映的诉求"),
                        ("i0_outcome", outcome),
                    ];
                    if outcome == "assigned" {
                        form.extend([("i0_lead", department.as_str()), ("i0_owner", owner.as_str()), ("i0_deadline", "30")]);
                    }
                    let r = desk_user.post(&format!("{desk}/{reg}/record"), &form).await;
                    assert_eq!(r.status, 303, "record {reg}: {}", r.body);
                    count += 1;
                }
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert_eq!(received.iter().sum::<usize>(), BATCHES);

    // The day page: the table Pujiang is remembered by.
    let day = staff.get(&format!("/staff/visits/{visit}/day")).await;
    assert_eq!(day.status, 200);
    assert_eq!(day.text("#t-registered"), BATCHES.to_string());
    assert_eq!(day.text("#t-received"), BATCHES.to_string());
    assert_eq!(day.text("#t-persons"), PERSONS.to_string());
    assert_eq!(day.text("#t-resolved"), RESOLVED_ON_SPOT.to_string());
    assert_eq!(day.text("#t-waiting"), "0");
    assert_eq!(day.text("#t-no-show"), "0");
    let assigned: i64 = day.text("#t-assigned").parse().unwrap();
    let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM cases WHERE visit_id = $1")
        .bind(visit)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(cases, assigned, "one case per 交办 issue");
    assert!(assigned > 0);
}

/// The day's three screens at mid-morning, for looking at: the hall's board (1920×1080), a leader's
/// /me/today and desk on a laptop (1366×768).
#[tokio::test]
async fn in_a_browser_the_pujiang_board_desk_and_today_fit_the_hall_screen_and_a_laptop() {
    // Not in demo mode: the demo accounts go through the second factor like any other.
    let app = TestApp::spawn().await;
    let visit = pujiang::seed(&app.db, &*app.clock, &test_keys())
        .await
        .unwrap();
    let owner = sqlx::PgPool::connect(&app.url).await.unwrap();
    // Mid-morning: the first 300 batches have come; one is at each table.
    sqlx::query(
        "UPDATE registrations SET status = 'checked_in', checked_in_at = now()
         WHERE id IN (SELECT id FROM registrations WHERE visit_id = $1 ORDER BY expected_at, id LIMIT 300)",
    )
    .bind(visit)
    .execute(&owner)
    .await
    .unwrap();
    let staff = app.client();
    assert_eq!(staff.login("xinfang", DEMO_PASSWORD).await.status, 303);
    let rooms: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM rooms WHERE visit_id = $1 ORDER BY sort_order")
            .bind(visit)
            .fetch_all(&owner)
            .await
            .unwrap();
    for room in &rooms[1..] {
        assert_eq!(
            staff
                .post(
                    &format!("/staff/visits/{visit}/rooms/{room}/desk/call"),
                    &[]
                )
                .await
                .status,
            303
        );
    }

    let b = crate::browser::Browser::start(false).await;
    let base = format!("http://{}", app.addr);
    b.driver.set_window_rect(0, 0, 1366, 768).await.unwrap();
    b.driver.goto(format!("{base}/login")).await.unwrap();
    b.fill("用户名", "lingdao").await;
    b.fill("密码", DEMO_PASSWORD).await;
    b.press("登录").await;
    b.pass_second_factor(&app, "lingdao").await;
    let landed = b.driver.current_url().await.unwrap();
    b.screenshot("pujiang-login-landing").await;
    assert!(
        landed.path().ends_with("/me/today"),
        "a leader lands on 今日接访, not {landed}"
    );
    assert!(b.body_text().await.contains("第1接待室"));
    b.screenshot("pujiang-me-today-laptop").await;
    b.driver
        .find(By::LinkText("进入接待台"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.press("叫号").await;
    let desk = b.body_text().await;
    assert!(desk.contains("已叫第"), "the call is confirmed: {desk}");
    b.screenshot("pujiang-desk-laptop").await;
    assert!(b.scroll_width().await <= 1366);
    // Queue, dossier and the first issue block side by side, without scrolling the page.
    let [scrolled, height, queue, dossier, issue]: [f64; 5] = b
        .driver
        .execute(
            "const r = s => document.querySelector(s).getBoundingClientRect();
             return [window.scrollY, window.innerHeight, r('#queue').top, r('#current').top, r('#issue-0').bottom];",
            vec![],
        )
        .await
        .unwrap()
        .convert()
        .unwrap();
    assert_eq!(scrolled, 0.0);
    assert!(
        queue < height - 200.0 && dossier < height - 200.0 && issue <= height,
        "at 1366×768 ({height} px high): queue at {queue}, dossier at {dossier}, first issue ends at {issue}"
    );

    // 交办 without a 承办单位: the page comes back with the error summary on top, focused.
    b.driver
        .find(By::Css("#f-i0_outcome option[value=assigned]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        b.field("承办单位").await.is_displayed().await.unwrap(),
        "交办 shows its fields"
    );
    b.fill("接谈情况", "反映道路破损").await;
    b.driver
        .find(By::Id("f-i0_summary"))
        .await
        .unwrap()
        .send_keys("道路破损")
        .await
        .unwrap();
    b.press("保存接谈记录").await;
    let [top, bottom, height]: [f64; 3] = b
        .driver
        .execute(
            "const r = document.getElementById('error-summary').getBoundingClientRect();
             return [r.top, r.bottom, window.innerHeight];",
            vec![],
        )
        .await
        .unwrap()
        .convert()
        .unwrap();
    let focused: String = b
        .driver
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap()
        .convert()
        .unwrap();
    b.screenshot("pujiang-desk-error-summary").await;
    assert_eq!(focused, "error-summary");
    assert!(
        top >= 0.0 && bottom <= height,
        "in view: {top}..{bottom} of {height}"
    );
    let link = b
        .driver
        .find(By::Css("#error-summary a[href='#f-i0_lead']"))
        .await
        .unwrap();
    assert!(link.text().await.unwrap().contains("交办须选择承办单位"));

    b.driver.set_window_rect(0, 0, 1920, 1080).await.unwrap();
    b.driver
        .goto(format!("{base}/visits/{visit}/board"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(b.body_text().await.contains("第14接待室"));
    b.screenshot("pujiang-board-1080p").await;
    let fits: bool = b.driver.execute("return document.documentElement.scrollHeight <= window.innerHeight && document.documentElement.scrollWidth <= window.innerWidth", vec![])
        .await
        .unwrap()
        .convert()
        .unwrap();
    b.quit().await;
    assert!(
        fits,
        "all 14 rooms fit one 1080p hall screen without scrolling"
    );
}
