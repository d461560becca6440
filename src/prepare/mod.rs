//! Stage 1, 访前调查准备: plan the day, publish the two notices, survey villages, take and triage
//! registrations.

pub mod booking;
pub mod form_token;
pub mod legacy_plaintext;
pub mod lifecycle;
pub mod notice_correction;
pub mod notice_jobs;
pub mod notice_store;
pub mod notice_text;
pub mod pages;
pub mod phone_code;
pub mod plan;
pub mod registration;
pub mod registration_offer;
pub mod registration_texts;
pub mod registration_view;
pub mod room_store;
pub mod scope;
pub mod screening;
pub mod search;
pub mod survey_store;
pub mod triage_actions;
pub mod triage_bulk;
pub mod triage_list;
pub mod visit_store;
pub mod windows;
