//! Stage 3 cases: every path of the state machine over HTTP with the roles that own each step,
//! the refusals, the department inbox, the citizen's rating on /lookup, and 离任交接.

use crate::fixtures::{Fx, Reg, fixture, register};
use crate::harness::{Client, PASSWORD, Resp, TestApp};
use chrono::Duration;
use xiafang::audit::Actor;
use xiafang::clock::Clock;
use xiafang::followup::assign::{NewCase, Source, assign};
use xiafang::web::auth::Role;

const PHONE: &str = "13812345678";

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) fx: Fx,
    pub(crate) staff: Client,
    pub(crate) lead: Client,
    pub(crate) co: Client,
    pub(crate) other: Client,
    pub(crate) supervisor: Client,
    pub(crate) owner: Client,
    pub(crate) lead_dept: i64,
    pub(crate) other_dept: i64,
    pub(crate) owner_leader: i64,
    pub(crate) room: i64,
}

async fn id(fx: &Fx, sql: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(arg)
        .fetch_one(&fx.owner)
        .await
        .unwrap()
}

pub(crate) async fn world() -> World {
    let app = TestApp::spawn().await;
    let (fx, staff) = fixture(&app).await;
    let lead = app.signed_in("zhuban", Role::Handler).await;
    let co = app.signed_in("xieban", Role::Handler).await;
    let other = app.signed_in("qita", Role::Handler).await;
    let supervisor = app.signed_in("ducha", Role::Supervisor).await;
    let owner = app.signed_in("baoan", Role::Leader).await;
    let lead_dept = id(
        &fx,
        "SELECT department_id FROM users WHERE username = $1",
        "zhuban",
    )
    .await;
    let other_dept = id(
        &fx,
        "SELECT department_id FROM users WHERE username = $1",
        "qita",
    )
    .await;
    let owner_leader = id(
        &fx,
        "SELECT leader_id FROM users WHERE username = $1",
        "baoan",
    )
    .await;
    let room: i64 = sqlx::query_scalar(
        "INSERT INTO rooms (visit_id, name) VALUES ($1, '第一接待室') RETURNING id",
    )
    .bind(fx.visit)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    World {
        app,
        fx,
        staff,
        lead,
        co,
        other,
        supervisor,
        owner,
        lead_dept,
        other_dept,
        owner_leader,
        room,
    }
}

/// A received registration with one assigned issue, made into a case by `assign` (as the desk does).
pub(crate) async fn case(w: &World, reg_code: &str, owner_leader: i64) -> i64 {
    let fx = &w.fx;
    let reg = register(
        fx,
        fx.visit,
        Reg {
            code: reg_code,
            name: "张三",
            id: "33072619800101123",
            phone: PHONE,
            township: "仙华街道",
            persons: 1,
            category: fx.cat_build,
            window: fx.windows[0],
            status: "confirmed",
        },
    )
    .await;
    case_from(w, reg, owner_leader).await
}

