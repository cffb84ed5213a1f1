//! Outbound webhooks: subscriptions and the outbox of their deliveries (see the migration
//! `m20261202_000011_outbound_webhooks`). A delivery row is written in the transaction of the
//! change it tells about; the delivery worker claims due rows one at a time with a lease.

use chrono::{DateTime, Utc};
use entity::{organizations, webhook_deliveries, webhook_subscriptions};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Expr, Query},
};
use uuid::Uuid;

/// A delivery's state.
pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

pub async fn insert_subscription<C: ConnectionTrait>(
    conn: &C,
    model: webhook_subscriptions::Model,
) -> Result<webhook_subscriptions::Model, DbErr> {
    webhook_subscriptions::ActiveModel::from(model)
        .insert(conn)
        .await
}

/// Subscription `id` of the organization.
pub async fn find_subscription<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<webhook_subscriptions::Model>, DbErr> {
    webhook_subscriptions::Entity::find_by_id(id)
        .filter(webhook_subscriptions::Column::OrganizationId.eq(organization_id))
        .one(conn)
        .await
}

/// [`find_subscription`] with the row locked until the transaction ends.
pub async fn find_subscription_for_update<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<webhook_subscriptions::Model>, DbErr> {
    super::one_for_update(
        txn,
        webhook_subscriptions::Entity::find_by_id(id)
            .filter(webhook_subscriptions::Column::OrganizationId.eq(organization_id)),
    )
    .await
}

/// The organization's subscriptions, oldest first.
pub async fn list_subscriptions<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
) -> Result<Vec<webhook_subscriptions::Model>, DbErr> {
    webhook_subscriptions::Entity::find()
        .filter(webhook_subscriptions::Column::OrganizationId.eq(organization_id))
        .order_by_asc(webhook_subscriptions::Column::CreatedAt)
        .order_by_asc(webhook_subscriptions::Column::Id)
        .all(conn)
        .await
}

/// The organization's active subscriptions (the event filter is applied by the caller).
pub async fn active_subscriptions<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
) -> Result<Vec<webhook_subscriptions::Model>, DbErr> {
    webhook_subscriptions::Entity::find()
        .filter(webhook_subscriptions::Column::OrganizationId.eq(organization_id))
        .filter(webhook_subscriptions::Column::Active.eq(true))
        .order_by_asc(webhook_subscriptions::Column::CreatedAt)
        .all(conn)
        .await
}

pub async fn update_subscription<C: ConnectionTrait>(
    conn: &C,
    active: webhook_subscriptions::ActiveModel,
) -> Result<webhook_subscriptions::Model, DbErr> {
    active.update(conn).await
}

pub async fn delete_subscription<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    webhook_subscriptions::Entity::delete_by_id(id)
        .exec(conn)
        .await?;
    Ok(())
}

/// The organization's slug (for payloads).
pub async fn organization_slug<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
) -> Result<Option<String>, DbErr> {
    Ok(organizations::Entity::find_by_id(organization_id)
        .one(conn)
        .await?
        .map(|o| o.slug))
}

pub async fn insert_delivery<C: ConnectionTrait>(
    conn: &C,
    model: webhook_deliveries::Model,
) -> Result<webhook_deliveries::Model, DbErr> {
    webhook_deliveries::ActiveModel::from(model)
        .insert(conn)
        .await
}

/// Up to `limit` pending deliveries of active subscriptions that are due at `now` and not
/// held by a live lease, the longest waiting first.
pub async fn due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    use webhook_deliveries::Column as D;
    let active = Query::select()
        .column(webhook_subscriptions::Column::Id)
        .from(webhook_subscriptions::Entity)
        .and_where(webhook_subscriptions::Column::Active.eq(true))
        .to_owned();
    webhook_deliveries::Entity::find()
        .select_only()
        .column(D::Id)
        .filter(D::State.eq(PENDING))
        .filter(D::NextAttemptAt.lte(now))
        .filter(D::ClaimedUntil.is_null().or(D::ClaimedUntil.lt(now)))
        .filter(D::SubscriptionId.in_subquery(active))
        .order_by_asc(D::NextAttemptAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await
}

