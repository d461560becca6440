//! The documents' rules, pure: the kinds and who issues each, numbers, 机关代字, the 查询码, and
//! the draft text of each kind filled from the case (信访工作条例 2022, DESIGN §4).

use crate::followup::state::{Side, State};
use chrono::{Datelike, Duration, NaiveDate};

/// A kind of document (the `documents.kind` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Acceptance,
    NonAcceptance,
    Extension,
    Opinion,
    ReviewOpinion,
    ReReviewOpinion,
    Assignment,
    Urging,
}

/// Who drafts and issues a kind (DESIGN §2): the lead department's handler, the office (staff or
/// the owning leader) when assigning, or the supervisors for the reviewing body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issuer {
    LeadDepartment,
    Office,
    Supervision,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Acceptance,
        Kind::NonAcceptance,
        Kind::Extension,
        Kind::Opinion,
        Kind::ReviewOpinion,
        Kind::ReReviewOpinion,
        Kind::Assignment,
        Kind::Urging,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Acceptance => "acceptance",
            Kind::NonAcceptance => "non_acceptance",
            Kind::Extension => "extension",
            Kind::Opinion => "opinion",
            Kind::ReviewOpinion => "review_opinion",
            Kind::ReReviewOpinion => "re_review_opinion",
            Kind::Assignment => "assignment",
            Kind::Urging => "urging",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The document's title as printed.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Acceptance => "信访事项受理告知书",
            Kind::NonAcceptance => "信访事项不予受理告知书",
            Kind::Extension => "信访事项延期办理告知书",
            Kind::Opinion => "信访事项处理意见书",
            Kind::ReviewOpinion => "信访事项复查意见书",
            Kind::ReReviewOpinion => "信访事项复核意见书",
            Kind::Assignment => "信访事项交办单",
            Kind::Urging => "信访事项督办单",
        }
    }

    /// The kind's character in the number (浦信**受**〔2026〕17号).
    pub fn number_mark(self) -> &'static str {
        match self {
            Kind::Acceptance => "受",
            Kind::NonAcceptance => "不受",
            Kind::Extension => "延",
            Kind::Opinion => "处",
            Kind::ReviewOpinion => "复查",
            Kind::ReReviewOpinion => "复核",
            Kind::Assignment => "交",
            Kind::Urging => "督",
        }
    }

    pub fn issuer(self) -> Issuer {
        match self {
            Kind::Acceptance | Kind::NonAcceptance | Kind::Extension | Kind::Opinion => {
                Issuer::LeadDepartment
            }
            Kind::Assignment => Issuer::Office,
            Kind::ReviewOpinion | Kind::ReReviewOpinion | Kind::Urging => Issuer::Supervision,
        }
    }

    /// Addressed to the petitioner (delivered to them, and shown on their lookup page), or to the
    /// department (交办单, 督办单).
    pub fn to_citizen(self) -> bool {
        !matches!(self, Kind::Assignment | Kind::Urging)
    }
}

/// Whether someone on `side` of the case drafts and issues `kind` (DESIGN §2).
pub fn may_draft(kind: Kind, side: Side) -> bool {
    match kind.issuer() {
        Issuer::LeadDepartment => side == Side::LeadHandler,
        Issuer::Office => matches!(side, Side::Staff | Side::OwnerLeader),
        Issuer::Supervision => side == Side::Supervisor,
    }
}

/// What about the case decides whether a kind may be issued now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaseNow {
    /// The citizen has been told the acceptance decision in writing (受理 or 不予受理).
    pub decided: bool,
    /// A supervisor approved an extension that no 延期告知书 has told yet.
    pub extension_untold: bool,
}

