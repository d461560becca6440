//! Scheduled publication (issue 16): a planned notice goes out at 08:00 China time on its date,
//! once across instances, with the notice periods checked at that moment.

use crate::fixtures::fixture;
use crate::harness::{Client, TestApp};
use chrono::{Duration, NaiveDate, NaiveTime};
use xiafang::clock::{Clock, china_date, china_instant};
use xiafang::prepare::notice_jobs::{Pass, run_pass};

async fn spawn_for_days() -> TestApp {
    TestApp::spawn_with(|c| {
        c.session_idle = Duration::days(30);
        c.session_absolute = Duration::days(30);
    })
    .await
}

/// Generate the visit's `kind` draft from the notices page; its id.
async fn draft(app: &TestApp, staff: &Client, visit: i64, kind: &str) -> i64 {
    let path = format!("/staff/visits/{visit}/notices");
    assert_eq!(staff.post(&path, &[("kind", kind)]).await.status, 303);
    sqlx::query_scalar(
        "SELECT id FROM notices WHERE visit_id = $1 AND kind = $2 AND status = 'draft'",
    )
    .bind(visit)
    .bind(kind)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// Submit the draft as generated with one channel to `action` (publish, schedule).
async fn submit(
    app: &TestApp,
    staff: &Client,
    visit: i64,
    notice: i64,
    action: &str,
    on: &str,
) -> u16 {
    let (title, body): (String, String) =
        sqlx::query_as("SELECT title, body FROM notices WHERE id = $1")
            .bind(notice)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let form = [
        ("title", title.as_str()),
        ("body", body.as_str()),
        ("channels", "政府网站"),
        ("planned_on", on),
    ];
    let path = format!("/staff/visits/{visit}/notices/{notice}/{action}");
    let r = staff.post(&path, &form).await;
    assert!(r.status == 303 || r.status == 422, "{}", r.body);
    r.status
}

async fn status(app: &TestApp, notice: i64) -> String {
    sqlx::query_scalar("SELECT status FROM notices WHERE id = $1")
        .bind(notice)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

fn at(app: &TestApp, day: NaiveDate, hour: u32, minute: u32) {
    let t = china_instant(day, NaiveTime::from_hms_opt(hour, minute, 0).unwrap());
    app.clock.advance(t - app.clock.now());
}

/// Two instances' passes at once.
async fn two_passes(a: &TestApp, b: &TestApp) -> (Pass, Pass) {
    let pass = |app: &TestApp, name: &'static str| {
        let (db, clock, days) = (
            app.db.clone(),
            app.clock.clone(),
            app.state.config.notice_days,
        );
        tokio::spawn(async move { run_pass(&db, clock.as_ref(), &days, name).await.unwrap() })
    };
    let (pa, pb) = tokio::join!(pass(a, "A"), pass(b, "B"));
    (pa.unwrap(), pb.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_planned_second_notice_goes_out_at_eight_on_its_date_once_across_two_instances() {
    let a = spawn_for_days().await;
    let b = TestApp::start_on(a.url.clone(), |_| {}).await;
    let (fx, staff) = fixture(&a).await;
    let v = fx.visit;
    let first = draft(&a, &staff, v, "first").await;
    assert_eq!(submit(&a, &staff, v, first, "publish", "").await, 303);
    let second = draft(&a, &staff, v, "second").await;
    let day: NaiveDate = sqlx::query_scalar("SELECT visit_date FROM visits WHERE id = $1")
        .bind(v)
        .fetch_one(&a.db)
        .await
        .unwrap();
    let planned = day - Duration::days(5);

    // Without a date: refused beside the field, nothing planned.
    assert_eq!(submit(&a, &staff, v, second, "schedule", "").await, 422);
    assert_eq!(
        submit(&a, &staff, v, second, "schedule", &planned.to_string()).await,
        303
    );
    let page = staff.get(&format!("/staff/visits/{v}/notices")).await;
    let label = format!("待发布（计划 {}", planned.format("%-m月%-d日 8:00"));
    assert!(
        page.text("#second-plan").starts_with(&label),
        "{}",
        page.text("#second-plan")
    );

    // 07:59 on the day: not yet, on either instance.
    at(&a, planned, 7, 59);
    b.clock.advance(a.clock.now() - b.clock.now());
    let (pa, pb) = two_passes(&a, &b).await;
    assert_eq!(pa.published + pb.published, 0);
    assert_eq!(status(&a, second).await, "draft");

    // 08:00: exactly one instance publishes it, in the planner's name, audited as the system's act.
    at(&a, planned, 8, 0);
    b.clock.advance(a.clock.now() - b.clock.now());
    let (pa, pb) = two_passes(&a, &b).await;
    assert_eq!(
        (pa.published + pb.published, pa.refused + pb.refused),
        (1, 0)
    );
    assert_eq!(status(&a, second).await, "published");
    let (on, by): (NaiveDate, i64) = sqlx::query_as(
        "SELECT (published_at AT TIME ZONE 'Asia/Shanghai')::date, published_by FROM notices WHERE id = $1",
    )
    .bind(second)
    .fetch_one(&a.db)
    .await
    .unwrap();
    assert_eq!((on, by), (planned, fx.staff_id));
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT actor_name FROM audit_log WHERE action = 'notice.publish' AND object_id = $1::text",
    )
    .bind(second)
    .fetch_all(&fx.owner)
    .await
    .unwrap();
    assert_eq!(actors.len(), 1, "{actors:?}");
    assert!(actors[0].starts_with("系统定时发布"), "{actors:?}");
    let (pa, pb) = two_passes(&a, &b).await;
    assert_eq!(pa.published + pb.published, 0, "once");
    let page = staff.get(&format!("/staff/visits/{v}/notices")).await;
    assert!(page.text("#second").contains("已发布"));
    assert_eq!(china_date(a.clock.now()), planned);
}

#[tokio::test]
async fn a_plan_the_notice_periods_refuse_at_that_moment_stays_a_draft_and_says_why() {
    let app = spawn_for_days().await;
    let (fx, staff) = fixture(&app).await;
    let v = fx.visit;
    let today = china_date(app.clock.now());
    // The first notice planned for tomorrow, the second for the day after: allowed as planned.
    let first = draft(&app, &staff, v, "first").await;
    let (d1, d2) = (today + Duration::days(1), today + Duration::days(2));
    assert_eq!(
        submit(&app, &staff, v, first, "schedule", &d1.to_string()).await,
        303
    );
    let second = draft(&app, &staff, v, "second").await;
    assert_eq!(
        submit(&app, &staff, v, second, "schedule", &d2.to_string()).await,
        303
    );
    // Then the first plan is withdrawn: the second would go out before any first notice.
    let path = format!("/staff/visits/{v}/notices/{first}/unschedule");
    assert_eq!(staff.post(&path, &[]).await.status, 303);

    at(&app, d2, 8, 0);
    let pass = run_pass(
        &app.db,
        app.clock.as_ref(),
        &app.state.config.notice_days,
        "A",
    )
    .await
    .unwrap();
    assert_eq!((pass.published, pass.refused), (0, 1));
    assert_eq!(status(&app, second).await, "draft");
    let page = staff.get(&format!("/staff/visits/{v}/notices")).await;
    let why = page.text("#second-plan-refused");
    assert!(
        why.contains("定时发布未执行") && why.contains("一次公告"),
        "{why}"
    );
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'notice.publish' AND NOT success AND object_id = $1::text",
    )
    .bind(second)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    assert_eq!(refused, 1);
    // Tried once, not again on every pass.
    let again = run_pass(
        &app.db,
        app.clock.as_ref(),
        &app.state.config.notice_days,
        "A",
    )
    .await
    .unwrap();
    assert_eq!(again, Pass::default());
}
