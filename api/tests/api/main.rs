//! Integration tests: the real service on a random port, against a real database with the
//! real migrations. SQLite by default; set `DORA_TEST_DATABASE_URL=postgres://USER@HOST:PORT`
//! to run the same tests on PostgreSQL (each test creates and drops its own database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod admin;
mod auth;
mod deployments;
mod github;
mod hooks;
mod idempotency;
mod incidents;
mod metrics;
mod migrations;
mod openapi;
mod outcomes;
mod prometheus;
mod statuses;
mod validation;