/// Whether `kind` may be issued on a case in `state` (a correction may always be: it only
/// supersedes). The 受理告知书 and 不予受理告知书 are the written acceptance decision, so one of them
/// once; an extension counts only once told; the opinion answers a case being handled.
pub fn may_issue(kind: Kind, state: State, c: CaseNow) -> Result<(), &'static str> {
    use State as S;
    let ok = |yes: bool, why| if yes { Ok(()) } else { Err(why) };
    match kind {
        Kind::Acceptance => {
            ok(!c.decided, "已告知受理决定，不能再次印发")?;
            ok(
                matches!(state, S::Accepted | S::ClosureSubmitted),
                "请先签收，再印发受理告知书",
            )
        }
        Kind::NonAcceptance => {
            ok(!c.decided, "已告知受理决定，不能再次印发")?;
            ok(
                matches!(state, S::Assigned | S::Accepted),
                "该交办件当前状态下不能印发不予受理告知书",
            )
        }
        Kind::Extension => ok(c.extension_untold, "没有待告知的已批准延期"),
        Kind::Opinion => ok(state == S::Accepted, "办理中的交办件才能印发处理意见书"),
        Kind::ReviewOpinion | Kind::ReReviewOpinion => {
            ok(state == S::InReview, "复查、复核期间才能印发意见书")
        }
        Kind::Assignment | Kind::Urging => ok(state.is_open(), "该交办件已办结"),
    }
}

/// What the handling department still owes the citizen in writing, to show above its actions.
pub fn writing_due(state: State, c: CaseNow, opinion_issued: bool) -> Option<&'static str> {
    use State as S;
    if !c.decided && matches!(state, S::Assigned | S::Accepted) {
        Some("受理与否须书面告知信访人：请在“文书”中印发受理告知书或不予受理告知书。")
    } else if c.extension_untold {
        Some("延期已批准，印发延期告知书后生效。")
    } else if state == S::Accepted && !opinion_issued {
        Some("申请办结前须先印发处理意见书（答复意见书）。")
    } else {
        None
    }
}

/// A body's 机关代字 when none is set: the jurisdiction's first character and 信 (浦阳县 → 浦信),
/// a department's first character of its jurisdiction and its short name without 局/委/办
/// (浦阳县, 住建局 → 浦住建).
pub fn default_abbr(jurisdiction_name: &str, department_short_name: Option<&str>) -> String {
    let first: String = jurisdiction_name.chars().take(1).collect();
    match department_short_name {
        None => format!("{first}信"),
        Some(short) => {
            let core = short.trim_end_matches(['局', '委', '办', '厅', '院', '会']);
            let core = if core.is_empty() { short } else { core };
            format!("{first}{}", core.chars().take(4).collect::<String>())
        }
    }
}

/// The number from the jurisdiction's pattern: `{abbr}`, `{kind}`, `{year}` and `{n}`.
pub fn format_number(pattern: &str, abbr: &str, kind: Kind, year: i32, n: i32) -> String {
    pattern
        .replace("{abbr}", abbr)
        .replace("{kind}", kind.number_mark())
        .replace("{year}", &year.to_string())
        .replace("{n}", &n.to_string())
}

/// A 查询码 as typed: spaces and dashes dropped, upper-cased; None unless 12 characters of the
/// codes' alphabet (the column's check).
pub fn normalize_query_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase();
    let alphabet = crate::prepare::registration::CODE_ALPHABET;
    (code.len() == 12 && code.bytes().all(|b| alphabet.contains(&b))).then_some(code)
}

/// Calendar days the petitioner has to ask for 复查 or 复核 after 送达, and the reviewing body to decide.
pub const REQUEST_DAYS: i64 = 30;

/// The last day on which the petitioner may ask for 复查 / 复核: 30 calendar days from 送达.
pub fn request_deadline(delivered_on: NaiveDate, days: i64) -> NaiveDate {
    delivered_on + Duration::days(days)
}

/// 2026年12月2日, as documents print dates.
pub fn cn_long_date(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// What a draft is made from: the case as the issuing body sees it.
pub struct Facts<'a> {
    pub addressee: &'a str,
    pub case_title: &'a str,
    pub case_code: &'a str,
    pub query_code: &'a str,
    /// When the matter was received (the reception day or the assignment).
    pub received_on: NaiveDate,
    pub department: &'a str,
    /// The body the petitioner may ask next (复查 after an opinion, 复核 after a 复查意见书).
    pub next_reviewer: &'a str,
    pub due_on: Option<NaiveDate>,
    pub extended_due_on: Option<NaiveDate>,
    pub deadline_days: i32,
    /// The 答复意见 (opinion), the reason (non-acceptance, extension) or the review's decision.
    pub reply: &'a str,
    pub owner_leader: &'a str,
    pub review_days: i64,
}

