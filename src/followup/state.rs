//! The case state machine (DESIGN §3, §4), pure: which action moves a case from which state to
//! which, and who may take it. Handlers ask `next` before writing and `allowed` to show forms.

/// A case's status (the `cases.status` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Assigned,
    Accepted,
    Returned,
    ClosureSubmitted,
    Closed,
    Rated,
    InReview,
    Terminated,
    /// An issued 不予受理告知书 points the citizen elsewhere; no closure clock runs.
    NotAccepted,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Assigned,
        State::Accepted,
        State::Returned,
        State::ClosureSubmitted,
        State::Closed,
        State::Rated,
        State::InReview,
        State::Terminated,
        State::NotAccepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Assigned => "assigned",
            State::Accepted => "accepted",
            State::Returned => "returned",
            State::ClosureSubmitted => "closure_submitted",
            State::Closed => "closed",
            State::Rated => "rated",
            State::InReview => "in_review",
            State::Terminated => "terminated",
            State::NotAccepted => "not_accepted",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            State::Assigned => "待签收",
            State::Accepted => "办理中",
            State::Returned => "已退回",
            State::ClosureSubmitted => "待审核",
            State::Closed => "已办结",
            State::Rated => "已评价",
            State::InReview => "复查中",
            State::Terminated => "已终结",
            State::NotAccepted => "不予受理",
        }
    }

    /// Still owned and handled: a departing leader's handover moves these.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Rated | State::Terminated | State::NotAccepted
        )
    }

    /// The deadline clock runs (the schema's open states).
    pub fn deadline_runs(self) -> bool {
        matches!(
            self,
            State::Assigned | State::Accepted | State::Returned | State::ClosureSubmitted
        )
    }
}

/// Database values of the states whose deadline clock runs.
pub const RUNNING: [&str; 4] = ["assigned", "accepted", "returned", "closure_submitted"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Accept,
    Return,
    Reassign,
    Progress,
    RequestExtension,
    ApproveExtension,
    RefuseExtension,
    Submit,
    Approve,
    Reject,
    Rate,
    Reopen,
    RequestReview,
    /// 维持 (true) or 撤销 (false).
    DecideReview(bool),
}

impl Action {
    pub const ALL: [Action; 15] = [
        Action::Accept,
        Action::Return,
        Action::Reassign,
        Action::Progress,
        Action::RequestExtension,
        Action::ApproveExtension,
        Action::RefuseExtension,
        Action::Submit,
        Action::Approve,
        Action::Reject,
        Action::Rate,
        Action::Reopen,
        Action::RequestReview,
        Action::DecideReview(true),
        Action::DecideReview(false),
    ];

    /// The case event it writes.
    pub fn event(self) -> &'static str {
        match self {
            Action::Accept => "accepted",
            Action::Return => "returned",
            Action::Reassign => "reassigned",
            Action::Progress => "progress",
            Action::RequestExtension => "extension_requested",
            Action::ApproveExtension => "extension_approved",
            Action::RefuseExtension => "extension_refused",
            Action::Submit => "closure_submitted",
            Action::Approve => "closure_approved",
            Action::Reject => "closure_rejected",
            Action::Rate => "rated",
            Action::Reopen => "reopened",
            Action::RequestReview => "review_requested",
            Action::DecideReview(_) => "review_decided",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Action::Accept => "签收",
            Action::Return => "退回",
            Action::Reassign => "重新交办",
            Action::Progress => "办理进展",
            Action::RequestExtension => "申请延期",
            Action::ApproveExtension => "批准延期",
            Action::RefuseExtension => "不予延期",
            Action::Submit => "申请办结",
            Action::Approve => "审核通过",
            Action::Reject => "退回重办",
            Action::Rate => "评价",
            Action::Reopen => "重办",
            Action::RequestReview => "复查",
            Action::DecideReview(true) => "维持",
            Action::DecideReview(false) => "撤销重办",
        }
    }
}

/// Who is acting, as seen from the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A handler of the 主办 department.
    LeadHandler,
    /// A handler of a 协办 department.
    CoHandler,
    /// The 包案领导.
    OwnerLeader,
    Supervisor,
    Staff,
    /// The citizen, proven by code + phone on /lookup.
    Citizen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Party {
    pub side: Side,
    /// This person submitted the pending closure (the second signature must be someone else).
    pub is_submitter: bool,
}

