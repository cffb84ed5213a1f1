//! Integrations and the bookkeeping of their deliveries: the delivery ids seen (redelivery
//! dedupe) and the counts and last delivery shown by `GET /api/v1/integrations/{id}`.

use chrono::{DateTime, Utc};
use entity::{integration_deliveries, integrations};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

/// How a verified delivery ended, for the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    /// It recorded or changed something (or found it already recorded).
    Recorded,
    /// The same delivery id again: nothing was done.
    Duplicate,
    /// A handled event that records nothing (another repository, an action without meaning
    /// for the metrics, a ping).
    Ignored,
    /// An event type the source adapter does not handle.
    Unhandled,
}

impl DeliveryResult {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Recorded => "recorded",
            DeliveryResult::Duplicate => "duplicate",
            DeliveryResult::Ignored => "ignored",
            DeliveryResult::Unhandled => "unhandled",
        }
    }
}

pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    model: integrations::Model,
) -> Result<integrations::Model, DbErr> {
    integrations::ActiveModel::from(model).insert(conn).await
}

/// The integration `id` of the organization.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<integrations::Model>, DbErr> {
    integrations::Entity::find_by_id(id)
        .filter(integrations::Column::OrganizationId.eq(organization_id))
        .one(conn)
        .await
}

/// [`find`] with the row locked until the transaction ends (PATCH, rotate).
pub async fn find_for_update<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<integrations::Model>, DbErr> {
    super::one_for_update(
        txn,
        integrations::Entity::find_by_id(id)
            .filter(integrations::Column::OrganizationId.eq(organization_id)),
    )
    .await
}

/// The integration a webhook URL names, whatever its organization (the secret it verifies
/// with is the credential).
pub async fn find_for_delivery<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<integrations::Model>, DbErr> {
    integrations::Entity::find_by_id(id).one(conn).await
}

/// Another integration of the organization with this name, if any.
pub async fn find_by_name<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    name: &str,
) -> Result<Option<integrations::Model>, DbErr> {
    integrations::Entity::find()
        .filter(integrations::Column::OrganizationId.eq(organization_id))
        .filter(integrations::Column::Name.eq(name))
        .one(conn)
        .await
}

/// The organization's integrations, oldest first.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
) -> Result<Vec<integrations::Model>, DbErr> {
    integrations::Entity::find()
        .filter(integrations::Column::OrganizationId.eq(organization_id))
        .order_by_asc(integrations::Column::CreatedAt)
        .order_by_asc(integrations::Column::Id)
        .all(conn)
        .await
}

/// Writes the changed fields of `current`.
pub async fn update<C: ConnectionTrait>(
    conn: &C,
    active: integrations::ActiveModel,
) -> Result<integrations::Model, DbErr> {
    active.update(conn).await
}

pub async fn delete<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    integrations::Entity::delete_by_id(id).exec(conn).await?;
    Ok(())
}

/// Remembers `delivery_id` for the integration; false when it was seen before (a
/// redelivery). On PostgreSQL a concurrent first delivery of the same id makes this wait for
/// it and then answer false.
pub async fn remember_delivery<C: ConnectionTrait>(
    txn: &C,
    integration_id: Uuid,
    delivery_id: &str,
    event: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let inserted = integration_deliveries::Entity::insert(integration_deliveries::ActiveModel {
        integration_id: Set(integration_id),
        delivery_id: Set(delivery_id.to_owned()),
        event: Set(event.to_owned()),
        result: Set(DeliveryResult::Recorded.as_str().to_owned()),
        received_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            integration_deliveries::Column::IntegrationId,
            integration_deliveries::Column::DeliveryId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(inserted == 1)
}

/// Notes what the delivery did.
pub async fn set_delivery_result<C: ConnectionTrait>(
    txn: &C,
    integration_id: Uuid,
    delivery_id: &str,
    result: DeliveryResult,
) -> Result<(), DbErr> {
    integration_deliveries::Entity::update_many()
        .col_expr(
            integration_deliveries::Column::Result,
            Expr::value(result.as_str()),
        )
        .filter(integration_deliveries::Column::IntegrationId.eq(integration_id))
        .filter(integration_deliveries::Column::DeliveryId.eq(delivery_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Counts one verified delivery (one statement, no read: concurrent deliveries add up).
pub async fn count_delivery<C: ConnectionTrait>(
    txn: &C,
    integration_id: Uuid,
    event: &str,
    result: DeliveryResult,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use integrations::Column as I;
    let column = match result {
        DeliveryResult::Recorded => I::Recorded,
        DeliveryResult::Duplicate => I::Duplicates,
        DeliveryResult::Ignored => I::Ignored,
        DeliveryResult::Unhandled => I::Unhandled,
    };
    integrations::Entity::update_many()
        .col_expr(I::Deliveries, Expr::col(I::Deliveries).add(1))
        .col_expr(column, Expr::col(column).add(1))
        .col_expr(I::LastDeliveryAt, Expr::value(now))
        .col_expr(I::LastEvent, Expr::value(event))
        .filter(I::Id.eq(integration_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Forgets delivery ids received before `before` (the source's own ids still deduplicate
/// what they recorded).
pub async fn purge_deliveries<C: ConnectionTrait>(
    conn: &C,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(integration_deliveries::Entity::delete_many()
        .filter(integration_deliveries::Column::ReceivedAt.lt(before))
        .exec(conn)
        .await?
        .rows_affected)
}
