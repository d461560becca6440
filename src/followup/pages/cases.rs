//! `/cases/{id}`: the case file and the forms of its transitions (DESIGN §4, §5). A form is
//! checked here into `transitions::Input`; `transitions::apply` does the rest in one transaction.

use crate::clock::{china_date, cn_date};
use crate::error::AppError;
use crate::followup::CaseRules;
use crate::followup::case_file::{self, Citizen, Deadline, Dossier, EventLine};
use crate::followup::case_row;
use crate::followup::documents::rules::writing_due;
use crate::followup::labels::{RESULTS, rating_label, result_label, slug};
use crate::followup::state::{self, Action, Party};
use crate::followup::transitions::{self, By, CaseError, Input, Request};
use crate::followup::workdays::Calendar;
use crate::state::AppState;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

/// Every field of every action form; each action reads its own (names are unique on the page).
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct ActionForm {
    pub version: String,
    pub return_reason: String,
    pub progress_text: String,
    pub extension_days: String,
    pub extension_reason: String,
    pub decision_note: String,
    pub result: String,
    pub reply: String,
    pub reject_reason: String,
    pub reopen_reason: String,
    pub review_text: String,
    pub decision: String,
    pub department_id: String,
    pub reviewer: String,
    pub hearing_from: String,
    pub hearing_to: String,
    /// 督办意见 (the supervisor's 督办 form).
    pub urge_text: String,
    /// `case` when a form was sent from this page and its answer returns here.
    pub from: String,
}

/// The text field an action reads: (field, label, min and max length); none for 重新交办.
fn text_field(action: Action) -> Option<(&'static str, &'static str, usize, usize)> {
    Some(match action {
        Action::Return => ("return_reason", "退回理由", 1, 1000),
        Action::Progress => ("progress_text", "办理进展", 1, 2000),
        Action::RequestExtension => ("extension_reason", "延期理由", 1, 1000),
        Action::Submit => ("reply", "答复意见", 1, 5000),
        Action::Reject => ("reject_reason", "退回重办理由", 1, 1000),
        Action::Reopen => ("reopen_reason", "重办理由", 1, 1000),
        Action::RequestReview => ("review_text", "复查请求", 1, 2000),
        Action::Reassign => return None,
        _ => ("decision_note", "说明", 0, 2000),
    })
}

impl ActionForm {
    fn text_of(&self, field: &str) -> &str {
        match field {
            "return_reason" => &self.return_reason,
            "progress_text" => &self.progress_text,
            "extension_reason" => &self.extension_reason,
            "reply" => &self.reply,
            "reject_reason" => &self.reject_reason,
            "reopen_reason" => &self.reopen_reason,
            "review_text" => &self.review_text,
            _ => &self.decision_note,
        }
    }
}

/// The form's fields for `action`, checked into the domain's input; problems go to `errors`.
fn validate(action: Action, f: &ActionForm, rules: &CaseRules, errors: &mut Errors) -> Input {
    let mut i = Input::default();
    if let Some((field, label, min, max)) = text_field(action) {
        i.text = text(errors, field, label, f.text_of(field), min, max);
    }
    match action {
        Action::RequestExtension => match f.extension_days.trim().parse::<i32>() {
            Ok(d) if (1..=rules.max_extension_d).contains(&d) => i.days = d,
            _ => errors.add(
                "extension_days",
                format!("延期天数须为 1–{} 天", rules.max_extension_d),
            ),
        },
        Action::Submit => {
            if RESULTS.iter().all(|(v, _)| *v != f.result) {
                errors.add("result", "请选择办理结果");
            }
            i.result = f.result.clone();
        }
        Action::DecideReview(_) => match f.decision.as_str() {
            "upheld" => i.upheld = true,
            "overturned" => i.upheld = false,
            _ => errors.add("decision", "请选择复查结论"),
        },
        Action::RequestReview if f.reviewer.trim().is_empty() => {
            errors.add("reviewer", "请选择复查（复核）机关");
        }
        Action::RequestReview => i.reviewer = f.reviewer.clone(),
        Action::Reassign => match crate::web::form::opt_id(&f.department_id) {
            Some(d) => i.department_id = d,
            None => errors.add("department_id", "请选择新的主办单位"),
        },
        _ => {}
    }
    i
}

