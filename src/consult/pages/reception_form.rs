//! 接谈记录: the form that records a reception at the desk — what was said, 会商意见, and one or more
//! 诉求事项, each with its own outcome (DESIGN §3, §6). Pure: parsing and validation into the typed
//! reception that `consult::reception::record` stores.

pub use crate::consult::desk_rules::{OUTCOMES, outcome_label};
use crate::consult::reception::{Assignment, Choices, NewIssue, NewReception};
use crate::web::form::{Errors, text};

/// Issue blocks a fresh form shows (pages work without JS: 再加一项 re-renders with one more).
pub const BLOCKS_SHOWN: usize = 3;
/// Indexes beyond this are ignored, so a crafted body cannot make the page grow without bound.
pub const MAX_BLOCKS: usize = 20;

/// One issue block as typed (field names `i{n}_{field}`).
#[derive(Default, Clone, Debug, PartialEq)]
pub struct IssueInput {
    pub category: String,
    pub summary: String,
    pub outcome: String,
    pub reason: String,
    pub lead: String,
    pub co: Vec<String>,
    pub owner: String,
    pub deadline: String,
}

impl IssueInput {
    /// Nothing typed: category, owner and deadline come pre-filled, so they do not count.
    pub fn is_blank(&self) -> bool {
        [&self.summary, &self.outcome, &self.reason, &self.lead]
            .iter()
            .all(|s| s.trim().is_empty())
            && self.co.iter().all(|s| s.trim().is_empty())
    }
}

#[derive(Default, Debug)]
pub struct RecordInput {
    pub statement: String,
    pub consultation: String,
    pub issues: Vec<IssueInput>,
    /// 再加一项 was pressed: show the form again with one more block.
    pub more: bool,
    /// The chosen outcomes' fields were asked for (without JavaScript): show the form again.
    pub refresh: bool,
}

impl RecordInput {
    /// Only showing the form again (再加一项, or the fields of a chosen outcome): nothing to save.
    pub fn redisplay(&self) -> bool {
        self.more || self.refresh
    }
}

/// Read the submitted pairs; unknown keys and out-of-range indexes are ignored.
pub fn parse(pairs: &[(String, String)]) -> RecordInput {
    let mut input = RecordInput::default();
    for (key, value) in pairs {
        match key.as_str() {
            "statement" => input.statement = value.clone(),
            "consultation" => input.consultation = value.clone(),
            "more" => input.more = true,
            "refresh" => input.refresh = true,
            _ => {
                let Some((index, field)) = key.strip_prefix('i').and_then(|k| k.split_once('_'))
                else {
                    continue;
                };
                let Some(index) = index.parse::<usize>().ok().filter(|i| *i < MAX_BLOCKS) else {
                    continue;
                };
                if input.issues.len() <= index {
                    input.issues.resize_with(index + 1, IssueInput::default);
                }
                let issue = &mut input.issues[index];
                match field {
                    "category" => issue.category = value.clone(),
                    "summary" => issue.summary = value.clone(),
                    "outcome" => issue.outcome = value.clone(),
                    "reason" => issue.reason = value.clone(),
                    "lead" => issue.lead = value.clone(),
                    "co" => issue.co.push(value.clone()),
                    "owner" => issue.owner = value.clone(),
                    "deadline" => issue.deadline = value.clone(),
                    _ => {}
                }
            }
        }
    }
    input
}

/// Errors of the whole form (statement, consultation, `issues`) and of each block (by field).
#[derive(Default, Debug)]
pub struct Invalid {
    pub errors: Errors,
    pub blocks: Vec<Errors>,
}

fn pick(s: &str, allowed: &[i64]) -> Option<i64> {
    s.trim().parse().ok().filter(|id| allowed.contains(id))
}

fn issue(i: &IssueInput, c: &Choices, e: &mut Errors) -> Option<NewIssue> {
    let category_id = pick(&i.category, c.categories);
    if category_id.is_none() {
        e.add("category", "请选择问题类别");
    }
    let summary = text(e, "summary", "事项摘要", &i.summary, 1, 500);
    let outcome = OUTCOMES
        .iter()
        .map(|(o, _)| *o)
        .find(|o| *o == i.outcome.trim());
    if outcome.is_none() {
        e.add("outcome", "请选择处理结果");
    }
    let reason = (outcome == Some("not_accepted"))
        .then(|| text(e, "reason", "不予受理理由", &i.reason, 1, 500));
    let assignment = if outcome == Some("assigned") {
        let lead = pick(&i.lead, c.departments);
        if lead.is_none() {
            e.add("lead", "交办须选择承办单位");
        }
        let co: Option<Vec<i64>> = i.co.iter().map(|s| pick(s, c.departments)).collect();
        if co.is_none() {
            e.add("co", "协办单位须从列表中选择");
        }
        let owner = pick(&i.owner, c.leaders);
        if owner.is_none() {
            e.add("owner", "交办须选择包案领导");
        }
        let deadline = i
            .deadline
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|d| (1..=60).contains(d));
        if deadline.is_none() {
            e.add("deadline", "办结时限为 1 到 60 天");
        }
        match (lead, co, owner, deadline) {
            (Some(lead), Some(mut co), Some(owner), Some(deadline_days)) => {
                co.retain(|d| *d != lead);
                co.sort_unstable();
                co.dedup();
                Some(Assignment {
                    lead,
                    co,
                    owner,
                    deadline_days,
                })
            }
            _ => None,
        }
    } else {
        None
    };
    if !e.is_empty() {
        return None;
    }
    Some(NewIssue {
        category_id: category_id?,
        summary,
        outcome: outcome?,
        reason,
        assignment,
    })
}

