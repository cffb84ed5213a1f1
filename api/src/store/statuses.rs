//! Deployment statuses: an append-only history per deployment. Posting one also moves the
//! deployment's canonical `status` and timing (the metrics read only `deployments`), and a
//! `success` may mark earlier deployments inactive (GitHub's `auto_inactive`).

use chrono::{DateTime, Utc};
use entity::{deployment_statuses, deployments, github_deployments};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, JoinType, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};
use uuid::Uuid;

use super::outcomes::OutcomeChanges;
use crate::domain::{GithubState, NewStatus, Status};

/// The appended status and the deployment as it is now.
#[derive(Debug, Clone)]
pub struct Posted {
    pub status: deployment_statuses::Model,
    pub deployment: deployments::Model,
    /// The earlier deployments a `success` with `auto_inactive` marked inactive: each one's
    /// status before, and the deployment as it is now.
    pub inactivated: Vec<(String, deployments::Model)>,
    /// The verdicts of other deployments the post changed.
    pub outcome_changes: OutcomeChanges,
}

/// Appends `new` to `deployment`'s history in `txn` and applies it to the deployment row.
pub async fn post<C: ConnectionTrait>(
    txn: &C,
    deployment: deployments::Model,
    new: &NewStatus,
    now: DateTime<Utc>,
) -> Result<Posted, DbErr> {
    post_at(txn, deployment, new, now, now).await
}

