//! Derived outcomes kept at write time (DESIGN.md §12): the `deployment_outcomes` row of every
//! finished deployment says what `dora_metrics::derive` decides about it, and every write that
//! can change a row re-derives it in the same transaction. Metric reads then add rows up over
//! an index range (`store::facts`) instead of replaying facts.
//!
//! # The stream
//!
//! A stream is every deployment of one `(repository, environment)`, whatever its
//! `is_production`, ordered by `(deployed_at, number)`. A deployment's outcome is judged in
//! its whole stream, and every incident attributed to it counts, so a deployment has one
//! outcome whichever scope shows it: the production scope selects the production deployments
//! (and incidents, for time to restore), an environment scope that environment's.
//!
//! # What a write re-derives
//!
//! The outcome of D depends on D, its neighbours in stream order, the next success after it,
//! the incidents attributed to it and, for lead time, the earlier successes of its stream
//! listing its shas (`dora_metrics::outcomes`). So a write that changes a deployment's facts
//! (stream, time, outcome, flags, commits, `is_production`) re-derives, in the stream it left
//! and in the stream it is in now ([`deployment_changed`]):
//! - the deployments from the last success before its position up to the next deployment
//!   after it (their next success, neighbours and incidents by time may change);
//! - per sha it lists, the first other success of the stream listing it (its lead time);
//! - itself.
//!
//! A write to an incident re-derives the deployment it is attributed to, before and after
//! ([`incident_changed`]). Re-deriving a stretch of a stream loads only its sufficient facts
//! (the stretch, the deployment before and after it, the first success after it, which of its
//! shas earlier successes shipped, and the incidents that can be attributed into it), runs
//! `derive` and rewrites the stretch's rows.
//!
//! On PostgreSQL a write takes a transaction-scoped advisory lock per stream it re-derives
//! (before reading), so two writes to one stream re-derive one after the other and the second
//! sees the first. SQLite has one writer. A transaction that makes several writes may
//! re-derive after each: the locks are held to its end.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use dora_metrics::{
    CommitFact, DeploymentFact, DeploymentOutcome, Facts, IncidentFact, Outcome, Window,
};
use entity::{deployments, incidents};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};
use uuid::Uuid;

use super::{
    facts::{outcome, success},
    sql::Sql,
};

/// A deployment as far as its own and its neighbours' outcomes are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub repository_id: Uuid,
    pub environment: String,
    pub is_production: bool,
    pub deployed_at: DateTime<Utc>,
    pub number: i64,
    pub outcome: Outcome,
    pub is_fix: bool,
    pub is_hotfix: bool,
    pub is_rollback: bool,
    /// `(sha, committed_at)`, sorted.
    pub commits: Vec<(String, DateTime<Utc>)>,
}

impl Placement {
    /// The placement of `deployment` with these commits.
    pub fn new(deployment: &deployments::Model, commits: Vec<(String, DateTime<Utc>)>) -> Self {
        let mut commits = commits;
        commits.sort();
        Placement {
            id: deployment.id,
            organization_id: deployment.organization_id,
            repository_id: deployment.repository_id,
            environment: deployment.environment.clone(),
            is_production: deployment.is_production,
            deployed_at: deployment.deployed_at,
            number: deployment.number,
            outcome: outcome(&deployment.status, deployment.finished_at.is_some()),
            is_fix: deployment.is_fix,
            is_hotfix: deployment.is_hotfix,
            is_rollback: deployment.is_rollback,
            commits,
        }
    }

    /// The placement of `deployment`, its commits read from `conn`.
    pub async fn read<C: ConnectionTrait>(
        conn: &C,
        deployment: &deployments::Model,
    ) -> Result<Placement, DbErr> {
        let commits = commits_of(conn, deployment.id).await?;
        Ok(Placement::new(deployment, commits))
    }

    fn stream(&self) -> Stream {
        (self.repository_id, self.environment.clone())
    }
}

/// `(repository_id, environment)`.
type Stream = (Uuid, String);

/// What the metrics decide about a finished deployment that other writes can change: whether
/// it is a change failure, why, and how it recovered (the stored `change_failure`, `causes`
/// and `recovery`; the last two as JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub change_failure: bool,
    pub causes: String,
    pub recovery: Option<String>,
}

/// A finished deployment whose verdict a write changed (a deployment finished by the write
/// has no `before` and is not one: its status change tells).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeChange {
    pub deployment_id: Uuid,
    pub before: Verdict,
    pub after: Verdict,
}

/// The verdicts a write changed, in the order it re-derived them.
pub type OutcomeChanges = Vec<OutcomeChange>;

/// Re-derives what a write to one deployment changed: `before` is the deployment as it was
/// (`None` for a new one), `after` as it is now (`None` once deleted; the database cascades its
/// row away). Nothing when its facts did not change.
pub async fn deployment_changed<C: ConnectionTrait>(
    txn: &C,
    before: Option<&Placement>,
    after: Option<&Placement>,
) -> Result<OutcomeChanges, DbErr> {
    if before == after {
        return Ok(Vec::new());
    }
    let Some(organization_id) = after.or(before).map(|p| p.organization_id) else {
        return Ok(Vec::new());
    };
    let mut streams: Vec<Stream> = before.iter().chain(&after).map(|p| p.stream()).collect();
    lock_streams(txn, &mut streams).await?;
    let mut stretches = Stretches::default();
    // Every sha either side lists: its first shipment may have moved.
    let shas: Vec<String> = {
        let mut shas: Vec<String> = before
            .iter()
            .chain(&after)
            .flat_map(|p| p.commits.iter().map(|(sha, _)| sha.clone()))
            .collect();
        shas.sort();
        shas.dedup();
        shas
    };
    for (placement, is_after) in before
        .iter()
        .map(|p| (*p, false))
        .chain(after.iter().map(|p| (*p, true)))
    {
        let stream = placement.stream();
        let (from, to) = around(txn, placement).await?;
        // The deployment itself, where it is now.
        let (from, to) = if is_after {
            (
                from.min(placement.deployed_at),
                to.max(placement.deployed_at),
            )
        } else {
            (from, to)
        };
        if from <= to {
            stretches.add(&stream, from, to);
        }
        for at in first_shipments(txn, placement, &shas).await? {
            stretches.add(&stream, at, at);
        }
    }
    stretches.refresh(txn, organization_id).await
}

