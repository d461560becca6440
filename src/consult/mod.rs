//! Stage 2, 访中会商研究: the schedule, check-in, the queue per room, the leader's desk, the board.

pub mod board;
pub mod checkin;
pub mod day;
pub mod desk;
pub mod publish;
pub mod reception;
pub mod schedule;
pub mod scheduling;
pub mod today;
