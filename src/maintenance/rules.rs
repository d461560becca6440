//! Which rows are due (DESIGN §7 Retention): a period per kind, a default for each, a
//! jurisdiction's own setting (`retention_periods`) for it and everything below it, the nearest
//! ancestor's winning. A row is due once its start (visit day, closure, creation) is at or before
//! the cutoff, `now` less the period of the jurisdiction it belongs to.

use crate::followup::state::State;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::collections::HashMap;

/// What a period is set for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A registration (or survey item) that became no case: from its visit day to anonymisation.
    NoCase,
    /// A case that ended: from its closure to archiving and anonymisation.
    ClosedCase,
    /// A message in the outbox (phone number and text) and an SMS verification code: to deletion.
    Notification,
    /// An audit entry: to deletion.
    Audit,
}

/// Audit entries are kept at least six months (等保; also a CHECK in migration 0042).
pub const AUDIT_MINIMUM_DAYS: i32 = 184;

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::NoCase,
        Kind::ClosedCase,
        Kind::Notification,
        Kind::Audit,
    ];

    /// As stored in `retention_periods.kind`.
    pub fn code(self) -> &'static str {
        match self {
            Kind::NoCase => "no_case",
            Kind::ClosedCase => "closed_case",
            Kind::Notification => "notification",
            Kind::Audit => "audit",
        }
    }

    pub fn parse(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The period where no jurisdiction above sets one.
    pub fn default_days(self) -> i32 {
        match self {
            Kind::NoCase => 365,
            Kind::ClosedCase => 3650,
            Kind::Notification => 180,
            Kind::Audit => 1095,
        }
    }
}

/// The jurisdiction tree and its settings, as loaded from the database.
#[derive(Default)]
pub struct Periods {
    /// Each jurisdiction's parent.
    pub parents: HashMap<i64, Option<i64>>,
    pub settings: HashMap<(i64, Kind), i32>,
}

/// The cutoff of each jurisdiction whose period is not the default, and the default's.
#[derive(Debug, PartialEq)]
pub struct Cutoffs {
    pub default: DateTime<Utc>,
    pub jurisdictions: Vec<i64>,
    pub cutoffs: Vec<DateTime<Utc>>,
}

impl Periods {
    /// The period of `kind` for rows of jurisdiction `j`: the nearest setting on the way up,
    /// else the default. An audit period is never below the minimum.
    pub fn days(&self, kind: Kind, j: Option<i64>) -> i32 {
        let mut at = j;
        // The tree has no cycles (a trigger refuses them); the bound only guards a broken one.
        for _ in 0..32 {
            let Some(id) = at else { break };
            if let Some(days) = self.settings.get(&(id, kind)) {
                return if kind == Kind::Audit {
                    (*days).max(AUDIT_MINIMUM_DAYS)
                } else {
                    *days
                };
            }
            at = self.parents.get(&id).copied().flatten();
        }
        kind.default_days()
    }

    /// The cutoffs of `kind` at `now`, every jurisdiction with a period of its own listed.
    pub fn cutoffs(&self, kind: Kind, now: DateTime<Utc>) -> Cutoffs {
        let mut own: Vec<(i64, DateTime<Utc>)> = self
            .parents
            .keys()
            .map(|&j| (j, self.days(kind, Some(j))))
            .filter(|&(_, days)| days != kind.default_days())
            .map(|(j, days)| (j, cutoff(now, days)))
            .collect();
        own.sort();
        Cutoffs {
            default: cutoff(now, kind.default_days()),
            jurisdictions: own.iter().map(|(j, _)| *j).collect(),
            cutoffs: own.iter().map(|(_, c)| *c).collect(),
        }
    }
}

impl Cutoffs {
    /// The cutoff for rows of jurisdiction `j` (the SQL joins the same lists).
    pub fn of(&self, j: Option<i64>) -> DateTime<Utc> {
        j.and_then(|j| self.jurisdictions.iter().position(|&x| x == j))
            .map_or(self.default, |i| self.cutoffs[i])
    }
}

/// `now` less `days` days: what started at or before it is due.
pub fn cutoff(now: DateTime<Utc>, days: i32) -> DateTime<Utc> {
    now - Duration::days(days.into())
}

/// A row that started at `start` is due at `cutoff` (the queries of `retention` and
/// `audit_expiry` compare the same way).
pub fn due(start: DateTime<Utc>, cutoff: DateTime<Utc>) -> bool {
    start <= cutoff
}

