//! Nothing personal in clear (issue 13): a `pg_dump` of a database holding the demo, the Pujiang
//! day, and a petition taken through the registration form, the desk and the case file holds none
//! of the texts typed into them. Each field has its own marker, so a failure names the field.

use crate::desk::{day, desk};
use crate::fixtures::{id_of, issue_document, step};
use crate::harness::{TestApp, app_url, fresh_database, test_keys};
use crate::register::{form, id_number, set};
use std::process::Command;
use xiafang::audit::Actor;
use xiafang::clock::Clock;
use xiafang::crypto::software::KeysFile;
use xiafang::demo::pujiang;
use xiafang::followup::documents::rules::Kind;
use xiafang::followup::state::Action;
use xiafang::followup::transitions::{self, Input, Rating};
use xiafang::web::auth::Role;

const STATEMENT: &str = "标记接谈甲：反映村口道路";
const CONSULTATION: &str = "标记会商乙：住建局限期修复";
const PROGRESS: &str = "标记进展丙：已约谈施工单位";
const REPLY: &str = "标记答复丁：道路已修复";
const COMMENT: &str = "标记评价戊：修得不彻底";
const NOT_ACCEPTED: &str = "标记不予受理丑：已过诉讼时效";
const REPORTER: &str = "标记反映人辛";
const BACKGROUND: &str = "标记背景壬：多次反映";
const POLICY: &str = "标记政策癸：农村公路条例";
const HANDLING: &str = "标记处理子：年内修复";

/// The registration's fields: phone and ID number are sealed on main; name, address and grievance
/// by the registration half of issue 13.
const NAME: &str = "标记姓名";
const ADDRESS: &str = "标记地址己号";
const GRIEVANCE: &str = "标记诉求庚：村口道路破损，雨天积水。";
const PHONE: &str = "13912340077";

/// The demo's case history writes these replies and progress notes through the transitions.
const DEMO_TEXTS: [&str; 2] = ["已现场核实并整改到位", "已约谈相关单位，制定整改方案"];

fn id_marker() -> String {
    id_number(4242)
}

/// A plain-text dump of the database at `url`, as its owner.
fn dump(url: &str) -> String {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .map(|e| e.unwrap().path().join("bin/pg_dump"))
        .find(|p| p.exists())
        .expect("pg_dump next to initdb");
    let out = Command::new(bin)
        .arg("--no-owner")
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn in_clear<'a>(dump: &str, markers: &[(&'a str, &str)]) -> Vec<&'a str> {
    markers
        .iter()
        .filter(|(_, m)| dump.contains(m))
        .map(|(field, _)| *field)
        .collect()
}

