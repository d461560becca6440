//! `xiafang maintenance` and the audit log (issue 17, DESIGN §7): old entries go as a prefix, per
//! jurisdiction, while the chain still verifies; the command itself, run as the operator runs it.

use crate::harness::{HOME_JURISDICTION, TestApp, app_url, fresh_database};
use crate::keys::{scratch, xiafang};
use crate::maintenance::run;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use xiafang::audit::{self, Verdict};
use xiafang::maintenance::Task;
use xiafang::web::auth::Role;

#[tokio::test]
async fn old_audit_entries_go_as_a_prefix_and_the_chain_still_verifies() {
    let app = TestApp::spawn().await;
    let owner = PgPool::connect(&app.url).await.unwrap();
    let keys = &*app.state.keys;
    let dir = scratch("maintenance-audit");
    app.signed_in("shenji", Role::Auditor).await;
    let count = |sql: &'static str, at: DateTime<Utc>| {
        let owner = owner.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(at)
                .fetch_one(&owner)
                .await
                .unwrap()
        }
    };
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mark = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.signed_in("xinfang", Role::Staff).await;
    let older = "SELECT count(*) FROM audit_log WHERE at <= $1";
    let newer = "SELECT count(*) FROM audit_log WHERE at > $1";
    let (old, new) = (count(older, mark).await, count(newer, mark).await);
    assert!(old > 0 && new > 0);
    // Three years after the mark, as the audit log's default period says.
    let later = mark + Duration::days(1095);

    // The province keeps its entries five years: nothing is due yet.
    let province = "SELECT id FROM jurisdictions WHERE code = $1";
    let province: i64 = sqlx::query_scalar(province)
        .bind(HOME_JURISDICTION)
        .fetch_one(&owner)
        .await
        .unwrap();
    let set =
        "INSERT INTO retention_periods (jurisdiction_id, kind, days) VALUES ($1, 'audit', $2)";
    let refused = sqlx::query(set)
        .bind(province)
        .bind(100)
        .execute(&owner)
        .await;
    assert!(refused.is_err(), "audit entries are kept 184 days at least");
    sqlx::query(set)
        .bind(province)
        .bind(1825)
        .execute(&owner)
        .await
        .unwrap();
    let summary = run(&owner, keys, &[Task::AuditExpiry], later, &dir).await;
    assert!(summary.contains("删除：0 条"), "{summary}");
    assert_eq!(count(older, mark).await, old);

    sqlx::query("DELETE FROM retention_periods")
        .execute(&owner)
        .await
        .unwrap();
    let summary = run(
        &owner,
        keys,
        &[Task::AuditExpiry, Task::AuditVerify],
        later,
        &dir,
    )
    .await;
    assert!(summary.contains(&format!("删除：{old} 条")), "{summary}");
    assert!(summary.contains("审计日志完整"), "{summary}");
    assert_eq!(count(older, mark).await, 0);
    assert!(
        count(newer, mark).await > new,
        "the newer entries stay, and the run's own follow"
    );
    assert!(matches!(
        audit::verify(&owner).await.unwrap(),
        Verdict::Intact { .. }
    ));
    let summary = run(&owner, keys, &[Task::AuditExpiry], later, &dir).await;
    assert!(
        summary.contains("删除：0 条"),
        "a second run deletes nothing: {summary}"
    );
    assert_eq!(app.audit_count("maintenance.audit_expiry").await, 3);
    assert_eq!(app.audit_count("maintenance.audit_verify").await, 1);
}

#[tokio::test]
async fn the_command_runs_every_task_as_the_owner_and_fails_on_a_broken_chain() {
    let url = fresh_database().await;
    let app = app_url(&url).await;
    let dir = scratch("maintenance-command");
    let keys = dir.join("keys.json");
    let archive = dir.join("archive");
    let archive = archive.to_str().unwrap();
    let out = xiafang(
        &url,
        &app,
        &keys,
        &["maintenance", "--archive-dir", archive],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in ["到期匿名化：", "审计日志到期删除：", "审计日志完整："] {
        assert!(stdout.contains(line), "{stdout}");
    }
    let owner = PgPool::connect(&url).await.unwrap();
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE actor_name = '系统维护' ORDER BY id",
    )
    .fetch_all(&owner)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "maintenance.retention",
            "maintenance.audit_expiry",
            "maintenance.audit_verify"
        ]
    );

    // An entry altered: the check fails, and says where.
    sqlx::query("UPDATE audit_log SET actor_name = 'x' WHERE id = (SELECT min(id) FROM audit_log)")
        .execute(&owner)
        .await
        .unwrap();
    let out = xiafang(&url, &app, &keys, &["maintenance", "audit-verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("审计日志在第") && stderr.contains("断开"),
        "{stderr}"
    );
}
