//! The reviews' rules, pure: the valid reviewing bodies, the request period, the hearing.

use crate::followup::documents::rules::{Kind, cn_long_date, request_deadline};
use crate::followup::state::{Refusal, Side, State};
use chrono::NaiveDate;

/// A body that may review a decision: a department, or a jurisdiction's government
/// (`department_id` None). Its jurisdiction's supervisors decide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    pub department_id: Option<i64>,
    pub jurisdiction_id: i64,
    pub name: String,
}

impl Body {
    /// The form's value for it: `d:<department>` or `j:<jurisdiction>`.
    pub fn key(&self) -> String {
        match self.department_id {
            Some(d) => format!("d:{d}"),
            None => format!("j:{}", self.jurisdiction_id),
        }
    }
}

/// What surrounds the body whose decision is to be reviewed.
#[derive(Debug, Default)]
pub struct Around {
    /// Its own jurisdiction's government.
    pub government: Option<Body>,
    /// The parent jurisdiction's government.
    pub parent_government: Option<Body>,
    /// A department's listed superior bodies (县住建局 → 金华市住建局).
    pub superiors: Vec<Body>,
}

/// The bodies that may review what `decided_by` decided: for a department, its jurisdiction's
/// government and its listed superiors; for a government, the parent jurisdiction's government.
pub fn reviewers(decided_by: &Body, around: Around) -> Vec<Body> {
    let candidates = match decided_by.department_id {
        Some(_) => around
            .government
            .into_iter()
            .chain(around.superiors)
            .collect(),
        None => Vec::from_iter(around.parent_government),
    };
    let mut out: Vec<Body> = Vec::new();
    for b in candidates {
        if b.key() != decided_by.key() && out.iter().all(|o| o.key() != b.key()) {
            out.push(b);
        }
    }
    out
}

/// The `reviews.kind` of the next request after `done` reviews, and its word.
pub fn next_kind(done: i64) -> (&'static str, &'static str) {
    if done == 0 {
        ("review", "复查")
    } else {
        ("re_review", "复核")
    }
}

/// The document a request after `done` reviews is against (处理意见书, then 复查意见书).
pub fn basis(done: i64) -> Kind {
    if done == 0 {
        Kind::Opinion
    } else {
        Kind::ReviewOpinion
    }
}

/// The document that answers a review of `kind` (`reviews.kind`).
pub fn answer(kind: &str) -> Kind {
    if kind == "review" {
        Kind::ReviewOpinion
    } else {
        Kind::ReReviewOpinion
    }
}

/// The last day to ask, `days` calendar days from 送达; None while nothing is served.
pub fn last_day(served_on: Option<NaiveDate>, days: i64) -> Option<NaiveDate> {
    served_on.map(|d| request_deadline(d, days))
}

/// Within the request period: not served yet (the clock has not started), or on or before its
/// last day.
pub fn within(served_on: Option<NaiveDate>, today: NaiveDate, days: i64) -> bool {
    last_day(served_on, days).is_none_or(|last| today <= last)
}

/// Why the citizen may not ask now, in Chinese beside the form; None: they may.
pub fn request_refusal(
    done: i64,
    basis_issued: bool,
    served_on: Option<NaiveDate>,
    today: NaiveDate,
    days: i64,
) -> Option<String> {
    if !basis_issued {
        return Some(format!(
            "尚未印发{}，暂不能申请{}",
            basis(done).title().trim_start_matches("信访事项"),
            next_kind(done).1
        ));
    }
    match last_day(served_on, days) {
        Some(last) if today > last => {
            Some(format!("已超过申请期限：应于 {}前提出", cn_long_date(last)))
        }
        _ => None,
    }
}

/// Calendar days of a hearing from `from` to `to`, both counted, on a 复核 requested on
/// `requested` and due on `due`: it starts within those 30 days and ends after it starts; else
/// the field at fault and why.
pub fn hearing_days(
    (from, to): (NaiveDate, NaiveDate),
    requested: NaiveDate,
    due: NaiveDate,
) -> Result<i64, (&'static str, &'static str)> {
    if from < requested {
        return Err(("hearing_from", "听证开始日期不能早于复核申请日"));
    }
    if from > due {
        return Err(("hearing_from", "听证应在复核期限届满前开始"));
    }
    if to < from {
        return Err(("hearing_to", "听证结束日期不能早于开始日期"));
    }
    Ok((to - from).num_days() + 1)
}

