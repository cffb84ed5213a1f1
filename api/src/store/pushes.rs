//! Pushed commits per repository, and the commits a deployment without explicit ones shipped,
//! inferred from them.
//!
//! The rule (README, "Lead time from pushes"): from the deployed sha, follow the recorded pushes
//! back — the push that brought the sha (on the deployment's branch first), its commits up to
//! that sha, then the push whose `after` is its `before`, and so on — until a sha that a
//! successful deployment of the same stream (repository, environment) already shipped, a forced
//! push (its own commits count, nothing before it), a new branch, a push that was not recorded,
//! or [`MAX_INFERRED_COMMITS`]. When the chain ends at a push that was not recorded, the sha it
//! waited for is kept (`inferred_commits.waiting_for_sha`) so that the push, arriving late,
//! completes the deployment.
//!
//! Stopping only at *successful* deployments' shas is what the lead-time definition needs: a
//! failed deployment ships nothing, so the next success ships its commits too; a commit listed
//! by two successes counts once, for the first (`dora_metrics`).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::{inferred_commits, push_commits, pushes};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::OnConflict,
};
use uuid::Uuid;

use super::sql::Sql;
use crate::domain::{CommitInput, SourcePush, is_zero_sha};

/// The most commits a deployment gets from pushes.
pub const MAX_INFERRED_COMMITS: usize = 1000;

/// Rows per multi-row insert (well under both backends' parameter limits).
const INSERT_CHUNK: usize = 500;

/// What following the pushes back from a deployed sha found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inference {
    /// Newest first.
    pub commits: Vec<CommitInput>,
    /// The sha whose push was not recorded, when that is where the chain ended.
    pub waiting_for: Option<String>,
}

/// Records a push of `repository_id`; false when this push (same branch, before and after) was
/// recorded already.
pub async fn record<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
    push: &SourcePush,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use pushes::Column as P;
    let id = Uuid::now_v7();
    let inserted = pushes::Entity::insert(pushes::ActiveModel {
        id: Set(id),
        organization_id: Set(organization_id),
        repository_id: Set(repository_id),
        branch: Set(push.branch.clone()),
        before_sha: Set(push.before.clone()),
        after_sha: Set(push.after.clone()),
        forced: Set(push.forced),
        pushed_at: Set(push.pushed_at),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([P::RepositoryId, P::AfterSha, P::BeforeSha, P::Branch])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    if inserted == 0 {
        return Ok(false);
    }
    let rows: Vec<push_commits::ActiveModel> = push
        .commits
        .iter()
        .enumerate()
        .map(|(i, c)| push_commits::ActiveModel {
            push_id: Set(id),
            position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
            repository_id: Set(repository_id),
            sha: Set(c.sha.clone()),
            committed_at: Set(c.committed_at),
        })
        .collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        push_commits::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(true)
}

/// The push that brought `sha` to the repository, preferring one on `branch`, then the latest:
/// a push whose `after` it is, else one that lists it.
async fn push_bringing<C: ConnectionTrait>(
    conn: &C,
    repository_id: Uuid,
    sha: &str,
    branch: &str,
) -> Result<Option<pushes::Model>, DbErr> {
    let prefer = |mut found: Vec<pushes::Model>| {
        found.sort_by_key(|p| (p.branch == branch, p.pushed_at, p.created_at));
        found.pop()
    };
    let by_after = pushes::Entity::find()
        .filter(pushes::Column::RepositoryId.eq(repository_id))
        .filter(pushes::Column::AfterSha.eq(sha))
        .all(conn)
        .await?;
    if let Some(push) = prefer(by_after) {
        return Ok(Some(push));
    }
    let push_ids: Vec<Uuid> = push_commits::Entity::find()
        .filter(push_commits::Column::RepositoryId.eq(repository_id))
        .filter(push_commits::Column::Sha.eq(sha))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| c.push_id)
        .collect();
    if push_ids.is_empty() {
        return Ok(None);
    }
    let listing = pushes::Entity::find()
        .filter(pushes::Column::Id.is_in(push_ids))
        .all(conn)
        .await?;
    Ok(prefer(listing))
}

/// The commits of `push` up to and including `sha` (all of them when it does not list `sha`),
/// newest first.
async fn commits_up_to<C: ConnectionTrait>(
    conn: &C,
    push: &pushes::Model,
    sha: &str,
) -> Result<Vec<CommitInput>, DbErr> {
    let rows = push_commits::Entity::find()
        .filter(push_commits::Column::PushId.eq(push.id))
        .order_by_asc(push_commits::Column::Position)
        .all(conn)
        .await?;
    let end = rows
        .iter()
        .position(|c| c.sha == sha)
        .map_or(rows.len(), |i| i + 1);
    Ok(rows[..end]
        .iter()
        .rev()
        .map(|c| CommitInput {
            sha: c.sha.clone(),
            committed_at: c.committed_at,
        })
        .collect())
}

