//! Business metrics for the operator (issue 17): what the whole deployment holds and how long ago
//! each background job last ran, read at scrape time and served beside the HTTP metrics.
//!
//! Written as exposition text rather than through the process-wide recorder: each scrape then
//! shows its own database's numbers (the test suite runs many apps in one process), and a label
//! never outlives its rows.

use crate::followup::state::RUNNING;
use crate::prepare::lifecycle::RegistrationStatus;
use chrono::NaiveDate;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The numbers one scrape reports.
#[derive(Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Every registration state, zero included.
    pub registrations: Vec<(&'static str, i64)>,
    pub cases_open: i64,
    pub cases_overdue: i64,
    pub cases_awaiting_approval: i64,
    pub outbox_pending: i64,
    pub outbox_failed: i64,
    /// Seconds since each job of this process last ran.
    pub job_lag: Vec<(&'static str, f64)>,
}

/// Read the numbers: three aggregate queries over the whole database, `today` in China.
pub async fn read(db: &PgPool, today: NaiveDate) -> sqlx::Result<Snapshot> {
    let counts: BTreeMap<String, i64> = sqlx::query!(
        r#"SELECT status AS "status!", count(*) AS "n!" FROM registrations GROUP BY status"#
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.status, r.n))
    .collect();
    let running: Vec<String> = RUNNING.iter().map(|s| s.to_string()).collect();
    let cases = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE status = ANY($1)) AS "open!",
                  count(*) FILTER (WHERE status = ANY($1) AND effective_due_on < $2) AS "overdue!",
                  count(*) FILTER (WHERE status = 'closure_submitted') AS "awaiting!"
           FROM cases"#,
        &running,
        today,
    )
    .fetch_one(db)
    .await?;
    let outbox = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE status = 'pending') AS "pending!",
                  count(*) FILTER (WHERE status = 'failed') AS "failed!"
           FROM notifications"#
    )
    .fetch_one(db)
    .await?;
    Ok(Snapshot {
        registrations: RegistrationStatus::ALL
            .iter()
            .map(|s| (s.as_str(), counts.get(s.as_str()).copied().unwrap_or(0)))
            .collect(),
        cases_open: cases.open,
        cases_overdue: cases.overdue,
        cases_awaiting_approval: cases.awaiting,
        outbox_pending: outbox.pending,
        outbox_failed: outbox.failed,
        job_lag: crate::job_runs::lags(),
    })
}

impl Snapshot {
    /// Prometheus text exposition, each gauge with its HELP and TYPE.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let labelled = |label: &'static str, v: &[(&'static str, f64)]| {
            v.iter()
                .map(|(value, n)| (Some((label, *value)), *n))
                .collect::<Vec<_>>()
        };
        let registrations: Vec<_> = self
            .registrations
            .iter()
            .map(|(s, n)| (*s, *n as f64))
            .collect();
        let plain = |n: i64| vec![(None, n as f64)];
        let gauges = [
            (
                "xiafang_registrations",
                "Registrations by state.",
                labelled("state", &registrations),
            ),
            (
                "xiafang_cases_open",
                "Cases whose deadline clock runs (assigned, accepted, returned, awaiting approval).",
                plain(self.cases_open),
            ),
            (
                "xiafang_cases_overdue",
                "Open cases past their due date (China time).",
                plain(self.cases_overdue),
            ),
            (
                "xiafang_cases_awaiting_approval",
                "Cases whose closure awaits approval.",
                plain(self.cases_awaiting_approval),
            ),
            (
                "xiafang_outbox_pending",
                "Messages in the outbox not yet delivered.",
                plain(self.outbox_pending),
            ),
            (
                "xiafang_outbox_failed",
                "Messages the outbox gave up on.",
                plain(self.outbox_failed),
            ),
            (
                "xiafang_job_lag_seconds",
                "Seconds since each background job of this instance last completed a pass.",
                labelled("job", &self.job_lag),
            ),
        ];
        for (name, help, samples) in gauges {
            if samples.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (label, value) in samples {
                match label {
                    Some((key, v)) => writeln!(out, "{name}{{{key}=\"{v}\"}} {value}"),
                    None => writeln!(out, "{name} {value}"),
                }
                .ok();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_gauge_with_help_and_labels() {
        let text = Snapshot {
            registrations: vec![("submitted", 2), ("no_show", 0)],
            cases_open: 3,
            cases_overdue: 1,
            job_lag: vec![("deadlines", 1.5)],
            ..Snapshot::default()
        }
        .render();
        assert!(text.contains("# HELP xiafang_registrations Registrations by state.\n# TYPE xiafang_registrations gauge\n"), "{text}");
        assert!(text.contains("xiafang_registrations{state=\"submitted\"} 2\n"));
        assert!(text.contains("xiafang_registrations{state=\"no_show\"} 0\n"));
        assert!(text.contains("xiafang_cases_open 3\n"));
        assert!(text.contains("xiafang_cases_overdue 1\n"));
        assert!(text.contains("xiafang_outbox_failed 0\n"));
        assert!(text.contains("xiafang_job_lag_seconds{job=\"deadlines\"} 1.5\n"));
    }

    #[test]
    fn a_job_that_never_ran_has_no_lag_line() {
        let text = Snapshot::default().render();
        assert!(!text.contains("xiafang_job_lag_seconds"), "{text}");
        assert!(text.contains("# TYPE xiafang_cases_open gauge"));
    }
}
