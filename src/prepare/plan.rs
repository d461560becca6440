//! The pure rules of planning and announcing a visit: notice dates (the texts are `notice_text`),
//! reception windows, the default registration close, the poster's layout and its QR code. No I/O here.

use crate::clock::{china_instant, cn_date};
pub use crate::config::rules::NoticeDays;
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc};

/// Status values of a visit (the `visits.status` CHECK) with their labels.
pub const VISIT_STATUSES: [(&str, &str); 7] = [
    ("draft", "草稿"),
    ("announced", "已公告，登记中"),
    ("closed_for_registration", "登记已截止"),
    ("in_progress", "接访中"),
    ("following_up", "限期办理中"),
    ("archived", "已归档"),
    ("cancelled", "已取消"),
];

pub fn status_label(status: &str) -> &'static str {
    VISIT_STATUSES
        .iter()
        .find(|(v, _)| *v == status)
        .map(|(_, l)| *l)
        .unwrap_or("未知")
}

/// The badge class a status is shown with.
pub fn status_badge(status: &str) -> &'static str {
    match status {
        "draft" => "badge",
        "announced" | "in_progress" => "badge badge-ok",
        "closed_for_registration" | "following_up" => "badge badge-info",
        "cancelled" => "badge badge-danger",
        _ => "badge",
    }
}

/// The channels a notice may be published on (the `notices_channels_known` CHECK).
pub const CHANNELS: [&str; 6] = [
    "广播",
    "电视",
    "报纸",
    "政府网站",
    "微信公众号",
    "村务公开栏",
];

pub fn notice_kind_label(kind: &str) -> &'static str {
    match kind {
        "first" => "一次公告",
        "second" => "二次公告",
        "correction" => "更正公告",
        "cancellation" => "取消公告",
        _ => "公告",
    }
}

pub fn weekday(d: NaiveDate) -> &'static str {
    [
        "星期一",
        "星期二",
        "星期三",
        "星期四",
        "星期五",
        "星期六",
        "星期日",
    ][d.weekday().num_days_from_monday() as usize]
}

/// "08:00—17:00"
pub fn hours(starts: NaiveTime, ends: NaiveTime) -> String {
    format!("{}—{}", starts.format("%H:%M"), ends.format("%H:%M"))
}

/// Registration closes at the visit's own time, or by default at `close_time` the day before.
pub fn registration_closes_at(
    visit_date: NaiveDate,
    explicit: Option<DateTime<Utc>>,
    close_time: NaiveTime,
) -> DateTime<Utc> {
    explicit.unwrap_or_else(|| {
        let day_before = visit_date.pred_opt().unwrap_or(visit_date);
        china_instant(day_before, close_time)
    })
}

/// The notice lead times (`config::rules::NoticeDays`) applied to dates.
impl NoticeDays {
    /// The last day a notice of `kind` may be published for a visit on `visit_date`.
    pub fn latest(&self, kind: &str, visit_date: NaiveDate) -> NaiveDate {
        let days = if kind == "first" {
            self.first
        } else {
            self.second
        };
        visit_date
            .checked_sub_days(Days::new(days))
            .unwrap_or(visit_date)
    }

    /// Whether a notice of `kind` (first or second) may go out `today`; the refusal names the date.
    pub fn check_publish(
        &self,
        kind: &str,
        visit_date: NaiveDate,
        today: NaiveDate,
        first_published_on: Option<NaiveDate>,
    ) -> Result<(), String> {
        let latest = self.latest(kind, visit_date);
        match kind {
            "first" => {
                if today > latest {
                    return Err(format!(
                        "一次公告最迟应于 {} 发布（接访日前 {} 天），现已错过，不能发布。请先更改接访日期。",
                        cn_date(latest),
                        self.first
                    ));
                }
                Ok(())
            }
            "second" => {
                let Some(first) = first_published_on else {
                    return Err("二次公告须在一次公告之后发布：请先发布一次公告。".into());
                };
                if today <= first {
                    let earliest = first.succ_opt().unwrap_or(first);
                    return Err(format!(
                        "二次公告须在一次公告（{} 发布）之后发布，最早 {} 发布。",
                        cn_date(first),
                        cn_date(earliest)
                    ));
                }
                if today > latest {
                    return Err(format!(
                        "二次公告最迟应于 {} 发布（接访日前 {} 天），现已错过，不能发布。",
                        cn_date(latest),
                        self.second
                    ));
                }
                Ok(())
            }
            _ => Err("只有一次公告和二次公告按期发布。".into()),
        }
    }

