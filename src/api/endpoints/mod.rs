//! The JSON endpoints of `/api/v1` (handlers: each parses, calls the same domain function as the
//! pages, and answers JSON).

pub mod v1;