/// The form as the domain's request (the 复查 decision read into the action), and its errors.
fn request(action: Action, f: &ActionForm, rules: &CaseRules) -> (Request, Errors) {
    let action = match action {
        Action::DecideReview(_) => Action::DecideReview(f.decision == "upheld"),
        a => a,
    };
    let mut errors = Errors::default();
    let input = validate(action, f, rules, &mut errors);
    // No version in the form compares unequal to every version: 409.
    let version = Some(f.version.trim().parse::<i32>().unwrap_or(i32::MIN));
    (
        Request {
            action,
            version,
            input,
        },
        errors,
    )
}

/// One transition over HTTP: check the form, apply, redirect; or the case file again with why not.
async fn act(state: &AppState, ctx: &Ctx, id: i64, action: Action, f: ActionForm) -> Page {
    let user = ctx.user.clone().ok_or(AppError::Forbidden)?;
    let (now, rules) = (state.clock.now(), &state.config.case_rules);
    let (req, errors) = request(action, &f, rules);
    let actor = ctx.actor();
    let by = By {
        user: &user,
        actor: &actor,
        keys: &state.keys,
    };
    let mut tx = state.db.begin().await?;
    let done = if errors.is_empty() {
        let applied = transitions::apply(&mut tx, id, &req, &by, now, rules).await;
        applied.map(Some)
    } else {
        // The rules speak first: a refused action is said so, whatever its fields.
        let (action, version) = (req.action, req.version);
        let checked = transitions::check(&mut tx, id, action, version, &user, now, rules).await;
        checked.map(|_| None)
    };
    let errors = match done {
        Ok(Some(outcome)) => {
            tx.commit().await?;
            let to = format!("/cases/{id}");
            return Ok(redirect_with_flash(state, &to, &outcome.message));
        }
        Ok(None) => errors,
        Err(e) => refusal(e)?,
    };
    drop(tx);
    refused(state, ctx, id, f, errors, slug(req.action)).await
}

/// The case file again with what was typed and why not beside the fields of `failed`'s form (422).
pub(super) async fn refused(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    form: ActionForm,
    errors: Errors,
    failed: &'static str,
) -> Page {
    let page = case_page(state, ctx, id, form, errors, failed).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// A refusal or a field the database refused, as the form's errors; anything else is an error.
fn refusal(e: CaseError) -> Result<Errors, AppError> {
    let mut errors = Errors::default();
    match e {
        CaseError::Refused(why) => errors.add("action", why),
        CaseError::Field(field, why) => errors.add(field, why),
        CaseError::App(e) => return Err(e),
    }
    Ok(errors)
}

macro_rules! action_handlers {
    ($($name:ident => $action:expr),* $(,)?) => {$(
        pub async fn $name(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>, Form(f): Form<ActionForm>) -> Page {
            act(&state, &ctx, id, $action, f).await
        }
    )*};
}

action_handlers! {
    accept => Action::Accept,
    return_case => Action::Return,
    reassign => Action::Reassign,
    progress => Action::Progress,
    extend => Action::RequestExtension,
    approve_extension => Action::ApproveExtension,
    refuse_extension => Action::RefuseExtension,
    submit => Action::Submit,
    approve => Action::Approve,
    reject => Action::Reject,
    reopen => Action::Reopen,
    review => Action::RequestReview,
    decide_review_handler => Action::DecideReview(true),
}

// ---------------------------------------------------------------------------------------------
// The case file page
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "followup/case.html")]
pub(super) struct CasePage {
    layout: Layout,
    id: i64,
    code: String,
    title: String,
    status: &'static str,
    category: String,
    visit: String,
    lead_department: String,
    co_departments: String,
    owner_leader: String,
    deadline_days: i32,
    deadlines: Vec<Deadline>,
    citizen: Option<Citizen>,
    dossier: Option<Dossier>,
    issue_summary: String,
    result: &'static str,
    reply: String,
    rating: &'static str,
    rating_comment: String,
    events: Vec<EventLine>,
    actions: Vec<&'static str>,
    version: i32,
    form: ActionForm,
    errors: Errors,
    failed: &'static str,
    departments: Vec<crate::web::form::Choice>,
    results: [(&'static str, &'static str); 4],
    max_extension_d: i32,
    query_code: String,
    documents: Vec<crate::followup::documents::read::Line>,
    draftable: Vec<(&'static str, &'static str)>,
    /// What the lead department still owes in writing (None for everyone else).
    writing_due: Option<&'static str>,
    attachments: super::attachments::Section,
    /// The bodies a 复查/复核 request may be addressed to (when the form is shown).
    reviewers: Vec<crate::followup::reviews::Body>,
    open_review: Option<crate::followup::reviews::store::OpenReview>,
    can_hearing: bool,
    /// A supervisor may 督办 while the deadline runs.
    can_urge: bool,
}

