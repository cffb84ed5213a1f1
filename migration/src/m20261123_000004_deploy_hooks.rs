//! Deploy hooks: named, managed hooks whose secret trigger URL records a deployment of one
//! repository, branch and environment; and the deployments each hook recorded (for the
//! repeat-trigger dedupe rule).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Repositories {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum DeployHooks {
    Table,
    Id,
    OrganizationId,
    RepositoryId,
    Name,
    Branch,
    Environment,
    SecretHash,
    CreatedAt,
    UpdatedAt,
    LastTriggeredAt,
    LastDeploymentId,
}

#[derive(DeriveIden)]
enum DeployHookTriggers {
    Table,
    DeploymentId,
    DeployHookId,
    DedupeKey,
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
        manager
            .create_table(
                Table::create()
                    .table(DeployHooks::Table)
                    .if_not_exists()
                    .col(pk_uuid(DeployHooks::Id))
                    .col(uuid(DeployHooks::OrganizationId))
                    .col(uuid(DeployHooks::RepositoryId))
                    .col(text(DeployHooks::Name))
                    .col(text(DeployHooks::Branch))
                    .col(text(DeployHooks::Environment))
                    // SHA-256 (hex) of the secret in the trigger URL; the secret itself is
                    // never stored.
                    .col(text_uniq(DeployHooks::SecretHash))
                    .col(timestamp_with_time_zone(DeployHooks::CreatedAt))
                    .col(timestamp_with_time_zone(DeployHooks::UpdatedAt))
                    .col(timestamp_with_time_zone_null(DeployHooks::LastTriggeredAt))
                    .col(uuid_null(DeployHooks::LastDeploymentId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeployHooks::Table, DeployHooks::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeployHooks::Table, DeployHooks::RepositoryId)
                            .to(Repositories::Table, Repositories::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeployHooks::Table, DeployHooks::LastDeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_deploy_hooks_org_repository_name")
                    .table(DeployHooks::Table)
                    .col(DeployHooks::OrganizationId)
                    .col(DeployHooks::RepositoryId)
                    .col(DeployHooks::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // One row per deployment a hook recorded. Deleting the hook forgets the rows (the
        // deployments stay: they are history).
        manager
            .create_table(
                Table::create()
                    .table(DeployHookTriggers::Table)
                    .if_not_exists()
                    .col(pk_uuid(DeployHookTriggers::DeploymentId))
                    .col(uuid(DeployHookTriggers::DeployHookId))
                    // environment, PR number, branch and commit of the trigger
                    .col(text(DeployHookTriggers::DedupeKey))
                    .col(timestamp_with_time_zone(DeployHookTriggers::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeployHookTriggers::Table, DeployHookTriggers::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeployHookTriggers::Table, DeployHookTriggers::DeployHookId)
                            .to(DeployHooks::Table, DeployHooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // "the latest deployment of this hook for this commit"
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_deploy_hook_triggers_hook_key")
                    .table(DeployHookTriggers::Table)
                    .col(DeployHookTriggers::DeployHookId)
                    .col(DeployHookTriggers::DedupeKey)
                    .col(DeployHookTriggers::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DeployHookTriggers::Table.into_iden(),
            DeployHooks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
