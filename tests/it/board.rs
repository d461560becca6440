//! The public queue board (叫号屏): the page, its live events, and a call on one instance reaching a
//! board served by another instance within a second (Postgres LISTEN/NOTIFY → SSE).

use crate::harness::{TestApp, test_keys};
use chrono::{Duration, Utc};
use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration as StdDuration;
use xiafang::clock::{Clock, china_date};
use xiafang::consult::board;

struct Fixture {
    visit: i64,
    rooms: Vec<i64>,
}

/// A visit 2 days ahead, published (or a draft without notice), with the named rooms.
async fn visit(app: &TestApp, published: bool, rooms: &[&str]) -> Fixture {
    let owner = PgPool::connect(&app.url).await.unwrap();
    let staff: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, display_name, role, password_hash) VALUES ('desk' || floor(random() * 1e9)::text, '工作人员', 'staff', 'x') RETURNING id",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    let county: i64 = sqlx::query_scalar(
        "INSERT INTO jurisdictions (name, code) VALUES ('浦阳县', '330799') ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    let leader: i64 = sqlx::query_scalar("INSERT INTO leaders (name, title, level) VALUES ('陈建国', '县委书记', 'county') RETURNING id")
        .fetch_one(&owner)
        .await
        .unwrap();
    let date = china_date(app.clock.now()) + Duration::days(2);
    let visit: i64 = sqlx::query_scalar(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by)
         VALUES ($1, '县领导下访接访日', 'county', $2, $3, '浦阳第一中学', $4, $5) RETURNING id",
    )
    .bind(county)
    .bind(leader)
    .bind(date)
    .bind(if published { "in_progress" } else { "draft" })
    .bind(staff)
    .fetch_one(&owner)
    .await
    .unwrap();
    if published {
        sqlx::query(
            "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, published_at, published_by, created_by)
             VALUES ($1, 'first', '一次公告', '公告正文', ARRAY['政府网站'], $2, 'published', $3, $4, $4)",
        )
        .bind(visit)
        .bind(date - Duration::days(12))
        .bind(Utc::now() - Duration::days(12))
        .bind(staff)
        .execute(&owner)
        .await
        .unwrap();
    }
    let mut ids = Vec::new();
    for (i, name) in rooms.iter().enumerate() {
        let id: i64 = sqlx::query_scalar("INSERT INTO rooms (visit_id, name, location, sort_order) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(visit)
            .bind(name)
            .bind(format!("教学楼{}层", i + 1))
            .bind(i as i32)
            .fetch_one(&owner)
            .await
            .unwrap();
        ids.push(id);
    }
    owner.close().await;
    Fixture { visit, rooms: ids }
}

/// A walk-in batch queued in `room` with `number` ('checked_in'), or being received ('called').
async fn queued(
    app: &TestApp,
    f: &Fixture,
    room: i64,
    number: i32,
    name: &str,
    status: &str,
) -> i64 {
    let keys = test_keys();
    let id_number = "33072619600101001X";
    let id: i64 =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('registrations', 'id'))")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let sealed = keys
        .encrypt(
            xiafang::privacy::Column::REGISTRATION_ID_NUMBER,
            id,
            id_number,
        )
        .unwrap();
    let alphabet: Vec<char> = "ABCDEFGHJKMNPQRSTUVWXYZ23456789".chars().collect();
    let code: String = (0..10)
        .map(|_| alphabet[rand::random_range(0..alphabet.len())])
        .collect();
    sqlx::query_scalar(
        "INSERT INTO registrations (visit_id, code, channel, name, id_number_cipher, id_number_key_id, id_number_index, id_number_mask,
                                    category_id, grievance, status, room_id, queue_number, expected_at, checked_in_at, called_at,
                                    consent_at, created_by, id) OVERRIDING SYSTEM VALUE
         VALUES ($1, $2, 'walk_in', $3, $4, $5, $6, '330***********001X',
                 (SELECT id FROM categories WHERE parent_id IS NOT NULL ORDER BY id LIMIT 1), '道路破损', $7, $8, $9, now(), now(),
                 CASE WHEN $7 = 'called' THEN now() END, now(), (SELECT created_by FROM visits WHERE id = $1), $10)
         RETURNING id",
    )
    .bind(f.visit)
    .bind(code)
    .bind(name)
    .bind(sealed.bytes)
    .bind(sealed.key_id)
    .bind(keys.blind_index(xiafang::privacy::Field::IdNumber, id_number))
    .bind(status)
    .bind(room)
    .bind(number)
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// What the desk will do: call a batch and announce it, in one transaction.
async fn call(db: &PgPool, visit: i64, registration: i64) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("UPDATE registrations SET status = 'called', called_at = now() WHERE id = $1")
        .bind(registration)
        .execute(&mut *tx)
        .await
        .unwrap();
    board::announce(&mut *tx, visit).await.unwrap();
    tx.commit().await.unwrap();
}

