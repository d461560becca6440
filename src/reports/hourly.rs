//! The visit day hour by hour (issue 16): arrivals (check-ins and walk-ins), batches received
//! (reception records saved) and batches waiting at the end of each hour, and the bar chart drawn
//! from them. Pure: `reports::visit::load` feeds it one row per registration.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Asia::Shanghai;

/// One registration's day: when it arrived and when its reception was saved.
pub struct Passage {
    pub arrived_at: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
}

/// The counts of the hour starting at `hour`:00 (China time).
#[derive(Clone, Debug, PartialEq)]
pub struct Hour {
    pub hour: i64,
    pub arrivals: i64,
    pub received: i64,
    /// Arrived by the end of the hour and not received by then.
    pub waiting: i64,
}

impl Hour {
    /// "08:00–09:00"
    pub fn label(&self) -> String {
        format!("{:02}:00–{:02}:00", self.hour, self.hour + 1)
    }
}

/// The reception day when the visit has no windows: 08:00 to 17:00.
const OPENS: i64 = 8;
const CLOSES: i64 = 17;

/// Hours since the China midnight that starts `day` (negative the day before).
fn slot(day: NaiveDate, at: DateTime<Utc>) -> i64 {
    let local = at.with_timezone(&Shanghai);
    (local.date_naive() - day).num_days() * 24 + i64::from(local.hour())
}

/// The hours of `day` from the windows' first hour (`opens`) to their end (`closes`), 08:00–17:00
/// without windows, widened to every event of that day; an event of another day (a check-in the
/// afternoon before) counts in the first or last hour.
pub fn by_hour(
    day: NaiveDate,
    opens: Option<DateTime<Utc>>,
    closes: Option<DateTime<Utc>>,
    passages: &[Passage],
) -> Vec<Hour> {
    let events = || {
        passages
            .iter()
            .flat_map(|p| [p.arrived_at, p.received_at])
            .flatten()
            .map(|t| slot(day, t))
            .filter(|s| (0..24).contains(s))
    };
    let opens = opens.map_or(OPENS, |t| slot(day, t).clamp(0, 23));
    // The hour holding the windows' last instant: a window ending at 17:00 ends the 16:00 hour.
    let last = closes.map_or(CLOSES - 1, |t| {
        slot(day, t - chrono::Duration::seconds(1)).clamp(0, 23)
    });
    let first = events().fold(opens, i64::min);
    let last = events().fold(last.max(first), i64::max);
    let bucket = |t: DateTime<Utc>| slot(day, t).clamp(first, last);
    (first..=last)
        .map(|hour| {
            let in_hour = |t: Option<DateTime<Utc>>| t.is_some_and(|t| bucket(t) == hour);
            let by_end = |t: Option<DateTime<Utc>>| t.is_some_and(|t| bucket(t) <= hour);
            let count = |f: &dyn Fn(&Passage) -> bool| passages.iter().filter(|p| f(p)).count();
            Hour {
                hour,
                arrivals: count(&|p| in_hour(p.arrived_at)) as i64,
                received: count(&|p| in_hour(p.received_at)) as i64,
                waiting: count(&|p| by_end(p.arrived_at) && !by_end(p.received_at)) as i64,
            }
        })
        .collect()
}

/// The chart's drawing area in SVG units: the plot sits inside the margins.
pub const WIDTH: i64 = 720;
pub const HEIGHT: i64 = 300;
const LEFT: i64 = 56;
const RIGHT: i64 = 16;
const TOP: i64 = 36;
const BOTTOM: i64 = 56;

/// One bar of the chart (SVG units).
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub value: i64,
}

/// A point of the waiting line (SVG units).
pub struct Point {
    pub x: i64,
    pub y: i64,
}

/// One hour's group: its label under the axis, its two bars, its point on the waiting line.
pub struct Group {
    pub label: String,
    pub label_x: i64,
    pub arrivals: Bar,
    pub received: Bar,
    pub waiting: Point,
}

/// A gridline and its value on the vertical axis.
pub struct Tick {
    pub y: i64,
    pub value: i64,
}

/// What the template draws: the axes, the groups and the waiting line's points.
pub struct Chart {
    pub left: i64,
    pub right: i64,
    pub top: i64,
    pub bottom: i64,
    pub groups: Vec<Group>,
    pub ticks: Vec<Tick>,
    pub line: String,
    /// For `aria-label` and `<title>`: the day in one sentence.
    pub summary: String,
}

/// A round step for about five gridlines up to `max`.
fn step(max: i64) -> i64 {
    let raw = (max.max(1) + 4) / 5;
    let mut unit = 1;
    while unit * 10 <= raw {
        unit *= 10;
    }
    [1, 2, 5, 10]
        .iter()
        .map(|m| m * unit)
        .find(|s| *s >= raw)
        .unwrap_or(10 * unit)
}

