//! Scheduled publication (issue 16): every instance's jobs publish a planned notice at 08:00 China
//! time on its planned date, with the notice periods (DESIGN §4) checked at that moment; a plan
//! they refuse stays a draft with the reason on it for the staff.
//!
//! Exactly once across instances: a pass claims one due draft at a time with `FOR UPDATE SKIP
//! LOCKED`, and a claim re-checked after another instance's commit no longer matches (it is
//! published, or refused); the unique index of published notices stands behind both.

use crate::audit::Actor;
use crate::clock::{Clock, china_date, china_instant};
use crate::error::AppError;
use crate::prepare::notice_store::{self, Content, SCHEDULED_HOUR};
use crate::prepare::plan::NoticeDays;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use sqlx::PgPool;

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub published: usize,
    pub refused: usize,
}

/// The latest planned date due at `now`: today from 08:00 China time, yesterday before.
pub fn due_through(now: DateTime<Utc>) -> NaiveDate {
    let today = china_date(now);
    let hour = NaiveTime::from_hms_opt(SCHEDULED_HOUR, 0, 0).unwrap_or(NaiveTime::MIN);
    if now >= china_instant(today, hour) {
        today
    } else {
        today.checked_sub_days(Days::new(1)).unwrap_or(today)
    }
}

/// The jobs as the audit log names them: no person, the instance in the name.
fn system(instance: &str) -> Actor {
    Actor {
        id: None,
        name: format!("系统定时发布（{instance}）"),
        role: None,
        ip: None,
        jurisdiction_id: None,
    }
}

/// One pass: publish (or refuse) every due plan, one transaction each.
pub async fn run_pass(
    db: &PgPool,
    clock: &dyn Clock,
    notice_days: &NoticeDays,
    instance: &str,
) -> Result<Pass, AppError> {
    let mut pass = Pass::default();
    while let Some(published) = claim_one(db, clock.now(), notice_days, instance).await? {
        if published {
            pass.published += 1;
        } else {
            pass.refused += 1;
        }
    }
    Ok(pass)
}

/// Claim one due plan and publish it, or keep the reason it may not go out. None: nothing due.
async fn claim_one(
    db: &PgPool,
    now: DateTime<Utc>,
    notice_days: &NoticeDays,
    instance: &str,
) -> Result<Option<bool>, AppError> {
    let mut tx = db.begin().await?;
    let Some(n) = sqlx::query!(
        r#"SELECT id, visit_id, title, body, channels, scheduled_by AS "scheduled_by!" FROM notices
           WHERE status = 'draft' AND scheduled_by IS NOT NULL AND schedule_refused IS NULL AND planned_date <= $1
           ORDER BY planned_date, id
           LIMIT 1
           FOR UPDATE SKIP LOCKED"#,
        due_through(now)
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let actor = system(instance);
    let refused = match notice_store::lock_draft(&mut tx, n.visit_id, n.id).await {
        Ok(d) => match notice_store::publish_refusal(&mut tx, &d, now, notice_days).await? {
            None if n.channels.is_empty() => Some("未选择发布渠道。".to_string()),
            None => {
                let c = Content {
                    title: n.title,
                    body: n.body,
                    channels: n.channels,
                };
                let by = Some((now, n.scheduled_by));
                notice_store::save_draft(&mut tx, &d, &c, by, &actor).await?;
                None
            }
            Some(why) => {
                notice_store::record_refused_publish(&mut tx, &d, &why, &actor).await?;
                Some(why)
            }
        },
        // A cancelled visit: nothing goes out.
        Err(AppError::Conflict(why)) => Some(why),
        Err(e) => return Err(e),
    };
    if let Some(why) = &refused {
        let why = format!("定时发布未执行：{why}");
        sqlx::query!(
            "UPDATE notices SET schedule_refused = $2 WHERE id = $1",
            n.id,
            why
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Some(refused.is_none()))
}

/// The loop every instance runs: a pass, then a pause.
pub async fn run_loop(
    db: PgPool,
    clock: crate::clock::SharedClock,
    notice_days: NoticeDays,
    poll: std::time::Duration,
    instance: String,
) {
    crate::job_runs::started("notices");
    loop {
        match run_pass(&db, clock.as_ref(), &notice_days, &instance).await {
            Ok(_) => crate::job_runs::ran("notices"),
            Err(e) => tracing::warn!(error = ?e, "scheduled notices failed; retrying"),
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_due_from_eight_oclock_china_time() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        // 08:00 in China is 00:00 UTC.
        assert_eq!(due_through(t("2026-12-08T23:59:00Z")), d("2026-12-08"));
        assert_eq!(due_through(t("2026-12-09T00:00:00Z")), d("2026-12-09"));
        assert_eq!(due_through(t("2026-12-09T15:59:00Z")), d("2026-12-09"));
        // 00:30 on the 10th in China: the 10th's plans wait until 08:00.
        assert_eq!(due_through(t("2026-12-09T16:30:00Z")), d("2026-12-09"));
    }
}
