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
    Db,
    outcomes::{self, Placement},
    sql::Sql,
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
    for chunk in external_ids.chunks(1000) {
        if chunk.is_empty() {
            continue;
        }
        let mut sql = Sql::new(conn.get_database_backend());
        sql.push("SELECT id, external_id FROM deployments WHERE organization_id = ")
            .bind(organization_id)
            .push(" AND external_id IN (")
            .bind_list(chunk.iter().map(|s| (*s).to_owned()))
            .push(")");
        for row in conn.query_all_raw(sql.statement()).await? {
            found.insert(row.try_get("", "external_id")?, row.try_get("", "id")?);
        }
    }
    Ok(found)
}

/// Reserves `n` consecutive deployment numbers of the organization and returns the first:
/// on PostgreSQL in a transaction of its own before the batch's (like
/// `store::deployments::reserve_number`), so concurrent writers of the organization do not
/// queue behind the batch; `None` on SQLite (take them with [`take_numbers`] in the batch's
/// transaction).
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
        // PostgreSQL's target lists hold at most 1,664 entries.
        for chunk in keys.chunks(1000) {
            let mut sql = Sql::new(backend);
            sql.push("SELECT ");
            for (i, key) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("pg_advisory_xact_lock(hashtextextended(")
                    .bind(key.clone())
                    .push(", 0))");
            }
            txn.execute_raw(sql.statement()).await?;
        }
    }
    let placements: Vec<Placement> = rows
        .iter()
        .map(|row| placement(organization_id, row, now))
        .collect();
    // Planned before the rows exist (see `BatchPlan`); takes the stream locks.
    let plan = outcomes::batch_planned(txn, organization_id, &placements).await?;
    let shared = flag_shared(txn, organization_id, &listed).await?;

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
    let commits: Vec<(Uuid, &str, DateTime<Utc>, bool)> = rows
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
                (row.id, c.sha.as_str(), c.committed_at, is_shared)
            })
        })
        .collect();
    for chunk in commits.chunks(VALUES_PER_STATEMENT / 4) {
        let mut sql = Sql::new(backend);
        sql.push(
            "INSERT INTO deployment_commits (deployment_id, sha, committed_at, shared) VALUES ",
        );
        for (i, (id, sha, committed_at, is_shared)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind(*id)
                .push(", ")
                .bind((*sha).to_owned())
                .push(", ")
                .bind(*committed_at)
                .push(", ")
                .bind(*is_shared)
                .push(")");
        }
        txn.execute_raw(sql.statement()).await?;
    }
    plan.refresh(txn).await
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
