//! The API's HTML pages (the JSON endpoints are `api::v1`).

pub mod tokens;