/// The bar chart of `hours`: two bars per hour (arrivals, received) and the waiting line.
pub fn chart(hours: &[Hour]) -> Chart {
    let (right, bottom) = (WIDTH - RIGHT, HEIGHT - BOTTOM);
    let max = hours
        .iter()
        .flat_map(|h| [h.arrivals, h.received, h.waiting])
        .max()
        .unwrap_or(0);
    let step = step(max);
    let top_value = ((max + step - 1) / step).max(1) * step;
    let y = |v: i64| bottom - (bottom - TOP) * v / top_value;
    let slot = (right - LEFT) / (hours.len().max(1) as i64);
    let bar = slot * 3 / 10;
    let bar_at = |x: i64, value: i64| Bar {
        x,
        y: y(value),
        width: bar,
        height: bottom - y(value),
        value,
    };
    let groups: Vec<Group> = hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let x = LEFT + slot * i as i64;
            let middle = x + slot / 2;
            Group {
                label: format!("{:02}时", h.hour),
                label_x: middle,
                arrivals: bar_at(middle - bar, h.arrivals),
                received: bar_at(middle, h.received),
                waiting: Point {
                    x: middle,
                    y: y(h.waiting),
                },
            }
        })
        .collect();
    let line = groups
        .iter()
        .map(|g| format!("{},{}", g.waiting.x, g.waiting.y))
        .collect::<Vec<_>>()
        .join(" ");
    let total = |f: fn(&Hour) -> i64| hours.iter().map(f).sum::<i64>();
    let peak = hours.iter().max_by_key(|h| (h.waiting, -h.hour));
    let summary = match (hours.first(), hours.last(), peak) {
        (Some(first), Some(last), Some(peak)) if total(|h| h.arrivals + h.received) > 0 => {
            format!(
                "{:02}:00 至 {:02}:00 每小时到达与接待批次：共到达 {} 批、接待 {} 批；{} 结束时等候最多，{} 批",
                first.hour,
                last.hour + 1,
                total(|h| h.arrivals),
                total(|h| h.received),
                peak.label(),
                peak.waiting
            )
        }
        _ => "当天尚无到达或接待记录".to_string(),
    };
    Chart {
        left: LEFT,
        right,
        top: TOP,
        bottom,
        groups,
        ticks: (0..=top_value / step)
            .map(|k| Tick {
                y: y(k * step),
                value: k * step,
            })
            .collect(),
        line,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::china_instant;
    use chrono::NaiveTime;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        china_instant(day(), NaiveTime::from_hms_opt(h, m, 0).unwrap())
    }

    fn p(arrived: Option<(u32, u32)>, received: Option<(u32, u32)>) -> Passage {
        Passage {
            arrived_at: arrived.map(|(h, m)| at(h, m)),
            received_at: received.map(|(h, m)| at(h, m)),
        }
    }

    fn counts(hours: &[Hour]) -> Vec<(i64, i64, i64, i64)> {
        hours
            .iter()
            .map(|h| (h.hour, h.arrivals, h.received, h.waiting))
            .collect()
    }

    #[test]
    fn each_hour_counts_arrivals_receptions_and_who_still_waits_at_its_end() {
        let day_of = [
            p(Some((8, 5)), Some((8, 40))),
            p(Some((8, 10)), Some((9, 20))),
            p(Some((8, 55)), Some((10, 0))),
            p(Some((9, 30)), None),
            p(Some((10, 59)), Some((11, 0))),
        ];
        let hours = by_hour(day(), Some(at(8, 0)), Some(at(12, 0)), &day_of);
        assert_eq!(
            counts(&hours),
            [(8, 3, 1, 2), (9, 1, 1, 2), (10, 1, 1, 2), (11, 0, 1, 1)]
        );
        assert_eq!(hours[0].label(), "08:00–09:00");
    }

    #[test]
    fn without_windows_the_day_is_eight_to_five_widened_to_every_event() {
        let hours = by_hour(day(), None, None, &[]);
        assert_eq!(hours.len(), 9);
        assert_eq!((hours[0].hour, hours[8].hour), (8, 16));
        let late = by_hour(day(), None, None, &[p(Some((7, 40)), Some((18, 10)))]);
        assert_eq!((late[0].hour, late.last().unwrap().hour), (7, 18));
        assert_eq!(late[0].waiting, 1);
        assert_eq!(counts(&late).last(), Some(&(18, 0, 1, 0)));
    }

    #[test]
    fn a_check_in_the_afternoon_before_counts_in_the_first_hour() {
        let eve = Passage {
            arrived_at: Some(at(15, 0) - chrono::Duration::days(1)),
            received_at: Some(at(9, 15)),
        };
        let hours = by_hour(day(), Some(at(9, 0)), Some(at(11, 0)), &[eve]);
        assert_eq!(counts(&hours), [(9, 1, 1, 0), (10, 0, 0, 0)]);
    }

    #[test]
    fn the_chart_scales_to_the_largest_count_and_says_when_the_queue_peaked() {
        let day_of = [
            p(Some((8, 5)), None),
            p(Some((8, 6)), None),
            p(Some((8, 7)), Some((9, 30))),
        ];
        let hours = by_hour(day(), Some(at(8, 0)), Some(at(10, 0)), &day_of);
        let c = chart(&hours);
        assert_eq!(c.groups.len(), 2);
        assert_eq!(c.groups[0].label, "08时");
        let tallest = &c.groups[0].arrivals;
        assert_eq!((tallest.value, tallest.y), (3, c.top));
        assert_eq!(tallest.y + tallest.height, c.bottom);
        assert_eq!(c.groups[1].arrivals.height, 0);
        assert_eq!(c.ticks.first().map(|t| t.value), Some(0));
        assert_eq!(c.ticks.last().map(|t| (t.value, t.y)), Some((3, c.top)));
        assert!(
            c.summary.contains("共到达 3 批、接待 1 批") && c.summary.contains("08:00–09:00"),
            "{}",
            c.summary
        );
        assert_eq!(
            chart(&by_hour(day(), None, None, &[])).summary,
            "当天尚无到达或接待记录"
        );
    }

    #[test]
    fn gridlines_step_by_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(
            [0, 3, 9, 12, 40, 52, 230].map(step),
            [1, 1, 2, 5, 10, 20, 50]
        );
    }
}
