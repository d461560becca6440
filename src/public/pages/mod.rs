//! The citizens' pages: handlers only.

pub mod assets;
pub mod feedback;
pub mod home;
pub mod lookup;
pub mod region;
pub mod register;
pub mod review;
pub mod visits;
