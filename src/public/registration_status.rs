//! A registration's status as its citizen sees it (the `/lookup` page, the API's lookup, the
//! rating form): the proof (登记编号 + 手机号码后四位), the rate limit, and the status
//! page with the cases that came of it.

use crate::clock::china_minute;
use crate::error::AppError;
use crate::followup::case_view::{self, CaseView};
use crate::followup::state::State as CaseState;
use crate::prepare::booking;
use crate::prepare::lifecycle::{RegistrationStatus as Status, citizen_status_label};
use crate::prepare::registration;
use crate::state::AppState;
use crate::web::form::Errors;
use crate::web::page::Layout;
use crate::web::{Ctx, rate_limit};
use askama::Template;
use serde::Deserialize;

/// A refused rating or 复查 form, shown again under its case.
#[derive(Default)]
pub struct Draft {
    pub case_code: String,
    pub rating: String,
    pub comment: String,
    pub reasons: String,
    pub reviewer: String,
    pub errors: Errors,
}

/// The proof a citizen gives: code + the last 4 digits of the phone they registered with.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LookupForm {
    pub code: String,
    pub phone_last4: String,
}

/// What a lookup proves: a registration (and the cases that came of it), or one case with no
/// registration of the citizen's behind it (a survey item's, by its reporter's phone).
#[derive(Clone, Copy, Debug)]
pub enum Proven {
    Registration(i64),
    Case(i64),
}

impl Proven {
    /// The cases the citizen may follow, as they read them.
    pub async fn cases(self, state: &AppState) -> sqlx::Result<Vec<CaseView>> {
        match self {
            Proven::Registration(id) => case_view::for_citizen(&state.db, &state.keys, id).await,
            Proven::Case(id) => case_view::one_for_citizen(&state.db, &state.keys, id).await,
        }
    }

    /// The ids of those cases.
    pub async fn case_ids(self, state: &AppState) -> sqlx::Result<Vec<i64>> {
        Ok(self.cases(state).await?.iter().map(|c| c.id).collect())
    }

    /// Their case with `code`, if one is.
    pub async fn case_by_code(self, state: &AppState, code: &str) -> sqlx::Result<Option<i64>> {
        Ok(self
            .cases(state)
            .await?
            .into_iter()
            .find(|c| c.code == code)
            .map(|c| c.id))
    }
}

#[derive(Template)]
#[template(path = "public/status.html")]
pub struct StatusPage {
    pub(crate) layout: Layout,
    /// The proof's code: the registration's, or the case's 查询码 when that is the proof.
    pub(crate) code: String,
    /// A registration is shown (its visit, window, room…); false for a case proven alone.
    pub(crate) registered: bool,
    pub(crate) phone_last4: String,
    pub(crate) status: &'static str,
    /// What to do next, from the state (`next_step`).
    pub(crate) next_step: &'static str,
    pub(crate) reject_reason: String,
    pub(crate) visit_title: String,
    pub(crate) visit_date: String,
    pub(crate) venue: String,
    pub(crate) window: String,
    pub(crate) waitlist_position: Option<i64>,
    pub(crate) room: String,
    pub(crate) queue_number: Option<i32>,
    pub(crate) expected_at: String,
    pub(crate) cancellable: bool,
    pub(crate) cases: Vec<CaseLine>,
}

