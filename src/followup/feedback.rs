//! The citizen's rating (评价) as the `/lookup` status page shows it: a refused rating form, shown
//! again under its case. The rating itself is written by `transitions::rate`.

use crate::web::form::Errors;

pub use crate::followup::transitions::RATINGS;

/// A refused rating form, shown again under its case.
#[derive(Default)]
pub struct Draft {
    pub case_code: String,
    pub rating: String,
    pub comment: String,
    pub errors: Errors,
}