impl Party {
    pub fn new(side: Side) -> Self {
        Self {
            side,
            is_submitter: false,
        }
    }
}

/// What else about the case decides a transition, computed by the caller from the row and the clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Today is on or before the 签收/退回 deadline (5 wd after assignment).
    pub within_accept: bool,
    /// An extension has been asked for already (one at most, whatever its outcome).
    pub extension_requested: bool,
    /// An extension request awaits a supervisor.
    pub extension_pending: bool,
    /// A 处理意见书 was issued since the case last went back to 办理中 (closure needs it).
    pub opinion_issued: bool,
    /// The latest rating is 不满意.
    pub dissatisfied: bool,
    pub rated: bool,
    /// 复查 and 复核 requested so far (0, 1 or 2).
    pub reviews: u8,
    /// Within 30 d of the 送达 of the 处理意见书 (of the 复查意见书, for a 复核), or not served yet.
    pub within_review: bool,
    /// The document a 复查/复核 request is against (处理意见书, then 复查意见书) is issued.
    pub review_basis_issued: bool,
    /// The one acting belongs to the open review's body's jurisdiction (its supervisors decide).
    pub decides_review: bool,
    /// The open review's 复查意见书 / 复核意见书 has been issued since the request.
    pub review_opinion_issued: bool,
}

/// Why an action is refused, in Chinese for the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub &'static str);

fn need(ok: bool, why: &'static str) -> Result<(), Refusal> {
    if ok { Ok(()) } else { Err(Refusal(why)) }
}

/// The state after `action`, or why it may not be taken now by `who`.
pub fn next(state: State, action: Action, who: &Party, f: &Facts) -> Result<State, Refusal> {
    use Action as A;
    use Side::*;
    use State as S;
    let wrong_state = Refusal("该交办件当前状态下不能进行此操作");
    let side = who.side;
    match action {
        A::Accept | A::Return => {
            need(side == LeadHandler, "只有主办单位可以签收或退回")?;
            need(state == S::Assigned, wrong_state.0)?;
            if action == A::Return {
                need(
                    f.within_accept,
                    "已超过退回期限（交办后 5 个工作日内），不能退回",
                )?;
                return Ok(S::Returned);
            }
            Ok(S::Accepted)
        }
        A::Reassign => {
            need(side == Staff, "只有信访工作人员可以重新交办")?;
            need(state == S::Returned, wrong_state.0)?;
            Ok(S::Assigned)
        }
        A::Progress => {
            need(
                matches!(side, LeadHandler | CoHandler),
                "只有承办单位可以填报办理进展",
            )?;
            need(
                matches!(state, S::Accepted | S::ClosureSubmitted),
                wrong_state.0,
            )?;
            Ok(state)
        }
        A::RequestExtension => {
            need(side == LeadHandler, "只有主办单位可以申请延期")?;
            need(state == S::Accepted, wrong_state.0)?;
            need(!f.extension_requested, "每件只能申请延期一次")?;
            Ok(state)
        }
        A::ApproveExtension | A::RefuseExtension => {
            need(side == Supervisor, "只有督查人员可以审批延期")?;
            need(
                matches!(state, S::Accepted | S::ClosureSubmitted),
                wrong_state.0,
            )?;
            need(f.extension_pending, "没有待审批的延期申请")?;
            Ok(state)
        }
        A::Submit => {
            need(side == LeadHandler, "只有主办单位可以申请办结")?;
            need(state == S::Accepted, wrong_state.0)?;
            need(
                f.opinion_issued,
                "申请办结前须先印发处理意见书（答复意见书）",
            )?;
            Ok(S::ClosureSubmitted)
        }
        A::Approve | A::Reject => {
            need(
                matches!(side, OwnerLeader | Supervisor),
                "只有包案领导或督查人员可以审核办结",
            )?;
            need(state == S::ClosureSubmitted, wrong_state.0)?;
            need(
                !who.is_submitter,
                "办结须由申请人以外的另一人审核（双签字）",
            )?;
            Ok(if action == A::Approve {
                S::Closed
            } else {
                S::Accepted
            })
        }
        A::Rate => {
            need(side == Citizen, "只有来访群众可以评价")?;
            need(state == S::Closed, "该交办件尚未办结或已评价")?;
            Ok(S::Rated)
        }
        A::Reopen => {
            need(side == Supervisor, "只有督查人员可以决定重办")?;
            need(
                state == S::Rated && f.dissatisfied,
                "只有群众不满意的交办件可以重办",
            )?;
            Ok(S::Accepted)
        }
        A::RequestReview => {
            need(
                matches!(side, Supervisor | Citizen),
                "只有督查人员可以登记复查申请",
            )?;
            need(matches!(state, S::Closed | S::Rated), wrong_state.0)?;
            need(f.reviews < 2, "复查、复核均已进行，不能再次申请")?;
            need(
                f.review_basis_issued,
                "尚未印发处理意见书（复查意见书），暂不能申请",
            )?;
            need(f.within_review, "已超过申请期限（答复意见送达后 30 日内）")?;
            Ok(S::InReview)
        }
        A::DecideReview(upheld) => {
            need(side == Supervisor, "只有督查人员可以记录复查、复核结论")?;
            need(state == S::InReview, wrong_state.0)?;
            need(
                f.decides_review,
                "只有复查（复核）机关所在辖区的督查人员可以作出结论",
            )?;
            let first = f.reviews < 2;
            need(f.review_opinion_issued || !first, "请先印发复查意见书")?;
            need(f.review_opinion_issued, "请先印发复核意见书")?;
            Ok(match (upheld, f.reviews >= 2, f.rated) {
                (false, _, _) => S::Accepted,
                (true, true, _) => S::Terminated,
                (true, false, true) => S::Rated,
                (true, false, false) => S::Closed,
            })
        }
    }
}

