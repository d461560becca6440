//! Reference data the sysadmin keeps (DESIGN §2): departments, leaders, categories and the
//! working-day calendar, and the jurisdiction tree. Each change is audited in its transaction;
//! the `admin::pages` call these.

pub mod calendar;
pub mod categories;
pub mod departments;
pub mod leaders;
pub mod region_rules;
pub mod regions;

/// The name is already used: by another department, or by a sibling category.
#[derive(Debug, PartialEq)]
pub struct NameTaken;

/// A unique constraint refused the row (another request won a race the pre-check could not see).
fn unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}