/// A registration of a visit on `day` is due when the cutoff's China day is that day or later:
/// 365 days after the visit day, whatever the hour.
pub fn day_due(day: NaiveDate, cutoff: DateTime<Utc>) -> bool {
    day <= crate::clock::china_date(cutoff)
}

/// The case states that ended it: only such a case is archived and anonymised.
pub fn ended_states() -> Vec<String> {
    State::ALL
        .into_iter()
        .filter(|s| !s.is_open())
        .map(|s| s.as_str().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// 浙江 (1) → 金华 (2) → 浦江 (3) → 仙华街道 (4); 杭州 (5) under 浙江.
    fn tree() -> Periods {
        Periods {
            parents: HashMap::from([
                (1, None),
                (2, Some(1)),
                (3, Some(2)),
                (4, Some(3)),
                (5, Some(1)),
            ]),
            settings: HashMap::new(),
        }
    }

    #[test]
    fn defaults_apply_where_nothing_is_set() {
        let p = tree();
        assert_eq!(p.days(Kind::NoCase, Some(4)), 365);
        assert_eq!(p.days(Kind::ClosedCase, Some(4)), 3650);
        assert_eq!(p.days(Kind::Notification, None), 180);
        assert_eq!(
            p.days(Kind::Audit, Some(99)),
            1095,
            "an unknown jurisdiction"
        );
    }

    #[test]
    fn the_nearest_ancestors_setting_applies() {
        let mut p = tree();
        p.settings.insert((1, Kind::NoCase), 730);
        p.settings.insert((3, Kind::NoCase), 30);
        assert_eq!(
            p.days(Kind::NoCase, Some(4)),
            30,
            "the county's, above the township"
        );
        assert_eq!(p.days(Kind::NoCase, Some(3)), 30);
        assert_eq!(p.days(Kind::NoCase, Some(2)), 730, "the province's");
        assert_eq!(p.days(Kind::NoCase, Some(5)), 730);
        assert_eq!(p.days(Kind::NoCase, None), 365);
        assert_eq!(p.days(Kind::ClosedCase, Some(4)), 3650, "per kind");
    }

    #[test]
    fn audit_entries_are_kept_six_months_at_least() {
        let mut p = tree();
        p.settings.insert((3, Kind::Audit), 30);
        assert_eq!(p.days(Kind::Audit, Some(4)), AUDIT_MINIMUM_DAYS);
    }

    #[test]
    fn cutoffs_list_only_jurisdictions_off_the_default() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap();
        let mut p = tree();
        p.settings.insert((3, Kind::NoCase), 30);
        p.settings.insert((1, Kind::NoCase), 365);
        let c = p.cutoffs(Kind::NoCase, now);
        assert_eq!(c.default, now - Duration::days(365));
        assert_eq!(c.jurisdictions, [3, 4]);
        assert_eq!(c.of(Some(4)), now - Duration::days(30));
        assert_eq!(c.of(Some(2)), c.default);
        assert_eq!(c.of(None), c.default);
    }

    #[test]
    fn due_at_the_cutoff_and_not_a_moment_before() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap();
        let c = cutoff(now, 180);
        assert!(due(c, c));
        assert!(due(c - Duration::days(1), c));
        assert!(!due(c + Duration::seconds(1), c));
    }

    #[test]
    fn a_visit_day_is_due_365_days_later_whatever_the_hour() {
        // 2026-12-03 00:30 in China is 2026-12-02 16:30 UTC.
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 16, 30, 0).unwrap();
        let c = cutoff(now, 365);
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert!(day_due(day(2025, 12, 3), c), "exactly 365 days before");
        assert!(!day_due(day(2025, 12, 4), c));
        assert!(day_due(day(2024, 1, 1), c));
    }

    #[test]
    fn only_ended_cases_are_archived() {
        let ended = ended_states();
        for s in ["closed", "rated", "terminated", "not_accepted"] {
            assert!(ended.contains(&s.to_owned()), "{s}");
        }
        for s in [
            "assigned",
            "accepted",
            "returned",
            "closure_submitted",
            "in_review",
        ] {
            assert!(!ended.contains(&s.to_owned()), "{s}");
        }
    }

    #[test]
    fn kinds_read_back_from_their_codes() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.code()), Some(k));
        }
        assert_eq!(Kind::parse("other"), None);
    }
}
