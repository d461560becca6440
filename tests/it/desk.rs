//! Stage 2, the leader's desk over HTTP: 叫号 → the board → record a reception with several issues →
//! 交办 cases; validation; moving a batch to another room; 标记未到; a leader's own rooms (and 404 elsewhere); /me/today;
//! concurrent calls.

use crate::fixtures::{Fx, Reg, fixture, id_of, register};
use crate::harness::{Client, PASSWORD, TestApp};
use chrono::{Duration, NaiveDate, Utc};
use sqlx::PgPool;
use xiafang::clock::Clock;
use xiafang::web::auth::Role;

pub(crate) struct Day {
    pub(crate) fx: Fx,
    pub(crate) staff: Client,
    pub(crate) room_a: i64,
    pub(crate) room_b: i64,
    pub(crate) lead_dept: i64,
    co_dept: i64,
    pub(crate) leader_a: i64,
    leader_b: i64,
}

/// Room A: leader `lingdao_a` with 住建 and 民政 at the table; room B: the visit's lead leader.
/// The visit has a published notice, so its board is public.
pub(crate) async fn day(app: &TestApp) -> (Day, Client) {
    let (fx, staff) = fixture(app).await;
    let o = &fx.owner;
    let leader_client = app.signed_in("lingdao_a", Role::Leader).await;
    let leader_a = id_of(
        o,
        "SELECT leader_id FROM users WHERE username = $1",
        "lingdao_a",
    )
    .await;
    let leader_b: i64 = sqlx::query_scalar("SELECT lead_leader_id FROM visits WHERE id = $1")
        .bind(fx.visit)
        .fetch_one(o)
        .await
        .unwrap();
    let room = |name: &'static str, location: &'static str| {
        sqlx::query_scalar::<_, i64>("INSERT INTO rooms (visit_id, name, location, sort_order) VALUES ($1, $2, $3, 0) RETURNING id")
            .bind(fx.visit)
            .bind(name)
            .bind(location)
    };
    let room_a = room("第一接待室", "教学楼 101").fetch_one(o).await.unwrap();
    let room_b = room("第二接待室", "教学楼 102").fetch_one(o).await.unwrap();
    let dept = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO departments (name, short_name) VALUES ($1, $1) RETURNING id",
        )
        .bind(name)
    };
    let lead_dept = dept("县住建局").fetch_one(o).await.unwrap();
    let co_dept = dept("县民政局").fetch_one(o).await.unwrap();
    for d in [lead_dept, co_dept] {
        sqlx::query("INSERT INTO room_departments (room_id, department_id) VALUES ($1, $2)")
            .bind(room_a)
            .bind(d)
            .execute(o)
            .await
            .unwrap();
    }
    for (r, l) in [(room_a, leader_a), (room_b, leader_b)] {
        sqlx::query("INSERT INTO room_leaders (room_id, leader_id) VALUES ($1, $2)")
            .bind(r)
            .bind(l)
            .execute(o)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, published_at, published_by, created_by)
         VALUES ($1, 'first', '一次公告', '公告正文', ARRAY['政府网站'], CURRENT_DATE, 'published', now(), $2, $2)",
    )
    .bind(fx.visit)
    .bind(fx.staff_id)
    .execute(o)
    .await
    .unwrap();
    (
        Day {
            fx,
            staff,
            room_a,
            room_b,
            lead_dept,
            co_dept,
            leader_a,
            leader_b,
        },
        leader_client,
    )
}

/// A registration placed in `room` with queue number `n` in the 09:00 window; `checked_in` as the
/// check-in desk would leave it.
pub(crate) async fn batch(
    d: &Day,
    code: &str,
    name: &str,
    id17: &str,
    room: i64,
    n: i32,
    status: &str,
) -> i64 {
    let reg = register(
        &d.fx,
        d.fx.visit,
        Reg {
            code,
            name,
            id: id17,
            phone: "13812345678",
            township: "仙华街道",
            persons: 1,
            category: d.fx.cat_build,
            window: d.fx.windows[0],
            status: "confirmed",
        },
    )
    .await;
    sqlx::query(
        "UPDATE registrations g SET room_id = $2, queue_number = $3, expected_at = w.starts_at, status = $4,
                checked_in_at = CASE WHEN $4 = 'checked_in' THEN now() END
         FROM reception_windows w WHERE w.id = g.window_id AND g.id = $1",
    )
    .bind(reg)
    .bind(room)
    .bind(n)
    .bind(status)
    .execute(&d.fx.owner)
    .await
    .unwrap();
    reg
}

