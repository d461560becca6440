//! The pages of stage 3: each handler checks its form, calls one domain function, renders.

pub mod attachments;
pub mod cases;
pub mod documents;
pub mod handover;
pub mod inbox;
pub mod lists;
pub mod reviews;
pub mod supervision;
