//! The metric reads: stored outcomes added up over an index range, and the facts of a scope.
//!
//! [`slots`] is what the metrics queries read (DESIGN.md §12). The `deployment_outcomes` rows
//! of the scope and window (`store::outcomes` keeps them) are added up in SQL per UTC day —
//! and per half-day when a series' buckets start mid-day, per repository or environment for a
//! breakdown — into `dora_metrics::OutcomeSlot`s: counts, the first and last success, and the
//! recovery and lead-time samples concatenated. One range scan of a covering index
//! (`ix_outcomes_production`, `ix_outcomes_environment`, `ix_outcomes_stream`) returns a few
//! rows per day, and `dora_metrics::summarize_slots` computes exactly what `compute` would.
//! The window's incidents (time to restore) come from [`incidents_in`].
//!
//! [`load`] reads facts instead, for what needs them (the explain listings, tests).
//! `dora_metrics::compute` needs a *sufficient* set of facts for its window (see the crate
//! documentation of `dora_metrics`). This module reads exactly that and nothing of the rest of
//! the organization's history, in a fixed number of queries (six; more only when a window is
//! followed by more than [`AFTER_WINDOW_SCAN`] deployments or incidents, or has more than
//! [`STREAMS_PER_QUERY`] streams):
//!
//! 1. the finished deployments of the window (the covering index `ix_deployments_window` on
//!    `(organization_id, is_production, deployed_at)`, or a stream/repository index for one
//!    repository);
//! 2. the commits of the window's successful deployments. Commit rows carry their deployment's
//!    organization, stream, `deployed_at` and outcome (kept by triggers, migration 000006), so
//!    the organization's production window is one range scan of
//!    `ix_deployment_commits_window`; narrower scopes read the window's deployments and their
//!    commits by deployment (`ix_deployment_commits_lead`). Each commit is flagged when an
//!    earlier successful deployment of the same stream, before the window, shipped it: one
//!    descent of `ix_deployment_commits_sha_stream`, only for the commits whose `shared` flag
//!    says another deployment of the stream lists them too. Those shas are handed to the
//!    engine as one synthetic successful deployment per stream, dated just before `from`;
//! 3. per stream of the window, the first successful deployment at or after `to`: the scope's
//!    successes after the window in time order while there are at most [`AFTER_WINDOW_SCAN`]
//!    (a window ending now has none), else one probe of the stream index per stream;
//! 4. the incidents in scope that started in the window (`(organization_id, started_at)`);
//! 5. incidents naming a window deployment that started outside it (`incidents(deployment_id)`);
//! 6. incidents after the window attributed by repository to a stream of the window, up to that
//!    stream's first later success: read like step 3, in time order while few, else per stream
//!    (`(repository_id, environment, started_at)`).
//!
//! The store → engine mapping is `domain::Status::outcome`; the SQL conditions that select
//! successes and finished deployments are generated from it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use dora_metrics::{CommitFact, DeploymentFact, IncidentFact, Outcome, OutcomeSlot, Window};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};
use uuid::Uuid;

use super::sql::Sql;
use crate::domain::Status;

/// How many streams one statement of steps 3 and 6 names (two or three parameters each).
pub const STREAMS_PER_QUERY: usize = 1000;

/// Steps 3 and 6 first read what follows the window in scope in time order, up to this many
/// rows: enough when the window ends at or near now, the common case. Past it, they probe per
/// stream instead.
pub const AFTER_WINDOW_SCAN: usize = 2000;

/// The `number` of the synthetic deployment that stands for a stream's successes before the
/// window (their shas only); no stored deployment has it.
pub const CONDENSED_NUMBER: i64 = i64::MIN;

/// Whether `fact` is such a synthetic deployment, not a stored one.
pub fn is_condensed(fact: &DeploymentFact) -> bool {
    fact.number == CONDENSED_NUMBER
}

