//! xiafang — the 领导下访接访 platform: plan a leader's visit-down day, receive citizens room by room,
//! and close every assigned case within its deadline.

pub mod admin;
pub mod api;
pub mod app;
pub mod audit;
pub mod backup;
pub mod clock;
pub mod config;
pub mod consult;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod duty;
pub mod error;
pub mod followup;
pub mod job_runs;
pub mod live;
pub mod maintenance;
pub mod notify;
pub mod prepare;
pub mod privacy;
pub mod public;
pub mod purge;
pub mod reports;
pub mod routes;
pub mod state;
pub mod unprivileged;
pub mod web;
