//! The supervision rules (DESIGN §4), pure: the 三率 and the weighted score of a tally, the
//! ranking, the highlight below the bar, the 通报 cut-off, and rolling pairs up.

use crate::config::rules::Weights;
use crate::followup::workdays::Calendar;
use chrono::{Datelike, Duration, NaiveDate};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub assigned: i64,
    pub responsive: i64,
    pub open: i64,
    pub due_soon: i64,
    pub overdue: i64,
    pub closed: i64,
    pub closed_in_period: i64,
    pub resolved: i64,
    pub on_time: i64,
    pub rated: i64,
    pub satisfied: i64,
}

/// A share in percent; none when there is nothing to divide by.
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

impl Tally {
    /// 响应率: signed in time and citizen told in time, over cases assigned.
    pub fn response_rate(&self) -> Option<f64> {
        rate(self.responsive, self.assigned)
    }
    /// 解决率: closed as resolved, over closed.
    pub fn resolution_rate(&self) -> Option<f64> {
        rate(self.resolved, self.closed)
    }
    /// 满意率: (满意 + 基本满意) over rated.
    pub fn satisfaction_rate(&self) -> Option<f64> {
        rate(self.satisfied, self.rated)
    }
    pub fn closure_rate(&self) -> Option<f64> {
        rate(self.closed, self.assigned)
    }
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(self.on_time, self.closed)
    }
}

/// The weighted score over the rates that exist (weights of missing rates are left out); none
/// without any rate.
pub fn score(t: &Tally, w: &Weights) -> Option<f64> {
    let parts = [
        (t.response_rate(), w.response),
        (t.resolution_rate(), w.resolution),
        (t.satisfaction_rate(), w.satisfaction),
    ];
    let (sum, weight) = parts
        .iter()
        .filter_map(|(r, w)| r.map(|r| (r * *w as f64, *w as f64)))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    (weight > 0.0).then(|| sum / weight)
}

/// Competition ranking by score, highest first (equal scores share a rank: 1, 1, 3); rows
/// without a score come last, unranked. Returns the rank of each input row, in input order.
pub fn ranks(scores: &[Option<f64>]) -> Vec<Option<usize>> {
    let key = |s: f64| (s * 100.0).round() as i64; // equal at the shown precision
    scores
        .iter()
        .map(|s| {
            s.map(|s| {
                1 + scores
                    .iter()
                    .filter(|o| o.is_some_and(|o| key(o) > key(s)))
                    .count()
            })
        })
        .collect()
}

/// Below the bar (a rate that does not exist is not highlighted).
pub fn highlighted(r: Option<f64>, w: &Weights) -> bool {
    r.is_some_and(|r| r < w.highlight_below_pct)
}

/// Cases first urged on or before this day are on the 通报 list today: still open
/// `wd` working days after the urge.
pub fn report_cutoff(calendar: &Calendar, today: NaiveDate, wd: u32) -> NaiveDate {
    let mut day = today;
    while calendar.add(day, wd) > today {
        day -= Duration::days(1);
    }
    day
}

pub fn pct(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{r:.1}%"))
}

pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

impl std::ops::AddAssign<&Tally> for Tally {
    fn add_assign(&mut self, o: &Tally) {
        self.assigned += o.assigned;
        self.responsive += o.responsive;
        self.open += o.open;
        self.due_soon += o.due_soon;
        self.overdue += o.overdue;
        self.closed += o.closed;
        self.closed_in_period += o.closed_in_period;
        self.resolved += o.resolved;
        self.on_time += o.on_time;
        self.rated += o.rated;
        self.satisfied += o.satisfied;
    }
}

/// The tallies of one (department, leader) pair.
pub struct TallyRow {
    pub department_id: i64,
    pub leader_id: i64,
    /// The host jurisdiction of the cases' visits (a city or province ranks its counties).
    pub host_id: i64,
    pub tally: Tally,
}

/// Tallies by department or leader id, ids in ascending order.
pub type ById = Vec<(i64, Tally)>;

