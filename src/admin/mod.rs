//! Administration (sysadmin) and the audit log (auditor).

pub mod audit;
pub mod calendar;
pub mod categories;
pub mod departments;
pub mod leaders;
pub mod users;

/// An `<option>` of a select: id and label.
pub struct Choice {
    pub id: i64,
    pub label: String,
}

/// Parse an optional id from a select ("" means none).
pub fn opt_id(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

/// The ids of a multi-select (repeated keys), without duplicates; `None` if any is not a number.
pub fn ids(values: &[String]) -> Option<Vec<i64>> {
    let mut out: Vec<i64> = Vec::with_capacity(values.len());
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let id = v.parse().ok()?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Some(out)
}

/// A unique constraint refused the row (another request won a race the pre-check could not see).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// A checkbox is present ("1") when ticked and absent otherwise.
pub fn checked(value: &str) -> bool {
    !value.trim().is_empty()
}

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
