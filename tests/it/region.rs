//! The public site by region (issue 12, DESIGN §5 and §11): a province, city or county by its code
//! under `/r/`, chosen from the home page down; a county shows its own days, a province or a city
//! the days of every level held within it, each labelled with its level and organiser.

use crate::harness::{Resp, TestApp};
use chrono::{Duration, NaiveDate};
use sqlx::PgPool;
use xiafang::clock::{Clock, china_date};
use xiafang::web::auth::Role;

const PROVINCIAL: &str = "省领导带头下访接访日";
const CITY: &str = "金华市领导定期接访日";
const PUJIANG: &str = "浦江县领导接访日";
const YIWU: &str = "义乌市领导接访日";
const XIHU: &str = "西湖区领导接访日";
const DRAFT: &str = "浦江县未公告接访日";

/// Public days of every level within 浙江省, all on one date 20 days ahead: the province's and
/// 金华市's hosted by 浦江县, 浦江县's and 义乌市's own, and one in 杭州市's 西湖区; and a draft.
struct World {
    owner: PgPool,
    day: NaiveDate,
    ids: Vec<(&'static str, i64)>,
}

impl World {
    fn month(&self) -> String {
        self.day.format("%Y-%m").to_string()
    }
    fn id(&self, title: &str) -> i64 {
        self.ids.iter().find(|(t, _)| *t == title).unwrap().1
    }
}

async fn world(app: &TestApp) -> World {
    let staff = app.user("xinfang", Role::Staff).await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    let leader: i64 = sqlx::query_scalar(
        "INSERT INTO leaders (name, title, level) VALUES ('陈建国', '县委书记', 'county') RETURNING id",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    let day = china_date(app.clock.now()) + Duration::days(20);
    let mut ids = Vec::new();
    for (title, host, organiser, published, starts) in [
        (PUJIANG, "330726", "330726", true, "08:00"),
        (CITY, "330726", "330700", true, "09:00"),
        (PROVINCIAL, "330726", "330000", true, "10:00"),
        (YIWU, "330782", "330782", true, "08:30"),
        (XIHU, "330106", "330106", true, "08:30"),
        (DRAFT, "330726", "330726", false, "14:00"),
    ] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO visits (county_id, organiser_id, title, level, lead_leader_id, visit_date, starts_at, venue, status, created_by)
             SELECT h.id, o.id, $3, o.level, $4, $5, $6::time, '便民服务中心', $7, $8
             FROM jurisdictions h, jurisdictions o WHERE h.code = $1 AND o.code = $2 RETURNING id",
        )
        .bind(host)
        .bind(organiser)
        .bind(title)
        .bind(leader)
        .bind(day)
        .bind(starts)
        .bind(if published { "announced" } else { "draft" })
        .bind(staff)
        .fetch_one(&owner)
        .await
        .unwrap();
        if published {
            sqlx::query(
                "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, published_at, published_by, created_by)
                 VALUES ($1, 'first', $2, '正文', ARRAY['政府网站'], current_date, 'published', now(), $3, $3)",
            )
            .bind(id)
            .bind(format!("关于{title}的公告"))
            .bind(staff)
            .execute(&owner)
            .await
            .unwrap();
        }
        ids.push((title, id));
    }
    World { owner, day, ids }
}

/// The names of the places offered to choose (a province's cities, a city's counties).
fn places(r: &Resp) -> Vec<String> {
    r.texts("ul.places > li > a.place")
}

/// The calendar's entry of `title`.
fn entry(r: &Resp, title: &str) -> String {
    r.texts("ol.calendar ul.cal-entries > li")
        .into_iter()
        .find(|e| e.contains(title))
        .unwrap_or_else(|| panic!("{title} on the calendar: {}", r.text("ol.calendar")))
}

