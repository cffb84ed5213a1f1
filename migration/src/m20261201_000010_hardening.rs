//! Deployment numbers per organization (issue 11): the GitHub-style integer id of a
//! deployment (`number`, GitHub's `id`, the listing cursor) no longer comes from one
//! sequence shared by every organization, which told each tenant how many deployments the
//! others record.
//!
//! - The old auto-increment key is renamed `seq`: it stays the table's internal primary key
//!   and is never shown.
//! - A new `number` is unique within an organization and increasing: existing rows are
//!   numbered 1, 2, … per organization in their old order, so a tenant's existing numbers
//!   keep their relative order (but not their values).
//! - `organizations.last_deployment_number` is the last number handed out; a create takes
//!   the next one by incrementing it (on PostgreSQL in a short transaction of its own, like a
//!   sequence value; on SQLite in the create's transaction), on any instance.
//! - The indexes that carried the old key (`ix_deployments_stream`, `ix_deployments_window`,
//!   `ix_deployments_org_number`) are rebuilt on the new `number`, which is now what breaks
//!   ties of equal deploy times within a stream.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

use crate::m20261123_000005_metric_reads::covering;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Deployments {
    Table,
    Number,
    Id,
    OrganizationId,
    RepositoryId,
    Environment,
    IsProduction,
    DeployedAt,
    Status,
    FinishedAt,
    IsFix,
    IsHotfix,
    IsRollback,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    LastDeploymentNumber,
}

/// The indexes that carry the deployment key, built on `key` (`number` or, going down, the
/// old key under its old name).
fn key_indexes(backend: DbBackend, key: Deployments, unique: bool) -> Vec<IndexCreateStatement> {
    use Deployments as D;
    let mut org_key = Index::create();
    org_key
        .if_not_exists()
        .name(if unique {
            "ux_deployments_org_number"
        } else {
            "ix_deployments_org_number"
        })
        .table(D::Table)
        .col(D::OrganizationId)
        .col(key);
    if unique {
        org_key.unique();
    }
    vec![
        // listing newest first with a cursor; per-organization numbers are unique
        org_key.to_owned(),
        // per-stream scans: the next deployment after a window, single-repository windows
        Index::create()
            .if_not_exists()
            .name("ix_deployments_stream")
            .table(D::Table)
            .col(D::RepositoryId)
            .col(D::Environment)
            .col(D::DeployedAt)
            .col(key)
            .to_owned(),
        covering(
            backend,
            "ix_deployments_window",
            D::Table,
            &[D::OrganizationId, D::IsProduction, D::DeployedAt],
            &[
                key,
                D::Id,
                D::RepositoryId,
                D::Environment,
                D::Status,
                D::FinishedAt,
                D::IsFix,
                D::IsHotfix,
                D::IsRollback,
            ],
        ),
    ]
}

async fn drop_key_indexes(manager: &SchemaManager<'_>, org_index: &str) -> Result<(), DbErr> {
    for name in [org_index, "ix_deployments_stream", "ix_deployments_window"] {
        manager
            .drop_index(
                Index::drop()
                    .name(name)
                    .table(Deployments::Table)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// All or nothing on SQLite too (PostgreSQL wraps every migration anyway): a half-applied
    /// renumbering would leave two meanings of `number`.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        drop_key_indexes(manager, "ix_deployments_org_number").await?;
        // PostgreSQL keeps the sequence as the renamed column's default; SQLite keeps the
        // INTEGER PRIMARY KEY AUTOINCREMENT.
        db.execute_unprepared("ALTER TABLE deployments RENAME COLUMN number TO seq")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deployments::Table)
                    .add_column(big_integer(Deployments::Number).default(0))
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(
            "UPDATE deployments SET number = r.n FROM (SELECT seq, ROW_NUMBER() OVER \
             (PARTITION BY organization_id ORDER BY seq) AS n FROM deployments) AS r \
             WHERE r.seq = deployments.seq",
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(big_integer(Organizations::LastDeploymentNumber).default(0))
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(
            "UPDATE organizations SET last_deployment_number = COALESCE((SELECT MAX(d.number) \
             FROM deployments d WHERE d.organization_id = organizations.id), 0)",
        )
        .await?;
        for index in key_indexes(backend, Deployments::Number, true) {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        drop_key_indexes(manager, "ux_deployments_org_number").await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .drop_column(Organizations::LastDeploymentNumber)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deployments::Table)
                    .drop_column(Deployments::Number)
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared("ALTER TABLE deployments RENAME COLUMN seq TO number")
            .await?;
        // The old key under its old name: `Deployments::Number` names it again.
        for index in key_indexes(backend, Deployments::Number, false) {
            manager.create_index(index).await?;
        }
        Ok(())
    }
}
