//! Reports: the per-visit Pujiang table (`visit`, its read), the day hour by hour (`hourly`), and
//! their page and export (`pages`).

pub mod hourly;
pub mod pages;
pub mod visit;
