//! Every signed-in page passes axe-core (issue 16): each HTML GET route of the route table, once,
//! as the first role its row allows, signed in as that role's demo account on the Pujiang demo day
//! (a batch at a table) with demo ids, in a desktop window and on a 375-px phone (where wide
//! tables scroll). No serious or critical violation (nor `region`); one run lists every page that
//! fails, with its violations. Each page leaves a screenshot under target/screenshots/.

use crate::accessibility_browser::{axe_violations, goto};
use crate::browser::Browser;
use crate::harness::{TestApp, test_keys};
use crate::route_walk::{Ids, concrete};
use axum::http::Method;
use sqlx::PgPool;
use xiafang::demo::{COUNTY_A, DEMO_ACCOUNTS, DEMO_PASSWORD, pujiang};
use xiafang::routes::routes;
use xiafang::web::auth::{Access, Role};

/// The skip rule: routes that answer a file, not a page — by extension (.xlsx, .zip, .pdf, .csv,
/// .json), the JSON API (`/api/…`), `/metrics`, and a case's two downloads whose paths have no
/// extension (an attachment, the archive). Every other signed-in GET route must answer HTML.
fn is_download(path: &str) -> bool {
    const EXTENSIONS: [&str; 5] = [".xlsx", ".zip", ".pdf", ".csv", ".json"];
    const FILES: [&str; 2] = [
        "/cases/{id}/attachments/{attachment}",
        "/cases/{id}/archive",
    ];
    EXTENSIONS.iter().any(|e| path.ends_with(e))
        || path.starts_with("/api/")
        || path == "/metrics"
        || FILES.contains(&path)
}

/// The pages of the walk: every signed-in GET route that answers HTML, with the role to see it as
/// (the first of `Role::ALL` its row allows).
fn pages() -> Vec<(Role, &'static str)> {
    routes()
        .into_iter()
        .filter(|r| {
            r.method == Method::GET && !matches!(r.access, Access::Public) && !is_download(r.path)
        })
        .map(|r| {
            let role = Role::ALL
                .into_iter()
                .find(|role| r.access.allows(Some(*role)))
                .unwrap_or_else(|| panic!("{}: no role may see it", r.path));
            (role, r.path)
        })
        .collect()
}

/// The one id `sql` selects with `$1` bound to `param` (an id, or a name or code).
async fn one<P>(db: &PgPool, sql: &str, param: P) -> i64
where
    P: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    sqlx::query_scalar(sql)
        .bind(param)
        .fetch_one(db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The demo's objects: the Pujiang day (its visit, a batch in a room's queue, that room), and the
/// first county's history (a survey item, a case with a document, a leader, accounts).
async fn demo_ids(db: &PgPool, visit: i64) -> Ids {
    let county = one(db, "SELECT id FROM jurisdictions WHERE code = $1", COUNTY_A).await;
    let (case, case_code): (i64, String) = sqlx::query_as(
        "SELECT c.id, c.code FROM cases c JOIN visits v ON v.id = c.visit_id
         WHERE v.county_id = $1 AND EXISTS (SELECT 1 FROM documents d WHERE d.case_id = c.id)
         ORDER BY c.id LIMIT 1",
    )
    .bind(county)
    .fetch_one(db)
    .await
    .unwrap();
    let reg = one(
        db,
        "SELECT id FROM registrations WHERE visit_id = $1 AND queue_number IS NOT NULL
         ORDER BY room_id, queue_number LIMIT 1",
        visit,
    )
    .await;
    let account = |username: &'static str, column: &'static str| async move {
        one(
            db,
            &format!("SELECT {column} FROM users WHERE username = $1"),
            username,
        )
        .await
    };
    Ids {
        visit,
        notice: one(db, "SELECT min(id) FROM notices WHERE visit_id = $1", visit).await,
        reg,
        room: one(db, "SELECT room_id FROM registrations WHERE id = $1", reg).await,
        window: one(db, "SELECT min(id) FROM reception_windows WHERE visit_id = $1", visit).await,
        item: one(
            db,
            "SELECT min(s.id) FROM survey_items s JOIN visits v ON v.id = s.visit_id WHERE v.county_id = $1",
            county,
        )
        .await,
        // Only POST routes take these: the walk never opens them.
        flag: 0,
        attachment: 0,
        token: 0,
        case,
        case_code,
        document: one(db, "SELECT min(id) FROM documents WHERE case_id = $1", case).await,
        leader: account("lingdao", "leader_id").await,
        user: account("xinfang", "id").await,
        department: one(db, "SELECT min(id) FROM departments WHERE jurisdiction_id = $1", county).await,
        category: one(db, "SELECT min(id) FROM categories WHERE name = $1", "城乡建设").await,
    }
}

/// The HTTP status and content type of the page shown.
async fn answered(b: &Browser) -> (i64, String) {
    let v: (i64, String) = b
        .driver
        .execute(
            "return [performance.getEntriesByType('navigation')[0].responseStatus, document.contentType];",
            vec![],
        )
        .await
        .unwrap()
        .convert()
        .unwrap();
    v
}