/// A case as its citizen sees it: the public parts only.
pub(crate) struct CaseLine {
    pub(crate) code: String,
    pub(crate) query_code: String,
    /// The steps the citizen follows: (date, what).
    pub(crate) timeline: Vec<(String, &'static str)>,
    /// The documents addressed to them, issued.
    pub(crate) documents: Vec<crate::followup::documents::read::Line>,
    pub(crate) title: String,
    pub(crate) status: &'static str,
    pub(crate) due: String,
    pub(crate) result: &'static str,
    pub(crate) reply: String,
    pub(crate) rating: &'static str,
    pub(crate) can_rate: bool,
    pub(crate) dissatisfied: bool,
    /// The rating form as typed and its errors, when this case's form was refused.
    pub(crate) draft: Draft,
    /// The 复查/复核 request form, once the document it is against is issued.
    pub(crate) review: Option<crate::followup::reviews::store::Offer>,
}

/// What the status page tells the citizen to do next: a pure function of the registration's
/// status, its cases' states and whether its day is past. Only a registration still expecting
/// its day asks for the ID card and the check-in.
pub fn next_step(status: Status, cases: &[CaseState], day_past: bool) -> &'static str {
    use CaseState as C;
    const ON_THE_DAY: &str =
        "接访当天请携带身份证原件和相关材料，在所选时段开始前到达接访地点，凭登记编号签到。";
    match status {
        Status::Submitted | Status::Confirmed | Status::Scheduled if day_past => {
            "接访日已过，本次登记已结束。如仍需反映诉求，可以重新登记。"
        }
        Status::Submitted => {
            "登记已提交，工作人员审核后会短信通知您。审核通过后，接访当天请携带身份证原件和相关材料，凭登记编号签到。"
        }
        Status::Confirmed => ON_THE_DAY,
        Status::Scheduled => {
            "已为您排定接待室和排号。接访当天请携带身份证原件和相关材料，在预计接谈时间前到达，凭登记编号签到。"
        }
        Status::Waitlisted => {
            "您在候补名单中。有人取消登记时按顺序递补，递补成功后会短信通知您；收到通知前请不要前往现场。"
        }
        Status::Rejected => {
            "您的登记未予受理，原因见上。本次无需前往现场；如有疑问，请联系县信访局。"
        }
        Status::Cancelled => "该登记已取消，无需前往现场。如仍需反映诉求，可以重新登记。",
        Status::NoShow => "您未在接访当天到场，本次登记已结束。如仍需反映诉求，可以重新登记。",
        Status::CheckedIn => "您已签到，请在候谈区等候叫号。",
        Status::Called => "已叫到您的号，请到接待室接谈。",
        Status::Received if cases.contains(&C::Closed) => {
            "您的诉求已办结，请查看下方的答复意见，并对办理结果评价。"
        }
        Status::Received
            if cases.iter().any(|c| {
                matches!(
                    c,
                    C::Assigned | C::Accepted | C::Returned | C::ClosureSubmitted
                )
            }) =>
        {
            "接谈已完成，您的诉求已交办责任单位限期办理，办理进展见下方。"
        }
        Status::Received if cases.contains(&C::InReview) => "您申请的复查正在办理，结果会告知您。",
        Status::Received if cases.contains(&C::NotAccepted) => {
            "您反映的事项不予受理，理由和应当通过的途径见下方的不予受理告知书。"
        }
        Status::Received if cases.is_empty() => "接谈已完成。如对答复有疑问，请联系县信访局。",
        Status::Received => "您的诉求已办结，感谢您的评价。",
    }
}

/// What this proof opens, if anything: a registration by its code, or by the 查询码 of one of its
/// cases; else a survey item's case by its 查询码 and the reporter's phone.
pub async fn find(state: &AppState, f: &LookupForm) -> Result<Option<Proven>, AppError> {
    if let Some(id) = booking::find_by_code_and_phone(&state.db, &f.code, &f.phone_last4).await? {
        return Ok(Some(Proven::Registration(id)));
    }
    let (db, code, last4) = (&state.db, &f.code, &f.phone_last4);
    if let Some(id) = case_view::registration_by_query_code(db, code, last4).await? {
        return Ok(Some(Proven::Registration(id)));
    }
    Ok(case_view::survey_case_by_query_code(db, code, last4)
        .await?
        .map(Proven::Case))
}

/// A form on one case of the status page (rating, 复查): the proof it carries again, the
/// registration it opens and the case `case_code` of that registration; NotFound otherwise.
pub async fn proven_case(
    state: &AppState,
    code: &str,
    phone_last4: &str,
    case_code: &str,
) -> Result<(LookupForm, Proven, i64), AppError> {
    let proof = LookupForm {
        code: code.to_owned(),
        phone_last4: phone_last4.to_owned(),
    };
    let proven = find(state, &proof).await?.ok_or(AppError::NotFound)?;
    let case_id = proven.case_by_code(state, case_code).await?;
    Ok((proof, proven, case_id.ok_or(AppError::NotFound)?))
}

pub async fn limited(state: &AppState, ctx: &Ctx) -> Result<(), axum::response::Response> {
    rate_limit::hit(
        &state.db,
        &format!("lookup:{}", ctx.ip),
        state.config.lookup_per_minute,
        state.clock.now(),
    )
    .await
}

