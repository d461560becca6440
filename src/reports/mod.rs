//! Reports and Excel exports: the per-visit Pujiang table, and the sheet/attachment helpers every
//! export shares.

pub mod pages;
pub mod visit;
pub mod xlsx;
