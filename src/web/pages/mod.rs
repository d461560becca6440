//! The handlers of web/: signing in and out, the password, who am I, and the operations endpoints.

pub mod account;
pub mod ops;
pub mod second_factor;
pub mod sms;
