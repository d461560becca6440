//! `xiafang seed-scale --cases N --registrations M`: a large synthetic county for measuring the
//! supervision dashboard and the department inbox (issue 5), filled with generate_series SQL.
//!
//! Distribution (deterministic, from the row number `i`; `r = i·7919 mod 100`):
//! - 40 departments 「规模测试单位01…40」; 120 leaders, three per department (its cases are owned
//!   by those three in turn); one county; visits = max(1, N / 500), dated evenly over the last
//!   730 days, each led by one of the leaders.
//! - registrations: M spread evenly over the visits; channel phone or walk-in (alternating),
//!   70 % confirmed, 20 % submitted, 10 % cancelled; ID and phone are dummy ciphertexts and
//!   indexes with masks of the right shape.
//! - cases: N, 500 per visit, each from its own survey item (带案下访), department `i mod 40`,
//!   assigned the day after the visit. By age: up to 5 days old, half 待签收 and half 办理中; up to
//!   70 days, 70 % 办理中, 10 % 待审核, 2 % 退回, the rest closed or rated; older, 3 % still 办理中
//!   (overdue; urged the day after their due date), 1 % 待审核, then rated / closed / 复查中 / 终结.
//!   Signing 0–6 days after assignment (due in 7), the citizen told 0–19 days after (due in 15),
//!   5 % extended by 30 days, closure 0–79 days after acceptance; results 60 % 已解决, 15 % 部分,
//!   20 % 已解释, 5 % 未解决; ratings 70/20/10 % 满意/基本满意/不满意, 30 % 不满意 in every 7th department.
//! - two accounts to measure with: `bench_supervisor` and `bench_handler` (of department 01).
//!
//! The tally trigger is off during the bulk insert and the summaries (migration 0008) are rebuilt from the cases in
//! the same transaction, so the summary is exact when it commits.

use crate::admin::accounts::{NewAccount, insert_account};
use crate::web::auth::Role;
use sqlx::{Connection, Executor, PgConnection};
use std::time::Instant;

pub struct Options {
    pub cases: i64,
    pub registrations: i64,
    pub password: String,
}

const OPEN: &str = "('assigned', 'accepted', 'returned', 'closure_submitted')";