/// Which of `shas` a successful deployment of the stream other than `deployment_id` shipped:
/// as its deployed sha, or in its commits.
async fn shipped<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
    environment: &str,
    deployment_id: Uuid,
    shas: &[String],
) -> Result<HashSet<String>, DbErr> {
    if shas.is_empty() {
        return Ok(HashSet::new());
    }
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT d.commit_id AS sha FROM deployments d WHERE d.organization_id = ")
        .bind(organization_id)
        .push(" AND d.repository_id = ")
        .bind(repository_id)
        .push(" AND d.environment = ")
        .bind(environment.to_owned())
        .push(" AND d.id <> ")
        .bind(deployment_id)
        .push(" AND d.commit_id IN (")
        .bind_list(shas.iter().cloned())
        .push(") AND ")
        .push(&super::facts::success("d"))
        // Commit rows carry their deployment's stream and outcome (migration 000006).
        .push(" UNION SELECT c.sha AS sha FROM deployment_commits c WHERE c.repository_id = ")
        .bind(repository_id)
        .push(" AND c.environment = ")
        .bind(environment.to_owned())
        .push(" AND c.deployment_id <> ")
        .bind(deployment_id)
        .push(" AND c.is_success AND c.sha IN (")
        .bind_list(shas.iter().cloned())
        .push(")");
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "sha"))
        .collect()
}

/// The commits deployment `deployment_id` of stream (`repository_id`, `environment`) shipped
/// with `sha` from `branch`, following the recorded pushes back (see the module docs).
#[allow(clippy::too_many_arguments)]
pub async fn infer<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
    environment: &str,
    branch: &str,
    sha: &str,
    deployment_id: Uuid,
) -> Result<Inference, DbErr> {
    let mut found = Inference::default();
    if sha.is_empty() {
        return Ok(found);
    }
    let mut seen_shas: HashSet<String> = HashSet::new();
    let mut seen_pushes: HashSet<Uuid> = HashSet::new();
    let mut current = sha.to_owned();
    loop {
        let Some(push) = push_bringing(conn, repository_id, &current, branch).await? else {
            found.waiting_for = Some(current);
            break;
        };
        if !seen_pushes.insert(push.id) {
            break;
        }
        let commits: Vec<CommitInput> = commits_up_to(conn, &push, &current)
            .await?
            .into_iter()
            .filter(|c| seen_shas.insert(c.sha.clone()))
            .collect();
        let shas: Vec<String> = commits.iter().map(|c| c.sha.clone()).collect();
        let done = shipped(
            conn,
            organization_id,
            repository_id,
            environment,
            deployment_id,
            &shas,
        )
        .await?;
        if let Some(cut) = commits.iter().position(|c| done.contains(&c.sha)) {
            found.commits.extend(commits.into_iter().take(cut));
            break;
        }
        found.commits.extend(commits);
        if found.commits.len() >= MAX_INFERRED_COMMITS {
            found.commits.truncate(MAX_INFERRED_COMMITS);
            break;
        }
        if push.forced || is_zero_sha(&push.before_sha) || push.before_sha.is_empty() {
            break;
        }
        current = push.before_sha.clone();
    }
    Ok(found)
}

/// Whether the deployment's commits were inferred (it had no explicit ones).
pub async fn is_inferred<C: ConnectionTrait>(conn: &C, deployment_id: Uuid) -> Result<bool, DbErr> {
    Ok(inferred_commits::Entity::find_by_id(deployment_id)
        .one(conn)
        .await?
        .is_some())
}

/// Notes that the deployment's commits are inferred, and what the chain waits for.
pub async fn mark_inferred<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
    deployment_id: Uuid,
    waiting_for: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use inferred_commits::Column as N;
    inferred_commits::Entity::insert(inferred_commits::ActiveModel {
        deployment_id: Set(deployment_id),
        organization_id: Set(organization_id),
        repository_id: Set(repository_id),
        waiting_for_sha: Set(waiting_for.map(str::to_owned)),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(N::DeploymentId)
            .update_columns([N::RepositoryId, N::WaitingForSha, N::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// The deployment's commits are explicit now: they are never inferred again.
pub async fn unmark_inferred<C: ConnectionTrait>(
    txn: &C,
    deployment_id: Uuid,
) -> Result<(), DbErr> {
    inferred_commits::Entity::delete_by_id(deployment_id)
        .exec(txn)
        .await?;
    Ok(())
}

/// The deployments of the repository whose inferred chain waits for one of `shas`.
pub async fn waiting_for<C: ConnectionTrait>(
    conn: &C,
    repository_id: Uuid,
    shas: &[String],
) -> Result<Vec<Uuid>, DbErr> {
    let mut ids = Vec::new();
    for chunk in shas.chunks(INSERT_CHUNK) {
        ids.extend(
            inferred_commits::Entity::find()
                .filter(inferred_commits::Column::RepositoryId.eq(repository_id))
                .filter(inferred_commits::Column::WaitingForSha.is_in(chunk.to_vec()))
                .all(conn)
                .await?
                .into_iter()
                .map(|n| n.deployment_id),
        );
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
