//! Stage 2's pages: each handler parses its input, calls one function of a consult domain module
//! (`schedule_store`, `publish`, `arrival`, `reception`) and renders or redirects. Only `routes.rs`
//! names these handlers.

pub mod board;
pub mod checkin;
pub mod day;
pub mod desk;
pub mod desk_correct;
mod desk_dossier;
mod desk_form;
pub mod printouts;
pub mod reception_form;
pub mod schedule;
pub mod today;

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;

/// A time of day in China time (HH:MM), or "—".
pub(crate) fn hm(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "—".into(),
        |t| t.with_timezone(&Shanghai).format("%H:%M").to_string(),
    )
}