/// What a metrics query covers: one organization, optionally narrowed.
#[derive(Debug, Clone)]
pub struct MetricsScope {
    pub organization_id: Uuid,
    pub repository_id: Option<Uuid>,
    /// The repositories of the `team` filter (an empty list matches nothing).
    pub team_repositories: Option<Vec<Uuid>>,
    /// Without it, the scope is the production deployments (`is_production`) and the
    /// production incidents.
    pub environment: Option<String>,
}

/// The facts of one scope and window, ready for `dora_metrics::compute`.
#[derive(Debug, Clone, Default)]
pub struct ScopeFacts {
    pub deployments: Vec<DeploymentFact>,
    pub incidents: Vec<IncidentFact>,
}

impl ScopeFacts {
    pub fn as_facts(&self) -> dora_metrics::Facts<'_> {
        dora_metrics::Facts {
            deployments: &self.deployments,
            incidents: &self.incidents,
        }
    }
}

/// The scope's filters, for the statements of this module.
impl Sql {
    /// `AND <alias>.repository_id …` for the repository and team filters.
    fn repository_filter(&mut self, alias: &str, scope: &MetricsScope) -> &mut Self {
        if let Some(repository_id) = scope.repository_id {
            self.push(&format!(" AND {alias}.repository_id = "))
                .bind(repository_id);
        }
        if let Some(repositories) = &scope.team_repositories {
            self.push(&format!(" AND {alias}.repository_id IN ("));
            if repositories.is_empty() {
                // Keeps the statement valid; matches nothing.
                self.push("NULL");
            }
            self.bind_list(repositories.iter().copied());
            self.push(")");
        }
        self
    }

    /// `AND <alias>.environment = …` or `AND <alias>.is_production = true`.
    fn environment_filter(&mut self, alias: &str, scope: &MetricsScope) -> &mut Self {
        match &scope.environment {
            Some(environment) => self
                .push(&format!(" AND {alias}.environment = "))
                .bind(environment.clone()),
            None => self
                .push(&format!(" AND {alias}.is_production = "))
                .bind(true),
        }
    }

    /// The deployments of the scope deployed in the window (any outcome).
    fn window_deployments(&mut self, alias: &str, scope: &MetricsScope, window: &Window) {
        self.push(&format!(" {alias}.organization_id = "))
            .bind(scope.organization_id);
        self.environment_filter(alias, scope)
            .repository_filter(alias, scope);
        self.push(&format!(" AND {alias}.deployed_at >= "))
            .bind(window.from)
            .push(&format!(" AND {alias}.deployed_at < "))
            .bind(window.to);
    }

    /// The incidents of the scope (organization, environment or production, repository/team).
    fn incident_scope(&mut self, alias: &str, scope: &MetricsScope) -> &mut Self {
        self.push(&format!(" {alias}.organization_id = "))
            .bind(scope.organization_id);
        self.environment_filter(alias, scope)
            .repository_filter(alias, scope)
    }
}

/// The SQL condition on `<alias>.status` and `<alias>.finished_at` that selects the
/// deployments whose outcome is one of `wanted`, generated from the one rule
/// ([`Status::outcome`]) so SQL and Rust never disagree.
fn outcome_condition(alias: &str, wanted: &[Outcome]) -> String {
    let mut always = Vec::new();
    let mut when_finished = Vec::new();
    for status in Status::ALL {
        let (unfinished, finished) = (
            wanted.contains(&status.outcome(false)),
            wanted.contains(&status.outcome(true)),
        );
        let word = format!("'{}'", status.as_str());
        match (unfinished, finished) {
            (true, true) => always.push(word),
            (false, true) => when_finished.push(word),
            // A status whose outcome needs it *not* finished: no such rule exists.
            (true, false) | (false, false) => {}
        }
    }
    let mut parts = Vec::new();
    if !always.is_empty() {
        parts.push(format!("{alias}.status IN ({})", always.join(", ")));
    }
    if !when_finished.is_empty() {
        parts.push(format!(
            "({alias}.status IN ({}) AND {alias}.finished_at IS NOT NULL)",
            when_finished.join(", ")
        ));
    }
    if parts.is_empty() {
        return "FALSE".to_owned();
    }
    format!("({})", parts.join(" OR "))
}

