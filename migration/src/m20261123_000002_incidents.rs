//! Incidents (DESIGN.md §4), and the indexes the DORA metric queries scan.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    OrganizationId,
    RepositoryId,
    Environment,
    IsProduction,
    DeploymentId,
    Title,
    Severity,
    StartedAt,
    ResolvedAt,
    CreatedAt,
    UpdatedAt,
}

// Tables of the initial migration, named here so this one stays self-contained.
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
    OrganizationId,
    RepositoryId,
    IsProduction,
    DeployedAt,
}

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
                    .table(Incidents::Table)
                    .if_not_exists()
                    .col(pk_uuid(Incidents::Id))
                    .col(uuid(Incidents::OrganizationId))
                    .col(uuid_null(Incidents::RepositoryId))
                    .col(text(Incidents::Environment))
                    // Decided when the incident is recorded (see the incidents route): whether
                    // it counts in the default, production-only metrics scope.
                    .col(boolean(Incidents::IsProduction))
                    .col(uuid_null(Incidents::DeploymentId))
                    .col(text(Incidents::Title))
                    .col(text_null(Incidents::Severity))
                    .col(timestamp_with_time_zone(Incidents::StartedAt))
                    .col(timestamp_with_time_zone_null(Incidents::ResolvedAt))
                    .col(timestamp_with_time_zone(Incidents::CreatedAt))
                    .col(timestamp_with_time_zone(Incidents::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Incidents::Table, Incidents::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Incidents::Table, Incidents::RepositoryId)
                            .to(Repositories::Table, Repositories::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Incidents::Table, Incidents::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes: [(&str, Incidents, Vec<Incidents>); 3] = [
            // metric windows and listings
            (
                "ix_incidents_org_started_at",
                Incidents::Table,
                vec![Incidents::OrganizationId, Incidents::StartedAt],
            ),
            // incidents naming a window's deployments
            (
                "ix_incidents_deployment",
                Incidents::Table,
                vec![Incidents::DeploymentId],
            ),
            // incidents attributed by repository and time to a stream's deployments
            (
                "ix_incidents_stream",
                Incidents::Table,
                vec![
                    Incidents::RepositoryId,
                    Incidents::Environment,
                    Incidents::StartedAt,
                ],
            ),
        ];
        for (name, table, cols) in indexes {
            let mut index = Index::create();
            index.name(name).table(table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // The default metrics scope is the production deployments: these make it a tight range
        // for the whole organization and for one repository.
        manager
            .create_index(
                Index::create()
                    .name("ix_deployments_org_prod_deployed_at")
                    .table(Deployments::Table)
                    .col(Deployments::OrganizationId)
                    .col(Deployments::IsProduction)
                    .col(Deployments::DeployedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_deployments_repo_prod_deployed_at")
                    .table(Deployments::Table)
                    .col(Deployments::RepositoryId)
                    .col(Deployments::IsProduction)
                    .col(Deployments::DeployedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "ix_deployments_repo_prod_deployed_at",
            "ix_deployments_org_prod_deployed_at",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Deployments::Table)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Incidents::Table).if_exists().to_owned())
            .await
    }
}
