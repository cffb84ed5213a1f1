//! Schema migrations of dora-tracker. Each migration is self-contained (it never imports
//! `entity`), so the schema history stays what it was when each step was written.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000002_incidents;
mod m20261123_000003_statuses_audit;
mod m20261123_000004_deploy_hooks;
mod m20261123_000005_metric_reads;
mod m20261130_000006_commit_streams;
mod m20261201_000007_integrations;
mod m20261201_000008_tokens;
mod m20261201_000009_outcomes;
mod m20261201_000010_hardening;
mod m20261202_000011_outbound_webhooks;
mod m20261202_000012_source_incidents;
mod m20261202_000013_external_ids;
mod m20261207_000014_outcome_days;
mod m20261207_000015_import_copies;

pub use m20261123_000005_metric_reads::flag_shared_commits;
pub use m20261201_000009_outcomes::compute_outcomes;
pub use m20261207_000014_outcome_days::compute_rollups;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_incidents::Migration),
            Box::new(m20261123_000003_statuses_audit::Migration),
            Box::new(m20261123_000004_deploy_hooks::Migration),
            Box::new(m20261123_000005_metric_reads::Migration),
            Box::new(m20261130_000006_commit_streams::Migration),
            Box::new(m20261201_000007_integrations::Migration),
            Box::new(m20261201_000008_tokens::Migration),
            Box::new(m20261201_000009_outcomes::Migration),
            Box::new(m20261201_000010_hardening::Migration),
            Box::new(m20261202_000011_outbound_webhooks::Migration),
            Box::new(m20261202_000012_source_incidents::Migration),
            Box::new(m20261202_000013_external_ids::Migration),
            Box::new(m20261207_000014_outcome_days::Migration),
            Box::new(m20261207_000015_import_copies::Migration),
        ]
    }
}