async fn status_of(o: &PgPool, reg: i64) -> (String, Option<i64>, Option<i32>) {
    sqlx::query_as("SELECT status, room_id, queue_number FROM registrations WHERE id = $1")
        .bind(reg)
        .fetch_one(o)
        .await
        .unwrap()
}

pub(crate) fn desk(d: &Day, room: i64) -> String {
    format!("/staff/visits/{}/rooms/{room}/desk", d.fx.visit)
}

/// The flash the next page shows after a 303.
async fn flash(c: &Client, path: &str) -> String {
    c.get(path).await.text(".flash")
}

#[tokio::test]
async fn call_board_record_two_issues_and_one_case() {
    let app = TestApp::spawn().await;
    let (d, _) = day(&app).await;
    let o = &d.fx.owner;
    let first = batch(
        &d,
        "DESK2222",
        "张三丰",
        "33072619800101123",
        d.room_a,
        1,
        "checked_in",
    )
    .await;
    let second = batch(
        &d,
        "DESK3333",
        "李四",
        "33072619751212456",
        d.room_a,
        2,
        "checked_in",
    )
    .await;
    // An earlier registration of the same person, in another visit: the dossier lists it.
    let (other_visit, other_windows) = crate::fixtures::visit(o, d.fx.staff_id, "上月下访").await;
    register(
        &d.fx,
        other_visit,
        Reg {
            code: "PREV4444",
            name: "张三丰",
            id: "33072619800101123",
            phone: "13812345678",
            township: "仙华街道",
            persons: 1,
            category: d.fx.cat_build,
            window: other_windows[0],
            status: "confirmed",
        },
    )
    .await;

    let path = desk(&d, d.room_a);
    let page = d.staff.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.text("#count-waiting"), "2");
    assert!(
        page.body.contains("张三丰") && page.body.contains("李四"),
        "the desk shows full names"
    );

    let r = d.staff.post(&format!("{path}/call"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), path);
    assert_eq!(status_of(o, first).await.0, "called");
    assert_eq!(status_of(o, second).await.0, "checked_in");
    assert_eq!(app.audit_count("desk.call").await, 1);

    let board = app
        .client()
        .get(&format!("/visits/{}/board", d.fx.visit))
        .await;
    assert_eq!(board.status, 200);
    assert!(
        board
            .texts(".board-number")
            .iter()
            .any(|t| t.starts_with('1')),
        "{}",
        board.body
    );
    assert!(board.body.contains("张某某") && !board.body.contains("张三丰"));

    // The dossier of the batch at the table: full name, masked numbers, the earlier registration.
    let page = d.staff.get(&path).await;
    assert_eq!(page.text("#current-number"), "1");
    assert!(
        page.text("#current").contains("330***********"),
        "masked ID"
    );
    assert!(page.text("#current").contains("138****5678"));
    assert!(
        page.text("#earlier").contains("PREV4444") && page.text("#earlier").contains("上月下访"),
        "{}",
        page.body
    );
    // Three blank issue blocks; the first carries the batch's category, the owner the room's leader.
    assert_eq!(page.field_value("i0_deadline"), "60");
    assert!(page.body.contains("name=\"i2_summary\""));

    // A second call is refused while the batch is at the table.
    let r = d.staff.post(&format!("{path}/call"), &[]).await;
    assert_eq!(r.status, 409);
    assert!(r.text("#notice").contains("还在接待中"), "{}", r.body);

    let lead = d.lead_dept.to_string();
    let co = d.co_dept.to_string();
    let cat = d.fx.cat_build.to_string();
    let owner = d.leader_a.to_string();
    let form = [
        ("statement", "反映路灯不亮和危房改造补助两件事"),
        ("consultation", "住建局、民政局：补助可以办理"),
        ("i0_category", cat.as_str()),
        ("i0_summary", "村口路灯不亮"),
        ("i0_outcome", "resolved_on_spot"),
        ("i0_owner", owner.as_str()),
        ("i0_deadline", "60"),
        ("i1_category", cat.as_str()),
        ("i1_summary", "危房改造补助未到位"),
        ("i1_outcome", "assigned"),
        ("i1_lead", lead.as_str()),
        ("i1_co", co.as_str()),
        ("i1_owner", owner.as_str()),
        ("i1_deadline", "30"),
        ("i2_owner", owner.as_str()),
        ("i2_deadline", "60"),
    ];
    let r = d.staff.post(&format!("{path}/{first}/record"), &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), path);
    let (case_id, code): (i64, String) = sqlx::query_as("SELECT id, code FROM cases")
        .fetch_one(o)
        .await
        .unwrap();
    let shown = d.staff.get(&path).await;
    assert!(
        shown.text(".flash").contains(&code),
        "the flash names the case: {}",
        shown.text(".flash")
    );
    assert_eq!(
        shown.text(&format!(".flash a[href=\"/cases/{case_id}\"]")),
        code,
        "the flash links to the case it made"
    );

    assert_eq!(status_of(o, first).await.0, "received");
    type Row = (bool, bool, i64, String, Vec<u8>, i16, i64);
    let (started_ok, ended_ok, id, clear, cipher, key_id, recorded_by): Row = sqlx::query_as(
        "SELECT r.started_at = g.called_at, r.ended_at >= r.started_at, r.id, r.statement,
                r.statement_cipher, r.statement_key_id, r.recorded_by
         FROM receptions r JOIN registrations g ON g.id = r.registration_id WHERE g.id = $1",
    )
    .bind(first)
    .fetch_one(o)
    .await
    .unwrap();
    assert!(started_ok && ended_ok);
    assert_eq!(clear, "", "what was said is stored sealed only");
    let column = xiafang::crypto::Column::RECEPTION_STATEMENT;
    let statement = crate::harness::test_keys()
        .decrypt(column, id, key_id, &cipher)
        .unwrap();
    assert_eq!(statement, "反映路灯不亮和危房改造补助两件事");
    assert_eq!(recorded_by, d.fx.staff_id);
    let leaders: Vec<i64> = sqlx::query_scalar("SELECT leader_id FROM reception_leaders")
        .fetch_all(o)
        .await
        .unwrap();
    assert_eq!(leaders, vec![d.leader_a]);
    let issues: Vec<(String, String)> =
        sqlx::query_as("SELECT summary, outcome FROM issues ORDER BY id")
            .fetch_all(o)
            .await
            .unwrap();
    assert_eq!(
        issues,
        vec![
            ("村口路灯不亮".into(), "resolved_on_spot".into()),
            ("危房改造补助未到位".into(), "assigned".into())
        ]
    );
    let (lead_id, owner_id, days, status, title, due, assigned_on): (i64, i64, i32, String, String, NaiveDate, NaiveDate) = sqlx::query_as(
        "SELECT c.lead_department_id, c.owner_leader_id, c.deadline_days, c.status, c.title, c.accept_due_on,
                (c.assigned_at AT TIME ZONE 'Asia/Shanghai')::date
         FROM cases c JOIN issues i ON i.id = c.issue_id WHERE i.outcome = 'assigned'",
    )
    .fetch_one(o)
    .await
    .unwrap();
    assert_eq!(
        (lead_id, owner_id, days, status.as_str(), title.as_str()),
        (
            d.lead_dept,
            d.leader_a,
            30,
            "assigned",
            "危房改造补助未到位"
        )
    );
    let calendar = xiafang::followup::workdays::Calendar::load(o, assigned_on)
        .await
        .unwrap();
    assert_eq!(
        due,
        calendar.add(assigned_on, 5),
        "signing is due 5 working days after assignment"
    );
    let co_ids: Vec<i64> = sqlx::query_scalar("SELECT department_id FROM case_departments")
        .fetch_all(o)
        .await
        .unwrap();
    assert_eq!(co_ids, vec![d.co_dept]);
    assert_eq!(app.audit_count("desk.record").await, 1);
    assert_eq!(app.audit_count("case.assign").await, 1);

    // Recorded once only; the desk moves on to the next number.
    let again = d.staff.post(&format!("{path}/{first}/record"), &form).await;
    assert_eq!(again.status, 409);
    let r = d.staff.post(&format!("{path}/call"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(status_of(o, second).await.0, "called");
}

#[tokio::test]
async fn invalid_records_show_errors_beside_fields_and_keep_input() {
    let app = TestApp::spawn().await;
    let (d, _) = day(&app).await;
    let reg = batch(
        &d,
        "DESK5555",
        "王五",
        "33072619900505789",
        d.room_a,
        1,
        "checked_in",
    )
    .await;
    let path = desk(&d, d.room_a);
    assert_eq!(d.staff.post(&format!("{path}/call"), &[]).await.status, 303);
    let cat = d.fx.cat_build.to_string();
    let form = [
        ("statement", "群众反映的情况"),
        ("i0_category", cat.as_str()),
        ("i0_outcome", "explained"),
        ("i1_category", cat.as_str()),
        ("i1_summary", "要求补偿"),
        ("i1_outcome", "not_accepted"),
    ];
    let r = d.staff.post(&format!("{path}/{reg}/record"), &form).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.field_error("i0_summary"), "请填写事项摘要");
    assert_eq!(r.field_error("i1_reason"), "请填写不予受理理由");
    assert_eq!(r.field_value("statement"), "群众反映的情况");
    assert_eq!(r.field_value("i1_summary"), "要求补偿");
    assert!(
        r.body.contains(r#"<option value="not_accepted" selected>"#),
        "the chosen outcome stays chosen"
    );
    assert_eq!(status_of(&d.fx.owner, reg).await.0, "called");
    assert_eq!(app.audit_count("desk.record").await, 0);

    // 再加一项: the same form with one more block, everything typed kept.
    let mut more = form.to_vec();
    more.push(("more", "1"));
    let r = d.staff.post(&format!("{path}/{reg}/record"), &more).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("name=\"i3_summary\""), "a fourth block");
    assert_eq!(r.field_value("i1_summary"), "要求补偿");
    assert_eq!(r.field_error("i0_summary"), "", "no errors before saving");

    // Nothing at all → at least one issue.
    let r = d
        .staff
        .post(&format!("{path}/{reg}/record"), &[("statement", "说明")])
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.text("#e-issues"), "请至少填写一项诉求事项");
}