/// The draft body of a kind, every field filled from the case; staff edit it before issuing.
pub fn draft_body(kind: Kind, f: &Facts) -> String {
    let matter = format!(
        "您于{}反映的“{}”（交办编号 {}）",
        cn_long_date(f.received_on),
        f.case_title,
        f.case_code
    );
    let lookup = format!(
        "您可凭查询码 {} 在本平台“登记查询”中查看办理进展和文书。",
        f.query_code
    );
    match kind {
        Kind::Acceptance => format!(
            "{matter}，本机关已于收到之日起依法受理，将在{}日内办结，并将处理意见书面答复您。{}",
            f.deadline_days, lookup
        ),
        Kind::NonAcceptance => format!(
            "{matter}，经审查，不予受理。理由：{}。\n\n依照《信访工作条例》第三十一条，对依法应当通过诉讼、仲裁、行政复议等法定途径解决的事项，请您依照有关法律、行政法规规定的程序向有关机关提出。{}",
            or_blank(f.reply),
            lookup
        ),
        Kind::Extension => format!(
            "{matter}，因情况复杂，不能在规定期限内办结，经批准延长办理期限至{}。延期理由：{}。{}",
            f.extended_due_on
                .or(f.due_on)
                .map(cn_long_date)
                .unwrap_or_else(|| "＿＿年＿＿月＿＿日".into()),
            or_blank(f.reply),
            lookup
        ),
        Kind::Opinion => format!(
            "{matter}，{}已办理完毕。\n\n一、查明的事实：＿＿＿＿。\n\n二、处理意见及依据：{}\n\n如对本处理意见不服，可以自收到本意见书之日起{}日内向{}书面提出复查申请。{}",
            f.department,
            or_blank(f.reply),
            f.review_days,
            f.next_reviewer,
            lookup
        ),
        Kind::ReviewOpinion => format!(
            "您对{}作出的处理意见不服提出的复查申请（{}），本机关经复查，意见如下：{}\n\n如对本复查意见不服，可以自收到本意见书之日起{}日内向{}书面提出复核申请。{}",
            f.department,
            f.case_title,
            or_blank(f.reply),
            f.review_days,
            f.next_reviewer,
            lookup
        ),
        Kind::ReReviewOpinion => format!(
            "您对“{}”复查意见不服提出的复核申请，本机关经复核，意见如下：{}\n\n本复核意见为最终意见。依照《信访工作条例》第三十五条，信访人对复核意见不服，仍以同一事实和理由提出投诉请求的，各级机关不再受理。{}",
            f.case_title,
            or_blank(f.reply),
            lookup
        ),
        // The department is the addressee, printed above the body: not named again here.
        Kind::Assignment => format!(
            "现将信访事项“{}”（交办编号 {}）交你单位办理，包案领导：{}。请于收到之日起依法受理并书面告知信访人，在受理之日起{}日内办结，并将处理意见书面答复信访人，同时报送办理结果。",
            f.case_title, f.case_code, f.owner_leader, f.deadline_days
        ),
        Kind::Urging => format!(
            "信访事项“{}”（交办编号 {}）办理期限为{}，至今未办结。请你单位抓紧办理，于收到本督办单之日起5个工作日内报告办理进展。",
            f.case_title,
            f.case_code,
            f.extended_due_on
                .or(f.due_on)
                .map(cn_long_date)
                .unwrap_or_else(|| "—".into())
        ),
    }
}

fn or_blank(s: &str) -> &str {
    if s.trim().is_empty() {
        "＿＿＿＿"
    } else {
        s
    }
}

