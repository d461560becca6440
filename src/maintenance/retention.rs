//! Retention (DESIGN §7): what is due by `rules` is archived, anonymised or deleted, in batches of
//! one transaction each, oldest first. What is done is marked (`anonymised_at`) or gone, so a run
//! interrupted anywhere is finished by the next and a second run finds nothing.

use super::anonymise;
use super::rules::{Cutoffs, Kind, Periods, ended_states};
use crate::crypto::Keys;
use crate::followup::archive;
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::io::Write;
use std::path::Path;

/// Cases archived and anonymised per transaction: the history's and the documents' tables are
/// locked meanwhile, so it stays short.
const CASE_BATCH: i64 = 20;

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Done {
    /// Registrations that became no case, anonymised.
    pub registrations: u64,
    /// Survey items that became no case, anonymised.
    pub survey_items: u64,
    /// Ended cases written to the archive and then anonymised.
    pub cases: u64,
    /// Registrations and survey items anonymised with their cases.
    pub case_sources: u64,
    pub notifications: u64,
    pub phone_codes: u64,
}

/// The jurisdiction tree and the periods set in it.
pub async fn periods(db: &PgPool) -> sqlx::Result<Periods> {
    let mut p = Periods::default();
    for j in sqlx::query!("SELECT id, parent_id FROM jurisdictions")
        .fetch_all(db)
        .await?
    {
        p.parents.insert(j.id, j.parent_id);
    }
    for s in sqlx::query!("SELECT jurisdiction_id, kind, days FROM retention_periods")
        .fetch_all(db)
        .await?
    {
        if let Some(kind) = Kind::parse(&s.kind) {
            p.settings.insert((s.jurisdiction_id, kind), s.days);
        }
    }
    Ok(p)
}

/// Run retention as of `now`, writing case archives into `archive_dir`; `done` counts what is
/// committed, also when a later step fails.
pub async fn run(
    owner: &PgPool,
    keys: &Keys,
    now: DateTime<Utc>,
    archive_dir: &Path,
    batch: i64,
    done: &mut Done,
) -> anyhow::Result<()> {
    let periods = periods(owner).await?;
    let cases = periods.cutoffs(Kind::ClosedCase, now);
    // Each pass continues after the last id of the one before: rows not due are read once.
    let mut after = 0;
    loop {
        let ids = due_cases(owner, after, &cases, CASE_BATCH.min(batch)).await?;
        let Some(&last) = ids.last() else { break };
        after = last;
        for &id in &ids {
            write_archive(owner, keys, id, now, archive_dir).await?;
        }
        let mut tx = owner.begin().await?;
        // Never queue the app's readers behind our table locks for long: fail, and retry tomorrow.
        sqlx::query!("SET LOCAL lock_timeout = '5s'")
            .execute(&mut *tx)
            .await?;
        let made = anonymise::cases(&mut tx, &ids, now).await?;
        tx.commit().await?;
        done.cases += made.cases;
        done.case_sources += made.registrations + made.survey_items;
    }
    let no_case = periods.cutoffs(Kind::NoCase, now);
    after = 0;
    loop {
        let ids = due_registrations(owner, after, &no_case, batch).await?;
        let Some(&last) = ids.last() else { break };
        after = last;
        let mut tx = owner.begin().await?;
        done.registrations += anonymise::registrations(&mut tx, &ids, now).await?;
        tx.commit().await?;
    }
    after = 0;
    loop {
        let ids = due_survey_items(owner, after, &no_case, batch).await?;
        let Some(&last) = ids.last() else { break };
        after = last;
        let mut tx = owner.begin().await?;
        done.survey_items += anonymise::survey_items(&mut tx, &ids, now).await?;
        tx.commit().await?;
    }
    let messages = periods.cutoffs(Kind::Notification, now);
    after = 0;
    loop {
        let ids = due_notifications(owner, after, &messages, batch).await?;
        let Some(&last) = ids.last() else { break };
        after = last;
        let mut tx = owner.begin().await?;
        done.notifications += anonymise::delete_notifications(&mut tx, &ids).await?;
        tx.commit().await?;
    }
    // A code belongs to no jurisdiction: the default period. Its messages go with it.
    loop {
        let gone = sqlx::query!(
            "DELETE FROM phone_codes WHERE id IN (SELECT id FROM phone_codes WHERE created_at <= $1 ORDER BY id LIMIT $2)",
            messages.default,
            batch
        )
        .execute(owner)
        .await?
        .rows_affected();
        if gone == 0 {
            break;
        }
        done.phone_codes += gone;
    }
    Ok(())
}

