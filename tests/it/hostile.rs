//! Hostile input: markup typed into every free-text field comes back as text on every page and
//! in the export; SQL metacharacters in every filter change nothing.

use crate::harness::{Resp, TestApp};
use crate::register::{form, id_number, set, visit_on};
use chrono::Duration;
use scraper::Selector;
use sqlx::PgPool;
use xiafang::clock::Clock;
use xiafang::web::auth::Role;

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(1)>";

/// The page is served, runs nothing that was typed (no inline script, no event handler), and
/// shows each of `shown` as text (or as a form field's value).
fn assert_inert(r: &Resp, page: &str, shown: &[&str]) {
    assert_eq!(r.status, 200, "{page}: {}", r.body);
    let doc = r.html();
    let scripts = doc
        .select(&Selector::parse("script:not([src])").unwrap())
        .count();
    assert_eq!(scripts, 0, "{page}: an inline script element");
    let handlers = doc
        .root_element()
        .descendants()
        .filter_map(scraper::ElementRef::wrap)
        .any(|e| e.value().attrs().any(|(n, _)| n.starts_with("on")));
    assert!(
        !handlers,
        "{page}: an element with an event handler attribute"
    );
    assert!(
        !r.body.contains(SCRIPT) && !r.body.contains("<img src=x"),
        "{page}: markup unescaped"
    );
    let mut visible: String = doc.root_element().text().collect();
    for e in doc
        .root_element()
        .descendants()
        .filter_map(scraper::ElementRef::wrap)
    {
        for (_, v) in e.value().attrs() {
            visible.push_str(v);
        }
    }
    for s in shown {
        assert!(visible.contains(s), "{page} shows {s:?} as text");
    }
}

/// Up to `max` characters of a payload (fields with short limits get the start of it).
fn fit(payload: &str, tag: &str, max: usize) -> String {
    format!("{tag}{payload}").chars().take(max).collect()
}

