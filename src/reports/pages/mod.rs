//! The report pages: each reads one report module and renders it or its workbook.

pub mod metrics;
pub mod visit;
