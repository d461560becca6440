//! Stage 3, 访后限期办结: cases and their deadlines, the working-day calendar, supervision.
//!
//! Rules (pure, unit-tested; their numbers are `config::rules`): `state`, `workdays`, `scoring`, `cadence`, `labels`, and the
//! pure halves of `lists` and `jobs`. Domain (a connection in, a typed outcome out): `assign`,
//! `transitions` (every write that moves a case), `case_row`, `case_view`, `dashboard`, `inbox`,
//! `lists`, `handover`, `jobs`, `attachments`, `archive` (一案一档). Pages: `pages`.

pub mod archive;
pub mod assign;
pub mod attachments;
pub mod cadence;
pub mod case_file;
pub mod case_row;
pub mod case_view;
pub mod dashboard;
pub mod documents;
pub mod handover;
pub mod inbox;
pub mod jobs;
pub mod labels;
pub mod lists;
pub mod pages;
pub mod reviews;

pub mod scoring;
pub mod seed_scale;
pub mod state;
pub mod transitions;
pub mod workdays;

pub use crate::config::rules::CaseRules;
