//! Demo data: a city with two counties, seeded idempotently by `serve --demo` or `xiafang demo`.
//!
//! Demo accounts exist only through this seed; while any is active every page shows the 演示数据 banner.

use crate::admin::accounts::{NewAccount, insert_account};
use crate::admin::reference::{region_rules, regions};
use crate::audit::Actor;
use crate::clock::{Clock, china_date};
use crate::crypto::Keys;
use crate::duty::store as duty;
use crate::prepare::{room_store, windows};
use crate::web::auth::Role;
use chrono::{DateTime, Datelike, Duration, Utc};
use sqlx::PgPool;

/// The password of every demo account (listed in the README).
pub const DEMO_PASSWORD: &str = "Demo-2026!";

/// (username, display name, role, jurisdiction code): one account per role in 浦阳县, the second
/// county's staff and handler, and the city's supervisor.
pub const DEMO_ACCOUNTS: [(&str, &str, Role, &str); 10] = [
    ("xinfang", "王晓梅", Role::Staff, COUNTY_A),
    ("lingdao", "陈建国", Role::Leader, COUNTY_A),
    ("chengban", "刘海燕", Role::Handler, COUNTY_A),
    ("ducha", "赵立新", Role::Supervisor, COUNTY_A),
    ("admin", "系统管理员", Role::Sysadmin, COUNTY_A),
    ("anquan", "安全管理员", Role::Secadmin, COUNTY_A),
    ("shenji", "安全审计员", Role::Auditor, COUNTY_A),
    ("xinfang_b", "孙丽华", Role::Staff, COUNTY_B),
    ("chengban_b", "钱志明", Role::Handler, COUNTY_B),
    ("ducha_shi", "金卫东", Role::Supervisor, CITY),
];

/// The real 金华市 and the two fictional demo counties under it.
pub const CITY: &str = "330700";
pub const COUNTY_A: &str = "330799";
pub const COUNTY_B: &str = "330798";

const DEPARTMENTS: [(&str, &str); 15] = [
    ("县信访局", "信访局"),
    ("县自然资源和规划局", "自然资源局"),
    ("县住房和城乡建设局", "住建局"),
    ("县人力资源和社会保障局", "人社局"),
    ("县农业农村局", "农业农村局"),
    ("县生态环境分局", "生态环境分局"),
    ("县教育局", "教育局"),
    ("县卫生健康局", "卫健局"),
    ("县公安局", "公安局"),
    ("县司法局", "司法局"),
    ("县民政局", "民政局"),
    ("县交通运输局", "交通运输局"),
    ("县水务局", "水务局"),
    ("县市场监督管理局", "市场监管局"),
    ("县财政局", "财政局"),
];

/// Subject area → the departments competent for it by default.
const COMPETENCE: [(&str, &[&str]); 8] = [
    ("城乡建设", &["县住房和城乡建设局"]),
    ("征地拆迁", &["县自然资源和规划局", "县住房和城乡建设局"]),
    ("劳动社保", &["县人力资源和社会保障局"]),
    ("农业农村", &["县农业农村局", "县水务局"]),
    ("生态环境", &["县生态环境分局"]),
    ("教育医疗", &["县教育局", "县卫生健康局"]),
    ("涉法涉诉", &["县司法局", "县公安局"]),
    ("其他", &["县信访局", "县民政局"]),
];

/// (name, title, level, portfolio)
const LEADERS: [(&str, &str, &str, &str); 7] = [
    ("陈建国", "县委书记", "county", "主持县委全面工作"),
    (
        "林志强",
        "县委副书记、县长",
        "county",
        "主持县政府全面工作，分管审计、财政",
    ),
    (
        "周慧敏",
        "副县长",
        "county",
        "分管自然资源、住房和城乡建设、交通运输",
    ),
    ("吴国平", "副县长", "county", "分管农业农村、水务、乡村振兴"),
    (
        "黄振华",
        "市委常委、政法委书记",
        "city",
        "分管政法、信访工作",
    ),
    ("孙立军", "副省长", "province", "分管公安、司法、信访工作"),
    (
        "郑小华",
        "仙华街道党工委书记",
        "township",
        "主持街道全面工作",
    ),
];

/// The second county's leaders: (name, title, portfolio).
const LEADERS_B: [(&str, &str, &str); 3] = [
    ("许文斌", "县委书记", "主持县委全面工作"),
    ("何静", "县委副书记、县长", "主持县政府全面工作"),
    ("蒋立峰", "副县长", "分管住房和城乡建设、自然资源、信访"),
];