/// Re-derives after a write that changed the deployment row `before` into `after`, its commits
/// unchanged (statuses, PATCH, deploy-hook repeats). Reads the commits only when the row's
/// facts changed.
pub async fn deployment_updated<C: ConnectionTrait>(
    txn: &C,
    before: &deployments::Model,
    after: &deployments::Model,
) -> Result<OutcomeChanges, DbErr> {
    let before = Placement::new(before, Vec::new());
    let after = Placement::new(after, Vec::new());
    if before == after {
        return Ok(Vec::new());
    }
    let commits = commits_of(txn, after.id).await?;
    deployment_changed(
        txn,
        Some(&Placement {
            commits: commits.clone(),
            ..before
        }),
        Some(&Placement { commits, ..after }),
    )
    .await
}

/// The `(sha, committed_at)` of deployment `id`'s commits.
async fn commits_of<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Vec<(String, DateTime<Utc>)>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT sha, committed_at FROM deployment_commits WHERE deployment_id = ")
        .bind(id);
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "sha")?, row.try_get("", "committed_at")?)))
        .collect()
}

/// Re-derives the deployments an incident is attributed to, as it was (`before`, `None` for a
/// new one) and as it is (`after`, `None` once deleted).
pub async fn incident_changed<C: ConnectionTrait>(
    txn: &C,
    before: Option<&incidents::Model>,
    after: Option<&incidents::Model>,
) -> Result<OutcomeChanges, DbErr> {
    if before == after {
        return Ok(Vec::new());
    }
    let Some(organization_id) = after.or(before).map(|i| i.organization_id) else {
        return Ok(Vec::new());
    };
    let mut streams = Vec::new();
    for incident in before.iter().chain(&after) {
        match (incident.deployment_id, incident.repository_id) {
            (Some(id), _) => {
                if let Some((stream, _)) = deployment_point(txn, id).await? {
                    streams.push(stream);
                }
            }
            (None, Some(repository_id)) => {
                streams.push((repository_id, incident.environment.clone()));
            }
            (None, None) => {}
        }
    }
    lock_streams(txn, &mut streams).await?;
    let mut stretches = Stretches::default();
    for incident in before.iter().chain(&after) {
        let point = match (incident.deployment_id, incident.repository_id) {
            (Some(id), _) => deployment_point(txn, id).await?,
            (None, Some(repository_id)) => {
                let stream = (repository_id, incident.environment.clone());
                latest_success_before(txn, &stream, incident.started_at)
                    .await?
                    .map(|at| (stream, at))
            }
            (None, None) => None,
        };
        if let Some((stream, at)) = point {
            // Locked above unless a concurrent write moved the deployment since: lock it too.
            if !streams.contains(&stream) {
                let mut more = vec![stream.clone()];
                lock_streams(txn, &mut more).await?;
                streams.push(stream.clone());
            }
            stretches.add(&stream, at, at);
        }
    }
    stretches.refresh(txn, organization_id).await
}

/// Serializes the writes to `streams` on PostgreSQL until the transaction ends (sorted, so two
/// writers never wait on each other in a cycle).
async fn lock_streams<C: ConnectionTrait>(txn: &C, streams: &mut Vec<Stream>) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    if backend != DbBackend::Postgres || streams.is_empty() {
        return Ok(());
    }
    streams.sort();
    streams.dedup();
    let mut sql = Sql::new(backend);
    sql.push("SELECT ");
    for (i, (repository_id, environment)) in streams.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("pg_advisory_xact_lock(hashtextextended(")
            .bind(format!("dora-stream/{repository_id}/{environment}"))
            .push(", 0))");
    }
    txn.execute_raw(sql.statement()).await?;
    Ok(())
}

/// The stream and `deployed_at` of deployment `id`.
async fn deployment_point<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
) -> Result<Option<(Stream, DateTime<Utc>)>, DbErr> {
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push("SELECT repository_id, environment, deployed_at FROM deployments WHERE id = ")
        .bind(id);
    let Some(row) = txn.query_one_raw(sql.statement()).await? else {
        return Ok(None);
    };
    Ok(Some((
        (
            row.try_get("", "repository_id")?,
            row.try_get("", "environment")?,
        ),
        row.try_get("", "deployed_at")?,
    )))
}

/// `AND d.repository_id = … AND d.environment = …`.
fn in_stream(sql: &mut Sql, alias: &str, stream: &Stream) {
    sql.push(&format!(" {alias}.repository_id = "))
        .bind(stream.0)
        .push(&format!(" AND {alias}.environment = "))
        .bind(stream.1.clone());
}

/// When the latest success of `stream` deployed strictly before `t` was deployed.
async fn latest_success_before<C: ConnectionTrait>(
    txn: &C,
    stream: &Stream,
    t: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push("SELECT d.deployed_at FROM deployments d WHERE");
    in_stream(&mut sql, "d", stream);
    sql.push(" AND d.deployed_at < ").bind(t);
    sql.push(&format!(
        " AND {} ORDER BY d.deployed_at DESC, d.number DESC LIMIT 1",
        success("d")
    ));
    match txn.query_one_raw(sql.statement()).await? {
        Some(row) => Ok(Some(row.try_get("", "deployed_at")?)),
        None => Ok(None),
    }
}

