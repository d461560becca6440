//! The rules of the county's duty rota (值守接访, DESIGN §11): which days a leader is on duty, who
//! in turn, what a posted choice may be, and what the day's notice says. Pure; no I/O.
//!
//! A duty day needs no 10- or 3-day notice (DESIGN §4): those periods give citizens time to hear of
//! a leader's visit-down day, while the 矛调中心 receives people every working day anyway. The
//! month's rota is the county's 每月领导接访安排: each day is announced as soon as it is set, and
//! a change of leader afterwards is a correction notice like any other.

use crate::clock::cn_date;
use crate::followup::workdays::Calendar;
use crate::prepare::notice_text::Facts;
use crate::prepare::plan::weekday;
use chrono::{Datelike, NaiveDate, NaiveTime};

/// The title every duty day carries: the public schedule and the staff lists label it by this.
pub const TITLE: &str = "领导值守接访";
/// The one room of a duty day.
pub const ROOM: &str = "值守接待室";
/// Where a duty day is announced.
pub const CHANNELS: [&str; 2] = ["政府网站", "微信公众号"];
/// Why a day's leader changed or a day was withdrawn, as the notices say.
pub const CHANGE_REASON: &str = "值守安排调整";
/// A visit's defaults (migration 0002): 15-minute numbers, cases within 60 days.
pub const SLOT_MINUTES: i32 = 15;
pub const DEADLINE_DAYS: i32 = 60;
pub const SCOPE: &str = "本地区的信访事项和矛盾纠纷，由矛调中心一站式接收、分流交办、跟踪化解。";

/// The hours of the 矛调中心's reception.
pub fn hours() -> (NaiveTime, NaiveTime) {
    (
        NaiveTime::from_hms_opt(9, 0, 0).expect("09:00"),
        NaiveTime::from_hms_opt(17, 0, 0).expect("17:00"),
    )
}

/// The county's 社会矛盾纠纷调处化解中心, where its duty days are held.
pub fn venue(county: &str) -> String {
    format!("{county}社会矛盾纠纷调处化解中心")
}

/// Every day of the month starting `first`.
pub fn month_days(first: NaiveDate) -> Vec<NaiveDate> {
    first
        .iter_days()
        .take_while(|d| d.month() == first.month())
        .collect()
}

/// The working days of the month starting `first` (weekends are rest unless the calendar makes
/// them 调休 working days; its holidays are rest).
pub fn working_days(calendar: &Calendar, first: NaiveDate) -> Vec<NaiveDate> {
    month_days(first)
        .into_iter()
        .filter(|d| calendar.is_workday(*d))
        .collect()
}

/// Assign `days` to `leaders` in turn, beginning with `leaders[start % n]`; nobody without leaders.
pub fn round_robin(leaders: &[i64], days: &[NaiveDate], start: usize) -> Vec<(NaiveDate, i64)> {
    if leaders.is_empty() {
        return Vec::new();
    }
    days.iter()
        .enumerate()
        .map(|(i, d)| (*d, leaders[(start + i) % leaders.len()]))
        .collect()
}

/// Where the turn starts: after the leader on duty last (the months follow on), else the first.
pub fn start_after(leaders: &[i64], last: Option<i64>) -> usize {
    last.and_then(|l| leaders.iter().position(|x| *x == l))
        .map_or(0, |i| i + 1)
}

/// A leader posted for a day, as the database knows them.
pub enum Pick {
    /// "" — nobody on duty that day.
    Nobody,
    /// Not a number, or no such leader.
    Unknown,
    Leader {
        id: i64,
        /// An active county-level leader of this county.
        eligible: bool,
    },
}

/// What a posted day asks for, before anything is written.
pub struct Asked<'a> {
    pub day: NaiveDate,
    pub first: NaiveDate,
    pub today: NaiveDate,
    pub workday: bool,
    pub county: &'a str,
}

/// The leader to put on duty (None: nobody), or why not — the message shown beside the day.
/// Only days that change are asked: an unchanged past day is no error.
pub fn check_pick(a: &Asked<'_>, pick: &Pick) -> Result<Option<i64>, String> {
    let date = format!("{}（{}）", cn_date(a.day), weekday(a.day));
    if a.day.year() != a.first.year() || a.day.month() != a.first.month() {
        return Err(format!("{date}不在本月，请切换到该月安排"));
    }
    if !a.workday {
        return Err(format!("{date}是休息日，不安排值守接访"));
    }
    if a.day <= a.today {
        return Err(format!("{date}已到或已过，值守安排不能再更改"));
    }
    match pick {
        Pick::Nobody => Ok(None),
        Pick::Unknown => Err("请从列表中选择值守领导".into()),
        // Not named: another county's leader is none of this account's business.
        Pick::Leader {
            eligible: false, ..
        } => Err(format!(
            "所选领导不是{}在任的县级领导，不能在此值守",
            a.county
        )),
        Pick::Leader { id, .. } => Ok(Some(*id)),
    }
}

/// The date a form field names: `day_2026-12-03`.
pub fn field_day(key: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(key.strip_prefix("day_")?, "%Y-%m-%d").ok()
}

/// The days a posted form sets, each with the leader id as typed ("" for nobody).
pub fn picks(form: &[(String, String)]) -> Vec<(NaiveDate, String)> {
    form.iter()
        .filter_map(|(k, v)| Some((field_day(k)?, v.clone())))
        .collect()
}

