//! Rules of the leader's desk: moving a batch to another room (改换接待室) only before the
//! reception starts, when a batch that never checked in counts as absent (标记未到), and case
//! titles cut to fit. Pure; unit-tested here.

use crate::prepare::lifecycle::RegistrationStatus as Status;
use chrono::{DateTime, Duration, Utc};

/// 改换接待室 only before the reception starts: scheduled or checked in, never once called.
pub fn transferable(status: Status) -> bool {
    matches!(status, Status::Scheduled | Status::CheckedIn)
}

/// When a batch that never checked in counts as absent: the end of its window, or for a batch
/// without one (walk-ins), the end of its expected slot(s).
pub fn no_show_from(
    expected_at: DateTime<Utc>,
    window_ends_at: Option<DateTime<Utc>>,
    slot_minutes: i32,
    slots: i16,
) -> DateTime<Utc> {
    window_ends_at.unwrap_or_else(|| {
        expected_at + Duration::minutes(i64::from(slot_minutes) * i64::from(slots.max(1)))
    })
}

/// Whether a registration is a no-show at `now`: never checked in, and its time is over.
pub fn is_no_show(status: Status, from: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    status == Status::Scheduled && now >= from
}

/// Titles of cases are at most 100 characters: the summary, cut.
pub fn case_title(summary: &str) -> String {
    summary.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn only_batches_not_yet_called_are_transferred() {
        assert!(transferable(Status::Scheduled));
        assert!(transferable(Status::CheckedIn));
        for s in [
            Status::Called,
            Status::Received,
            Status::NoShow,
            Status::Confirmed,
            Status::Cancelled,
        ] {
            assert!(!transferable(s), "{s}");
        }
    }

    #[test]
    fn absent_after_the_window_ends_or_after_the_slot_without_a_window() {
        let expected = at("2026-12-12T01:15:00Z");
        let window_end = at("2026-12-12T02:00:00Z");
        let from = no_show_from(expected, Some(window_end), 15, 1);
        assert_eq!(from, window_end);
        assert!(!is_no_show(
            Status::Scheduled,
            from,
            at("2026-12-12T01:59:59Z")
        ));
        assert!(is_no_show(Status::Scheduled, from, window_end));
        // Checked in, called or received: never a no-show, however late.
        assert!(!is_no_show(
            Status::CheckedIn,
            from,
            at("2026-12-12T09:00:00Z")
        ));
        // A walk-in of 7 persons (two slots) without a window: 30 minutes after its expected time.
        let walk_in = no_show_from(expected, None, 15, 2);
        assert_eq!(walk_in, at("2026-12-12T01:45:00Z"));
    }

    #[test]
    fn case_titles_fit_the_schema() {
        assert_eq!(case_title(&"路".repeat(150)).chars().count(), 100);
    }
}