/// The day under way: the first batch checks in and is called to its room's table, so the desk
/// shows its record form, the day and the report their first counts.
async fn day_under_way(app: &TestApp, visit: i64, ids: &Ids) {
    let staff = app.client();
    let signed_in = staff
        .post(
            "/login",
            &[("username", "xinfang"), ("password", DEMO_PASSWORD)],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    let checked_in = staff
        .post(&format!("/staff/visits/{visit}/checkin/{}", ids.reg), &[])
        .await;
    assert_eq!(checked_in.status, 303, "{}", checked_in.body);
    let desk = format!("/staff/visits/{visit}/rooms/{}/desk", ids.room);
    assert_eq!(staff.post(&format!("{desk}/call"), &[]).await.status, 303);
    // Its reception is recorded (so 更正接谈记录 has a record to show), and the next batch of the
    // room is called to the table.
    let category = ids.category.to_string();
    let record = [
        ("statement", "反映宅基地审批久拖未决"),
        ("i0_category", category.as_str()),
        ("i0_summary", "宅基地审批"),
        ("i0_outcome", "explained"),
    ];
    let recorded = staff
        .post(&format!("{desk}/{}/record", ids.reg), &record)
        .await;
    assert_eq!(recorded.status, 303, "{}", recorded.body);
    let next: i64 = sqlx::query_scalar(
        "SELECT id FROM registrations WHERE room_id = $1 AND id <> $2 AND queue_number IS NOT NULL
         ORDER BY queue_number LIMIT 1",
    )
    .bind(ids.room)
    .bind(ids.reg)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let checked_in = staff
        .post(&format!("/staff/visits/{visit}/checkin/{next}"), &[])
        .await;
    assert_eq!(checked_in.status, 303, "{}", checked_in.body);
    assert_eq!(staff.post(&format!("{desk}/call"), &[]).await.status, 303);
}

/// The demo ids for each route: a survey item's pages are under its own visit; a visit under way
/// can no longer be edited, the upcoming one can; everything else is the Pujiang day.
struct World {
    day: Ids,
    survey: Ids,
    upcoming: Ids,
}

impl World {
    async fn of(db: &PgPool, visit: i64) -> World {
        let day = demo_ids(db, visit).await;
        let item_visit = one(
            db,
            "SELECT visit_id FROM survey_items WHERE id = $1",
            day.item,
        )
        .await;
        let upcoming = one(
            db,
            "SELECT v.id FROM visits v JOIN jurisdictions j ON j.id = v.county_id
             WHERE v.status = 'announced' AND NOT v.duty AND j.code = $1 ORDER BY v.id LIMIT 1",
            COUNTY_A,
        )
        .await;
        let other_visit = |visit| Ids {
            visit,
            case_code: day.case_code.clone(),
            ..day
        };
        World {
            survey: other_visit(item_visit),
            upcoming: other_visit(upcoming),
            day,
        }
    }

    fn ids(&self, route: &str) -> &Ids {
        if route.contains("{item}") {
            &self.survey
        } else if route.ends_with("/edit") {
            &self.upcoming
        } else {
            &self.day
        }
    }
}

/// Every page of `pages` in a fresh Chromium (`phone`: 375 px wide, where wide tables scroll), as
/// its role's demo account; what is wrong, one line each.
async fn walk(
    app: &TestApp,
    w: &World,
    pages: &[(Role, &'static str)],
    phone: bool,
) -> Vec<String> {
    let width = if phone { "phone" } else { "desktop" };
    let b = Browser::start(phone).await;
    let mut found = Vec::new();
    for role in Role::ALL {
        let mine: Vec<&str> = pages
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, p)| *p)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let (username, ..) = DEMO_ACCOUNTS
            .iter()
            .find(|(_, _, r, county)| *r == role && *county == COUNTY_A)
            .unwrap();
        b.log_in(app, username, DEMO_PASSWORD).await;
        for route in mine {
            let Some(page) = concrete(w.ids(route), route) else {
                continue;
            };
            let what = format!("{width} {role:?} {}", page.path);
            goto(&b, app, &page.path).await;
            let (status, content_type) = answered(&b).await;
            let shown = b.driver.current_url().await.unwrap().path().to_owned();
            if shown != page.path {
                found.push(format!("{what}: led to {shown}"));
                continue;
            }
            let name = route.trim_matches('/').replace(['/', '{', '}'], "-");
            b.screenshot(&format!("signed-in-{width}-{}-{name}", role.as_str()))
                .await;
            if (status, content_type.as_str()) != (200, "text/html") {
                found.push(format!("{what}: {status} {content_type}"));
                continue;
            }
            for v in axe_violations(&b).await {
                found.push(format!("{what} ({route}): {v}"));
            }
        }
    }
    b.quit().await;
    found
}

#[tokio::test]
async fn every_signed_in_page_passes_axe_as_a_role_that_may_see_it() {
    let app = TestApp::spawn_with(|c| c.demo_mode = true).await;
    let visit = pujiang::seed(&app.db, &*app.clock, &test_keys())
        .await
        .unwrap();
    app.state.refresh_demo_flag().await.unwrap();
    let world = World::of(&app.db, visit).await;
    day_under_way(&app, visit, &world.day).await;
    let pages = pages();
    assert!(
        pages.len() >= 40,
        "the table's signed-in pages: {}",
        pages.len()
    );
    let mut found = walk(&app, &world, &pages, false).await;
    found.extend(walk(&app, &world, &pages, true).await);
    assert!(
        found.is_empty(),
        "{} findings:\n{}",
        found.len(),
        found.join("\n")
    );
}
