//! Triage in bulk: 确认 or 驳回 (one reason) many registrations at once. Each goes through the
//! same audited action as one at a time; those it cannot take are left as they are, each with its
//! reason, and the rest is done.

use crate::audit::Actor;
use crate::error::AppError;
use crate::prepare::lifecycle::{RegistrationStatus as Status, staff_status_label};
use crate::prepare::triage_actions;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bulk {
    Confirm,
    Reject,
}

/// Why a registration stays out of a bulk action; None: it is taken.
pub fn refusal(bulk: Bulk, status: &str, pending_flags: bool) -> Option<String> {
    let state = Status::parse(status)?;
    let label = staff_status_label(status);
    match bulk {
        Bulk::Confirm if state != Status::Submitted => Some(format!("当前为“{label}”")),
        // Staff decide a flag on its page before the registration is confirmed.
        Bulk::Confirm if pending_flags => Some("有待处理的筛查提示".into()),
        Bulk::Reject if !state.open_for_triage() => Some(format!("当前为“{label}”，不能驳回")),
        _ => None,
    }
}

/// What a bulk action came to: how many were done, and the codes left out with their reasons.
#[derive(Debug, Default)]
pub struct Outcome {
    pub done: usize,
    pub left: Vec<(String, String)>,
}

/// Apply `bulk` to the visit's registrations `ids` (others' ids are ignored), in the caller's
/// transaction. `reason`: the 驳回's, sent to each citizen.
pub async fn apply(
    tx: &mut PgConnection,
    visit_id: i64,
    ids: &[i64],
    bulk: Bulk,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Outcome, AppError> {
    let regs = sqlx::query!(
        r#"SELECT r.id, r.code, r.status,
                  EXISTS (SELECT 1 FROM screening_flags f WHERE f.registration_id = r.id AND f.decision = 'pending') AS "pending!"
           FROM registrations r WHERE r.visit_id = $1 AND r.id = ANY($2)
           ORDER BY array_position($2, r.id)
           FOR UPDATE OF r"#,
        visit_id,
        ids
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut outcome = Outcome::default();
    for r in regs {
        if let Some(why) = refusal(bulk, &r.status, r.pending) {
            outcome.left.push((r.code, why));
            continue;
        }
        match bulk {
            Bulk::Confirm => triage_actions::confirm(tx, visit_id, r.id, actor).await?,
            Bulk::Reject => triage_actions::reject(tx, visit_id, r.id, reason, actor, now).await?,
        }
        outcome.done += 1;
    }
    Ok(outcome)
}

/// The submitted registrations of a list without a pending flag: what 确认全部 takes.
pub fn confirmable(list: &[crate::prepare::triage_list::Match]) -> Vec<i64> {
    list.iter()
        .filter(|m| refusal(Bulk::Confirm, &m.status, m.pending).is_none())
        .map(|m| m.id)
        .collect()
}

/// The codes of the visit's registrations `ids`, for the 驳回 confirmation.
pub async fn codes(
    db: impl sqlx::PgExecutor<'_>,
    visit_id: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT code FROM registrations WHERE visit_id = $1 AND id = ANY($2) ORDER BY array_position($2, id)",
        visit_id,
        ids
    )
    .fetch_all(db)
    .await
}

/// The outcome in a sentence for the page's message (at most ten codes named).
pub fn summary(bulk: Bulk, o: &Outcome) -> String {
    let verb = match bulk {
        Bulk::Confirm => "确认",
        Bulk::Reject => "驳回",
    };
    let mut s = format!("已{verb} {} 件登记。", o.done);
    if !o.left.is_empty() {
        let named: Vec<String> = o
            .left
            .iter()
            .take(10)
            .map(|(code, why)| format!("{code}（{why}）"))
            .collect();
        let more = if o.left.len() > 10 { " 等" } else { "" };
        s += &format!("{} 件未{verb}：{}{more}。", o.left.len(), named.join("、"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bulk_confirm_takes_submitted_ones_without_pending_flags() {
        assert_eq!(refusal(Bulk::Confirm, "submitted", false), None);
        assert_eq!(
            refusal(Bulk::Confirm, "submitted", true).as_deref(),
            Some("有待处理的筛查提示")
        );
        assert_eq!(
            refusal(Bulk::Confirm, "confirmed", false).as_deref(),
            Some("当前为“已确认”")
        );
        assert_eq!(refusal(Bulk::Reject, "waitlisted", true), None);
        assert!(refusal(Bulk::Reject, "scheduled", false).is_some());
    }

    #[test]
    fn the_summary_names_at_most_ten_left_out() {
        let left = (0..12).map(|i| (format!("C{i}"), "有待处理的筛查提示".to_string()));
        let o = Outcome {
            done: 388,
            left: left.collect(),
        };
        let s = summary(Bulk::Confirm, &o);
        assert!(
            s.starts_with("已确认 388 件登记。12 件未确认：C0（有待处理的筛查提示）"),
            "{s}"
        );
        assert!(s.ends_with(" 等。") && !s.contains("C10"), "{s}");
    }
}
