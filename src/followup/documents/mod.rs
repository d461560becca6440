//! Documents in writing (文书, DESIGN §4): drafted from a case, edited while draft, issued with
//! a number of their issuing body, frozen, superseded by a correction, delivered (送达).
//! `rules` is pure; `store` applies it in the caller's transaction; `read` reads back.

pub mod read;
pub mod rules;
pub mod store;

pub use rules::{Issuer, Kind};