/// Successful deployments.
pub fn success(alias: &str) -> String {
    outcome_condition(alias, &[Outcome::Success])
}

/// Finished deployments: successes and failures.
pub fn finished(alias: &str) -> String {
    outcome_condition(alias, &[Outcome::Success, Outcome::Failure])
}

const DEPLOYMENT_COLUMNS: &str = "d.id, d.number, d.repository_id, d.environment, d.deployed_at, \
     d.status, d.finished_at IS NOT NULL AS has_finished, d.is_fix, d.is_hotfix, d.is_rollback";

const INCIDENT_COLUMNS: &str =
    "i.id, i.repository_id, i.environment, i.deployment_id, i.started_at, i.resolved_at";

/// The store's status → the engine's outcome (an unknown word, which the store never
/// writes, is pending).
pub fn outcome(status: &str, has_finished: bool) -> Outcome {
    status
        .parse::<Status>()
        .map_or(Outcome::Pending, |s| s.outcome(has_finished))
}

fn deployment_fact(row: &QueryResult) -> Result<DeploymentFact, DbErr> {
    let status: String = row.try_get("", "status")?;
    Ok(DeploymentFact {
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
    })
}

fn incident_fact(row: &QueryResult) -> Result<IncidentFact, DbErr> {
    Ok(IncidentFact {
        id: row.try_get("", "id")?,
        repository: row.try_get("", "repository_id")?,
        environment: row.try_get("", "environment")?,
        deployment: row.try_get("", "deployment_id")?,
        started_at: row.try_get("", "started_at")?,
        resolved_at: row.try_get("", "resolved_at")?,
    })
}

/// Reads a sufficient set of facts for `scope` over `window`.
pub async fn load<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
) -> Result<ScopeFacts, DbErr> {
    load_with(conn, scope, window, AFTER_WINDOW_SCAN).await
}

