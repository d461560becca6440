//! Working days (DESIGN §4): Monday to Friday, except where the calendar table says otherwise
//! (State Council holidays, and the Saturdays or Sundays worked in exchange, 调休).

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use sqlx::PgExecutor;
use std::collections::HashMap;

/// The exceptions to the weekday rule over some span of dates.
#[derive(Clone, Debug, Default)]
pub struct Calendar {
    overrides: HashMap<NaiveDate, bool>,
}

impl Calendar {
    pub fn new(overrides: impl IntoIterator<Item = (NaiveDate, bool)>) -> Self {
        Self {
            overrides: overrides.into_iter().collect(),
        }
    }

    /// The calendar rows from `from` on, far enough ahead for any deadline the rules set
    /// (60 d plus a 30 d extension, counted in working days across holidays).
    pub async fn load(db: impl PgExecutor<'_>, from: NaiveDate) -> sqlx::Result<Self> {
        let to = from + Duration::days(400);
        let rows = sqlx::query!(
            "SELECT day, is_workday FROM calendar_days WHERE day BETWEEN $1 AND $2",
            from - Duration::days(400),
            to
        )
        .fetch_all(db)
        .await?;
        Ok(Self::new(rows.into_iter().map(|r| (r.day, r.is_workday))))
    }

    pub fn is_workday(&self, day: NaiveDate) -> bool {
        self.overrides
            .get(&day)
            .copied()
            .unwrap_or(!matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
    }

    /// The `n`th working day after `start` (the start day itself does not count): "within 5 working
    /// days of assignment" ends on `add(assigned, 5)`.
    pub fn add(&self, start: NaiveDate, n: u32) -> NaiveDate {
        let mut day = start;
        let mut left = n;
        while left > 0 {
            day += Duration::days(1);
            if self.is_workday(day) {
                left -= 1;
            }
        }
        day
    }

    /// Working days from `today` up to and including `due`; negative when `due` has passed
    /// (then the working days after `due` up to and including `today`, as a negative number).
    pub fn days_left(&self, today: NaiveDate, due: NaiveDate) -> i64 {
        let count = |from: NaiveDate, to: NaiveDate| {
            from.iter_days()
                .skip(1)
                .take_while(|d| *d <= to)
                .filter(|d| self.is_workday(*d))
                .count() as i64
        };
        if due >= today {
            count(today, due)
        } else {
            -count(due, today)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// 2026 Spring Festival as the State Council set it: 15–23 Feb off, Sat 14 Feb and Sat 28 Feb worked.
    fn spring_festival_2026() -> Calendar {
        let mut days: Vec<(NaiveDate, bool)> = d("2026-02-15")
            .iter_days()
            .take(9)
            .map(|x| (x, false))
            .collect();
        days.push((d("2026-02-14"), true));
        days.push((d("2026-02-28"), true));
        Calendar::new(days)
    }

    #[test]
    fn weekends_are_off_without_a_calendar() {
        let cal = Calendar::default();
        // Friday 2026-11-20 + 1 working day = Monday 23rd.
        assert_eq!(cal.add(d("2026-11-20"), 1), d("2026-11-23"));
        assert_eq!(cal.add(d("2026-11-16"), 5), d("2026-11-23"));
        assert_eq!(cal.add(d("2026-11-16"), 0), d("2026-11-16"));
    }

    #[test]
    fn spring_festival_is_skipped_and_the_tiaoxiu_saturday_counts() {
        let cal = spring_festival_2026();
        assert!(
            cal.is_workday(d("2026-02-14")),
            "调休 Saturday is a working day"
        );
        assert!(
            !cal.is_workday(d("2026-02-16")),
            "a Monday in the holiday is off"
        );
        // Assigned Thursday 12 Feb: Fri 13, Sat 14 (调休), then the holiday, then Tue 24, Wed 25, Thu 26.
        assert_eq!(cal.add(d("2026-02-12"), 5), d("2026-02-26"));
        // Without the calendar it would have been Thursday 19th, in the middle of the holiday.
        assert_eq!(Calendar::default().add(d("2026-02-12"), 5), d("2026-02-19"));
        // Sat 28 Feb is worked: Fri 27 + 1 = Sat 28.
        assert_eq!(cal.add(d("2026-02-27"), 1), d("2026-02-28"));
    }

    #[test]
    fn days_left_counts_working_days_both_ways() {
        let cal = spring_festival_2026();
        assert_eq!(cal.days_left(d("2026-02-12"), d("2026-02-26")), 5);
        assert_eq!(cal.days_left(d("2026-02-26"), d("2026-02-26")), 0);
        assert_eq!(cal.days_left(d("2026-02-26"), d("2026-02-12")), -5);
        assert_eq!(
            Calendar::default().days_left(d("2026-11-20"), d("2026-11-23")),
            1
        );
    }
}