/// Totals by department, by leader, and overall (the pairs rolled up; ids in ascending order).
pub fn roll_up(rows: &[TallyRow]) -> (ById, ById, Tally) {
    use std::collections::BTreeMap;
    let (mut by_dept, mut by_leader, mut total) = (
        BTreeMap::<i64, Tally>::new(),
        BTreeMap::<i64, Tally>::new(),
        Tally::default(),
    );
    for r in rows {
        *by_dept.entry(r.department_id).or_default() += &r.tally;
        *by_leader.entry(r.leader_id).or_default() += &r.tally;
        total += &r.tally;
    }
    (
        by_dept.into_iter().collect(),
        by_leader.into_iter().collect(),
        total,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(
        assigned: i64,
        responsive: i64,
        closed: i64,
        resolved: i64,
        rated: i64,
        satisfied: i64,
    ) -> Tally {
        Tally {
            assigned,
            responsive,
            closed,
            resolved,
            rated,
            satisfied,
            ..Default::default()
        }
    }

    #[test]
    fn rates_divide_and_say_nothing_without_cases() {
        let x = t(10, 9, 8, 6, 4, 3);
        assert_eq!(x.response_rate(), Some(90.0));
        assert_eq!(x.resolution_rate(), Some(75.0));
        assert_eq!(x.satisfaction_rate(), Some(75.0));
        assert_eq!(x.closure_rate(), Some(80.0));
        assert_eq!(Tally::default().response_rate(), None);
        assert_eq!(pct(Some(85.0)), "85.0%");
        assert_eq!(pct(None), "—");
    }

    #[test]
    fn score_weighs_30_35_35_and_skips_missing_rates() {
        let w = Weights::default();
        // 90×0.30 + 75×0.35 + 75×0.35 = 27 + 26.25 + 26.25 = 79.5
        assert!((score(&t(10, 9, 8, 6, 4, 3), &w).unwrap() - 79.5).abs() < 1e-9);
        // Nothing rated: (90×30 + 75×35) / 65
        let s = score(&t(10, 9, 8, 6, 0, 0), &w).unwrap();
        assert!((s - (90.0 * 30.0 + 75.0 * 35.0) / 65.0).abs() < 1e-9);
        assert_eq!(score(&Tally::default(), &w), None);
        let custom = Weights {
            response: 100,
            resolution: 0,
            satisfaction: 0,
            ..w
        };
        assert_eq!(score(&t(10, 9, 8, 6, 4, 3), &custom), Some(90.0));
    }

    #[test]
    fn ranking_shares_ties_and_puts_unscored_last() {
        assert_eq!(
            ranks(&[Some(70.0), Some(90.0), None, Some(90.0), Some(50.0)]),
            vec![Some(3), Some(1), None, Some(1), Some(4)]
        );
        assert_eq!(ranks(&[]), Vec::<Option<usize>>::new());
    }

    #[test]
    fn below_85_percent_is_highlighted() {
        let w = Weights::default();
        assert!(highlighted(Some(84.9), &w));
        assert!(!highlighted(Some(85.0), &w));
        assert!(!highlighted(None, &w));
    }

    #[test]
    fn the_report_cutoff_is_five_working_days_back() {
        let cal = Calendar::default();
        // Monday 2026-11-30: urged on Monday 23rd or earlier → 5 working days have passed.
        assert_eq!(
            report_cutoff(&cal, "2026-11-30".parse().unwrap(), 5),
            "2026-11-23".parse().unwrap()
        );
        // Sunday 29th: Mon 23 + 5 wd = Mon 30 > 29, so Friday 20th (Fri 20 + 5 = Fri 27 ≤ 29)... and Sat/Sun 21–22 too.
        assert_eq!(
            report_cutoff(&cal, "2026-11-29".parse().unwrap(), 5),
            "2026-11-22".parse().unwrap()
        );
    }

    #[test]
    fn pairs_roll_up_by_department_leader_and_total() {
        let row = |d, l, assigned| TallyRow {
            department_id: d,
            leader_id: l,
            host_id: 0,
            tally: Tally {
                assigned,
                ..Default::default()
            },
        };
        let (d, l, total) = roll_up(&[row(1, 10, 2), row(1, 11, 3), row(2, 10, 4)]);
        assert_eq!(
            d.iter()
                .map(|(id, t)| (*id, t.assigned))
                .collect::<Vec<_>>(),
            [(1, 5), (2, 4)]
        );
        assert_eq!(
            l.iter()
                .map(|(id, t)| (*id, t.assigned))
                .collect::<Vec<_>>(),
            [(10, 6), (11, 3)]
        );
        assert_eq!(total.assigned, 9);
    }
}
