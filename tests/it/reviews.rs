//! 复查 → 复核 → 终结 online (issue 15): the citizen asks on the lookup page within 30 days of the
//! recorded 送达, choosing among the bodies that may review the decision; the supervisors of the
//! chosen body's jurisdiction decide once its opinion is issued in its name; a hearing moves the
//! 复核's due date; after an upheld 复核 the same person on the same matter is flagged.

use crate::cases::{World, case, ok, status, world};
use crate::documents::{draft, issue};
use crate::fixtures::{Reg, id_of, member, register_keeping_flags};
use crate::harness::{Client, PASSWORD, Resp};
use chrono::{Duration, NaiveDate};
use xiafang::clock::{Clock, china_date};
use xiafang::followup::documents::rules::cn_long_date;
use xiafang::followup::jobs::{Pass, run_pass};
use xiafang::followup::workdays::Calendar;
use xiafang::web::auth::Role;

const ID_NUMBER: &str = "33072619800101123";

/// The county's and the city's supervisors, and the city's 住建局 listed as the lead department's
/// superior: (county supervisor, city supervisor, city department, city jurisdiction).
async fn bodies(w: &World) -> (Client, Client, i64, i64) {
    let o = &w.fx.owner;
    let city = id_of(o, "SELECT id FROM jurisdictions WHERE code = $1", "330700").await;
    let city_dept: i64 = sqlx::query_scalar(
        "INSERT INTO departments (name, short_name, jurisdiction_id) VALUES ('金华市住建局', '市住建局', $1) RETURNING id",
    )
    .bind(city)
    .fetch_one(o)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO department_superiors (department_id, superior_department_id) VALUES ($1, $2)",
    )
    .bind(w.lead_dept)
    .bind(city_dept)
    .execute(o)
    .await
    .unwrap();
    let county = member(&w.app, o, "ducha_xian", Role::Supervisor, "330726").await;
    let city_sup = member(&w.app, o, "ducha_shi", Role::Supervisor, "330700").await;
    (county, city_sup, city_dept, city)
}

async fn government(w: &World, code: &str) -> String {
    sqlx::query_scalar("SELECT government FROM jurisdictions WHERE code = $1")
        .bind(code)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap()
}

/// Accepted, its 处理意见书 issued before the closure is submitted, then closed: the opinion's id.
async fn answered(w: &World, c: i64) -> i64 {
    ok(&w.lead, c, "accept", &[]).await;
    let doc = draft(&w.lead, c, "opinion").await;
    assert_eq!(issue(&w.lead, c, doc).await.status, 303);
    let reply = [("result", "explained"), ("reply", "已解释政策")];
    ok(&w.lead, c, "submit", &reply).await;
    ok(&w.owner, c, "approve", &[]).await;
    doc
}

async fn code_of(w: &World, c: i64) -> String {
    sqlx::query_scalar("SELECT code FROM cases WHERE id = $1")
        .bind(c)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap()
}

/// The citizen's request on the lookup page, as its form posts it.
async fn ask(w: &World, reg_code: &str, c: i64, reviewer: &str) -> Resp {
    let case_code = code_of(w, c).await;
    let form = [
        ("code", reg_code),
        ("phone_last4", "5678"),
        ("reasons", "处理意见认定事实不清，请求复查。"),
        ("reviewer", reviewer),
    ];
    w.app
        .client()
        .post(&format!("/lookup/{case_code}/review"), &form)
        .await
}

async fn lookup(w: &World, reg_code: &str) -> Resp {
    let form = [("code", reg_code), ("phone_last4", "5678")];
    w.app.client().post("/lookup", &form).await
}

async fn version_of(w: &World, c: i64) -> String {
    let v: i32 = sqlx::query_scalar("SELECT version FROM cases WHERE id = $1")
        .bind(c)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap();
    v.to_string()
}

fn today(w: &World) -> NaiveDate {
    china_date(w.app.clock.now())
}

