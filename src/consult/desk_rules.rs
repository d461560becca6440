//! Rules of the leader's desk: moving a batch to another room (改换接待室) only before the
//! reception starts, when a batch that never checked in counts as absent (标记未到), and case
//! titles cut to fit, and who may correct a saved reception. Pure; unit-tested here.

use crate::clock::china_date;
use crate::prepare::lifecycle::RegistrationStatus as Status;
use chrono::{DateTime, Duration, Utc};

/// Outcomes of an issue and their UI words (DESIGN §6), in the order the select offers them.
pub const OUTCOMES: [(&str, &str); 5] = [
    ("resolved_on_spot", "当场解决"),
    ("assigned", "交办"),
    ("explained", "解释说明"),
    ("legal_channel", "导入法定途径"),
    ("not_accepted", "不予受理"),
];

pub fn outcome_label(outcome: &str) -> &'static str {
    OUTCOMES
        .iter()
        .find(|(o, _)| *o == outcome)
        .map(|(_, l)| *l)
        .unwrap_or("")
}

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

/// A saved reception is corrected by whoever recorded it, on the day it was recorded (China
/// time): afterwards it is the record the cases and the citizen rely on.
pub fn may_correct(
    recorded_by: i64,
    user_id: i64,
    recorded_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    recorded_by == user_id && china_date(recorded_at) == china_date(now)
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

    #[test]
    fn the_recorder_corrects_the_same_china_day_only() {
        // 15:30 UTC is 23:30 in China; 16:30 UTC is the next China day.
        let saved = at("2026-12-03T15:30:00Z");
        assert!(may_correct(7, 7, saved, at("2026-12-03T15:59:00Z")));
        assert!(!may_correct(7, 7, saved, at("2026-12-03T16:30:00Z")));
        assert!(!may_correct(7, 8, saved, at("2026-12-03T15:40:00Z")));
    }

    #[test]
    fn outcomes_have_their_ui_words() {
        assert_eq!(outcome_label("legal_channel"), "导入法定途径");
        assert_eq!(outcome_label("x"), "");
    }
}