/// The second county keeps only the first few departments.
const DEPARTMENTS_B: usize = 6;

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

pub async fn seed(db: &PgPool, clock: &dyn Clock, keys: &Keys) -> anyhow::Result<()> {
    regions::ensure_shipped(db).await?;
    let mut tx = db.begin().await?;
    // One seed at a time, and only once: several instances may start with --demo together.
    sqlx::query!("SELECT pg_advisory_xact_lock(7263002)")
        .execute(&mut *tx)
        .await?;
    if sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM users WHERE is_demo) AS "e!""#)
        .fetch_one(&mut *tx)
        .await?
    {
        return Ok(());
    }
    // The demo counties are fictional, under the real 金华市; the real 浦江县 and 义乌市 get their townships.
    let county_a = county(&mut tx, "浦阳县", COUNTY_A).await?;
    let county_b = county(&mut tx, "安和县", COUNTY_B).await?;
    regions::import_townships(&mut tx, region_rules::DEMO_TOWNSHIPS).await?;
    departments(&mut tx, county_a, &DEPARTMENTS).await?;
    departments(&mut tx, county_b, &DEPARTMENTS[..DEPARTMENTS_B]).await?;
    superiors(&mut tx, &[county_a, county_b]).await?;
    for (area, departments) in COMPETENCE {
        sqlx::query!(
            "INSERT INTO category_departments (category_id, department_id)
             SELECT c.id, d.id FROM categories c JOIN departments d ON d.name = ANY($2)
             WHERE c.name = $1 AND c.parent_id IS NOT NULL ON CONFLICT DO NOTHING",
            area,
            departments as &[&str]
        )
        .execute(&mut *tx)
        .await?;
    }
    let mut leaders_a = Vec::new();
    for (name, title, level, portfolio) in LEADERS {
        let county = (level == "county" || level == "township").then_some(county_a);
        leaders_a.push(leader(&mut tx, (name, title, level, portfolio), county).await?);
    }
    let mut leaders_b = Vec::new();
    for (name, title, portfolio) in LEADERS_B {
        leaders_b.push(leader(&mut tx, (name, title, "county", portfolio), Some(county_b)).await?);
    }
    let staff = accounts(&mut tx, leaders_a[0]).await?;

    let now = clock.now();
    let a = Upcoming {
        county: (county_a, "浦阳县"),
        staff: (staff[0], "xinfang"),
        leaders: &leaders_a[..4],
        names: "县委书记陈建国，县委副书记、县长林志强，副县长周慧敏（分管自然资源、住房和城乡建设、交通运输），副县长吴国平（分管农业农村、水务、乡村振兴）",
        venue: "仙华街道便民服务中心",
        address: "浦阳县仙华街道人民路 88 号",
        area: "仙华街道及周边村（社区）",
        days: 12,
    };
    upcoming_visit(&mut tx, &a, now).await?;
    let b = Upcoming {
        county: (county_b, "安和县"),
        staff: (staff[1], "xinfang_b"),
        leaders: &leaders_b,
        names: "县委书记许文斌，县委副书记、县长何静，副县长蒋立峰（分管住房和城乡建设、自然资源、信访）",
        venue: "安和县社会矛盾纠纷调处化解中心",
        address: "安和县城关镇和平路 16 号",
        area: "城关镇及周边村（社区）",
        days: 19,
    };
    upcoming_visit(&mut tx, &b, now).await?;
    let history = [
        (
            county_a,
            "浦阳县",
            ["xinfang", "chengban", "ducha"],
            &leaders_a[..4],
            8,
        ),
        (
            county_b,
            "安和县",
            ["xinfang_b", "chengban_b", "ducha_shi"],
            &leaders_b[..],
            4,
        ),
    ];
    for (id, name, [staff, handler, supervisor], leaders, every) in history {
        let handler = user_id(&mut tx, handler).await?;
        let c = history::County {
            id,
            name,
            staff: user_id(&mut tx, staff).await?,
            handler,
            supervisor: user_id(&mut tx, supervisor).await?,
            lead_department: sqlx::query_scalar!(
                r#"SELECT department_id AS "d!" FROM users WHERE id = $1"#,
                handler
            )
            .fetch_one(&mut *tx)
            .await?,
            leaders,
            dissatisfied_every: every,
            keys,
        };
        history::seed(&mut tx, &c, now).await?;
    }
    duty_rota(&mut tx, county_a, now).await?;
    tx.commit().await?;
    tracing::info!("demo counties seeded");
    Ok(())
}

