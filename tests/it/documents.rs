//! Documents in writing (issue 15): drafted from the case by the side that issues the kind,
//! edited while draft, issued with a consecutive number of its body, frozen (also for the app
//! role), corrected by a superseding document, delivered, and printed to one A4 page.

use crate::browser::Browser;
use crate::cases::{World, case, ok, world};
use crate::harness::{PASSWORD, Resp};
use xiafang::clock::Clock;
use xiafang::followup::documents::Kind;
use xiafang::followup::documents::store;
use xiafang::web::auth::Role;

/// Draft `kind` on the case as `who` (the case page's 起草 form); the new document's id.
pub(crate) async fn draft(who: &crate::harness::Client, case: i64, kind: &str) -> i64 {
    let r = who
        .post(&format!("/cases/{case}/documents"), &[("kind", kind)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.location().to_owned();
    let prefix = format!("/cases/{case}/documents/");
    assert!(to.starts_with(&prefix), "{to}");
    to[prefix.len()..].parse().unwrap()
}

pub(crate) async fn issue(who: &crate::harness::Client, case: i64, doc: i64) -> Resp {
    who.post(&format!("/cases/{case}/documents/{doc}/issue"), &[])
        .await
}

async fn number(w: &World, doc: i64) -> Option<String> {
    sqlx::query_scalar("SELECT number FROM documents WHERE id = $1")
        .bind(doc)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_acceptance_notice_is_drafted_edited_issued_frozen_corrected_and_delivered() {
    let w = world().await;
    let id = case(&w, "DKAA234567", w.owner_leader).await;
    ok(&w.lead, id, "accept", &[]).await;
    let query_code: String = sqlx::query_scalar("SELECT query_code FROM cases WHERE id = $1")
        .bind(id)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap();

    // The lead handler is offered the department's kinds; the co-handler none.
    let page = w.lead.get(&format!("/cases/{id}")).await;
    assert!(page.body.contains("信访事项受理告知书"), "{}", page.body);
    assert!(!page.body.contains("信访事项交办单"));
    assert_eq!(page.text("#query-code"), query_code);
    assert!(
        !w.co
            .get(&format!("/cases/{id}"))
            .await
            .body
            .contains("按交办件生成草稿")
    );
    let refused =
        w.co.post(&format!("/cases/{id}/documents"), &[("kind", "acceptance")])
            .await;
    assert_eq!(refused.status, 403);

    // The draft is filled from the case: the citizen, the matter, the 查询码.
    let doc = draft(&w.lead, id, "acceptance").await;
    let page = w.lead.get(&format!("/cases/{id}/documents/{doc}")).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.field_value("addressee"), "张三");
    let body = page.field_value("body");
    assert!(
        body.contains("村道损坏修复") && body.contains(&query_code),
        "{body}"
    );
    // Sealed at rest: neither the name nor the matter is in clear in the row.
    let raw: Vec<u8> = sqlx::query_scalar("SELECT body_cipher FROM documents WHERE id = $1")
        .bind(doc)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("村道"));

    // A bad edit keeps what was typed, with the error beside the field.
    let bad = w
        .lead
        .post(
            &format!("/cases/{id}/documents/{doc}"),
            &[("addressee", "张三先生"), ("body", "  ")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(!bad.field_error("body").is_empty());
    assert_eq!(bad.field_value("addressee"), "张三先生");
    let edited = format!("{body}\n特此告知。");
    let saved = w
        .lead
        .post(
            &format!("/cases/{id}/documents/{doc}"),
            &[("addressee", "张三"), ("body", &edited)],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);

    // Issued: numbered by the department, kind and year; hashed; frozen.
    assert_eq!(issue(&w.lead, id, doc).await.status, 303);
    let first = number(&w, doc).await.unwrap();
    let year = w.app.clock.now().format("%Y").to_string();
    assert!(first.ends_with(&format!("受〔{year}〕1号")), "{first}");
    let page = w.lead.get(&format!("/cases/{id}/documents/{doc}")).await;
    assert_eq!(page.text("#doc-number"), first);
    assert!(page.text("#doc-body").contains("特此告知。"));
    assert_eq!(page.text("#doc-hash").len(), 64);
    let again = w
        .lead
        .post(
            &format!("/cases/{id}/documents/{doc}"),
            &[("addressee", "张三"), ("body", "改过的正文")],
        )
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(issue(&w.lead, id, doc).await.status, 409);
    let frozen = sqlx::query("UPDATE documents SET issuer_name = 'x' WHERE id = $1")
        .bind(doc)
        .execute(&w.app.db)
        .await;
    assert!(
        frozen.is_err(),
        "the app role may not alter an issued document"
    );
    let deleted = sqlx::query("DELETE FROM documents WHERE id = $1")
        .bind(doc)
        .execute(&w.app.db)
        .await;
    assert!(deleted.is_err(), "nor delete it");

    // Delivered by registered mail on a date; a date before issuing is refused beside the field.
    let today = xiafang::clock::china_date(w.app.clock.now());
    let early = (today - chrono::Duration::days(3)).to_string();
    let r = w
        .lead
        .post(
            &format!("/cases/{id}/documents/{doc}/deliveries"),
            &[
                ("method", "mail"),
                ("delivered_on", &early),
                ("reference", "XA123"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(!r.field_error("delivered_on").is_empty());
    let r = w
        .lead
        .post(
            &format!("/cases/{id}/documents/{doc}/deliveries"),
            &[
                ("method", "mail"),
                ("delivered_on", &today.to_string()),
                ("reference", "XA1234567"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // By SMS: the number and the 查询码 go to the citizen's phone through the outbox.
    let r = w
        .lead
        .post(
            &format!("/cases/{id}/documents/{doc}/deliveries"),
            &[("method", "sms"), ("delivered_on", ""), ("reference", "")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let sms: String = sqlx::query_scalar(
        "SELECT body FROM notifications WHERE kind = 'document.issued' AND registration_id IS NOT NULL",
    )
    .fetch_one(&w.fx.owner)
    .await
    .unwrap();
    assert!(sms.contains(&first) && sms.contains(&query_code), "{sms}");
    let page = w.lead.get(&format!("/cases/{id}/documents/{doc}")).await;
    assert!(page.text("#deliveries").contains("XA1234567"));
    let deliveries_frozen = sqlx::query("UPDATE document_deliveries SET reference = 'x'")
        .execute(&w.app.db)
        .await;
    assert!(deliveries_frozen.is_err(), "deliveries are history");

    // A correction supersedes it with the next number; the original says so.
    let r = w
        .lead
        .post(&format!("/cases/{id}/documents/{doc}/correct"), &[])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let correction: i64 = r.location().rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(issue(&w.lead, id, correction).await.status, 303);
    let second = number(&w, correction).await.unwrap();
    assert!(second.ends_with(&format!("受〔{year}〕2号")), "{second}");
    let page = w.lead.get(&format!("/cases/{id}/documents/{doc}")).await;
    assert!(
        page.body.contains(&second),
        "the original links its correction"
    );
    let again = w
        .lead
        .post(&format!("/cases/{id}/documents/{doc}/correct"), &[])
        .await;
    assert_eq!(again.status, 409);

    // Outside the case: another department's handler gets 404 on the document and its print.
    for path in [
        format!("/cases/{id}/documents/{doc}"),
        format!("/cases/{id}/documents/{doc}/print"),
    ] {
        assert_eq!(w.other.get(&path).await.status, 404, "{path}");
    }
    // A document of another case answers 404 under this one.
    let other_case = case(&w, "DKAA234568", w.owner_leader).await;
    assert_eq!(
        w.lead
            .get(&format!("/cases/{other_case}/documents/{doc}"))
            .await
            .status,
        404
    );
    assert_eq!(w.app.audit_count("document.issue").await, 2);
    assert_eq!(w.app.audit_count("document.deliver").await, 2);
}

#[tokio::test]
async fn each_side_drafts_its_own_kinds() {
    let w = world().await;
    let id = case(&w, "DKBB234567", w.owner_leader).await;
    let assignment = draft(&w.staff, id, "assignment").await;
    assert_eq!(issue(&w.staff, id, assignment).await.status, 303);
    let jiao = number(&w, assignment).await.unwrap();
    assert!(jiao.contains("信交〔"), "{jiao}");
    let urging = draft(&w.supervisor, id, "urging").await;
    assert_eq!(issue(&w.supervisor, id, urging).await.status, 303);
    assert!(number(&w, urging).await.unwrap().contains("信督〔"));
    // The leader who owns the case may issue the 交办单 too, not a department's notice.
    let r = w
        .owner
        .post(&format!("/cases/{id}/documents"), &[("kind", "acceptance")])
        .await;
    assert_eq!(r.status, 403);
    // The department's handler cannot issue the office's documents.
    assert_eq!(issue(&w.lead, id, urging).await.status, 403);
    let r = w
        .lead
        .post(&format!("/cases/{id}/documents"), &[("kind", "memo")])
        .await;
    assert_eq!(r.status, 400);
    let page = w
        .lead
        .get(&format!("/cases/{id}/documents/{assignment}"))
        .await;
    assert!(page.text("#doc-body").contains("包案领导"));
}

#[tokio::test]
async fn numbers_of_one_body_kind_and_year_are_consecutive_under_concurrent_issuing() {
    let w = world().await;
    let id = case(&w, "DKCC234567", w.owner_leader).await;
    let staff = w.fx.staff_id;
    let actor = move || xiafang::audit::Actor {
        id: Some(staff),
        name: "xinfang".into(),
        role: Some("staff"),
        ip: None,
        jurisdiction_id: None,
    };
    let now = w.app.clock.now();
    let mut drafts = Vec::new();
    for _ in 0..24 {
        drafts.push(
            store::draft(
                &w.app.db,
                &w.app.state.keys,
                id,
                Kind::Opinion,
                None,
                &actor(),
                now,
            )
            .await
            .unwrap()
            .unwrap(),
        );
    }
    let tasks: Vec<_> = drafts
        .iter()
        .enumerate()
        .map(|(i, &doc)| {
            let (db, keys, actor) = (w.app.db.clone(), w.app.state.keys.clone(), actor());
            tokio::spawn(async move {
                let mut tx = db.begin().await.unwrap();
                store::issue(&mut tx, &keys, id, doc, &actor, now)
                    .await
                    .unwrap();
                // Every third issuer gives up: its number goes back to the counter.
                if i % 3 == 0 {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let seqs: Vec<i32> = sqlx::query_scalar(
        "SELECT seq FROM documents WHERE case_id = $1 AND status = 'issued' ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&w.fx.owner)
    .await
    .unwrap();
    assert_eq!(seqs, (1..=16).collect::<Vec<i32>>(), "no gap, no duplicate");
}

#[tokio::test]
async fn an_issued_document_prints_to_one_a4_page_with_its_number_and_query_code() {
    let w = world().await;
    let id = case(&w, "DKDD234567", w.owner_leader).await;
    ok(&w.lead, id, "accept", &[]).await;
    let doc = draft(&w.lead, id, "acceptance").await;
    assert_eq!(issue(&w.lead, id, doc).await.status, 303);
    let number = number(&w, doc).await.unwrap();
    let query_code: String = sqlx::query_scalar("SELECT query_code FROM cases WHERE id = $1")
        .bind(id)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap();
    let b = Browser::start(false).await;
    b.log_in(&w.app, "zhuban", PASSWORD).await;
    b.driver
        .goto(format!(
            "{}/cases/{id}/documents/{doc}/print",
            w.app.origin()
        ))
        .await
        .unwrap();
    let text = b.body_text().await;
    assert!(
        text.contains(&number) && text.contains(&query_code) && text.contains("张三："),
        "{text}"
    );
    b.screenshot("documents-acceptance-print").await;
    assert_eq!(b.print_pages("documents-acceptance-print").await, 1);
    b.quit().await;
}

#[tokio::test]
async fn an_issued_document_reads_the_same_after_the_keys_are_rotated() {
    use crate::keys::{app_with, load, scratch, xiafang};
    use xiafang::followup::assign::{NewCase, Source};
    let dir = scratch("rotate-documents");
    let path = dir.join("keys.json");
    xiafang::crypto::software::KeysFile::generate()
        .write(&path)
        .unwrap();
    let url = crate::harness::fresh_database().await;
    let app = app_with(&url, load(&path)).await;
    let (fx, _) = crate::fixtures::fixture(&app).await;
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
    app.user("zhuban", Role::Handler).await;
    app.user("baoan", Role::Leader).await;
    let (department, leader): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT department_id FROM users WHERE username = 'zhuban'),
                (SELECT leader_id FROM users WHERE username = 'baoan')",
    )
    .fetch_one(&fx.owner)
    .await
    .unwrap();
    let now = app.clock.now();
    let case = crate::fixtures::assign_case(
        &app,
        &NewCase {
            visit_id: fx.visit,
            source: Source::SurveyItem(item),
            title: "河道清淤",
            category_id: fx.cat_build,
            lead_department_id: department,
            co_department_ids: &[],
            owner_leader_id: leader,
            deadline_days: 60,
        },
        fx.staff_id,
        now,
    )
    .await;
    let actor = xiafang::audit::Actor {
        id: Some(fx.staff_id),
        name: "xinfang".into(),
        role: Some("staff"),
        ip: None,
        jurisdiction_id: None,
    };
    let keys = &app.state.keys;
    let doc = store::draft(&app.db, keys, case.id, Kind::Assignment, None, &actor, now)
        .await
        .unwrap()
        .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    store::issue(&mut tx, keys, case.id, doc, &actor, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let before = xiafang::followup::documents::read::load(&app.db, keys, case.id, doc)
        .await
        .unwrap()
        .unwrap();

    let out = xiafang(
        &url,
        &crate::harness::app_url(&url).await,
        &path,
        &["keys", "rotate"],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("documents.body: 1 行"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated = load(&path);
    let after = xiafang::followup::documents::read::load(&app.db, &rotated, case.id, doc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.body, after.addressee, after.text_hash, after.number),
        (
            before.body,
            before.addressee,
            before.text_hash,
            before.number
        )
    );
    let key_ids: (i16, i16) =
        sqlx::query_as("SELECT addressee_key_id, body_key_id FROM documents WHERE id = $1")
            .bind(doc)
            .fetch_one(&fx.owner)
            .await
            .unwrap();
    assert_eq!(key_ids, (2, 2), "re-encrypted under the new key");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_citizen_follows_the_case_by_its_query_code_and_reads_its_documents() {
    let w = world().await;
    let id = case(&w, "DKEE234567", w.owner_leader).await;
    ok(&w.lead, id, "accept", &[]).await;
    let acceptance = draft(&w.lead, id, "acceptance").await;
    assert_eq!(issue(&w.lead, id, acceptance).await.status, 303);
    let pending = draft(&w.lead, id, "extension").await;
    let assignment = draft(&w.staff, id, "assignment").await;
    assert_eq!(issue(&w.staff, id, assignment).await.status, 303);
    let number = number(&w, acceptance).await.unwrap();
    let query_code: String = sqlx::query_scalar("SELECT query_code FROM cases WHERE id = $1")
        .bind(id)
        .fetch_one(&w.fx.owner)
        .await
        .unwrap();

    // The 查询码 (typed in lower case with spaces) and the phone's last four digits open the case.
    let citizen = w.app.client();
    let typed = format!("{} {}", &query_code[..6], &query_code[6..]).to_lowercase();
    let page = citizen
        .post("/lookup", &[("code", &typed), ("phone_last4", "5678")])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.text(".query-code"), query_code);
    let timeline = page.text(".case-timeline");
    assert!(
        timeline.contains("交办承办单位") && timeline.contains("承办单位签收"),
        "{timeline}"
    );
    let documents = page.text(".case-documents");
    assert!(
        documents.contains("受理告知书") && documents.contains(&number),
        "{documents}"
    );
    assert!(
        !documents.contains("交办单"),
        "the department's documents are not the citizen's"
    );

    // The document itself, printable, behind the same proof.
    let proof = [("code", "DKEE234567"), ("phone_last4", "5678")];
    let doc = citizen
        .post(&format!("/lookup/documents/{acceptance}"), &proof)
        .await;
    assert_eq!(doc.status, 200, "{}", doc.body);
    assert!(doc.body.contains(&number) && doc.body.contains(&query_code));
    // A draft, the department's 交办单, a wrong phone and an unknown code all read alike.
    for (doc_id, last4) in [
        (pending, "5678"),
        (assignment, "5678"),
        (acceptance, "0000"),
    ] {
        let r = citizen
            .post(
                &format!("/lookup/documents/{doc_id}"),
                &[("code", "DKEE234567"), ("phone_last4", last4)],
            )
            .await;
        assert_eq!(r.status, 404, "{doc_id} {last4}");
        assert!(!r.body.contains(&number));
    }
    let wrong = citizen
        .post("/lookup", &[("code", &query_code), ("phone_last4", "0000")])
        .await;
    assert_eq!(wrong.status, 404);
    let unknown = citizen
        .post(
            "/lookup",
            &[("code", "ABCDEFGHJKMN"), ("phone_last4", "5678")],
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(wrong.text("#e-code"), unknown.text("#e-code"));
}
