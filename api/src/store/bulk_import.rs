//! The writes of a bulk import (`POST /api/v1/deployments/import`): a batch of validated lines
//! in one transaction, with multi-row statements — the numbers reserved at once, the
//! deployments and their commits inserted a few hundred rows per statement, the `shared` flags
//! of their commits set with one statement, and the derived outcomes re-derived once per
//! stretch of the streams the batch touches (`store::outcomes::batch_planned`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Value};
use uuid::Uuid;

use super::{
    outcomes::{self, Placement},
    sql::{Sql, pg_array, pg_time},
};
use crate::domain::NewDeployment;

/// One deployment of a batch, its repository and member resolved.
pub struct BatchRow<'a> {
    pub id: Uuid,
    pub number: i64,
    pub repository_id: Uuid,
    pub pusher_id: Option<Uuid>,
    pub new: &'a NewDeployment,
    pub external_id: Option<&'a str>,
}

/// The deployments of the organization already stored with one of these external ids.
pub async fn existing_external_ids<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    external_ids: &[&str],
) -> Result<HashMap<String, Uuid>, DbErr> {
    let mut found = HashMap::new();
    let postgres = conn.get_database_backend() == DbBackend::Postgres;
    // PostgreSQL: one statement of fixed shape (the ids as one array parameter).
    let per_statement = if postgres {
        external_ids.len().max(1)
    } else {
        1000
    };
    for chunk in external_ids.chunks(per_statement) {
        if chunk.is_empty() {
            continue;
        }
        let mut sql = Sql::new(conn.get_database_backend());
        sql.push("SELECT id, external_id FROM deployments WHERE organization_id = ")
            .bind(organization_id);
        if postgres {
            sql.push(" AND external_id = ANY(ARRAY(SELECT unnest(")
                .bind(pg_array(chunk.iter().copied()))
                .push("::text[])))");
        } else {
            sql.push(" AND external_id IN (")
                .bind_list(chunk.iter().map(|s| (*s).to_owned()))
                .push(")");
        }
        for row in conn.query_all_raw(sql.statement()).await? {
            found.insert(row.try_get("", "external_id")?, row.try_get("", "id")?);
        }
    }
    Ok(found)
}

const DEPLOYMENT_COLUMNS: [&str; 28] = [
    "id",
    "number",
    "organization_id",
    "repository_id",
    "pusher_id",
    "environment",
    "is_production",
    "title",
    "changelog",
    "url",
    "branch",
    "commit_id",
    "node_id",
    "pull_request_number",
    "commits_count",
    "duration_seconds",
    "is_fix",
    "is_hotfix",
    "is_forced",
    "is_rollback",
    "status",
    "triggered_by",
    "started_at",
    "finished_at",
    "deployed_at",
    "created_at",
    "updated_at",
    "external_id",
];

/// Bound values per statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const VALUES_PER_STATEMENT: usize = 30_000;

/// The deploy time of a new deployment recorded at `now`.
pub fn deployed_at(new: &NewDeployment, now: DateTime<Utc>) -> DateTime<Utc> {
    new.finished_at.unwrap_or(now)
}

