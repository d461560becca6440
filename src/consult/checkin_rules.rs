//! 签到 rules: what 签到 does with a registration in
//! each status, and the expected time of a batch joining a room's queue. Pure; unit-tested here.

use crate::clock::{china_instant, cn_minute};
use crate::prepare::lifecycle::RegistrationStatus as Status;
pub use crate::prepare::search::{Query, classify};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

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

/// When 签到 opens for a visit on `day`: that day at 00:00 China time, or 12:00 the day before
/// when staff opened it early (for queues that form the afternoon before).
pub fn opens_at(day: NaiveDate, eve: bool) -> DateTime<Utc> {
    match (eve, day.pred_opt()) {
        (true, Some(before)) => china_instant(before, NaiveTime::from_hms_opt(12, 0, 0).unwrap()),
        _ => china_instant(day, NaiveTime::MIN),
    }
}

/// Why 签到 is not open at `now` for a visit on `day`, if it is not yet.
pub fn not_open(now: DateTime<Utc>, day: NaiveDate, eve: bool) -> Option<String> {
    let opens = opens_at(day, eve);
    (now < opens).then(|| {
        format!(
            "签到尚未开放：本次接访的签到于 {} 开放，届时再来办理。",
            cn_minute(opens)
        )
    })
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
    fn check_in_opens_on_the_day_or_the_afternoon_before() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let day: NaiveDate = "2026-12-12".parse().unwrap();
        // 2026-12-11 12:00 and 2026-12-12 00:00 in China are 04:00 and 16:00 UTC the day before.
        assert!(not_open(t("2026-12-10T04:00:00Z"), day, true).is_some());
        assert!(not_open(t("2026-12-11T03:59:00Z"), day, true).is_some());
        assert_eq!(not_open(t("2026-12-11T04:00:00Z"), day, true), None);
        let refused = not_open(t("2026-12-11T04:00:00Z"), day, false).unwrap();
        assert!(refused.contains("2026年12月12日 00:00"), "{refused}");
        assert_eq!(not_open(t("2026-12-11T16:00:00Z"), day, false), None);
        assert_eq!(not_open(t("2026-12-12T09:00:00Z"), day, false), None);
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