/// The stretch of the stream around `placement`'s position (the deployment itself left out)
/// whose outcomes its presence there decides: from the last success before it (or the start of
/// the stream) to the first deployment after it. `(t, t)` when the stream has nothing else.
async fn around<C: ConnectionTrait>(
    txn: &C,
    placement: &Placement,
) -> Result<(DateTime<Utc>, DateTime<Utc>), DbErr> {
    let stream = placement.stream();
    let (t, number, id) = (placement.deployed_at, placement.number, placement.id);
    let mut sql = Sql::new(txn.get_database_backend());
    // Three probes of `ix_deployments_stream` in one statement.
    sql.push(
        "SELECT 'success' AS what, deployed_at FROM (SELECT d.deployed_at FROM deployments d WHERE",
    );
    in_stream(&mut sql, "d", &stream);
    sql.push(" AND d.id <> ").bind(id);
    sql.push(" AND (d.deployed_at, d.number) < (")
        .bind(t)
        .push(", ")
        .bind(number)
        .push(&format!(
            ") AND {} ORDER BY d.deployed_at DESC, d.number DESC LIMIT 1) AS s",
            success("d")
        ));
    sql.push(" UNION ALL SELECT 'first' AS what, deployed_at FROM (SELECT d.deployed_at FROM deployments d WHERE");
    in_stream(&mut sql, "d", &stream);
    sql.push(" AND d.id <> ").bind(id);
    sql.push(" ORDER BY d.deployed_at, d.number LIMIT 1) AS f");
    sql.push(" UNION ALL SELECT 'next' AS what, deployed_at FROM (SELECT d.deployed_at FROM deployments d WHERE");
    in_stream(&mut sql, "d", &stream);
    sql.push(" AND d.id <> ").bind(id);
    sql.push(" AND (d.deployed_at, d.number) > (")
        .bind(t)
        .push(", ")
        .bind(number)
        .push(") ORDER BY d.deployed_at, d.number LIMIT 1) AS n");
    let mut found: HashMap<String, DateTime<Utc>> = HashMap::new();
    for row in txn.query_all_raw(sql.statement()).await? {
        found.insert(row.try_get("", "what")?, row.try_get("", "deployed_at")?);
    }
    let from = found
        .get("success")
        .or_else(|| found.get("first"))
        .copied()
        .map_or(t, |from| from.min(t));
    let to = found.get("next").copied().map_or(t, |next| next.max(t));
    Ok((from, to))
}

/// Per sha of `shas`, when the first success of `placement`'s stream other than it that lists
/// the sha was deployed: its lead time may change with `placement`.
async fn first_shipments<C: ConnectionTrait>(
    txn: &C,
    placement: &Placement,
    shas: &[String],
) -> Result<Vec<DateTime<Utc>>, DbErr> {
    if shas.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(txn.get_database_backend());
    // Commit rows carry their deployment's stream, time and outcome (migration 000006): one
    // descent of `ix_deployment_commits_sha_stream` per sha.
    sql.push("SELECT MIN(c.deployed_at) AS at FROM deployment_commits c WHERE c.sha IN (")
        .bind_list(shas.iter().cloned())
        .push(") AND");
    in_stream(&mut sql, "c", &placement.stream());
    sql.push(" AND c.is_success AND c.deployment_id <> ")
        .bind(placement.id)
        .push(" GROUP BY c.sha");
    txn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|row| row.try_get("", "at"))
        .collect()
}

/// Stretches of streams to re-derive, `[from, to]` with both ends included, merged when they
/// overlap.
#[derive(Default)]
struct Stretches(BTreeMap<Stream, Vec<Stretch>>);

/// `[from, to]`, both ends included.
type Stretch = (DateTime<Utc>, DateTime<Utc>);

impl Stretches {
    fn add(&mut self, stream: &Stream, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.0.entry(stream.clone()).or_default().push((from, to));
    }

    async fn refresh<C: ConnectionTrait>(
        self,
        txn: &C,
        organization_id: Uuid,
    ) -> Result<OutcomeChanges, DbErr> {
        let mut changes = Vec::new();
        for (stream, mut stretches) in self.0 {
            stretches.sort();
            let mut merged: Vec<Stretch> = Vec::new();
            for (from, to) in stretches {
                match merged.last_mut() {
                    Some(last) if from <= last.1 => last.1 = last.1.max(to),
                    _ => merged.push((from, to)),
                }
            }
            for (from, to) in merged {
                changes.extend(refresh_stretch(txn, organization_id, &stream, from, to).await?);
            }
        }
        Ok(changes)
    }
}

const DEPLOYMENT_COLUMNS: &str = "d.id, d.number, d.repository_id, d.environment, \
     d.is_production, d.deployed_at, d.status, d.finished_at IS NOT NULL AS has_finished, \
     d.is_fix, d.is_hotfix, d.is_rollback";

/// The stored verdict of `d` (null columns when it has no row), for [`OutcomeChange`]s.
const VERDICT_COLUMNS: &str = "o.deployment_id IS NOT NULL AS has_verdict, \
     o.change_failure AS old_change_failure, o.causes AS old_causes, o.recovery AS old_recovery";

/// [`VERDICT_COLUMNS`] for the rows whose verdicts are not compared (outside the stretch).
const NO_VERDICT: &str = "FALSE AS has_verdict, FALSE AS old_change_failure, \
     NULL AS old_causes, NULL AS old_recovery";

/// `FROM deployments d` with its stored outcome.
const DEPLOYMENTS_WITH_VERDICT: &str =
    "deployments d LEFT JOIN deployment_outcomes o ON o.deployment_id = d.id";

