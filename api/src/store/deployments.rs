//! Deployments and the commits they shipped.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{deployment_commits, deployments, members, repositories};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, sea_query::Expr,
};
use uuid::Uuid;

use crate::domain::{CommitInput, NewDeployment, Status};

use super::{
    Db,
    known::Known,
    organizations::{ensure_member, ensure_repository, set_team},
    outcomes::{self, OutcomeChanges, Placement},
    sql::Sql,
};

/// A deployment with what its API representation needs.
#[derive(Debug, Clone)]
pub struct DeploymentRecord {
    pub deployment: deployments::Model,
    pub repository: repositories::Model,
    pub member_external_id: Option<String>,
    pub commits: Vec<deployment_commits::Model>,
}

impl DeploymentRecord {
    /// Remembers its repository and member; call once the record is committed.
    pub fn remember_in(&self, known: &Known) {
        let member = self
            .deployment
            .pusher_id
            .zip(self.member_external_id.as_deref());
        known.remember(&self.repository, member);
    }
}

/// Records a deployment (with its repository, member and commits) in `txn`, numbered
/// `reserved` (from [`reserve_number`]) or, when that is `None`, with the organization's next
/// number taken in `txn`. Repositories and members in `known` are not looked up again; after
/// the commit, pass the record to `Known::remember` (see `DeploymentRecord::remember_in`).
/// Answers the record and the verdicts of other deployments it changed.
pub async fn insert<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    new: &NewDeployment,
    now: DateTime<Utc>,
    known: &Known,
    reserved: Option<i64>,
) -> Result<(DeploymentRecord, OutcomeChanges), DbErr> {
    let team = new.team.as_deref();
    let repository = match (known.repository(organization_id, &new.repository.key), team) {
        // Id, URL and name never change; the team is written (when it differs) and is
        // then the one this request gave.
        (Some(stored), Some(team)) => {
            set_team(txn, stored.id, team).await?;
            repositories::Model {
                team: Some(team.to_owned()),
                ..stored
            }
        }
        // Without a team in the request, the response shows the stored one: read it.
        _ => ensure_repository(txn, organization_id, &new.repository, team, now).await?,
    };
    let (pusher_id, member_external_id) = match &new.member_external_id {
        Some(external) => {
            let id = match known.member(organization_id, external) {
                Some(id) => id,
                None => ensure_member(txn, organization_id, external, now).await?,
            };
            (Some(id), Some(external.clone()))
        }
        None => (None, None),
    };
    let number = match reserved {
        Some(number) => number,
        None => take_numbers(txn, organization_id, 1).await?,
    };
    let id = Uuid::now_v7();
    let deployment = deployments::ActiveModel {
        id: Set(id),
        number: Set(number),
        organization_id: Set(organization_id),
        repository_id: Set(repository.id),
        pusher_id: Set(pusher_id),
        environment: Set(new.environment.clone()),
        is_production: Set(new.is_production),
        title: Set(new.title.clone()),
        changelog: Set(new.changelog.clone()),
        url: Set(new.url.clone()),
        branch: Set(new.branch.clone()),
        commit_id: Set(new.commit_id.clone()),
        node_id: Set(new.node_id.clone()),
        pull_request_number: Set(new.pull_request_number),
        commits_count: Set(new.commits_count),
        duration_seconds: Set(new.duration_seconds),
        is_fix: Set(new.is_fix),
        is_hotfix: Set(new.is_hotfix),
        is_forced: Set(new.is_forced),
        is_rollback: Set(new.is_rollback),
        status: Set(new.status.as_str().to_owned()),
        triggered_by: Set(new.triggered_by.as_str().to_owned()),
        started_at: Set(new.started_at),
        finished_at: Set(new.finished_at),
        deployed_at: Set(new.finished_at.unwrap_or(now)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let commits = if new.commits.is_empty() {
        attach_inferred(txn, &deployment, false, now).await?.0
    } else {
        insert_commits(txn, id, repository.id, &new.environment, &new.commits).await?
    };
    let placement = Placement::new(&deployment, shipped(&commits));
    let changes = outcomes::deployment_changed(txn, None, Some(&placement)).await?;
    let record = DeploymentRecord {
        deployment,
        repository,
        member_external_id,
        commits,
    };
    Ok((record, changes))
}

/// Reserves the organization's next deployment number before the create's transaction
/// begins, on PostgreSQL (`None` on SQLite, where [`insert`] takes it in its transaction).
///
/// Numbers are unique and increasing within an organization and tell nothing of other
/// organizations. On PostgreSQL the counter is incremented in a transaction of its own that
/// does not wait for the disk ([`Db::begin_async_commit`]), like a sequence value: its row is
/// locked for that one statement only, so the creates of one organization (on any instance)
/// do not queue behind each other's commits. A create that then fails or replays leaves a
/// gap. SQLite has one writer, so taking it in the create's own transaction costs nothing.
/// With group commit on PostgreSQL the writer reserves the numbers of a batch in one such
/// transaction per organization instead ([`reserve_numbers`]), handed out in
/// the batch's order.
pub async fn reserve_number(db: &Db, organization_id: Uuid) -> Result<Option<i64>, DbErr> {
    reserve_numbers(db, organization_id, 1).await
}

/// Reserves `n` consecutive numbers the way [`reserve_number`] reserves one (a batch of
/// group commit, a bulk import's batch) and returns the first; `None` on SQLite (take them
/// with [`take_numbers`] in the batch's transaction).
pub async fn reserve_numbers(
    db: &Db,
    organization_id: Uuid,
    n: usize,
) -> Result<Option<i64>, DbErr> {
    if db.backend() != DbBackend::Postgres || n == 0 {
        return Ok(None);
    }
    let txn = db.begin_async_commit().await?;
    let first = take_numbers(&txn, organization_id, n).await?;
    txn.commit().await?;
    Ok(Some(first))
}

/// Increments the organization's counter by `n` in `txn`; the first of the `n` numbers.
pub async fn take_numbers<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    n: usize,
) -> Result<i64, DbErr> {
    let n = i64::try_from(n).map_err(|e| DbErr::Custom(e.to_string()))?;
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push("UPDATE organizations SET last_deployment_number = last_deployment_number + ")
        .bind(n)
        .push(" WHERE id = ")
        .bind(organization_id)
        .push(" RETURNING last_deployment_number");
    let last: i64 = txn
        .query_one_raw(sql.statement())
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("organization of the deployments".to_owned()))?
        .try_get("", "last_deployment_number")?;
    Ok(last - n + 1)
}

