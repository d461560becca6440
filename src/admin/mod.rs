//! Administration (sysadmin) and the audit log (auditor).

pub mod audit;
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
