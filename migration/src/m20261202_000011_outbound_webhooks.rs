//! Outbound webhooks: an organization's subscriptions, and the outbox of their deliveries.
//!
//! - `webhook_subscriptions`: where events are sent (`url`), which (`events`, a JSON array),
//!   the signing secret sealed under `DORA_SECRET_KEY`, whether it is active and why it was
//!   disabled, and the bookkeeping that decides when a failing one is disabled;
//! - `webhook_deliveries`: the outbox. A row is written in the same transaction as the change
//!   that caused it, so a committed change always has its deliveries, and a crash loses none.
//!   The delivery worker of any instance claims a due row (`claimed_by`, `claimed_until`: a
//!   lease, so the row of a crashed instance is taken again once its lease ends), sends it and
//!   records the attempt. `guid` is the id receivers see (`X-Dora-Delivery`); a redelivery is
//!   a new row with the same `guid`;
//! - `dora_tiers`: the 30-day tier of each key metric per organization and repository at the
//!   last snapshot refresh, so a change is noticed (and `dora.tier_changed` emitted) once,
//!   by whichever instance's refresh swaps it first.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    Id,
    OrganizationId,
    Url,
    Events,
    Description,
    Active,
    Secret,
    DisabledReason,
    FailedInARow,
    LastSuccessAt,
    LastFailureAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    Guid,
    OrganizationId,
    SubscriptionId,
    Event,
    Action,
    Payload,
    Redelivery,
    State,
    Attempts,
    NextAttemptAt,
    ClaimedBy,
    ClaimedUntil,
    StatusCode,
    DurationMs,
    Error,
    CreatedAt,
    LastAttemptAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum DoraTiers {
    Table,
    OrganizationId,
    Scope,
    Metric,
    Tier,
    UpdatedAt,
}

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use WebhookSubscriptions as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .if_not_exists()
                    .col(pk_uuid(S::Id))
                    .col(uuid(S::OrganizationId))
                    .col(text(S::Url))
                    // JSON array of event names.
                    .col(text(S::Events))
                    .col(text_null(S::Description))
                    .col(boolean(S::Active))
                    // Sealed (AEAD) under DORA_SECRET_KEY; never the secret in clear.
                    .col(text(S::Secret))
                    .col(text_null(S::DisabledReason))
                    // Deliveries that failed for good since the last success.
                    .col(integer(S::FailedInARow).default(0))
                    .col(timestamp_with_time_zone_null(S::LastSuccessAt))
                    .col(timestamp_with_time_zone_null(S::LastFailureAt))
                    .col(timestamp_with_time_zone(S::CreatedAt))
                    .col(timestamp_with_time_zone(S::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(S::Table, S::OrganizationId)
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
                    .name("ix_webhook_subscriptions_org")
                    .table(S::Table)
                    .col(S::OrganizationId)
                    .col(S::CreatedAt)
                    .to_owned(),
            )
            .await?;

        use WebhookDeliveries as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .if_not_exists()
                    .col(pk_uuid(D::Id))
                    .col(uuid(D::Guid))
                    .col(uuid(D::OrganizationId))
                    .col(uuid(D::SubscriptionId))
                    .col(text(D::Event))
                    .col(text_null(D::Action))
                    // The JSON body, exactly as sent and signed.
                    .col(text(D::Payload))
                    .col(boolean(D::Redelivery))
                    // pending, delivered, failed
                    .col(text(D::State))
                    .col(integer(D::Attempts).default(0))
                    .col(timestamp_with_time_zone(D::NextAttemptAt))
                    .col(text_null(D::ClaimedBy))
                    .col(timestamp_with_time_zone_null(D::ClaimedUntil))
                    // The last attempt's answer.
                    .col(integer_null(D::StatusCode))
                    .col(big_integer_null(D::DurationMs))
                    .col(text_null(D::Error))
                    .col(timestamp_with_time_zone(D::CreatedAt))
                    .col(timestamp_with_time_zone_null(D::LastAttemptAt))
                    .col(timestamp_with_time_zone_null(D::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(D::Table, D::SubscriptionId)
                            .to(S::Table, S::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(D::Table, D::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The worker's scan: due pending rows.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_webhook_deliveries_due")
                    .table(D::Table)
                    .col(D::State)
                    .col(D::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // A subscription's deliveries, newest first.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_webhook_deliveries_subscription")
                    .table(D::Table)
                    .col(D::SubscriptionId)
                    .col(D::Id)
                    .to_owned(),
            )
            .await?;
        use DoraTiers as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .if_not_exists()
                    .col(uuid(T::OrganizationId))
                    // `organization`, or `repository:<name>:<environment>`.
                    .col(text(T::Scope))
                    .col(text(T::Metric))
                    // elite, high, medium, low; NULL: no tier (no data).
                    .col(text_null(T::Tier))
                    .col(timestamp_with_time_zone(T::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(T::OrganizationId)
                            .col(T::Scope)
                            .col(T::Metric),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(T::Table, T::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DoraTiers::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            WebhookSubscriptions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