#[tokio::test]
async fn transfer_moves_a_waiting_batch_and_refuses_a_called_one() {
    let app = TestApp::spawn().await;
    let (d, _) = day(&app).await;
    let o = &d.fx.owner;
    let called = batch(
        &d,
        "DESK6666",
        "赵六",
        "33072619700707654",
        d.room_a,
        1,
        "checked_in",
    )
    .await;
    let waiting = batch(
        &d,
        "DESK7777",
        "钱七",
        "33072619850303321",
        d.room_a,
        2,
        "checked_in",
    )
    .await;
    batch(
        &d,
        "DESK8888",
        "孙八",
        "33072619660606543",
        d.room_b,
        1,
        "scheduled",
    )
    .await;
    let path = desk(&d, d.room_a);
    assert_eq!(d.staff.post(&format!("{path}/call"), &[]).await.status, 303);

    let room_b = d.room_b.to_string();
    let r = d
        .staff
        .post(
            &format!("{path}/{waiting}/transfer"),
            &[("room_id", room_b.as_str())],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        status_of(o, waiting).await,
        ("checked_in".into(), Some(d.room_b), Some(2))
    );
    assert!(flash(&d.staff, &path).await.contains("第二接待室"));
    assert_eq!(app.audit_count("desk.transfer").await, 1);
    // Now in room B's queue (and on its desk), no longer in room A's.
    assert!(
        d.staff
            .get(&desk(&d, d.room_b))
            .await
            .text(&format!("#reg-{waiting}"))
            .contains("钱七")
    );

    let r = d
        .staff
        .post(
            &format!("{path}/{called}/transfer"),
            &[("room_id", room_b.as_str())],
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.text("#notice").contains("不能再改换接待室"), "{}", r.body);
    assert_eq!(
        status_of(o, called).await,
        ("called".into(), Some(d.room_a), Some(1))
    );

    // No room chosen: the error beside the select.
    let back = d
        .staff
        .post(
            &format!("{}/{waiting}/transfer", desk(&d, d.room_b)),
            &[("room_id", "")],
        )
        .await;
    assert_eq!(back.status, 422);
    assert_eq!(
        back.text(&format!("#e-room-{waiting}")),
        "请选择本次活动的另一个接待室"
    );
    assert_eq!(app.audit_count("desk.transfer").await, 1);
}

