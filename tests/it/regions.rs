//! Issue 12's shipped data and the five levels: the jurisdiction tree (GB/T 2260 and townships
//! imported with `xiafang regions import-townships`), the State Council's holidays in the working-day
//! calendar, and cadence compliance counting every leader who received people.

use crate::harness::TestApp;
use chrono::{Duration, NaiveDate};
use sqlx::PgPool;
use std::process::{Command, Output};
use xiafang::clock::{Clock, china_date};
use xiafang::followup::workdays::Calendar;
use xiafang::web::auth::Role;

#[tokio::test]
async fn the_shipped_tree_has_34_provinces_and_zhejiang_jinhua_pujiang() {
    let app = TestApp::spawn().await;
    let provinces: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jurisdictions WHERE level = 'province' AND parent_id IS NULL",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(provinces, 34, "31 provinces with 台湾省, 香港 and 澳门");
    let chain: (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT c.name, c.level, c.government, p.code, p.name, p.level, g.code, g.name
             FROM jurisdictions c JOIN jurisdictions p ON p.id = c.parent_id
             JOIN jurisdictions g ON g.id = p.parent_id
             WHERE c.code = '330726' AND g.parent_id IS NULL",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        chain,
        (
            "浦江县".into(),
            "county".into(),
            "浦江县人民政府".into(),
            "330700".into(),
            "金华市".into(),
            "city".into(),
            "330000".into(),
            "浙江省".into()
        )
    );
}

