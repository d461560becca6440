//! The citizen follows a case by its 查询码 (issue 15): sent by SMS when the case is made, from a
//! walk-in on a phone, from a survey item by its reporter's phone; and a wrong code or a wrong
//! phone tells nothing and counts towards the lookup limit.

use crate::browser::Browser;
use crate::cases::{World, case, case_from, ok, world};
use crate::harness::Resp;
use std::sync::{Arc, Mutex};
use thirtyfour::By;
use xiafang::clock::{Clock, ManualClock};
use xiafang::followup::assign::{NewCase, Source};
use xiafang::notify::{self, Delivery, Outgoing, Sender};

async fn query_code(w: &World, case: i64) -> String {
    sqlx::query_scalar("SELECT query_code FROM cases WHERE id = $1")
        .bind(case)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap()
}

/// The lead handler accepts the case and issues its 受理告知书 (the case page's forms).
async fn accept_with_notice(w: &World, case: i64) -> i64 {
    ok(&w.lead, case, "accept", &[]).await;
    let r = w
        .lead
        .post(
            &format!("/cases/{case}/documents"),
            &[("kind", "acceptance")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let doc: i64 = r.location().rsplit('/').next().unwrap().parse().unwrap();
    let r = w
        .lead
        .post(&format!("/cases/{case}/documents/{doc}/issue"), &[])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    doc
}

/// The 查询码 SMS queued for the case: its recipient columns and variables.
async fn query_code_sms(w: &World, case_code: &str) -> (Option<i64>, Option<i64>, String) {
    sqlx::query_as(
        "SELECT registration_id, survey_item_id, params->>'query_code' FROM notifications
         WHERE kind = 'case.query_code' AND params->>'case_code' = $1",
    )
    .bind(case_code)
    .fetch_one(&w.fx.owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_walk_in_citizen_follows_the_case_on_a_phone_without_scrolling_sideways() {
    let w = world().await;
    let (o, v) = (&w.fx.owner, w.fx.visit);
    sqlx::query("INSERT INTO room_categories (room_id, category_id) VALUES ($1, $2)")
        .bind(w.room)
        .bind(w.fx.cat_build)
        .execute(o)
        .await
        .unwrap();
    // 现场登记 at the desk, with a phone.
    let path = format!("/staff/visits/{v}/walkin");
    let token = w.staff.get(&path).await.field_value("form_token");
    let cat = w.fx.cat_build.to_string();
    let id_number = crate::fixtures::id_number("33072619850505123");
    let r = w
        .staff
        .post(
            &path,
            &[
                ("form_token", token.as_str()),
                ("name", "王五"),
                ("id_number", &id_number),
                ("phone", "13955554321"),
                ("address", "浦阳街道前街 8 号"),
                ("township", "浦阳街道"),
                ("persons", "1"),
                ("category_id", &cat),
                ("grievance", "宅基地审批迟迟未办"),
                ("informed", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let reg: i64 = sqlx::query_scalar(
        "SELECT id FROM registrations WHERE channel = 'walk_in' AND name_mask = '王某某'",
    )
    .fetch_one(o)
    .await
    .unwrap();
    let id = case_from(&w, reg, w.owner_leader).await;
    let case_code: String = sqlx::query_scalar("SELECT code FROM cases WHERE id = $1")
        .bind(id)
        .fetch_one(o)
        .await
        .unwrap();
    let code = query_code(&w, id).await;
    // The 查询码 went to the walk-in's phone when the case was made.
    assert_eq!(
        query_code_sms(&w, &case_code).await,
        (Some(reg), None, code.clone())
    );
    let doc = accept_with_notice(&w, id).await;
    let number: String = sqlx::query_scalar("SELECT number FROM documents WHERE id = $1")
        .bind(doc)
        .fetch_one(o)
        .await
        .unwrap();

    let b = Browser::start(true).await;
    b.driver
        .goto(format!("{}/lookup", w.app.origin()))
        .await
        .unwrap();
    b.fill("登记编号或查询码", &code).await;
    b.fill("手机号码后四位", "4321").await;
    b.press("查询").await;
    let text = b.body_text().await;
    assert!(
        text.contains(&code) && text.contains("办理过程") && text.contains("承办单位签收"),
        "{text}"
    );
    assert!(text.contains("信访事项受理告知书") && text.contains(&number));
    let width = b.scroll_width().await;
    b.screenshot("citizen-walk-in-lookup-phone").await;
    let cases = b.driver.find(By::Id("cases")).await.unwrap();
    cases.scroll_into_view().await.unwrap();
    b.screenshot("citizen-walk-in-lookup-cases-phone").await;
    assert!(width <= 375, "the status page fits a 375-px phone: {width}");
    b.press("信访事项受理告知书").await;
    let text = b.body_text().await;
    assert!(
        text.contains(&number) && text.contains(&code) && text.contains("王五："),
        "{text}"
    );
    let width = b.scroll_width().await;
    let seal = b.driver.find(By::Css(".doc-seal")).await.unwrap();
    seal.scroll_into_view().await.unwrap();
    b.screenshot("citizen-walk-in-document-phone").await;
    assert!(width <= 375, "the document fits a 375-px phone: {width}");
    b.quit().await;
}

#[tokio::test]
async fn a_wrong_query_code_and_a_wrong_phone_answer_alike_and_both_count_towards_the_limit() {
    let w = world().await;
    let id = case(&w, "WQAA234567", w.owner_leader).await;
    let code = query_code(&w, id).await;
    // Another valid-looking 查询码 (the same alphabet, one character changed).
    let other = format!(
        "{}{}",
        &code[..11],
        if code.ends_with('2') { '3' } else { '2' }
    );
    let citizen = w.app.client();
    let lookup = |code: String, last4: &'static str| {
        let citizen = &citizen;
        async move {
            citizen
                .post(
                    "/lookup",
                    &[("code", code.as_str()), ("phone_last4", last4)],
                )
                .await
        }
    };
    let wrong_phone: Resp = lookup(code.clone(), "0000").await;
    let wrong_code: Resp = lookup(other.clone(), "5678").await;
    assert_eq!(wrong_phone.status, 404);
    assert_eq!(wrong_code.status, wrong_phone.status);
    assert!(!wrong_phone.text("#e-code").is_empty());
    assert_eq!(wrong_code.text("#e-code"), wrong_phone.text("#e-code"));
    assert!(!wrong_phone.body.contains("村道损坏修复"));
    // The limit is 10 a minute: 8 more mistakes of either kind use it up…
    for i in 0..8 {
        let r = if i % 2 == 0 {
            lookup(code.clone(), "1111").await
        } else {
            lookup(other.clone(), "5678").await
        };
        assert_eq!(r.status, 404, "mistake {i}");
    }
    // … and then the right proof waits too.
    assert_eq!(lookup(code.clone(), "5678").await.status, 429);
    w.app.clock.advance(chrono::Duration::minutes(1));
    let page = lookup(code.clone(), "5678").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.text(".query-code"), code);
}

/// A message's kind and the number it went to.
type Sent = (String, Option<String>);

/// A gateway that keeps the number each message went to.
#[derive(Clone, Default)]
struct Phones(Arc<Mutex<Vec<Sent>>>);

impl Sender for Phones {
    async fn send(&self, m: &Outgoing) -> anyhow::Result<Option<String>> {
        let phone = m.phone.as_ref().map(|p| p.0.clone());
        self.0.lock().unwrap().push((m.kind.clone(), phone));
        Ok(None)
    }
}

#[tokio::test]
async fn a_survey_item_case_is_followed_with_its_reporters_phone_and_shows_its_dossier() {
    let w = world().await;
    let (o, v) = (&w.fx.owner, w.fx.visit);
    let cat = w.fx.cat_build.to_string();
    let item_form = |phone: &'static str| {
        vec![
            ("township", "仙华街道"),
            ("village", "东门村"),
            ("reporter", "李四"),
            ("reporter_phone", phone),
            ("category_id", cat.as_str()),
            ("summary", "村口排水沟堵塞"),
            ("background", "雨季积水入户，村委会多次清理未果。"),
        ]
    };
    let path = format!("/staff/visits/{v}/survey");
    let bad = w.staff.post(&path, &item_form("1395555")).await;
    assert_eq!(bad.status, 422);
    assert!(bad.field_error("reporter_phone").contains("11 位"));
    assert_eq!(bad.field_value("reporter"), "李四");
    let r = w.staff.post(&path, &item_form("13966668765")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let item: i64 = r.location().rsplit('/').next().unwrap().parse().unwrap();
    let (mask, clear): (String, String) = sqlx::query_as(
        "SELECT reporter_phone_mask, encode(reporter_phone_cipher, 'escape') FROM survey_items WHERE id = $1",
    )
    .bind(item)
    .fetch_one(o)
    .await
    .unwrap();
    assert_eq!(mask, "139****8765");
    assert!(!clear.contains("13966668765"), "sealed");
    // The edit form gives the phone back to staff as typed.
    let page = w.staff.get(&format!("{path}/{item}")).await;
    assert_eq!(page.field_value("reporter_phone"), "13966668765");

    let now = w.app.clock.now();
    let made = crate::fixtures::assign_case(
        &w.app,
        &NewCase {
            visit_id: v,
            source: Source::SurveyItem(item),
            title: "村口排水沟堵塞",
            category_id: w.fx.cat_build,
            lead_department_id: w.lead_dept,
            co_department_ids: &[],
            owner_leader_id: w.owner_leader,
            deadline_days: 60,
        },
        w.fx.staff_id,
        now,
    )
    .await;
    let code = query_code(&w, made.id).await;
    assert_eq!(
        query_code_sms(&w, &made.code).await,
        (None, Some(item), code.clone())
    );
    // Delivered to the reporter's number, decrypted only for the gateway. (Messages are queued at
    // the database's now(), which the app's manual clock may lag; the sessions keep the app's.)
    let later = ManualClock::new(chrono::Utc::now() + chrono::Duration::hours(1));
    let phones = Phones::default();
    let d = Delivery::from_config(&w.app.state.config);
    notify::deliver_batch(&w.app.db, later.as_ref(), &w.app.state.keys, &phones, &d)
        .await
        .unwrap();
    assert!(
        phones
            .0
            .lock()
            .unwrap()
            .contains(&("case.query_code".into(), Some("13966668765".into()))),
        "{:?}",
        phones.0.lock().unwrap()
    );

    // The case file shows where the case came from, to each of its readers.
    for who in [&w.lead, &w.owner, &w.supervisor] {
        let page = who.get(&format!("/cases/{}", made.id)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.text("#dossier-reporter"), "李某某");
        assert!(page.text("#dossier").contains("139****8765"));
        assert!(!page.body.contains("13966668765"));
        assert!(page.text("#dossier-findings").contains("雨季积水入户"));
        assert!(!page.text("#dossier-date").is_empty());
    }

    // The reporter follows it by the 查询码 and the phone's last four digits.
    let doc = accept_with_notice(&w, made.id).await;
    let citizen = w.app.client();
    let page = citizen
        .post("/lookup", &[("code", &code), ("phone_last4", "8765")])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.text(".query-code"), code);
    assert!(page.text(".case-timeline").contains("承办单位签收"));
    assert!(!page.body.contains("登记编号 "), "no registration to show");
    let opened = citizen
        .post(
            &format!("/lookup/documents/{doc}"),
            &[("code", &code), ("phone_last4", "8765")],
        )
        .await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    assert!(opened.body.contains(&code));
    let wrong = citizen
        .post("/lookup", &[("code", &code), ("phone_last4", "5678")])
        .await;
    assert_eq!(wrong.status, 404);
}
