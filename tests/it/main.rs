//! The one integration-test binary: the real app over HTTP against a fresh database per test.

mod fixtures;
mod harness;

mod accounts;
mod admin;
mod api;
mod board;
mod browser;
mod cases;
mod checkin;
mod dbroles;
mod demo;
mod desk;
mod embedded;
mod faults;
mod hardening;
mod hostile;
mod journeys;
mod jurisdictions_admin;
mod jurisdictions_cases;
mod jurisdictions_visits;
mod layers;
mod login;
mod plan;
mod pujiang;
mod region;
mod regions;
mod register;
mod reports;
mod routes;
mod sanyuan;
mod schedule;
mod second_factor;
mod supervision;
mod triage;
