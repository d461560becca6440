//! The public site by region (DESIGN §11, 五级大接访), pure: a region's reception days of every
//! level, day by day, each labelled with its level and organiser; and the places a citizen
//! chooses from, province → city → county.

use crate::admin::reference::leaders::level_label;
use crate::admin::reference::region_rules::is_grouping;
use crate::prepare::plan::{hours, weekday};
use chrono::{Datelike, NaiveDate, NaiveTime};

/// One public reception day, as the region's query reads it.
pub struct Entry {
    pub id: i64,
    pub date: NaiveDate,
    pub starts: NaiveTime,
    pub ends: NaiveTime,
    pub title: String,
    pub venue: String,
    pub leaders: String,
    /// The organising jurisdiction's level (province, city, county, township) and name.
    pub level: String,
    pub organiser: String,
    /// Where it happens: the host jurisdiction and its code (for its page).
    pub host: String,
    pub host_code: String,
    pub cancelled: bool,
    /// A citizen may register online now.
    pub open: bool,
    /// A day of the county's duty rota (值守接访) rather than a visit.
    pub duty: bool,
}

impl Entry {
    pub fn level_label(&self) -> &'static str {
        level_label(&self.level)
    }
    /// The badge's colour: one per level, so that a month reads at a glance.
    pub fn level_class(&self) -> &'static str {
        match self.level.as_str() {
            "province" => "lvl-province",
            "city" => "lvl-city",
            "county" => "lvl-county",
            _ => "lvl-township",
        }
    }
    pub fn hours(&self) -> String {
        hours(self.starts, self.ends)
    }
    /// "12月20日（星期日）".
    pub fn date_label(&self) -> String {
        format!(
            "{}月{}日（{}）",
            self.date.month(),
            self.date.day(),
            weekday(self.date)
        )
    }
}

/// What "coming up" lists: the next `n` days not cancelled, of which a county's duty rota (a
/// leader on every working day) gives only its next day, so that visits are not crowded out.
pub fn coming_up(entries: Vec<Entry>, n: usize) -> Vec<Entry> {
    let mut duty_hosts = Vec::new();
    entries
        .into_iter()
        .filter(|e| !e.cancelled)
        .filter(|e| {
            let first_duty = e.duty && !duty_hosts.contains(&e.host_code);
            if first_duty {
                duty_hosts.push(e.host_code.clone());
            }
            !e.duty || first_duty
        })
        .take(n)
        .collect()
}

/// The order of levels on a shared day: the province's leaders first.
fn rank(level: &str) -> usize {
    ["province", "city", "county", "township"]
        .iter()
        .position(|l| *l == level)
        .unwrap_or(4)
}

/// The reception days of one date.
pub struct Day {
    pub date: NaiveDate,
    pub entries: Vec<Entry>,
}

impl Day {
    pub fn day_of_month(&self) -> u32 {
        self.date.day()
    }
    pub fn weekday(&self) -> &'static str {
        weekday(self.date)
    }
}

/// The month's entries by date; on one date the higher level first, then by starting time.
pub fn by_day(mut entries: Vec<Entry>) -> Vec<Day> {
    entries.sort_by(|a, b| {
        (a.date, rank(&a.level), a.starts, a.id).cmp(&(b.date, rank(&b.level), b.starts, b.id))
    });
    let mut days: Vec<Day> = Vec::new();
    for e in entries {
        match days.last_mut() {
            Some(d) if d.date == e.date => d.entries.push(e),
            _ => days.push(Day {
                date: e.date,
                entries: vec![e],
            }),
        }
    }
    days
}

/// How many reception days each level holds ("省级 1 次"), highest level first; a cancelled day
/// is not held.
pub fn tally(days: &[Day]) -> Vec<(&'static str, usize)> {
    let mut counts = [0usize; 5];
    for e in days
        .iter()
        .flat_map(|d| &d.entries)
        .filter(|e| !e.cancelled)
    {
        counts[rank(&e.level)] += 1;
    }
    ["province", "city", "county", "township"]
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(level, n)| (level_label(level), n))
        .collect()
}

/// A jurisdiction a citizen may choose.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub parent_id: Option<i64>,
    /// Public reception days from today on, anywhere within it.
    pub upcoming: i64,
}

/// A place with the places to choose under it.
#[derive(Debug, PartialEq)]
pub struct Branch {
    pub place: Place,
    pub children: Vec<Branch>,
}

/// The tree of `places` (each with its ancestors among them, in any order), by code. A GB/T 2260
/// grouping (北京市's 市辖区, 重庆市's 县) gives way to its children: a citizen looks for 东城区
/// under 北京市, not under 市辖区.
pub fn tree(places: &[Place]) -> Vec<Branch> {
    let roots: Vec<&Place> = places
        .iter()
        .filter(|p| {
            !p.parent_id
                .is_some_and(|id| places.iter().any(|q| q.id == id))
        })
        .collect();
    branches(places, roots)
}