/// The stored verdict of a row selected with [`VERDICT_COLUMNS`].
fn stored_verdict(row: &QueryResult) -> Result<Option<Verdict>, DbErr> {
    if !row.try_get::<bool>("", "has_verdict")? {
        return Ok(None);
    }
    Ok(Some(Verdict {
        change_failure: row.try_get("", "old_change_failure")?,
        causes: row.try_get("", "old_causes")?,
        recovery: row.try_get("", "old_recovery")?,
    }))
}

/// The verdict `outcome` stores.
fn verdict_of(outcome: &DeploymentOutcome) -> Result<Verdict, DbErr> {
    let json = |e: serde_json::Error| DbErr::Custom(e.to_string());
    Ok(Verdict {
        change_failure: outcome.change_failure,
        causes: serde_json::to_string(&outcome.causes).map_err(json)?,
        recovery: match &outcome.recovery {
            Some(recovery) => Some(serde_json::to_string(recovery).map_err(json)?),
            None => None,
        },
    })
}

const INCIDENT_COLUMNS: &str =
    "i.id, i.repository_id, i.environment, i.deployment_id, i.started_at, i.resolved_at";

/// A deployment read for re-deriving, with its `is_production`.
fn deployment_fact(row: &QueryResult) -> Result<(DeploymentFact, bool), DbErr> {
    let status: String = row.try_get("", "status")?;
    Ok((
        DeploymentFact {
            id: row.try_get("", "id")?,
            number: row.try_get("", "number")?,
            repository: row.try_get("", "repository_id")?,
            environment: row.try_get("", "environment")?,
            deployed_at: row.try_get("", "deployed_at")?,
            outcome: outcome(&status, row.try_get("", "has_finished")?),
            is_fix: row.try_get("", "is_fix")?,
            is_hotfix: row.try_get("", "is_hotfix")?,
            is_rollback: row.try_get("", "is_rollback")?,
            commits: Vec::new(),
        },
        row.try_get("", "is_production")?,
    ))
}

/// ` column IN (…ids)`; on PostgreSQL ` column = ANY(ARRAY(SELECT unnest($n::uuid[])))`, one
/// parameter whatever the number of ids, so the statement's shape stays the same and sqlx's
/// statement cache hits (see `store::sql::pg_array`).
fn in_list(sql: &mut Sql, column: &str, ids: &[Uuid]) {
    if sql.backend() == DbBackend::Postgres {
        sql.push(&format!(" {column} = ANY(ARRAY(SELECT unnest("))
            .bind(super::sql::pg_array(ids.iter().map(Uuid::to_string)))
            .push("::uuid[])))");
    } else {
        sql.push(&format!(" {column} IN ("))
            .bind_list(ids.iter().copied())
            .push(")");
    }
}