/// [`load`] with another limit for the scans after the window (tests use 0 to take the
/// per-stream path on small histories).
pub async fn load_with<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
    after_window_scan: usize,
) -> Result<ScopeFacts, DbErr> {
    let started = std::time::Instant::now();
    // Steps 1, 2, 4 and 5 need nothing from each other: they run at once, on as many
    // connections (one after the other inside a transaction).
    let (mut deployments, (mut commits, mut shipped_before), mut incidents, named) = tokio::try_join!(
        window_deployments(conn, scope, window),
        window_commits(conn, scope, window),
        window_incidents(conn, scope, window),
        named_incidents(conn, scope, window),
    )?;
    if deployments.is_empty() {
        // No deployment to attribute anything to: only time to restore remains.
        return Ok(ScopeFacts {
            deployments,
            incidents,
        });
    }
    incidents.extend(named);
    let after_window = started.elapsed();

    // The window's streams, and the shas their history shipped before the window.
    let mut streams: Vec<(Uuid, String)> = Vec::new();
    let mut seen: HashSet<(Uuid, &str)> = HashSet::new();
    let mut earlier: HashMap<(Uuid, String), Vec<CommitFact>> = HashMap::new();
    for deployment in &mut deployments {
        if let Some(shipped) = shipped_before.remove(&deployment.id) {
            earlier
                .entry((deployment.repository, deployment.environment.clone()))
                .or_default()
                .extend(shipped);
        }
        if let Some(list) = commits.remove(&deployment.id) {
            deployment.commits = list;
        }
    }
    for deployment in &deployments {
        if seen.insert((deployment.repository, deployment.environment.as_str())) {
            streams.push((deployment.repository, deployment.environment.clone()));
        }
    }

    let later = later_successes(conn, scope, window, &streams, after_window_scan).await?;
    let later_success: HashMap<(Uuid, &str), DateTime<Utc>> = later
        .iter()
        .map(|d| ((d.repository, d.environment.as_str()), d.deployed_at))
        .collect();
    let after_later = started.elapsed();

    // 6. Incidents after the window, attributed by repository to one of its streams.
    // Only streams with a success in the window: incidents attribute to successes only.
    let mut success_streams: Vec<(Uuid, &str, Option<DateTime<Utc>>)> = Vec::new();
    let mut seen: HashSet<(Uuid, &str)> = HashSet::new();
    for deployment in &deployments {
        let key = (deployment.repository, deployment.environment.as_str());
        if deployment.outcome == Outcome::Success && seen.insert(key) {
            success_streams.push((key.0, key.1, later_success.get(&key).copied()));
        }
    }
    incidents
        .extend(incidents_after(conn, scope, window, &success_streams, after_window_scan).await?);

    // The shas shipped before the window, as one successful deployment per stream.
    let before = window.from - TimeDelta::seconds(1);
    for ((repository, environment), commits) in earlier {
        deployments.push(DeploymentFact {
            // Random: no incident can name it.
            id: Uuid::new_v4(),
            number: CONDENSED_NUMBER,
            repository,
            environment,
            deployed_at: before,
            outcome: Outcome::Success,
            is_fix: false,
            is_hotfix: false,
            is_rollback: false,
            commits,
        });
    }
    deployments.extend(later);
    tracing::debug!(
        deployments = deployments.len(),
        incidents = incidents.len(),
        window_ms = after_window.as_secs_f64() * 1e3,
        later_ms = (after_later - after_window).as_secs_f64() * 1e3,
        incidents_after_ms = (started.elapsed() - after_later).as_secs_f64() * 1e3,
        "metric facts loaded"
    );
    Ok(ScopeFacts {
        deployments,
        incidents,
    })
}

/// Step 1: the window's finished deployments (pending ones are ignored by every metric).
async fn window_deployments<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
) -> Result<Vec<DeploymentFact>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE"
    ));
    sql.window_deployments("d", scope, window);
    sql.push(&format!(" AND {}", finished("d")));
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(deployment_fact)
        .collect()
}

/// Commits by deployment id.
type CommitsOf = HashMap<Uuid, Vec<CommitFact>>;

/// Step 2: the commits of the window's successful deployments, and (separately) those an
/// earlier success of the same stream shipped before `from`.
async fn window_commits<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
) -> Result<(CommitsOf, CommitsOf), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    // Only a commit another deployment of its stream also lists (`shared`) can have been
    // shipped before; the others, nearly all, need no probe. A scalar subquery with LIMIT 1
    // rather than EXISTS: PostgreSQL may turn an EXISTS into a hash of every earlier success
    // of the organization; this stays one descent of `ix_deployment_commits_sha_stream` per
    // shared commit (commit rows carry their deployment's stream and outcome).
    sql.push(
        "SELECT c.deployment_id, c.sha, c.committed_at, CASE WHEN c.shared THEN (\
         SELECT 1 FROM deployment_commits pc WHERE pc.sha = c.sha \
         AND pc.repository_id = c.repository_id AND pc.environment = c.environment \
         AND pc.deployed_at < ",
    )
    .bind(window.from);
    sql.push(" AND pc.is_success");
    if scope.environment.is_none() {
        sql.push(" AND pc.is_production = ").bind(true);
    }
    sql.push(" LIMIT 1) END AS shipped_before FROM ");
    if scope.environment.is_none()
        && scope.repository_id.is_none()
        && scope.team_repositories.is_none()
    {
        // The organization's production window: one range scan of
        // `ix_deployment_commits_window`, like the deployments' own.
        sql.push("deployment_commits c WHERE c.organization_id = ")
            .bind(scope.organization_id)
            .push(" AND c.is_production = ")
            .bind(true)
            .push(" AND c.deployed_at >= ")
            .bind(window.from)
            .push(" AND c.deployed_at < ")
            .bind(window.to)
            .push(" AND c.is_success");
    } else {
        // Narrower scopes: the window's deployments, then their commits by deployment.
        sql.push("deployments w JOIN deployment_commits c ON c.deployment_id = w.id WHERE");
        sql.window_deployments("w", scope, window);
        sql.push(&format!(" AND {}", success("w")));
    }
    let mut commits = CommitsOf::new();
    let mut shipped_before = CommitsOf::new();
    for row in conn.query_all_raw(sql.statement()).await? {
        let deployment_id: Uuid = row.try_get("", "deployment_id")?;
        let commit = CommitFact {
            sha: row.try_get("", "sha")?,
            committed_at: row.try_get("", "committed_at")?,
        };
        if row.try_get::<Option<i32>>("", "shipped_before")?.is_some() {
            shipped_before
                .entry(deployment_id)
                .or_default()
                .push(commit.clone());
        }
        commits.entry(deployment_id).or_default().push(commit);
    }
    Ok((commits, shipped_before))
}