#[tokio::test]
async fn a_citizen_asks_for_review_within_30_days_of_the_mail_delivery_and_not_after() {
    let w = world().await;
    let (_, _, city_dept, _) = bodies(&w).await;
    let (a, b) = (
        case(&w, "RVAA2345", w.owner_leader).await,
        case(&w, "RVBB2345", w.owner_leader).await,
    );
    // Nothing to review before the 处理意见书: no form.
    assert!(
        lookup(&w, "RVAA2345")
            .await
            .texts(".review-request")
            .is_empty()
    );
    let (doc_a, doc_b) = (answered(&w, a).await, answered(&w, b).await);
    // The registered letters arrive three days after the opinions were issued.
    w.app.clock.advance(Duration::days(3));
    w.lead.login("zhuban", PASSWORD).await;
    let served = today(&w);
    for (c, doc) in [(a, doc_a), (b, doc_b)] {
        let form = [
            ("method", "mail"),
            ("delivered_on", &served.to_string()),
            ("reference", "XA1234567"),
        ];
        let r = w
            .lead
            .post(&format!("/cases/{c}/documents/{doc}/deliveries"), &form)
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let last = served + Duration::days(30);
    w.app.clock.advance(Duration::days(30));
    assert_eq!(today(&w), last, "day 30 after the mail's delivery");

    let page = lookup(&w, "RVAA2345").await;
    let form = page.text(".review-request");
    let county_government = government(&w, "330726").await;
    assert!(
        form.contains(&county_government) && form.contains("金华市住建局"),
        "{form}"
    );
    assert!(form.contains(&cn_long_date(last)), "{form}");
    // A body that may not review this department's decision is refused beside the choice.
    let r = ask(&w, "RVAA2345", a, "j:1").await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("reviewer").contains("上级机关"), "{}", r.body);
    assert_eq!(r.field_value("reasons"), "处理意见认定事实不清，请求复查。");
    assert_eq!(status(&w, a).await, "closed");

    // Without the proof (a wrong phone) the case is not there.
    let case_code = code_of(&w, a).await;
    let wrong = [
        ("code", "RVAA2345"),
        ("phone_last4", "0000"),
        ("reasons", "x"),
        ("reviewer", "j:1"),
    ];
    let r = w
        .app
        .client()
        .post(&format!("/lookup/{case_code}/review"), &wrong)
        .await;
    assert_eq!(r.status, 404);

    let r = ask(&w, "RVAA2345", a, &format!("d:{city_dept}")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(status(&w, a).await, "in_review");
    let (department, recorded_by): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT department_id, recorded_by FROM reviews WHERE case_id = $1")
            .bind(a)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
    assert_eq!((department, recorded_by), (Some(city_dept), None));
    assert_eq!(w.app.audit_count("case.review").await, 1);

    // Day 31: refused, naming the last day (counted from the mail, not from issuing).
    w.app.clock.advance(Duration::days(1));
    let r = ask(&w, "RVBB2345", b, &format!("d:{city_dept}")).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.field_error("review"),
        format!("已超过申请期限：应于 {}前提出", cn_long_date(last))
    );
    assert_eq!(status(&w, b).await, "closed");
}

