//! Stage 2, 访中会商研究: the schedule, check-in, the queue per room, the leader's desk, the board.
//!
//! Rules (pure, unit-tested): `scheduler`, `checkin_rules`, `desk_rules`, `day`, `board` (with its
//! loader). Domain modules (a transaction, no HTTP): `schedule_store`, `publish`, `arrival`,
//! `reception`, and `queue_moves` (every status write of the stage, decided by the lifecycle). Pages: `pages`.

pub mod arrival;
pub mod board;
pub mod checkin_rules;
pub mod correction;
pub mod day;
pub mod desk_rules;
pub mod pages;
pub mod printouts;
pub mod publish;
pub mod queue_moves;
pub mod reception;
pub mod schedule_store;
pub mod scheduler;
