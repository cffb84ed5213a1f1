//! Deployment statuses (GitHub-style append-only history), the GitHub deployment fields
//! that the canonical `deployments` table has no column for (a side table, so the
//! `deployments` row that the metrics read stays as it was), and the audit log of admin
//! changes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum DeploymentStatuses {
    Table,
    Id,
    DeploymentId,
    OrganizationId,
    State,
    Description,
    LogUrl,
    EnvironmentUrl,
    Environment,
    Creator,
    CreatedAt,
}

#[derive(DeriveIden)]
enum GithubDeployments {
    Table,
    DeploymentId,
    Task,
    Payload,
    Description,
    TransientEnvironment,
    OriginalEnvironment,
    Creator,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    OrganizationId,
    Actor,
    Action,
    Entity,
    EntityId,
    Before,
    After,
    CreatedAt,
}

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Integer ids: GitHub status ids are integers.
        manager
            .create_table(
                Table::create()
                    .table(DeploymentStatuses::Table)
                    .if_not_exists()
                    .col(big_pk_auto(DeploymentStatuses::Id))
                    .col(uuid(DeploymentStatuses::DeploymentId))
                    .col(uuid(DeploymentStatuses::OrganizationId))
                    .col(text(DeploymentStatuses::State))
                    .col(text(DeploymentStatuses::Description).default(""))
                    .col(text_null(DeploymentStatuses::LogUrl))
                    .col(text_null(DeploymentStatuses::EnvironmentUrl))
                    .col(text(DeploymentStatuses::Environment))
                    .col(text_null(DeploymentStatuses::Creator))
                    .col(timestamp_with_time_zone(DeploymentStatuses::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeploymentStatuses::Table, DeploymentStatuses::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                DeploymentStatuses::Table,
                                DeploymentStatuses::OrganizationId,
                            )
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_deployment_statuses_deployment_id")
                    .table(DeploymentStatuses::Table)
                    .col(DeploymentStatuses::DeploymentId)
                    .col(DeploymentStatuses::Id)
                    .to_owned(),
            )
            .await?;

        // One row per deployment created through the GitHub-compatible API. `ref` is the
        // deployment's `branch`, `sha` its `commit_id`, `production_environment` its
        // `is_production`: those live in `deployments` already.
        manager
            .create_table(
                Table::create()
                    .table(GithubDeployments::Table)
                    .if_not_exists()
                    .col(uuid(GithubDeployments::DeploymentId).primary_key())
                    .col(text(GithubDeployments::Task))
                    .col(text(GithubDeployments::Payload))
                    .col(text_null(GithubDeployments::Description))
                    .col(boolean(GithubDeployments::TransientEnvironment).default(false))
                    .col(text(GithubDeployments::OriginalEnvironment))
                    .col(text_null(GithubDeployments::Creator))
                    .foreign_key(
                        ForeignKey::create()
                            .from(GithubDeployments::Table, GithubDeployments::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditLog::Id))
                    .col(uuid(AuditLog::OrganizationId))
                    .col(text_null(AuditLog::Actor))
                    .col(text(AuditLog::Action))
                    .col(text(AuditLog::Entity))
                    .col(text(AuditLog::EntityId))
                    // JSON documents, kept as text so both databases store them alike.
                    .col(text_null(AuditLog::Before))
                    .col(text_null(AuditLog::After))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditLog::Table, AuditLog::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_log_org_created_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::OrganizationId)
                    .col(AuditLog::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            GithubDeployments::Table.into_iden(),
            DeploymentStatuses::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
