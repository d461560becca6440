//! The one integration-test binary: the real app over HTTP against a fresh database per test.

mod fixtures;
mod harness;

mod accounts;
mod api;
mod admin;
mod board;
mod cases;
mod checkin;
mod browser;
mod demo;
mod desk;
mod embedded;
mod faults;
mod hostile;
mod journeys;
mod register;
mod reports;
mod plan;
mod pujiang;
mod routes;
mod schedule;
mod supervision;
mod triage;
