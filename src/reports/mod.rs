//! Reports: the per-visit Pujiang table (`visit`, its read) and its page and export (`pages`).

pub mod pages;
pub mod visit;
