//! Deadline jobs that every instance runs (DESIGN §4, §8): reminders 7/3/1 days before a case's
//! due date and the automatic 催办 the day after it; the same for an open 复查/复核, whose 30
//! days (moved by a hearing) are the reviewing body's, so its supervisors are told.
//!
//! Exactly once across instances: a pass claims due open cases with `FOR UPDATE SKIP LOCKED`
//! (another instance skips what this one holds), and the event carries a `job_key` under a
//! unique index (migration 0006), so even a claim made on a stale snapshot inserts nothing; the
//! notifications are queued only for an event that was inserted, in the same transaction.

use crate::clock::{Clock, china_date};
use crate::followup::CaseRules;
use crate::notify;
use chrono::NaiveDate;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

/// What a pass did (and so which instance claimed what).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub reminded: usize,
    pub urged: usize,
}

/// The reminder due today for a case due on `due`: the smallest threshold that `due - today`
/// fits under, so that a pass missed during downtime sends the one reminder that still matters.
pub fn reminder_threshold(thresholds: &[i64], today: NaiveDate, due: NaiveDate) -> Option<i64> {
    let left = (due - today).num_days();
    if left <= 0 {
        return None;
    }
    thresholds.iter().copied().filter(|t| left <= *t).min()
}

/// The dedupe key of a reminder or urge: what distinguishes it from every other one of its case
/// (a new due date after an extension gets its own reminders).
fn job_key(kind: &str, due: NaiveDate) -> String {
    format!("{kind}:{due}")
}

struct Due {
    id: i64,
    code: String,
    title: String,
    /// The case's lead department; for a review, the reviewing body's jurisdiction.
    to: i64,
    due: NaiveDate,
    review: bool,
}

/// One pass: claim and process batches until nothing is due. `instance` is recorded in the events.
pub async fn run_pass(
    db: &PgPool,
    clock: &dyn Clock,
    rules: &CaseRules,
    batch: i64,
    instance: &str,
) -> sqlx::Result<Pass> {
    let mut pass = Pass::default();
    for review in [false, true] {
        loop {
            let (r, u) = claim_batch(db, clock, rules, batch, instance, review).await?;
            pass.reminded += r;
            pass.urged += u;
            if r + u == 0 {
                break;
            }
        }
    }
    Ok(pass)
}

