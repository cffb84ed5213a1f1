//! Integration tests: the real service on a random port, against a real database with the
//! real migrations. SQLite by default; set `DORA_TEST_DATABASE_URL=postgres://USER@HOST:PORT`
//! to run the same tests on PostgreSQL (each test creates and drops its own database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod pg_cluster;
mod process;

mod admin;
mod alertmanager_webhooks;
mod auth;
mod deployment_import;
mod deployments;
mod explain;
mod first_run;
mod github;
mod github_webhooks;
mod gitlab_webhooks;
mod group_commit;
mod hooks;
mod idempotency;
mod incidents;
mod input_rules;
mod instances;
mod integrations;
mod issuer;
mod limits;
mod metrics;
mod migrations;
mod numbers;
mod oidc;
mod openapi;
mod outbound;
mod outcomes;
mod pagerduty_webhooks;
mod prometheus;
mod record;
mod reliability;
mod rollups;
mod secrets;
mod slow_clients;
mod statuses;
mod tokens;
mod transfer;
mod validation;
mod web;
mod webhook_helpers;
