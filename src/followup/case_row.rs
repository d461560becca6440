//! A case as the state machine sees it: the row, who the user is to it (`Side`), and the
//! `Facts` the rules need, computed from the row and the clock.

use crate::followup::CaseRules;
use crate::followup::documents::rules::CaseNow;
use crate::followup::reviews;
use crate::followup::state::{Facts, Side, State as CaseState};
use crate::web::auth::{CurrentUser, Role};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;

/// What the rules need to know about a case.
pub struct CaseRow {
    pub id: i64,
    pub code: String,
    pub query_code: String,
    pub status: String,
    pub lead_department_id: i64,
    pub co_department_ids: Vec<i64>,
    pub owner_leader_id: i64,
    pub deadline_days: i32,
    pub accept_due_on: NaiveDate,
    pub acceptance_notified_at: Option<DateTime<Utc>>,
    pub due_on: Option<NaiveDate>,
    pub extended_due_on: Option<NaiveDate>,
    pub closure_submitted_by: Option<i64>,
    pub closed_at: Option<DateTime<Utc>>,
    pub rating: Option<String>,
    pub version: i32,
    pub last_extension_event: Option<String>,
    pub pending_extension_days: Option<i32>,
    /// An issued 处理意见书 newer than the case's last 重办 or overturned review.
    pub opinion_issued: bool,
    pub reviews: i64,
    /// 送达 of the document a next 复查/复核 would be against (None: not served).
    pub review_served_on: Option<NaiveDate>,
    pub review_basis_issued: bool,
    /// The open review's body's jurisdiction (None: no open review, or one from before bodies).
    pub review_jurisdiction_id: Option<i64>,
    pub review_opinion_issued: bool,
    /// Its visit's host or organiser lies in the jurisdiction `load` was given (DESIGN §11).
    pub in_scope: bool,
}

/// The case `id`, with whether it lies within `jurisdiction`'s subtree (None: within nothing).
pub async fn load(
    db: impl PgExecutor<'_>,
    id: i64,
    jurisdiction: Option<i64>,
) -> sqlx::Result<Option<CaseRow>> {
    sqlx::query_as!(
        CaseRow,
        r#"SELECT c.id, c.code, c.query_code, c.status, c.lead_department_id, c.owner_leader_id, c.deadline_days, c.accept_due_on,
                  c.acceptance_notified_at, c.due_on, c.extended_due_on, c.closure_submitted_by, c.closed_at, c.rating, c.version,
                  ARRAY(SELECT department_id FROM case_departments WHERE case_id = c.id) AS "co_department_ids!",
                  (SELECT e.kind FROM case_events e WHERE e.case_id = c.id
                       AND e.kind IN ('extension_requested', 'extension_approved', 'extension_refused')
                   ORDER BY e.at DESC, e.id DESC LIMIT 1) AS last_extension_event,
                  (SELECT (e.data->>'days')::int FROM case_events e WHERE e.case_id = c.id AND e.kind = 'extension_requested'
                   ORDER BY e.id DESC LIMIT 1) AS pending_extension_days,
                  EXISTS (SELECT 1 FROM case_events o WHERE o.case_id = c.id AND o.kind = 'opinion_issued'
                            AND o.id > COALESCE((SELECT max(e.id) FROM case_events e WHERE e.case_id = c.id
                                AND (e.kind = 'reopened' OR (e.kind = 'review_decided' AND e.data->>'result' = 'overturned'))),
                              0)) AS "opinion_issued!",
                  (SELECT count(*) FROM reviews r WHERE r.case_id = c.id) AS "reviews!",
                  case_served_on(c.id, review_basis_kind(c.id)) AS review_served_on,
                  EXISTS (SELECT 1 FROM documents d WHERE d.case_id = c.id AND d.status = 'issued'
                          AND d.kind = review_basis_kind(c.id)) AS "review_basis_issued!",
                  (SELECT r.jurisdiction_id FROM reviews r WHERE r.case_id = c.id AND r.decided_at IS NULL) AS review_jurisdiction_id,
                  EXISTS (SELECT 1 FROM reviews r JOIN documents d ON d.case_id = r.case_id AND d.status = 'issued'
                              AND d.kind = r.kind || '_opinion' AND d.issued_at >= r.requested_at
                          WHERE r.case_id = c.id AND r.decided_at IS NULL) AS "review_opinion_issued!",
                  (v.county_id IN (SELECT jurisdiction_subtree($2)) OR v.organiser_id IN (SELECT jurisdiction_subtree($2)))
                      AS "in_scope!"
           FROM cases c JOIN visits v ON v.id = c.visit_id WHERE c.id = $1"#,
        id,
        jurisdiction
    )
    .fetch_optional(db)
    .await
}

impl CaseRow {
    pub fn state(&self) -> CaseState {
        CaseState::parse(&self.status).unwrap_or(CaseState::Accepted)
    }

    /// How the user stands to the case; None: they may not see it (→ 404). Staff and supervisors
    /// see their jurisdiction's cases (`in_scope`: the row was loaded for `user`); leaders their
    /// own, handlers their departments', whatever the level.
    pub fn side_of(&self, user: &CurrentUser) -> Option<Side> {
        match user.role {
            Role::Staff => self.in_scope.then_some(Side::Staff),
            Role::Supervisor => self.in_scope.then_some(Side::Supervisor),
            Role::Leader => {
                (user.leader_id == Some(self.owner_leader_id)).then_some(Side::OwnerLeader)
            }
            Role::Handler => match user.department_id {
                Some(d) if d == self.lead_department_id => Some(Side::LeadHandler),
                Some(d) if self.co_department_ids.contains(&d) => Some(Side::CoHandler),
                _ => None,
            },
            Role::Sysadmin | Role::Secadmin | Role::Auditor => None,
        }
    }

    /// What the documents' rules need: whether the acceptance decision was told, and whether an
    /// approved extension waits for its 延期告知书.
    pub fn document_facts(&self) -> CaseNow {
        CaseNow {
            decided: self.acceptance_notified_at.is_some(),
            extension_untold: self.last_extension_event.as_deref() == Some("extension_approved")
                && self.extended_due_on.is_none(),
        }
    }

    pub fn facts(&self, today: NaiveDate, rules: &CaseRules) -> Facts {
        Facts {
            within_accept: today <= self.accept_due_on,
            extension_requested: self.last_extension_event.is_some(),
            extension_pending: self.last_extension_event.as_deref() == Some("extension_requested"),
            opinion_issued: self.opinion_issued,
            dissatisfied: self.rating.as_deref() == Some("dissatisfied"),
            rated: self.rating.is_some(),
            reviews: self.reviews.clamp(0, 2) as u8,
            within_review: reviews::rules::within(self.review_served_on, today, rules.review_d),
            review_basis_issued: self.review_basis_issued,
            decides_review: false,
            review_opinion_issued: self.review_opinion_issued,
        }
    }

    /// The facts as `user` acts: whether they are of the open review's deciding jurisdiction
    /// (a review from before bodies were chosen: any supervisor who sees the case).
    pub fn facts_as(&self, user: &CurrentUser, today: NaiveDate, rules: &CaseRules) -> Facts {
        let decides = self
            .review_jurisdiction_id
            .is_none_or(|j| user.jurisdiction_id == Some(j));
        Facts {
            decides_review: decides,
            ..self.facts(today, rules)
        }
    }
}
