//! Demo data: one county, seeded idempotently by `serve --demo` or `xiafang demo`.
//!
//! Demo accounts exist only through this seed; while any is active every page shows the 演示数据 banner.

use crate::admin::accounts::{NewAccount, insert_account};
use crate::admin::reference::{region_rules, regions};
use crate::clock::{Clock, china_date};
use crate::web::auth::Role;
use chrono::Duration;
use sqlx::PgPool;

/// The password of every demo account (listed in the README).
pub const DEMO_PASSWORD: &str = "Demo-2026!";

/// (username, display name, role): one account per role.
pub const DEMO_ACCOUNTS: [(&str, &str, Role); 7] = [
    ("xinfang", "王晓梅", Role::Staff),
    ("lingdao", "陈建国", Role::Leader),
    ("chengban", "刘海燕", Role::Handler),
    ("ducha", "赵立新", Role::Supervisor),
    ("admin", "系统管理员", Role::Sysadmin),
    ("anquan", "安全管理员", Role::Secadmin),
    ("shenji", "安全审计员", Role::Auditor),
];

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

pub async fn seed(db: &PgPool, clock: &dyn Clock) -> anyhow::Result<()> {
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
    // The demo county is fictional, under the real 金华市; the real 浦江县 and 义乌市 get their townships.
    let county_id = sqlx::query_scalar!(
        "INSERT INTO jurisdictions (name, code, parent_id) VALUES ('浦阳县', '330799', (SELECT id FROM jurisdictions WHERE code = '330700'))
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id"
    )
    .fetch_one(&mut *tx)
    .await?;
    regions::import_townships(&mut tx, region_rules::DEMO_TOWNSHIPS).await?;
    for (name, short) in DEPARTMENTS {
        sqlx::query!("INSERT INTO departments (name, short_name, jurisdiction_id) VALUES ($1, $2, $3) ON CONFLICT (jurisdiction_id, name) DO NOTHING", name, short, county_id)
            .execute(&mut *tx)
            .await?;
    }
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
    let mut leader_ids = Vec::new();
    for (name, title, level, portfolio) in LEADERS {
        let county = (level == "county" || level == "township").then_some(county_id);
        let id = sqlx::query_scalar!(
            "INSERT INTO leaders (name, title, level, portfolio, county_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            name,
            title,
            level,
            portfolio,
            county
        )
        .fetch_one(&mut *tx)
        .await?;
        leader_ids.push(id);
    }

    let hash = crate::web::password::hash_password(DEMO_PASSWORD.into()).await?;
    let handler_department =
        sqlx::query_scalar!("SELECT id FROM departments WHERE name = '县住房和城乡建设局'")
            .fetch_one(&mut *tx)
            .await?;
    let mut staff_id = 0;
    for (username, display_name, role) in DEMO_ACCOUNTS {
        let account = NewAccount {
            username,
            display_name,
            role,
            department_id: (role == Role::Handler).then_some(handler_department),
            leader_id: (role == Role::Leader).then_some(leader_ids[0]),
            jurisdiction_id: Some(county_id),
            is_demo: true,
        };
        let id = insert_account(&mut *tx, &account, &hash, false).await?;
        if role == Role::Staff {
            staff_id = id;
        }
    }

    // An upcoming county visit, its 一次公告 published: registration is open.
    let now = clock.now();
    let visit_date = china_date(now) + Duration::days(12);
    let title = format!("{}县领导下访接访日", visit_date.format("%Y年%-m月%-d日"));
    let scope = "城乡建设、征地拆迁、劳动社保、农业农村、生态环境、教育医疗等方面的诉求；已进入诉讼、仲裁、行政复议程序的事项依法导入法定途径。";
    let visit_id = sqlx::query_scalar!(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, address, area_served, scope, status, created_by, is_demo)
         VALUES ($1, $2, 'county', $3, $4, '仙华街道便民服务中心', '浦阳县仙华街道人民路 88 号', '仙华街道及周边村（社区）', $5, 'announced', $6, true)
         RETURNING id",
        county_id,
        title,
        leader_ids[0],
        visit_date,
        scope,
        staff_id
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO visit_leaders (visit_id, leader_id) SELECT $1, unnest($2::bigint[])",
        visit_id,
        &leader_ids[1..4]
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO visit_departments (visit_id, department_id) SELECT $1, id FROM departments",
        visit_id
    )
    .execute(&mut *tx)
    .await?;
    let body = format!(
        "为深入践行“浦江经验”，变群众上访为领导下访，县委、县政府定于{}（8:00—17:00）在仙华街道便民服务中心（浦阳县仙华街道人民路 88 号）开展县领导下访接访活动。\n\
         接访领导：县委书记陈建国，县委副书记、县长林志强，副县长周慧敏（分管自然资源、住房和城乡建设、交通运输），副县长吴国平（分管农业农村、水务、乡村振兴）。\n\
         受理范围：{scope}\n\
         登记方式：即日起至接访前一日 17:00，可通过本平台网上登记并选择接访时段，也可到所在乡镇（街道）信访办登记。多人反映同一问题的，请推选不超过 5 名代表。",
        visit_date.format("%Y年%-m月%-d日")
    );
    sqlx::query!(
        "INSERT INTO notices (visit_id, kind, title, body, channels, planned_date, status, published_at, published_by, created_by)
         VALUES ($1, 'first', $2, $3, ARRAY['政府网站', '微信公众号', '村务公开栏'], $4, 'published', $5, $6, $6)",
        visit_id,
        format!("关于{title}的公告"),
        body,
        china_date(now),
        now,
        staff_id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!("demo county seeded");
    Ok(())
}
pub mod pujiang;