/// Seed as the database owner named by `url` (the trigger is switched off for the bulk load).
pub async fn seed(url: &str, o: &Options) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url).await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM departments WHERE name = '规模测试单位01')",
    )
    .fetch_one(&mut conn)
    .await?;
    anyhow::ensure!(!exists, "规模测试数据已存在：请使用一个新的数据库");
    conn.execute("SET synchronous_commit = off; SET TIME ZONE 'Asia/Shanghai'")
        .await?;
    let hash = crate::web::password::hash_password(o.password.clone()).await?;
    let visits = (o.cases / 500).max(1);
    let mut tx = conn.begin().await?;
    let step = |name: &str, t: Instant| println!("{name}: {:.1} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    tx.execute(
        "INSERT INTO jurisdictions (name, code) VALUES ('规模测试县', '339999') ON CONFLICT DO NOTHING;
         INSERT INTO departments (name, short_name, jurisdiction_id) SELECT '规模测试单位' || lpad(d::text, 2, '0'), '测试' || d, (SELECT id FROM jurisdictions WHERE code = '339999') FROM generate_series(1, 40) d;
         INSERT INTO leaders (name, title, level) SELECT '测试领导' || l, '副县长', 'county' FROM generate_series(1, 120) l;
         CREATE TEMP TABLE seed_dept ON COMMIT DROP AS
             SELECT (row_number() OVER (ORDER BY id) - 1)::int AS k, id FROM departments WHERE name LIKE '规模测试单位%';
         CREATE TEMP TABLE seed_leader ON COMMIT DROP AS
             SELECT (row_number() OVER (ORDER BY id) - 1)::int AS k, id FROM leaders WHERE name LIKE '测试领导%';",
    )
    .await?;
    let dept1: i64 = sqlx::query_scalar("SELECT id FROM seed_dept WHERE k = 0")
        .fetch_one(&mut *tx)
        .await?;
    let county: i64 = sqlx::query_scalar("SELECT id FROM jurisdictions WHERE code = '339999'")
        .fetch_one(&mut *tx)
        .await?;
    let staff = insert_account(
        &mut *tx,
        &NewAccount {
            username: "bench_staff",
            display_name: "测试工作人员",
            role: Role::Staff,
            department_id: None,
            leader_id: None,
            jurisdiction_id: Some(county),
            is_demo: false,
        },
        &hash,
        false,
    )
    .await?;
    insert_account(
        &mut *tx,
        &NewAccount {
            username: "bench_supervisor",
            display_name: "测试督查员",
            role: Role::Supervisor,
            department_id: None,
            leader_id: None,
            jurisdiction_id: Some(county),
            is_demo: false,
        },
        &hash,
        false,
    )
    .await?;
    let handler = insert_account(
        &mut *tx,
        &NewAccount {
            username: "bench_handler",
            display_name: "测试经办人",
            role: Role::Handler,
            department_id: Some(dept1),
            leader_id: None,
            jurisdiction_id: Some(county),
            is_demo: false,
        },
        &hash,
        false,
    )
    .await?;
    let approver = insert_account(
        &mut *tx,
        &NewAccount {
            username: "bench_approver",
            display_name: "测试审核人",
            role: Role::Supervisor,
            department_id: None,
            leader_id: None,
            jurisdiction_id: Some(county),
            is_demo: false,
        },
        &hash,
        false,
    )
    .await?;
    sqlx::query(
        "CREATE TEMP TABLE seed_visit ON COMMIT DROP AS
         SELECT k::int AS k, current_date - 730 + (k * 730 / $1)::int AS day FROM generate_series(0, $1 - 1) k",
    )
    .bind(visits)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by)
         SELECT (SELECT id FROM jurisdictions WHERE code = '339999'), '规模测试下访' || (v.k + 1), 'county', l.id, v.day, '测试会场',
                'following_up', $1
         FROM seed_visit v JOIN seed_leader l ON l.k = v.k % 120 ORDER BY v.k",
    )
    .bind(staff)
    .execute(&mut *tx)
    .await?;
    tx.execute(
        "ALTER TABLE seed_visit ADD COLUMN id bigint;
         UPDATE seed_visit s SET id = v.id FROM visits v WHERE v.title = '规模测试下访' || (s.k + 1);
         CREATE INDEX ON seed_visit (k);",
    )
    .await?;
    let category: i64 = sqlx::query_scalar(
        "SELECT id FROM categories WHERE parent_id IS NOT NULL ORDER BY id LIMIT 1",
    )
    .fetch_one(&mut *tx)
    .await?;
    step("departments, leaders, visits", t);

    let t = Instant::now();
    sqlx::query(&format!(
        "INSERT INTO registrations (visit_id, code, channel, name_cipher, name_key_id, name_index, name_mask,
                                    id_number_cipher, id_number_key_id, id_number_index, id_number_mask,
                                    phone_cipher, phone_key_id, phone_index, phone_mask, category_id,
                                    grievance_cipher, grievance_key_id, status, consent_at, created_by, created_at)
         SELECT v.id, translate(lpad(g::text, 10, '0'), '0123456789', 'ABCDEFGHJK'),
                CASE WHEN g % 2 = 0 THEN 'walk_in' ELSE 'phone' END,
                '\\x{zero}'::bytea, 0, sha256(('nm' || g % 1000)::bytea), '测某某',
                '\\x{zero}'::bytea, 0, sha256(('id' || g)::bytea), '330' || repeat('*', 11) || lpad((g % 10000)::text, 4, '0'),
                '\\x{zero}'::bytea, 0, sha256(('ph' || g)::bytea), '138****' || lpad((g % 10000)::text, 4, '0'),
                $2, '\\x{zero}'::bytea, 0,
                CASE WHEN g % 10 < 7 THEN 'confirmed' WHEN g % 10 < 9 THEN 'submitted' ELSE 'cancelled' END,
                v.day, $3, v.day - 5
         FROM generate_series(1, $1) g JOIN seed_visit v ON v.k = (g - 1) % $4",
        zero = "00".repeat(40)
    ))
    .bind(o.registrations)
    .bind(category)
    .bind(staff)
    .bind(visits)
    .execute(&mut *tx)
    .await?;
    step("registrations", t);

    let t = Instant::now();
    sqlx::query(
        "INSERT INTO survey_items (visit_id, township, category_id, summary, brought_by_leader, created_by)
         SELECT v.id, '测试镇', $2, '规模测试事项' || g, true, $3
         FROM generate_series(1, $1) g JOIN seed_visit v ON v.k = LEAST((g - 1) / 500, $4 - 1)",
    )
    .bind(o.cases)
    .bind(category)
    .bind(staff)
    .bind(visits)
    .execute(&mut *tx)
    .await?;
    step("survey items", t);

    let t = Instant::now();
    tx.execute("ALTER TABLE cases DISABLE TRIGGER case_tallies_apply")
        .await?;
    sqlx::query(&format!(
        "WITH s AS (
             SELECT si.id AS survey_item_id, si.visit_id, row_number() OVER (ORDER BY si.id) AS i
             FROM survey_items si JOIN seed_visit v ON v.id = si.visit_id
         ), b AS (
             SELECT s.*, (s.i * 7919) % 100 AS r, v.day + 1 AS aday
             FROM s JOIN seed_visit v ON v.id = s.visit_id
         ), c AS (
             SELECT b.*, (current_date - b.aday) AS age,
                    CASE WHEN current_date - b.aday <= 5 THEN CASE WHEN r < 50 THEN 'assigned' ELSE 'accepted' END
                         WHEN current_date - b.aday <= 70 THEN CASE WHEN r < 70 THEN 'accepted' WHEN r < 80 THEN 'closure_submitted'
                              WHEN r < 82 THEN 'returned' WHEN r < 90 THEN 'closed' ELSE 'rated' END
                         ELSE CASE WHEN r < 3 THEN 'accepted' WHEN r < 4 THEN 'closure_submitted' WHEN r < 50 THEN 'rated'
                              WHEN r < 97 THEN 'closed' WHEN r < 98 THEN 'in_review' ELSE 'terminated' END END AS status
             FROM b
         ), d AS (
             SELECT c.*, (c.aday + time '10:00') AT TIME ZONE 'Asia/Shanghai' AS assigned_at,
                    CASE WHEN status NOT IN ('assigned', 'returned') THEN (c.aday + LEAST(r % 7, GREATEST(c.age, 0))::int + time '11:00') AT TIME ZONE 'Asia/Shanghai' END AS accepted_at,
                    CASE WHEN status NOT IN ('assigned', 'returned') THEN c.aday + LEAST(r % 7, GREATEST(c.age, 0))::int + 60 END AS due_on,
                    status IN ('closure_submitted', 'closed', 'rated', 'in_review', 'terminated') AS submitted,
                    status IN ('closed', 'rated', 'in_review', 'terminated') AS is_closed
             FROM c
         )
         INSERT INTO cases (code, visit_id, survey_item_id, title, category_id, lead_department_id, owner_leader_id, deadline_days,
                            assigned_at, assigned_by, accept_due_on, accepted_at, acceptance_notified_at, due_on, extension_days,
                            extended_due_on, status, result, reply, closure_submitted_by, closure_submitted_at, closed_by, closed_at,
                            rating, first_urged_at, created_at)
         SELECT 'JB' || lpad(d.i::text, 10, '0'), d.visit_id, d.survey_item_id, '规模测试交办件' || d.i, $1, dp.id, ld.id, 60,
                d.assigned_at, $2, d.aday + 7, d.accepted_at,
                CASE WHEN d.accepted_at IS NOT NULL THEN d.assigned_at + ((r * 3) % 20) * interval '1 day' END,
                d.due_on, CASE WHEN d.due_on IS NOT NULL AND r % 20 = 0 THEN 30 END,
                CASE WHEN d.due_on IS NOT NULL AND r % 20 = 0 THEN d.due_on + 30 END,
                d.status,
                CASE WHEN submitted THEN CASE WHEN (r * 31) % 100 < 60 THEN 'resolved' WHEN (r * 31) % 100 < 75 THEN 'partly'
                     WHEN (r * 31) % 100 < 95 THEN 'explained' ELSE 'unresolved' END END,
                CASE WHEN submitted THEN '规模测试答复意见' END,
                CASE WHEN submitted THEN $3::bigint END, CASE WHEN submitted THEN d.accepted_at + interval '20 days' END,
                CASE WHEN is_closed THEN $4::bigint END,
                CASE WHEN is_closed THEN LEAST(d.accepted_at + ((r * 13) % 80) * interval '1 day', now() - interval '1 day') END,
                CASE WHEN d.status IN ('rated', 'in_review', 'terminated') THEN
                     CASE WHEN (r * 17) % 100 < CASE WHEN dp.k % 7 = 0 THEN 30 ELSE 10 END THEN 'dissatisfied'
                          WHEN (r * 17) % 100 < 40 THEN 'basically_satisfied' ELSE 'satisfied' END END,
                CASE WHEN d.status IN {OPEN} AND d.due_on < current_date THEN (d.due_on + 1 + time '09:00') AT TIME ZONE 'Asia/Shanghai' END,
                d.assigned_at
         FROM d JOIN seed_dept dp ON dp.k = d.i % 40 JOIN seed_leader ld ON ld.k = (d.i % 40) * 3 + (d.i / 40) % 3"
    ))
    .bind(category)
    .bind(staff)
    .bind(handler)
    .bind(approver)
    .execute(&mut *tx)
    .await?;
    step("cases", t);

    let t = Instant::now();
    tx.execute(
        "TRUNCATE case_month_tallies, case_open_due;
         INSERT INTO case_month_tallies SELECT * FROM case_tallies_direct_month;
         INSERT INTO case_open_due SELECT * FROM case_open_due_direct;
         ALTER TABLE cases ENABLE TRIGGER case_tallies_apply;",
    )
    .await?;
    step("tallies", t);
    tx.commit().await?;
    let t = Instant::now();
    // VACUUM too: index-only scans (the 通报 count) need the visibility map a fresh load lacks.
    conn.execute("VACUUM (ANALYZE)").await?;
    step("analyze", t);
    println!(
        "已生成：{} 个下访活动，{} 条登记，{} 件交办件。测量账号 bench_supervisor / bench_handler。",
        visits, o.registrations, o.cases
    );
    Ok(())
}
