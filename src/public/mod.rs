//! Citizens' pages: no login, mostly on phones.

pub mod calendar;
pub mod pages;
pub mod published;
pub mod regions;
pub mod registration_status;