/// Inserts the batch's deployments and their commits, keeps `deployment_commits.shared` right
/// and re-derives the outcomes of the stretches the batch changes, all in `txn`. Every row has
/// explicit commits (lines without go through `store::deployments::insert`, which infers them
/// from recorded pushes).
pub async fn insert_batch<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    rows: &[BatchRow<'_>],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    // (stream, sha) of every commit of the batch, and how many of its deployments list it.
    let mut listed: HashMap<(Uuid, &str, &str), usize> = HashMap::new();
    for row in rows {
        for commit in &row.new.commits {
            *listed
                .entry((
                    row.repository_id,
                    row.new.environment.as_str(),
                    commit.sha.as_str(),
                ))
                .or_default() += 1;
        }
    }
    // The per-(stream, sha) locks a single create takes (`store::deployments`), in sorted
    // order and before the stream locks, as it takes them.
    if backend == DbBackend::Postgres && !listed.is_empty() {
        let mut keys: Vec<String> = listed
            .keys()
            .map(|(repository_id, environment, sha)| {
                format!("dora-commit/{repository_id}/{environment}/{sha}")
            })
            .collect();
        keys.sort();
        // One statement of one parameter whatever the batch (a prepared statement that is
        // reused); the function scan takes the locks in the array's (sorted) order.
        let mut sql = Sql::new(backend);
        sql.push(
            "SELECT COUNT(pg_advisory_xact_lock(hashtextextended(k, 0))) AS n \
             FROM jsonb_array_elements_text(",
        )
        .bind(serde_json::to_string(&keys).map_err(|e| DbErr::Custom(e.to_string()))?)
        .push("::jsonb) AS k");
        txn.execute_raw(sql.statement()).await?;
    }
    let placements: Vec<Placement> = rows
        .iter()
        .map(|row| placement(organization_id, row, now))
        .collect();
    // Planned before the rows exist (see `BatchPlan`); takes the stream locks.
    let plan = outcomes::batch_planned(txn, organization_id, &placements).await?;
    let shared = flag_shared(txn, organization_id, &listed).await?;

    let commits: Vec<CommitRow<'_>> = rows
        .iter()
        .flat_map(|row| {
            let shared = &shared;
            let listed = &listed;
            row.new.commits.iter().map(move |c| {
                let key = (
                    row.repository_id,
                    row.new.environment.as_str(),
                    c.sha.as_str(),
                );
                let is_shared = listed.get(&key).is_some_and(|n| *n > 1)
                    || (!shared.is_empty()
                        && shared.contains(&(key.0, key.1.to_owned(), key.2.to_owned())));
                CommitRow {
                    row,
                    sha: c.sha.as_str(),
                    committed_at: c.committed_at,
                    shared: is_shared,
                }
            })
        })
        .collect();
    if backend == DbBackend::Postgres {
        insert_rows_postgres(txn, organization_id, rows, &commits, now).await?;
    } else {
        insert_rows(txn, organization_id, rows, &commits, now).await?;
    }
    plan.refresh(txn).await
}

/// A commit row of the batch.
struct CommitRow<'a> {
    row: &'a BatchRow<'a>,
    sha: &'a str,
    committed_at: DateTime<Utc>,
    shared: bool,
}

/// The columns of `deployment_commits` the batch writes: its own, then the copies of its
/// deployment's (migration 000006's trigger fills them only when they are not given:
/// migration 000015).
const COMMIT_COLUMNS: [&str; 10] = [
    "deployment_id",
    "sha",
    "committed_at",
    "shared",
    "organization_id",
    "repository_id",
    "environment",
    "is_production",
    "deployed_at",
    "is_success",
];

/// Whether the metrics count a deployment of `status` as a success (`status = 'success'`, or
/// `inactive` with a finish time): the copy `is_success` of its commit rows.
fn is_success(new: &NewDeployment) -> bool {
    matches!(
        new.status.outcome(new.finished_at.is_some()),
        dora_metrics::Outcome::Success
    )
}

fn commit_values(organization_id: Uuid, commit: &CommitRow<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let row = commit.row;
    vec![
        row.id.into(),
        commit.sha.to_owned().into(),
        commit.committed_at.into(),
        commit.shared.into(),
        organization_id.into(),
        row.repository_id.into(),
        row.new.environment.clone().into(),
        row.new.is_production.into(),
        deployed_at(row.new, now).into(),
        is_success(row.new).into(),
    ]
}

