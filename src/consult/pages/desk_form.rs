//! The record form of the desk (`templates/consult/_record_form.html`), for a new reception and
//! for its correction: blocks as typed or as defaults, the selects' choices, and the error
//! summary that links each error to its field.

use crate::admin::{CategoryGroup, category_groups};
use crate::consult::correction::{KeptIssue, Saved};
use crate::consult::pages::reception_form::{
    BLOCKS_SHOWN, Invalid, IssueInput, MAX_BLOCKS, OUTCOMES, RecordInput,
};
use crate::consult::reception::DeskRoom;
use crate::error::AppError;
use crate::web::form::{Choice, ErrorLink, Errors};
use sqlx::PgConnection;

/// One issue block of the record form.
pub(super) struct Block {
    pub(super) index: usize,
    pub(super) input: IssueInput,
    pub(super) errors: Errors,
}

impl Block {
    pub(super) fn name(&self, field: &str) -> String {
        format!("i{}_{field}", self.index)
    }
    pub(super) fn has_co(&self, id: &i64) -> bool {
        self.input.co.iter().any(|c| c.trim() == id.to_string())
    }
    /// The fields of `outcome` are shown: it is the block's chosen outcome.
    pub(super) fn shows(&self, outcome: &str) -> bool {
        self.input.outcome.trim() == outcome
    }
}

pub(super) struct RecordForm {
    pub(super) action: String,
    pub(super) submit: &'static str,
    pub(super) statement: String,
    pub(super) consultation: String,
    /// A correction's issues that became cases: shown, not edited.
    pub(super) kept: Vec<KeptIssue>,
    pub(super) blocks: Vec<Block>,
    pub(super) errors: Errors,
    pub(super) categories: Vec<CategoryGroup>,
    pub(super) departments: Vec<Choice>,
    pub(super) leaders: Vec<Choice>,
    pub(super) outcomes: Vec<(&'static str, &'static str)>,
}

impl RecordForm {
    /// Every error of the form, in the order of the page, each linked to its field.
    pub(super) fn summary(&self) -> Vec<ErrorLink> {
        let whole = self.errors.iter().map(|(field, message)| ErrorLink {
            target: match field {
                "issues" => "issue-0".into(),
                f => format!("f-{f}"),
            },
            text: message.into(),
        });
        let blocks = self.blocks.iter().flat_map(|b| {
            b.errors.iter().map(move |(field, message)| ErrorLink {
                target: format!("f-{}", b.name(field)),
                text: format!("诉求事项 {}：{message}", b.index + 1),
            })
        });
        whole.chain(blocks).collect()
    }
}

/// Where the form posts and what it keeps: a new reception, or the correction of a saved one.
pub(super) struct Purpose {
    pub(super) action: String,
    pub(super) submit: &'static str,
    pub(super) kept: Vec<KeptIssue>,
}

/// What the record form shows: typed input and errors, or the defaults for the batch.
pub(super) struct FormState {
    pub(super) input: RecordInput,
    pub(super) invalid: Invalid,
}

impl FormState {
    /// A saved reception as its correction starts: its texts and the issues without a case.
    pub(super) fn saved(s: &mut Saved, room: &DeskRoom) -> Self {
        let issues = s
            .editable
            .drain(..)
            .map(|i| IssueInput {
                category: i.category_id.to_string(),
                summary: i.summary,
                outcome: i.outcome,
                reason: i.reason,
                deadline: room.deadline_days.to_string(),
                ..IssueInput::default()
            })
            .collect();
        let input = RecordInput {
            statement: std::mem::take(&mut s.statement),
            consultation: std::mem::take(&mut s.consultation),
            issues,
            ..RecordInput::default()
        };
        Self {
            input,
            invalid: Invalid::default(),
        }
    }
}

/// The departments of the host's line (`seats_at_visit`), those at the table first.
async fn department_choices(conn: &mut PgConnection, room_id: i64) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        r#"SELECT d.id, d.name AS label FROM departments d
           WHERE d.active AND seats_at_visit(d.jurisdiction_id, (SELECT visit_id FROM rooms WHERE id = $1))
           ORDER BY EXISTS (SELECT 1 FROM room_departments rd WHERE rd.room_id = $1 AND rd.department_id = d.id) DESC, d.name"#,
        room_id
    )
    .fetch_all(conn)
    .await
}