/// Move the manual clock to `at` and sign in again (the old session is idle by then).
async fn travel(app: &TestApp, c: &Client, username: &str, at: chrono::DateTime<Utc>) {
    app.clock.advance(at - app.clock.now());
    assert_eq!(c.login(username, PASSWORD).await.status, 303);
}

#[tokio::test]
async fn no_shows_are_marked_only_after_their_window_ends() {
    let app = TestApp::spawn().await;
    let (d, _) = day(&app).await;
    let o = &d.fx.owner;
    let absent = batch(
        &d,
        "DESK9999",
        "周九",
        "33072619551111987",
        d.room_a,
        1,
        "scheduled",
    )
    .await;
    let present = batch(
        &d,
        "DESKAAAA",
        "吴十",
        "33072619600202345",
        d.room_a,
        2,
        "checked_in",
    )
    .await;
    let path = desk(&d, d.room_a);

    let r = d.staff.post(&format!("{path}/no-shows"), &[]).await;
    assert_eq!(r.status, 303);
    assert!(flash(&d.staff, &path).await.contains("暂不标记未到"));
    assert_eq!(status_of(o, absent).await.0, "scheduled");
    assert_eq!(app.audit_count("desk.no_show").await, 0);

    let ends: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT ends_at FROM reception_windows WHERE id = $1")
            .bind(d.fx.windows[0])
            .fetch_one(o)
            .await
            .unwrap();
    travel(&app, &d.staff, "xinfang", ends - Duration::minutes(1)).await;
    assert_eq!(
        d.staff.post(&format!("{path}/no-shows"), &[]).await.status,
        303
    );
    assert_eq!(
        status_of(o, absent).await.0,
        "scheduled",
        "one minute before the window ends"
    );

    app.clock.advance(Duration::minutes(1));
    assert_eq!(
        d.staff.post(&format!("{path}/no-shows"), &[]).await.status,
        303
    );
    assert_eq!(status_of(o, absent).await.0, "no_show");
    assert_eq!(
        status_of(o, present).await.0,
        "checked_in",
        "checked-in batches are never no-shows"
    );
    assert_eq!(app.audit_count("desk.no_show").await, 1);
    assert_eq!(d.staff.get(&path).await.text("#count-no-show"), "1");
}