/// The deployment `id` of the organization.
fn by_id(organization_id: Uuid, id: Uuid) -> Select<deployments::Entity> {
    deployments::Entity::find()
        .filter(deployments::Column::Id.eq(id))
        .filter(deployments::Column::OrganizationId.eq(organization_id))
}

pub async fn find<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<deployments::Model>, DbErr> {
    by_id(organization_id, id).one(conn).await
}

/// [`find`] inside a write transaction, the row locked until it ends (statuses and PATCH
/// read, then rewrite the deployment; see [`super::one_for_update`]).
pub async fn find_for_update<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<deployments::Model>, DbErr> {
    super::one_for_update(txn, by_id(organization_id, id)).await
}

pub async fn get<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<DeploymentRecord>, DbErr> {
    let found = find(conn, organization_id, id).await?;
    record_of(conn, found).await
}

/// [`get`] with the row locked, like [`find_for_update`] (admin replace).
pub async fn get_for_update<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<DeploymentRecord>, DbErr> {
    let found = find_for_update(txn, organization_id, id).await?;
    record_of(txn, found).await
}

async fn record_of<C: ConnectionTrait>(
    conn: &C,
    found: Option<deployments::Model>,
) -> Result<Option<DeploymentRecord>, DbErr> {
    match found {
        Some(d) => Ok(hydrate(conn, vec![d]).await?.pop()),
        None => Ok(None),
    }
}

/// Filters of a deployment listing; all optional.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub repository_id: Option<Uuid>,
    pub environment: Option<String>,
    pub branch: Option<String>,
    pub status: Option<Status>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only deployments with a smaller `number` (the cursor of the previous page).
    pub before_number: Option<i64>,
}