/// Takes delivery `id` for `instance` until `until`, if it is still pending and no live lease
/// holds it: one conditional statement, so of two instances racing for a row one wins.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    instance: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use webhook_deliveries::Column as D;
    let result = webhook_deliveries::Entity::update_many()
        .col_expr(D::ClaimedBy, Expr::value(instance))
        .col_expr(D::ClaimedUntil, Expr::value(until))
        .filter(D::Id.eq(id))
        .filter(D::State.eq(PENDING))
        .filter(D::ClaimedUntil.is_null().or(D::ClaimedUntil.lt(now)))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// A claimed delivery and its subscription.
pub async fn delivery_with_subscription<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<(webhook_deliveries::Model, webhook_subscriptions::Model)>, DbErr> {
    let Some(delivery) = webhook_deliveries::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    let subscription = webhook_subscriptions::Entity::find_by_id(delivery.subscription_id)
        .one(conn)
        .await?;
    Ok(subscription.map(|s| (delivery, s)))
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub state: &'static str,
    pub next_attempt_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// Records an attempt of delivery `id` and releases the claim, if `instance` still holds it
/// (false when its lease ran out and another instance took the row).
pub async fn record_attempt<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    instance: &str,
    attempt: &Attempt,
) -> Result<bool, DbErr> {
    use webhook_deliveries::Column as D;
    let finished = (attempt.state != PENDING).then_some(attempt.at);
    let result = webhook_deliveries::Entity::update_many()
        .col_expr(D::State, Expr::value(attempt.state))
        .col_expr(D::Attempts, Expr::col(D::Attempts).add(1))
        .col_expr(D::NextAttemptAt, Expr::value(attempt.next_attempt_at))
        .col_expr(D::StatusCode, Expr::value(attempt.status_code))
        .col_expr(D::DurationMs, Expr::value(attempt.duration_ms))
        .col_expr(D::Error, Expr::value(attempt.error.clone()))
        .col_expr(D::LastAttemptAt, Expr::value(attempt.at))
        .col_expr(D::FinishedAt, Expr::value(finished))
        .col_expr(D::ClaimedBy, Expr::value(Option::<String>::None))
        .col_expr(D::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(D::Id.eq(id))
        .filter(D::ClaimedBy.eq(instance))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Gives back the rows `instance` holds (at shutdown), so another instance or the next start
/// sends them without waiting for the leases to end.
pub async fn release_claims<C: ConnectionTrait>(conn: &C, instance: &str) -> Result<u64, DbErr> {
    use webhook_deliveries::Column as D;
    Ok(webhook_deliveries::Entity::update_many()
        .col_expr(D::ClaimedBy, Expr::value(Option::<String>::None))
        .col_expr(D::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(D::ClaimedBy.eq(instance))
        .filter(D::State.eq(PENDING))
        .exec(conn)
        .await?
        .rows_affected)
}

/// A subscription's deliveries, newest first; `before` is the previous page's last id.
pub async fn list_deliveries<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    subscription_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<webhook_deliveries::Model>, DbErr> {
    use webhook_deliveries::Column as D;
    let mut query = webhook_deliveries::Entity::find()
        .filter(D::OrganizationId.eq(organization_id))
        .filter(D::SubscriptionId.eq(subscription_id));
    if let Some(before) = before {
        query = query.filter(D::Id.lt(before));
    }
    query.order_by_desc(D::Id).limit(limit).all(conn).await
}

pub async fn find_delivery<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    subscription_id: Uuid,
    id: Uuid,
) -> Result<Option<webhook_deliveries::Model>, DbErr> {
    use webhook_deliveries::Column as D;
    webhook_deliveries::Entity::find_by_id(id)
        .filter(D::OrganizationId.eq(organization_id))
        .filter(D::SubscriptionId.eq(subscription_id))
        .one(conn)
        .await
}

/// A delivery succeeded: the subscription's failure streak ends.
pub async fn subscription_succeeded<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    use webhook_subscriptions::Column as S;
    webhook_subscriptions::Entity::update_many()
        .col_expr(S::FailedInARow, Expr::value(0))
        .col_expr(S::LastSuccessAt, Expr::value(at))
        .filter(S::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A delivery failed for good; with `disable`, the subscription is disabled for `reason`.
pub async fn subscription_failed<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    at: DateTime<Utc>,
    disable: Option<&str>,
) -> Result<(), DbErr> {
    use webhook_subscriptions::Column as S;
    let mut update = webhook_subscriptions::Entity::update_many()
        .col_expr(S::FailedInARow, Expr::col(S::FailedInARow).add(1))
        .col_expr(S::LastFailureAt, Expr::value(at));
    if let Some(reason) = disable {
        update = update
            .col_expr(S::Active, Expr::value(false))
            .col_expr(S::DisabledReason, Expr::value(reason))
            .col_expr(S::UpdatedAt, Expr::value(at));
    }
    update.filter(S::Id.eq(id)).exec(conn).await?;
    Ok(())
}

/// The branch of the repository's latest deployment (a repository dispatch's `branch`).
pub async fn latest_branch<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
) -> Result<Option<String>, DbErr> {
    use entity::deployments::Column as C;
    Ok(entity::deployments::Entity::find()
        .filter(C::OrganizationId.eq(organization_id))
        .filter(C::RepositoryId.eq(repository_id))
        .order_by_desc(C::Number)
        .one(conn)
        .await?
        .map(|d| d.branch))
}

/// The tier last seen for (organization, scope, metric), if any was.
pub async fn tier<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    scope: &str,
    metric: &str,
) -> Result<Option<Option<String>>, DbErr> {
    Ok(entity::dora_tiers::Entity::find_by_id((
        organization_id,
        scope.to_owned(),
        metric.to_owned(),
    ))
    .one(conn)
    .await?
    .map(|t| t.tier))
}