/// The status page of what the proof opened; `draft`: a refused rating form to show again.
pub async fn status_page(
    state: &AppState,
    ctx: &Ctx,
    proven: Proven,
    f: &LookupForm,
    draft: Option<Draft>,
) -> Result<StatusPage, AppError> {
    let views = proven.cases(state).await?;
    let id = match proven {
        Proven::Registration(id) => id,
        Proven::Case(_) => return case_page(state, ctx, views, f, draft).await,
    };
    let r = sqlx::query!(
        r#"SELECT r.code, r.status, r.reject_reason, r.queue_number, r.expected_at, r.notified_assignment, v.title, v.visit_date, v.venue, v.address,
                  w.starts_at AS "window_starts?", w.ends_at AS "window_ends?", rm.name AS "room?", rm.location AS "room_location?",
                  (SELECT count(*) FROM waitlist o WHERE o.window_id = wl.window_id AND o.promoted_at IS NULL
                      AND (o.created_at, o.id) <= (wl.created_at, wl.id)) AS waitlist_position
           FROM registrations r JOIN visits v ON v.id = r.visit_id
           LEFT JOIN reception_windows w ON w.id = r.window_id
           LEFT JOIN rooms rm ON rm.id = r.room_id
           LEFT JOIN waitlist wl ON wl.registration_id = r.id AND wl.promoted_at IS NULL
           WHERE r.id = $1"#,
        id
    )
    .fetch_one(&state.db)
    .await?;
    let case_states: Vec<CaseState> = views
        .iter()
        .filter_map(|c| CaseState::parse(&c.status))
        .collect();
    let cases = case_lines(state, views, draft).await?;
    let today = crate::clock::china_date(state.clock.now());
    let window = match (r.window_starts, r.window_ends) {
        (Some(s), Some(e)) => registration::window_label(s, e),
        _ => String::new(),
    };
    // The assignment is the citizen's once it was published to them (发布排接) or they checked in.
    let status = Status::parse(&r.status);
    let shown = r.notified_assignment.is_some()
        || matches!(
            status,
            Some(Status::CheckedIn | Status::Called | Status::Received)
        );
    let room = match (r.room.filter(|_| shown), r.room_location) {
        (Some(name), Some(loc)) if !loc.is_empty() => format!("{name}（{loc}）"),
        (Some(name), _) => name,
        _ => String::new(),
    };
    Ok(StatusPage {
        layout: ctx.layout("登记状态"),
        code: r.code,
        registered: true,
        phone_last4: f.phone_last4.trim().to_owned(),
        status: citizen_status_label(&r.status),
        next_step: status.map_or("", |s| next_step(s, &case_states, r.visit_date < today)),
        reject_reason: r.reject_reason.unwrap_or_default(),
        visit_title: r.title,
        visit_date: crate::clock::cn_date(r.visit_date),
        venue: if r.address.is_empty() {
            r.venue
        } else {
            format!("{}（{}）", r.venue, r.address)
        },
        window,
        waitlist_position: if status == Some(Status::Waitlisted) {
            r.waitlist_position
        } else {
            None
        },
        room,
        queue_number: r.queue_number.filter(|_| shown),
        expected_at: r
            .expected_at
            .filter(|_| shown)
            .map(china_minute)
            .unwrap_or_default(),
        cancellable: status.is_some_and(Status::cancellable) && r.visit_date > today,
        cases,
    })
}

/// The page of a case proven alone: its lines only, nothing of a registration.
async fn case_page(
    state: &AppState,
    ctx: &Ctx,
    views: Vec<CaseView>,
    f: &LookupForm,
    draft: Option<Draft>,
) -> Result<StatusPage, AppError> {
    let code = views
        .first()
        .map(|c| c.query_code.clone())
        .unwrap_or_default();
    Ok(StatusPage {
        layout: ctx.layout("办理进展"),
        code,
        registered: false,
        phone_last4: f.phone_last4.trim().to_owned(),
        status: "",
        next_step: "",
        reject_reason: String::new(),
        visit_title: String::new(),
        visit_date: String::new(),
        venue: String::new(),
        window: String::new(),
        waitlist_position: None,
        room: String::new(),
        queue_number: None,
        expected_at: String::new(),
        cancellable: false,
        cases: case_lines(state, views, draft).await?,
    })
}

