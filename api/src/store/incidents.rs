//! Incidents: recorded, listed, read and resolved, always within one organization.

use chrono::{DateTime, Utc};
use entity::{deployments, incidents};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Select, sea_query::Condition,
};
use uuid::Uuid;

use super::outcomes::OutcomeChanges;

/// Records an incident; answers it and the verdicts it changed (of the deployment it is
/// attributed to), as every write of this module does.
pub async fn insert<C: ConnectionTrait>(
    txn: &C,
    incident: incidents::Model,
) -> Result<(incidents::Model, OutcomeChanges), DbErr> {
    let inserted = incidents::ActiveModel::from(incident).insert(txn).await?;
    let changes = super::outcomes::incident_changed(txn, None, Some(&inserted)).await?;
    Ok((inserted, changes))
}

/// Rewrites every field of an incident (its source brought it up to date).
pub async fn replace<C: ConnectionTrait>(
    txn: &C,
    incident: incidents::Model,
) -> Result<(incidents::Model, OutcomeChanges), DbErr> {
    let before = incidents::Entity::find_by_id(incident.id).one(txn).await?;
    // Every column changed (the primary key identifies the row).
    let after = incidents::ActiveModel::from(incident)
        .reset_all()
        .update(txn)
        .await?;
    let changes = super::outcomes::incident_changed(txn, before.as_ref(), Some(&after)).await?;
    Ok((after, changes))
}

/// Deletes the incident; answers it as it was, if there was one.
pub async fn delete<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<(Option<incidents::Model>, OutcomeChanges), DbErr> {
    let before = find(txn, organization_id, id).await?;
    incidents::Entity::delete_many()
        .filter(incidents::Column::Id.eq(id))
        .filter(incidents::Column::OrganizationId.eq(organization_id))
        .exec(txn)
        .await?;
    let changes = super::outcomes::incident_changed(txn, before.as_ref(), None).await?;
    Ok((before, changes))
}

/// The incident `id` of the organization.
fn by_id(organization_id: Uuid, id: Uuid) -> Select<incidents::Entity> {
    incidents::Entity::find_by_id(id).filter(incidents::Column::OrganizationId.eq(organization_id))
}

pub async fn find<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<incidents::Model>, DbErr> {
    by_id(organization_id, id).one(conn).await
}

/// [`find`] inside a write transaction, the row locked until it ends (resolving reads, checks,
/// then writes it; see [`super::one_for_update`]).
pub async fn find_for_update<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<incidents::Model>, DbErr> {
    super::one_for_update(txn, by_id(organization_id, id)).await
}

/// Whether the organization has recorded a production deployment to `environment` (of
/// `repository`, when given: then the lookup is one probe of the stream index).
pub async fn environment_is_production<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    repository_id: Option<Uuid>,
    environment: &str,
) -> Result<bool, DbErr> {
    use deployments::Column as D;
    let mut query = deployments::Entity::find()
        .select_only()
        .column(D::Number)
        .filter(D::OrganizationId.eq(organization_id))
        .filter(D::Environment.eq(environment))
        .filter(D::IsProduction.eq(true));
    if let Some(repository_id) = repository_id {
        query = query.filter(D::RepositoryId.eq(repository_id));
    }
    Ok(query
        .limit(1)
        .into_tuple::<i64>()
        .one(conn)
        .await?
        .is_some())
}

/// Filters of an incident listing; all optional.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub repository_id: Option<Uuid>,
    pub environment: Option<String>,
    pub deployment_id: Option<Uuid>,
    /// `Some(true)`: only open incidents; `Some(false)`: only resolved ones.
    pub open: Option<bool>,
    /// Only incidents from this source (`api`, `github`, …).
    pub source: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only incidents after this one in the listing order (the cursor of the previous page).
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// Latest start first (then by id), at most `limit`, plus whether more follow.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    filter: &ListFilter,
    limit: u64,
) -> Result<(Vec<incidents::Model>, bool), DbErr> {
    use incidents::Column as C;
    let mut query = incidents::Entity::find().filter(C::OrganizationId.eq(organization_id));
    if let Some(repository_id) = filter.repository_id {
        query = query.filter(C::RepositoryId.eq(repository_id));
    }
    if let Some(environment) = &filter.environment {
        query = query.filter(C::Environment.eq(environment.as_str()));
    }
    if let Some(deployment_id) = filter.deployment_id {
        query = query.filter(C::DeploymentId.eq(deployment_id));
    }
    if let Some(source) = &filter.source {
        query = query.filter(C::Source.eq(source.as_str()));
    }
    match filter.open {
        Some(true) => query = query.filter(C::ResolvedAt.is_null()),
        Some(false) => query = query.filter(C::ResolvedAt.is_not_null()),
        None => {}
    }
    if let Some(since) = filter.since {
        query = query.filter(C::StartedAt.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(C::StartedAt.lt(until));
    }
    if let Some((started_at, id)) = filter.after {
        query = query.filter(
            Condition::any().add(C::StartedAt.lt(started_at)).add(
                Condition::all()
                    .add(C::StartedAt.eq(started_at))
                    .add(C::Id.lt(id)),
            ),
        );
    }
    let mut rows = query
        .order_by_desc(C::StartedAt)
        .order_by_desc(C::Id)
        .limit(limit + 1)
        .all(conn)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Marks the incident resolved at `resolved_at`.
pub async fn resolve<C: ConnectionTrait>(
    txn: &C,
    current: incidents::Model,
    resolved_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(incidents::Model, OutcomeChanges), DbErr> {
    let before = current.clone();
    let mut active: incidents::ActiveModel = current.into();
    active.resolved_at = Set(Some(resolved_at));
    active.updated_at = Set(now);
    let resolved = active.update(txn).await?;
    let changes = super::outcomes::incident_changed(txn, Some(&before), Some(&resolved)).await?;
    Ok((resolved, changes))
}
