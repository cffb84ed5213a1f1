//! Integrations (webhook sources) and what their deliveries leave behind:
//!
//! - `integrations`: an organization's connection to GitHub, GitLab (later PagerDuty,
//!   Alertmanager): kind, name, options (JSON), the delivery secret sealed under
//!   `DORA_SECRET_KEY` (and the previous one during a rotation's overlap), and delivery counts;
//! - `integration_deliveries`: the delivery ids seen per integration (redelivery dedupe);
//! - `source_objects`: the source's own objects (a GitHub deployment, status, workflow run,
//!   issue) mapped to the records they became, with the version last applied (out-of-order
//!   deliveries never regress a record);
//! - `pushes` and `push_commits`: the pushed commits of each repository, chained by
//!   `before`/`after`, from which a deployment without explicit commits gets its commits;
//! - `inferred_commits`: the deployments whose commits were inferred from pushes (explicit ones
//!   always win), and the sha whose push was missing, so a late push can complete them;
//! - `incidents.source`, `source_id`, `source_url`: where an incident came from (DESIGN §6);
//! - an index on deployments `(repository_id, environment, commit_id)`: "was this sha already
//!   deployed in this stream".

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
    RepositoryId,
    Environment,
    CommitId,
}

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    OrganizationId,
    Source,
    SourceId,
    SourceUrl,
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    Id,
    OrganizationId,
    Kind,
    Name,
    Options,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    SecretRotatedAt,
    Deliveries,
    Recorded,
    Duplicates,
    Ignored,
    Unhandled,
    LastDeliveryAt,
    LastEvent,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IntegrationDeliveries {
    Table,
    IntegrationId,
    DeliveryId,
    Event,
    Result,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum SourceObjects {
    Table,
    OrganizationId,
    Source,
    Kind,
    RepositoryId,
    ExternalId,
    DeploymentId,
    IncidentId,
    VersionAt,
    VersionId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Pushes {
    Table,
    Id,
    OrganizationId,
    RepositoryId,
    Branch,
    BeforeSha,
    AfterSha,
    Forced,
    PushedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PushCommits {
    Table,
    PushId,
    Position,
    RepositoryId,
    Sha,
    CommittedAt,
}

#[derive(DeriveIden)]
enum InferredCommits {
    Table,
    DeploymentId,
    OrganizationId,
    RepositoryId,
    WaitingForSha,
    UpdatedAt,
}

fn cascade(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn set_null(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Integrations as I;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .if_not_exists()
                    .col(pk_uuid(I::Id))
                    .col(uuid(I::OrganizationId))
                    .col(text(I::Kind))
                    .col(text(I::Name))
                    // The validated options as JSON text.
                    .col(text(I::Options))
                    // Sealed (AEAD) under DORA_SECRET_KEY; never the secret in clear.
                    .col(text(I::Secret))
                    .col(text_null(I::PreviousSecret))
                    .col(timestamp_with_time_zone_null(I::PreviousSecretExpiresAt))
                    .col(timestamp_with_time_zone_null(I::SecretRotatedAt))
                    .col(big_integer(I::Deliveries).default(0))
                    .col(big_integer(I::Recorded).default(0))
                    .col(big_integer(I::Duplicates).default(0))
                    .col(big_integer(I::Ignored).default(0))
                    .col(big_integer(I::Unhandled).default(0))
                    .col(timestamp_with_time_zone_null(I::LastDeliveryAt))
                    .col(text_null(I::LastEvent))
                    .col(timestamp_with_time_zone(I::CreatedAt))
                    .col(timestamp_with_time_zone(I::UpdatedAt))
                    .foreign_key(&mut cascade(
                        (I::Table, I::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_integrations_org_name")
                    .table(I::Table)
                    .col(I::OrganizationId)
                    .col(I::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        use IntegrationDeliveries as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .if_not_exists()
                    .col(uuid(D::IntegrationId))
                    .col(text(D::DeliveryId))
                    .col(text(D::Event))
                    .col(text(D::Result))
                    .col(timestamp_with_time_zone(D::ReceivedAt))
                    .primary_key(Index::create().col(D::IntegrationId).col(D::DeliveryId))
                    .foreign_key(&mut cascade(
                        (D::Table, D::IntegrationId),
                        (I::Table, I::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // Forgetting old delivery ids.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_integration_deliveries_received_at")
                    .table(D::Table)
                    .col(D::ReceivedAt)
                    .to_owned(),
            )
            .await?;

        use SourceObjects as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .if_not_exists()
                    .col(uuid(S::OrganizationId))
                    // github, gitlab, …
                    .col(text(S::Source))
                    // deployment, deployment_status, workflow_run, issue, …
                    .col(text(S::Kind))
                    .col(uuid(S::RepositoryId))
                    // The source's id of the object, unique within its repository.
                    .col(text(S::ExternalId))
                    .col(uuid_null(S::DeploymentId))
                    .col(uuid_null(S::IncidentId))
                    // The version of the object last applied: a status's time and id, an
                    // issue's `updated_at`, a run's attempt.
                    .col(timestamp_with_time_zone_null(S::VersionAt))
                    .col(big_integer_null(S::VersionId))
                    .col(timestamp_with_time_zone(S::CreatedAt))
                    .col(timestamp_with_time_zone(S::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(S::OrganizationId)
                            .col(S::Source)
                            .col(S::Kind)
                            .col(S::RepositoryId)
                            .col(S::ExternalId),
                    )
                    .foreign_key(&mut cascade(
                        (S::Table, S::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut cascade(
                        (S::Table, S::RepositoryId),
                        (Repositories::Table, Repositories::Id),
                    ))
                    .foreign_key(&mut set_null(
                        (S::Table, S::DeploymentId),
                        (Deployments::Table, Deployments::Id),
                    ))
                    .foreign_key(&mut set_null(
                        (S::Table, S::IncidentId),
                        (Incidents::Table, Incidents::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        use Pushes as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .if_not_exists()
                    .col(pk_uuid(P::Id))
                    .col(uuid(P::OrganizationId))
                    .col(uuid(P::RepositoryId))
                    .col(text(P::Branch))
                    .col(text(P::BeforeSha))
                    .col(text(P::AfterSha))
                    .col(boolean(P::Forced))
                    .col(timestamp_with_time_zone(P::PushedAt))
                    .col(timestamp_with_time_zone(P::CreatedAt))
                    .foreign_key(&mut cascade(
                        (P::Table, P::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut cascade(
                        (P::Table, P::RepositoryId),
                        (Repositories::Table, Repositories::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // One push is recorded once however often it is delivered; the chain follows
        // `before` to the push whose `after` it is.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_pushes_repository_after_before_branch")
                    .table(P::Table)
                    .col(P::RepositoryId)
                    .col(P::AfterSha)
                    .col(P::BeforeSha)
                    .col(P::Branch)
                    .unique()
                    .to_owned(),
            )
            .await?;

        use PushCommits as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .if_not_exists()
                    .col(uuid(C::PushId))
                    // Order within the push, oldest first.
                    .col(integer(C::Position))
                    // A copy of the push's, for the sha lookup.
                    .col(uuid(C::RepositoryId))
                    .col(text(C::Sha))
                    .col(timestamp_with_time_zone(C::CommittedAt))
                    .primary_key(Index::create().col(C::PushId).col(C::Position))
                    .foreign_key(&mut cascade((C::Table, C::PushId), (P::Table, P::Id)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_push_commits_repository_sha")
                    .table(C::Table)
                    .col(C::RepositoryId)
                    .col(C::Sha)
                    .to_owned(),
            )
            .await?;

        use InferredCommits as N;
        manager
            .create_table(
                Table::create()
                    .table(N::Table)
                    .if_not_exists()
                    .col(pk_uuid(N::DeploymentId))
                    .col(uuid(N::OrganizationId))
                    .col(uuid(N::RepositoryId))
                    // The sha whose push was not recorded when the chain was followed.
                    .col(text_null(N::WaitingForSha))
                    .col(timestamp_with_time_zone(N::UpdatedAt))
                    .foreign_key(&mut cascade(
                        (N::Table, N::DeploymentId),
                        (Deployments::Table, Deployments::Id),
                    ))
                    .foreign_key(&mut cascade(
                        (N::Table, N::RepositoryId),
                        (Repositories::Table, Repositories::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_inferred_commits_waiting")
                    .table(N::Table)
                    .col(N::RepositoryId)
                    .col(N::WaitingForSha)
                    .to_owned(),
            )
            .await?;

        // SQLite alters one thing at a time.
        for column in [
            text(Incidents::Source).default("api").to_owned(),
            text_null(Incidents::SourceId),
            text_null(Incidents::SourceUrl),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Incidents::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // One incident per source object (NULL source ids, the API's, never collide).
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_incidents_org_source_id")
                    .table(Incidents::Table)
                    .col(Incidents::OrganizationId)
                    .col(Incidents::Source)
                    .col(Incidents::SourceId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_deployments_stream_commit")
                    .table(Deployments::Table)
                    .col(Deployments::RepositoryId)
                    .col(Deployments::Environment)
                    .col(Deployments::CommitId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deployments_stream_commit")
                    .table(Deployments::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_incidents_org_source_id")
                    .table(Incidents::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Incidents::SourceUrl, Incidents::SourceId, Incidents::Source] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Incidents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            InferredCommits::Table.into_iden(),
            PushCommits::Table.into_iden(),
            Pushes::Table.into_iden(),
            SourceObjects::Table.into_iden(),
            IntegrationDeliveries::Table.into_iden(),
            Integrations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