/// The 一案一档 file of case `id`, on disk and synced before its data may be anonymised.
async fn write_archive(
    db: &PgPool,
    keys: &Keys,
    id: i64,
    now: DateTime<Utc>,
    dir: &Path,
) -> anyhow::Result<()> {
    let (name, bytes) = archive::build(db, keys, id, now).await?;
    std::fs::create_dir_all(dir).with_context(|| format!("无法创建归档目录 {}", dir.display()))?;
    let path = dir.join(&name);
    let partial = dir.join(format!("{name}.partial"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&partial)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&partial, &path)?;
        // The rename itself must survive a crash too.
        std::fs::File::open(dir)?.sync_all()
    };
    write().with_context(|| format!("无法写入归档文件 {}", path.display()))
}

async fn due_cases(db: &PgPool, after: i64, c: &Cutoffs, limit: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        "SELECT c.id FROM cases c JOIN visits v ON v.id = c.visit_id
         LEFT JOIN unnest($1::bigint[], $2::timestamptz[]) AS l(j, cutoff) ON l.j = v.county_id
         WHERE c.id > $6 AND c.anonymised_at IS NULL AND c.status = ANY($3)
           AND COALESCE(c.closed_at, c.updated_at) <= COALESCE(l.cutoff, $4)
         ORDER BY c.id LIMIT $5",
        &c.jurisdictions,
        &c.cutoffs,
        &ended_states(),
        c.default,
        limit,
        after
    )
    .fetch_all(db)
    .await
}

/// Registrations of visits past the period that became no case (none from an issue of theirs,
/// none from the survey item they report).
async fn due_registrations(
    db: &PgPool,
    after: i64,
    c: &Cutoffs,
    limit: i64,
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        "SELECT r.id FROM registrations r JOIN visits v ON v.id = r.visit_id
         LEFT JOIN unnest($1::bigint[], $2::timestamptz[]) AS l(j, cutoff) ON l.j = v.county_id
         WHERE r.id > $5 AND r.anonymised_at IS NULL
           AND v.visit_date <= (COALESCE(l.cutoff, $3) AT TIME ZONE 'Asia/Shanghai')::date
           AND NOT EXISTS (SELECT 1 FROM receptions rc JOIN issues i ON i.reception_id = rc.id
                           JOIN cases k ON k.issue_id = i.id WHERE rc.registration_id = r.id)
           AND NOT EXISTS (SELECT 1 FROM cases k WHERE k.survey_item_id = r.survey_item_id)
         ORDER BY r.id LIMIT $4",
        &c.jurisdictions,
        &c.cutoffs,
        c.default,
        limit,
        after
    )
    .fetch_all(db)
    .await
}

async fn due_survey_items(
    db: &PgPool,
    after: i64,
    c: &Cutoffs,
    limit: i64,
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        "SELECT s.id FROM survey_items s JOIN visits v ON v.id = s.visit_id
         LEFT JOIN unnest($1::bigint[], $2::timestamptz[]) AS l(j, cutoff) ON l.j = v.county_id
         WHERE s.id > $5 AND s.anonymised_at IS NULL
           AND v.visit_date <= (COALESCE(l.cutoff, $3) AT TIME ZONE 'Asia/Shanghai')::date
           AND NOT EXISTS (SELECT 1 FROM cases k WHERE k.survey_item_id = s.id)
         ORDER BY s.id LIMIT $4",
        &c.jurisdictions,
        &c.cutoffs,
        c.default,
        limit,
        after
    )
    .fetch_all(db)
    .await
}

/// Messages past the period of the jurisdiction of the visit they are about, or of the account
/// they went to.
async fn due_notifications(
    db: &PgPool,
    after: i64,
    c: &Cutoffs,
    limit: i64,
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        "SELECT n.id FROM notifications n
         LEFT JOIN registrations r ON r.id = n.registration_id
         LEFT JOIN survey_items s ON s.id = n.survey_item_id
         LEFT JOIN visits v ON v.id = COALESCE(r.visit_id, s.visit_id)
         LEFT JOIN users u ON u.id = n.user_id
         LEFT JOIN unnest($1::bigint[], $2::timestamptz[]) AS l(j, cutoff) ON l.j = COALESCE(v.county_id, u.jurisdiction_id)
         WHERE n.id > $5 AND n.created_at <= COALESCE(l.cutoff, $3)
         ORDER BY n.id LIMIT $4",
        &c.jurisdictions,
        &c.cutoffs,
        c.default,
        limit,
        after
    )
    .fetch_all(db)
    .await
}