/// Newest first (by `number`), at most `limit`, plus whether more follow.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    filter: &ListFilter,
    limit: u64,
) -> Result<(Vec<DeploymentRecord>, bool), DbErr> {
    use deployments::Column as C;
    let mut query = deployments::Entity::find().filter(C::OrganizationId.eq(organization_id));
    if let Some(repository_id) = filter.repository_id {
        query = query.filter(C::RepositoryId.eq(repository_id));
    }
    if let Some(environment) = &filter.environment {
        query = query.filter(C::Environment.eq(environment.as_str()));
    }
    if let Some(branch) = &filter.branch {
        query = query.filter(C::Branch.eq(branch.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(C::Status.eq(status.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(C::DeployedAt.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(C::DeployedAt.lt(until));
    }
    if let Some(before) = filter.before_number {
        query = query.filter(C::Number.lt(before));
    }
    let mut rows = query
        .order_by_desc(C::Number)
        .limit(limit + 1)
        .all(conn)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((hydrate(conn, rows).await?, more))
}

/// Loads repositories, members and commits of a page of deployments in three queries.
async fn hydrate<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<deployments::Model>,
) -> Result<Vec<DeploymentRecord>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut repository_ids: Vec<Uuid> = rows.iter().map(|d| d.repository_id).collect();
    repository_ids.sort_unstable();
    repository_ids.dedup();
    let repositories: HashMap<Uuid, repositories::Model> = repositories::Entity::find()
        .filter(repositories::Column::Id.is_in(repository_ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let mut member_ids: Vec<Uuid> = rows.iter().filter_map(|d| d.pusher_id).collect();
    member_ids.sort_unstable();
    member_ids.dedup();
    let members: HashMap<Uuid, String> = if member_ids.is_empty() {
        HashMap::new()
    } else {
        members::Entity::find()
            .filter(members::Column::Id.is_in(member_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|m| (m.id, m.external_id))
            .collect()
    };
    let mut commits: HashMap<Uuid, Vec<deployment_commits::Model>> = HashMap::new();
    for commit in deployment_commits::Entity::find()
        .filter(deployment_commits::Column::DeploymentId.is_in(rows.iter().map(|d| d.id)))
        .order_by_asc(deployment_commits::Column::CommittedAt)
        .all(conn)
        .await?
    {
        commits
            .entry(commit.deployment_id)
            .or_default()
            .push(commit);
    }
    rows.into_iter()
        .map(|deployment| {
            let repository = repositories
                .get(&deployment.repository_id)
                .cloned()
                .ok_or_else(|| DbErr::RecordNotFound("repository of deployment".to_owned()))?;
            Ok(DeploymentRecord {
                member_external_id: deployment.pusher_id.and_then(|p| members.get(&p).cloned()),
                commits: commits.remove(&deployment.id).unwrap_or_default(),
                repository,
                deployment,
            })
        })
        .collect()
}

/// Sets status and timing; `deployed_at` follows `finished_at`. Answers the deployment and
/// the verdicts of others it changed.
pub async fn update_timing<C: ConnectionTrait>(
    txn: &C,
    current: deployments::Model,
    status: Status,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(deployments::Model, OutcomeChanges), DbErr> {
    let deployed_at = finished_at.unwrap_or(current.created_at);
    let duration = match (current.duration_seconds, started_at, finished_at) {
        (None, Some(s), Some(f)) => Some((f - s).num_seconds()),
        (d, _, _) => d,
    };
    let before = current.clone();
    let mut active: deployments::ActiveModel = current.into();
    active.status = Set(status.as_str().to_owned());
    active.started_at = Set(started_at);
    active.finished_at = Set(finished_at);
    active.deployed_at = Set(deployed_at);
    active.duration_seconds = Set(duration);
    active.updated_at = Set(now);
    let updated = active.update(txn).await?;
    let changes = outcomes::deployment_updated(txn, &before, &updated).await?;
    Ok((updated, changes))
}

/// Replaces every writable field of `current` with `new` (admin repair): repository,
/// member, record fields, status and timing, and the shipped commits. `number`, `id`,
/// `triggered_by` and `created_at` stay.
pub async fn replace<C: ConnectionTrait>(
    txn: &C,
    current: deployments::Model,
    new: &NewDeployment,
    now: DateTime<Utc>,
) -> Result<(deployments::Model, OutcomeChanges), DbErr> {
    let organization_id = current.organization_id;
    let repository = ensure_repository(
        txn,
        organization_id,
        &new.repository,
        new.team.as_deref(),
        now,
    )
    .await?;
    let pusher_id = match &new.member_external_id {
        Some(external) => Some(ensure_member(txn, organization_id, external, now).await?),
        None => None,
    };
    let id = current.id;
    let before = Placement::read(txn, &current).await?;
    let deployed_at = new.finished_at.unwrap_or(current.created_at);
    let mut active: deployments::ActiveModel = current.into();
    active.repository_id = Set(repository.id);
    active.pusher_id = Set(pusher_id);
    active.environment = Set(new.environment.clone());
    active.is_production = Set(new.is_production);
    active.title = Set(new.title.clone());
    active.changelog = Set(new.changelog.clone());
    active.url = Set(new.url.clone());
    active.branch = Set(new.branch.clone());
    active.commit_id = Set(new.commit_id.clone());
    active.node_id = Set(new.node_id.clone());
    active.pull_request_number = Set(new.pull_request_number);
    active.commits_count = Set(new.commits_count);
    active.duration_seconds = Set(new.duration_seconds);
    active.is_fix = Set(new.is_fix);
    active.is_hotfix = Set(new.is_hotfix);
    active.is_forced = Set(new.is_forced);
    active.is_rollback = Set(new.is_rollback);
    active.status = Set(new.status.as_str().to_owned());
    active.started_at = Set(new.started_at);
    active.finished_at = Set(new.finished_at);
    active.deployed_at = Set(deployed_at);
    active.updated_at = Set(now);
    let updated = active.update(txn).await?;
    deployment_commits::Entity::delete_many()
        .filter(deployment_commits::Column::DeploymentId.eq(id))
        .exec(txn)
        .await?;
    let commits = if new.commits.is_empty() {
        attach_inferred(txn, &updated, false, now).await?.0
    } else {
        super::pushes::unmark_inferred(txn, id).await?;
        insert_commits(txn, id, repository.id, &new.environment, &new.commits).await?
    };
    let after = Placement::new(&updated, shipped(&commits));
    let changes = outcomes::deployment_changed(txn, Some(&before), Some(&after)).await?;
    Ok((updated, changes))
}

/// Gives `deployment` (recorded without explicit commits) the commits inferred from the
/// recorded pushes of its repository (`store::pushes`), replacing those inferred before.
/// Explicit commits always win: callers only call this for deployments without them.
/// `had_commits`: the deployment may have commit rows already (they are replaced). Answers
/// the commits and, when it replaced some, the verdicts that changed.
pub async fn attach_inferred<C: ConnectionTrait>(
    txn: &C,
    deployment: &deployments::Model,
    had_commits: bool,
    now: DateTime<Utc>,
) -> Result<(Vec<deployment_commits::Model>, OutcomeChanges), DbErr> {
    if deployment.commit_id.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let inference = super::pushes::infer(
        txn,
        deployment.organization_id,
        deployment.repository_id,
        &deployment.environment,
        &deployment.branch,
        &deployment.commit_id,
        deployment.id,
    )
    .await?;
    // Commits replaced after the deployment was recorded (a late push) change its stream's
    // outcomes: re-derive them here; a first attachment is the caller's insert or replace,
    // which re-derives once for the whole write.
    let before = if had_commits {
        let old = deployment_commits::Entity::find()
            .filter(deployment_commits::Column::DeploymentId.eq(deployment.id))
            .all(txn)
            .await?;
        deployment_commits::Entity::delete_many()
            .filter(deployment_commits::Column::DeploymentId.eq(deployment.id))
            .exec(txn)
            .await?;
        Some(Placement::new(deployment, shipped(&old)))
    } else {
        None
    };
    super::pushes::mark_inferred(
        txn,
        deployment.organization_id,
        deployment.repository_id,
        deployment.id,
        inference.waiting_for.as_deref(),
        now,
    )
    .await?;
    let commits = insert_commits(
        txn,
        deployment.id,
        deployment.repository_id,
        &deployment.environment,
        &inference.commits,
    )
    .await?;
    let changes = match before {
        Some(before) => {
            let after = Placement::new(deployment, shipped(&commits));
            outcomes::deployment_changed(txn, Some(&before), Some(&after)).await?
        }
        None => Vec::new(),
    };
    Ok((commits, changes))
}

/// `(sha, committed_at)` of commit rows, for [`Placement`].
fn shipped(commits: &[deployment_commits::Model]) -> Vec<(String, DateTime<Utc>)> {
    commits
        .iter()
        .map(|c| (c.sha.clone(), c.committed_at))
        .collect()
}

/// Inserts the commits of deployment `id` of stream (`repository_id`, `environment`), keeping
/// `deployment_commits.shared` right: a sha that another deployment of the stream lists too is
/// flagged on both rows.
async fn insert_commits<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    repository_id: Uuid,
    environment: &str,
    commits: &[CommitInput],
) -> Result<Vec<deployment_commits::Model>, DbErr> {
    if commits.is_empty() {
        return Ok(Vec::new());
    }
    let shas: Vec<String> = commits.iter().map(|c| c.sha.clone()).collect();
    let shared = flag_siblings(txn, id, repository_id, environment, &shas).await?;
    let rows: Vec<deployment_commits::Model> = commits
        .iter()
        .map(|c| deployment_commits::Model {
            deployment_id: id,
            sha: c.sha.clone(),
            committed_at: c.committed_at,
            shared: shared.contains(&c.sha),
        })
        .collect();
    deployment_commits::Entity::insert_many(
        rows.iter()
            .cloned()
            .map(deployment_commits::ActiveModel::from),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(rows)
}

/// Deployment `id` now belongs to stream (`repository_id`, `environment`) (a status moved it to
/// another environment): its commits that deployments of that stream also list are flagged
/// `shared`, on both sides. Flags from its former stream stay: a `shared` flag too many only
/// costs the metrics query a probe, one too few would skip a needed one.
pub async fn moved_to_stream<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    repository_id: Uuid,
    environment: &str,
) -> Result<(), DbErr> {
    let shas: Vec<String> = deployment_commits::Entity::find()
        .select_only()
        .column(deployment_commits::Column::Sha)
        .filter(deployment_commits::Column::DeploymentId.eq(id))
        .into_tuple()
        .all(txn)
        .await?;
    if shas.is_empty() {
        return Ok(());
    }
    let shared = flag_siblings(txn, id, repository_id, environment, &shas).await?;
    if shared.is_empty() {
        return Ok(());
    }
    deployment_commits::Entity::update_many()
        .col_expr(deployment_commits::Column::Shared, Expr::value(true))
        .filter(deployment_commits::Column::DeploymentId.eq(id))
        .filter(deployment_commits::Column::Sha.is_in(shared))
        .exec(txn)
        .await?;
    Ok(())
}

/// Flags `shared` on the rows of the other deployments of stream (`repository_id`,
/// `environment`) that list one of `shas`, and returns the shas they list. On PostgreSQL each
/// (stream, sha) is locked for the rest of the transaction first, so two deployments of one sha
/// committed at the same moment still see each other (SQLite has a single writer).
async fn flag_siblings<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    repository_id: Uuid,
    environment: &str,
    shas: &[String],
) -> Result<HashSet<String>, DbErr> {
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        // One lock per (stream, sha), taken in sorted order so two creates never wait on
        // each other in a cycle; creates of other shas in the stream do not wait at all.
        let mut keys: Vec<String> = shas
            .iter()
            .map(|sha| format!("dora-commit/{repository_id}/{environment}/{sha}"))
            .collect();
        keys.sort();
        keys.dedup();
        let mut sql = Sql::new(backend);
        sql.push("SELECT ");
        for (i, key) in keys.into_iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("pg_advisory_xact_lock(hashtextextended(")
                .bind(key)
                .push(", 0))");
        }
        txn.execute_raw(sql.statement()).await?;
    }
    // Commit rows carry their deployment's stream (migration 000006): one descent of
    // `ix_deployment_commits_sha_stream` per sha.
    let mut sql = Sql::new(backend);
    sql.push("UPDATE deployment_commits SET shared = TRUE WHERE sha IN (")
        .bind_list(shas.iter().cloned())
        .push(") AND repository_id = ")
        .bind(repository_id)
        .push(" AND environment = ")
        .bind(environment.to_owned())
        .push(" AND deployment_id <> ")
        .bind(id)
        .push(" RETURNING sha");
    txn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "sha"))
        .collect()
}

/// The first successful production deployment of the repository that shipped `sha` (a full
/// sha or a prefix of one): as its deployed commit, or in its commits.
pub async fn first_shipping<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
    sha: &str,
) -> Result<Option<deployments::Model>, DbErr> {
    // `sha` is hexadecimal only: no LIKE wildcards in it.
    let prefix = format!("{}%", sha.to_ascii_lowercase());
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT d.id AS id FROM deployments d WHERE d.organization_id = ")
        .bind(organization_id)
        .push(" AND d.repository_id = ")
        .bind(repository_id)
        .push(" AND d.is_production = ")
        .bind(true)
        .push(" AND ")
        .push(&super::facts::success("d"))
        .push(" AND (d.commit_id LIKE ")
        .bind(prefix.clone())
        .push(" OR EXISTS (SELECT 1 FROM deployment_commits c WHERE c.deployment_id = d.id AND c.sha LIKE ")
        .bind(prefix)
        .push(")) ORDER BY d.deployed_at, d.number LIMIT 1");
    let Some(row) = conn.query_one_raw(sql.statement()).await? else {
        return Ok(None);
    };
    let id: Uuid = row.try_get("", "id")?;
    find(conn, organization_id, id).await
}