/// The leaders of the host's line, those seated in the room first.
async fn leader_choices(conn: &mut PgConnection, room_id: i64) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        r#"SELECT l.id, l.name || '（' || l.title || '）' AS "label!" FROM leaders l
           WHERE l.active AND seats_at_visit(l.county_id, (SELECT visit_id FROM rooms WHERE id = $1))
           ORDER BY EXISTS (SELECT 1 FROM room_leaders rl WHERE rl.room_id = $1 AND rl.leader_id = l.id) DESC, l.name"#,
        room_id
    )
    .fetch_all(conn)
    .await
}

/// The room's first leader (stable order): the default 包案领导.
async fn first_room_leader(conn: &mut PgConnection, room_id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "SELECT leader_id FROM room_leaders WHERE room_id = $1 ORDER BY leader_id LIMIT 1",
        room_id
    )
    .fetch_optional(conn)
    .await
}

/// A block as a fresh form shows it: the batch's category in the first, the room's first leader,
/// the visit's 限期.
fn default_block(
    index: usize,
    category_id: Option<i64>,
    owner: Option<i64>,
    deadline_days: i32,
) -> IssueInput {
    IssueInput {
        category: match (index, category_id) {
            (0, Some(c)) => c.to_string(),
            _ => String::new(),
        },
        owner: owner.map(|o| o.to_string()).unwrap_or_default(),
        deadline: deadline_days.to_string(),
        ..IssueInput::default()
    }
}

pub(super) async fn record_form(
    conn: &mut PgConnection,
    room: &DeskRoom,
    category_id: Option<i64>,
    state: Option<FormState>,
    purpose: Purpose,
) -> Result<RecordForm, AppError> {
    let owner = first_room_leader(&mut *conn, room.id).await?;
    let (input, invalid) = match state {
        Some(s) => (s.input, s.invalid),
        None => (RecordInput::default(), Invalid::default()),
    };
    // A correction shows its saved issues and one blank block; a new record three blocks.
    let base = match purpose.kept.is_empty() && input.issues.is_empty() {
        true => BLOCKS_SHOWN,
        false => input.issues.len() + 1,
    };
    let shown = (input.issues.len().max(base) + usize::from(input.more)).min(MAX_BLOCKS);
    let mut typed = input.issues.into_iter();
    let mut block_errors = invalid.blocks.into_iter();
    let blocks = (0..shown)
        .map(|index| Block {
            index,
            input: typed
                .next()
                .map(|mut i| {
                    if i.owner.is_empty() {
                        i.owner = owner.map(|o| o.to_string()).unwrap_or_default();
                    }
                    i
                })
                .unwrap_or_else(|| default_block(index, category_id, owner, room.deadline_days)),
            errors: block_errors.next().unwrap_or_default(),
        })
        .collect();
    Ok(RecordForm {
        action: purpose.action,
        submit: purpose.submit,
        statement: input.statement,
        consultation: input.consultation,
        kept: purpose.kept,
        blocks,
        errors: invalid.errors,
        categories: category_groups(&mut *conn, &[]).await?,
        departments: department_choices(&mut *conn, room.id).await?,
        leaders: leader_choices(&mut *conn, room.id).await?,
        outcomes: OUTCOMES.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_summary_links_each_error_to_its_field_in_page_order() {
        let mut errors = Errors::default();
        errors.add("statement", "请填写接谈情况");
        let mut block = Errors::default();
        block.add("lead", "交办须选择承办单位");
        let form = RecordForm {
            action: String::new(),
            submit: "保存",
            statement: String::new(),
            consultation: String::new(),
            kept: Vec::new(),
            blocks: vec![
                Block {
                    index: 0,
                    input: IssueInput::default(),
                    errors: Errors::default(),
                },
                Block {
                    index: 1,
                    input: IssueInput::default(),
                    errors: block,
                },
            ],
            errors,
            categories: Vec::new(),
            departments: Vec::new(),
            leaders: Vec::new(),
            outcomes: Vec::new(),
        };
        let links: Vec<(String, String)> = form
            .summary()
            .into_iter()
            .map(|l| (l.target, l.text))
            .collect();
        assert_eq!(
            links,
            [
                ("f-statement".into(), "请填写接谈情况".into()),
                ("f-i1_lead".into(), "诉求事项 2：交办须选择承办单位".into()),
            ]
        );
    }
}