/// Re-derives every deployment of `stream` deployed in `[from, to]` and rewrites their rows.
async fn refresh_stretch<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    stream: &Stream,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<OutcomeChanges, DbErr> {
    let backend = txn.get_database_backend();
    // The stretch (with its stored verdicts), the deployment before and after it, and the
    // first success after it: four ranges of `ix_deployments_stream` in one statement.
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT 0 AS part, w.* FROM (SELECT {DEPLOYMENT_COLUMNS}, {VERDICT_COLUMNS} \
         FROM {DEPLOYMENTS_WITH_VERDICT} WHERE"
    ));
    in_stream(&mut sql, "d", stream);
    sql.push(" AND d.deployed_at >= ")
        .bind(from)
        .push(" AND d.deployed_at <= ")
        .bind(to)
        .push(") AS w");
    sql.push(&format!(
        " UNION ALL SELECT 1 AS part, p.* FROM (SELECT {DEPLOYMENT_COLUMNS}, {NO_VERDICT} \
         FROM deployments d WHERE"
    ));
    in_stream(&mut sql, "d", stream);
    sql.push(" AND d.deployed_at < ")
        .bind(from)
        .push(" ORDER BY d.deployed_at DESC, d.number DESC LIMIT 1) AS p");
    sql.push(&format!(
        " UNION ALL SELECT 2 AS part, n.* FROM (SELECT {DEPLOYMENT_COLUMNS}, {NO_VERDICT} \
         FROM deployments d WHERE"
    ));
    in_stream(&mut sql, "d", stream);
    sql.push(" AND d.deployed_at > ")
        .bind(to)
        .push(" ORDER BY d.deployed_at, d.number LIMIT 1) AS n");
    sql.push(&format!(
        " UNION ALL SELECT 3 AS part, s.* FROM (SELECT {DEPLOYMENT_COLUMNS}, {NO_VERDICT} \
         FROM deployments d WHERE"
    ));
    in_stream(&mut sql, "d", stream);
    sql.push(" AND d.deployed_at > ").bind(to);
    sql.push(&format!(
        " AND {} ORDER BY d.deployed_at, d.number LIMIT 1) AS s",
        success("d")
    ));
    let mut deployments: Vec<DeploymentFact> = Vec::new();
    let mut production: HashMap<Uuid, bool> = HashMap::new();
    let mut window_ids: Vec<Uuid> = Vec::new();
    let mut seen: HashSet<Uuid> = HashSet::new();
    let mut next_success_at: Option<DateTime<Utc>> = None;
    let mut stored: HashMap<Uuid, Verdict> = HashMap::new();
    for row in txn.query_all_raw(sql.statement()).await? {
        let part: i32 = row.try_get("", "part")?;
        let (fact, is_production) = deployment_fact(&row)?;
        if part == 3 || (part == 2 && fact.outcome == Outcome::Success) {
            next_success_at = Some(fact.deployed_at);
        }
        if part == 0 {
            window_ids.push(fact.id);
            production.insert(fact.id, is_production);
            if let Some(verdict) = stored_verdict(&row)? {
                stored.insert(fact.id, verdict);
            }
        }
        if seen.insert(fact.id) {
            deployments.push(fact);
        }
    }

    // The window's successes' commits, each flagged when an earlier success of the stream
    // shipped it (before the stretch; within it, the engine sees for itself).
    let successes: Vec<Uuid> = deployments
        .iter()
        .filter(|d| d.outcome == Outcome::Success && window_ids.contains(&d.id))
        .map(|d| d.id)
        .collect();
    let mut shipped_before: Vec<CommitFact> = Vec::new();
    if !successes.is_empty() {
        let mut sql = Sql::new(backend);
        sql.push(
            "SELECT c.deployment_id, c.sha, c.committed_at, (SELECT 1 FROM deployment_commits pc \
             WHERE pc.sha = c.sha AND pc.repository_id = c.repository_id \
             AND pc.environment = c.environment AND pc.deployed_at < ",
        )
        .bind(from)
        .push(" AND pc.is_success LIMIT 1) AS shipped_before FROM deployment_commits c WHERE");
        in_list(&mut sql, "c.deployment_id", &successes);
        sql.push(" ORDER BY c.deployment_id, c.sha");
        let index: HashMap<Uuid, usize> = deployments
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id, i))
            .collect();
        for row in txn.query_all_raw(sql.statement()).await? {
            let id: Uuid = row.try_get("", "deployment_id")?;
            let commit = CommitFact {
                sha: row.try_get("", "sha")?,
                committed_at: row.try_get("", "committed_at")?,
            };
            if row.try_get::<Option<i32>>("", "shipped_before")?.is_some() {
                shipped_before.push(commit.clone());
            }
            if let Some(deployment) = index.get(&id).and_then(|&i| deployments.get_mut(i)) {
                deployment.commits.push(commit);
            }
        }
    }
    // What earlier successes shipped, as one success before everything (no incident names it).
    let earlier = Uuid::new_v4();
    if !shipped_before.is_empty() {
        deployments.push(DeploymentFact {
            id: earlier,
            number: i64::MIN,
            repository: stream.0,
            environment: stream.1.clone(),
            deployed_at: DateTime::<Utc>::MIN_UTC,
            outcome: Outcome::Success,
            is_fix: false,
            is_hotfix: false,
            is_rollback: false,
            commits: shipped_before,
        });
    }

    // Incidents naming a deployment of the stretch, and those attributed by time into it: they
    // start after `from` and no later than the first success after the stretch.
    let mut incidents: Vec<IncidentFact> = Vec::new();
    if !window_ids.is_empty() {
        let mut sql = Sql::new(backend);
        sql.push(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE"));
        in_list(&mut sql, "i.deployment_id", &window_ids);
        sql.push(&format!(
            " UNION ALL SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE i.organization_id = "
        ))
        .bind(organization_id)
        .push(" AND");
        in_stream(&mut sql, "i", stream);
        sql.push(" AND i.deployment_id IS NULL AND i.started_at > ")
            .bind(from);
        if let Some(until) = next_success_at {
            sql.push(" AND i.started_at <= ").bind(until);
        }
        for row in txn.query_all_raw(sql.statement()).await? {
            incidents.push(IncidentFact {
                id: row.try_get("", "id")?,
                repository: row.try_get("", "repository_id")?,
                environment: row.try_get("", "environment")?,
                deployment: row.try_get("", "deployment_id")?,
                started_at: row.try_get("", "started_at")?,
                resolved_at: row.try_get("", "resolved_at")?,
            });
        }
    }

    let window = Window {
        from,
        to: to + TimeDelta::nanoseconds(1),
    };
    let mut outcomes = dora_metrics::derive(
        &Facts {
            deployments: &deployments,
            incidents: &incidents,
        },
        &window,
    );
    for outcome in &mut outcomes {
        // The stand-in for earlier history is nobody's neighbour.
        if outcome.neighbours.previous == Some(earlier) {
            outcome.neighbours.previous = None;
        }
    }
    let finished: HashSet<Uuid> = outcomes.iter().map(|o| o.deployment.id).collect();
    let unfinished: Vec<Uuid> = window_ids
        .iter()
        .copied()
        .filter(|id| !finished.contains(id))
        .collect();
    if !unfinished.is_empty() {
        let mut sql = Sql::new(backend);
        sql.push("DELETE FROM deployment_outcomes WHERE");
        in_list(&mut sql, "deployment_id", &unfinished);
        txn.execute_raw(sql.statement()).await?;
    }
    write(txn, organization_id, &outcomes, &production).await?;
    let mut changes = Vec::new();
    for outcome in &outcomes {
        if let Some(before) = stored.remove(&outcome.deployment.id) {
            let after = verdict_of(outcome)?;
            if after != before {
                changes.push(OutcomeChange {
                    deployment_id: outcome.deployment.id,
                    before,
                    after,
                });
            }
        }
    }
    Ok(changes)
}

/// The columns of a row, in the order [`row_values`] gives them.
pub const COLUMNS: [&str; 20] = [
    "deployment_id",
    "organization_id",
    "repository_id",
    "environment",
    "is_production",
    "deployed_at",
    "deployed_us",
    "deployed_day",
    "number",
    "is_success",
    "change_failure",
    "recovery_seconds",
    "rework",
    "lead_seconds",
    "lead_shas",
    "causes",
    "recovery",
    "previous_id",
    "next_id",
    "next_success_id",
];

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Rows per statement (20 values each).
const ROWS_PER_STATEMENT: usize = 1000;