    /// Whether a correction may move the day to `new_date`: the published notices must still have
    /// gone out at least their lead time before it, and the day must not have come.
    pub fn check_new_date(
        &self,
        new_date: NaiveDate,
        today: NaiveDate,
        first_on: Option<NaiveDate>,
        second_on: Option<NaiveDate>,
    ) -> Result<(), String> {
        if new_date <= today {
            return Err("更正后的接访日期须晚于今天".into());
        }
        for (published, days, label) in [
            (first_on, self.first, "一次公告"),
            (second_on, self.second, "二次公告"),
        ] {
            if let Some(p) = published {
                let earliest = p.checked_add_days(Days::new(days)).unwrap_or(p);
                if new_date < earliest {
                    return Err(format!(
                        "{label}于 {} 发布，接访日期最早为 {}（须在公告后 {days} 天以上）",
                        cn_date(p),
                        cn_date(earliest)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A reception window as planned: local start and end, capacity in slots.
#[derive(Debug, PartialEq, Eq)]
pub struct WindowPlan {
    pub starts: NaiveTime,
    pub ends: NaiveTime,
    pub capacity: i32,
}

/// Hourly windows from `starts` to `ends`; each holds `rooms` × the slots that fit in it, so a
/// partial last hour is prorated (14 rooms × 4 per hour × 9 h = 504 at Pujiang).
pub fn plan_windows(
    starts: NaiveTime,
    ends: NaiveTime,
    rooms: i64,
    slot_minutes: i64,
) -> Vec<WindowPlan> {
    let mut out = Vec::new();
    if slot_minutes <= 0 || ends <= starts {
        return out;
    }
    let mut at = starts;
    while at < ends {
        let next = at.overflowing_add_signed(chrono::Duration::hours(1)).0;
        let end = if next <= at || next > ends {
            ends
        } else {
            next
        };
        let minutes = (end - at).num_minutes();
        let capacity = rooms.max(0) * (minutes / slot_minutes);
        out.push(WindowPlan {
            starts: at,
            ends: end,
            capacity: capacity.min(i32::MAX as i64) as i32,
        });
        at = end;
    }
    out
}

/// Sum of the planned capacities.
pub fn total_capacity(plan: &[WindowPlan]) -> i64 {
    plan.iter().map(|w| w.capacity as i64).sum()
}

/// The registration URL as an inline SVG QR code.
pub fn qr_svg(url: &str) -> String {
    crate::web::qr::svg(url, "登记二维码")
}

/// `YYYY-MM` → the first of that month; anything else → `None`.
pub fn parse_month(s: &str) -> Option<NaiveDate> {
    let (y, m) = s.trim().split_once('-')?;
    if y.len() != 4 || m.is_empty() || m.len() > 2 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// First day of the month after `first`.
pub fn next_month(first: NaiveDate) -> NaiveDate {
    first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first)
}

pub fn prev_month(first: NaiveDate) -> NaiveDate {
    first
        .checked_sub_months(chrono::Months::new(1))
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::cn_minute;
    use crate::prepare::notice_text::*;

    fn five() -> NaiveTime {
        NaiveTime::from_hms_opt(17, 0, 0).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[test]
    fn first_notice_at_least_ten_days_ahead() {
        let rules = NoticeDays::default();
        let visit = d("2026-12-12");
        assert_eq!(rules.latest("first", visit), d("2026-12-02"));
        assert!(
            rules
                .check_publish("first", visit, d("2026-12-02"), None)
                .is_ok()
        );
        assert!(
            rules
                .check_publish("first", visit, d("2026-11-20"), None)
                .is_ok()
        );
        let late = rules
            .check_publish("first", visit, d("2026-12-03"), None)
            .unwrap_err();
        assert!(
            late.contains("一次公告最迟应于 2026年12月2日 发布"),
            "{late}"
        );
    }

    #[test]
    fn second_notice_after_the_first_and_three_days_ahead() {
        let rules = NoticeDays::default();
        let visit = d("2026-12-12");
        let no_first = rules
            .check_publish("second", visit, d("2026-12-05"), None)
            .unwrap_err();
        assert!(no_first.contains("请先发布一次公告"), "{no_first}");
        let same_day = rules
            .check_publish("second", visit, d("2026-12-01"), Some(d("2026-12-01")))
            .unwrap_err();
        assert!(same_day.contains("最早 2026年12月2日"), "{same_day}");
        assert!(
            rules
                .check_publish("second", visit, d("2026-12-02"), Some(d("2026-12-01")))
                .is_ok()
        );
        assert!(
            rules
                .check_publish("second", visit, d("2026-12-09"), Some(d("2026-12-01")))
                .is_ok()
        );
        let late = rules
            .check_publish("second", visit, d("2026-12-10"), Some(d("2026-12-01")))
            .unwrap_err();
        assert!(
            late.contains("二次公告最迟应于 2026年12月9日 发布"),
            "{late}"
        );
    }

    #[test]
    fn lead_times_come_from_configuration() {
        let rules = NoticeDays {
            first: 15,
            second: 5,
        };
        assert!(
            rules
                .check_publish("first", d("2026-12-12"), d("2026-11-28"), None)
                .is_err()
        );
        assert!(
            rules
                .check_publish("first", d("2026-12-12"), d("2026-11-27"), None)
                .is_ok()
        );
    }

    #[test]
    fn a_correction_keeps_the_notice_lead_times() {
        let rules = NoticeDays::default();
        let today = d("2026-12-05");
        assert!(
            rules
                .check_new_date(d("2026-12-05"), today, None, None)
                .is_err()
        );
        let early = rules
            .check_new_date(d("2026-12-08"), today, Some(d("2026-12-01")), None)
            .unwrap_err();
        assert!(early.contains("2026年12月11日"), "{early}");
        assert!(
            rules
                .check_new_date(d("2026-12-11"), today, Some(d("2026-12-01")), None)
                .is_ok()
        );
        assert!(
            rules
                .check_new_date(
                    d("2026-12-11"),
                    today,
                    Some(d("2026-12-01")),
                    Some(d("2026-12-09"))
                )
                .is_err()
        );
    }

    #[test]
    fn registration_closes_at_five_the_day_before_in_shanghai() {
        let at = registration_closes_at(d("2026-12-12"), None, five());
        assert_eq!(at, "2026-12-11T09:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(cn_minute(at), "2026年12月11日 17:00");
        let explicit = "2026-12-10T02:00:00Z".parse().unwrap();
        assert_eq!(
            registration_closes_at(d("2026-12-12"), Some(explicit), five()),
            explicit
        );
    }

    #[test]
    fn pujiang_windows_hold_504_slots() {
        let plan = plan_windows(t("08:00"), t("17:00"), 14, 15);
        assert_eq!(plan.len(), 9);
        assert!(plan.iter().all(|w| w.capacity == 56));
        assert_eq!(total_capacity(&plan), 504);
        assert_eq!(
            plan[0],
            WindowPlan {
                starts: t("08:00"),
                ends: t("09:00"),
                capacity: 56
            }
        );
    }

    #[test]
    fn a_partial_last_hour_is_prorated() {
        let plan = plan_windows(t("08:30"), t("11:00"), 2, 15);
        assert_eq!(plan.len(), 3);
        assert_eq!(
            plan[2],
            WindowPlan {
                starts: t("10:30"),
                ends: t("11:00"),
                capacity: 4
            }
        );
        assert_eq!(total_capacity(&plan), 8 + 8 + 4);
        assert_eq!(
            total_capacity(&plan_windows(t("08:00"), t("09:00"), 3, 25)),
            6,
            "slots that fit: 2 per hour"
        );
        assert!(
            plan_windows(t("08:00"), t("17:00"), 0, 15)
                .iter()
                .all(|w| w.capacity == 0)
        );
        assert!(plan_windows(t("17:00"), t("08:00"), 4, 15).is_empty());
    }

    fn facts() -> Facts {
        Facts {
            county: "浦阳县".into(),
            title: "2026年12月12日县领导下访接访日".into(),
            date: d("2026-12-12"),
            starts: t("08:00"),
            ends: t("17:00"),
            venue: "仙华街道便民服务中心".into(),
            address: "人民路 88 号".into(),
            scope: "城乡建设、征地拆迁".into(),
            leaders: vec![
                LeaderLine {
                    name: "陈建国".into(),
                    title: "县委书记".into(),
                    portfolio: "主持县委全面工作".into(),
                },
                LeaderLine {
                    name: "周慧敏".into(),
                    title: "副县长".into(),
                    portfolio: String::new(),
                },
            ],
            departments: vec!["住建局".into(), "人社局".into()],
            closes_at: registration_closes_at(d("2026-12-12"), None, five()),
            register_url: "https://xf.example.cn/visits/7/register".into(),
        }
    }

    #[test]
    fn notices_say_who_when_where_what_and_how_to_register() {
        let (title, body) = compose("first", &facts());
        assert_eq!(title, "关于2026年12月12日县领导下访接访日的公告");
        for part in [
            "接访时间：2026年12月12日（星期六）08:00—17:00",
            "接访地点：仙华街道便民服务中心（人民路 88 号）",
            "陈建国（县委书记，主持县委全面工作）；周慧敏（副县长）",
            "参加部门：住建局、人社局",
            "受理范围：城乡建设、征地拆迁",
            "2026年12月11日 17:00",
            "https://xf.example.cn/visits/7/register",
        ] {
            assert!(body.contains(part), "{part} in {body}");
        }
        let (title2, body2) = compose("second", &facts());
        assert!(title2.contains("二次公告"));
        assert!(body2.contains("再次公告"));
    }

    #[test]
    fn corrections_say_old_and_new() {
        let changes = [Change {
            label: "接访日期",
            old: "2026年12月12日".into(),
            new: "2026年12月15日".into(),
        }];
        let (title, body) = compose_correction(&facts(), &changes, "场地检修");
        assert!(title.contains("更正公告"));
        assert!(
            body.contains("接访日期：2026年12月12日 → 2026年12月15日"),
            "{body}"
        );
        assert!(body.contains("更正原因：场地检修"));
    }

    #[test]
    fn poster_blocks_split_facts_from_paragraphs() {
        let (_, body) = compose("first", &facts());
        let b = blocks(&body);
        assert!(matches!(&b[0], Block::Paragraph(p) if p.starts_with("为深入践行")));
        assert!(
            matches!(&b[1], Block::Facts(f) if f[0].0 == "接访时间：" && f[0].1.contains("08:00") && f.len() == 6),
            "facts grouped"
        );
        assert!(matches!(b.last(), Some(Block::Paragraph(p)) if p == "特此公告。"));
    }

    #[test]
    fn qr_is_inline_svg_without_styles() {
        let svg = qr_svg("http://example.cn/visits/1/register");
        assert!(svg.starts_with("<svg "), "{}", &svg[..40]);
        assert!(!svg.contains("style="));
        assert!(!svg.contains("<?xml"));
    }

    #[test]
    fn months_parse_strictly() {
        assert_eq!(parse_month("2026-12"), Some(d("2026-12-01")));
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(parse_month("x"), None);
        assert_eq!(parse_month("99999-01"), None);
        assert_eq!(next_month(d("2026-12-01")), d("2027-01-01"));
        assert_eq!(prev_month(d("2026-01-01")), d("2025-12-01"));
    }
}
