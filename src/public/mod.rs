//! Citizens' pages: no login, mostly on phones.

pub mod pages;
pub mod published;
pub mod registration_status;