#[tokio::test]
async fn a_province_page_lists_its_cities_and_a_city_its_counties() {
    let app = TestApp::spawn().await;
    let _w = world(&app).await;
    let public = app.client();

    let province = public.get("/r/330000").await;
    assert_eq!(province.status, 200);
    assert_eq!(province.text("h1"), "浙江省领导接访安排");
    let cities = places(&province);
    assert_eq!(cities.len(), 11, "浙江省's 11 cities: {cities:?}");
    assert!(cities[0].starts_with("杭州市"), "{cities:?}");
    // The places with coming days say so: 金华市 holds four, 杭州市 one.
    assert!(
        cities.contains(&"金华市 近期 4 场".to_string()),
        "{cities:?}"
    );
    assert!(
        cities.contains(&"杭州市 近期 1 场".to_string()),
        "{cities:?}"
    );
    assert!(
        province.body.contains("href=\"/r/330726\""),
        "counties one click away"
    );

    // A municipality's districts, not its GB/T 2260 grouping 市辖区.
    let beijing = places(&public.get("/r/110000").await);
    assert!(beijing.contains(&"东城区".to_string()), "{beijing:?}");
    assert!(!beijing.iter().any(|p| p.contains("市辖区")), "{beijing:?}");

    let city = public.get("/r/330700").await;
    assert_eq!(city.status, 200);
    let counties = places(&city);
    assert_eq!(counties.len(), 9, "金华市's counties: {counties:?}");
    assert!(
        counties.contains(&"浦江县 近期 3 场".to_string()),
        "{counties:?}"
    );
    assert!(
        counties.contains(&"义乌市 近期 1 场".to_string()),
        "{counties:?}"
    );
    assert!(
        counties
            .iter()
            .all(|c| !c.contains("西湖区") && !c.contains("杭州市"))
    );
    assert!(
        !city.body.contains(XIHU),
        "another city's day is not 金华市's"
    );
    assert_eq!(
        city.texts("nav.breadcrumbs li"),
        vec!["首页", "浙江省", "金华市"]
    );
}

#[tokio::test]
async fn a_county_page_shows_its_days_and_not_another_countys() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let public = app.client();
    let pujiang = public.get("/r/330726").await;
    assert_eq!(pujiang.status, 200);
    assert_eq!(
        pujiang.texts("nav.breadcrumbs li"),
        vec!["首页", "浙江省", "金华市", "浦江县"]
    );
    assert!(
        places(&pujiang).is_empty(),
        "a county is the end of the choice"
    );
    let coming = pujiang.text("#upcoming + ul");
    for title in [PROVINCIAL, CITY, PUJIANG] {
        assert!(coming.contains(title), "{title} in {coming}");
        let register = format!("href=\"/visits/{}/register\"", w.id(title));
        assert!(pujiang.body.contains(&register), "{register}");
    }
    for title in [YIWU, XIHU, DRAFT] {
        assert!(!pujiang.body.contains(title), "{title} is not 浦江县's");
    }
    let yiwu = public.get("/r/330782").await;
    assert!(yiwu.text("#upcoming + ul").contains(YIWU));
    for title in [PROVINCIAL, CITY, PUJIANG, XIHU] {
        assert!(!yiwu.body.contains(title), "{title} is not 义乌市's");
    }
    // The visit's own page leads back to its county.
    let visit = public.get(&format!("/visits/{}", w.id(PUJIANG))).await;
    assert_eq!(visit.status, 200);
    assert!(visit.body.contains("href=\"/r/330726\""), "{}", visit.body);
    assert_eq!(
        visit.texts("nav.breadcrumbs li"),
        vec!["首页", "浙江省", "金华市", "浦江县"]
    );
}