/// Step 5: incidents naming a deployment of the window that started outside it.
async fn named_incidents<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
) -> Result<Vec<IncidentFact>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE"));
    sql.incident_scope("i", scope);
    sql.push(" AND (i.started_at < ")
        .bind(window.from)
        .push(" OR i.started_at >= ")
        .bind(window.to)
        .push(") AND i.deployment_id IN (SELECT d.id FROM deployments d WHERE");
    sql.window_deployments("d", scope, window);
    sql.push(")");
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(incident_fact)
        .collect()
}

/// Step 4: the incidents in scope that started in the window.
async fn window_incidents<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
) -> Result<Vec<IncidentFact>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE"));
    sql.incident_scope("i", scope);
    sql.push(" AND i.started_at >= ")
        .bind(window.from)
        .push(" AND i.started_at < ")
        .bind(window.to);
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(incident_fact)
        .collect()
}

/// Step 3: per stream of the window, its first success at or after `to`.
async fn later_successes<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
    streams: &[(Uuid, String)],
    scan: usize,
) -> Result<Vec<DeploymentFact>, DbErr> {
    let backend = conn.get_database_backend();
    let wanted: HashSet<(Uuid, &str)> = streams.iter().map(|(r, e)| (*r, e.as_str())).collect();
    // The scope's successes after the window, in stream order, while they are few.
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE d.organization_id = "
    ))
    .bind(scope.organization_id);
    sql.environment_filter("d", scope)
        .repository_filter("d", scope);
    sql.push(" AND d.deployed_at >= ").bind(window.to);
    sql.push(&format!(
        " AND {} ORDER BY d.deployed_at, d.number LIMIT {}",
        success("d"),
        scan + 1
    ));
    let rows = conn.query_all_raw(sql.statement()).await?;
    if rows.len() <= scan {
        let mut first: HashSet<(Uuid, String)> = HashSet::new();
        let mut later = Vec::new();
        for row in &rows {
            let fact = deployment_fact(row)?;
            let key = (fact.repository, fact.environment.as_str());
            if wanted.contains(&key) && first.insert((key.0, key.1.to_owned())) {
                later.push(fact);
            }
        }
        return Ok(later);
    }

    // Many: one probe of the stream index per stream, then the rows by (organization,
    // number) (an `IN (subquery)` lets PostgreSQL hash-join the whole table).
    let mut later_numbers: Vec<i64> = Vec::new();
    for chunk in streams.chunks(STREAMS_PER_QUERY) {
        let mut sql = Sql::new(backend);
        sql.push(
            "SELECT (SELECT x.number FROM deployments x WHERE x.repository_id = s.column1 \
             AND x.environment = s.column2 AND x.deployed_at >= ",
        )
        .bind(window.to);
        sql.push(&format!(" AND {}", success("x")));
        if scope.environment.is_none() {
            sql.push(" AND x.is_production = ").bind(true);
        }
        sql.push(" ORDER BY x.deployed_at, x.number LIMIT 1) AS number FROM (VALUES ");
        for (i, (repository, environment)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind(*repository)
                .push(", ")
                .bind(environment.clone())
                .push(")");
        }
        sql.push(") AS s");
        for row in conn.query_all_raw(sql.statement()).await? {
            if let Some(number) = row.try_get::<Option<i64>>("", "number")? {
                later_numbers.push(number);
            }
        }
    }
    let mut later: Vec<DeploymentFact> = Vec::new();
    for chunk in later_numbers.chunks(STREAMS_PER_QUERY) {
        let mut sql = Sql::new(backend);
        sql.push(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE d.organization_id = "
        ))
        .bind(scope.organization_id)
        .push(" AND d.number IN (");
        sql.bind_list(chunk.iter().copied());
        sql.push(")");
        for row in conn.query_all_raw(sql.statement()).await? {
            later.push(deployment_fact(&row)?);
        }
    }
    Ok(later)
}

