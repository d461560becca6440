//! `xiafang maintenance` (issue 17, DESIGN §7 Retention) as the owner runs it: what is past its
//! period is archived, anonymised or deleted — and nothing else; a jurisdiction's own period
//! counts; a second run changes nothing. The audit log's part: `maintenance_audit.rs`.

use crate::cases::{case, close, world};
use crate::fixtures::{Reg, register, visit};
use crate::harness::fresh_database;
use crate::keys::scratch;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::io::Read;
use std::path::Path;
use xiafang::crypto::Keys;
use xiafang::followup::archive;
use xiafang::maintenance::anonymise::PLACEHOLDER;
use xiafang::maintenance::{self, Task};
use xiafang::privacy::Column;

/// Every table holding a citizen's data, and which of its rows belong to registration `$1`.
const OF_REGISTRATION: &[(&str, &str)] = &[
    ("registrations", "id = $1"),
    ("receptions", "registration_id = $1"),
    (
        "reception_versions",
        "reception_id IN (SELECT id FROM receptions WHERE registration_id = $1)",
    ),
    (
        "issues",
        "reception_id IN (SELECT id FROM receptions WHERE registration_id = $1)",
    ),
    ("notifications", "registration_id = $1"),
];

/// … and which belong to case `$1`.
const OF_CASE: &[(&str, &str)] = &[
    ("cases", "id = $1"),
    ("case_events", "case_id = $1"),
    ("feedback", "case_id = $1"),
    ("documents", "case_id = $1"),
    ("attachments", "case_id = $1"),
];

/// … and to survey item `$1`.
const OF_SURVEY_ITEM: &[(&str, &str)] = &[("survey_items", "id = $1")];

/// Tables with ciphertext that hold no citizen's case: staff's second factor, and SMS codes
/// (deleted whole after the notifications' period).
const NOT_RETAINED: &[&str] = &["users", "login_challenges", "phone_codes"];

/// Columns that hold personal data in clear (before migration 0028, or not secret enough to seal).
const PLAIN: &[&str] = &[
    "name",
    "address",
    "grievance",
    "representatives",
    "statement",
    "consultation",
    "summary",
    "outcome_note",
    "not_accepted_reason",
    "reply",
    "title",
    "text",
    "comment",
    "reporter",
    "background",
    "policy_basis",
    "proposed_handling",
    "issues",
];

/// The personal data left in the rows of subject `id`: "table.column" of each value found.
async fn personal_data(owner: &PgPool, tables: &[(&str, &str)], id: i64) -> Vec<String> {
    let mut left = Vec::new();
    for (table, rows) in tables {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_name = $1",
        )
        .bind(table)
        .fetch_all(owner)
        .await
        .unwrap();
        for (column, kind) in columns {
            let sealed =
                kind == "bytea" && (column.ends_with("_cipher") || column.ends_with("_index"));
            let sql = if sealed {
                format!("SELECT count(*) FROM {table} WHERE ({rows}) AND length({column}) > 0")
            } else if column.ends_with("_mask") || PLAIN.contains(&column.as_str()) {
                format!(
                    "SELECT count(*) FROM {table} WHERE ({rows}) AND {column}::text NOT IN ('', '[]', '{PLACEHOLDER}')"
                )
            } else {
                continue;
            };
            let n: i64 = sqlx::query_scalar(&sql)
                .bind(id)
                .fetch_one(owner)
                .await
                .unwrap();
            if n > 0 {
                left.push(format!("{table}.{column}"));
            }
        }
    }
    left
}

fn reg(code: &str, window: i64, category: i64) -> Reg<'_> {
    Reg {
        code,
        name: "李四",
        id: "33072619750505123",
        phone: "13812345678",
        township: "仙华街道",
        persons: 1,
        category,
        window,
        status: "confirmed",
    }
}

async fn exec(owner: &PgPool, sql: &str, id: i64) {
    sqlx::query(sql).bind(id).execute(owner).await.unwrap();
}

async fn scalar<T>(owner: &PgPool, sql: &str, id: i64) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(owner)
        .await
        .unwrap()
}