#[tokio::test]
async fn the_chosen_body_decides_in_writing_then_a_re_review_with_a_hearing_ends_the_matter() {
    let w = world().await;
    let (county_sup, city_sup, city_dept, city) = bodies(&w).await;
    let c = case(&w, "RVCC2345", w.owner_leader).await;
    answered(&w, c).await;
    // Not served yet: the 30 days have not started, the request is allowed.
    let r = ask(&w, "RVCC2345", c, &format!("d:{city_dept}")).await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The county's supervisors see the case but cannot decide a review addressed to the city.
    let page = county_sup.get(&format!("/cases/{c}")).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.text("#review-body"), "金华市住建局");
    assert!(!page.body.contains(&format!("/cases/{c}/decide-review")));
    // A hand-made form (the page offers none) is refused by the rules.
    let version = version_of(&w, c).await;
    let decide = [("version", version.as_str()), ("decision", "upheld")];
    let r = county_sup
        .post(&format!("/cases/{c}/decide-review"), &decide)
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text("#e-action").contains("机关所在辖区"), "{}", r.body);
    // The city's may, once the 复查意见书 is issued.
    let r = city_sup
        .post(&format!("/cases/{c}/decide-review"), &decide)
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.text("#e-action"), "请先印发复查意见书");
    let opinion = draft(&city_sup, c, "review_opinion").await;
    assert_eq!(issue(&city_sup, c, opinion).await.status, 303);
    let (issuer, department): (String, Option<i64>) =
        sqlx::query_as("SELECT issuer_name, department_id FROM documents WHERE id = $1")
            .bind(opinion)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
    assert_eq!(
        (issuer.as_str(), department),
        ("金华市住建局", Some(city_dept))
    );
    ok(&city_sup, c, "decide-review", &[("decision", "upheld")]).await;
    assert_eq!(status(&w, c).await, "closed");

    // 复核 of the city 住建局's decision: its government only. Recorded on the case page.
    let city_government = government(&w, "330700").await;
    let page = county_sup.get(&format!("/cases/{c}")).await;
    assert!(page.body.contains(&format!("value=\"j:{city}\"")));
    assert!(!page.body.contains(&format!("value=\"d:{city_dept}\"")));
    let version = page.field_value("version");
    let r = county_sup
        .post(
            &format!("/cases/{c}/review"),
            &[("version", version.as_str()), ("review_text", "申请复核")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(!r.field_error("reviewer").is_empty());
    let body = format!("j:{city}");
    ok(
        &county_sup,
        c,
        "review",
        &[("review_text", "申请复核"), ("reviewer", &body)],
    )
    .await;
    assert_eq!(status(&w, c).await, "in_review");

    // A hearing of four days moves the 复核's due date by four; only the city's supervisors record it.
    let due: NaiveDate =
        sqlx::query_scalar("SELECT due_on FROM reviews WHERE case_id = $1 AND kind = 're_review'")
            .bind(c)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
    let (from, to) = (today(&w) + Duration::days(2), today(&w) + Duration::days(5));
    let hearing = [
        ("hearing_from", from.to_string()),
        ("hearing_to", to.to_string()),
    ];
    let hearing: Vec<(&str, &str)> = hearing.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = county_sup
        .post(&format!("/cases/{c}/hearing"), &hearing)
        .await;
    assert_eq!(r.status, 422);
    // A hearing cannot start before the 复核 was asked for.
    let early = (today(&w) - Duration::days(1)).to_string();
    let before = [
        ("hearing_from", early.as_str()),
        ("hearing_to", hearing[1].1),
    ];
    let r = city_sup.post(&format!("/cases/{c}/hearing"), &before).await;
    assert_eq!(r.status, 422);
    assert!(
        r.text("#e-hearing_from").contains("复核申请日"),
        "{}",
        r.body
    );
    let r = city_sup
        .post(&format!("/cases/{c}/hearing"), &hearing)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let moved: NaiveDate =
        sqlx::query_scalar("SELECT due_on FROM reviews WHERE case_id = $1 AND kind = 're_review'")
            .bind(c)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
    assert_eq!(moved, due + Duration::days(4));
    let page = city_sup.get(&format!("/cases/{c}")).await;
    assert_eq!(page.text("#review-due"), xiafang::clock::cn_date(moved));
    assert!(page.body.contains("听证"));
    let timeline = lookup(&w, "RVCC2345")
        .await
        .texts(".case-timeline li")
        .join("\n");
    assert!(timeline.contains("复核听证"), "{timeline}");

    let re = draft(&city_sup, c, "re_review_opinion").await;
    assert_eq!(issue(&city_sup, c, re).await.status, 303);
    let issuer: String = sqlx::query_scalar("SELECT issuer_name FROM documents WHERE id = $1")
        .bind(re)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap();
    assert_eq!(issuer, city_government);
    ok(&city_sup, c, "decide-review", &[("decision", "upheld")]).await;
    assert_eq!(status(&w, c).await, "terminated");

    // 终结: the same ID on the same matter (category) is flagged; on another, not.
    let again = |code, category| Reg {
        code,
        name: "张三",
        id: ID_NUMBER,
        phone: "13812345678",
        township: "仙华街道",
        persons: 1,
        category,
        window: w.fx.windows[1],
        status: "submitted",
    };
    let same = register_keeping_flags(&w.fx, w.fx.visit, again("RVDD2345", w.fx.cat_build)).await;
    let other = register_keeping_flags(&w.fx, w.fx.visit, again("RVEE2345", w.fx.cat_law)).await;
    let flags = |reg: i64| {
        sqlx::query_scalar::<_, String>(
            "SELECT kind FROM screening_flags WHERE registration_id = $1",
        )
        .bind(reg)
        .fetch_all(&w.fx.owner)
    };
    assert!(
        flags(same)
            .await
            .unwrap()
            .contains(&"review_terminated".to_owned())
    );
    let other_flags = flags(other).await.unwrap();
    assert!(
        !other_flags.contains(&"review_terminated".to_owned()),
        "{other_flags:?}"
    );
}

/// Issue a fresh draft of `kind` on the case as `who`; the document's id.
async fn issued(who: &Client, c: i64, kind: &str) -> i64 {
    let doc = draft(who, c, kind).await;
    let r = issue(who, c, doc).await;
    assert_eq!(r.status, 303, "{kind}: {}", r.body);
    doc
}

async fn deliver(who: &Client, c: i64, doc: i64, method: &str, on: &str) {
    let form = [("method", method), ("delivered_on", on), ("reference", "")];
    let r = who
        .post(&format!("/cases/{c}/documents/{doc}/deliveries"), &form)
        .await;
    assert_eq!(r.status, 303, "{method}: {}", r.body);
}

/// One case in writing from its assignment to 终结, every step over HTTP as its user takes it;
/// the citizen only ever holds the 查询码 and the phone's last four digits.
#[tokio::test]
async fn one_case_in_writing_from_assignment_to_termination() {
    let w = world().await;
    let (_, city_sup, city_dept, city) = bodies(&w).await;
    let c = case(&w, "RVFF2345", w.owner_leader).await;
    let (query_code, case_code): (String, String) =
        sqlx::query_as("SELECT query_code, code FROM cases WHERE id = $1")
            .bind(c)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
    let on = today(&w).to_string();
    let mut documents = vec![issued(&w.staff, c, "assignment").await];

    // 受理: signed for, then told in writing; by SMS the number and the 查询码 reach the phone.
    ok(&w.lead, c, "accept", &[]).await;
    let acceptance = issued(&w.lead, c, "acceptance").await;
    deliver(&w.lead, c, acceptance, "sms", "").await;
    let sms: String = sqlx::query_scalar(
        "SELECT body FROM notifications WHERE kind = 'document.issued' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&w.fx.owner)
    .await
    .unwrap();
    assert!(
        sms.contains(&query_code) && sms.contains("受理告知书"),
        "{sms}"
    );
    // 延期: asked, approved, told in writing.
    let extension = [("extension_days", "20"), ("extension_reason", "需协调资金")];
    ok(&w.lead, c, "extend", &extension).await;
    ok(&w.supervisor, c, "approve-extension", &[]).await;
    let told = issued(&w.lead, c, "extension").await;
    // The answer in writing, served by registered mail today; then the two signatures.
    let opinion = issued(&w.lead, c, "opinion").await;
    deliver(&w.lead, c, opinion, "mail", &on).await;
    let reply = [("result", "explained"), ("reply", "已解释政策")];
    ok(&w.lead, c, "submit", &reply).await;
    ok(&w.owner, c, "approve", &[]).await;
    documents.extend([acceptance, told, opinion]);

    // The citizen, with the 查询码: 不满意, then 复查 asked of the city's 住建局.
    let rating = [
        ("code", query_code.as_str()),
        ("phone_last4", "5678"),
        ("rating", "dissatisfied"),
        ("comment", "答复没有解决问题"),
    ];
    let citizen = w.app.client();
    let r = citizen
        .post(&format!("/lookup/{case_code}/feedback"), &rating)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = ask(&w, &query_code, c, &format!("d:{city_dept}")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(status(&w, c).await, "in_review");
    // The city decides in writing, served by hand.
    let review = issued(&city_sup, c, "review_opinion").await;
    ok(&city_sup, c, "decide-review", &[("decision", "upheld")]).await;
    assert_eq!(status(&w, c).await, "rated");
    deliver(&city_sup, c, review, "hand", &on).await;

    // 复核, asked of the city's government on the lookup page; a hearing pauses its clock.
    let r = ask(&w, &query_code, c, &format!("j:{city}")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let due = || async {
        sqlx::query_scalar::<_, NaiveDate>(
            "SELECT due_on FROM reviews WHERE case_id = $1 AND kind = 're_review'",
        )
        .bind(c)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap()
    };
    let before = due().await;
    let (from, to) = (today(&w) + Duration::days(1), today(&w) + Duration::days(3));
    let hearing = [
        ("hearing_from", from.to_string()),
        ("hearing_to", to.to_string()),
    ];
    let hearing: Vec<(&str, &str)> = hearing.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = city_sup
        .post(&format!("/cases/{c}/hearing"), &hearing)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(due().await, before + Duration::days(3));
    let final_word = issued(&city_sup, c, "re_review_opinion").await;
    ok(&city_sup, c, "decide-review", &[("decision", "upheld")]).await;
    assert_eq!(status(&w, c).await, "terminated");
    documents.extend([review, final_word]);

    // The citizen follows all of it by the 查询码: timeline and documents.
    let page = lookup(&w, &query_code).await;
    let timeline = page.texts(".case-timeline li").join("\n");
    for step in [
        "书面告知受理",
        "书面告知延期办理",
        "书面答复",
        "复核听证",
        "终结",
    ] {
        assert!(timeline.contains(step), "{step}: {timeline}");
    }
    // Every document prints with its number and the 查询码.
    for doc in documents {
        let print = city_sup
            .get(&format!("/cases/{c}/documents/{doc}/print"))
            .await;
        let number: String = sqlx::query_scalar("SELECT number FROM documents WHERE id = $1")
            .bind(doc)
            .fetch_one(&w.fx.owner)
            .await
            .unwrap();
        let text = print.text("article");
        assert!(
            text.contains(&number) && text.contains(&query_code),
            "{text}"
        );
    }

    // Later, the same person on the same matter: staff see the 终结 flag at triage.
    let again = Reg {
        code: "RVGG2345",
        name: "张三",
        id: ID_NUMBER,
        phone: "13812345678",
        township: "仙华街道",
        persons: 1,
        category: w.fx.cat_build,
        window: w.fx.windows[1],
        status: "submitted",
    };
    let later = register_keeping_flags(&w.fx, w.fx.visit, again).await;
    let triage = w
        .staff
        .get(&format!(
            "/staff/visits/{}/registrations/{later}",
            w.fx.visit
        ))
        .await;
    assert!(triage.body.contains("复核终结"), "{}", triage.body);
}

/// The reviewing body's 30 days are a deadline like a case's: its supervisors are reminded before
/// it and urged the day after, once each across passes; nobody else is.
#[tokio::test]
async fn the_reviewing_bodys_supervisors_are_reminded_and_urged_once() {
    let w = world().await;
    let (_, _, city_dept, _) = bodies(&w).await;
    let c = case(&w, "RVHH2345", w.owner_leader).await;
    answered(&w, c).await;
    let r = ask(&w, "RVHH2345", c, &format!("d:{city_dept}")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let due: NaiveDate = sqlx::query_scalar("SELECT due_on FROM reviews WHERE case_id = $1")
        .bind(c)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap();
    let owner = w.fx.owner.clone();
    let sent = |kind: &'static str| {
        let owner = owner.clone();
        async move {
            sqlx::query_scalar::<_, String>(
            "SELECT u.username FROM notifications n JOIN users u ON u.id = n.user_id WHERE n.kind = $1 ORDER BY u.username",
        )
        .bind(kind)
        .fetch_all(&owner)
        .await
        .unwrap()
        }
    };
    let rules = w.app.state.config.case_rules.clone();
    let pass = || run_pass(&w.app.db, w.app.clock.as_ref(), &rules, 10, "A");
    w.app
        .clock
        .advance(Duration::days((due - today(&w)).num_days() - 3));
    assert_eq!(pass().await.unwrap().reminded, 1);
    assert_eq!(pass().await.unwrap(), Pass::default(), "exactly once");
    assert_eq!(sent("review.reminder").await, ["ducha_shi"]);
    w.app.clock.advance(Duration::days(4));
    assert_eq!(pass().await.unwrap().urged, 1);
    assert_eq!(pass().await.unwrap(), Pass::default());
    assert_eq!(sent("review.auto_urge").await, ["ducha_shi"]);
    assert!(sent("case.auto_urge").await.is_empty());

    // Still undecided 5 working days after the urge, it is on the city's 通报 list, under the body.
    let listed = || async {
        // A fresh sign-in per look: the moved clock ends idle sessions.
        let sup = w.app.client();
        assert_eq!(sup.login("ducha_shi", PASSWORD).await.status, 303);
        let page = sup.get("/supervision").await;
        let heads = page.texts("section h2");
        heads.iter().any(|h| h.starts_with("通报名单（1 件）")) && page.body.contains("【复查】")
    };
    let listed_on = Calendar::default().add(china_date(w.app.clock.now()), 5);
    while china_date(w.app.clock.now()) + Duration::days(1) < listed_on {
        w.app.clock.advance(Duration::days(1));
    }
    assert!(!listed().await, "one day before the 5th working day");
    w.app.clock.advance(Duration::days(1));
    assert!(listed().await, "on the 5th working day after the urge");
}
