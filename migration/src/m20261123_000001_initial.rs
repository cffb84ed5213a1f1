//! Organizations, repositories, members, deployments, the commits they shipped, and
//! idempotency keys.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Slug,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Repositories {
    Table,
    Id,
    OrganizationId,
    Url,
    Key,
    Name,
    Team,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
    OrganizationId,
    ExternalId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Number,
    Id,
    OrganizationId,
    RepositoryId,
    PusherId,
    Environment,
    IsProduction,
    Title,
    Changelog,
    Url,
    Branch,
    CommitId,
    NodeId,
    PullRequestNumber,
    CommitsCount,
    DurationSeconds,
    IsFix,
    IsHotfix,
    IsForced,
    IsRollback,
    Status,
    TriggeredBy,
    StartedAt,
    FinishedAt,
    DeployedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DeploymentCommits {
    Table,
    DeploymentId,
    Sha,
    CommittedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    OrganizationId,
    Key,
    Fingerprint,
    ResponseStatus,
    ResponseBody,
    ResponseLocation,
    CreatedAt,
}

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // All or nothing on SQLite too (PostgreSQL wraps migrations in a transaction anyway).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .if_not_exists()
                    .col(pk_uuid(Organizations::Id))
                    .col(string_uniq(Organizations::Slug))
                    .col(timestamp_with_time_zone(Organizations::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Repositories::Table)
                    .if_not_exists()
                    .col(pk_uuid(Repositories::Id))
                    .col(uuid(Repositories::OrganizationId))
                    .col(text(Repositories::Url))
                    .col(text(Repositories::Key))
                    .col(text(Repositories::Name))
                    .col(text_null(Repositories::Team))
                    .col(timestamp_with_time_zone(Repositories::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Repositories::Table, Repositories::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_repositories_org_key")
                    .table(Repositories::Table)
                    .col(Repositories::OrganizationId)
                    .col(Repositories::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Members::Table)
                    .if_not_exists()
                    .col(pk_uuid(Members::Id))
                    .col(uuid(Members::OrganizationId))
                    .col(text(Members::ExternalId))
                    .col(timestamp_with_time_zone(Members::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Members::Table, Members::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_members_org_external_id")
                    .table(Members::Table)
                    .col(Members::OrganizationId)
                    .col(Members::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // `number` is the integer key (increasing, for GitHub-style integer ids and
        // cursor pagination); `id` is the public uuid.
        manager
            .create_table(
                Table::create()
                    .table(Deployments::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Deployments::Number))
                    .col(uuid_uniq(Deployments::Id))
                    .col(uuid(Deployments::OrganizationId))
                    .col(uuid(Deployments::RepositoryId))
                    .col(uuid_null(Deployments::PusherId))
                    .col(text(Deployments::Environment))
                    .col(boolean(Deployments::IsProduction))
                    .col(text(Deployments::Title))
                    .col(text_null(Deployments::Changelog))
                    .col(text_null(Deployments::Url))
                    .col(text(Deployments::Branch))
                    .col(text(Deployments::CommitId))
                    .col(text_null(Deployments::NodeId))
                    .col(big_integer_null(Deployments::PullRequestNumber))
                    .col(integer(Deployments::CommitsCount))
                    .col(big_integer_null(Deployments::DurationSeconds))
                    .col(boolean(Deployments::IsFix))
                    .col(boolean(Deployments::IsHotfix))
                    .col(boolean(Deployments::IsForced))
                    .col(boolean(Deployments::IsRollback))
                    .col(text(Deployments::Status))
                    .col(text(Deployments::TriggeredBy))
                    .col(timestamp_with_time_zone_null(Deployments::StartedAt))
                    .col(timestamp_with_time_zone_null(Deployments::FinishedAt))
                    // finished_at when set, else created_at: kept in a column so metric
                    // windows are index range scans.
                    .col(timestamp_with_time_zone(Deployments::DeployedAt))
                    .col(timestamp_with_time_zone(Deployments::CreatedAt))
                    .col(timestamp_with_time_zone(Deployments::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Deployments::Table, Deployments::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Deployments::Table, Deployments::RepositoryId)
                            .to(Repositories::Table, Repositories::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Deployments::Table, Deployments::PusherId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            // organization-wide metric windows
            (
                "ix_deployments_org_deployed_at",
                vec![Deployments::OrganizationId, Deployments::DeployedAt],
            ),
            // per-stream scans: the next deployment after a window, single-repository windows
            (
                "ix_deployments_stream",
                vec![
                    Deployments::RepositoryId,
                    Deployments::Environment,
                    Deployments::DeployedAt,
                    Deployments::Number,
                ],
            ),
            // listing newest first with a cursor
            (
                "ix_deployments_org_number",
                vec![Deployments::OrganizationId, Deployments::Number],
            ),
        ] {
            let mut index = Index::create();
            index.if_not_exists().name(name).table(Deployments::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(DeploymentCommits::Table)
                    .if_not_exists()
                    .col(uuid(DeploymentCommits::DeploymentId))
                    .col(text(DeploymentCommits::Sha))
                    .col(timestamp_with_time_zone(DeploymentCommits::CommittedAt))
                    .primary_key(
                        Index::create()
                            .col(DeploymentCommits::DeploymentId)
                            .col(DeploymentCommits::Sha),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeploymentCommits::Table, DeploymentCommits::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // "was this commit shipped before in its stream" lookups for lead time
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_deployment_commits_sha")
                    .table(DeploymentCommits::Table)
                    .col(DeploymentCommits::Sha)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .if_not_exists()
                    .col(uuid(IdempotencyKeys::OrganizationId))
                    .col(text(IdempotencyKeys::Key))
                    .col(text(IdempotencyKeys::Fingerprint))
                    // null while the first request with this key is still in flight
                    .col(integer_null(IdempotencyKeys::ResponseStatus))
                    .col(text_null(IdempotencyKeys::ResponseBody))
                    .col(text_null(IdempotencyKeys::ResponseLocation))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::OrganizationId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(IdempotencyKeys::Table, IdempotencyKeys::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_idempotency_keys_created_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyKeys::Table.into_iden(),
            DeploymentCommits::Table.into_iden(),
            Deployments::Table.into_iden(),
            Members::Table.into_iden(),
            Repositories::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