/// Step 6: incidents in scope that started at or after `to`, name no deployment, and are
/// attributed by repository to a stream of `streams` (repository, environment, the stream's
/// first success after the window): up to that success, they attribute into the window.
async fn incidents_after<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
    streams: &[(Uuid, &str, Option<DateTime<Utc>>)],
    scan: usize,
) -> Result<Vec<IncidentFact>, DbErr> {
    let backend = conn.get_database_backend();
    // The scope's incidents after the window, while they are few.
    let mut sql = Sql::new(backend);
    sql.push(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE"));
    sql.incident_scope("i", scope);
    sql.push(" AND i.started_at >= ").bind(window.to);
    sql.push(&format!(
        " AND i.deployment_id IS NULL AND i.repository_id IS NOT NULL \
         ORDER BY i.started_at LIMIT {}",
        scan + 1
    ));
    let rows = conn.query_all_raw(sql.statement()).await?;
    if rows.len() <= scan {
        let until: HashMap<(Uuid, &str), Option<DateTime<Utc>>> =
            streams.iter().map(|(r, e, u)| ((*r, *e), *u)).collect();
        let mut incidents = Vec::new();
        for row in &rows {
            let incident = incident_fact(row)?;
            let Some(repository) = incident.repository else {
                continue;
            };
            let attributed = until
                .get(&(repository, incident.environment.as_str()))
                .is_some_and(|until| until.is_none_or(|u| incident.started_at <= u));
            if attributed {
                incidents.push(incident);
            }
        }
        return Ok(incidents);
    }

    // Many: join them per stream.
    let mut incidents = Vec::new();
    for chunk in streams.chunks(STREAMS_PER_QUERY) {
        let mut sql = Sql::new(backend);
        sql.push(&format!("SELECT {INCIDENT_COLUMNS} FROM (VALUES "));
        for (i, (repository, environment, until)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind(*repository)
                .push(", ")
                .bind(environment.to_string())
                .push(", ")
                .bind(*until)
                .push(")");
        }
        sql.push(
            ") AS s JOIN incidents i ON i.repository_id = s.column1 \
             AND i.environment = s.column2 AND i.started_at >= ",
        )
        .bind(window.to);
        // An incident that starts after the stream's next success is attributed to it or a
        // later one, never to the window.
        sql.push(" AND (s.column3 IS NULL OR i.started_at <= s.column3) WHERE");
        sql.incident_scope("i", scope);
        sql.push(" AND i.deployment_id IS NULL");
        for row in conn.query_all_raw(sql.statement()).await? {
            incidents.push(incident_fact(&row)?);
        }
    }
    Ok(incidents)
}

/// How the rows of [`slots`] are split besides the UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotGroup {
    /// The whole scope.
    Scope,
    /// Per repository.
    Repository,
    /// Per environment.
    Environment,
    /// Per (environment, repository, is_production): the `/metrics` snapshot.
    Stream,
}

