//! The sysadmin's pages (users, departments, leaders, categories, the calendar) and the auditor's
//! `/audit`. Each parses its form once and calls one domain function of `admin`.

pub mod audit;
pub mod calendar;
pub mod categories;
pub mod departments;
pub mod leaders;
pub mod second_factor;
pub mod users;