/// Records the first tier seen (no event: there is nothing to compare with); false when
/// another instance recorded one first.
pub async fn insert_tier<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    scope: &str,
    metric: &str,
    tier: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use entity::dora_tiers::{ActiveModel, Column as T, Entity};
    use sea_orm::ActiveValue::Set;
    let inserted = Entity::insert(ActiveModel {
        organization_id: Set(organization_id),
        scope: Set(scope.to_owned()),
        metric: Set(metric.to_owned()),
        tier: Set(tier.map(str::to_owned)),
        updated_at: Set(now),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::columns([T::OrganizationId, T::Scope, T::Metric])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted == 1)
}

/// Swaps the tier from `previous` to `tier`; false when it is no longer `previous` (another
/// instance's refresh swapped it, and emitted the event).
pub async fn swap_tier<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    scope: &str,
    metric: &str,
    previous: Option<&str>,
    tier: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use entity::dora_tiers::{Column as T, Entity};
    let mut update = Entity::update_many()
        .col_expr(T::Tier, Expr::value(tier.map(str::to_owned)))
        .col_expr(T::UpdatedAt, Expr::value(now))
        .filter(T::OrganizationId.eq(organization_id))
        .filter(T::Scope.eq(scope))
        .filter(T::Metric.eq(metric));
    update = match previous {
        Some(p) => update.filter(T::Tier.eq(p)),
        None => update.filter(T::Tier.is_null()),
    };
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Every recorded tier: ((organization, scope, metric), tier).
pub async fn all_tiers<C: ConnectionTrait>(
    conn: &C,
) -> Result<Vec<((Uuid, String, String), Option<String>)>, DbErr> {
    Ok(entity::dora_tiers::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|t| ((t.organization_id, t.scope, t.metric), t.tier))
        .collect())
}
