//! 签到 rules: what 签到 does with a registration in
//! each status, and the expected time of a batch joining a room's queue. Pure; unit-tested here.

use crate::prepare::lifecycle::RegistrationStatus as Status;
pub use crate::prepare::search::{Query, classify};
use chrono::{DateTime, Utc};

/// What 签到 does with a registration in this status.
#[derive(Debug, PartialEq)]
pub enum CheckIn {
    /// Scheduled: it already has its room and number.
    Queue,
    /// Confirmed but never scheduled: the best room at once, like a walk-in.
    Place,
    Refuse(&'static str),
}

pub fn check_in(status: Status) -> CheckIn {
    match status {
        Status::Scheduled => CheckIn::Queue,
        Status::Confirmed => CheckIn::Place,
        Status::CheckedIn | Status::Called | Status::Received => {
            CheckIn::Refuse("该登记已经签到，无需重复签到。")
        }
        Status::Cancelled => CheckIn::Refuse("该登记已取消，不能签到。如仍需接谈，请现场登记。"),
        Status::Rejected => CheckIn::Refuse("该登记未予受理，不能签到。"),
        Status::NoShow => {
            CheckIn::Refuse("该登记已标记为未到场，不能签到。如仍需接谈，请现场登记。")
        }
        Status::Submitted => CheckIn::Refuse("该登记尚未审核确认，请先在登记审核中确认后再签到。"),
        Status::Waitlisted => CheckIn::Refuse("该登记仍在候补中，不能签到。如需接谈，请现场登记。"),
    }
}

/// The expected time of a batch joining a room's queue now: after the room's last batch, not before now.
pub fn expected_at(now: DateTime<Utc>, room_free_at: Option<DateTime<Utc>>) -> DateTime<Utc> {
    room_free_at.map_or(now, |t| t.max(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheduled_or_confirmed_batches_check_in() {
        assert_eq!(check_in(Status::Scheduled), CheckIn::Queue);
        assert_eq!(check_in(Status::Confirmed), CheckIn::Place);
        for s in [Status::CheckedIn, Status::Called, Status::Received] {
            assert_eq!(
                check_in(s),
                CheckIn::Refuse("该登记已经签到，无需重复签到。"),
                "{s}"
            );
        }
        for s in [
            Status::Cancelled,
            Status::Rejected,
            Status::NoShow,
            Status::Submitted,
            Status::Waitlisted,
        ] {
            assert!(matches!(check_in(s), CheckIn::Refuse(_)), "{s}");
        }
    }

    #[test]
    fn a_late_joiner_waits_for_the_room_not_for_the_past() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            expected_at(t("2026-12-04T02:00:00Z"), None),
            t("2026-12-04T02:00:00Z")
        );
        assert_eq!(
            expected_at(t("2026-12-04T02:00:00Z"), Some(t("2026-12-04T01:00:00Z"))),
            t("2026-12-04T02:00:00Z")
        );
        assert_eq!(
            expected_at(t("2026-12-04T02:00:00Z"), Some(t("2026-12-04T03:15:00Z"))),
            t("2026-12-04T03:15:00Z")
        );
    }
}
