//! The sysadmin's pages (users, departments, leaders, categories, the calendar), the security
//! administrator's (an account's authority, reset links, and the public `/reset/{token}`) and the
//! auditor's `/audit`. Each parses its form once and calls one domain function of `admin`.

pub mod audit;
pub mod authority;
pub mod calendar;
pub mod categories;
pub mod departments;
pub mod leaders;
pub mod reset;
pub mod second_factor;
pub mod users;
