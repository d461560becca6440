//! The API's HTML pages (the JSON endpoints are `api::endpoints`).

pub mod tokens;