/// Inserts or rewrites the rows of `outcomes`.
async fn write<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    outcomes: &[DeploymentOutcome],
    production: &HashMap<Uuid, bool>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    for batch in outcomes.chunks(ROWS_PER_STATEMENT) {
        if batch.is_empty() {
            continue;
        }
        let mut sql = Sql::new(backend);
        sql.push(&format!(
            "INSERT INTO deployment_outcomes ({}) VALUES ",
            COLUMNS.join(", ")
        ));
        for (r, outcome) in batch.iter().enumerate() {
            if r > 0 {
                sql.push(", ");
            }
            let is_production = production
                .get(&outcome.deployment.id)
                .copied()
                .unwrap_or(false);
            sql.push("(")
                .bind_list(row_values(outcome, organization_id, is_production)?)
                .push(")");
        }
        let updates: Vec<String> = COLUMNS
            .iter()
            .skip(1)
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        sql.push(&format!(
            " ON CONFLICT (deployment_id) DO UPDATE SET {}",
            updates.join(", ")
        ));
        txn.execute_raw(sql.statement()).await?;
    }
    Ok(())
}

/// The stored row of one outcome (migration 000009 computes the same for existing data).
pub fn row_values(
    outcome: &DeploymentOutcome,
    organization_id: Uuid,
    is_production: bool,
) -> Result<Vec<sea_orm::Value>, DbErr> {
    let deployed_us = outcome.deployment.deployed_at.timestamp_micros();
    let samples: Vec<(&str, f64)> = outcome
        .commits
        .iter()
        .filter_map(|c| c.lead_time.sample().map(|s| (c.sha.as_str(), s)))
        .collect();
    let joined = |items: Vec<String>| (!items.is_empty()).then(|| items.join(","));
    let lead_seconds = joined(samples.iter().map(|(_, s)| s.to_string()).collect());
    let lead_shas = joined(samples.iter().map(|(sha, _)| (*sha).to_owned()).collect());
    let verdict = verdict_of(outcome)?;
    Ok(vec![
        outcome.deployment.id.into(),
        organization_id.into(),
        outcome.deployment.repository.into(),
        outcome.deployment.environment.clone().into(),
        is_production.into(),
        outcome.deployment.deployed_at.into(),
        deployed_us.into(),
        deployed_us.div_euclid(MICROS_PER_DAY).into(),
        outcome.deployment.number.into(),
        (outcome.outcome == Outcome::Success).into(),
        outcome.change_failure.into(),
        outcome
            .recovery
            .as_ref()
            .and_then(dora_metrics::Recovery::seconds)
            .into(),
        outcome.rework.into(),
        lead_seconds.into(),
        lead_shas.into(),
        verdict.causes.into(),
        verdict.recovery.into(),
        outcome.neighbours.previous.into(),
        outcome.neighbours.next.into(),
        outcome.neighbours.next_success.into(),
    ])
}

/// Deployments re-derived per stretch by [`organization_rederived`]: bounds what one stretch
/// loads (and the ids one statement binds).
const IMPORT_STRETCH: i64 = 5_000;

/// Derives the outcome of every deployment of the organization (after an import wrote its
/// facts): each stream in consecutive stretches of about [`IMPORT_STRETCH`] deployments, each
/// stretch re-derived as any write re-derives one.
pub async fn organization_rederived<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push(
        "SELECT repository_id, environment, MIN(deployed_at) AS first_at, \
         MAX(deployed_at) AS last_at FROM deployments WHERE organization_id = ",
    )
    .bind(organization_id)
    .push(" GROUP BY repository_id, environment ORDER BY repository_id, environment");
    let streams: Vec<(Stream, DateTime<Utc>, DateTime<Utc>)> = txn
        .query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|row| {
            Ok((
                (
                    row.try_get("", "repository_id")?,
                    row.try_get("", "environment")?,
                ),
                row.try_get("", "first_at")?,
                row.try_get("", "last_at")?,
            ))
        })
        .collect::<Result<_, DbErr>>()?;
    for (stream, first, last) in streams {
        let mut from = first;
        loop {
            // The time of the IMPORT_STRETCH-th deployment from `from` (ties stay together).
            let mut sql = Sql::new(backend);
            sql.push("SELECT d.deployed_at FROM deployments d WHERE");
            in_stream(&mut sql, "d", &stream);
            sql.push(" AND d.deployed_at >= ").bind(from);
            sql.push(&format!(
                " ORDER BY d.deployed_at, d.number LIMIT 1 OFFSET {}",
                IMPORT_STRETCH - 1
            ));
            let to = match txn.query_one_raw(sql.statement()).await? {
                Some(row) => row.try_get::<DateTime<Utc>>("", "deployed_at")?,
                None => last,
            };
            refresh_stretch(txn, organization_id, &stream, from, to).await?;
            let mut sql = Sql::new(backend);
            sql.push("SELECT MIN(d.deployed_at) AS at FROM deployments d WHERE");
            in_stream(&mut sql, "d", &stream);
            sql.push(" AND d.deployed_at > ").bind(to);
            match txn.query_one_raw(sql.statement()).await? {
                Some(row) => match row.try_get::<Option<DateTime<Utc>>>("", "at")? {
                    Some(next) => from = next,
                    None => break,
                },
                None => break,
            }
        }
    }
    Ok(())
}

/// What a batch of new deployments (`POST /api/v1/deployments/import`) must re-derive once
/// written: planned from the streams as they are before the batch is inserted, refreshed
/// after ([`BatchPlan::refresh`]).
///
/// Per new deployment it is the stretch one create re-derives ([`deployment_changed`]: from
/// the last success before its position, else the start of its stream, to the next deployment
/// after it), taken in the streams as they were before the batch: the batch's other
/// deployments only move those ends inwards, so these stretches hold every stretch the
/// creates one by one would re-derive. Plus, per sha the batch lists, the first success of the
/// stream that listed it before (its lead time may no longer be the first). The stretches of
/// a stream merge where they overlap: a batch appended to the end of a stream re-derives one
/// stretch, from its last success on.
pub struct BatchPlan {
    organization_id: Uuid,
    stretches: Stretches,
}