#[tokio::test]
async fn the_province_calendar_labels_every_level_with_its_organiser() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    // A cancelled day stays on the month, struck, and is not counted.
    sqlx::query("UPDATE visits SET status = 'cancelled' WHERE id = $1")
        .bind(w.id(XIHU))
        .execute(&w.owner)
        .await
        .unwrap();
    let r = app
        .client()
        .get(&format!("/r/330000?month={}", w.month()))
        .await;
    assert_eq!(r.status, 200);
    let label = |title: &str| {
        let e = entry(&r, title);
        (
            e.split_whitespace().next().unwrap_or("").to_string(),
            e.contains(&format!("{}组织", organiser(title))),
        )
    };
    assert_eq!(label(PROVINCIAL), ("省级".into(), true));
    assert_eq!(label(CITY), ("市级".into(), true));
    assert_eq!(label(PUJIANG), ("县级".into(), true));
    assert_eq!(label(YIWU), ("县级".into(), true));
    assert!(entry(&r, XIHU).contains("已取消"));
    assert!(!r.body.contains(DRAFT));
    // One date, the province's leaders first; the host's page one click away.
    assert_eq!(r.texts("ol.calendar > li").len(), 1);
    assert!(
        r.text("ol.calendar ul.cal-entries > li")
            .contains(PROVINCIAL)
    );
    assert!(entry(&r, PROVINCIAL).contains("浦江县"));
    assert!(r.body.contains("href=\"/r/330782\""));
    assert_eq!(
        r.texts(".tally-item"),
        vec!["省级 1 次", "市级 1 次", "县级 2 次"]
    );
    // Another month is empty, and says so.
    let empty = app
        .client()
        .get(&format!(
            "/r/330000?month={}",
            (w.day + Duration::days(62)).format("%Y-%m")
        ))
        .await;
    assert!(empty.text("#calendar").contains("暂无已公告的领导接访日"));
}

fn organiser(title: &str) -> &'static str {
    match title {
        PROVINCIAL => "浙江省",
        CITY => "金华市",
        PUJIANG => "浦江县",
        YIWU => "义乌市",
        _ => "西湖区",
    }
}

#[tokio::test]
async fn an_unknown_region_is_a_404_in_chinese() {
    let app = TestApp::spawn().await;
    let public = app.client();
    for path in ["/r/999999", "/r/abc", "/r/330726999", "/r/%27%20OR%201%3D1"] {
        let r = public.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.body.contains("页面不存在"), "{path}: {}", r.body);
    }
}

#[tokio::test]
async fn the_home_page_leads_down_province_city_county() {
    let app = TestApp::spawn().await;
    let _w = world(&app).await;
    let public = app.client();
    let home = public.get("/").await;
    assert_eq!(home.status, 200);
    assert_eq!(home.text(".chooser h3"), "浙江省");
    // Where days are held: 金华市 with its two counties, 杭州市 with 西湖区.
    assert_eq!(home.texts(".chooser-cities dt"), vec!["杭州市", "金华市"]);
    assert_eq!(
        home.texts(".chooser-cities dd a"),
        vec!["西湖区", "浦江县", "义乌市"]
    );
    // Every other province is one click away, without script.
    assert_eq!(home.texts("details.all-provinces li a").len(), 34);
    // Follow the links a citizen would: province, city, county.
    let mut r = home;
    for (name, next) in [("浙江省", "金华市"), ("金华市", "浦江县"), ("浦江县", "")]
    {
        let href = link(&r, name);
        r = public.get(&href).await;
        assert_eq!(r.status, 200, "{href}");
        assert_eq!(r.text("h1"), format!("{name}领导接访安排"));
        if !next.is_empty() {
            assert!(!link(&r, next).is_empty());
        }
    }
    assert!(r.text("#upcoming + ul").contains(PUJIANG));
}

/// The href of the first link whose text starts with `name`.
fn link(r: &Resp, name: &str) -> String {
    let doc = r.html();
    let sel = scraper::Selector::parse("main a").unwrap();
    doc.select(&sel)
        .find(|a| a.text().collect::<String>().trim().starts_with(name))
        .and_then(|a| a.value().attr("href"))
        .unwrap_or_else(|| panic!("a link to {name}"))
        .to_string()
}