#[tokio::test]
async fn markup_in_every_free_text_field_is_shown_as_text_everywhere() {
    let app = TestApp::spawn_with(|c| c.register_per_minute = 1000).await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    let v = visit_on(&app.url, app.clock.now(), &[20], None).await;
    // The visit's own texts as staff typed them, then its 一次公告 (published notices are immutable).
    sqlx::query("UPDATE visits SET title = $2, venue = $3, address = $4, scope = $5 WHERE id = $1")
        .bind(v.id)
        .bind(format!("下访{SCRIPT}"))
        .bind(format!("礼堂{IMG}"))
        .bind(format!("地址{SCRIPT}"))
        .bind(format!("范围{IMG}"))
        .execute(&owner)
        .await
        .unwrap();
    sqlx::query("UPDATE visits SET status = 'announced' WHERE id = $1")
        .bind(v.id)
        .execute(&owner)
        .await
        .unwrap();
    let notice: i64 = sqlx::query_scalar(
        "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, published_at, published_by, created_by)
         SELECT id, 'first', $2, $3, ARRAY['政府网站'], $4, 'published', $5, created_by, created_by FROM visits WHERE id = $1 RETURNING id",
    )
    .bind(v.id)
    .bind(format!("公告{SCRIPT}"))
    .bind(format!("正文{IMG}"))
    .bind(v.date - Duration::days(12))
    .bind(app.clock.now() - Duration::days(1))
    .fetch_one(&owner)
    .await
    .unwrap();
    let cat: i64 = sqlx::query_scalar("SELECT id FROM categories WHERE name = '城乡建设' AND parent_id IS NOT NULL ORDER BY id LIMIT 1")
        .fetch_one(&owner)
        .await
        .unwrap();

    // A citizen types markup into every free-text field of the registration form.
    let citizen = app.client();
    let token = citizen
        .get(&format!("/visits/{}/register", v.id))
        .await
        .field_value("form_token");
    let (id, c, w) = (id_number(7), cat.to_string(), v.windows[0].to_string());
    let (name, township) = (fit(SCRIPT, "张", 50), fit(IMG, "乡", 30));
    let (address, reps, grievance) = (
        format!("住址{IMG}"),
        format!("代表{SCRIPT}\n代表{IMG}"),
        format!("诉求{SCRIPT}{IMG}"),
    );
    let mut f = form(&token, &id, &c, &w);
    for (k, val) in [
        ("name", &name),
        ("township", &township),
        ("address", &address),
        ("representatives", &reps),
        ("grievance", &grievance),
    ] {
        set(&mut f, k, val);
    }
    set(&mut f, "persons", "8");
    let r = citizen
        .post_verified(&format!("/visits/{}/register", v.id), &f)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let receipt = citizen.get(r.location()).await;
    assert_inert(&receipt, "receipt", &[&name]);
    let reg: i64 = sqlx::query_scalar("SELECT id FROM registrations WHERE visit_id = $1")
        .bind(v.id)
        .fetch_one(&owner)
        .await
        .unwrap();

    // Staff type markup into rooms, survey items and a reject reason.
    let staff = app.signed_in("xinfang", Role::Staff).await;
    let (room, location) = (fit(IMG, "室", 30), format!("位置{SCRIPT}"));
    let r = staff
        .post(
            &format!("/staff/visits/{}/rooms", v.id),
            &[
                ("name", &room),
                ("location", &location),
                ("category_ids", &c),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let survey = [
        ("township", fit(SCRIPT, "镇", 30)),
        ("village", fit(IMG, "村", 30)),
        ("reporter", format!("人{SCRIPT}")),
        ("category_id", c.clone()),
        ("summary", format!("摘要{IMG}")),
        ("background", format!("背景{SCRIPT}")),
        ("policy_basis", format!("依据{IMG}")),
        ("proposed_handling", format!("意见{SCRIPT}")),
    ];
    let body: Vec<(&str, &str)> = survey.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = staff
        .post(&format!("/staff/visits/{}/survey", v.id), &body)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let item: i64 = sqlx::query_scalar("SELECT id FROM survey_items WHERE visit_id = $1")
        .bind(v.id)
        .fetch_one(&owner)
        .await
        .unwrap();
    // A second registration, rejected with a hostile reason.
    let token = citizen
        .get(&format!("/visits/{}/register", v.id))
        .await
        .field_value("form_token");
    let id2 = id_number(8);
    let r = citizen
        .post_verified(
            &format!("/visits/{}/register", v.id),
            &form(&token, &id2, &c, &w),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let reg2: i64 =
        sqlx::query_scalar("SELECT id FROM registrations WHERE visit_id = $1 AND id <> $2")
            .bind(v.id)
            .bind(reg)
            .fetch_one(&owner)
            .await
            .unwrap();
    let reason = format!("驳回{IMG}");
    let r = staff
        .post(
            &format!("/staff/visits/{}/registrations/{reg2}/reject", v.id),
            &[("reason", reason.as_str())],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = staff
        .post(
            &format!("/staff/visits/{}/registrations/{reg}/confirm", v.id),
            &[],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = staff
        .post(&format!("/staff/visits/{}/schedule/run", v.id), &[])
        .await;
    assert!(r.status == 303, "{}", r.body);

    let title = format!("下访{SCRIPT}");
    // The list masks names (张某某); the registration's own page shows it in full.
    let masked = xiafang::privacy::mask_name(&name);
    let pages: Vec<(String, Vec<&str>)> = vec![
        (
            format!("/staff/visits/{}/registrations", v.id),
            vec![&masked, &township],
        ),
        (
            format!("/staff/visits/{}/registrations/{reg}", v.id),
            vec![&name, &township, &address, &grievance, "代表<script>"],
        ),
        (
            format!("/staff/visits/{}/registrations/{reg2}", v.id),
            vec![&reason],
        ),
        (
            format!("/staff/visits/{}/survey", v.id),
            vec![&survey[0].1, &survey[4].1],
        ),
        (
            format!("/staff/visits/{}/survey/{item}", v.id),
            survey
                .iter()
                .filter(|(k, _)| *k != "category_id")
                .map(|(_, v)| v.as_str())
                .collect(),
        ),
        (format!("/staff/visits/{}/schedule", v.id), vec![&room]),
        (
            format!("/staff/visits/{}/rooms", v.id),
            vec![&room, &location],
        ),
        (format!("/staff/visits/{}", v.id), vec![&title]),
        ("/staff/visits".into(), vec![&title]),
    ];
    for (page, shown) in &pages {
        assert_inert(&staff.get(page).await, page, shown);
    }
    let public = app.client();
    let venue = format!("礼堂{IMG}");
    let public_pages: Vec<(String, Vec<&str>)> = vec![
        ("/".into(), vec![&title]),
        (format!("/visits/{}", v.id), vec![&title, &venue]),
        (format!("/notices/{notice}"), vec!["公告<script>"]),
        (format!("/notices/{notice}/print"), vec!["公告<script>"]),
        (format!("/visits/{}/board", v.id), vec![&room]),
        (format!("/visits/{}/register", v.id), vec![&title]),
    ];
    for (page, shown) in &public_pages {
        assert_inert(&public.get(page).await, page, shown);
    }

    // The export holds the literal text in its cells.
    let (status, rows) = crate::fixtures::xlsx(
        &app,
        &staff,
        &format!("/staff/visits/{}/registrations.xlsx", v.id),
        "来访登记",
    )
    .await;
    assert_eq!(status, 200);
    let cells: Vec<String> = rows.into_iter().flatten().collect();
    for s in [&name, &township] {
        assert!(
            cells.iter().any(|c| c == s.as_str()),
            "a cell holds {s:?} literally: {cells:?}"
        );
    }
}

const SQL: [&str; 6] = [
    "' OR 1=1 --",
    "%",
    "_",
    "\\",
    "1' OR '1'='1",
    "%' OR 1=1; DROP TABLE registrations; --",
];

/// 200 with no more rows than the unfiltered page, or a clear Chinese 400/422; never 5xx.
fn assert_harmless(r: &Resp, what: &str, rows: &str, baseline: usize) {
    match r.status {
        200 => assert!(
            r.texts(rows).len() <= baseline,
            "{what}: more rows than without a filter"
        ),
        400 | 422 => assert!(
            r.body
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
                && r.body.contains("<html"),
            "{what}: {}",
            r.body
        ),
        s => panic!("{what}: status {s}: {}", r.body),
    }
}

#[tokio::test]
async fn sql_metacharacters_in_every_filter_change_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.register_per_minute = 1000;
        c.lookup_per_minute = 1000;
    })
    .await;
    let v = visit_on(&app.url, app.clock.now(), &[20], Some(Duration::days(-1))).await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    let cat: i64 = sqlx::query_scalar("SELECT id FROM categories WHERE name = '城乡建设' AND parent_id IS NOT NULL ORDER BY id LIMIT 1")
        .fetch_one(&owner)
        .await
        .unwrap();
    let citizen = app.client();
    let mut code = String::new();
    for n in 0..3 {
        let token = citizen
            .get(&format!("/visits/{}/register", v.id))
            .await
            .field_value("form_token");
        let r = citizen
            .post_verified(
                &format!("/visits/{}/register", v.id),
                &form(
                    &token,
                    &id_number(20 + n),
                    &cat.to_string(),
                    &v.windows[0].to_string(),
                ),
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        code = r
            .location()
            .trim_start_matches("/registrations/")
            .to_owned();
    }

    let staff = app.signed_in("xinfang", Role::Staff).await;
    let triage = format!("/staff/visits/{}/registrations", v.id);
    let baseline = staff.get(&triage).await.texts("table.data tbody tr").len();
    assert!(baseline >= 3);
    for param in ["window", "category", "status", "flags", "township", "page"] {
        for s in SQL {
            let q = serde_urlencoded::to_string([(param, s)]).unwrap();
            let r = staff.get(&format!("{triage}?{q}")).await;
            assert_harmless(
                &r,
                &format!("triage {param}={s}"),
                "table.data tbody tr",
                baseline,
            );
            let x = staff
                .http
                .post(format!("{}{triage}.xlsx", app.origin()))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(q.clone())
                .send()
                .await
                .unwrap();
            assert!(
                x.status().as_u16() < 500,
                "export {param}={s}: {}",
                x.status()
            );
        }
    }

    let auditor = app.signed_in("shenji", Role::Auditor).await;
    let audit_baseline = auditor
        .get("/audit")
        .await
        .texts("table.data tbody tr")
        .len();
    for param in ["action", "actor", "outcome", "from", "to", "page"] {
        for s in SQL {
            let q = serde_urlencoded::to_string([(param, s)]).unwrap();
            let r = auditor.get(&format!("/audit?{q}")).await;
            // The audit log grows as we read it (logins): compare with a generous baseline.
            assert_harmless(
                &r,
                &format!("audit {param}={s}"),
                "table.data tbody tr",
                audit_baseline + 10,
            );
        }
    }

    let public = app.client();
    for s in SQL {
        let q = serde_urlencoded::to_string([("month", s)]).unwrap();
        assert_harmless(
            &public.get(&format!("/schedule?{q}")).await,
            &format!("schedule month={s}"),
            "table tbody tr",
            usize::MAX,
        );
        let r = public
            .post("/lookup", &[("code", s), ("phone_last4", s)])
            .await;
        assert!(
            r.status < 500 && !r.body.contains("138****"),
            "lookup {s}: {}",
            r.status
        );
        let r = public
            .post("/lookup", &[("code", &code), ("phone_last4", s)])
            .await;
        assert!(
            r.status < 500 && !r.body.contains("138****"),
            "lookup {code}/{s}: {}",
            r.status
        );
        let r = public.get(&format!("/visits/{}", urlencode(s))).await;
        assert!(r.status == 404 || r.status == 400, "path {s}: {}", r.status);
        assert!(
            r.body.contains("<html"),
            "a Chinese page, not axum's plain text: {}",
            r.body
        );
    }
    let still: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(still, 3);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