/// The latest successful deployment of a stream (repository, environment) by deploy time,
/// of another commit than `except_commit` when given.
pub async fn last_success<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
    environment: &str,
    except_commit: Option<&str>,
) -> Result<Option<deployments::Model>, DbErr> {
    use deployments::Column as C;
    let mut query = deployments::Entity::find()
        .filter(C::OrganizationId.eq(organization_id))
        .filter(C::RepositoryId.eq(repository_id))
        .filter(C::Environment.eq(environment))
        .filter(C::Status.eq(Status::Success.as_str()));
    if let Some(commit) = except_commit {
        query = query.filter(C::CommitId.ne(commit));
    }
    query
        .order_by_desc(C::DeployedAt)
        .order_by_desc(C::Number)
        .one(conn)
        .await
}

/// The deployments `ids` written by `store::bulk_import::insert_batch` (a batch of creates,
/// `core::group_commit`) as stored, and the `shared` flag of each of their commits by
/// `(deployment, sha)`: what [`insert`] answers for one create.
pub async fn written<C: ConnectionTrait>(
    txn: &C,
    ids: &[Uuid],
) -> Result<
    (
        HashMap<Uuid, deployments::Model>,
        HashMap<(Uuid, String), bool>,
    ),
    DbErr,
> {
    let mut rows = HashMap::new();
    let mut shared = HashMap::new();
    for chunk in ids.chunks(1000) {
        for row in deployments::Entity::find()
            .filter(deployments::Column::Id.is_in(chunk.iter().copied()))
            .all(txn)
            .await?
        {
            rows.insert(row.id, row);
        }
        for commit in deployment_commits::Entity::find()
            .filter(deployment_commits::Column::DeploymentId.is_in(chunk.iter().copied()))
            .all(txn)
            .await?
        {
            shared.insert((commit.deployment_id, commit.sha), commit.shared);
        }
    }
    Ok((rows, shared))
}