/// 浦阳县's duty rota (值守接访) for this month and the next, generated as its staff would: a
/// county leader at the 矛调中心 on every working day still ahead, each open for registration.
async fn duty_rota(tx: &mut Tx, county: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    let xinfang = user_id(tx, "xinfang").await?;
    let actor = Actor {
        id: Some(xinfang),
        name: "xinfang".into(),
        role: Some(Role::Staff.as_str()),
        ip: None,
        jurisdiction_id: Some(county),
    };
    let defaults = crate::config::Config::default();
    let base = crate::web::public_base(None, None);
    let env = duty::Env {
        now,
        user_id: xinfang,
        actor: &actor,
        base_url: &base,
        close_time: defaults.registration_close_time,
        notice_days: &defaults.notice_days,
    };
    let county = duty::County {
        id: county,
        name: "浦阳县".into(),
    };
    let this_month = china_date(now).with_day(1).expect("the 1st");
    for first in [this_month, crate::prepare::plan::next_month(this_month)] {
        duty::generate(&mut *tx, &county, first, &env)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

async fn user_id(tx: &mut Tx, username: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!("SELECT id FROM users WHERE username = $1", username)
        .fetch_one(&mut **tx)
        .await
}

/// A county under 金华市, by its (fictional) code.
async fn county(tx: &mut Tx, name: &str, code: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO jurisdictions (name, code, parent_id) VALUES ($1, $2, (SELECT id FROM jurisdictions WHERE code = $3))
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        name,
        code,
        CITY
    )
    .fetch_one(&mut **tx)
    .await
}

async fn departments(tx: &mut Tx, county: i64, list: &[(&str, &str)]) -> sqlx::Result<()> {
    for (name, short) in list {
        sqlx::query!("INSERT INTO departments (name, short_name, jurisdiction_id) VALUES ($1, $2, $3) ON CONFLICT (jurisdiction_id, name) DO NOTHING", name, short, county)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The city's departments that may review their county counterparts (复查, DESIGN §3): 县住建局
/// → 金华市住建局, beside the county's government.
const CITY_SUPERIORS: [(&str, &str, &str); 3] = [
    ("金华市住房和城乡建设局", "市住建局", "县住房和城乡建设局"),
    (
        "金华市自然资源和规划局",
        "市自然资源局",
        "县自然资源和规划局",
    ),
    (
        "金华市人力资源和社会保障局",
        "市人社局",
        "县人力资源和社会保障局",
    ),
];

async fn superiors(tx: &mut Tx, counties: &[i64]) -> sqlx::Result<()> {
    let city = sqlx::query_scalar!("SELECT id FROM jurisdictions WHERE code = $1", CITY)
        .fetch_one(&mut **tx)
        .await?;
    for (name, short, below) in CITY_SUPERIORS {
        departments(tx, city, &[(name, short)]).await?;
        sqlx::query!(
            "INSERT INTO department_superiors (department_id, superior_department_id)
             SELECT d.id, s.id FROM departments d JOIN departments s ON s.name = $2 AND s.jurisdiction_id = $3
             WHERE d.name = $1 AND d.jurisdiction_id = ANY($4) ON CONFLICT DO NOTHING",
            below,
            name,
            city,
            counties
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn leader(
    tx: &mut Tx,
    (name, title, level, portfolio): (&str, &str, &str, &str),
    county: Option<i64>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO leaders (name, title, level, portfolio, county_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        name,
        title,
        level,
        portfolio,
        county
    )
    .fetch_one(&mut **tx)
    .await
}

/// The demo accounts, each in its jurisdiction; handlers at their county's 住建局. Returns the
/// two counties' staff ids.
async fn accounts(tx: &mut Tx, leader: i64) -> anyhow::Result<[i64; 2]> {
    let hash = crate::web::password::hash_password(DEMO_PASSWORD.into()).await?;
    let mut staff = [0; 2];
    for (username, display_name, role, code) in DEMO_ACCOUNTS {
        let place = sqlx::query!(
            "SELECT j.id, d.id AS \"department?\" FROM jurisdictions j
             LEFT JOIN departments d ON d.jurisdiction_id = j.id AND d.name = '县住房和城乡建设局'
             WHERE j.code = $1",
            code
        )
        .fetch_one(&mut **tx)
        .await?;
        let account = NewAccount {
            username,
            display_name,
            role,
            department_id: if role == Role::Handler {
                place.department
            } else {
                None
            },
            leader_id: (role == Role::Leader).then_some(leader),
            jurisdiction_id: Some(place.id),
            is_demo: true,
        };
        let id = insert_account(&mut **tx, &account, &hash, false).await?;
        if role == Role::Staff {
            staff[usize::from(code == COUNTY_B)] = id;
        }
    }
    Ok(staff)
}

/// An upcoming county visit to seed.
struct Upcoming<'a> {
    county: (i64, &'a str),
    staff: (i64, &'a str),
    /// The lead leader first.
    leaders: &'a [i64],
    names: &'a str,
    venue: &'a str,
    address: &'a str,
    area: &'a str,
    days: i64,
}

/// An upcoming county visit with its 一次公告 published, its rooms and reception windows: a
/// citizen can register at once.
async fn upcoming_visit(tx: &mut Tx, u: &Upcoming<'_>, now: DateTime<Utc>) -> anyhow::Result<()> {
    let visit_date = china_date(now) + Duration::days(u.days);
    let title = format!("{}县领导下访接访日", visit_date.format("%Y年%-m月%-d日"));
    let scope = "城乡建设、征地拆迁、劳动社保、农业农村、生态环境、教育医疗等方面的诉求；已进入诉讼、仲裁、行政复议程序的事项依法导入法定途径。";
    let visit_id = sqlx::query_scalar!(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, address, area_served, scope, status, created_by, is_demo)
         VALUES ($1, $2, 'county', $3, $4, $5, $6, $7, $8, 'announced', $9, true)
         RETURNING id",
        u.county.0,
        title,
        u.leaders[0],
        visit_date,
        u.venue,
        u.address,
        u.area,
        scope,
        u.staff.0
    )
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query!(
        "INSERT INTO visit_leaders (visit_id, leader_id) SELECT $1, unnest($2::bigint[])",
        visit_id,
        &u.leaders[1..]
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "INSERT INTO visit_departments (visit_id, department_id) SELECT $1, id FROM departments WHERE jurisdiction_id = $2",
        visit_id,
        u.county.0
    )
    .execute(&mut **tx)
    .await?;
    let body = format!(
        "为深入践行“浦江经验”，变群众上访为领导下访，县委、县政府定于{}（8:00—17:00）在{}（{}）开展县领导下访接访活动。\n\
         接访领导：{}。\n\
         受理范围：{scope}\n\
         登记方式：即日起至接访前一日 17:00，可通过本平台网上登记并选择接访时段，也可到所在乡镇（街道）信访办登记。多人反映同一问题的，请推选不超过 5 名代表。",
        visit_date.format("%Y年%-m月%-d日"),
        u.venue,
        u.address,
        u.names
    );
    sqlx::query!(
        "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, published_at, published_by, created_by)
         VALUES ($1, 'first', $2, $3, ARRAY['政府网站', '微信公众号', '村务公开栏'], $4, 'published', $5, $6, $6)",
        visit_id,
        format!("关于{title}的公告"),
        body,
        china_date(now),
        now,
        u.staff.0
    )
    .execute(&mut **tx)
    .await?;
    rooms_and_windows(tx, u, visit_id).await
}

/// Two rooms sharing the leaders and the departments, then the windows: through the same domain
/// functions as the staff's pages, audited as the county's staff.
async fn rooms_and_windows(tx: &mut Tx, u: &Upcoming<'_>, visit_id: i64) -> anyhow::Result<()> {
    let actor = Actor {
        id: Some(u.staff.0),
        name: u.staff.1.into(),
        role: Some("staff"),
        ip: None,
        jurisdiction_id: Some(u.county.0),
    };
    let departments = sqlx::query_scalar!(
        "SELECT id FROM departments WHERE jurisdiction_id = $1 ORDER BY id",
        u.county.0
    )
    .fetch_all(&mut **tx)
    .await?;
    let half_leaders = u.leaders.len().div_ceil(2);
    let half_departments = departments.len().div_ceil(2);
    let rooms = [
        (
            "第一接待室",
            "一楼东侧",
            &u.leaders[..half_leaders],
            &departments[..half_departments],
        ),
        (
            "第二接待室",
            "一楼西侧",
            &u.leaders[half_leaders..],
            &departments[half_departments..],
        ),
    ];
    for (name, location, leaders, departments) in rooms {
        let room = room_store::Valid {
            name: name.into(),
            location: location.into(),
            leader_ids: leaders.to_vec(),
            department_ids: departments.to_vec(),
            category_ids: vec![],
        };
        room_store::create(tx, visit_id, &room, &actor)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .map_err(anyhow::Error::msg)?;
    }
    windows::generate(tx, visit_id, &actor)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

pub mod history;
pub mod pujiang;