fn branches(places: &[Place], level: Vec<&Place>) -> Vec<Branch> {
    let mut out: Vec<Branch> = Vec::new();
    for p in level {
        let children: Vec<&Place> = places
            .iter()
            .filter(|c| c.parent_id == Some(p.id))
            .collect();
        if is_grouping(&p.name) {
            out.extend(branches(places, children));
        } else {
            out.push(Branch {
                place: p.clone(),
                children: branches(places, children),
            });
        }
    }
    out.sort_by(|a, b| a.place.code.cmp(&b.place.code));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, day: u32, level: &str, starts: u32, cancelled: bool) -> Entry {
        Entry {
            id,
            date: NaiveDate::from_ymd_opt(2026, 12, day).unwrap(),
            starts: NaiveTime::from_hms_opt(starts, 0, 0).unwrap(),
            ends: NaiveTime::from_hms_opt(starts + 3, 0, 0).unwrap(),
            title: format!("接访日{id}"),
            venue: "便民服务中心".into(),
            leaders: "陈建国（县委书记）".into(),
            level: level.into(),
            organiser: "浦阳县".into(),
            host: "浦阳县".into(),
            host_code: "330726".into(),
            cancelled,
            open: false,
            duty: false,
        }
    }

    #[test]
    fn coming_up_keeps_each_countys_next_duty_day_and_every_visit() {
        let duty = |id, day, code: &str| Entry {
            duty: true,
            host_code: code.into(),
            ..entry(id, day, "county", 9, false)
        };
        let days = vec![
            duty(1, 3, "330726"),
            duty(2, 4, "330726"),
            duty(3, 4, "330727"),
            entry(4, 5, "county", 8, true),
            duty(5, 7, "330726"),
            entry(6, 14, "county", 8, false),
        ];
        let ids: Vec<i64> = coming_up(days, 10).iter().map(|e| e.id).collect();
        assert_eq!(ids, [1, 3, 6]);
    }

    #[test]
    fn days_come_in_date_order_with_the_higher_level_first() {
        let days = by_day(vec![
            entry(1, 20, "county", 8, false),
            entry(2, 3, "county", 9, false),
            entry(3, 20, "province", 9, false),
            entry(4, 20, "county", 7, false),
            entry(5, 20, "city", 14, false),
        ]);
        let ids: Vec<Vec<i64>> = days
            .iter()
            .map(|d| d.entries.iter().map(|e| e.id).collect())
            .collect();
        assert_eq!(ids, vec![vec![2], vec![3, 5, 4, 1]]);
        assert_eq!(days[1].day_of_month(), 20);
        assert_eq!(days[1].weekday(), "星期日");
        assert_eq!(days[1].entries[0].date_label(), "12月20日（星期日）");
        assert_eq!(days[1].entries[0].hours(), "09:00—12:00");
    }

    #[test]
    fn each_entry_carries_its_level_label() {
        let labels: Vec<(&str, &str)> = ["province", "city", "county", "township"]
            .iter()
            .map(|l| {
                let e = entry(1, 1, l, 8, false);
                (e.level_label(), e.level_class())
            })
            .collect();
        assert_eq!(
            labels,
            vec![
                ("省级", "lvl-province"),
                ("市级", "lvl-city"),
                ("县级", "lvl-county"),
                ("乡镇级", "lvl-township"),
            ]
        );
    }

    #[test]
    fn the_tally_counts_held_days_per_level_highest_first() {
        let days = by_day(vec![
            entry(1, 2, "county", 8, false),
            entry(2, 9, "county", 8, false),
            entry(3, 9, "province", 8, false),
            entry(4, 10, "city", 8, true),
        ]);
        assert_eq!(tally(&days), vec![("省级", 1), ("县级", 2)]);
        assert!(tally(&[]).is_empty());
    }

    fn place(id: i64, code: &str, name: &str, parent: Option<i64>) -> Place {
        Place {
            id,
            code: code.into(),
            name: name.into(),
            parent_id: parent,
            upcoming: 0,
        }
    }

    fn names(b: &[Branch]) -> Vec<String> {
        b.iter()
            .map(|b| {
                if b.children.is_empty() {
                    b.place.name.clone()
                } else {
                    format!("{}[{}]", b.place.name, names(&b.children).join(" "))
                }
            })
            .collect()
    }

    #[test]
    fn the_tree_nests_cities_and_counties_under_their_province_by_code() {
        let places = vec![
            place(7, "330726", "浦阳县", Some(5)),
            place(5, "330700", "金华市", Some(1)),
            place(1, "330000", "浙江省", None),
            place(8, "330702", "婺城区", Some(5)),
            place(6, "330100", "杭州市", Some(1)),
        ];
        assert_eq!(
            names(&tree(&places)),
            vec!["浙江省[杭州市 金华市[婺城区 浦阳县]]"]
        );
    }

    #[test]
    fn a_grouping_gives_way_to_its_children() {
        let places = vec![
            place(1, "110000", "北京市", None),
            place(2, "110100", "市辖区", Some(1)),
            place(3, "110105", "朝阳区", Some(2)),
            place(4, "110101", "东城区", Some(2)),
            place(10, "500000", "重庆市", None),
            place(11, "500100", "市辖区", Some(10)),
            place(12, "500200", "县", Some(10)),
            place(13, "500229", "城口县", Some(12)),
            place(14, "500101", "万州区", Some(11)),
        ];
        assert_eq!(
            names(&tree(&places)),
            vec!["北京市[东城区 朝阳区]", "重庆市[万州区 城口县]"]
        );
    }

    #[test]
    fn places_without_their_parent_are_roots() {
        // A city's page lists its counties: the rows come without the city.
        let places = vec![
            place(8, "330782", "义乌市", Some(5)),
            place(7, "330726", "浦阳县", Some(5)),
        ];
        assert_eq!(names(&tree(&places)), vec!["浦阳县", "义乌市"]);
    }
}