/// The citizen's lines of cases `views`, each with its timeline and its issued documents.
async fn case_lines(
    state: &AppState,
    views: Vec<CaseView>,
    mut draft: Option<Draft>,
) -> Result<Vec<CaseLine>, AppError> {
    let ids: Vec<i64> = views.iter().map(|c| c.id).collect();
    let mut documents = crate::followup::documents::read::for_citizen(&state.db, &ids).await?;
    let mut cases = Vec::new();
    let (today, rules) = (
        crate::clock::china_date(state.clock.now()),
        &state.config.case_rules,
    );
    for c in views {
        let review = crate::followup::reviews::store::offer(&state.db, c.id, today, rules).await?;
        let timeline = crate::followup::case_view::citizen_timeline(&state.db, c.id)
            .await?
            .into_iter()
            .map(|(on, what)| (crate::clock::cn_date(on), what))
            .collect();
        let (mine, others) = documents.into_iter().partition(|(case, _)| *case == c.id);
        documents = others;
        cases.push(CaseLine {
            due: c
                .effective_due_on
                .map(crate::clock::cn_date)
                .unwrap_or_default(),
            result: c.public_result(),
            reply: c.public_reply(),
            rating: c.rating_label(),
            can_rate: c.can_rate(),
            dissatisfied: c.dissatisfied(),
            status: c.status_label(),
            draft: draft.take_if(|d| d.case_code == c.code).unwrap_or_default(),
            timeline,
            review,
            documents: mine.into_iter().map(|(_, line)| line).collect(),
            query_code: c.query_code,
            code: c.code,
            title: c.title,
        });
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaseState as C;

    const ID_CARD: &str = "身份证";

    /// Every registration status, with no case yet and the day still ahead.
    #[test]
    fn every_status_has_its_own_next_step_and_only_a_coming_day_asks_for_the_id_card() {
        let expected = [
            (Status::Submitted, "审核后会短信通知", true),
            (Status::Confirmed, "凭登记编号签到", true),
            (Status::Scheduled, "预计接谈时间前到达", true),
            (Status::Waitlisted, "请不要前往现场", false),
            (Status::Rejected, "未予受理", false),
            (Status::Cancelled, "已取消", false),
            (Status::NoShow, "未在接访当天到场", false),
            (Status::CheckedIn, "等候叫号", false),
            (Status::Called, "请到接待室接谈", false),
            (Status::Received, "接谈已完成", false),
        ];
        assert_eq!(expected.len(), Status::ALL.len(), "every status is covered");
        for (status, says, asks_for_id) in expected {
            let text = next_step(status, &[], false);
            assert!(text.contains(says), "{status}: {text}");
            assert_eq!(text.contains(ID_CARD), asks_for_id, "{status}: {text}");
            assert_eq!(
                text.contains("凭登记编号签到"),
                asks_for_id,
                "{status}: {text}"
            );
        }
    }

    #[test]
    fn a_day_gone_by_ends_a_registration_that_still_waited_for_it() {
        for status in [Status::Submitted, Status::Confirmed, Status::Scheduled] {
            let text = next_step(status, &[], true);
            assert!(text.contains("接访日已过"), "{status}: {text}");
            assert!(!text.contains(ID_CARD), "{status}: {text}");
        }
        assert!(next_step(Status::Received, &[], true).contains("接谈已完成"));
    }

    /// After the reception the cases say what comes next: in progress, to rate, in review, done.
    #[test]
    fn after_the_reception_the_cases_decide_the_next_step() {
        let cases = [
            (&[C::Assigned][..], "交办责任单位"),
            (&[C::Accepted][..], "交办责任单位"),
            (&[C::Returned][..], "交办责任单位"),
            (&[C::ClosureSubmitted][..], "交办责任单位"),
            (&[C::Closed][..], "对办理结果评价"),
            (&[C::Accepted, C::Closed][..], "对办理结果评价"),
            (&[C::InReview][..], "复查"),
            (&[C::Rated][..], "感谢您的评价"),
            (&[C::Terminated][..], "感谢您的评价"),
            (&[C::NotAccepted][..], "不予受理告知书"),
            (&[C::Rated, C::Accepted][..], "交办责任单位"),
        ];
        for state in C::ALL {
            assert!(
                cases.iter().any(|(c, _)| c.contains(&state)),
                "{state:?} is covered"
            );
        }
        for (states, says) in cases {
            let text = next_step(Status::Received, states, false);
            assert!(text.contains(says), "{states:?}: {text}");
            assert!(!text.contains(ID_CARD), "{states:?}: {text}");
        }
    }
}
