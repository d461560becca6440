//! A registration's states (DESIGN §3 "States") and the one pure transition function every status
//! write goes through: `next()` decides, the domain function writes `status.as_str()`.

use std::fmt;

/// Where a registration is in the pipeline, as stored in `registrations.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegistrationStatus {
    Submitted,
    Confirmed,
    Rejected,
    Waitlisted,
    Scheduled,
    CheckedIn,
    Called,
    Received,
    NoShow,
    Cancelled,
}

use RegistrationStatus as S;

impl RegistrationStatus {
    pub const ALL: [RegistrationStatus; 10] = [
        S::Submitted,
        S::Confirmed,
        S::Rejected,
        S::Waitlisted,
        S::Scheduled,
        S::CheckedIn,
        S::Called,
        S::Received,
        S::NoShow,
        S::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            S::Submitted => "submitted",
            S::Confirmed => "confirmed",
            S::Rejected => "rejected",
            S::Waitlisted => "waitlisted",
            S::Scheduled => "scheduled",
            S::CheckedIn => "checked_in",
            S::Called => "called",
            S::Received => "received",
            S::NoShow => "no_show",
            S::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RegistrationStatus> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// What the citizen reads (receipt, lookup, the check-in desk's answers).
    pub fn citizen_label(self) -> &'static str {
        match self {
            S::Submitted => "已提交，待审核",
            S::Confirmed => "已确认",
            S::Rejected => "未予受理",
            S::Waitlisted => "候补中",
            S::Scheduled => "已排定接访",
            S::CheckedIn => "已签到",
            S::Called => "已叫号",
            S::Received => "已接谈",
            S::NoShow => "未到场",
            S::Cancelled => "已取消",
        }
    }

    /// What staff read (triage, the leader's desk): shorter, in the office's words.
    pub fn staff_label(self) -> &'static str {
        match self {
            S::Submitted => "待审核",
            S::Rejected => "已驳回",
            S::Scheduled => "已排接",
            other => other.citizen_label(),
        }
    }

    /// The status a new booking starts in.
    pub fn on_booking(waitlisted: bool) -> RegistrationStatus {
        if waitlisted {
            S::Waitlisted
        } else {
            S::Submitted
        }
    }

    /// Holds booked slots of its window (a waiting or finished-early registration does not).
    pub fn holds_slots(self) -> bool {
        matches!(
            self,
            S::Submitted
                | S::Confirmed
                | S::Scheduled
                | S::CheckedIn
                | S::Called
                | S::Received
                | S::NoShow
        )
    }

    /// Triage may still reject or merge it (before scheduling).
    pub fn open_for_triage(self) -> bool {
        matches!(self, S::Submitted | S::Confirmed | S::Waitlisted)
    }

    /// A citizen (or staff) may still cancel it before the day.
    pub fn cancellable(self) -> bool {
        self.next(Event::Cancel).is_ok()
    }

    /// The one transition table.
    pub fn next(self, event: Event) -> Result<RegistrationStatus, Refused> {
        use Event as E;
        let to = match (event, self) {
            (E::Confirm, S::Submitted) => S::Confirmed,
            (E::Reject, s) if s.open_for_triage() => S::Rejected,
            (E::Merge, s) if s.open_for_triage() => S::Cancelled,
            (E::Promote, S::Waitlisted) => S::Submitted,
            (E::Schedule, S::Confirmed | S::Scheduled) => S::Scheduled,
            (E::Unschedule, S::Scheduled) => S::Confirmed,
            (E::CheckIn, S::Scheduled | S::Confirmed) => S::CheckedIn,
            (E::PlaceWalkIn, S::Submitted) => S::CheckedIn,
            (E::Call, S::CheckedIn) => S::Called,
            (E::Receive, S::Called) => S::Received,
            (E::NoShow, S::Scheduled) => S::NoShow,
            (E::Cancel, S::Submitted | S::Confirmed | S::Waitlisted | S::Scheduled) => S::Cancelled,
            _ => return Err(Refused { from: self, event }),
        };
        Ok(to)
    }
}

impl fmt::Display for RegistrationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The citizen's label of a stored status string ("未知" for anything else).
pub fn citizen_status_label(status: &str) -> &'static str {
    RegistrationStatus::parse(status).map_or("未知", RegistrationStatus::citizen_label)
}

/// The staff label of a stored status string ("未知" for anything else).
pub fn staff_status_label(status: &str) -> &'static str {
    RegistrationStatus::parse(status).map_or("未知", RegistrationStatus::staff_label)
}

/// What is done to a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Triage: 确认.
    Confirm,
    /// Triage: 驳回.
    Reject,
    /// Triage: a duplicate merged into another registration (it ends cancelled).
    Merge,
    /// The waiting list moves up: a place became free.
    Promote,
    /// 排接: given a room, number and time (again, when re-planned).
    Schedule,
    /// Taken out of a plan again.
    Unschedule,
    /// 签到 at the desk.
    CheckIn,
    /// A walk-in, booked a moment ago, queued in a room at once.
    PlaceWalkIn,
    /// 叫号.
    Call,
    /// 接谈 recorded.
    Receive,
    /// 未到场 at the end of the day.
    NoShow,
    /// Cancelled by the citizen or staff before the day.
    Cancel,
}

impl Event {
    pub const ALL: [Event; 12] = [
        Event::Confirm,
        Event::Reject,
        Event::Merge,
        Event::Promote,
        Event::Schedule,
        Event::Unschedule,
        Event::CheckIn,
        Event::PlaceWalkIn,
        Event::Call,
        Event::Receive,
        Event::NoShow,
        Event::Cancel,
    ];
}

