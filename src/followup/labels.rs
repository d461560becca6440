//! The words a case's codes are shown with: action slugs, results, ratings, events.

use crate::followup::state::Action;

/// The URL slug of each action (`POST /cases/{id}/{slug}`).
pub fn slug(a: Action) -> &'static str {
    match a {
        Action::Accept => "accept",
        Action::Return => "return",
        Action::Reassign => "reassign",
        Action::Progress => "progress",
        Action::RequestExtension => "extend",
        Action::ApproveExtension => "approve-extension",
        Action::RefuseExtension => "refuse-extension",
        Action::Submit => "submit",
        Action::Approve => "approve",
        Action::Reject => "reject",
        Action::Rate => "rate",
        Action::Reopen => "reopen",
        Action::RequestReview => "review",
        Action::DecideReview(_) => "decide-review",
    }
}

/// The audit log's code of each action (`case.approve_extension`).
pub fn audit_action(a: Action) -> String {
    format!("case.{}", slug(a).replace('-', "_"))
}

pub fn result_label(r: &str) -> &'static str {
    match r {
        "resolved" => "已解决",
        "partly" => "部分解决",
        "explained" => "已解释说明",
        "unresolved" => "未解决",
        _ => "",
    }
}

pub const RESULTS: [(&str, &str); 4] = [
    ("resolved", "已解决"),
    ("partly", "部分解决"),
    ("explained", "已解释说明"),
    ("unresolved", "未解决"),
];

pub fn rating_label(r: &str) -> &'static str {
    match r {
        "satisfied" => "满意",
        "basically_satisfied" => "基本满意",
        "dissatisfied" => "不满意",
        _ => "",
    }
}

/// The label of a case event kind (the case file, the API).
pub fn event_label(kind: &str) -> &'static str {
    match kind {
        "assigned" => "交办",
        "accepted" => "签收",
        "returned" => "退回",
        "progress" => "办理进展",
        "extension_requested" => "申请延期",
        "extension_approved" => "批准延期",
        "extension_refused" => "不予延期",
        "acceptance_notified" => "告知受理",
        "not_accepted" => "不予受理",
        "extension_notified" => "告知延期",
        "opinion_issued" => "印发处理意见书",
        "closure_submitted" => "申请办结",
        "closure_approved" => "审核通过",
        "closure_rejected" => "退回重办",
        "reminded" => "到期提醒",
        "auto_urged" => "催办",
        "urged" => "督办",
        "rated" => "群众评价",
        "reopened" => "重办",
        "review_requested" => "申请复查",
        "review_decided" => "复查结论",
        "hearing" => "听证",
        "terminated" => "终结",
        "handed_over" => "离任交接",
        "reassigned" => "重新交办",
        _ => "记录",
    }
}

/// The steps of a case its citizen follows on the lookup page, in their words; None for the
/// department's internal steps (progress notes, requests, reminders, 督办).
pub fn citizen_event_label(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "assigned" => "交办承办单位",
        "reassigned" => "重新交办",
        "accepted" => "承办单位签收",
        "acceptance_notified" => "书面告知受理",
        "not_accepted" => "书面告知不予受理",
        "extension_notified" => "书面告知延期办理",
        "opinion_issued" => "书面答复（处理意见书）",
        "closure_approved" => "办结答复",
        "rated" => "您的评价",
        "reopened" => "重新办理",
        "review_requested" => "申请复查（复核）",
        "review_decided" => "复查（复核）结论",
        "hearing" => "复核听证（听证期间不计入复核期限）",
        "terminated" => "终结",
        _ => return None,
    })
}

/// A case's status in the citizen's words (the lookup page, the API).
pub fn citizen_status_label(status: &str) -> &'static str {
    match status {
        "assigned" => "已交办",
        "accepted" => "办理中",
        "returned" => "重新交办中",
        "closure_submitted" => "办结审核中",
        "closed" => "已办结",
        "rated" => "已评价",
        "in_review" => "复查复核中",
        "terminated" => "已终结",
        "not_accepted" => "不予受理",
        _ => "办理中",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_action_has_a_chinese_name_in_the_audit_log() {
        for a in Action::ALL {
            let code = audit_action(a);
            assert!(
                crate::audit::labels::action_label(&code).is_some(),
                "{code}"
            );
        }
    }
}
