//! Stage 1's staff pages: handlers only; the rules and domain modules are beside this folder.

pub mod notices;
pub mod outbox;
pub mod registration;
pub mod rooms;
pub mod survey;
pub mod triage;
pub mod triage_bulk;
pub mod triage_export;
pub mod triage_index;
pub mod visit_form;
pub mod visits;