/// What a submit asks: to show the form again (再加一项, an outcome's fields: `Err` without
/// errors, nothing to validate yet), or to save what validates.
pub fn submitted(input: &RecordInput, c: &Choices, kept: bool) -> Result<NewReception, Invalid> {
    match input.redisplay() {
        true => Err(Invalid::default()),
        false => validate(input, c, kept),
    }
}

/// Blank blocks are ignored; at least one issue is required (issues kept from before, a
/// correction's cases, count); every error is kept for its field.
pub fn validate(input: &RecordInput, c: &Choices, kept: bool) -> Result<NewReception, Invalid> {
    let mut invalid = Invalid::default();
    let statement = text(
        &mut invalid.errors,
        "statement",
        "接谈情况",
        &input.statement,
        1,
        10000,
    );
    let consultation = text(
        &mut invalid.errors,
        "consultation",
        "会商意见",
        &input.consultation,
        0,
        5000,
    );
    let mut issues = Vec::new();
    for i in &input.issues {
        let mut e = Errors::default();
        if !i.is_blank()
            && let Some(v) = issue(i, c, &mut e)
        {
            issues.push(v);
        }
        invalid.blocks.push(e);
    }
    let all_blank = input.issues.iter().all(IssueInput::is_blank);
    if all_blank && !kept {
        invalid.errors.add("issues", "请至少填写一项诉求事项");
    }
    if invalid.errors.is_empty() && invalid.blocks.iter().all(Errors::is_empty) {
        Ok(NewReception {
            statement,
            consultation,
            issues,
        })
    } else {
        Err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    const CHOICES: Choices = Choices {
        categories: &[7, 8],
        departments: &[1, 2, 3],
        leaders: &[40, 41],
    };

    #[test]
    fn indexed_fields_become_blocks_and_repeated_co_departments_a_list() {
        let input = parse(&pairs(&[
            ("statement", "说了"),
            ("i0_summary", "路"),
            ("i0_outcome", "assigned"),
            ("i0_co", "2"),
            ("i0_co", "3"),
            ("i2_summary", "桥"),
            ("i99_summary", "ignored"),
            ("ix_summary", "ignored"),
            ("more", "1"),
        ]));
        assert_eq!(input.statement, "说了");
        assert!(input.more);
        assert_eq!(input.issues.len(), 3);
        assert_eq!(input.issues[0].co, vec!["2", "3"]);
        assert!(input.issues[1].is_blank());
        assert_eq!(input.issues[2].summary, "桥");
    }

    #[test]
    fn two_issues_one_assigned_with_co_departments() {
        let input = parse(&pairs(&[
            ("statement", "反映道路和低保问题"),
            ("i0_category", "7"),
            ("i0_summary", "路灯不亮"),
            ("i0_outcome", "resolved_on_spot"),
            ("i0_owner", "40"),
            ("i0_deadline", "60"),
            ("i1_category", "8"),
            ("i1_summary", "低保"),
            ("i1_outcome", "assigned"),
            ("i1_lead", "1"),
            ("i1_co", "1"),
            ("i1_co", "3"),
            ("i1_owner", "41"),
            ("i1_deadline", "30"),
            ("i2_owner", "40"),
            ("i2_deadline", "60"),
        ]));
        let v = validate(&input, &CHOICES, false).unwrap();
        assert_eq!(v.issues.len(), 2, "the blank third block is ignored");
        assert_eq!(v.issues[0].outcome, "resolved_on_spot");
        assert_eq!(v.issues[0].assignment, None);
        assert_eq!(
            v.issues[1].assignment,
            Some(Assignment {
                lead: 1,
                co: vec![3],
                owner: 41,
                deadline_days: 30
            })
        );
    }

    #[test]
    fn errors_are_kept_per_block_and_field() {
        let input = parse(&pairs(&[
            ("statement", "说了"),
            ("i0_category", "7"),
            ("i0_outcome", "explained"),
            ("i1_category", "7"),
            ("i1_summary", "不予受理的事"),
            ("i1_outcome", "not_accepted"),
            ("i2_summary", "交办"),
            ("i2_category", "7"),
            ("i2_outcome", "assigned"),
            ("i2_lead", "9"),
            ("i2_owner", "40"),
            ("i2_deadline", "61"),
        ]));
        let e = validate(&input, &CHOICES, false).unwrap_err();
        assert_eq!(e.blocks[0].get("summary"), "请填写事项摘要");
        assert_eq!(e.blocks[1].get("reason"), "请填写不予受理理由");
        assert_eq!(e.blocks[2].get("lead"), "交办须选择承办单位");
        assert_eq!(e.blocks[2].get("deadline"), "办结时限为 1 到 60 天");
        assert_eq!(e.blocks[2].get("owner"), "");
        assert_eq!(e.errors.get("issues"), "");
    }

    #[test]
    fn at_least_one_issue_and_a_statement() {
        let input = parse(&pairs(&[
            ("i0_category", "7"),
            ("i0_owner", "40"),
            ("i0_deadline", "60"),
        ]));
        let e = validate(&input, &CHOICES, false).unwrap_err();
        assert_eq!(e.errors.get("issues"), "请至少填写一项诉求事项");
        assert_eq!(e.errors.get("statement"), "请填写接谈情况");
        assert!(
            e.blocks.iter().all(Errors::is_empty),
            "a blank block has no field errors"
        );
    }

    #[test]
    fn a_correction_whose_issues_became_cases_needs_no_other_issue() {
        let input = parse(&pairs(&[
            ("statement", "更正后的接谈情况"),
            ("refresh", "1"),
        ]));
        assert!(input.redisplay());
        let v = validate(&input, &CHOICES, true).unwrap();
        assert!(v.issues.is_empty());
        let e = validate(&input, &CHOICES, false).unwrap_err();
        assert_eq!(e.errors.get("issues"), "请至少填写一项诉求事项");
    }
}
