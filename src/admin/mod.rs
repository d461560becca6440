//! Administration (sysadmin) and the audit log (auditor): the domain modules (accounts, reference
//! data, the audit search) and, in `pages`, the pages that call them. Also the category select that
//! the prepare and consult stages offer.

pub mod accounts;
pub mod audit_search;
pub mod pages;
pub mod reference;
pub mod resets;
pub mod scope;
pub mod second_factor;

use crate::web::form::Choice;

/// Second-level categories under their statutory class, for a select.
pub struct CategoryGroup {
    pub label: String,
    pub options: Vec<Choice>,
}

/// The active second-level categories grouped by class, plus `keep` (ids already chosen, marked
/// 已停用 when deactivated since) so that saving an edit never silently drops them.
pub async fn category_groups(
    db: impl sqlx::PgExecutor<'_>,
    keep: &[i64],
) -> sqlx::Result<Vec<CategoryGroup>> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.name, p.name AS parent, (c.active AND p.active) AS "active!"
           FROM categories c JOIN categories p ON p.id = c.parent_id
           WHERE (c.active AND p.active) OR c.id = ANY($1)
           ORDER BY p.sort_order, p.name, c.sort_order, c.name"#,
        keep
    )
    .fetch_all(db)
    .await?;
    let mut groups: Vec<CategoryGroup> = Vec::new();
    for r in rows {
        let label = if r.active {
            r.name
        } else {
            format!("{}（已停用）", r.name)
        };
        match groups.last_mut() {
            Some(g) if g.label == r.parent => g.options.push(Choice { id: r.id, label }),
            _ => groups.push(CategoryGroup {
                label: r.parent,
                options: vec![Choice { id: r.id, label }],
            }),
        }
    }
    Ok(groups)
}