/// Multi-row INSERTs (SQLite: statements are prepared in-process, their shapes cost little).
async fn insert_rows<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    rows: &[BatchRow<'_>],
    commits: &[CommitRow<'_>],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let per_statement = VALUES_PER_STATEMENT / DEPLOYMENT_COLUMNS.len();
    for chunk in rows.chunks(per_statement) {
        let mut sql = Sql::new(backend);
        sql.push(&format!(
            "INSERT INTO deployments ({}) VALUES ",
            DEPLOYMENT_COLUMNS.join(", ")
        ));
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind_list(deployment_values(organization_id, row, now))
                .push(")");
        }
        txn.execute_raw(sql.statement()).await?;
    }
    for chunk in commits.chunks(VALUES_PER_STATEMENT / COMMIT_COLUMNS.len()) {
        let mut sql = Sql::new(backend);
        sql.push(&format!(
            "INSERT INTO deployment_commits ({}) VALUES ",
            COMMIT_COLUMNS.join(", ")
        ));
        for (i, commit) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind_list(commit_values(organization_id, commit, now))
                .push(")");
        }
        txn.execute_raw(sql.statement()).await?;
    }
    Ok(())
}

/// PostgreSQL: each table's rows in one statement of one parameter (a JSON array of the rows,
/// `jsonb_to_recordset`), so every batch runs the same two prepared statements whatever its
/// size (multi-row VALUES would have a different number of parameters each time, and sqlx
/// would prepare each anew).
async fn insert_rows_postgres<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    rows: &[BatchRow<'_>],
    commits: &[CommitRow<'_>],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let json = |e: serde_json::Error| DbErr::Custom(e.to_string());
    let deployments: Vec<DeploymentJson<'_>> = rows
        .iter()
        .map(|row| DeploymentJson::new(organization_id, row, now))
        .collect();
    let columns = DEPLOYMENT_COLUMNS.join(", ");
    let mut sql = Sql::new(DbBackend::Postgres);
    sql.push(&format!(
        "INSERT INTO deployments ({columns}) SELECT {columns} FROM jsonb_to_recordset("
    ))
    .bind(serde_json::to_string(&deployments).map_err(json)?)
    .push(&format!("::jsonb) AS r({DEPLOYMENT_TYPES})"));
    txn.execute_raw(sql.statement()).await?;
    if commits.is_empty() {
        return Ok(());
    }
    let commits: Vec<CommitJson<'_>> = commits
        .iter()
        .map(|c| CommitJson {
            deployment_id: c.row.id,
            sha: c.sha,
            committed_at: pg_time(c.committed_at),
            shared: c.shared,
            organization_id,
            repository_id: c.row.repository_id,
            environment: c.row.new.environment.as_str(),
            is_production: c.row.new.is_production,
            deployed_at: pg_time(deployed_at(c.row.new, now)),
            is_success: is_success(c.row.new),
        })
        .collect();
    let columns = COMMIT_COLUMNS.join(", ");
    let mut sql = Sql::new(DbBackend::Postgres);
    sql.push(&format!(
        "INSERT INTO deployment_commits ({columns}) SELECT {columns} FROM jsonb_to_recordset("
    ))
    .bind(serde_json::to_string(&commits).map_err(json)?)
    .push(
        "::jsonb) AS r(deployment_id uuid, sha text, committed_at timestamptz, shared boolean, \
         organization_id uuid, repository_id uuid, environment text, is_production boolean, \
         deployed_at timestamptz, is_success boolean)",
    );
    txn.execute_raw(sql.statement()).await?;
    Ok(())
}

/// [`DEPLOYMENT_COLUMNS`] with their types, for `jsonb_to_recordset`.
const DEPLOYMENT_TYPES: &str = "id uuid, number bigint, organization_id uuid, \
     repository_id uuid, pusher_id uuid, environment text, is_production boolean, title text, \
     changelog text, url text, branch text, commit_id text, node_id text, \
     pull_request_number bigint, commits_count integer, duration_seconds bigint, \
     is_fix boolean, is_hotfix boolean, is_forced boolean, is_rollback boolean, status text, \
     triggered_by text, started_at timestamptz, finished_at timestamptz, \
     deployed_at timestamptz, created_at timestamptz, updated_at timestamptz, external_id text";

/// A deployments row as `jsonb_to_recordset` reads it ([`DEPLOYMENT_TYPES`]).
#[derive(serde::Serialize)]
struct DeploymentJson<'a> {
    id: Uuid,
    number: i64,
    organization_id: Uuid,
    repository_id: Uuid,
    pusher_id: Option<Uuid>,
    environment: &'a str,
    is_production: bool,
    title: &'a str,
    changelog: Option<&'a str>,
    url: Option<&'a str>,
    branch: &'a str,
    commit_id: &'a str,
    node_id: Option<&'a str>,
    pull_request_number: Option<i64>,
    commits_count: i32,
    duration_seconds: Option<i64>,
    is_fix: bool,
    is_hotfix: bool,
    is_forced: bool,
    is_rollback: bool,
    status: &'a str,
    triggered_by: &'a str,
    started_at: Option<String>,
    finished_at: Option<String>,
    deployed_at: String,
    created_at: String,
    updated_at: String,
    external_id: Option<&'a str>,
}