/// What the text hash covers, one field per line: what was issued, checkable later.
pub fn hashed_text(
    number: &str,
    kind: Kind,
    issuer: &str,
    addressee: &str,
    body: &str,
    issued_on: NaiveDate,
) -> String {
    format!(
        "{number}\n{}\n{issuer}\n{addressee}\n{issued_on}\n{body}",
        kind.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts<'static> {
        Facts {
            addressee: "王某某",
            case_title: "小区雨污管网改造",
            case_code: "JB2345678ABC",
            query_code: "AB23CD45EF67",
            received_on: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
            department: "浦阳县住房和城乡建设局",
            next_reviewer: "浦阳县人民政府",
            due_on: NaiveDate::from_ymd_opt(2027, 1, 2),
            extended_due_on: None,
            deadline_days: 60,
            reply: "经现场核查，管网改造列入明年计划。",
            owner_leader: "李县长",
            review_days: 30,
        }
    }

    #[test]
    fn kinds_round_trip_and_have_distinct_marks() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        let marks: std::collections::HashSet<_> =
            Kind::ALL.iter().map(|k| k.number_mark()).collect();
        assert_eq!(marks.len(), Kind::ALL.len());
        assert_eq!(Kind::parse("memo"), None);
    }

    #[test]
    fn each_kind_has_its_issuers() {
        assert!(may_draft(Kind::Acceptance, Side::LeadHandler));
        assert!(!may_draft(Kind::Acceptance, Side::CoHandler));
        assert!(!may_draft(Kind::Opinion, Side::Supervisor));
        assert!(may_draft(Kind::Assignment, Side::Staff));
        assert!(may_draft(Kind::Assignment, Side::OwnerLeader));
        assert!(!may_draft(Kind::Assignment, Side::LeadHandler));
        assert!(may_draft(Kind::ReviewOpinion, Side::Supervisor));
        assert!(may_draft(Kind::Urging, Side::Supervisor));
        assert!(!may_draft(Kind::Urging, Side::Citizen));
    }

    #[test]
    fn the_written_decision_comes_once_and_each_kind_in_its_state() {
        let fresh = CaseNow::default();
        let decided = CaseNow {
            decided: true,
            ..fresh
        };
        assert_eq!(
            may_issue(Kind::Acceptance, State::Assigned, fresh),
            Err("请先签收，再印发受理告知书")
        );
        assert!(may_issue(Kind::Acceptance, State::Accepted, fresh).is_ok());
        assert!(may_issue(Kind::Acceptance, State::Accepted, decided).is_err());
        assert!(may_issue(Kind::NonAcceptance, State::Assigned, fresh).is_ok());
        assert!(may_issue(Kind::NonAcceptance, State::Accepted, decided).is_err());
        assert!(may_issue(Kind::NonAcceptance, State::Closed, fresh).is_err());
        assert!(may_issue(Kind::Extension, State::Accepted, decided).is_err());
        let untold = CaseNow {
            extension_untold: true,
            ..decided
        };
        assert!(may_issue(Kind::Extension, State::ClosureSubmitted, untold).is_ok());
        assert!(may_issue(Kind::Opinion, State::Accepted, fresh).is_ok());
        assert!(may_issue(Kind::Opinion, State::Closed, decided).is_err());
        assert!(may_issue(Kind::ReviewOpinion, State::InReview, decided).is_ok());
        assert!(may_issue(Kind::ReReviewOpinion, State::Rated, decided).is_err());
        assert!(may_issue(Kind::Urging, State::Accepted, decided).is_ok());
        assert!(may_issue(Kind::Urging, State::NotAccepted, decided).is_err());
    }

    #[test]
    fn the_department_is_told_what_it_still_owes_in_writing() {
        let fresh = CaseNow::default();
        assert!(
            writing_due(State::Assigned, fresh, false)
                .unwrap()
                .contains("受理告知书")
        );
        let decided = CaseNow {
            decided: true,
            ..fresh
        };
        assert!(
            writing_due(State::Accepted, decided, false)
                .unwrap()
                .contains("处理意见书")
        );
        assert_eq!(writing_due(State::Accepted, decided, true), None);
        let untold = CaseNow {
            extension_untold: true,
            ..decided
        };
        assert!(
            writing_due(State::Accepted, untold, true)
                .unwrap()
                .contains("延期告知书")
        );
        assert_eq!(writing_due(State::Closed, decided, true), None);
    }

    #[test]
    fn numbers_follow_the_pattern() {
        let p = "{abbr}{kind}〔{year}〕{n}号";
        assert_eq!(
            format_number(p, "浦信", Kind::Acceptance, 2026, 17),
            "浦信受〔2026〕17号"
        );
        assert_eq!(
            format_number(
                "{abbr}{kind}字〔{year}〕第{n}号",
                "浦住建",
                Kind::Opinion,
                2027,
                3
            ),
            "浦住建处字〔2027〕第3号"
        );
    }

    #[test]
    fn abbreviations_are_derived_from_names() {
        assert_eq!(default_abbr("浦阳县", None), "浦信");
        assert_eq!(default_abbr("浦阳县", Some("住建局")), "浦住建");
        assert_eq!(default_abbr("浦阳县", Some("局")), "浦局");
    }

    #[test]
    fn query_codes_are_normalized_and_checked() {
        assert_eq!(
            normalize_query_code(" ab23-cd45 ef67 ").as_deref(),
            Some("AB23CD45EF67")
        );
        assert_eq!(normalize_query_code("AB23CD45EF6"), None);
        assert_eq!(
            normalize_query_code("AB23CD45EF6O"),
            None,
            "O is not in the alphabet"
        );
        assert_eq!(
            normalize_query_code("AB23CD45EF61"),
            None,
            "1 is not in the alphabet"
        );
    }

    #[test]
    fn the_request_deadline_counts_calendar_days() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(
            request_deadline(d, 30),
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
        );
    }

    #[test]
    fn every_draft_names_the_matter_and_the_citizen_drafts_give_the_query_code() {
        let f = facts();
        for k in Kind::ALL {
            let body = draft_body(k, &f);
            assert!(body.contains("小区雨污管网改造"), "{k:?}");
            assert_eq!(body.contains("AB23CD45EF67"), k.to_citizen(), "{k:?}");
        }
        let opinion = draft_body(Kind::Opinion, &f);
        assert!(opinion.contains("30日内向浦阳县人民政府书面提出复查申请"));
        assert!(opinion.contains("管网改造列入明年计划"));
        assert!(draft_body(Kind::ReReviewOpinion, &f).contains("不再受理"));
        assert!(
            draft_body(
                Kind::NonAcceptance,
                &Facts {
                    reply: " ",
                    ..facts()
                }
            )
            .contains("＿＿＿＿")
        );
        assert!(draft_body(Kind::Assignment, &f).contains("包案领导：李县长"));
        // The department's kinds are addressed to it above the body; the body does not repeat it.
        for k in [Kind::Assignment, Kind::Urging] {
            assert!(!draft_body(k, &f).contains(f.department), "{k:?}");
        }
    }

    #[test]
    fn the_hash_covers_every_printed_field() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let a = hashed_text(
            "浦信受〔2026〕1号",
            Kind::Acceptance,
            "浦阳县信访局",
            "王某某",
            "正文",
            d,
        );
        for other in [
            hashed_text(
                "浦信受〔2026〕2号",
                Kind::Acceptance,
                "浦阳县信访局",
                "王某某",
                "正文",
                d,
            ),
            hashed_text(
                "浦信受〔2026〕1号",
                Kind::Extension,
                "浦阳县信访局",
                "王某某",
                "正文",
                d,
            ),
            hashed_text(
                "浦信受〔2026〕1号",
                Kind::Acceptance,
                "浦阳县信访局",
                "王某",
                "正文",
                d,
            ),
            hashed_text(
                "浦信受〔2026〕1号",
                Kind::Acceptance,
                "浦阳县信访局",
                "王某某",
                "正文。",
                d,
            ),
            hashed_text(
                "浦信受〔2026〕1号",
                Kind::Acceptance,
                "浦阳县信访局",
                "王某某",
                "正文",
                d.succ_opt().unwrap(),
            ),
        ] {
            assert_ne!(a, other);
        }
    }
}
