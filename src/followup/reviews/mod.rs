//! 复查 → 复核 → 终结 (DESIGN §3, §4): who may review a decision, the citizen's 30 days from
//! 送达, the request online, and the 听证 that pauses the 复核 clock. `rules` is pure; `store`
//! applies it in the caller's transaction.

pub mod rules;
pub mod store;

pub use rules::Body;