impl<'a> DeploymentJson<'a> {
    fn new(organization_id: Uuid, row: &'a BatchRow<'a>, now: DateTime<Utc>) -> Self {
        let new = row.new;
        DeploymentJson {
            id: row.id,
            number: row.number,
            organization_id,
            repository_id: row.repository_id,
            pusher_id: row.pusher_id,
            environment: &new.environment,
            is_production: new.is_production,
            title: &new.title,
            changelog: new.changelog.as_deref(),
            url: new.url.as_deref(),
            branch: &new.branch,
            commit_id: &new.commit_id,
            node_id: new.node_id.as_deref(),
            pull_request_number: new.pull_request_number,
            commits_count: new.commits_count,
            duration_seconds: new.duration_seconds,
            is_fix: new.is_fix,
            is_hotfix: new.is_hotfix,
            is_forced: new.is_forced,
            is_rollback: new.is_rollback,
            status: new.status.as_str(),
            triggered_by: new.triggered_by.as_str(),
            started_at: new.started_at.map(pg_time),
            finished_at: new.finished_at.map(pg_time),
            deployed_at: pg_time(deployed_at(new, now)),
            created_at: pg_time(now),
            updated_at: pg_time(now),
            external_id: row.external_id,
        }
    }
}

/// A deployment_commits row as `jsonb_to_recordset` reads it.
#[derive(serde::Serialize)]
struct CommitJson<'a> {
    deployment_id: Uuid,
    sha: &'a str,
    committed_at: String,
    shared: bool,
    organization_id: Uuid,
    repository_id: Uuid,
    environment: &'a str,
    is_production: bool,
    deployed_at: String,
    is_success: bool,
}