/// One maintenance run of `tasks` as of `now`: each task's summary.
pub(crate) async fn run(
    owner: &PgPool,
    keys: &Keys,
    tasks: &[Task],
    now: DateTime<Utc>,
    dir: &Path,
) -> String {
    let done = maintenance::run(owner, keys, tasks, now, dir)
        .await
        .unwrap();
    done.into_iter()
        .map(|d| d.unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A survey item (访前调查) of visit `visit` with its reporter's name, phone and dossier.
async fn survey_item(owner: &PgPool, keys: &Keys, visit: i64, category: i64, staff: i64) -> i64 {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO survey_items (visit_id, township, reporter, category_id, summary, background, created_by)
         VALUES ($1, '仙华街道', '王五', $2, '宅基地纠纷', '王五家与邻居的宅基地纠纷', $3) RETURNING id",
    )
    .bind(visit)
    .bind(category)
    .bind(staff)
    .fetch_one(owner)
    .await
    .unwrap();
    let phone = keys
        .encrypt(Column::SURVEY_REPORTER_PHONE, id, "13900001111")
        .unwrap();
    let index = keys.blind_index(xiafang::privacy::Field::Phone, "13900001111");
    sqlx::query(
        "UPDATE survey_items SET reporter_phone_cipher = $2, reporter_phone_key_id = $3,
                reporter_phone_index = $4, reporter_phone_mask = '139****1111' WHERE id = $1",
    )
    .bind(id)
    .bind(phone.bytes)
    .bind(phone.key_id)
    .bind(index)
    .execute(owner)
    .await
    .unwrap();
    id
}

/// What a run could change, in one string.
async fn snapshot(owner: &PgPool) -> String {
    let mut all = String::new();
    for table in [
        "registrations",
        "receptions",
        "issues",
        "survey_items",
        "cases",
        "case_events",
        "feedback",
        "documents",
        "attachments",
        "notifications",
    ] {
        let sql = format!(
            "SELECT COALESCE(md5(string_agg(t::text, '' ORDER BY t::text)), '') FROM {table} t"
        );
        let digest: String = sqlx::query_scalar(&sql).fetch_one(owner).await.unwrap();
        all.push_str(&format!("{table}:{digest} "));
    }
    all
}

#[tokio::test]
async fn retention_archives_closed_cases_before_anonymising_them_and_leaves_the_rest() {
    let w = world().await;
    let fx = &w.fx;
    let owner = &fx.owner;
    let keys = &*w.app.state.keys;
    let dir = scratch("maintenance-archive");
    // Registrations that became no case: of a visit 400 days ago, and of one 60 days ago.
    let (old_visit, old_windows) = visit(owner, fx.staff_id, "去年的接访日").await;
    let old = register(fx, old_visit, reg("MNTAAA22", old_windows[0], fx.cat_build)).await;
    let item = survey_item(owner, keys, old_visit, fx.cat_build, fx.staff_id).await;
    exec(
        owner,
        "UPDATE visits SET visit_date = current_date - 400 WHERE id = $1",
        old_visit,
    )
    .await;
    let (recent_visit, recent_windows) = visit(owner, fx.staff_id, "两个月前的接访日").await;
    let recent = register(
        fx,
        recent_visit,
        reg("MNTBBB33", recent_windows[0], fx.cat_build),
    )
    .await;
    exec(
        owner,
        "UPDATE visits SET visit_date = current_date - 60 WHERE id = $1",
        recent_visit,
    )
    .await;
    // A case closed eleven years ago, with an attachment and the citizen's rating; an open case.
    let closed = case(&w, "MNTCCC44", w.owner_leader).await;
    let r = w
        .lead
        .post_file(
            &format!("/cases/{closed}/attachments"),
            "file",
            "盖章答复.pdf",
            "application/pdf",
            b"%PDF-1.4\n% reply\n%%EOF\n",
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    close(&w, closed).await;
    let code: String = scalar(owner, "SELECT code FROM cases WHERE id = $1", closed).await;
    let citizen = w.app.client();
    let r = citizen
        .post("/lookup", &[("code", "MNTCCC44"), ("phone_last4", "5678")])
        .await;
    assert_eq!(r.status, 200);
    let form = [
        ("code", "MNTCCC44"),
        ("phone_last4", "5678"),
        ("rating", "satisfied"),
        ("comment", "谢谢李科长"),
    ];
    let r = citizen
        .post(&format!("/lookup/{code}/feedback"), &form)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        scalar::<i64>(
            owner,
            "SELECT count(*) FROM feedback WHERE case_id = $1",
            closed
        )
        .await,
        1
    );
    exec(
        owner,
        "UPDATE cases SET closed_at = closed_at - interval '11 years' WHERE id = $1",
        closed,
    )
    .await;
    let open = case(&w, "MNTDDD55", w.owner_leader).await;
    let of_case = "SELECT rc.registration_id FROM cases c JOIN issues i ON i.id = c.issue_id
                   JOIN receptions rc ON rc.id = i.reception_id WHERE c.id = $1";
    let closed_reg: i64 = scalar(owner, of_case, closed).await;
    let open_reg: i64 = scalar(owner, of_case, open).await;
    // An earlier version of the closed case's reception (a same-day correction).
    let texts = keys
        .encrypt(Column::RECEPTION_VERSION_STATEMENT, 0, "李四说村道坏了")
        .unwrap();
    sqlx::query(
        "INSERT INTO reception_versions (reception_id, version, statement_cipher, statement_key_id, issues,
                                         recorded_by, recorded_at, replaced_at)
         SELECT id, 1, $2, $3, '[{\"summary\": \"李四家门口的村道\"}]', recorded_by, now(), now()
         FROM receptions WHERE registration_id = $1",
    )
    .bind(closed_reg)
    .bind(texts.bytes)
    .bind(texts.key_id)
    .execute(owner)
    .await
    .unwrap();
    // SMS codes of 200 days ago and of today.
    for age in [200, 0] {
        sqlx::query(
            "INSERT INTO phone_codes (phone_cipher, phone_key_id, phone_index, phone_mask, code_hash, created_at, expires_at)
             VALUES ($1, 1, $2, '138****5678', $2, now() - make_interval(days => $3), now() - make_interval(days => $3) + interval '10 minutes')",
        )
        .bind(vec![7u8; 40])
        .bind(vec![8u8; 32])
        .bind(age)
        .execute(owner)
        .await
        .unwrap();
    }
    // A message of 200 days ago; the open case's are new.
    exec(owner, "UPDATE notifications SET created_at = now() - interval '200 days' WHERE registration_id = $1", recent).await;
    let messages = "SELECT count(*) FROM notifications WHERE registration_id = $1";
    assert!(scalar::<i64>(owner, messages, recent).await > 0);
    let open_messages: i64 = scalar(owner, messages, open_reg).await;
    assert!(open_messages > 0);
    for (tables, id) in [
        (OF_REGISTRATION, old),
        (OF_REGISTRATION, closed_reg),
        (OF_CASE, closed),
        (OF_SURVEY_ITEM, item),
    ] {
        assert!(
            !personal_data(owner, tables, id).await.is_empty(),
            "the check finds data before"
        );
    }

    // No archive can be written: the case keeps its data, and the run fails saying why.
    let blocked = dir.join("a-file");
    std::fs::write(&blocked, b"").unwrap();
    let done = maintenance::run(owner, keys, &[Task::Retention], Utc::now(), &blocked).await;
    let failed = done.unwrap().remove(0).unwrap_err();
    assert!(
        format!("{failed:#}").contains("无法创建归档目录"),
        "{failed:#}"
    );
    assert!(!personal_data(owner, OF_CASE, closed).await.is_empty());
    let failures =
        "SELECT count(*) FROM audit_log WHERE action = 'maintenance.retention' AND NOT success";
    let failures: i64 = sqlx::query_scalar(failures).fetch_one(owner).await.unwrap();
    assert_eq!(failures, 1, "what it did is recorded, as failed");

    let summary = run(owner, keys, &[Task::Retention], Utc::now(), &dir).await;
    assert!(
        summary.contains("未形成交办件的登记 1 条、调查事项 1 条"),
        "{summary}"
    );
    assert!(summary.contains("已结交办件 1 件"), "{summary}");
    assert!(
        summary.contains("随之匿名化登记和调查事项 1 条") && summary.contains("短信验证码 1 条"),
        "{summary}"
    );

    // The archive was written before the data went: it holds what the case file no longer does.
    let file = dir.join(archive::file_name(&code));
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&file).unwrap()).unwrap();
    let mut index = String::new();
    zip.by_name("index.html")
        .unwrap()
        .read_to_string(&mut index)
        .unwrap();
    assert!(
        index.contains(&code) && index.contains("村道损坏修复"),
        "{index}"
    );
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("附件/") && n.ends_with("盖章答复.pdf")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("文书/")), "{names:?}");

    for (tables, id) in [
        (OF_REGISTRATION, old),
        (OF_REGISTRATION, closed_reg),
        (OF_CASE, closed),
        (OF_SURVEY_ITEM, item),
    ] {
        assert_eq!(
            personal_data(owner, tables, id).await,
            Vec::<String>::new(),
            "{:?} {id}",
            tables[0]
        );
    }
    // The rows stay, with their codes, dates, categories and outcomes.
    let kept: (String, String, Option<String>, bool) = sqlx::query_as(
        "SELECT code, status, result, closed_at IS NOT NULL AND anonymised_at IS NOT NULL FROM cases WHERE id = $1",
    )
    .bind(closed)
    .fetch_one(owner)
    .await
    .unwrap();
    assert_eq!(
        kept,
        (code.clone(), "rated".into(), Some("resolved".into()), true)
    );
    assert_eq!(
        scalar::<String>(owner, "SELECT code FROM registrations WHERE id = $1", old).await,
        "MNTAAA22"
    );
    // The anonymised case still opens, with nothing personal on it.
    let page = w.lead.get(&format!("/cases/{closed}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(PLACEHOLDER) && !page.body.contains("村道已于本月修复"));

    // What is not due is untouched: the recent registration, the open case and its registration.
    for reg in [recent, open_reg] {
        assert!(
            !personal_data(owner, &OF_REGISTRATION[..4], reg)
                .await
                .is_empty()
        );
        assert!(
            scalar::<Option<DateTime<Utc>>>(
                owner,
                "SELECT anonymised_at FROM registrations WHERE id = $1",
                reg
            )
            .await
            .is_none()
        );
    }
    assert_eq!(
        scalar::<String>(owner, "SELECT title FROM cases WHERE id = $1", open).await,
        "村道损坏修复"
    );
    assert_eq!(
        scalar::<i64>(owner, messages, recent).await,
        0,
        "the old message is gone"
    );
    let codes: Vec<bool> =
        sqlx::query_scalar("SELECT created_at > now() - interval '1 day' FROM phone_codes")
            .fetch_all(owner)
            .await
            .unwrap();
    assert_eq!(codes, [true], "the old SMS code is gone, today's stays");
    assert_eq!(
        scalar::<i64>(owner, messages, open_reg).await,
        open_messages
    );
    assert_eq!(w.app.audit_count("maintenance.retention").await, 2);

    // The county keeps registrations that became no case for 30 days only: the recent one goes.
    sqlx::query("INSERT INTO retention_periods (jurisdiction_id, kind, days) SELECT id, 'no_case', 30 FROM jurisdictions WHERE code = '330726'")
        .execute(owner)
        .await
        .unwrap();
    let summary = run(owner, keys, &[Task::Retention], Utc::now(), &dir).await;
    assert!(
        summary.contains("未形成交办件的登记 1 条、调查事项 0 条；已结交办件 0 件"),
        "{summary}"
    );
    assert_eq!(
        personal_data(owner, OF_REGISTRATION, recent).await,
        Vec::<String>::new()
    );
    assert!(
        !personal_data(owner, &OF_REGISTRATION[..4], open_reg)
            .await
            .is_empty(),
        "its visit is ahead"
    );

    // A second run finds nothing more.
    let before = snapshot(owner).await;
    let written = std::fs::metadata(&file).unwrap().modified().unwrap();
    let summary = run(owner, keys, &[Task::Retention], Utc::now(), &dir).await;
    assert!(
        summary.contains("登记 0 条、调查事项 0 条；已结交办件 0 件")
            && summary.contains("删除通知 0 条"),
        "{summary}"
    );
    assert_eq!(snapshot(owner).await, before);
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        written
    );
}

#[tokio::test]
async fn every_table_with_ciphertext_is_covered_by_retention() {
    let url = fresh_database().await;
    let owner = PgPool::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT table_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type = 'bytea' AND column_name LIKE '%\\_cipher' ORDER BY 1",
    )
    .fetch_all(&owner)
    .await
    .unwrap();
    let covered: Vec<&str> = [OF_REGISTRATION, OF_CASE, OF_SURVEY_ITEM]
        .concat()
        .iter()
        .map(|(t, _)| *t)
        .chain(NOT_RETAINED.iter().copied())
        .collect();
    let missing: Vec<&String> = tables
        .iter()
        .filter(|t| !covered.contains(&t.as_str()))
        .collect();
    assert!(tables.len() > 10, "{tables:?}");
    assert!(
        missing.is_empty(),
        "tables with ciphertext no retention test covers: {missing:?}"
    );
}
