//! Citizens' pages: no login, mostly on phones.

pub mod assets;
pub mod home;
pub mod lookup;
pub mod register;
pub mod visits;