/// [`post`] for a status set at `at` by another system (a webhook source): the history entry
/// and the timing it sets (started, finished, deployed at) are at `at`.
pub async fn post_at<C: ConnectionTrait>(
    txn: &C,
    deployment: deployments::Model,
    new: &NewStatus,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Posted, DbErr> {
    let environment = new
        .environment
        .clone()
        .unwrap_or_else(|| deployment.environment.clone());
    let earlier: Vec<String> = deployment_statuses::Entity::find()
        .select_only()
        .column(deployment_statuses::Column::State)
        .filter(deployment_statuses::Column::DeploymentId.eq(deployment.id))
        .into_tuple()
        .all(txn)
        .await?;
    let status = append(
        txn,
        &deployment,
        new.state,
        &new.description,
        new.log_url.clone(),
        new.environment_url.clone(),
        &environment,
        new.creator.clone(),
        at,
    )
    .await?;
    if environment != deployment.environment {
        super::deployments::moved_to_stream(
            txn,
            deployment.id,
            deployment.repository_id,
            &environment,
        )
        .await?;
    }
    let before = deployment.clone();
    let deployment = apply(txn, deployment, new.state, &environment, &earlier, at, now).await?;
    let mut outcome_changes =
        super::outcomes::deployment_updated(txn, &before, &deployment).await?;
    let inactivated = if new.state == GithubState::Success && new.auto_inactive {
        inactivate_prior(
            txn,
            &deployment,
            new.creator.clone(),
            now,
            &mut outcome_changes,
        )
        .await?
    } else {
        Vec::new()
    };
    Ok(Posted {
        status,
        deployment,
        inactivated,
        outcome_changes,
    })
}

/// Appends to the history the status a request set directly on the deployment row (PATCH,
/// admin replace), so the latest status stays the deployment's current one. `deployment` is
/// the row after the change, `previous_status` its status before. Nothing when the status did
/// not change, or has no GitHub state (`canceled`).
pub async fn record_set_status<C: ConnectionTrait>(
    txn: &C,
    previous_status: &str,
    deployment: &deployments::Model,
    description: &str,
    creator: Option<String>,
    now: DateTime<Utc>,
) -> Result<Option<deployment_statuses::Model>, DbErr> {
    if deployment.status == previous_status {
        return Ok(None);
    }
    let Some(state) = deployment
        .status
        .parse::<Status>()
        .ok()
        .and_then(Status::github_state)
    else {
        return Ok(None);
    };
    append(
        txn,
        deployment,
        state,
        description,
        None,
        None,
        &deployment.environment,
        creator,
        now,
    )
    .await
    .map(Some)
}

/// Appends `new` to the history at `at` without moving the deployment (a status older than
/// the one the deployment shows, delivered late: kept, never regressing the deployment).
pub async fn append_only<C: ConnectionTrait>(
    txn: &C,
    deployment: &deployments::Model,
    new: &NewStatus,
    at: DateTime<Utc>,
) -> Result<deployment_statuses::Model, DbErr> {
    let environment = new
        .environment
        .clone()
        .unwrap_or_else(|| deployment.environment.clone());
    append(
        txn,
        deployment,
        new.state,
        &new.description,
        new.log_url.clone(),
        new.environment_url.clone(),
        &environment,
        new.creator.clone(),
        at,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn append<C: ConnectionTrait>(
    txn: &C,
    deployment: &deployments::Model,
    state: GithubState,
    description: &str,
    log_url: Option<String>,
    environment_url: Option<String>,
    environment: &str,
    creator: Option<String>,
    now: DateTime<Utc>,
) -> Result<deployment_statuses::Model, DbErr> {
    deployment_statuses::ActiveModel {
        deployment_id: Set(deployment.id),
        organization_id: Set(deployment.organization_id),
        state: Set(state.as_str().to_owned()),
        description: Set(description.to_owned()),
        log_url: Set(log_url),
        environment_url: Set(environment_url),
        environment: Set(environment.to_owned()),
        creator: Set(creator),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await
}

/// Moves the deployment row: status to the latest state; `in_progress` starts it; the
/// first `success` finishes it (unless a client gave `finished_at` itself), `failure` and
/// `error` finish it if nothing did before; `inactive` over a success keeps it finished,
/// so it still counts as the success it was.
#[allow(clippy::too_many_arguments)]
async fn apply<C: ConnectionTrait>(
    txn: &C,
    deployment: deployments::Model,
    state: GithubState,
    environment: &str,
    earlier_states: &[String],
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<deployments::Model, DbErr> {
    let current = deployment.status.parse().unwrap_or(Status::Queued);
    let next = state.next_status(current);
    let mut started_at = deployment.started_at;
    let mut finished_at = deployment.finished_at;
    match state {
        GithubState::InProgress if started_at.is_none() => started_at = Some(at),
        GithubState::Success => {
            let first_success = !earlier_states.iter().any(|s| s == "success");
            // A finish time set by an earlier failure/error status is that attempt's, not
            // this success's; one given by the client stands.
            let set_by_failure = earlier_states
                .iter()
                .any(|s| s == "failure" || s == "error");
            if first_success && (finished_at.is_none() || set_by_failure) {
                finished_at = Some(at);
            }
        }
        GithubState::Failure | GithubState::Error if finished_at.is_none() => {
            finished_at = Some(at);
        }
        GithubState::Inactive if next == Status::Inactive && current == Status::Success => {
            finished_at = finished_at.or(Some(deployment.deployed_at));
        }
        _ => {}
    }
    let duration = match (deployment.duration_seconds, started_at, finished_at) {
        (None, Some(s), Some(f)) if f >= s => Some((f - s).num_seconds()),
        (d, _, _) => d,
    };
    let deployed_at = finished_at.unwrap_or(deployment.created_at);
    let mut active: deployments::ActiveModel = deployment.into();
    active.status = Set(next.as_str().to_owned());
    active.started_at = Set(started_at);
    active.finished_at = Set(finished_at);
    active.deployed_at = Set(deployed_at);
    active.duration_seconds = Set(duration);
    active.environment = Set(environment.to_owned());
    active.updated_at = Set(now);
    active.update(txn).await
}

/// GitHub's `auto_inactive`: every earlier deployment of the same repository and
/// environment that is non-transient, non-production and whose state is `success` gets an
/// `inactive` status appended (history is never rewritten).
async fn inactivate_prior<C: ConnectionTrait>(
    txn: &C,
    deployment: &deployments::Model,
    creator: Option<String>,
    now: DateTime<Utc>,
    outcome_changes: &mut OutcomeChanges,
) -> Result<Vec<(String, deployments::Model)>, DbErr> {
    use deployments::Column as D;
    let prior = deployments::Entity::find()
        .join(
            JoinType::LeftJoin,
            github_deployments::Relation::Deployments.def().rev(),
        )
        .filter(D::OrganizationId.eq(deployment.organization_id))
        .filter(D::RepositoryId.eq(deployment.repository_id))
        .filter(D::Environment.eq(deployment.environment.as_str()))
        .filter(D::Number.lt(deployment.number))
        .filter(D::Status.eq(Status::Success.as_str()))
        .filter(D::IsProduction.eq(false))
        .filter(
            Condition::any()
                .add(github_deployments::Column::DeploymentId.is_null())
                .add(github_deployments::Column::TransientEnvironment.eq(false)),
        )
        .order_by_asc(D::Number)
        .all(txn)
        .await?;
    let mut inactivated = Vec::with_capacity(prior.len());
    for old in prior {
        let environment = old.environment.clone();
        append(
            txn,
            &old,
            GithubState::Inactive,
            "",
            None,
            None,
            &environment,
            creator.clone(),
            now,
        )
        .await?;
        let before = old.clone();
        let after = apply(txn, old, GithubState::Inactive, &environment, &[], now, now).await?;
        outcome_changes.extend(super::outcomes::deployment_updated(txn, &before, &after).await?);
        inactivated.push((before.status, after));
    }
    Ok(inactivated)
}

/// Newest first: at most `limit` after skipping `offset`, only ids below `before_id`.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    deployment_id: Uuid,
    before_id: Option<i64>,
    offset: u64,
    limit: u64,
) -> Result<Vec<deployment_statuses::Model>, DbErr> {
    let mut query = deployment_statuses::Entity::find()
        .filter(deployment_statuses::Column::DeploymentId.eq(deployment_id));
    if let Some(before) = before_id {
        query = query.filter(deployment_statuses::Column::Id.lt(before));
    }
    query
        .order_by_desc(deployment_statuses::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(conn)
        .await
}

pub async fn count<C: ConnectionTrait>(conn: &C, deployment_id: Uuid) -> Result<u64, DbErr> {
    deployment_statuses::Entity::find()
        .filter(deployment_statuses::Column::DeploymentId.eq(deployment_id))
        .count(conn)
        .await
}

pub async fn get<C: ConnectionTrait>(
    conn: &C,
    deployment_id: Uuid,
    status_id: i64,
) -> Result<Option<deployment_statuses::Model>, DbErr> {
    deployment_statuses::Entity::find_by_id(status_id)
        .filter(deployment_statuses::Column::DeploymentId.eq(deployment_id))
        .one(conn)
        .await
}

/// The state of the deployment's latest status, if it has any.
pub async fn latest_state<C: ConnectionTrait>(
    conn: &C,
    deployment_id: Uuid,
) -> Result<Option<String>, DbErr> {
    Ok(list(conn, deployment_id, None, 0, 1)
        .await?
        .pop()
        .map(|s| s.state))
}