/// One transaction: claim up to `batch` due cases (or open reviews), write their events and
/// notifications.
async fn claim_batch(
    db: &PgPool,
    clock: &dyn Clock,
    rules: &CaseRules,
    batch: i64,
    instance: &str,
    review: bool,
) -> sqlx::Result<(usize, usize)> {
    let now = clock.now();
    let today = china_date(now);
    let widest = rules.reminder_d.iter().copied().max().unwrap_or(0);
    let mut tx = db.begin().await?;
    let rows = if review {
        due_reviews(&mut tx, today, widest, &rules.reminder_d, batch).await?
    } else {
        due_cases(&mut tx, today, widest, &rules.reminder_d, batch).await?
    };
    let (mut reminded, mut urged) = (0, 0);
    for c in &rows {
        let prefix = if c.review { "review-" } else { "" };
        if c.due < today {
            let key = job_key(&format!("{prefix}urge"), c.due);
            if fire(&mut tx, c, "auto_urged", &key, None, now, instance).await? {
                // The first urge starts the 通报 count (a case's may come from a 督办 earlier).
                if c.review {
                    sqlx::query!(
                        "UPDATE reviews SET first_urged_at = $2
                         WHERE case_id = $1 AND decided_at IS NULL AND first_urged_at IS NULL",
                        c.id,
                        now
                    )
                    .execute(&mut *tx)
                    .await?;
                } else {
                    sqlx::query!(
                        "UPDATE cases SET first_urged_at = $2 WHERE id = $1 AND first_urged_at IS NULL",
                        c.id,
                        now
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                urged += 1;
            }
        } else if c.due > today {
            let Some(d) = reminder_threshold(&rules.reminder_d, today, c.due) else {
                continue;
            };
            let key = job_key(&format!("{prefix}remind{d}d"), c.due);
            if fire(&mut tx, c, "reminded", &key, Some(d), now, instance).await? {
                reminded += 1;
            }
        }
    }
    tx.commit().await?;
    // Rows claimed but already done (a stale snapshot) count as nothing: the loop then ends.
    Ok((reminded, urged))
}

/// Open cases due within the widest reminder or already past due, lacking the event due for them
/// today (the key is computed in SQL the same way as job_key/reminder_threshold).
async fn due_cases(
    tx: &mut PgConnection,
    today: NaiveDate,
    widest: i64,
    thresholds: &[i64],
    batch: i64,
) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as!(
        Due,
        r#"SELECT c.id, c.code, c.title, c.lead_department_id AS "to!", c.effective_due_on AS "due!", false AS "review!"
           FROM cases c
           WHERE c.status IN ('assigned', 'accepted', 'returned', 'closure_submitted')
             AND c.effective_due_on <= $1::date + $2::int
             AND c.effective_due_on <> $1::date
             AND NOT EXISTS (
                 SELECT 1 FROM case_events e
                 WHERE e.case_id = c.id AND e.kind IN ('reminded', 'auto_urged')
                   AND e.data ->> 'job_key' = CASE WHEN c.effective_due_on < $1::date THEN 'urge:' || c.effective_due_on
                       ELSE 'remind' || (SELECT min(t) FROM unnest($3::bigint[]) t WHERE c.effective_due_on - $1::date <= t)
                            || 'd:' || c.effective_due_on END)
           ORDER BY c.effective_due_on, c.id
           LIMIT $4
           FOR UPDATE OF c SKIP LOCKED"#,
        today,
        widest as i32,
        thresholds,
        batch
    )
    .fetch_all(&mut *tx)
    .await
}

/// Open reviews with a reviewing body, due within the widest reminder or past due, lacking the
/// event due today (keys prefixed `review-`, so a case's own reminders never stand for them).
async fn due_reviews(
    tx: &mut PgConnection,
    today: NaiveDate,
    widest: i64,
    thresholds: &[i64],
    batch: i64,
) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as!(
        Due,
        r#"SELECT c.id, c.code, c.title, r.jurisdiction_id AS "to!", r.due_on AS "due!", true AS "review!"
           FROM reviews r JOIN cases c ON c.id = r.case_id
           WHERE r.decided_at IS NULL AND r.jurisdiction_id IS NOT NULL
             AND r.due_on <= $1::date + $2::int
             AND r.due_on <> $1::date
             AND NOT EXISTS (
                 SELECT 1 FROM case_events e
                 WHERE e.case_id = c.id AND e.kind IN ('reminded', 'auto_urged')
                   AND e.data ->> 'job_key' = CASE WHEN r.due_on < $1::date THEN 'review-urge:' || r.due_on
                       ELSE 'review-remind' || (SELECT min(t) FROM unnest($3::bigint[]) t WHERE r.due_on - $1::date <= t)
                            || 'd:' || r.due_on END)
           ORDER BY r.due_on, c.id
           LIMIT $4
           FOR UPDATE OF r SKIP LOCKED"#,
        today,
        widest as i32,
        thresholds,
        batch
    )
    .fetch_all(&mut *tx)
    .await
}

