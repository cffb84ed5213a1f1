//! What the web page's overview lists besides the metrics: the organization's repositories
//! (for its controls), the newest deployments of a metrics scope and its open incidents.

use chrono::{DateTime, Utc};
use entity::{deployments, incidents, repositories};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use super::facts::MetricsScope;

/// A repository of the organization.
#[derive(Debug, Clone)]
pub struct RepositoryEntry {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    pub team: Option<String>,
}

/// Every repository of the organization, by name.
pub async fn repositories<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
) -> Result<Vec<RepositoryEntry>, DbErr> {
    Ok(repositories::Entity::find()
        .filter(repositories::Column::OrganizationId.eq(organization_id))
        .order_by_asc(repositories::Column::Name)
        .order_by_asc(repositories::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| RepositoryEntry {
            id: r.id,
            name: r.name,
            url: r.url,
            team: r.team,
        })
        .collect())
}

/// The scope's repository, team and environment filters on a deployments query.
fn deployments_in(scope: &MetricsScope) -> Select<deployments::Entity> {
    use deployments::Column as C;
    let mut query = deployments::Entity::find().filter(C::OrganizationId.eq(scope.organization_id));
    query = match &scope.environment {
        Some(environment) => query.filter(C::Environment.eq(environment.as_str())),
        None => query.filter(C::IsProduction.eq(true)),
    };
    if let Some(repository_id) = scope.repository_id {
        query = query.filter(C::RepositoryId.eq(repository_id));
    }
    if let Some(repositories) = &scope.team_repositories {
        query = query.filter(C::RepositoryId.is_in(repositories.iter().copied()));
    }
    query
}

/// The newest deployments of the scope deployed in `[from, to)`, newest first (by deployed-at,
/// then number), at most `limit`; any status. Reads `ix_deployments_window`.
pub async fn recent_deployments<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<deployments::Model>, DbErr> {
    use deployments::Column as C;
    deployments_in(scope)
        .filter(C::DeployedAt.gte(from))
        .filter(C::DeployedAt.lt(to))
        .order_by_desc(C::DeployedAt)
        .order_by_desc(C::Number)
        .limit(limit)
        .all(conn)
        .await
}

/// The scope's incidents that are not resolved, latest start first, at most `limit`.
pub async fn open_incidents<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    limit: u64,
) -> Result<Vec<incidents::Model>, DbErr> {
    use incidents::Column as C;
    let mut query = incidents::Entity::find()
        .filter(C::OrganizationId.eq(scope.organization_id))
        .filter(C::ResolvedAt.is_null());
    query = match &scope.environment {
        Some(environment) => query.filter(C::Environment.eq(environment.as_str())),
        None => query.filter(C::IsProduction.eq(true)),
    };
    if let Some(repository_id) = scope.repository_id {
        query = query.filter(C::RepositoryId.eq(repository_id));
    }
    if let Some(repositories) = &scope.team_repositories {
        query = query.filter(C::RepositoryId.is_in(repositories.iter().copied()));
    }
    query
        .order_by_desc(C::StartedAt)
        .order_by_desc(C::Id)
        .limit(limit)
        .all(conn)
        .await
}