/// Title and body of a duty day's notice (its part of the 每月领导接访安排).
pub fn notice(f: &Facts) -> (String, String) {
    let title = format!(
        "{}{}领导值守接访安排（{}）",
        f.county,
        f.date.format("%Y年%-m月"),
        cn_date(f.date)
    );
    let leaders = f
        .leaders
        .iter()
        .map(|l| format!("{}（{}）", l.name, l.title))
        .collect::<Vec<_>>()
        .join("、");
    let body = [
        format!(
            "根据{}{}领导接访安排，{}由{}在{}值守接访，现公告如下：",
            f.county,
            f.date.format("%Y年%-m月"),
            cn_date(f.date),
            leaders,
            f.venue
        ),
        format!("接访时间：{}", f.when()),
        format!("接访地点：{}", f.place()),
        format!("值守领导：{leaders}"),
        format!("受理范围：{}", f.scope),
        format!(
            "登记方式：即日起至 {} 止，访问 {} 网上登记并选择接访时段；也可当天直接到矛调中心登记。",
            crate::clock::cn_minute(f.closes_at),
            f.register_url
        ),
        "请携带本人身份证件及相关材料。已进入诉讼、仲裁、行政复议等法定程序的事项，请依法通过相应途径解决。特此公告。".into(),
    ]
    .join("\n");
    (title.chars().take(100).collect(), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// The shipped 2026 National Day arrangement (migration 0016).
    fn october_2026() -> Calendar {
        let mut days: Vec<(NaiveDate, bool)> = (1..=7)
            .map(|n| (NaiveDate::from_ymd_opt(2026, 10, n).unwrap(), false))
            .collect();
        days.push((d("2026-10-10"), true));
        Calendar::new(days)
    }

    #[test]
    fn working_days_skip_weekends_and_holidays_and_keep_the_worked_saturday() {
        let days = working_days(&october_2026(), d("2026-10-01"));
        assert_eq!(days.first(), Some(&d("2026-10-08")));
        assert!(days.contains(&d("2026-10-10")), "调休 Saturday");
        assert!(!days.contains(&d("2026-10-17")), "an ordinary Saturday");
        assert!(!days.contains(&d("2026-10-05")), "a holiday Monday");
        assert_eq!(days.len(), 18);
        assert_eq!(month_days(d("2026-02-01")).len(), 28);
    }

    #[test]
    fn round_robin_takes_the_leaders_in_turn_from_the_start() {
        let days = [
            d("2026-12-01"),
            d("2026-12-02"),
            d("2026-12-03"),
            d("2026-12-04"),
        ];
        assert_eq!(
            round_robin(&[7, 8, 9], &days, 0)
                .iter()
                .map(|p| p.1)
                .collect::<Vec<_>>(),
            [7, 8, 9, 7]
        );
        assert_eq!(round_robin(&[7, 8, 9], &days, 2)[0], (d("2026-12-01"), 9));
        assert_eq!(round_robin(&[7, 8, 9], &days, 5)[1], (d("2026-12-02"), 7));
        assert!(round_robin(&[], &days, 0).is_empty());
    }

    #[test]
    fn the_turn_starts_after_the_leader_on_duty_last() {
        assert_eq!(start_after(&[7, 8, 9], Some(8)), 2);
        assert_eq!(start_after(&[7, 8, 9], Some(9)), 3);
        assert_eq!(start_after(&[7, 8, 9], Some(4)), 0, "no longer in the list");
        assert_eq!(start_after(&[7, 8, 9], None), 0);
    }

    fn asked(day: &str, workday: bool) -> Asked<'static> {
        Asked {
            day: d(day),
            first: d("2026-12-01"),
            today: d("2026-12-02"),
            workday,
            county: "浦阳县",
        }
    }

    #[test]
    fn a_pick_is_a_future_working_day_of_the_month_and_a_leader_of_the_county() {
        let leader = |eligible| Pick::Leader { id: 7, eligible };
        assert_eq!(
            check_pick(&asked("2026-12-03", true), &leader(true)),
            Ok(Some(7))
        );
        assert_eq!(
            check_pick(&asked("2026-12-03", true), &Pick::Nobody),
            Ok(None)
        );
        assert_eq!(
            check_pick(&asked("2026-12-05", false), &leader(true)).unwrap_err(),
            "2026年12月5日（星期六）是休息日，不安排值守接访"
        );
        assert!(
            check_pick(&asked("2026-12-02", true), &leader(true))
                .unwrap_err()
                .contains("已到或已过")
        );
        assert!(
            check_pick(&asked("2027-01-04", true), &leader(true))
                .unwrap_err()
                .contains("不在本月")
        );
        assert_eq!(
            check_pick(&asked("2026-12-03", true), &Pick::Unknown).unwrap_err(),
            "请从列表中选择值守领导"
        );
        assert_eq!(
            check_pick(&asked("2026-12-03", true), &leader(false)).unwrap_err(),
            "所选领导不是浦阳县在任的县级领导，不能在此值守"
        );
    }

    #[test]
    fn form_fields_name_their_day() {
        assert_eq!(field_day("day_2026-12-03"), Some(d("2026-12-03")));
        assert_eq!(field_day("day_2026-13-03"), None);
        assert_eq!(field_day("county"), None);
        let form = [
            ("county", "3"),
            ("day_2026-12-03", "7"),
            ("day_2026-12-04", ""),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(
            picks(&form),
            [
                (d("2026-12-03"), "7".to_owned()),
                (d("2026-12-04"), String::new())
            ]
        );
    }
}
