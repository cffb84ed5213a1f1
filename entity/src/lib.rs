//! sea-orm entities of dora-tracker: one module per table, nothing else.

pub mod audit_log;
pub mod deploy_hook_triggers;
pub mod deploy_hooks;
pub mod deployment_commits;
pub mod deployment_outcomes;
pub mod deployment_statuses;
pub mod deployments;
pub mod github_deployments;
pub mod idempotency_keys;
pub mod incidents;
pub mod members;
pub mod organizations;
pub mod prelude;
pub mod repositories;