/// One [`OutcomeSlot`] and what it is of.
#[derive(Debug, Clone)]
pub struct SlotRow {
    /// A `deployed_at` of one of its deployments (which bucket of a series it lies in).
    pub at: DateTime<Utc>,
    pub repository_id: Option<Uuid>,
    pub environment: Option<String>,
    pub is_production: Option<bool>,
    pub slot: OutcomeSlot,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `t` in microseconds since the epoch, rounded up: `deployed_at ≥ t` ⟺ `deployed_us ≥ this`
/// for the microsecond times the store keeps.
fn micros_ceil(t: DateTime<Utc>) -> i64 {
    let nanos = t.timestamp_subsec_nanos() % 1000;
    t.timestamp_micros() + i64::from(nanos > 0)
}

/// The scope's stored outcomes deployed in `window`, added up per UTC day (and per `group`).
/// With `split_at` (a time of day), each day is cut there too: the buckets of a series counted
/// back from a `to` that is not midnight start at that time of day.
pub async fn slots<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
    split_at: Option<TimeDelta>,
    group: SlotGroup,
) -> Result<Vec<SlotRow>, DbErr> {
    slots_where(
        conn,
        scope.organization_id,
        Some(scope),
        window,
        split_at,
        group,
    )
    .await
}

/// [`slots`] of every deployment of the organization, production or not, per day and stream
/// (the `/metrics` snapshot splits them into its scopes).
pub async fn slots_of_all<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    window: &Window,
) -> Result<Vec<SlotRow>, DbErr> {
    slots_where(conn, organization_id, None, window, None, SlotGroup::Stream).await
}

/// Every incident of the organization that started in the window, with its `is_production`.
pub async fn incidents_of_all<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    window: &Window,
) -> Result<Vec<(IncidentFact, bool)>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(&format!(
        "SELECT {INCIDENT_COLUMNS}, i.is_production FROM incidents i WHERE i.organization_id = "
    ))
    .bind(organization_id);
    sql.push(" AND i.started_at >= ")
        .bind(window.from)
        .push(" AND i.started_at < ")
        .bind(window.to);
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|row| Ok((incident_fact(row)?, row.try_get("", "is_production")?)))
        .collect()
}

