//! Issue 17: the operator's business metrics on `/metrics`, beside the HTTP ones — registrations
//! by state, open / overdue / awaiting-approval cases, the outbox — read from a known state.

use crate::fixtures::{
    Fx, Reg, assign_case, fixture, issue_document, register, step, user_with_role,
};
use crate::harness::TestApp;
use chrono::{DateTime, Duration, Utc};
use xiafang::clock::Clock;
use xiafang::followup::assign::{NewCase, Source};
use xiafang::followup::documents::rules::Kind;
use xiafang::followup::state::Action;
use xiafang::followup::transitions::Input;
use xiafang::web::auth::Role;

const TOKEN: &str = "m-business-42";

/// A case from a new survey item, assigned `days_ago` with a 限期 ending `due_in` days from today.
async fn case(app: &TestApp, fx: &Fx, dept: i64, days_ago: i64, due_in: i64) -> i64 {
    let item: i64 = sqlx::query_scalar(
        "INSERT INTO survey_items (visit_id, township, category_id, summary, created_by)
         VALUES ($1, '仙华街道', $2, '河道清淤', $3) RETURNING id",
    )
    .bind(fx.visit)
    .bind(fx.cat_build)
    .bind(fx.staff_id)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    let leader: i64 = sqlx::query_scalar("SELECT lead_leader_id FROM visits WHERE id = $1")
        .bind(fx.visit)
        .fetch_one(&fx.owner)
        .await
        .unwrap();
    let nc = NewCase {
        visit_id: fx.visit,
        source: Source::SurveyItem(item),
        title: "河道清淤",
        category_id: fx.cat_build,
        lead_department_id: dept,
        co_department_ids: &[],
        owner_leader_id: leader,
        deadline_days: (days_ago + due_in) as i32,
    };
    assign_case(app, &nc, fx.staff_id, ago(app, days_ago))
        .await
        .id
}

fn ago(app: &TestApp, days: i64) -> DateTime<Utc> {
    app.clock.now() - Duration::days(days)
}

/// The value of `sample` (its name and labels) on a Prometheus text page.
fn value(page: &str, sample: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {sample} in:\n{page}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_count_registrations_cases_and_the_outbox() {
    let app = TestApp::spawn_with(|c| c.metrics_token = Some(TOKEN.into())).await;
    let (fx, _) = fixture(&app).await;
    let seeded = [
        ("MTRCAAAA", "confirmed"),
        ("MTRCBBBB", "confirmed"),
        ("MTRCCCCC", "waitlisted"),
        ("MTRCDDDD", "cancelled"),
    ];
    for (i, (code, status)) in seeded.into_iter().enumerate() {
        let reg = Reg {
            code,
            name: "张三",
            id: &format!("3307261980010100{i}"),
            phone: "13812345678",
            township: "仙华街道",
            persons: 1,
            category: fx.cat_build,
            window: fx.windows[0],
            status,
        };
        register(&fx, fx.visit, reg).await;
    }
    let dept: i64 = sqlx::query_scalar(
        "INSERT INTO departments (name, short_name) VALUES ('县水利局', '水利局') RETURNING id",
    )
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    let handler = user_with_role(&fx.owner, Role::Handler, Some(dept)).await;
    // Signed for 20 days ago with a 限期 that ended yesterday: open and overdue.
    let overdue = case(&app, &fx, dept, 20, -1).await;
    step(
        &app,
        overdue,
        Action::Accept,
        Input::default(),
        handler,
        ago(&app, 20),
    )
    .await;
    // Closure submitted, waiting for its approval: open, not overdue.
    let submitted = case(&app, &fx, dept, 2, 30).await;
    let now = app.clock.now();
    step(
        &app,
        submitted,
        Action::Accept,
        Input::default(),
        handler,
        now,
    )
    .await;
    issue_document(&app, submitted, Kind::Opinion, handler, now).await;
    let reply = Input {
        result: "resolved".into(),
        text: "已答复".into(),
        ..Input::default()
    };
    step(&app, submitted, Action::Submit, reply, handler, now).await;
    // Assigned, not yet signed for: open only.
    case(&app, &fx, dept, 1, 30).await;
    // The outbox: whatever the seeding queued sent, then one message waiting and one given up on.
    sqlx::query("UPDATE notifications SET status = 'sent', sent_at = now()")
        .execute(&fx.owner)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO notifications (channel, user_id, recipient_mask, kind, body, status, attempts, last_error)
         VALUES ('sms', $1, '138****5678', 'case.reminder', '请及时办理', 'pending', 0, NULL),
                ('sms', $1, '138****5678', 'case.reminder', '请及时办理', 'failed', 8, '网关拒收')",
    )
    .bind(fx.staff_id)
    .execute(&fx.owner)
    .await
    .unwrap();

    let r = reqwest::Client::new()
        .get(format!("{}/metrics", app.origin()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("http_requests_total"), "{page}");
    for (state, n) in [
        ("confirmed", 2.0),
        ("waitlisted", 1.0),
        ("cancelled", 1.0),
        ("received", 0.0),
    ] {
        let sample = format!("xiafang_registrations{{state=\"{state}\"}}");
        assert_eq!(value(&page, &sample), n, "{sample}");
    }
    assert_eq!(value(&page, "xiafang_cases_open"), 3.0);
    assert_eq!(value(&page, "xiafang_cases_overdue"), 1.0);
    assert_eq!(value(&page, "xiafang_cases_awaiting_approval"), 1.0);
    assert_eq!(value(&page, "xiafang_outbox_pending"), 1.0);
    assert_eq!(value(&page, "xiafang_outbox_failed"), 1.0);
    for name in [
        "xiafang_registrations",
        "xiafang_cases_overdue",
        "xiafang_outbox_failed",
    ] {
        assert!(page.contains(&format!("# HELP {name} ")), "{name}");
        assert!(page.contains(&format!("# TYPE {name} gauge\n")), "{name}");
    }
}
