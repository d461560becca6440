//! Stage 1, 访前调查准备: plan the day, publish the two notices, survey villages, take and triage
//! registrations.

pub mod notices;
pub mod plan;
pub mod registration;
pub mod rooms;
pub mod screening;
pub mod survey;
pub mod triage;
pub mod triage_export;
pub mod visits;