async fn slots_where<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    scope: Option<&MetricsScope>,
    window: &Window,
    split_at: Option<TimeDelta>,
    group: SlotGroup,
) -> Result<Vec<SlotRow>, DbErr> {
    let backend = conn.get_database_backend();
    let (concat, recovery) = match backend {
        DbBackend::Postgres => ("string_agg", "o.recovery_seconds::text"),
        // 17 significant digits: every double prints and parses back exactly.
        _ => ("group_concat", "printf('%!.17g', o.recovery_seconds)"),
    };
    let mut keys = vec!["o.deployed_day"];
    match group {
        SlotGroup::Scope => {}
        SlotGroup::Repository => keys.push("o.repository_id"),
        SlotGroup::Environment => keys.push("o.environment"),
        SlotGroup::Stream => keys.extend(["o.environment", "o.repository_id", "o.is_production"]),
    }
    let mut sql = Sql::new(backend);
    sql.push(&format!("SELECT {}", keys.join(", ")));
    if let Some(split) = split_at {
        let split_us = split.num_microseconds().unwrap_or(0);
        sql.push(", CASE WHEN o.deployed_us - o.deployed_day * ")
            .push(&MICROS_PER_DAY.to_string())
            .push(" >= ")
            .bind(split_us)
            .push(" THEN 1 ELSE 0 END AS half");
    }
    sql.push(&format!(
        ", MIN(o.deployed_us) AS any_us, COUNT(*) AS finished, \
         SUM(CASE WHEN o.is_success THEN 1 ELSE 0 END) AS successes, \
         MIN(CASE WHEN o.is_success THEN o.deployed_us END) AS first_us, \
         MAX(CASE WHEN o.is_success THEN o.deployed_us END) AS last_us, \
         SUM(CASE WHEN o.change_failure THEN 1 ELSE 0 END) AS failures, \
         SUM(CASE WHEN o.change_failure AND o.recovery_seconds IS NULL THEN 1 ELSE 0 END) \
         AS unrecovered, SUM(CASE WHEN o.rework THEN 1 ELSE 0 END) AS rework, \
         {concat}(CASE WHEN o.recovery_seconds IS NOT NULL THEN {recovery} END, ',') \
         AS recovery, {concat}(o.lead_seconds, ',') AS lead \
         FROM deployment_outcomes o WHERE o.organization_id = "
    ))
    .bind(organization_id);
    if let Some(scope) = scope {
        sql.environment_filter("o", scope)
            .repository_filter("o", scope);
    }
    sql.push(" AND o.deployed_us >= ")
        .bind(micros_ceil(window.from))
        .push(" AND o.deployed_us < ")
        .bind(micros_ceil(window.to));
    sql.push(&format!(" GROUP BY {}", keys.join(", ")));
    if split_at.is_some() {
        sql.push(", half");
    }
    let mut out = Vec::new();
    for row in conn.query_all_raw(sql.statement()).await? {
        let micros = |column: &str| -> Result<Option<DateTime<Utc>>, DbErr> {
            Ok(row
                .try_get::<Option<i64>>("", column)?
                .and_then(DateTime::<Utc>::from_timestamp_micros))
        };
        let count = |column: &str| -> Result<u64, DbErr> {
            Ok(u64::try_from(row.try_get::<Option<i64>>("", column)?.unwrap_or(0)).unwrap_or(0))
        };
        let samples = |column: &str| -> Result<Vec<f64>, DbErr> {
            let text: Option<String> = row.try_get("", column)?;
            text.as_deref()
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<f64>()
                        .map_err(|e| DbErr::Custom(format!("stored sample `{s}`: {e}")))
                })
                .collect()
        };
        let at = micros("any_us")?
            .ok_or_else(|| DbErr::Custom("an outcome slot without a time".to_owned()))?;
        let has = |key: &str| keys.contains(&key);
        out.push(SlotRow {
            at,
            repository_id: if has("o.repository_id") {
                Some(row.try_get("", "repository_id")?)
            } else {
                None
            },
            environment: if has("o.environment") {
                Some(row.try_get("", "environment")?)
            } else {
                None
            },
            is_production: if has("o.is_production") {
                Some(row.try_get("", "is_production")?)
            } else {
                None
            },
            slot: OutcomeSlot {
                finished: count("finished")?,
                successes: count("successes")?,
                first_success: micros("first_us")?,
                last_success: micros("last_us")?,
                failures: count("failures")?,
                unrecovered: count("unrecovered")?,
                rework: count("rework")?,
                recovery_seconds: samples("recovery")?,
                lead_seconds: samples("lead")?,
            },
        });
    }
    Ok(out)
}

/// The incidents of the scope that started in the window (time to restore), with their
/// `is_production`.
pub async fn incidents_in<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
) -> Result<Vec<(IncidentFact, bool)>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(&format!(
        "SELECT {INCIDENT_COLUMNS}, i.is_production FROM incidents i WHERE"
    ));
    sql.incident_scope("i", scope);
    sql.push(" AND i.started_at >= ")
        .bind(window.from)
        .push(" AND i.started_at < ")
        .bind(window.to);
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|row| Ok((incident_fact(row)?, row.try_get("", "is_production")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_follow_the_status_rule() {
        assert_eq!(
            success("d"),
            "(d.status IN ('success') OR (d.status IN ('inactive') AND d.finished_at IS NOT NULL))"
        );
        assert_eq!(
            finished("d"),
            "(d.status IN ('success', 'failure', 'error') OR (d.status IN ('inactive') AND d.finished_at IS NOT NULL))"
        );
    }
}
