//! The county's duty rota (值守接访, issue 12, DESIGN §11): staff generate a month's duty days in
//! turn over the working days, set a day by hand, the days appear on the public monthly schedule,
//! a citizen registers for one; another county's staff get 404; bad days are refused beside them.

use crate::harness::{Client, PASSWORD, TestApp};
use chrono::{NaiveDate, TimeZone, Utc};
use sqlx::PgPool;
use xiafang::clock::Clock;
use xiafang::web::auth::Role;

const COUNTY_A: &str = "330726";
const COUNTY_B: &str = "330782";
const CITY: &str = "330700";

struct Rota {
    owner: PgPool,
    a: i64,
    a_name: String,
    /// County A's county-level leaders, in the order the rota takes them.
    leaders: [i64; 3],
    b_leader: i64,
    staff: Client,
}

/// 2026-09-25 in China: October 2026 (国庆节, 调休 Saturday 10 October) lies ahead.
async fn setup(app: &TestApp) -> Rota {
    let at = Utc.with_ymd_and_hms(2026, 9, 25, 1, 0, 0).unwrap();
    app.clock.advance(at - app.clock.now());
    let owner = PgPool::connect(&app.url).await.unwrap();
    let county = |code: &'static str| {
        let o = owner.clone();
        async move {
            sqlx::query_as::<_, (i64, String)>("SELECT id, name FROM jurisdictions WHERE code = $1")
                .bind(code)
                .fetch_one(&o)
                .await
                .unwrap()
        }
    };
    let (a, a_name) = county(COUNTY_A).await;
    let (b, _) = county(COUNTY_B).await;
    let mut leaders = [0; 3];
    for (i, (name, title)) in [
        ("陈建国", "县委书记"),
        ("王立新", "县长"),
        ("李华", "常务副县长"),
    ]
    .into_iter()
    .enumerate()
    {
        leaders[i] = leader(&owner, name, title, a).await;
    }
    // Neither of these is on A's rota: a township leader of A, and B's mayor.
    sqlx::query("INSERT INTO leaders (name, title, level, county_id) VALUES ('周乡长', '乡长', 'township', $1)")
        .bind(a)
        .execute(&owner)
        .await
        .unwrap();
    let b_leader = leader(&owner, "赵强", "市长", b).await;
    let staff = member(app, &owner, "xinfang_a", Role::Staff, COUNTY_A).await;
    Rota {
        owner,
        a,
        a_name,
        leaders,
        b_leader,
        staff,
    }
}

async fn leader(owner: &PgPool, name: &str, title: &str, county: i64) -> i64 {
    sqlx::query_scalar("INSERT INTO leaders (name, title, level, county_id) VALUES ($1, $2, 'county', $3) RETURNING id")
        .bind(name)
        .bind(title)
        .bind(county)
        .fetch_one(owner)
        .await
        .unwrap()
}

/// An account of the jurisdiction `code`, signed in.
async fn member(app: &TestApp, owner: &PgPool, username: &str, role: Role, code: &str) -> Client {
    let id = app.user(username, role).await;
    sqlx::query("UPDATE users SET jurisdiction_id = (SELECT id FROM jurisdictions WHERE code = $2) WHERE id = $1")
        .bind(id)
        .bind(code)
        .execute(owner)
        .await
        .unwrap();
    let client = app.client();
    let r = client.login(username, PASSWORD).await;
    assert_eq!(r.status, 303, "login of {username}: {}", r.body);
    client
}

