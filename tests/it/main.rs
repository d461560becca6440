//! The one integration-test binary: the real app over HTTP against a fresh database per test.

mod fixtures;
mod harness;

mod accounts;
mod admin;
mod board;
mod browser;
mod demo;
mod desk;
mod embedded;
mod register;
mod plan;
mod routes;
mod schedule;
mod triage;