/// Plans the re-derivation after `placements` (new deployments of one organization, not yet
/// inserted) are inserted; takes the streams' locks (PostgreSQL) first.
pub async fn batch_planned<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    placements: &[Placement],
) -> Result<BatchPlan, DbErr> {
    let mut by_stream: BTreeMap<Stream, Vec<&Placement>> = BTreeMap::new();
    for placement in placements {
        by_stream
            .entry(placement.stream())
            .or_default()
            .push(placement);
    }
    let mut streams: Vec<Stream> = by_stream.keys().cloned().collect();
    lock_streams(txn, &mut streams).await?;
    let mut stretches = Stretches::default();
    let mut ranges: Vec<(Stream, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (stream, news) in &mut by_stream {
        news.sort_by_key(|p| (p.deployed_at, p.number));
        if let (Some(first_new), Some(last_new)) = (news.first(), news.last()) {
            ranges.push((stream.clone(), first_new.deployed_at, last_new.deployed_at));
        }
    }
    // PostgreSQL: every stream's probes in one statement (a round trip per stream otherwise).
    let mut all_keys = if txn.get_database_backend() == DbBackend::Postgres {
        streams_keys_postgres(txn, &ranges).await?
    } else {
        HashMap::new()
    };
    for (stream, news) in by_stream {
        let (Some(first_new), Some(last_new)) = (news.first(), news.last()) else {
            continue;
        };
        let known = match all_keys.remove(&stream) {
            Some(keys) => keys,
            None => stream_keys(txn, &stream, first_new.deployed_at, last_new.deployed_at).await?,
        };
        for p in &news {
            let key = (p.deployed_at, p.number);
            let at = known.rows.partition_point(|r| (r.0, r.1) < key);
            // The last success before the position, else the stream's first deployment.
            let success_before = known.rows[..at]
                .iter()
                .rev()
                .find(|r| r.2)
                .map(|r| r.0)
                .or(known.success_before);
            let from = success_before
                .or(known.first)
                .map_or(p.deployed_at, |from| from.min(p.deployed_at));
            let after = known.rows[at..]
                .iter()
                .find(|r| (r.0, r.1) > key)
                .map(|r| r.0)
                .or(known.next);
            let to = after.map_or(p.deployed_at, |to| to.max(p.deployed_at));
            stretches.add(&stream, from, to);
        }
    }
    // Per (stream, sha) the batch lists, the first success that listed it before.
    let mut listed: HashSet<(Uuid, &str, &str)> = HashSet::new();
    for p in placements {
        for (sha, _) in &p.commits {
            listed.insert((p.repository_id, p.environment.as_str(), sha.as_str()));
        }
    }
    let mut shas: Vec<&str> = listed.iter().map(|(_, _, sha)| *sha).collect();
    shas.sort_unstable();
    shas.dedup();
    let postgres = txn.get_database_backend() == DbBackend::Postgres;
    // PostgreSQL: one statement of fixed shape (the shas as one array parameter).
    let per_statement = if postgres {
        shas.len().max(1)
    } else {
        ROWS_PER_STATEMENT
    };
    for chunk in shas.chunks(per_statement) {
        let mut sql = Sql::new(txn.get_database_backend());
        sql.push(
            "SELECT c.repository_id, c.environment, c.sha, MIN(c.deployed_at) AS at \
             FROM deployment_commits c WHERE c.organization_id = ",
        )
        .bind(organization_id);
        if postgres {
            sql.push(" AND c.sha = ANY(ARRAY(SELECT unnest(")
                .bind(super::sql::pg_array(chunk.iter().copied()))
                .push("::text[])))");
        } else {
            sql.push(" AND c.sha IN (")
                .bind_list(chunk.iter().map(|s| (*s).to_owned()))
                .push(")");
        }
        sql.push(" AND c.is_success GROUP BY c.repository_id, c.environment, c.sha");
        for row in txn.query_all_raw(sql.statement()).await? {
            let repository_id: Uuid = row.try_get("", "repository_id")?;
            let environment: String = row.try_get("", "environment")?;
            let sha: String = row.try_get("", "sha")?;
            if listed.contains(&(repository_id, environment.as_str(), sha.as_str())) {
                let at: DateTime<Utc> = row.try_get("", "at")?;
                stretches.add(&(repository_id, environment), at, at);
            }
        }
    }
    Ok(BatchPlan {
        organization_id,
        stretches,
    })
}

impl BatchPlan {
    /// Re-derives the planned stretches (the batch is inserted, with its commits). The
    /// verdicts it changes are not answered: an import is history and tells nobody
    /// (README, "Bulk import (backfilling history)").
    pub async fn refresh<C: ConnectionTrait>(self, txn: &C) -> Result<(), DbErr> {
        self.stretches.refresh(txn, self.organization_id).await?;
        Ok(())
    }
}

/// A stream's deployments in `[from, to]` before a batch, and its probes outside.
struct StreamKeys {
    /// `(deployed_at, number, is_success)` in stream order.
    rows: Vec<(DateTime<Utc>, i64, bool)>,
    /// The last success deployed before `from`.
    success_before: Option<DateTime<Utc>>,
    /// The stream's first deployment.
    first: Option<DateTime<Utc>>,
    /// The first deployment after `to`.
    next: Option<DateTime<Utc>>,
}

/// [`stream_keys`] of every `(stream, from, to)` in one statement of fixed shape (PostgreSQL:
/// the ranges as arrays, each probed by a lateral subquery).
async fn streams_keys_postgres<C: ConnectionTrait>(
    txn: &C,
    ranges: &[(Stream, DateTime<Utc>, DateTime<Utc>)],
) -> Result<HashMap<Stream, StreamKeys>, DbErr> {
    use super::sql::{pg_array, pg_time};
    let mut sql = Sql::new(DbBackend::Postgres);
    let columns = format!(
        "d.deployed_at, d.number, CASE WHEN {} THEN 1 ELSE 0 END AS ok",
        success("d")
    );
    let stream = "d.repository_id = s.repository_id AND d.environment = s.environment";
    sql.push("SELECT s.i, p.* FROM unnest(")
        .bind(pg_array(ranges.iter().map(|r| r.0.0.to_string())))
        .push("::uuid[], ")
        .bind(pg_array(ranges.iter().map(|r| r.0.1.as_str())))
        .push("::text[], ")
        .bind(pg_array(ranges.iter().map(|r| pg_time(r.1))))
        .push("::timestamptz[], ")
        .bind(pg_array(ranges.iter().map(|r| pg_time(r.2))))
        .push(&format!(
            "::timestamptz[]) WITH ORDINALITY AS s(repository_id, environment, from_at, to_at, i) \
             CROSS JOIN LATERAL (\
             SELECT 0 AS part, w.* FROM (SELECT {columns} FROM deployments d WHERE {stream} \
             AND d.deployed_at >= s.from_at AND d.deployed_at <= s.to_at) AS w \
             UNION ALL SELECT 1 AS part, b.* FROM (SELECT {columns} FROM deployments d \
             WHERE {stream} AND d.deployed_at < s.from_at AND {} \
             ORDER BY d.deployed_at DESC, d.number DESC LIMIT 1) AS b \
             UNION ALL SELECT 2 AS part, f.* FROM (SELECT {columns} FROM deployments d \
             WHERE {stream} ORDER BY d.deployed_at, d.number LIMIT 1) AS f \
             UNION ALL SELECT 3 AS part, n.* FROM (SELECT {columns} FROM deployments d \
             WHERE {stream} AND d.deployed_at > s.to_at \
             ORDER BY d.deployed_at, d.number LIMIT 1) AS n) AS p",
            success("d")
        ));
    let mut all: HashMap<Stream, StreamKeys> = ranges
        .iter()
        .map(|(stream, _, _)| {
            (
                stream.clone(),
                StreamKeys {
                    rows: Vec::new(),
                    success_before: None,
                    first: None,
                    next: None,
                },
            )
        })
        .collect();
    for row in txn.query_all_raw(sql.statement()).await? {
        let i: i64 = row.try_get("", "i")?;
        let Some((stream, _, _)) = usize::try_from(i - 1).ok().and_then(|i| ranges.get(i)) else {
            continue;
        };
        let Some(keys) = all.get_mut(stream) else {
            continue;
        };
        keys.add(&row)?;
    }
    for keys in all.values_mut() {
        keys.rows.sort_by_key(|r| (r.0, r.1));
    }
    Ok(all)
}

impl StreamKeys {
    /// A row of [`stream_keys`]' statement.
    fn add(&mut self, row: &QueryResult) -> Result<(), DbErr> {
        let part: i32 = row.try_get("", "part")?;
        let at: DateTime<Utc> = row.try_get("", "deployed_at")?;
        match part {
            0 => self.rows.push((
                at,
                row.try_get("", "number")?,
                row.try_get::<i32>("", "ok")? == 1,
            )),
            1 => self.success_before = Some(at),
            2 => self.first = Some(at),
            _ => self.next = Some(at),
        }
        Ok(())
    }
}

async fn stream_keys<C: ConnectionTrait>(
    txn: &C,
    stream: &Stream,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<StreamKeys, DbErr> {
    let mut sql = Sql::new(txn.get_database_backend());
    // Four ranges of `ix_deployments_stream` in one statement.
    let columns = format!(
        "d.deployed_at, d.number, CASE WHEN {} THEN 1 ELSE 0 END AS ok",
        success("d")
    );
    sql.push(&format!(
        "SELECT 0 AS part, w.* FROM (SELECT {columns} FROM deployments d WHERE"
    ));
    in_stream(&mut sql, "d", stream);
    sql.push(" AND d.deployed_at >= ")
        .bind(from)
        .push(" AND d.deployed_at <= ")
        .bind(to)
        .push(") AS w");
    sql.push(&format!(
        " UNION ALL SELECT 1 AS part, s.* FROM (SELECT {columns} FROM deployments d WHERE"
    ));
    in_stream(&mut sql, "d", stream);
    sql.push(" AND d.deployed_at < ").bind(from);
    sql.push(&format!(
        " AND {} ORDER BY d.deployed_at DESC, d.number DESC LIMIT 1) AS s",
        success("d")
    ));
    sql.push(&format!(
        " UNION ALL SELECT 2 AS part, f.* FROM (SELECT {columns} FROM deployments d WHERE"
    ));
    in_stream(&mut sql, "d", stream);
    sql.push(" ORDER BY d.deployed_at, d.number LIMIT 1) AS f");
    sql.push(&format!(
        " UNION ALL SELECT 3 AS part, n.* FROM (SELECT {columns} FROM deployments d WHERE"
    ));
    in_stream(&mut sql, "d", stream);
    sql.push(" AND d.deployed_at > ").bind(to);
    sql.push(" ORDER BY d.deployed_at, d.number LIMIT 1) AS n");
    let mut keys = StreamKeys {
        rows: Vec::new(),
        success_before: None,
        first: None,
        next: None,
    };
    for row in txn.query_all_raw(sql.statement()).await? {
        keys.add(&row)?;
    }
    keys.rows.sort_by_key(|r| (r.0, r.1));
    Ok(keys)
}
