//! Reports: the per-visit Pujiang table (`visit`, its read), the day hour by hour (`hourly`),
//! their page and export (`pages`), and the operator's business metrics (`metrics`).

pub mod hourly;
pub mod metrics;
pub mod pages;
pub mod visit;
