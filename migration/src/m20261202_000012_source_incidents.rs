//! `source_incidents`: the incidents of alerting sources (PagerDuty, Alertmanager) by the
//! source's own id, with the version of the source's state last applied.
//!
//! `source_objects` keys its rows by repository; an alert may name none (an unmapped PagerDuty
//! service, an alert without a repository label), so these rows are keyed by organization,
//! source and source id only. The row is claimed (created empty, then locked) before the
//! incident is written, so two deliveries of one incident run one after the other, and the
//! version (`version_at`, `version_rank`: when the source changed the incident, and whether
//! that change opened, reopened or resolved it) keeps a late or redelivered event from
//! undoing a later one.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SourceIncidents {
    Table,
    OrganizationId,
    Source,
    SourceId,
    IncidentId,
    VersionAt,
    VersionRank,
    CreatedAt,
    UpdatedAt,
}

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SourceIncidents as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .if_not_exists()
                    .col(uuid(S::OrganizationId))
                    // pagerduty, alertmanager
                    .col(text(S::Source))
                    // PagerDuty's incident id; an alert's fingerprint and start.
                    .col(text(S::SourceId))
                    .col(uuid_null(S::IncidentId))
                    .col(timestamp_with_time_zone_null(S::VersionAt))
                    .col(integer_null(S::VersionRank))
                    .col(timestamp_with_time_zone(S::CreatedAt))
                    .col(timestamp_with_time_zone(S::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(S::OrganizationId)
                            .col(S::Source)
                            .col(S::SourceId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(S::Table, S::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(S::Table, S::IncidentId)
                            .to(Incidents::Table, Incidents::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SourceIncidents::Table).to_owned())
            .await
    }
}