/// `event` does not apply to a registration in status `from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub from: RegistrationStatus,
    pub event: Event,
}

impl Event {
    /// The action in words, for a refusal.
    pub fn label(self) -> &'static str {
        match self {
            Event::Confirm => "确认",
            Event::Reject => "驳回",
            Event::Merge => "合并",
            Event::Promote => "候补递补",
            Event::Schedule => "排接",
            Event::Unschedule => "撤销排接",
            Event::CheckIn => "签到",
            Event::PlaceWalkIn => "现场签到",
            Event::Call => "叫号",
            Event::Receive => "记录接谈",
            Event::NoShow => "标记未到场",
            Event::Cancel => "取消",
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "该登记当前为“{}”，不能{}。",
            self.from.staff_label(),
            self.event.label()
        )
    }
}

/// A refused transition reached a domain function: the state changed under the user's feet.
impl From<Refused> for crate::error::AppError {
    fn from(r: Refused) -> Self {
        crate::error::AppError::Conflict(r.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event as E;

    /// Every allowed (from, event) → to; every pair not listed here must be refused.
    const ALLOWED: &[(RegistrationStatus, Event, RegistrationStatus)] = &[
        (S::Submitted, E::Confirm, S::Confirmed),
        (S::Submitted, E::Reject, S::Rejected),
        (S::Confirmed, E::Reject, S::Rejected),
        (S::Waitlisted, E::Reject, S::Rejected),
        (S::Submitted, E::Merge, S::Cancelled),
        (S::Confirmed, E::Merge, S::Cancelled),
        (S::Waitlisted, E::Merge, S::Cancelled),
        (S::Waitlisted, E::Promote, S::Submitted),
        (S::Confirmed, E::Schedule, S::Scheduled),
        (S::Scheduled, E::Schedule, S::Scheduled),
        (S::Scheduled, E::Unschedule, S::Confirmed),
        (S::Scheduled, E::CheckIn, S::CheckedIn),
        (S::Confirmed, E::CheckIn, S::CheckedIn),
        (S::Submitted, E::PlaceWalkIn, S::CheckedIn),
        (S::CheckedIn, E::Call, S::Called),
        (S::Called, E::Receive, S::Received),
        (S::Scheduled, E::NoShow, S::NoShow),
        (S::Submitted, E::Cancel, S::Cancelled),
        (S::Confirmed, E::Cancel, S::Cancelled),
        (S::Waitlisted, E::Cancel, S::Cancelled),
        (S::Scheduled, E::Cancel, S::Cancelled),
    ];

    #[test]
    fn every_pair_is_allowed_or_refused_as_the_table_says() {
        let mut allowed = 0;
        for from in RegistrationStatus::ALL {
            for event in Event::ALL {
                let expected = ALLOWED
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| *to);
                match expected {
                    Some(to) => {
                        allowed += 1;
                        assert_eq!(from.next(event), Ok(to), "{from} {event:?}");
                    }
                    None => assert_eq!(
                        from.next(event),
                        Err(Refused { from, event }),
                        "{from} {event:?} must be refused"
                    ),
                }
            }
        }
        assert_eq!(allowed, ALLOWED.len(), "no duplicate rows in the table");
    }

    #[test]
    fn finished_states_accept_nothing() {
        for from in [S::Rejected, S::Received, S::NoShow, S::Cancelled] {
            assert!(Event::ALL.iter().all(|e| from.next(*e).is_err()), "{from}");
        }
    }

    #[test]
    fn strings_round_trip() {
        for s in RegistrationStatus::ALL {
            assert_eq!(RegistrationStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RegistrationStatus::parse("merged"), None);
        assert_eq!(citizen_status_label("merged"), "未知");
    }

    #[test]
    fn labels_are_the_ones_the_pages_show() {
        assert_eq!(citizen_status_label("submitted"), "已提交，待审核");
        assert_eq!(staff_status_label("submitted"), "待审核");
        assert_eq!(citizen_status_label("rejected"), "未予受理");
        assert_eq!(staff_status_label("rejected"), "已驳回");
        assert_eq!(citizen_status_label("scheduled"), "已排定接访");
        assert_eq!(staff_status_label("scheduled"), "已排接");
        for s in [
            S::Confirmed,
            S::Waitlisted,
            S::CheckedIn,
            S::Called,
            S::Received,
        ] {
            assert_eq!(s.citizen_label(), s.staff_label());
        }
    }

    #[test]
    fn slots_triage_and_cancel() {
        assert!(
            S::Submitted.holds_slots() && S::Confirmed.holds_slots() && S::Scheduled.holds_slots()
        );
        assert!(
            !S::Waitlisted.holds_slots()
                && !S::Rejected.holds_slots()
                && !S::Cancelled.holds_slots()
        );
        assert!(S::Waitlisted.open_for_triage() && !S::Scheduled.open_for_triage());
        let cancellable: Vec<_> = RegistrationStatus::ALL
            .into_iter()
            .filter(|s| s.cancellable())
            .collect();
        assert_eq!(
            cancellable,
            [S::Submitted, S::Confirmed, S::Waitlisted, S::Scheduled]
        );
        assert_eq!(RegistrationStatus::on_booking(true), S::Waitlisted);
        assert_eq!(RegistrationStatus::on_booking(false), S::Submitted);
    }
}
