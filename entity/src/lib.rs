//! sea-orm entities of dora-tracker: one module per table, nothing else.

pub mod deployment_commits;
pub mod deployments;
pub mod idempotency_keys;
pub mod incidents;
pub mod members;
pub mod organizations;
pub mod prelude;
pub mod repositories;