/// A scratch directory of this test run.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xf-regions-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `xiafang regions import-townships FILE` on this test's database.
async fn import(app: &TestApp, file: &std::path::Path) -> Output {
    let url = crate::harness::app_url(&app.url).await;
    Command::new(env!("CARGO_BIN_EXE_xiafang"))
        .args(["regions", "import-townships"])
        .arg(file)
        .env("DATABASE_URL", url)
        .env("XIAFANG_DATA_DIR", scratch("data"))
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

async fn townships(db: &PgPool, county: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM jurisdictions t JOIN jurisdictions c ON c.id = t.parent_id
         WHERE t.level = 'township' AND c.code = $1",
    )
    .bind(county)
    .fetch_one(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn import_townships_loads_the_bundled_file_again_and_again_and_names_a_bad_line() {
    let app = TestApp::spawn().await;
    let bundled =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/townships-demo.csv");
    for round in 0..2 {
        let out = import(&app, &bundled).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "round {round}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("已导入 29 个乡镇"), "{stdout}");
        assert_eq!(
            townships(&app.db, "330726").await,
            15,
            "浦江县, round {round}"
        );
        assert_eq!(
            townships(&app.db, "330782").await,
            14,
            "义乌市, round {round}"
        );
    }
    let bodies: Vec<(String, String)> = sqlx::query_as(
        "SELECT code, government FROM jurisdictions WHERE code IN ('330726003', '330726101') ORDER BY code",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        bodies,
        [
            ("330726003".into(), "浦阳街道办事处".into()),
            ("330726101".into(), "黄宅镇人民政府".into())
        ]
    );

    let bad = scratch("bad").join("bad.csv");
    for (text, says) in [
        (
            "code,name,county_code\n330781001000,兰江街道,330781\n3307811,某镇,330781\n",
            "第 3 行 (line 3)：乡镇代码须为 9 位或 12 位数字",
        ),
        (
            "330781001,兰江街道,330781\n330781101,某镇,339999\n",
            "第 2 行 (line 2)：乡镇代码不属于该区县",
        ),
        (
            "339999001,某街道,339999\n",
            "第 1 行 (line 1)：区县代码 339999 不存在",
        ),
    ] {
        std::fs::write(&bad, text).unwrap();
        let out = import(&app, &bad).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(stderr.contains(says), "{text}: {stderr}");
    }
    assert_eq!(
        townships(&app.db, "330781").await,
        0,
        "a bad file loads nothing"
    );
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[tokio::test]
async fn the_2026_spring_festival_and_national_day_ship_with_their_adjusted_working_days() {
    let app = TestApp::spawn().await;
    let calendar = Calendar::load(&app.db, d("2026-06-01")).await.unwrap();
    for (from, to) in [("2026-02-15", "2026-02-23"), ("2026-10-01", "2026-10-07")] {
        for day in d(from).iter_days().take_while(|x| *x <= d(to)) {
            assert!(!calendar.is_workday(day), "{day} is a holiday");
        }
    }
    // 调休: Saturdays and a Sunday worked in exchange.
    for day in ["2026-02-14", "2026-02-28", "2026-09-20", "2026-10-10"] {
        assert!(calendar.is_workday(d(day)), "{day} is a working day");
    }
    assert!(calendar.is_workday(d("2026-02-13")) && calendar.is_workday(d("2026-02-24")));
    // Five working days from the Friday before the Spring Festival: the 14th, then 24th–27th.
    assert_eq!(calendar.add(d("2026-02-13"), 5), d("2026-02-27"));
    let note: String =
        sqlx::query_scalar("SELECT note FROM calendar_days WHERE day = '2026-02-28'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(note, "春节调休上班");
}

#[tokio::test]
async fn cadence_counts_the_lead_and_the_leaders_seated_in_rooms() {
    let app = TestApp::spawn().await;
    let staff = app.user("cadence_staff", Role::Staff).await;
    let supervisor = app.signed_in("cadence_sup", Role::Supervisor).await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    let mut ids = Vec::new();
    for name in ["陈主持", "王一室", "李二室", "赵未去"] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO leaders (name, title, level) VALUES ($1, '副县长', 'county') RETURNING id",
        )
        .bind(name)
        .fetch_one(&owner)
        .await
        .unwrap();
        ids.push(id);
    }
    let day = china_date(app.clock.now()) - Duration::days(2);
    let visit: i64 = sqlx::query_scalar(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by)
         VALUES ((SELECT id FROM jurisdictions WHERE code = '330726'), '县领导大接访', 'county', $1, $2,
                 '便民服务中心', 'following_up', $3) RETURNING id",
    )
    .bind(ids[0])
    .bind(day)
    .bind(staff)
    .fetch_one(&owner)
    .await
    .unwrap();
    for (room, leader) in [("第一接待室", ids[1]), ("第二接待室", ids[2])] {
        sqlx::query(
            "WITH r AS (INSERT INTO rooms (visit_id, name) VALUES ($1, $2) RETURNING id)
             INSERT INTO room_leaders (room_id, leader_id) SELECT id, $3 FROM r",
        )
        .bind(visit)
        .bind(room)
        .bind(leader)
        .execute(&owner)
        .await
        .unwrap();
    }

    let page = supervisor.get("/supervision/lists").await;
    assert_eq!(page.status, 200);
    let rows = page.texts("#cadence tbody tr");
    for name in ["陈主持", "王一室", "李二室"] {
        assert!(
            !rows.iter().any(|r| r.contains(name)),
            "{name} received people two days ago: {rows:?}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r.contains("赵未去") && r.contains("从未下访")),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_jurisdiction_finds_its_parent_by_code_and_the_subtree_holds_what_is_below() {
    let app = TestApp::spawn().await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    let id = |code: &'static str| {
        let owner = owner.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM jurisdictions WHERE code = $1")
                .bind(code)
                .fetch_one(&owner)
                .await
                .unwrap()
        }
    };
    sqlx::query("INSERT INTO jurisdictions (name, code) VALUES ('浦阳县', '330799')")
        .execute(&owner)
        .await
        .unwrap();
    let parent: Option<i64> =
        sqlx::query_scalar("SELECT parent_id FROM jurisdictions WHERE code = '330799'")
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(parent, Some(id("330700").await), "under 金华市");
    let below = |root: i64| {
        let owner = owner.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT jurisdiction_subtree($1)")
                .bind(root)
                .fetch_all(&owner)
                .await
                .unwrap()
        }
    };
    let zhejiang = below(id("330000").await).await;
    assert!(zhejiang.contains(&id("330799").await) && zhejiang.contains(&id("330726").await));
    assert!(
        !below(id("320000").await)
            .await
            .contains(&id("330799").await),
        "not in 江苏省"
    );
    assert_eq!(
        below(id("330799").await).await,
        [id("330799").await],
        "a county alone"
    );
}