/// Flags `shared` on the stored commit rows of the streams whose shas the batch lists, and
/// returns the (stream, sha) pairs flagged. (A row of another stream of the batch listing one
/// of the shas may be flagged too: a flag too many only costs the metrics query a probe, one
/// too few would skip a needed one; see `store::deployments::moved_to_stream`.)
async fn flag_shared<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    listed: &HashMap<(Uuid, &str, &str), usize>,
) -> Result<HashSet<(Uuid, String, String)>, DbErr> {
    let mut flagged = HashSet::new();
    if listed.is_empty() {
        return Ok(flagged);
    }
    let mut streams: Vec<(Uuid, &str)> = listed.keys().map(|(r, e, _)| (*r, *e)).collect();
    streams.sort_unstable();
    streams.dedup();
    let mut shas: Vec<&str> = listed.keys().map(|(_, _, sha)| *sha).collect();
    shas.sort_unstable();
    shas.dedup();
    if txn.get_database_backend() == DbBackend::Postgres {
        // One statement of fixed shape: the shas and the streams as arrays.
        let mut sql = Sql::new(DbBackend::Postgres);
        sql.push("UPDATE deployment_commits SET shared = TRUE WHERE organization_id = ")
            .bind(organization_id)
            .push(" AND sha = ANY(ARRAY(SELECT unnest(")
            .bind(pg_array(shas.iter().copied()))
            .push("::text[]))) AND (repository_id, environment) IN (SELECT * FROM unnest(")
            .bind(pg_array(streams.iter().map(|(r, _)| r.to_string())))
            .push("::uuid[], ")
            .bind(pg_array(streams.iter().map(|(_, e)| *e)))
            .push("::text[])) RETURNING repository_id, environment, sha");
        for row in txn.query_all_raw(sql.statement()).await? {
            flagged.insert((
                row.try_get("", "repository_id")?,
                row.try_get("", "environment")?,
                row.try_get("", "sha")?,
            ));
        }
        return Ok(flagged);
    }
    let per_statement = VALUES_PER_STATEMENT / 2 - 2 * streams.len();
    for chunk in shas.chunks(per_statement.max(100)) {
        let mut sql = Sql::new(txn.get_database_backend());
        sql.push("UPDATE deployment_commits SET shared = TRUE WHERE organization_id = ")
            .bind(organization_id)
            .push(" AND sha IN (")
            .bind_list(chunk.iter().map(|s| (*s).to_owned()))
            .push(") AND (");
        for (i, (repository_id, environment)) in streams.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(repository_id = ")
                .bind(*repository_id)
                .push(" AND environment = ")
                .bind((*environment).to_owned())
                .push(")");
        }
        sql.push(") RETURNING repository_id, environment, sha");
        for row in txn.query_all_raw(sql.statement()).await? {
            flagged.insert((
                row.try_get("", "repository_id")?,
                row.try_get("", "environment")?,
                row.try_get("", "sha")?,
            ));
        }
    }
    Ok(flagged)
}

fn placement(organization_id: Uuid, row: &BatchRow<'_>, now: DateTime<Utc>) -> Placement {
    let new = row.new;
    let mut commits: Vec<(String, DateTime<Utc>)> = new
        .commits
        .iter()
        .map(|c| (c.sha.clone(), c.committed_at))
        .collect();
    commits.sort();
    Placement {
        id: row.id,
        organization_id,
        repository_id: row.repository_id,
        environment: new.environment.clone(),
        is_production: new.is_production,
        deployed_at: deployed_at(new, now),
        number: row.number,
        outcome: super::facts::outcome(new.status.as_str(), new.finished_at.is_some()),
        is_fix: new.is_fix,
        is_hotfix: new.is_hotfix,
        is_rollback: new.is_rollback,
        commits,
    }
}

fn deployment_values(organization_id: Uuid, row: &BatchRow<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let new = row.new;
    vec![
        row.id.into(),
        row.number.into(),
        organization_id.into(),
        row.repository_id.into(),
        row.pusher_id.into(),
        new.environment.clone().into(),
        new.is_production.into(),
        new.title.clone().into(),
        new.changelog.clone().into(),
        new.url.clone().into(),
        new.branch.clone().into(),
        new.commit_id.clone().into(),
        new.node_id.clone().into(),
        new.pull_request_number.into(),
        new.commits_count.into(),
        new.duration_seconds.into(),
        new.is_fix.into(),
        new.is_hotfix.into(),
        new.is_forced.into(),
        new.is_rollback.into(),
        new.status.as_str().to_owned().into(),
        new.triggered_by.as_str().to_owned().into(),
        new.started_at.into(),
        new.finished_at.into(),
        deployed_at(new, now).into(),
        now.into(),
        now.into(),
        row.external_id.map(str::to_owned).into(),
    ]
}

/// Sets the external id of deployment `id` (an imported line recorded by
/// `store::deployments::insert`).
pub async fn set_external_id<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    external_id: &str,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push("UPDATE deployments SET external_id = ")
        .bind(external_id.to_owned())
        .push(" WHERE id = ")
        .bind(id);
    txn.execute_raw(sql.statement()).await?;
    Ok(())
}