/// A registration typed into the public form, received at the desk with one assigned issue, the
/// case worked, replied, approved and rated with a comment. Returns the case's id after checking
/// that its page shows every text.
async fn petition(app: &TestApp) -> i64 {
    // Registration opens some hours after the notice (which `day` publishes now).
    app.clock.advance(chrono::Duration::hours(9));
    let (d, _) = day(app).await;
    let o = &d.fx.owner;
    let citizen = app.client();
    let page = citizen
        .get(&format!("/visits/{}/register", d.fx.visit))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.field_value("form_token");
    let (id, cat, window) = (
        id_marker(),
        d.fx.cat_build.to_string(),
        d.fx.windows[0].to_string(),
    );
    let mut f = form(&token, &id, &cat, &window);
    for (k, v) in [
        ("name", NAME),
        ("address", ADDRESS),
        ("grievance", GRIEVANCE),
        ("phone", PHONE),
    ] {
        set(&mut f, k, v);
    }
    let r = citizen
        .post_verified(&format!("/visits/{}/register", d.fx.visit), &f)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let reg: i64 = sqlx::query_scalar("SELECT id FROM registrations WHERE visit_id = $1")
        .bind(d.fx.visit)
        .fetch_one(o)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE registrations g SET room_id = $2, queue_number = 1, expected_at = w.starts_at, status = 'checked_in', checked_in_at = now()
         FROM reception_windows w WHERE w.id = g.window_id AND g.id = $1",
    )
    .bind(reg)
    .bind(d.room_a)
    .execute(o)
    .await
    .unwrap();

    // A survey item with its dossier, linked to the registration: the desk shows it.
    let base = format!("/staff/visits/{}/survey", d.fx.visit);
    let survey = [
        ("township", "仙华街道"),
        ("village", "东门村"),
        ("reporter", REPORTER),
        ("category_id", cat.as_str()),
        ("summary", "村道年久失修"),
        ("background", BACKGROUND),
        ("policy_basis", POLICY),
        ("proposed_handling", HANDLING),
    ];
    let created = d.staff.post(&base, &survey).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let item: i64 = sqlx::query_scalar("SELECT id FROM survey_items")
        .fetch_one(o)
        .await
        .unwrap();
    let code: String = sqlx::query_scalar("SELECT code FROM registrations WHERE id = $1")
        .bind(reg)
        .fetch_one(o)
        .await
        .unwrap();
    let linked = d
        .staff
        .post(&format!("{base}/{item}/link"), &[("code", code.as_str())])
        .await;
    assert_eq!(linked.status, 303, "{}", linked.body);
    let list = d.staff.get(&base).await;
    assert!(list.body.contains(REPORTER), "the list shows the reporter");

    let path = desk(&d, d.room_a);
    let r = d.staff.post(&format!("{path}/call"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (lead, owner) = (d.lead_dept.to_string(), d.leader_a.to_string());
    let record = [
        ("statement", STATEMENT),
        ("consultation", CONSULTATION),
        ("i0_category", cat.as_str()),
        ("i0_summary", "村口道路破损"),
        ("i0_outcome", "assigned"),
        ("i0_lead", lead.as_str()),
        ("i0_owner", owner.as_str()),
        ("i0_deadline", "30"),
        ("i1_category", cat.as_str()),
        ("i1_summary", "要求重新认定工伤"),
        ("i1_outcome", "not_accepted"),
        ("i1_reason", NOT_ACCEPTED),
        ("i1_owner", owner.as_str()),
        ("i1_deadline", "60"),
        ("i2_owner", owner.as_str()),
        ("i2_deadline", "60"),
    ];
    let table = d.staff.get(&path).await;
    for text in [BACKGROUND, POLICY, HANDLING] {
        assert!(table.body.contains(text), "{text} in the desk's dossier");
    }
    let r = d.staff.post(&format!("{path}/{reg}/record"), &record).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let case: i64 = sqlx::query_scalar("SELECT id FROM cases")
        .fetch_one(o)
        .await
        .unwrap();

    let handler = app.user("zhuban", Role::Handler).await;
    sqlx::query("UPDATE users SET department_id = $2 WHERE id = $1")
        .bind(handler)
        .bind(d.lead_dept)
        .execute(o)
        .await
        .unwrap();
    let reader = app.signed_in("ducha", Role::Supervisor).await;
    let supervisor = id_of(o, "SELECT id FROM users WHERE username = $1", "ducha").await;
    let input = |text: &str, result: &str| Input {
        text: text.into(),
        days: 0,
        result: result.into(),
        upheld: false,
        department_id: 0,
        reviewer: String::new(),
    };
    let now = app.clock.now();
    step(app, case, Action::Accept, input("", ""), handler, now).await;
    step(
        app,
        case,
        Action::Progress,
        input(PROGRESS, ""),
        handler,
        now,
    )
    .await;
    issue_document(app, case, Kind::Opinion, handler, now).await;
    let reply = input(REPLY, "resolved");
    step(app, case, Action::Submit, reply, handler, now).await;
    step(app, case, Action::Approve, input("", ""), supervisor, now).await;
    let citizen = Actor {
        id: None,
        name: "anonymous".into(),
        role: None,
        ip: None,
        jurisdiction_id: None,
    };
    let rating = Rating {
        rating: "dissatisfied",
        comment: COMMENT,
    };
    let (rules, keys) = (&app.state.config.case_rules, &app.state.keys);
    let mut tx = app.db.begin().await.unwrap();
    transitions::rate(&mut tx, case, &rating, &citizen, now, rules, keys)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Sealed, not lost: the case file opens every text for who may read it.
    let page = reader.get(&format!("/cases/{case}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for text in [CONSULTATION, PROGRESS, REPLY, COMMENT, BACKGROUND, HANDLING] {
        assert!(page.body.contains(text), "{text} on the case page");
    }
    case
}

#[tokio::test]
async fn reception_and_case_texts_are_not_in_the_dump() {
    let app = TestApp::spawn().await;
    petition(&app).await;
    let markers = [
        ("receptions.statement (接谈情况)", STATEMENT),
        ("receptions.consultation (会商意见)", CONSULTATION),
        ("case_events.text (办理记录)", PROGRESS),
        ("cases.reply (答复意见)", REPLY),
        ("issues.not_accepted_reason (不予受理理由)", NOT_ACCEPTED),
        ("feedback.comment (评价意见)", COMMENT),
        ("survey_items.reporter (反映人)", REPORTER),
        ("survey_items.background (背景情况)", BACKGROUND),
        ("survey_items.policy_basis (政策依据)", POLICY),
        ("survey_items.proposed_handling (拟处理意见)", HANDLING),
        ("registrations.phone", PHONE),
    ];
    let id = id_marker();
    let mut markers = markers.to_vec();
    markers.push(("registrations.id_number", id.as_str()));
    let found = in_clear(&dump(&app.url), &markers);
    assert!(found.is_empty(), "in clear in the dump: {found:?}");

    // The demo and the full-size Pujiang day, written through the same code.
    let demo = TestApp::spawn_with(|c| c.demo_mode = true).await;
    pujiang::seed(&demo.db, &*demo.clock, &test_keys())
        .await
        .unwrap();
    // In the same database, a citizen registers for the demo's visit through the public form.
    let owner = sqlx::PgPool::connect(&demo.url).await.unwrap();
    xiafang::demo::seed(&owner, demo.clock.as_ref(), &test_keys())
        .await
        .unwrap();
    let (visit, window, category): (i64, i64, i64) = sqlx::query_as(
        "SELECT v.id, w.id, (SELECT id FROM categories WHERE parent_id IS NOT NULL ORDER BY id LIMIT 1)
         FROM visits v JOIN reception_windows w ON w.visit_id = v.id AND w.capacity_slots > w.booked_slots
         WHERE v.status = 'announced' AND NOT v.duty ORDER BY v.visit_date, w.starts_at LIMIT 1",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    let citizen = demo.client();
    let token = citizen
        .get(&format!("/visits/{visit}/register"))
        .await
        .field_value("form_token");
    let (id, c, w) = (id_number(4343), category.to_string(), window.to_string());
    let mut f = crate::register::form(&token, &id, &c, &w);
    for (k, v) in [
        ("name", NAME),
        ("address", ADDRESS),
        ("grievance", GRIEVANCE),
        ("phone", PHONE),
    ] {
        crate::register::set(&mut f, k, v);
    }
    let r = citizen
        .post_verified(&format!("/visits/{visit}/register"), &f)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    owner.close().await;
    let text = dump(&demo.url);
    let demo_markers = DEMO_TEXTS
        .map(|t| ("the demo's case history", t))
        .into_iter()
        .chain([
            ("registrations.name", NAME),
            ("registrations.address", ADDRESS),
            ("registrations.grievance", GRIEVANCE),
            ("registrations.phone", PHONE),
            ("registrations.id_number", id.as_str()),
        ])
        .collect::<Vec<_>>();
    assert!(
        text.contains("INSERT INTO") || text.contains("COPY public.case_events"),
        "the dump holds the data"
    );
    assert!(
        text.contains("标某某"),
        "the citizen's row is in the dump, masked"
    );
    let found = in_clear(&text, &demo_markers);
    assert!(found.is_empty(), "in clear in the demo's dump: {found:?}");
}

/// The registration's own texts: name, address and grievance (migration 0027).
#[tokio::test]
async fn registration_fields_are_not_in_the_dump() {
    let app = TestApp::spawn().await;
    petition(&app).await;
    let markers = [
        ("registrations.name", NAME),
        ("registrations.address", ADDRESS),
        ("registrations.grievance", GRIEVANCE),
    ];
    let found = in_clear(&dump(&app.url), &markers);
    assert!(found.is_empty(), "in clear in the dump: {found:?}");
}

#[tokio::test]
async fn keys_rotate_seals_the_texts_written_before_they_were_encrypted() {
    let dir = crate::keys::scratch("legacy-texts");
    let path = dir.join("keys.json");
    KeysFile::generate().write(&path).unwrap();
    let url = fresh_database().await;
    let app = crate::keys::app_with(&url, crate::keys::load(&path)).await;
    let case = petition(&app).await;
    // Texts as main wrote them, in plaintext.
    let owner = sqlx::PgPool::connect(&url).await.unwrap();
    for sql in [
        "UPDATE receptions SET consultation = '旧会商明文', consultation_cipher = NULL, consultation_key_id = NULL",
        "UPDATE cases SET reply = '旧答复明文', reply_cipher = NULL, reply_key_id = NULL",
        "UPDATE survey_items SET background = '旧背景明文', background_cipher = NULL, background_key_id = NULL",
        "INSERT INTO case_events (case_id, kind, actor_id, at, text)
         SELECT id, 'progress', assigned_by, now(), '旧进展明文' FROM cases",
        "INSERT INTO feedback (case_id, rating, comment, channel, at)
         SELECT id, 'satisfied', '旧评价明文', 'online', now() + interval '1 day' FROM cases",
    ] {
        sqlx::query(sql).execute(&owner).await.unwrap();
    }
    let legacy = [
        "旧会商明文",
        "旧答复明文",
        "旧进展明文",
        "旧评价明文",
        "旧背景明文",
    ];
    let reader = app.signed_in("ducha3", Role::Supervisor).await;
    let page = reader.get(&format!("/cases/{case}")).await;
    for text in legacy {
        assert!(page.body.contains(text), "{text} read in plaintext before");
    }

    let out = crate::keys::xiafang(&url, &app_url(&url).await, &path, &["keys", "rotate"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "receptions.consultation: 1 行明文已加密",
        "cases.reply: 1 行明文已加密",
        "case_events.text: 1 行明文已加密",
        "feedback.comment: 1 行明文已加密",
        "survey_items.background: 1 行明文已加密",
        "survey_items.reporter: 1 行已重新加密",
        "case_events.text: 3 行已重新加密",
    ] {
        assert!(said.contains(line), "{line} in: {said}");
    }
    let text = dump(&url);
    let found: Vec<_> = legacy.iter().filter(|t| text.contains(*t)).collect();
    assert!(found.is_empty(), "still in clear: {found:?}");
    let again = crate::keys::app_with(&url, crate::keys::load(&path)).await;
    let reader = again.client();
    let r = reader.login("ducha3", crate::harness::PASSWORD).await;
    assert_eq!(r.status, 303);
    let page = reader.get(&format!("/cases/{case}")).await;
    for text in legacy.into_iter().chain([PROGRESS]) {
        assert!(page.body.contains(text), "{text} reads after the rotation");
    }
}