/// County A's duty days: (date, visit, lead leader).
async fn duty_days(r: &Rota) -> Vec<(NaiveDate, i64, i64)> {
    sqlx::query_as(
        "SELECT visit_date, id, lead_leader_id FROM visits WHERE duty AND county_id = $1 AND status <> 'cancelled' ORDER BY visit_date",
    )
    .bind(r.a)
    .fetch_all(&r.owner)
    .await
    .unwrap()
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn generate(r: &Rota, month: &str) {
    let a = r.a.to_string();
    let res = r
        .staff
        .post("/staff/duty/generate", &[("county", &a), ("month", month)])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
}

#[tokio::test]
async fn a_months_rota_is_generated_in_turn_on_working_days_set_by_hand_published_and_registered_for()
 {
    let app = TestApp::spawn().await;
    let r = setup(&app).await;
    let a = r.a.to_string();
    let page = r.staff.get("/staff/duty?month=2026-10").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&r.a_name) && page.body.contains("调休上班"));

    generate(&r, "2026-10").await;
    let days = duty_days(&r).await;
    // 1–7 October are the National Day holiday, 10 October (a Saturday) is worked.
    let mut working = vec![d("2026-10-08"), d("2026-10-09"), d("2026-10-10")];
    for week in [12, 19, 26] {
        working.extend((week..week + 5).map(|n| NaiveDate::from_ymd_opt(2026, 10, n).unwrap()));
    }
    assert_eq!(days.iter().map(|x| x.0).collect::<Vec<_>>(), working);
    let turn: Vec<i64> = days.iter().map(|x| x.2).collect();
    assert_eq!(
        &turn[..4],
        &[r.leaders[0], r.leaders[1], r.leaders[2], r.leaders[0]]
    );
    // Each day is a reception day: announced, its leader seated in its one room, windows open.
    let (status, seated, windows): (String, i64, i64) = sqlx::query_as(
        "SELECT v.status, (SELECT rl.leader_id FROM room_leaders rl JOIN rooms m ON m.id = rl.room_id WHERE m.visit_id = v.id),
                (SELECT count(*) FROM reception_windows w WHERE w.visit_id = v.id)
         FROM visits v WHERE v.id = $1",
    )
    .bind(days[2].1)
    .fetch_one(&r.owner)
    .await
    .unwrap();
    assert_eq!((status.as_str(), seated), ("announced", r.leaders[2]));
    assert!(windows >= 8, "{windows} windows");
    // Generating again fills nothing already set.
    generate(&r, "2026-10").await;
    assert_eq!(duty_days(&r).await.len(), working.len());

    // By hand: another leader on 9 October; the visit, its room and a correction notice follow.
    let lihua = r.leaders[2].to_string();
    let res = r
        .staff
        .post(
            "/staff/duty",
            &[
                ("county", &a),
                ("month", "2026-10"),
                ("day_2026-10-09", &lihua),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let ninth = duty_days(&r).await[1];
    assert_eq!(ninth.2, r.leaders[2]);
    let (seated, corrections): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT rl.leader_id FROM room_leaders rl JOIN rooms m ON m.id = rl.room_id WHERE m.visit_id = $1),
                (SELECT count(*) FROM notices WHERE visit_id = $1 AND kind = 'correction' AND status = 'published')",
    )
    .bind(ninth.1)
    .fetch_one(&r.owner)
    .await
    .unwrap();
    assert_eq!((seated, corrections), (r.leaders[2], 1));
    let shown = r.staff.get(res.location()).await;
    assert!(shown.body.contains("李华（常务副县长）"));

    // The public monthly schedule (每月领导接访安排) shows the days, labelled, with their leader.
    let citizen = app.client();
    let schedule = citizen.get("/schedule?month=2026-10").await;
    assert_eq!(schedule.status, 200);
    let ninth_row = schedule
        .texts(".visit-list li")
        .into_iter()
        .find(|t| t.contains("2026年10月9日"))
        .expect("9 October on the schedule");
    assert!(
        ninth_row.contains("领导值守接访") && ninth_row.contains("李华"),
        "{ninth_row}"
    );
    assert!(
        ninth_row.contains("社会矛盾纠纷调处化解中心"),
        "{ninth_row}"
    );
    assert!(
        !schedule.body.contains("2026年10月17日"),
        "no duty on a rest day"
    );

    // A citizen registers for 12 October through the public form and gets a 登记编号.
    let twelfth = duty_days(&r).await[3].1;
    let form_page = citizen.get(&format!("/visits/{twelfth}/register")).await;
    assert_eq!(form_page.status, 200, "{}", form_page.body);
    let token = form_page.field_value("form_token");
    let (window, category): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT id FROM reception_windows WHERE visit_id = $1 ORDER BY starts_at LIMIT 1),
                (SELECT id FROM categories WHERE name = '城乡建设' AND parent_id IS NOT NULL ORDER BY id LIMIT 1)",
    )
    .bind(twelfth)
    .fetch_one(&r.owner)
    .await
    .unwrap();
    let id = crate::fixtures::id_number("33072619800101001");
    let (w, c) = (window.to_string(), category.to_string());
    let res = citizen
        .post_verified(
            &format!("/visits/{twelfth}/register"),
            &crate::register::form(&token, &id, &c, &w),
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let receipt = citizen.get(res.location()).await;
    assert!(receipt.body.contains("登记编号") && !receipt.text("#code").is_empty());

    // A day someone registered for is not withdrawn behind their back.
    let res = r
        .staff
        .post(
            "/staff/duty",
            &[("county", &a), ("month", "2026-10"), ("day_2026-10-12", "")],
        )
        .await;
    assert_eq!(res.status, 422);
    assert!(
        res.field_error("day_2026-10-12").contains("已有 1 人登记"),
        "{}",
        res.body
    );
    assert_eq!(duty_days(&r).await.len(), working.len());
    // One without registrations is: its visit is cancelled (with its notice), the day is free again.
    let res = r
        .staff
        .post(
            "/staff/duty",
            &[("county", &a), ("month", "2026-10"), ("day_2026-10-13", "")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(duty_days(&r).await.len(), working.len() - 1);
}

#[tokio::test]
async fn another_countys_staff_get_404_for_the_rota_and_a_city_picks_its_county() {
    let app = TestApp::spawn().await;
    let r = setup(&app).await;
    generate(&r, "2026-10").await;
    let a = r.a.to_string();
    let visit = duty_days(&r).await[0].1;
    let b = member(&app, &r.owner, "xinfang_b", Role::Staff, COUNTY_B).await;
    let day = [
        ("county", a.as_str()),
        ("month", "2026-10"),
        ("day_2026-10-20", ""),
    ];
    for res in [
        b.get(&format!("/staff/duty?county={a}&month=2026-10"))
            .await,
        b.post("/staff/duty", &day).await,
        b.post("/staff/duty/generate", &day[..2]).await,
        b.get(&format!("/staff/visits/{visit}")).await,
    ] {
        assert_eq!(res.status, 404);
        assert!(!res.body.contains("陈建国"), "{}", res.body);
    }
    assert_eq!(duty_days(&r).await.len(), 18, "nothing changed");
    // B's own rota: B's leader, none of A's.
    let own = b.get("/staff/duty?month=2026-10").await;
    assert_eq!(own.status, 200);
    assert!(own.body.contains("赵强") && !own.body.contains("陈建国"));

    let city = member(&app, &r.owner, "xinfang_shi", Role::Staff, CITY).await;
    let pick = city.get("/staff/duty?month=2026-10").await;
    assert_eq!(pick.status, 200);
    assert!(pick.body.contains("请先选择要安排值守接访的区县"));
    assert!(pick.texts("#f-county option").contains(&r.a_name));
    let rota = city
        .get(&format!("/staff/duty?county={a}&month=2026-10"))
        .await;
    assert!(rota.body.contains("陈建国（县委书记）"));
}

#[tokio::test]
async fn a_rest_day_an_unknown_leader_and_another_countys_leader_are_refused_beside_the_day() {
    let app = TestApp::spawn().await;
    let r = setup(&app).await;
    let a = r.a.to_string();
    let (chen, wang, b_leader) = (
        r.leaders[0].to_string(),
        r.leaders[1].to_string(),
        r.b_leader.to_string(),
    );
    let res = r
        .staff
        .post(
            "/staff/duty",
            &[
                ("county", &a),
                ("month", "2026-10"),
                ("day_2026-10-17", &chen),
                ("day_2026-10-05", &chen),
                ("day_2026-10-13", "99999999"),
                ("day_2026-10-14", &b_leader),
                ("day_2026-10-15", &wang),
            ],
        )
        .await;
    assert_eq!(res.status, 422, "{}", res.body);
    assert_eq!(
        res.field_error("day_2026-10-17"),
        "2026年10月17日（星期六）是休息日，不安排值守接访"
    );
    assert_eq!(
        res.field_error("day_2026-10-05"),
        "2026年10月5日（星期一）是休息日，不安排值守接访"
    );
    assert_eq!(res.field_error("day_2026-10-13"), "请从列表中选择值守领导");
    assert_eq!(
        res.field_error("day_2026-10-14"),
        format!("所选领导不是{}在任的县级领导，不能在此值守", r.a_name)
    );
    assert!(
        !res.body.contains("赵强"),
        "another county's leader is not named"
    );
    // The valid day keeps its choice, and nothing was written.
    assert_eq!(
        res.text("#f-day_2026-10-15 option[selected]"),
        "王立新（县长）"
    );
    assert_eq!(res.field_error("day_2026-10-15"), "");
    assert!(duty_days(&r).await.is_empty());
    // A past day cannot be set either (today is 25 September).
    let res = r
        .staff
        .post(
            "/staff/duty",
            &[
                ("county", &a),
                ("month", "2026-09"),
                ("day_2026-09-24", &chen),
            ],
        )
        .await;
    assert_eq!(res.status, 422);
    assert!(res.field_error("day_2026-09-24").contains("已到或已过"));
}