/// The actions `who` may take now: the forms a page shows.
pub fn allowed(state: State, who: &Party, f: &Facts) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|a| next(state, *a, who, f).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use Side::*;
    use State as S;

    fn p(side: Side) -> Party {
        Party::new(side)
    }

    fn open() -> Facts {
        Facts {
            within_accept: true,
            within_review: true,
            opinion_issued: true,
            review_basis_issued: true,
            decides_review: true,
            review_opinion_issued: true,
            ..Facts::default()
        }
    }

    const SIDES: [Side; 6] = [
        LeadHandler,
        CoHandler,
        OwnerLeader,
        Supervisor,
        Staff,
        Citizen,
    ];

    /// Every allowed transition (state, action, side, facts) → new state. Everything not listed
    /// here, for every state × action × side under the same facts, must be refused.
    fn allowed_table() -> Vec<(S, A, Side, Facts, S)> {
        let f = open();
        let ext_pending = Facts {
            extension_requested: true,
            extension_pending: true,
            ..f
        };
        let dissatisfied = Facts {
            rated: true,
            dissatisfied: true,
            ..f
        };
        let one_review = Facts { reviews: 1, ..f };
        let one_review_rated = Facts {
            reviews: 1,
            rated: true,
            ..f
        };
        let two_reviews = Facts { reviews: 2, ..f };
        vec![
            (S::Assigned, A::Accept, LeadHandler, f, S::Accepted),
            (S::Assigned, A::Return, LeadHandler, f, S::Returned),
            (S::Returned, A::Reassign, Staff, f, S::Assigned),
            (S::Accepted, A::Progress, LeadHandler, f, S::Accepted),
            (S::Accepted, A::Progress, CoHandler, f, S::Accepted),
            (
                S::ClosureSubmitted,
                A::Progress,
                LeadHandler,
                f,
                S::ClosureSubmitted,
            ),
            (
                S::ClosureSubmitted,
                A::Progress,
                CoHandler,
                f,
                S::ClosureSubmitted,
            ),
            (
                S::Accepted,
                A::RequestExtension,
                LeadHandler,
                f,
                S::Accepted,
            ),
            (
                S::Accepted,
                A::ApproveExtension,
                Supervisor,
                ext_pending,
                S::Accepted,
            ),
            (
                S::Accepted,
                A::RefuseExtension,
                Supervisor,
                ext_pending,
                S::Accepted,
            ),
            (
                S::ClosureSubmitted,
                A::ApproveExtension,
                Supervisor,
                ext_pending,
                S::ClosureSubmitted,
            ),
            (
                S::ClosureSubmitted,
                A::RefuseExtension,
                Supervisor,
                ext_pending,
                S::ClosureSubmitted,
            ),
            (S::Accepted, A::Submit, LeadHandler, f, S::ClosureSubmitted),
            (S::ClosureSubmitted, A::Approve, OwnerLeader, f, S::Closed),
            (S::ClosureSubmitted, A::Approve, Supervisor, f, S::Closed),
            (S::ClosureSubmitted, A::Reject, OwnerLeader, f, S::Accepted),
            (S::ClosureSubmitted, A::Reject, Supervisor, f, S::Accepted),
            (S::Closed, A::Rate, Citizen, f, S::Rated),
            (S::Rated, A::Reopen, Supervisor, dissatisfied, S::Accepted),
            (S::Closed, A::RequestReview, Supervisor, f, S::InReview),
            (S::Closed, A::RequestReview, Citizen, f, S::InReview),
            (S::Rated, A::RequestReview, Supervisor, f, S::InReview),
            (S::Rated, A::RequestReview, Citizen, f, S::InReview),
            (
                S::Closed,
                A::RequestReview,
                Supervisor,
                one_review,
                S::InReview,
            ),
            (
                S::Closed,
                A::RequestReview,
                Citizen,
                one_review,
                S::InReview,
            ),
            (
                S::Rated,
                A::RequestReview,
                Supervisor,
                one_review,
                S::InReview,
            ),
            (S::Rated, A::RequestReview, Citizen, one_review, S::InReview),
            (S::InReview, A::DecideReview(true), Supervisor, f, S::Closed),
            (
                S::InReview,
                A::DecideReview(false),
                Supervisor,
                f,
                S::Accepted,
            ),
            (
                S::InReview,
                A::DecideReview(true),
                Supervisor,
                one_review,
                S::Closed,
            ),
            (
                S::InReview,
                A::DecideReview(true),
                Supervisor,
                one_review_rated,
                S::Rated,
            ),
            (
                S::InReview,
                A::DecideReview(true),
                Supervisor,
                two_reviews,
                S::Terminated,
            ),
            (
                S::InReview,
                A::DecideReview(false),
                Supervisor,
                one_review,
                S::Accepted,
            ),
            (
                S::InReview,
                A::DecideReview(false),
                Supervisor,
                one_review_rated,
                S::Accepted,
            ),
            (
                S::InReview,
                A::DecideReview(false),
                Supervisor,
                two_reviews,
                S::Accepted,
            ),
        ]
    }

    #[test]
    fn every_allowed_transition() {
        for (s, a, side, f, to) in allowed_table() {
            assert_eq!(next(s, a, &p(side), &f), Ok(to), "{s:?} {a:?} by {side:?}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_a_chinese_reason() {
        // Exhaustive over state × action × side under the plain facts: allowed exactly when listed.
        let f = open();
        let table = allowed_table();
        for s in State::ALL {
            for a in Action::ALL {
                for side in SIDES {
                    let listed = table
                        .iter()
                        .any(|t| t.0 == s && t.1 == a && t.2 == side && t.3 == f);
                    match next(s, a, &p(side), &f) {
                        Ok(_) => assert!(listed, "{s:?} {a:?} by {side:?} should be refused"),
                        Err(r) => {
                            assert!(!listed, "{s:?} {a:?} by {side:?} should be allowed");
                            assert!(r.0.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn actions_the_facts_enable_are_refused_in_every_other_state_and_to_everyone_else() {
        // For each (action, facts) of the table: exhaustive over state × side, allowed exactly
        // when listed with those facts.
        let table = allowed_table();
        for (_, a, _, f, _) in &table {
            for s in State::ALL {
                for side in SIDES {
                    let listed = table
                        .iter()
                        .any(|t| t.0 == s && t.1 == *a && t.2 == side && t.3 == *f);
                    let ok = next(s, *a, &p(side), f).is_ok();
                    assert_eq!(ok, listed, "{s:?} {a:?} by {side:?} under {f:?}");
                }
            }
        }
    }

    #[test]
    fn refusals_that_depend_on_the_facts() {
        let f = open();
        let late = Facts {
            within_accept: false,
            ..f
        };
        assert_eq!(
            next(S::Assigned, A::Return, &p(LeadHandler), &late),
            Err(Refusal("已超过退回期限（交办后 5 个工作日内），不能退回"))
        );
        // Signing late is still possible: it only counts against the 响应率.
        assert_eq!(
            next(S::Assigned, A::Accept, &p(LeadHandler), &late),
            Ok(S::Accepted)
        );
        let asked = Facts {
            extension_requested: true,
            ..f
        };
        assert_eq!(
            next(S::Accepted, A::RequestExtension, &p(LeadHandler), &asked),
            Err(Refusal("每件只能申请延期一次"))
        );
        assert!(
            next(S::Accepted, A::ApproveExtension, &p(Supervisor), &asked).is_err(),
            "nothing pending"
        );
        let submitter = Party {
            side: Supervisor,
            is_submitter: true,
        };
        assert_eq!(
            next(S::ClosureSubmitted, A::Approve, &submitter, &f),
            Err(Refusal("办结须由申请人以外的另一人审核（双签字）"))
        );
        assert!(next(S::ClosureSubmitted, A::Reject, &submitter, &f).is_err());
        let satisfied = Facts { rated: true, ..f };
        assert!(next(S::Rated, A::Reopen, &p(Supervisor), &satisfied).is_err());
        let unanswered = Facts {
            opinion_issued: false,
            ..f
        };
        assert_eq!(
            next(S::Accepted, A::Submit, &p(LeadHandler), &unanswered),
            Err(Refusal("申请办结前须先印发处理意见书（答复意见书）"))
        );
        let too_late = Facts {
            within_review: false,
            ..f
        };
        assert!(next(S::Closed, A::RequestReview, &p(Supervisor), &too_late).is_err());
        let both = Facts { reviews: 2, ..f };
        assert!(next(S::Rated, A::RequestReview, &p(Citizen), &both).is_err());
        let unanswered = Facts {
            review_basis_issued: false,
            ..f
        };
        assert!(next(S::Closed, A::RequestReview, &p(Citizen), &unanswered).is_err());
        let below = Facts {
            decides_review: false,
            ..f
        };
        assert_eq!(
            next(S::InReview, A::DecideReview(true), &p(Supervisor), &below),
            Err(Refusal(
                "只有复查（复核）机关所在辖区的督查人员可以作出结论"
            ))
        );
        let unwritten = Facts {
            review_opinion_issued: false,
            reviews: 1,
            ..f
        };
        assert_eq!(
            next(
                S::InReview,
                A::DecideReview(false),
                &p(Supervisor),
                &unwritten
            ),
            Err(Refusal("请先印发复查意见书"))
        );
        let unwritten = Facts {
            reviews: 2,
            ..unwritten
        };
        assert_eq!(
            next(
                S::InReview,
                A::DecideReview(true),
                &p(Supervisor),
                &unwritten
            ),
            Err(Refusal("请先印发复核意见书"))
        );
    }

    #[test]
    fn allowed_lists_the_forms_to_show() {
        assert_eq!(
            allowed(S::Assigned, &p(LeadHandler), &open()),
            vec![A::Accept, A::Return]
        );
        assert_eq!(allowed(S::Assigned, &p(CoHandler), &open()), vec![]);
        assert_eq!(
            allowed(S::Accepted, &p(CoHandler), &open()),
            vec![A::Progress]
        );
        assert_eq!(
            allowed(S::ClosureSubmitted, &p(OwnerLeader), &open()),
            vec![A::Approve, A::Reject]
        );
    }

    #[test]
    fn states_round_trip_and_open_ones_are_known() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        let running: Vec<&str> = State::ALL
            .into_iter()
            .filter(|s| s.deadline_runs())
            .map(State::as_str)
            .collect();
        assert_eq!(running, RUNNING);
        assert!(State::InReview.is_open() && !State::Rated.is_open());
    }
}
