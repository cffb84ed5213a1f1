//! `deployments.external_id`: the caller's own id of a deployment, given on a line of
//! `POST /api/v1/deployments/import`, which makes the line idempotent within the organization
//! (a line whose `external_id` is stored already records nothing). Unique per organization
//! where given; deployments recorded otherwise have none.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deployments {
    Table,
    ExternalId,
}

const INDEX: &str = "ux_deployments_external_id";

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Deployments::Table)
                    .add_column(text_null(Deployments::ExternalId))
                    .to_owned(),
            )
            .await?;
        // Partial: the rows without one (nearly all) stay out of the index. Both databases
        // spell a partial unique index alike.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE UNIQUE INDEX {INDEX} ON deployments (organization_id, external_id) \
                 WHERE external_id IS NOT NULL"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(Deployments::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deployments::Table)
                    .drop_column(Deployments::ExternalId)
                    .to_owned(),
            )
            .await
    }
}