/// Insert the event unless its key exists; on insert, notify the lead department's handlers (or,
/// for a review, the reviewing jurisdiction's supervisors).
async fn fire(
    tx: &mut PgConnection,
    c: &Due,
    kind: &str,
    key: &str,
    days: Option<i64>,
    now: chrono::DateTime<chrono::Utc>,
    instance: &str,
) -> sqlx::Result<bool> {
    let data = json!({ "job_key": key, "due_on": c.due, "days": days, "by": instance });
    let inserted = sqlx::query_scalar!(
        "INSERT INTO case_events (case_id, kind, at, data) VALUES ($1, $2, $3, $4)
         ON CONFLICT (case_id, kind, (data ->> 'job_key')) WHERE kind IN ('reminded', 'auto_urged') DO NOTHING
         RETURNING id",
        c.id,
        kind,
        now,
        data
    )
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        return Ok(false);
    }
    let due = crate::clock::cn_date(c.due);
    let mut params = json!({"case_code": c.code, "title": c.title, "due": due});
    if let Some(d) = days {
        params["days"] = json!(d);
    }
    let kind = match (c.review, days.is_some()) {
        (false, true) => "case.reminder",
        (false, false) => "case.auto_urge",
        (true, true) => "review.reminder",
        (true, false) => "review.auto_urge",
    };
    let (department, jurisdiction) = if c.review {
        (None, Some(c.to))
    } else {
        (Some(c.to), None)
    };
    notify_staff(tx, department, jurisdiction, kind, params).await?;
    Ok(true)
}

/// Queue a message of `kind` to every active handler of a department.
pub async fn notify_department(
    tx: &mut PgConnection,
    department_id: i64,
    kind: &str,
    params: serde_json::Value,
) -> sqlx::Result<()> {
    notify_staff(tx, Some(department_id), None, kind, params).await
}

/// Queue a message of `kind` to every active handler of `department` and every active supervisor
/// of `jurisdiction`.
async fn notify_staff(
    tx: &mut PgConnection,
    department: Option<i64>,
    jurisdiction: Option<i64>,
    kind: &str,
    params: serde_json::Value,
) -> sqlx::Result<()> {
    let staff = sqlx::query!(
        "SELECT id, username FROM users
         WHERE active AND ((role = 'handler' AND department_id = $1) OR (role = 'supervisor' AND jurisdiction_id = $2))
         ORDER BY id",
        department,
        jurisdiction
    )
    .fetch_all(&mut *tx)
    .await?;
    for h in staff {
        let m = notify::Message {
            registration_id: None,
            user_id: Some(h.id),
            phone_code_id: None,
            recipient_mask: &h.username,
            kind,
            params: params.clone(),
        };
        notify::queue(&mut *tx, m).await?;
    }
    Ok(())
}

/// The loop every instance runs: a pass, then a pause. Passes on several instances split the work.
pub async fn run_loop(
    db: PgPool,
    clock: crate::clock::SharedClock,
    rules: CaseRules,
    batch: i64,
    poll: std::time::Duration,
    instance: String,
) {
    crate::job_runs::started("deadlines");
    loop {
        match run_pass(&db, clock.as_ref(), &rules, batch, &instance).await {
            Ok(_) => crate::job_runs::ran("deadlines"),
            Err(e) => tracing::warn!(error = %e, "case deadline jobs failed; retrying"),
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn each_reminder_has_its_window() {
        let t = [7, 3, 1];
        let due = d("2026-12-10");
        assert_eq!(
            reminder_threshold(&t, d("2026-12-02"), due),
            None,
            "8 days before: nothing yet"
        );
        assert_eq!(reminder_threshold(&t, d("2026-12-03"), due), Some(7));
        assert_eq!(
            reminder_threshold(&t, d("2026-12-06"), due),
            Some(7),
            "4 days before: still the 7-day one"
        );
        assert_eq!(reminder_threshold(&t, d("2026-12-07"), due), Some(3));
        assert_eq!(reminder_threshold(&t, d("2026-12-08"), due), Some(3));
        assert_eq!(reminder_threshold(&t, d("2026-12-09"), due), Some(1));
        assert_eq!(
            reminder_threshold(&t, d("2026-12-10"), due),
            None,
            "the due day itself: no reminder"
        );
        assert_eq!(reminder_threshold(&t, d("2026-12-11"), due), None);
    }

    #[test]
    fn keys_differ_per_threshold_and_due_date() {
        assert_eq!(job_key("remind7d", d("2026-12-10")), "remind7d:2026-12-10");
        assert_ne!(
            job_key("remind7d", d("2026-12-10")),
            job_key("remind7d", d("2027-01-09"))
        );
    }
}
