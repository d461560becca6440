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
