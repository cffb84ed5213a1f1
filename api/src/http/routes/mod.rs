//! The canonical HTTP API: one `#[OpenApi]` struct per resource.

pub mod admin;
pub mod deploy_hooks;
pub mod deployment_import;
pub mod deployments;
pub mod health;
pub mod incidents;
pub mod integrations;
pub mod metrics;
pub mod prometheus;
pub mod statuses;
pub mod streams;
pub mod tokens;
pub mod trust_policies;
pub mod webhook_subscriptions;
