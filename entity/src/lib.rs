//! sea-orm entities of dora-tracker: one module per table, nothing else.

pub mod api_tokens;
pub mod audit_log;
pub mod deploy_hook_triggers;
pub mod deploy_hooks;
pub mod deployment_commits;
pub mod deployment_outcomes;
pub mod deployment_statuses;
pub mod deployments;
pub mod dora_tiers;
pub mod github_deployments;
pub mod idempotency_keys;
pub mod incidents;
pub mod inferred_commits;
pub mod integration_deliveries;
pub mod integrations;
pub mod members;
pub mod organizations;
pub mod prelude;
pub mod push_commits;
pub mod pushes;
pub mod repositories;
pub mod source_incidents;
pub mod source_objects;
pub mod trust_policies;
pub mod webhook_deliveries;
pub mod webhook_subscriptions;