#[tokio::test]
async fn a_leader_works_only_in_their_own_rooms_and_sees_them_today() {
    let app = TestApp::spawn().await;
    let (d, leader) = day(&app).await;
    let mine = batch(
        &d,
        "DESKBBBB",
        "郑一",
        "33072619800101123",
        d.room_a,
        1,
        "checked_in",
    )
    .await;
    let theirs = batch(
        &d,
        "DESKCCCC",
        "冯二",
        "33072619751212456",
        d.room_b,
        1,
        "checked_in",
    )
    .await;

    // Before the day: no rooms today.
    let today = leader.get("/me/today").await;
    assert_eq!(today.status, 200);
    assert!(today.body.contains("今天没有接访安排"), "{}", today.body);
    assert!(today.texts("nav a").contains(&"今日接访".to_string()));
    assert_eq!(d.staff.get("/me/today").await.status, 403);

    // Own room: the desk, 叫号 and a record (the leader is the recorder).
    let path = desk(&d, d.room_a);
    assert_eq!(leader.get(&path).await.status, 200);
    assert_eq!(leader.post(&format!("{path}/call"), &[]).await.status, 303);
    let cat = d.fx.cat_build.to_string();
    let r = leader
        .post(
            &format!("{path}/{mine}/record"),
            &[
                ("statement", "当面答复"),
                ("i0_category", cat.as_str()),
                ("i0_summary", "咨询政策"),
                ("i0_outcome", "explained"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // Another room: 404 for the page and every POST, and nothing changes.
    let other = desk(&d, d.room_b);
    assert_eq!(leader.get(&other).await.status, 404);
    assert_eq!(leader.post(&format!("{other}/call"), &[]).await.status, 404);
    assert_eq!(
        leader.post(&format!("{other}/no-shows"), &[]).await.status,
        404
    );
    assert_eq!(
        leader
            .post(&format!("{other}/{theirs}/record"), &[("statement", "x")])
            .await
            .status,
        404
    );
    let room_a = d.room_a.to_string();
    assert_eq!(
        leader
            .post(
                &format!("{other}/{theirs}/transfer"),
                &[("room_id", room_a.as_str())]
            )
            .await
            .status,
        404
    );
    // A registration of room B through room A's desk is not found either.
    assert_eq!(
        leader
            .post(
                &format!("{path}/{theirs}/transfer"),
                &[("room_id", room_a.as_str())]
            )
            .await
            .status,
        404
    );
    assert_eq!(
        status_of(&d.fx.owner, theirs).await,
        ("checked_in".into(), Some(d.room_b), Some(1))
    );
    assert_eq!(
        d.staff.get(&other).await.status,
        200,
        "staff open every room"
    );

    // On the day: the leader's home is /me/today with room A, its departments and counts; not room B.
    let visit_date: NaiveDate = sqlx::query_scalar("SELECT visit_date FROM visits WHERE id = $1")
        .bind(d.fx.visit)
        .fetch_one(&d.fx.owner)
        .await
        .unwrap();
    let morning = xiafang::clock::china_instant(
        visit_date,
        chrono::NaiveTime::from_hms_opt(8, 30, 0).unwrap(),
    );
    app.clock.advance(morning - app.clock.now());
    let login = leader.login("lingdao_a", PASSWORD).await;
    assert_eq!(login.location(), "/me/today");
    let today = leader.get("/me/today").await;
    let card = today.text(&format!("#room-{}", d.room_a));
    assert!(
        card.contains("第一接待室") && card.contains("教学楼 101"),
        "{card}"
    );
    assert!(card.contains("县领导下访接访日") && card.contains("便民服务中心"));
    assert!(card.contains("县住建局") && card.contains("县民政局"));
    assert_eq!(today.text(&format!("#room-{} .received", d.room_a)), "1");
    assert!(
        today.body.contains(&format!("href=\"{path}\"")),
        "进入接待台"
    );
    assert!(!today.body.contains("第二接待室"));
    let _ = d.leader_b;
}

#[tokio::test]
async fn concurrent_calls_never_call_one_batch_twice() {
    let app = TestApp::spawn().await;
    let (d, leader) = day(&app).await;
    for (i, (code, id)) in [
        ("DESKDDDD", "33072619800101123"),
        ("DESKEEEE", "33072619751212456"),
        ("DESKFFFF", "33072619900505789"),
    ]
    .into_iter()
    .enumerate()
    {
        batch(&d, code, "陈某", id, d.room_a, i as i32 + 1, "checked_in").await;
    }
    let path = format!("{}/call", desk(&d, d.room_a));
    let (a, b, c, e) = tokio::join!(
        d.staff.post(&path, &[]),
        leader.post(&path, &[]),
        d.staff.post(&path, &[]),
        leader.post(&path, &[])
    );
    let statuses = [a.status, b.status, c.status, e.status];
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 409),
        "{statuses:?}"
    );
    let called: Vec<i32> =
        sqlx::query_scalar("SELECT queue_number FROM registrations WHERE status = 'called'")
            .fetch_all(&d.fx.owner)
            .await
            .unwrap();
    assert_eq!(called, vec![1]);
    assert_eq!(app.audit_count("desk.call").await, 1);
}