impl CasePage {
    fn can(&self, s: &str) -> bool {
        self.actions.contains(&s)
    }
    fn err(&self, action: &str, field: &str) -> &str {
        if self.failed == action {
            self.errors.get(field)
        } else {
            ""
        }
    }
}

pub(super) async fn case_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    form: ActionForm,
    errors: Errors,
    failed: &'static str,
) -> Result<CasePage, AppError> {
    let user = ctx.user.clone().ok_or(AppError::Forbidden)?;
    let row = case_row::load(&state.db, id, user.jurisdiction_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let side = row.side_of(&user).ok_or(AppError::NotFound)?;
    let (now, rules) = (state.clock.now(), &state.config.case_rules);
    let today = china_date(now);
    let c = case_file::details(&state.db, &state.keys, id).await?;
    let (citizen, issue_summary) = match case_file::citizen(&state.db, &state.keys, id).await? {
        Some((citizen, summary)) => (Some(citizen), summary),
        None => (None, String::new()),
    };
    let calendar = Calendar::load(&state.db, today.min(china_date(c.assigned_at))).await?;
    let deadlines = case_file::deadlines(&calendar, today, row.state(), &c, rules);
    let party = Party {
        side,
        is_submitter: row.closure_submitted_by == Some(user.id),
    };
    let facts = row.facts_as(&user, today, rules);
    let actions: Vec<&str> = state::allowed(row.state(), &party, &facts)
        .into_iter()
        .map(slug)
        .collect();
    let reviewers = if actions.contains(&"review") {
        let mut conn = state.db.acquire().await?;
        crate::followup::reviews::store::reviewers_after(&mut conn, id, row.reviews).await?
    } else {
        Vec::new()
    };
    let open_review = crate::followup::reviews::store::open(&state.db, id).await?;
    let can_hearing = open_review.as_ref().is_some_and(|o| o.word == "复核")
        && crate::followup::reviews::rules::may_record_hearing(
            row.state(),
            side,
            Some("re_review"),
            facts.decides_review,
        )
        .is_ok();
    // Reassignment offers the host's line (`seats_at_visit`), never a sibling county's.
    let departments = sqlx::query_as!(
        crate::web::form::Choice,
        "SELECT d.id, d.name AS label FROM departments d
         WHERE d.active AND seats_at_visit(d.jurisdiction_id, (SELECT visit_id FROM cases WHERE id = $1))
         ORDER BY d.name",
        id
    )
    .fetch_all(&state.db)
    .await?;
    Ok(CasePage {
        layout: ctx.layout(&format!("交办件 {}", row.code)),
        id,
        code: row.code.clone(),
        title: c.title,
        status: row.state().label(),
        category: c.category,
        visit: format!("{}（{}）", c.visit_title, cn_date(c.visit_date)),
        lead_department: c.lead_department,
        co_departments: c.co,
        owner_leader: c.owner,
        deadline_days: row.deadline_days,
        deadlines,
        citizen,
        dossier: case_file::dossier(&state.db, &state.keys, id).await?,
        issue_summary,
        result: c.result.as_deref().map(result_label).unwrap_or(""),
        reply: c.reply.unwrap_or_default(),
        rating: c.rating.as_deref().map(rating_label).unwrap_or(""),
        rating_comment: c.rating_comment.unwrap_or_default(),
        events: case_file::events(&state.db, &state.keys, id).await?,
        actions,
        version: row.version,
        form,
        errors,
        failed,
        departments,
        results: RESULTS,
        max_extension_d: rules.max_extension_d,
        query_code: row.query_code.clone(),
        documents: crate::followup::documents::read::list(&state.db, id).await?,
        draftable: super::documents::draftable(side),
        writing_due: (side == state::Side::LeadHandler)
            .then(|| writing_due(row.state(), row.document_facts(), row.opinion_issued))
            .flatten(),
        attachments: super::attachments::section(state, id, None, side).await?,
        reviewers,
        open_review,
        can_hearing,
        can_urge: side == state::Side::Supervisor && row.state().deadline_runs(),
    })
}

/// The case file again with why an upload was refused beside its field (422).
pub(super) async fn refused_upload(state: &AppState, ctx: &Ctx, id: i64, why: &str) -> Page {
    let mut errors = Errors::default();
    errors.add("file", why);
    refused(state, ctx, id, ActionForm::default(), errors, "attach").await
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(
        &case_page(
            &state,
            &ctx,
            id,
            ActionForm::default(),
            Errors::default(),
            "",
        )
        .await?,
    )
}
