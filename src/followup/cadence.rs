//! Cadence compliance (制度化, DESIGN §1, §4 and §11): provincial leaders go down every half year,
//! city leaders every quarter, county leaders every month; township leaders at any time (counted,
//! never behind). Lists the leaders who are behind.

pub use crate::config::rules::Cadence;
use chrono::{Months, NaiveDate};

/// The date by which the next visit was due: the same day `months` later (clamped to the month's
/// end, so 31 January + 1 month = 28/29 February).
pub fn next_due(last: NaiveDate, months: u32) -> NaiveDate {
    last.checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// Behind: never on a visit, or today is past the date the next one was due.
pub fn behind(last: Option<NaiveDate>, today: NaiveDate, months: u32) -> bool {
    last.is_none_or(|d| today > next_due(d, months))
}

pub struct LeaderVisits {
    pub id: i64,
    pub name: String,
    pub title: String,
    pub level: String,
    pub last_visit: Option<NaiveDate>,
}

pub struct Lag {
    pub id: i64,
    pub name: String,
    pub title: String,
    pub level: &'static str,
    pub months: u32,
    /// "从未下访" or the date.
    pub last_visit: String,
    pub due: String,
}

pub fn level_label(level: &str) -> &'static str {
    match level {
        "province" => "省级",
        "city" => "市级",
        "county" => "县级",
        "township" => "乡镇级",
        _ => "",
    }
}

/// The leaders behind their level's cadence, in the order given.
pub fn lagging(rows: Vec<LeaderVisits>, today: NaiveDate, cadence: &Cadence) -> Vec<Lag> {
    rows.into_iter()
        .filter_map(|r| {
            let months = cadence.months(&r.level)?;
            behind(r.last_visit, today, months).then(|| Lag {
                id: r.id,
                level: level_label(&r.level),
                months,
                last_visit: r
                    .last_visit
                    .map(crate::clock::cn_date)
                    .unwrap_or_else(|| "从未下访".into()),
                due: r
                    .last_visit
                    .map(|d| crate::clock::cn_date(next_due(d, months)))
                    .unwrap_or_default(),
                name: r.name,
                title: r.title,
            })
        })
        .collect()
}

/// Active leaders with the last day they received people (not cancelled, not after today): as the
/// visit's lead or accompanying leader, seated in one of its rooms, or at one of its receptions.
/// Only the leaders of `within`'s subtree (and those of no jurisdiction yet).
pub async fn leader_visits(
    db: &sqlx::PgPool,
    today: NaiveDate,
    within: Option<i64>,
) -> sqlx::Result<Vec<LeaderVisits>> {
    sqlx::query_as!(
        LeaderVisits,
        r#"SELECT l.id, l.name, l.title, l.level,
                  (SELECT max(v.visit_date) FROM visits v
                   WHERE v.status <> 'cancelled' AND v.visit_date <= $1
                     AND v.id IN (SELECT id FROM visits WHERE lead_leader_id = l.id
                                  UNION ALL SELECT visit_id FROM visit_leaders WHERE leader_id = l.id
                                  UNION ALL SELECT r.visit_id FROM room_leaders rl JOIN rooms r ON r.id = rl.room_id
                                            WHERE rl.leader_id = l.id
                                  UNION ALL SELECT rc.visit_id FROM reception_leaders rl
                                            JOIN receptions rc ON rc.id = rl.reception_id WHERE rl.leader_id = l.id)) AS last_visit
           FROM leaders l WHERE l.active AND COALESCE(l.county_id, $2) IN (SELECT jurisdiction_subtree($2))
           ORDER BY l.level, l.name, l.id"#,
        today,
        within
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_county_leader_is_behind_the_day_after_one_month() {
        let last = d(2026, 10, 22);
        assert!(
            !behind(Some(last), d(2026, 11, 22), 1),
            "exactly one month: still in time"
        );
        assert!(behind(Some(last), d(2026, 11, 23), 1));
        assert!(!behind(Some(last), last + chrono::Duration::days(20), 1));
        assert!(behind(Some(last), last + chrono::Duration::days(40), 1));
    }

    #[test]
    fn month_ends_clamp() {
        assert_eq!(next_due(d(2026, 1, 31), 1), d(2026, 2, 28));
        assert_eq!(next_due(d(2028, 1, 31), 1), d(2028, 2, 29));
        assert!(!behind(Some(d(2026, 1, 31)), d(2026, 2, 28), 1));
        assert!(behind(Some(d(2026, 1, 31)), d(2026, 3, 1), 1));
        assert_eq!(next_due(d(2026, 8, 31), 6), d(2027, 2, 28));
        assert_eq!(next_due(d(2026, 11, 30), 3), d(2027, 2, 28));
    }

    #[test]
    fn levels_have_their_own_cadence_and_never_is_behind() {
        let c = Cadence::default();
        let today = d(2026, 11, 22);
        let rows = |level: &str, last| LeaderVisits {
            id: 1,
            name: "甲".into(),
            title: "职".into(),
            level: level.into(),
            last_visit: last,
        };
        let four_months = Some(d(2026, 7, 20));
        assert!(lagging(vec![rows("province", four_months)], today, &c).is_empty());
        assert_eq!(lagging(vec![rows("city", four_months)], today, &c).len(), 1);
        let never = lagging(vec![rows("province", None)], today, &c);
        assert_eq!(never[0].last_visit, "从未下访");
        assert_eq!(never[0].level, "省级");
        assert!(
            lagging(vec![rows("township", None)], today, &c).is_empty(),
            "township leaders are counted, never behind"
        );
    }
}