/// Whether `side` may record a hearing now: a supervisor of the reviewing body's jurisdiction, on
/// an open 复核.
pub fn may_record_hearing(
    state: State,
    side: Side,
    open_kind: Option<&str>,
    decides: bool,
) -> Result<(), Refusal> {
    if side != Side::Supervisor {
        return Err(Refusal("只有督查人员可以记录听证"));
    }
    if state != State::InReview || open_kind != Some("re_review") {
        return Err(Refusal("只有办理中的复核可以记录听证"));
    }
    if !decides {
        return Err(Refusal("只有复核机关所在辖区的督查人员可以记录听证"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(department_id: Option<i64>, jurisdiction_id: i64, name: &str) -> Body {
        Body {
            department_id,
            jurisdiction_id,
            name: name.into(),
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_department_is_reviewed_by_its_government_and_its_listed_superiors() {
        let zhujian = body(Some(7), 2, "浦江县住建局");
        let around = Around {
            government: Some(body(None, 2, "浦江县人民政府")),
            parent_government: Some(body(None, 1, "金华市人民政府")),
            superiors: vec![
                body(Some(9), 1, "金华市住建局"),
                body(None, 2, "浦江县人民政府"),
            ],
        };
        let names: Vec<String> = reviewers(&zhujian, around)
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(
            names,
            ["浦江县人民政府", "金华市住建局"],
            "the parent's government is not, duplicates once"
        );
    }

    #[test]
    fn a_government_is_reviewed_by_the_parent_government_only() {
        let county = body(None, 2, "浦江县人民政府");
        let around = Around {
            government: Some(county.clone()),
            parent_government: Some(body(None, 1, "金华市人民政府")),
            superiors: vec![body(Some(9), 1, "金华市住建局")],
        };
        assert_eq!(
            reviewers(&county, around),
            [body(None, 1, "金华市人民政府")]
        );
        let root = Around {
            government: Some(body(None, 1, "浙江省人民政府")),
            ..Around::default()
        };
        assert!(reviewers(&body(None, 1, "浙江省人民政府"), root).is_empty());
    }

    #[test]
    fn keys_name_the_kind_of_body() {
        assert_eq!(body(Some(7), 2, "x").key(), "d:7");
        assert_eq!(body(None, 2, "x").key(), "j:2");
    }

    #[test]
    fn thirty_calendar_days_from_service_then_refused_naming_the_last_day() {
        let served = Some(day(2026, 11, 1));
        assert!(within(served, day(2026, 12, 1), 30), "day 30");
        assert!(!within(served, day(2026, 12, 2), 30), "day 31");
        assert!(
            within(None, day(2030, 1, 1), 30),
            "not served: the clock has not started"
        );
        assert_eq!(request_refusal(0, true, served, day(2026, 12, 1), 30), None);
        assert_eq!(
            request_refusal(0, true, served, day(2026, 12, 2), 30).as_deref(),
            Some("已超过申请期限：应于 2026年12月1日前提出")
        );
        assert_eq!(request_refusal(0, true, None, day(2030, 1, 1), 30), None);
    }

    #[test]
    fn no_request_before_the_document_it_is_against() {
        assert_eq!(
            request_refusal(0, false, None, day(2026, 12, 1), 30).as_deref(),
            Some("尚未印发处理意见书，暂不能申请复查")
        );
        assert_eq!(
            request_refusal(1, false, None, day(2026, 12, 1), 30).as_deref(),
            Some("尚未印发复查意见书，暂不能申请复核")
        );
        assert_eq!(basis(0), Kind::Opinion);
        assert_eq!(answer("re_review"), Kind::ReReviewOpinion);
    }

    #[test]
    fn a_hearing_counts_both_its_days_and_only_on_an_open_re_review_by_its_deciders() {
        let (asked, due) = (day(2026, 12, 1), day(2026, 12, 31));
        let days = |from, to| hearing_days((from, to), asked, due);
        assert_eq!(days(day(2026, 12, 5), day(2026, 12, 8)), Ok(4));
        assert_eq!(days(day(2026, 12, 1), day(2026, 12, 1)), Ok(1));
        assert_eq!(days(day(2026, 12, 31), day(2027, 1, 2)), Ok(3));
        assert_eq!(
            days(day(2026, 12, 5), day(2026, 12, 4)).unwrap_err().0,
            "hearing_to"
        );
        assert_eq!(
            days(day(2026, 11, 30), day(2026, 12, 4)).unwrap_err().0,
            "hearing_from"
        );
        assert_eq!(
            days(day(2027, 1, 1), day(2027, 1, 4)).unwrap_err().0,
            "hearing_from"
        );
        let s = Side::Supervisor;
        assert!(may_record_hearing(State::InReview, s, Some("re_review"), true).is_ok());
        assert!(may_record_hearing(State::InReview, s, Some("review"), true).is_err());
        assert!(may_record_hearing(State::InReview, s, Some("re_review"), false).is_err());
        assert!(may_record_hearing(State::InReview, Side::Staff, Some("re_review"), true).is_err());
        assert!(may_record_hearing(State::Rated, s, None, true).is_err());
    }
}