/// Registration `reg` received, with one assigned issue made into a case by `assign`.
pub(crate) async fn case_from(w: &World, reg: i64, owner_leader: i64) -> i64 {
    let fx = &w.fx;
    let reception: i64 = sqlx::query_scalar(
        "INSERT INTO receptions (visit_id, registration_id, room_id, started_at, consultation, recorded_by) VALUES ($1, $2, $3, now(), '交住建局限期修复', $4) RETURNING id",
    )
    .bind(fx.visit)
    .bind(reg)
    .bind(w.room)
    .bind(fx.staff_id)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    let issue: i64 = sqlx::query_scalar(
        "INSERT INTO issues (visit_id, reception_id, category_id, summary, outcome) VALUES ($1, $2, $3, '村道损坏', 'assigned') RETURNING id",
    )
    .bind(fx.visit)
    .bind(reception)
    .bind(fx.cat_build)
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    let co_dept = id(
        fx,
        "SELECT department_id FROM users WHERE username = $1",
        "xieban",
    )
    .await;
    let mut tx = fx.owner.begin().await.unwrap();
    let actor = Actor {
        id: Some(fx.staff_id),
        name: "xinfang".into(),
        role: Some("staff"),
        ip: None,
        jurisdiction_id: None,
    };
    let c = NewCase {
        visit_id: fx.visit,
        source: Source::Issue(issue),
        title: "村道损坏修复",
        category_id: fx.cat_build,
        lead_department_id: w.lead_dept,
        co_department_ids: &[co_dept],
        owner_leader_id: owner_leader,
        deadline_days: 60,
    };
    let done = assign(&mut tx, &Default::default(), &c, &actor, w.app.clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    done.id
}

/// Open the case file as `who`, then post `action` with the version the page was read at.
async fn act(who: &Client, case: i64, action: &str, fields: &[(&str, &str)]) -> Resp {
    let page = who.get(&format!("/cases/{case}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let version = page.field_value("version");
    let mut form = vec![("version", version.as_str())];
    form.extend_from_slice(fields);
    who.post(&format!("/cases/{case}/{action}"), &form).await
}

pub(crate) async fn ok(who: &Client, case: i64, action: &str, fields: &[(&str, &str)]) {
    let r = act(who, case, action, fields).await;
    assert_eq!(r.status, 303, "{action}: {}", r.body);
    assert_eq!(r.location(), format!("/cases/{case}"));
}

pub(crate) async fn status(w: &World, case: i64) -> String {
    sqlx::query_scalar("SELECT status FROM cases WHERE id = $1")
        .bind(case)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap()
}

async fn events(w: &World, case: i64) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM case_events WHERE case_id = $1 ORDER BY at, id")
        .bind(case)
        .fetch_all(&w.fx.owner)
        .await
        .unwrap()
}

async fn notifications(w: &World, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notifications WHERE kind = $1")
        .bind(kind)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap()
}

/// The lead department drafts a document of `kind` and issues it, on the documents pages.
pub(crate) async fn write(w: &World, case: i64, kind: &str) {
    let doc = crate::documents::draft(&w.lead, case, kind).await;
    let r = crate::documents::issue(&w.lead, case, doc).await;
    assert_eq!(r.status, 303, "issuing {kind}: {}", r.body);
}

pub(crate) async fn close(w: &World, case: i64) {
    ok(&w.lead, case, "accept", &[]).await;
    write(w, case, "acceptance").await;
    write(w, case, "opinion").await;
    ok(
        &w.lead,
        case,
        "submit",
        &[("result", "resolved"), ("reply", "村道已于本月修复。")],
    )
    .await;
    ok(&w.owner, case, "approve", &[]).await;
}

/// The citizen rates from the lookup page, as the form there posts it.
async fn rate(w: &World, reg_code: &str, case_code: &str, rating: &str) -> Resp {
    let citizen = w.app.client();
    let page = citizen
        .post("/lookup", &[("code", reg_code), ("phone_last4", "5678")])
        .await;
    assert_eq!(page.status, 200);
    citizen
        .post(
            &format!("/lookup/{case_code}/feedback"),
            &[
                ("code", reg_code),
                ("phone_last4", "5678"),
                ("rating", rating),
                ("comment", "谢谢"),
            ],
        )
        .await
}

async fn code_of(w: &World, case: i64) -> String {
    sqlx::query_scalar("SELECT code FROM cases WHERE id = $1")
        .bind(case)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn accept_progress_extend_submit_approve_and_the_citizen_rates() {
    let w = world().await;
    let c = case(&w, "KQRS2345", w.owner_leader).await;
    // The lead department sees the sign-for form; the co-department does not.
    assert!(
        w.lead
            .get(&format!("/cases/{c}"))
            .await
            .body
            .contains(&format!("/cases/{c}/accept"))
    );
    assert!(
        !w.co
            .get(&format!("/cases/{c}"))
            .await
            .body
            .contains(&format!("/cases/{c}/accept"))
    );
    ok(&w.lead, c, "accept", &[]).await;
    let (due, accepted): (chrono::NaiveDate, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT due_on, accepted_at FROM cases WHERE id = $1")
            .bind(c)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
    assert_eq!(
        due,
        xiafang::clock::china_date(accepted) + Duration::days(60)
    );
    // The 受理告知书 is the written acceptance: the 60 days run again from its date.
    assert!(
        w.lead
            .get(&format!("/cases/{c}"))
            .await
            .text("#writing-due")
            .contains("受理告知书")
    );
    w.app.clock.advance(Duration::days(2));
    for (who, name) in [
        (&w.lead, "zhuban"),
        (&w.co, "xieban"),
        (&w.supervisor, "ducha"),
        (&w.owner, "baoan"),
    ] {
        who.login(name, PASSWORD).await; // the sessions idled out meanwhile
    }
    write(&w, c, "acceptance").await;
    let (due, notified): (chrono::NaiveDate, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT due_on, acceptance_notified_at FROM cases WHERE id = $1")
            .bind(c)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
    assert_eq!(
        due,
        xiafang::clock::china_date(accepted) + Duration::days(62)
    );
    assert!(notified.is_some_and(|t| (t - w.app.clock.now()).num_seconds() == 0));
    // 协办 adds progress only.
    ok(&w.co, c, "progress", &[("progress_text", "已现场勘查")]).await;
    assert_eq!(
        act(
            &w.co,
            c,
            "submit",
            &[("result", "resolved"), ("reply", "x")]
        )
        .await
        .status,
        422
    );
    // More than 30 days: the error is next to the field, the typed values kept.
    let r = act(
        &w.lead,
        c,
        "extend",
        &[("extension_days", "45"), ("extension_reason", "需协调资金")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("extension_days"), "延期天数须为 1–30 天");
    assert_eq!(r.field_value("extension_reason"), "需协调资金");
    ok(
        &w.lead,
        c,
        "extend",
        &[("extension_days", "20"), ("extension_reason", "需协调资金")],
    )
    .await;
    ok(&w.supervisor, c, "approve-extension", &[]).await;
    let extension = || async {
        sqlx::query_as::<_, (Option<i32>, Option<chrono::NaiveDate>)>(
            "SELECT extension_days, extended_due_on FROM cases WHERE id = $1",
        )
        .bind(c)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap()
    };
    // Approved, it counts only once the citizen is told in writing.
    assert_eq!(extension().await, (None, None));
    write(&w, c, "extension").await;
    assert_eq!(
        extension().await,
        (Some(20), Some(due + Duration::days(20)))
    );
    // A second extension is refused.
    let r = act(
        &w.lead,
        c,
        "extend",
        &[("extension_days", "5"), ("extension_reason", "再延")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(
        r.text("#e-action").contains("只能申请延期一次"),
        "{}",
        r.text("#e-action")
    );
    // Closure needs the written answer first; then submit, and the leader signs second.
    let r = act(
        &w.lead,
        c,
        "submit",
        &[("result", "resolved"), ("reply", "村道已于本月修复。")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.text("#e-action").contains("须先印发处理意见书"));
    write(&w, c, "opinion").await;
    let r = act(&w.lead, c, "submit", &[("result", ""), ("reply", "")]).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("result"), "请选择办理结果");
    ok(
        &w.lead,
        c,
        "submit",
        &[("result", "resolved"), ("reply", "村道已于本月修复。")],
    )
    .await;
    ok(&w.owner, c, "approve", &[]).await;
    assert_eq!(status(&w, c).await, "closed");
    assert_eq!(notifications(&w, "case.closed").await, 1);
    // The citizen sees the reply and rates it.
    let code = code_of(&w, c).await;
    let citizen = w.app.client();
    let page = citizen
        .post("/lookup", &[("code", "KQRS2345"), ("phone_last4", "5678")])
        .await;
    assert_eq!(page.text(".case-reply"), "村道已于本月修复。");
    assert!(page.body.contains(&format!("/lookup/{code}/feedback")));
    let r = rate(&w, "KQRS2345", &code, "nonsense").await;
    assert_eq!(r.status, 422);
    assert_eq!(r.text("#e-rating"), "请选择满意、基本满意或不满意");
    let r = rate(&w, "KQRS2345", &code, "satisfied").await;
    assert_eq!(r.status, 303);
    assert_eq!(status(&w, c).await, "rated");
    let (rating, fb): (Option<String>, i64) =
        sqlx::query_as("SELECT rating, (SELECT count(*) FROM feedback WHERE case_id = $1) FROM cases WHERE id = $1").bind(c).fetch_one(&w.fx.owner).await.unwrap();
    assert_eq!((rating.as_deref(), fb), (Some("satisfied"), 1));
    // A second rating is refused; a wrong phone opens nothing.
    assert_eq!(
        rate(&w, "KQRS2345", &code, "dissatisfied").await.status,
        422
    );
    let stranger = w.app.client();
    let r = stranger
        .post(
            &format!("/lookup/{code}/feedback"),
            &[
                ("code", "KQRS2345"),
                ("phone_last4", "0000"),
                ("rating", "satisfied"),
            ],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        events(&w, c).await,
        [
            "assigned",
            "accepted",
            "acceptance_notified",
            "progress",
            "extension_requested",
            "extension_approved",
            "extension_notified",
            "opinion_issued",
            "closure_submitted",
            "closure_approved",
            "rated"
        ]
    );
    let page = w.supervisor.get(&format!("/cases/{c}")).await;
    assert_eq!(page.texts("#timeline li").len(), 11);
    assert_eq!(page.text("#rating"), "群众评价：满意（谢谢）");
    assert_eq!(w.app.audit_count("case.approve").await, 1);
    assert_eq!(w.app.audit_count("case.rate").await, 1);
}

#[tokio::test]
async fn return_and_reassign_and_late_returns_are_refused() {
    let w = world().await;
    let c = case(&w, "KQRS2346", w.owner_leader).await;
    let r = act(&w.lead, c, "return", &[("return_reason", "")]).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.field_error("return_reason"), "请填写退回理由");
    ok(&w.lead, c, "return", &[("return_reason", "不属本单位职责")]).await;
    assert_eq!(status(&w, c).await, "returned");
    // Staff reassign it to another lead department; the first one loses it, the new one sees it.
    let other = w.other_dept.to_string();
    ok(&w.staff, c, "reassign", &[("department_id", &other)]).await;
    assert_eq!(status(&w, c).await, "assigned");
    assert_eq!(w.lead.get(&format!("/cases/{c}")).await.status, 404);
    assert!(
        w.other
            .get("/dept/cases")
            .await
            .texts("#sign td code")
            .contains(&code_of(&w, c).await)
    );
    ok(&w.other, c, "accept", &[]).await;
    assert_eq!(
        events(&w, c).await,
        ["assigned", "returned", "reassigned", "accepted"]
    );

    // After 5 working days the department can no longer return a case (it can still sign).
    let late = case(&w, "KQRS2347", w.owner_leader).await;
    w.app.clock.advance(Duration::days(9));
    w.lead.login("zhuban", PASSWORD).await; // the session idled out meanwhile
    let r = act(
        &w.lead,
        late,
        "return",
        &[("return_reason", "不属本单位职责")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.text("#e-action").contains("已超过退回期限"));
    assert_eq!(status(&w, late).await, "assigned");
    ok(&w.lead, late, "accept", &[]).await;
}

#[tokio::test]
async fn rejected_closure_goes_back_and_two_people_sign() {
    let w = world().await;
    let c = case(&w, "KQRS2348", w.owner_leader).await;
    ok(&w.lead, c, "accept", &[]).await;
    write(&w, c, "opinion").await;
    ok(
        &w.lead,
        c,
        "submit",
        &[("result", "partly"), ("reply", "已部分修复")],
    )
    .await;
    // The submitter cannot give the second signature.
    let r = act(&w.lead, c, "approve", &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(status(&w, c).await, "closure_submitted");
    ok(
        &w.supervisor,
        c,
        "reject",
        &[("reject_reason", "答复不完整")],
    )
    .await;
    assert_eq!(status(&w, c).await, "accepted");
    ok(
        &w.lead,
        c,
        "submit",
        &[("result", "resolved"), ("reply", "已全部修复")],
    )
    .await;
    ok(&w.owner, c, "approve", &[]).await;
    let (submitted_by, closed_by): (i64, i64) =
        sqlx::query_as("SELECT closure_submitted_by, closed_by FROM cases WHERE id = $1")
            .bind(c)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
    assert_ne!(submitted_by, closed_by);
    assert_eq!(
        events(&w, c).await,
        [
            "assigned",
            "accepted",
            "opinion_issued",
            "closure_submitted",
            "closure_rejected",
            "closure_submitted",
            "closure_approved"
        ]
    );
}

#[tokio::test]
async fn dissatisfied_then_reopened_and_closed_again() {
    let w = world().await;
    let c = case(&w, "KQRS2349", w.owner_leader).await;
    close(&w, c).await;
    let code = code_of(&w, c).await;
    let r = rate(&w, "KQRS2349", &code, "dissatisfied").await;
    assert_eq!(r.status, 303);
    let citizen = w.app.client();
    let page = citizen
        .post("/lookup", &[("code", "KQRS2349"), ("phone_last4", "5678")])
        .await;
    assert!(page.text(".review-right").contains("30 日内"));
    // On the supervisor's list for 重办.
    let list = w.supervisor.get("/cases?dissatisfied=1").await;
    assert_eq!(
        list.texts("table.cases td code"),
        std::slice::from_ref(&code)
    );
    ok(
        &w.supervisor,
        c,
        "reopen",
        &[("reopen_reason", "群众不满意，重办")],
    )
    .await;
    assert_eq!(status(&w, c).await, "accepted");
    assert!(
        w.supervisor
            .get("/cases?dissatisfied=1")
            .await
            .texts("table.cases td code")
            .is_empty()
    );
    // 重办 needs a new written answer.
    write(&w, c, "opinion").await;
    ok(
        &w.lead,
        c,
        "submit",
        &[("result", "explained"), ("reply", "已解释政策")],
    )
    .await;
    ok(&w.supervisor, c, "approve", &[]).await;
    assert_eq!(status(&w, c).await, "closed");
    // 复查 and 复核 (addressed to a chosen body, decided in writing): tests/it/reviews.rs.
}

#[tokio::test]
async fn who_may_see_and_stale_forms() {
    let w = world().await;
    let c = case(&w, "KQRS2353", w.owner_leader).await;
    // Another department's handler and a leader who does not own it: 404, on pages and actions.
    assert_eq!(w.other.get(&format!("/cases/{c}")).await.status, 404);
    assert_eq!(
        w.other
            .post(&format!("/cases/{c}/accept"), &[("version", "1")])
            .await
            .status,
        404
    );
    let stranger = w.app.signed_in("lingdao2", Role::Leader).await;
    assert_eq!(stranger.get(&format!("/cases/{c}")).await.status, 404);
    assert!(
        stranger
            .get("/cases")
            .await
            .texts("table.cases td code")
            .is_empty()
    );
    assert_eq!(
        w.owner
            .get("/cases")
            .await
            .texts("table.cases td code")
            .len(),
        1
    );
    assert_eq!(
        w.other
            .get("/cases")
            .await
            .texts("table.cases td code")
            .len(),
        0
    );
    // The page shows masks only.
    let page = w.lead.get(&format!("/cases/{c}")).await;
    assert_eq!(page.text(".phone-mask"), "138****5678");
    assert!(!page.body.contains(PHONE));
    // A form read before someone else's change: 409, nothing written.
    let stale = page.field_value("version");
    ok(&w.lead, c, "accept", &[]).await;
    let r =
        w.co.post(
            &format!("/cases/{c}/progress"),
            &[("version", &stale), ("progress_text", "进展")],
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("该交办件已被他人更新，请刷新后重试"));
    assert_eq!(events(&w, c).await, ["assigned", "accepted"]);
    // Concurrent transitions on one version: exactly one wins.
    let version = w
        .lead
        .get(&format!("/cases/{c}"))
        .await
        .field_value("version");
    let path = format!("/cases/{c}/progress");
    let (form_a, form_b) = (
        [("version", version.as_str()), ("progress_text", "甲")],
        [("version", version.as_str()), ("progress_text", "乙")],
    );
    let (a, b) = tokio::join!(w.lead.post(&path, &form_a), w.co.post(&path, &form_b));
    let mut codes = [a.status, b.status];
    codes.sort();
    assert_eq!(codes, [303, 409]);
}

#[tokio::test]
async fn the_inbox_sorts_the_department_cases_into_sections() {
    let w = world().await;
    let waiting = case(&w, "KQRS2354", w.owner_leader).await;
    let soon = case(&w, "KQRS2355", w.owner_leader).await;
    let late = case(&w, "KQRS2356", w.owner_leader).await;
    let returned = case(&w, "KQRS2357", w.owner_leader).await;
    for c in [soon, late] {
        ok(&w.lead, c, "accept", &[]).await;
    }
    ok(
        &w.lead,
        returned,
        "return",
        &[("return_reason", "不属本单位职责")],
    )
    .await;
    let today = xiafang::clock::china_date(w.app.clock.now());
    for (c, due) in [
        (soon, today + Duration::days(3)),
        (late, today - Duration::days(2)),
    ] {
        sqlx::query("UPDATE cases SET due_on = $2 WHERE id = $1")
            .bind(c)
            .bind(due)
            .execute(&w.fx.owner)
            .await
            .unwrap();
    }
    let inbox = w.lead.get("/dept/cases").await;
    assert_eq!(inbox.status, 200);
    let codes = |s: &str| inbox.texts(&format!("#{s} td code"));
    assert_eq!(codes("sign"), [code_of(&w, waiting).await]);
    assert_eq!(codes("soon"), [code_of(&w, soon).await]);
    assert_eq!(codes("overdue"), [code_of(&w, late).await]);
    assert_eq!(codes("returned"), [code_of(&w, returned).await]);
    assert!(inbox.text("#overdue .days-left").contains("逾期"));
    // The co-department sees the ones being handled, not the ones to sign for.
    let co = w.co.get("/dept/cases").await;
    assert!(co.texts("#sign td code").is_empty());
    assert_eq!(
        co.texts("#soon td code").len() + co.texts("#overdue td code").len(),
        2
    );
    assert!(w.other.get("/dept/cases").await.texts("td code").is_empty());
    // Overdue filter on /cases.
    assert_eq!(
        w.supervisor
            .get("/cases?overdue=1")
            .await
            .texts("table.cases td code"),
        [code_of(&w, late).await]
    );
}

#[tokio::test]
async fn handover_moves_exactly_the_open_cases_and_lists_them() {
    let w = world().await;
    let open_a = case(&w, "KQRS2358", w.owner_leader).await;
    let open_b = case(&w, "KQRS2359", w.owner_leader).await;
    let closed = case(&w, "KQRS2363", w.owner_leader).await;
    close(&w, closed).await;
    ok(&w.lead, open_b, "accept", &[]).await;
    w.app.user("jieren", Role::Leader).await;
    let successor = id(
        &w.fx,
        "SELECT leader_id FROM users WHERE username = $1",
        "jieren",
    )
    .await;
    let path = format!("/leaders/{}/handover", w.owner_leader);
    assert_eq!(w.staff.get(&path).await.status, 403);
    let page = w.supervisor.get(&path).await;
    assert_eq!(page.texts("table.open-cases td code").len(), 2);
    let r = w
        .supervisor
        .post(&path, &[("successor_id", &w.owner_leader.to_string())])
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.field_error("successor_id"),
        "请选择接任领导（不能是本人）"
    );
    let r = w
        .supervisor
        .post(
            &path,
            &[("successor_id", &successor.to_string()), ("note", "调任")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let owners: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, owner_leader_id FROM cases ORDER BY id")
            .fetch_all(&w.fx.owner)
            .await
            .unwrap();
    assert_eq!(
        owners,
        [
            (open_a, successor),
            (open_b, successor),
            (closed, w.owner_leader)
        ]
    );
    let moved: Vec<i64> = sqlx::query_scalar("SELECT case_id FROM handover_cases ORDER BY case_id")
        .fetch_all(&w.fx.owner)
        .await
        .unwrap();
    assert_eq!(moved, [open_a, open_b]);
    assert_eq!(events(&w, open_a).await.last().unwrap(), "handed_over");
    let expected = [code_of(&w, open_a).await, code_of(&w, open_b).await];
    for leader in [w.owner_leader, successor] {
        let page = w
            .supervisor
            .get(&format!("/leaders/{leader}/handover"))
            .await;
        assert_eq!(page.texts("#handovers code.moved"), expected);
    }
    assert_eq!(w.app.audit_count("leader.handover").await, 1);
    // The new owner now signs the closures; the old one no longer sees them.
    assert_eq!(w.owner.get(&format!("/cases/{open_a}")).await.status, 404);
}

#[tokio::test]
async fn the_case_file_shows_the_reception_it_came_from_to_everyone_on_the_case() {
    let w = world().await;
    let id = case(&w, "RCPT234567", w.owner_leader).await;
    sqlx::query(
        "UPDATE receptions SET statement = '村口道路塌陷三处，雨天无法通行'
         WHERE id = (SELECT i.reception_id FROM cases c JOIN issues i ON i.id = c.issue_id WHERE c.id = $1)",
    )
    .bind(id)
    .execute(&w.fx.owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO reception_leaders (reception_id, leader_id)
         SELECT i.reception_id, $2 FROM cases c JOIN issues i ON i.id = c.issue_id WHERE c.id = $1",
    )
    .bind(id)
    .bind(w.owner_leader)
    .execute(&w.fx.owner)
    .await
    .unwrap();
    for who in [&w.lead, &w.co, &w.supervisor, &w.owner, &w.staff] {
        let page = who.get(&format!("/cases/{id}")).await;
        assert_eq!(page.status, 200);
        assert!(
            page.text("#reception-statement")
                .contains("村口道路塌陷三处")
        );
        assert!(!page.text("#reception-leaders").is_empty());
        assert!(
            page.text("#source").contains("交住建局限期修复"),
            "会商意见"
        );
    }
}

#[tokio::test]
async fn a_non_acceptance_notice_ends_the_case_and_the_written_decision_comes_once() {
    let w = world().await;
    let c = case(&w, "KQRS2357", w.owner_leader).await;
    // The 受理告知书 needs the case signed for first: refused beside the button, nothing numbered.
    let early = crate::documents::draft(&w.lead, c, "acceptance").await;
    let r = crate::documents::issue(&w.lead, c, early).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.text("#e-issue"), "请先签收，再印发受理告知书");
    // 不予受理 may be decided without signing for it.
    write(&w, c, "non_acceptance").await;
    assert_eq!(status(&w, c).await, "not_accepted");
    assert_eq!(events(&w, c).await, ["assigned", "not_accepted"]);
    let r = crate::documents::issue(&w.lead, c, early).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.text("#e-issue"), "已告知受理决定，不能再次印发");
    let page = w.lead.get(&format!("/cases/{c}")).await;
    assert_eq!(page.text("#case-status"), "不予受理");
    assert!(!page.body.contains(&format!("/cases/{c}/accept")));
    assert!(page.text("#writing-due").is_empty());
    // Told within 15 days: responsive; neither open nor closed in the tallies.
    let (responsive, open, closed): (i64, i64, i64) = sqlx::query_as(
        "SELECT sum(responsive)::bigint, sum(open)::bigint, sum(closed)::bigint FROM case_month_tallies",
    )
    .fetch_one(&w.fx.owner)
    .await
    .unwrap();
    assert_eq!((responsive, open, closed), (1, 0, 0));
    // The citizen reads it on the lookup page.
    let citizen = w.app.client();
    let page = citizen
        .post("/lookup", &[("code", "KQRS2357"), ("phone_last4", "5678")])
        .await;
    assert_eq!(page.text(".case-status"), "不予受理");
    assert!(page.body.contains("信访事项不予受理告知书"));
}
