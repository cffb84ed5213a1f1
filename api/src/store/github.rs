//! Queries of the GitHub-compatible deployments API: deployments addressed by their
//! integer `number` within one repository, with their GitHub-only fields.

use std::collections::HashMap;

use entity::{deployments, github_deployments, incidents, members};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// A deployment as the GitHub API shows it.
#[derive(Debug, Clone)]
pub struct GithubRecord {
    pub deployment: deployments::Model,
    /// None for deployments recorded through another API.
    pub details: Option<github_deployments::Model>,
    /// The member who deployed (external id), for deployments without `details.creator`.
    pub member: Option<String>,
}

/// GitHub's list filters.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    pub task: Option<String>,
    pub environment: Option<String>,
}

pub async fn insert_details<C: ConnectionTrait>(
    txn: &C,
    details: github_deployments::Model,
) -> Result<(), DbErr> {
    github_deployments::ActiveModel::from(details)
        .insert(txn)
        .await
        .map(|_| ())
}

async fn with_members<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<(deployments::Model, Option<github_deployments::Model>)>,
) -> Result<Vec<GithubRecord>, DbErr> {
    let mut ids: Vec<Uuid> = rows.iter().filter_map(|(d, _)| d.pusher_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let names: HashMap<Uuid, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        members::Entity::find()
            .filter(members::Column::Id.is_in(ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|m| (m.id, m.external_id))
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|(deployment, details)| GithubRecord {
            member: deployment.pusher_id.and_then(|p| names.get(&p).cloned()),
            deployment,
            details,
        })
        .collect())
}

/// The deployment numbered `number` of the repository, in the organization.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
    number: i64,
) -> Result<Option<GithubRecord>, DbErr> {
    let row = deployments::Entity::find()
        .find_also_related(github_deployments::Entity)
        .filter(deployments::Column::Number.eq(number))
        .filter(deployments::Column::OrganizationId.eq(organization_id))
        .filter(deployments::Column::RepositoryId.eq(repository_id))
        .one(conn)
        .await?;
    Ok(match row {
        Some(row) => with_members(conn, vec![row]).await?.pop(),
        None => None,
    })
}

/// Newest first, one page (`offset`, `limit`), and how many match in all.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
    filter: &ListFilter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<GithubRecord>, u64), DbErr> {
    use deployments::Column as D;
    let mut query = deployments::Entity::find()
        .find_also_related(github_deployments::Entity)
        .filter(D::OrganizationId.eq(organization_id))
        .filter(D::RepositoryId.eq(repository_id));
    if let Some(sha) = &filter.sha {
        query = query.filter(D::CommitId.eq(sha.to_ascii_lowercase()));
    }
    if let Some(git_ref) = &filter.git_ref {
        query = query.filter(D::Branch.eq(git_ref.as_str()));
    }
    if let Some(environment) = &filter.environment {
        query = query.filter(D::Environment.eq(environment.as_str()));
    }
    if let Some(task) = &filter.task {
        // Deployments recorded through other APIs are plain `deploy` tasks.
        let mut matches = Condition::any().add(github_deployments::Column::Task.eq(task.as_str()));
        if task == "deploy" {
            matches = matches.add(github_deployments::Column::DeploymentId.is_null());
        }
        query = query.filter(matches);
    }
    let total = query.clone().count(conn).await?;
    let rows = query
        .order_by_desc(D::Number)
        .offset(offset)
        .limit(limit)
        .all(conn)
        .await?;
    Ok((with_members(conn, rows).await?, total))
}

/// How many deployments the repository has.
pub async fn count_in_repository<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
) -> Result<u64, DbErr> {
    deployments::Entity::find()
        .filter(deployments::Column::OrganizationId.eq(organization_id))
        .filter(deployments::Column::RepositoryId.eq(repository_id))
        .count(conn)
        .await
}

/// Deletes a deployment; its commits, statuses, GitHub fields and outcome go with it, and the
/// incidents that named it are attributed by repository and time from now on. The outcomes
/// around it are re-derived; answers the verdicts that changed.
pub async fn delete<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<super::outcomes::OutcomeChanges, DbErr> {
    let Some(deployment) = deployments::Entity::find()
        .filter(deployments::Column::Id.eq(id))
        .one(conn)
        .await?
    else {
        return Ok(Vec::new());
    };
    let before = super::outcomes::Placement::read(conn, &deployment).await?;
    let named = incidents::Entity::find()
        .filter(incidents::Column::DeploymentId.eq(id))
        .all(conn)
        .await?;
    deployments::Entity::delete_many()
        .filter(deployments::Column::Id.eq(id))
        .exec(conn)
        .await?;
    let mut changes = super::outcomes::deployment_changed(conn, Some(&before), None).await?;
    for incident in named {
        let after = incidents::Model {
            deployment_id: None,
            ..incident
        };
        changes.extend(super::outcomes::incident_changed(conn, None, Some(&after)).await?);
    }
    Ok(changes)
}