/// A minimal SSE client over reqwest's streaming body.
struct EventStream {
    resp: reqwest::Response,
    buf: String,
}

impl EventStream {
    async fn open(app: &TestApp, visit: i64, last_event_id: Option<&str>) -> EventStream {
        let mut req =
            reqwest::Client::new().get(format!("{}/visits/{visit}/board/events", app.origin()));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        EventStream {
            resp,
            buf: String::new(),
        }
    }

    /// The next `board` event: (id, JSON data).
    async fn next_board(&mut self) -> (String, Value) {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim_start().to_owned())
                };
                if field("event:").as_deref() == Some("board") {
                    return (
                        field("id:").unwrap_or_default(),
                        serde_json::from_str(&field("data:").unwrap()).unwrap(),
                    );
                }
            }
            let chunk = self
                .resp
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn tile<'a>(board: &'a Value, room: &str) -> &'a Value {
    board["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["room"] == room)
        .unwrap_or_else(|| panic!("no tile {room}: {board}"))
}

#[tokio::test]
async fn the_board_shows_each_room_called_next_three_and_waiting_with_masked_names() {
    let app = TestApp::spawn().await;
    let f = visit(&app, true, &["第一接待室", "第二接待室"]).await;
    queued(&app, &f, f.rooms[0], 3, "张三丰", "called").await;
    for (n, name) in [(4, "李四"), (5, "王五"), (7, "赵六"), (9, "钱七")] {
        queued(&app, &f, f.rooms[0], n, name, "checked_in").await;
    }
    queued(&app, &f, f.rooms[1], 1, "欧阳娜娜", "checked_in").await;
    // Received and not yet arrived batches are not on the board.
    queued(&app, &f, f.rooms[1], 2, "孙八", "received").await;

    let r = app
        .client()
        .get(&format!("/visits/{}/board", f.visit))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.texts(".board-room"),
        vec!["第一接待室教学楼1层", "第二接待室教学楼2层"]
    );
    let first = r.html();
    let tiles: Vec<_> = first
        .select(&scraper::Selector::parse(".board-tile").unwrap())
        .collect();
    let text = |i: usize| tiles[i].text().collect::<Vec<_>>().join(" ");
    let squash = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let one = squash(text(0));
    assert!(one.contains("正在接待 3 号 张某某"), "{one}");
    assert!(one.contains("下一位 4 号 5 号 7 号"), "{one}");
    assert!(one.contains("等候 4 人"), "{one}");
    assert!(!one.contains("9 号"), "only the next three: {one}");
    let two = squash(text(1));
    assert!(
        two.contains("正在接待 —") && two.contains("下一位 1 号") && two.contains("等候 1 人"),
        "{two}"
    );
    // A public hall screen: surnames only, never a full name.
    for full in ["张三丰", "李四", "王五", "欧阳娜娜", "孙八"] {
        assert!(!r.body.contains(full), "{full} on the board");
    }
    // Live with the external script, and a reload fallback without JavaScript.
    assert!(!r.text("#board").is_empty());
    let board_js = xiafang::web::assets::url("board.js");
    assert!(
        r.body
            .contains(&format!(r#"<script src="{board_js}" defer></script>"#))
    );
    assert!(
        r.body
            .contains(r#"<noscript><meta http-equiv="refresh" content="30"></noscript>"#)
    );
    assert!(r.body.contains(&format!(
        r#"data-events="/visits/{}/board/events""#,
        f.visit
    )));

    let js = app.client().get(board_js).await;
    assert_eq!(js.status, 200);
    assert!(
        js.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.body.contains("EventSource"));
}

#[tokio::test]
async fn a_draft_or_unknown_visit_has_no_board() {
    let app = TestApp::spawn().await;
    let draft = visit(&app, false, &["第一接待室"]).await;
    let client = app.client();
    for path in [
        format!("/visits/{}/board", draft.visit),
        format!("/visits/{}/board/events", draft.visit),
        "/visits/999999/board".into(),
        "/visits/999999/board/events".into(),
    ] {
        assert_eq!(client.get(&path).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn a_call_on_instance_a_reaches_a_board_client_of_instance_b_within_a_second() {
    let a = TestApp::spawn().await;
    let b = TestApp::start_on(a.url.clone(), |_| {}).await;
    let f = visit(&a, true, &["第一接待室", "第二接待室"]).await;
    let first = queued(&a, &f, f.rooms[0], 1, "张三丰", "checked_in").await;
    queued(&a, &f, f.rooms[0], 2, "李四", "checked_in").await;

    let mut events = EventStream::open(&b, f.visit, None).await;
    let (id0, initial) = events.next_board().await;
    assert!(tile(&initial, "第一接待室")["now"].is_null());
    assert_eq!(
        tile(&initial, "第一接待室")["next"],
        serde_json::json!([1, 2])
    );
    assert_eq!(tile(&initial, "第一接待室")["waiting"], 2);

    let started = std::time::Instant::now();
    call(&a.db, f.visit, first).await;
    let (id1, after) = tokio::time::timeout(StdDuration::from_secs(1), events.next_board())
        .await
        .expect("instance B's board got the call of instance A within a second");
    let room = tile(&after, "第一接待室");
    assert_eq!(
        room["now"],
        serde_json::json!({"number": 1, "name": "张某某"}),
        "{after}"
    );
    assert_eq!(room["next"], serde_json::json!([2]));
    assert_eq!(room["waiting"], 1);
    assert!(
        id1.parse::<i64>().unwrap() >= id0.parse::<i64>().unwrap(),
        "event ids grow: {id0} → {id1}"
    );
    eprintln!("call on A seen by B's board after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_reconnect_resumes_with_the_full_current_state() {
    let app = TestApp::spawn().await;
    let f = visit(&app, true, &["第一接待室"]).await;
    let first = queued(&app, &f, f.rooms[0], 1, "张三丰", "checked_in").await;
    let second = queued(&app, &f, f.rooms[0], 2, "李四", "checked_in").await;
    let (last_id, _) = EventStream::open(&app, f.visit, None)
        .await
        .next_board()
        .await;
    // While the screen was offline, two calls happened (their notifications are gone for it).
    call(&app.db, f.visit, first).await;
    sqlx::query("UPDATE registrations SET status = 'received' WHERE id = $1")
        .bind(first)
        .execute(&app.db)
        .await
        .unwrap();
    call(&app.db, f.visit, second).await;
    let mut again = EventStream::open(&app, f.visit, Some(&last_id)).await;
    let (_, now) = tokio::time::timeout(StdDuration::from_secs(2), again.next_board())
        .await
        .unwrap();
    let room = tile(&now, "第一接待室");
    assert_eq!(
        room["now"],
        serde_json::json!({"number": 2, "name": "李某某"})
    );
    assert_eq!(room["waiting"], 0);
}

#[tokio::test]
async fn a_burst_of_calls_for_other_visits_sends_nothing_and_a_burst_for_this_one_ends_in_its_last_state()
 {
    let app = TestApp::spawn().await;
    let f = visit(&app, true, &["第一接待室"]).await;
    let other = visit(&app, true, &["甲室"]).await;
    let mut regs = Vec::new();
    for n in 1..=5 {
        regs.push(queued(&app, &f, f.rooms[0], n, "王五", "checked_in").await);
    }
    let mut events = EventStream::open(&app, f.visit, None).await;
    events.next_board().await;
    // Another visit's announcements never reach this board.
    for _ in 0..3 {
        board::announce(&app.db, other.visit).await.unwrap();
    }
    assert!(
        tokio::time::timeout(StdDuration::from_millis(300), events.next_board())
            .await
            .is_err(),
        "no event for another visit"
    );
    // Five calls in a row: whatever events come, the last one shows the last call.
    for r in &regs {
        call(&app.db, f.visit, *r).await;
    }
    let mut last = Value::Null;
    while let Ok((_, b)) =
        tokio::time::timeout(StdDuration::from_millis(500), events.next_board()).await
    {
        last = b;
    }
    assert_eq!(tile(&last, "第一接待室")["now"]["number"], 5, "{last}");
}

#[tokio::test]
async fn in_a_browser_the_board_follows_calls_live_and_fits_a_phone() {
    let a = TestApp::spawn().await;
    let b = TestApp::start_on(a.url.clone(), |_| {}).await;
    let f = visit(&a, true, &["第一接待室", "第二接待室", "第三接待室"]).await;
    let first = queued(&a, &f, f.rooms[0], 1, "欧阳娜娜", "checked_in").await;
    queued(&a, &f, f.rooms[0], 2, "李四", "checked_in").await;

    let browser = crate::browser::Browser::start(true).await;
    let d = &browser.driver;
    d.goto(format!("{}/visits/{}/board", b.origin(), f.visit))
        .await
        .unwrap();
    let wide: i64 = d
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .convert()
        .unwrap();
    assert!(wide <= 375, "no horizontal scroll on a phone: {wide}px");
    // Let the script open its event stream, then call on the other instance.
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    call(&a.db, f.visit, first).await;
    let mut shown = String::new();
    for _ in 0..30 {
        shown = d
            .execute(
                "return document.querySelector('.board-tile').innerText",
                vec![],
            )
            .await
            .unwrap()
            .convert()
            .unwrap();
        if shown.contains("欧阳某某") {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    browser.quit().await;
    let shown = shown.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        shown.contains("正在接待 1号 欧阳某某") && shown.contains("等候 1 人"),
        "{shown}"
    );
}

#[tokio::test]
async fn the_live_events_stream_uncompressed_to_a_client_that_accepts_compression() {
    let app = TestApp::spawn().await;
    let f = visit(&app, true, &["第一接待室"]).await;
    let first = queued(&app, &f, f.rooms[0], 1, "张三丰", "checked_in").await;
    let resp = reqwest::Client::new()
        .get(format!("{}/visits/{}/board/events", app.origin(), f.visit))
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers().get("content-encoding").is_none(),
        "a compressor would hold the events back"
    );
    let mut events = EventStream {
        resp,
        buf: String::new(),
    };
    events.next_board().await;
    call(&app.db, f.visit, first).await;
    let (_, after) = tokio::time::timeout(StdDuration::from_secs(1), events.next_board())
        .await
        .expect("the call arrives at once");
    assert_eq!(tile(&after, "第一接待室")["now"]["number"], 1);
}

// ---- 语音叫号: the board reads new calls aloud, once switched on ----

/// Installed before any page script runs: utterances are recorded in `window.spoken` ("lang text")
/// instead of played.
const RECORD_SPEECH: &str = "window.spoken = []; \
     window.speechSynthesis.speak = function (u) { window.spoken.push(u.lang + ' ' + u.text); };";

/// The desk's day (room A: 1 欧阳娜娜, 2 李四, 3 王五 waiting; room B: 8 赵六 at the table) and its
/// board open in a browser whose speech is recorded.
async fn voice_board(app: &TestApp) -> (crate::desk::Day, Vec<i64>, crate::browser::Browser) {
    use crate::desk::{batch, day};
    let (d, _) = day(app).await;
    let mut waiting = Vec::new();
    for (code, name, id17, n) in [
        ("SPKA2345", "欧阳娜娜", "33072619800101123", 1),
        ("SPKB2345", "李四", "33072619751212456", 2),
        ("SPKC2345", "王五", "33072619900303789", 3),
    ] {
        waiting.push(batch(&d, code, name, id17, d.room_a, n, "checked_in").await);
    }
    batch(
        &d,
        "SPKD2345",
        "赵六",
        "33072619660606321",
        d.room_b,
        8,
        "checked_in",
    )
    .await;
    desk_calls(&d, d.room_b).await;
    let browser = crate::browser::Browser::start(false).await;
    browser
        .driver
        .cdp()
        .send_raw(
            "Page.addScriptToEvaluateOnNewDocument",
            serde_json::json!({ "source": RECORD_SPEECH }),
        )
        .await
        .unwrap();
    browser
        .driver
        .goto(format!("{}/visits/{}/board", app.origin(), d.fx.visit))
        .await
        .unwrap();
    (d, waiting, browser)
}

/// The desk calls the next batch of `room`, as the leader's 叫号 button does.
async fn desk_calls(d: &crate::desk::Day, room: i64) {
    let r = d
        .staff
        .post(&format!("{}/call", crate::desk::desk(d, room)), &[])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
}

/// The batch at the table is received (its record saved), so that the next can be called.
async fn received(d: &crate::desk::Day, registration: i64) {
    sqlx::query("UPDATE registrations SET status = 'received' WHERE id = $1")
        .bind(registration)
        .execute(&d.fx.owner)
        .await
        .unwrap();
}

/// What the page has spoken, once it has spoken `count` things (or after 5 s).
async fn spoken(browser: &crate::browser::Browser, count: usize) -> Vec<String> {
    let mut said = Vec::new();
    for _ in 0..50 {
        said = browser
            .driver
            .execute("return window.spoken", vec![])
            .await
            .unwrap()
            .convert::<Vec<String>>()
            .unwrap();
        if said.len() >= count {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    said
}

async fn voice_switch(browser: &crate::browser::Browser) -> (String, String) {
    let button = browser
        .driver
        .find(thirtyfour::By::Id("board-voice"))
        .await
        .unwrap();
    (
        button.text().await.unwrap(),
        button
            .attr("aria-pressed")
            .await
            .unwrap()
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn switched_on_the_board_speaks_each_new_call_once_in_order_with_masked_names() {
    let app = TestApp::spawn().await;
    let (d, waiting, browser) = voice_board(&app).await;
    assert_eq!(
        voice_switch(&browser).await,
        ("语音叫号：关".into(), "false".into())
    );
    browser.button("语音叫号：关").await.click().await.unwrap();
    assert_eq!(
        voice_switch(&browser).await,
        ("语音叫号：开".into(), "true".into())
    );
    browser.screenshot("board-voice-on").await;

    desk_calls(&d, d.room_a).await;
    spoken(&browser, 1).await;
    received(&d, waiting[0]).await;
    desk_calls(&d, d.room_a).await;
    spoken(&browser, 2).await;
    // Room B's call, on the board when the page loaded, is not read out; nor is any call twice.
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_eq!(
        spoken(&browser, 2).await,
        [
            "zh-CN 请 1 号 欧阳某某 到第一接待室",
            "zh-CN 请 2 号 李某某 到第一接待室"
        ]
    );

    // The screen remembers the switch; on reload it speaks only what is called afterwards.
    browser.driver.refresh().await.unwrap();
    assert_eq!(voice_switch(&browser).await.0, "语音叫号：开");
    received(&d, waiting[1]).await;
    desk_calls(&d, d.room_a).await;
    let said = spoken(&browser, 1).await;
    browser.quit().await;
    assert_eq!(said, ["zh-CN 请 3 号 王某某 到第一接待室"]);
}

#[tokio::test]
async fn switched_off_the_board_shows_calls_and_says_nothing() {
    let app = TestApp::spawn().await;
    let (d, _, browser) = voice_board(&app).await;
    assert_eq!(voice_switch(&browser).await.0, "语音叫号：关");
    desk_calls(&d, d.room_a).await;
    let mut shown = String::new();
    for _ in 0..50 {
        shown = browser.body_text().await;
        if shown.contains("欧阳某某") {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let said = spoken(&browser, 0).await;
    browser.quit().await;
    assert!(
        shown.contains("欧阳某某"),
        "the call is on the board: {shown}"
    );
    assert!(said.is_empty(), "{said:?}");
}
