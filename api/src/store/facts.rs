//! The metric reads: stored outcomes added up over an index range, and the facts of a scope.
//!
//! [`slots`] is what the metrics queries read where daily rollups do not serve them
//! (`store::rollups` serves the production scope and single environments, and reads the
//! outcome rows through [`aggregate_columns`] for the days it has no clean rollup of). The
//! `deployment_outcomes` rows of the scope and window (`store::outcomes` keeps them) are
//! added up in SQL into `dora_metrics::OutcomeSlot`s — per UTC day (and environment) for a
//! summary or series, per repository for a breakdown, per stream for the `/metrics` snapshot —
//! holding counts, the first and last success of a day (or every success's time for a row of
//! many days), and the recovery and lead-time samples concatenated. One range scan of a
//! covering index (`ix_outcomes_production`, `ix_outcomes_environment`, `ix_outcomes_stream`)
//! returns a row per day or group, and `dora_metrics::summarize_slots` computes exactly what
//! `compute` would. The window's incidents (time to restore) come from [`incidents_in`].
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
    pub(crate) fn repository_filter(&mut self, alias: &str, scope: &MetricsScope) -> &mut Self {
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
    pub(crate) fn environment_filter(&mut self, alias: &str, scope: &MetricsScope) -> &mut Self {
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

/// How the rows of [`slots`] are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotGroup {
    /// The whole scope, per UTC day.
    Scope,
    /// Per environment and UTC day.
    Environment,
    /// Per repository, every day of the window in one row.
    Repository,
    /// Per (environment, repository, is_production), every day in one row: the `/metrics`
    /// snapshot.
    Stream,
}

impl SlotGroup {
    /// Whether a row holds one UTC day (else every day of the window).
    fn per_day(self) -> bool {
        matches!(self, SlotGroup::Scope | SlotGroup::Environment)
    }
}

/// One [`OutcomeSlot`] and what it is of.
#[derive(Debug, Clone)]
pub struct SlotRow {
    /// The UTC day (days since the epoch) of its deployments; `None` for a row of many days.
    pub day: Option<i64>,
    pub repository_id: Option<Uuid>,
    pub environment: Option<String>,
    pub is_production: Option<bool>,
    pub slot: OutcomeSlot,
}

impl SlotRow {
    /// The start (UTC midnight) of its day.
    pub fn day_start(&self) -> Option<DateTime<Utc>> {
        DateTime::<Utc>::from_timestamp_micros(self.day?.checked_mul(MICROS_PER_DAY)?)
    }
}

pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `t` in microseconds since the epoch, rounded up: `deployed_at ≥ t` ⟺ `deployed_us ≥ this`
/// for the microsecond times the store keeps.
pub(crate) fn micros_ceil(t: DateTime<Utc>) -> i64 {
    let nanos = t.timestamp_subsec_nanos() % 1000;
    t.timestamp_micros() + i64::from(nanos > 0)
}

/// The type names of a text and a binary column, for typed NULLs (`CAST(NULL AS …)`) in the
/// branches of a `UNION ALL`.
pub(crate) fn null_types(backend: DbBackend) -> (&'static str, &'static str) {
    match backend {
        DbBackend::Postgres => ("text", "bytea"),
        _ => ("TEXT", "BLOB"),
    }
}

/// The columns of a slot row, aggregated over `deployment_outcomes o` (the caller groups):
/// `finished, successes, first_us, last_us, failures, unrecovered, rework` and the recovery
/// and lead-time samples concatenated as text (`recovery`, `lead`); `success_us` lists every
/// success's `deployed_us` when `success_times` (for rows of many days), else is NULL; and
/// `recovery_blob`, `lead_blob` are NULL (a rollup row's sorted samples, `store::rollups`).
pub(crate) fn aggregate_columns(backend: DbBackend, success_times: bool) -> String {
    let (concat, recovery, us) = match backend {
        DbBackend::Postgres => (
            "string_agg",
            "o.recovery_seconds::text",
            "o.deployed_us::text",
        ),
        // 17 significant digits: every double prints and parses back exactly.
        _ => (
            "group_concat",
            "printf('%!.17g', o.recovery_seconds)",
            "o.deployed_us",
        ),
    };
    let (text, blob) = null_types(backend);
    let success_us = if success_times {
        format!("{concat}(CASE WHEN o.is_success THEN {us} END, ',')")
    } else {
        format!("CAST(NULL AS {text})")
    };
    format!(
        "COUNT(*) AS finished, SUM(CASE WHEN o.is_success THEN 1 ELSE 0 END) AS successes, \
         MIN(CASE WHEN o.is_success THEN o.deployed_us END) AS first_us, \
         MAX(CASE WHEN o.is_success THEN o.deployed_us END) AS last_us, \
         SUM(CASE WHEN o.change_failure THEN 1 ELSE 0 END) AS failures, \
         SUM(CASE WHEN o.change_failure AND o.recovery_seconds IS NULL THEN 1 ELSE 0 END) \
         AS unrecovered, SUM(CASE WHEN o.rework THEN 1 ELSE 0 END) AS rework, \
         {concat}(CASE WHEN o.recovery_seconds IS NOT NULL THEN {recovery} END, ',') \
         AS recovery, {concat}(o.lead_seconds, ',') AS lead, {success_us} AS success_us, \
         CAST(NULL AS {blob}) AS recovery_blob, CAST(NULL AS {blob}) AS lead_blob"
    )
}

/// Samples as a rollup keeps them: little-endian `f64`s, sorted (`store::rollups`).
pub(crate) fn samples_from_bytes(bytes: &[u8]) -> Result<Vec<f64>, DbErr> {
    if !bytes.len().is_multiple_of(8) {
        return Err(DbErr::Custom(format!(
            "stored samples of {} bytes, not a multiple of 8",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            f64::from_le_bytes(word)
        })
        .collect())
}

/// Comma-separated numbers (samples, or microseconds) as aggregated in SQL.
fn parse_list<T: std::str::FromStr>(text: Option<&str>) -> Result<Vec<T>, DbErr>
where
    T::Err: std::fmt::Display,
{
    text.unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<T>()
                .map_err(|e| DbErr::Custom(format!("stored number `{s}`: {e}")))
        })
        .collect()
}

/// The slot of a row with the columns of [`aggregate_columns`] (or a rollup's, which has the
/// same names and its samples in the `_blob` columns).
pub(crate) fn slot_of(row: &QueryResult) -> Result<OutcomeSlot, DbErr> {
    let micros = |column: &str| -> Result<Option<DateTime<Utc>>, DbErr> {
        Ok(row
            .try_get::<Option<i64>>("", column)?
            .and_then(DateTime::<Utc>::from_timestamp_micros))
    };
    let count = |column: &str| -> Result<u64, DbErr> {
        Ok(u64::try_from(row.try_get::<Option<i64>>("", column)?.unwrap_or(0)).unwrap_or(0))
    };
    let samples = |column: &str| -> Result<Vec<f64>, DbErr> {
        let mut samples = parse_list::<f64>(row.try_get::<Option<String>>("", column)?.as_deref())?;
        if let Some(bytes) = row.try_get::<Option<Vec<u8>>>("", &format!("{column}_blob"))? {
            samples.extend(samples_from_bytes(&bytes)?);
        }
        Ok(samples)
    };
    let listed: Vec<i64> = parse_list(row.try_get::<Option<String>>("", "success_us")?.as_deref())?;
    let success_times = if listed.is_empty() {
        // One day's row: its first and last success stand for all (`OutcomeSlot`).
        let (first, last) = (micros("first_us")?, micros("last_us")?);
        first
            .into_iter()
            .chain(last.filter(|l| Some(*l) != first))
            .collect()
    } else {
        listed
            .into_iter()
            .filter_map(DateTime::<Utc>::from_timestamp_micros)
            .collect()
    };
    Ok(OutcomeSlot {
        finished: count("finished")?,
        successes: count("successes")?,
        success_times,
        failures: count("failures")?,
        unrecovered: count("unrecovered")?,
        rework: count("rework")?,
        recovery_seconds: samples("recovery")?,
        lead_seconds: samples("lead")?,
    })
}

/// The scope's stored outcomes deployed in `window`, added up per `group`, read from the
/// outcome rows themselves. (A scope without repository or team filter reads daily rollups
/// instead where they are clean: `store::rollups::slots`.)
pub async fn slots<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
    group: SlotGroup,
) -> Result<Vec<SlotRow>, DbErr> {
    slots_where(conn, scope.organization_id, Some(scope), window, group).await
}

/// [`slots`] of every deployment of the organization, production or not, per stream (the
/// `/metrics` snapshot splits them into its scopes).
pub async fn slots_of_all<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    window: &Window,
) -> Result<Vec<SlotRow>, DbErr> {
    slots_where(conn, organization_id, None, window, SlotGroup::Stream).await
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

/// The key columns of `group`'s rows, over `deployment_outcomes o`.
pub(crate) fn group_keys(group: SlotGroup) -> &'static [&'static str] {
    match group {
        SlotGroup::Scope => &["o.deployed_day"],
        SlotGroup::Environment => &["o.deployed_day", "o.environment"],
        SlotGroup::Repository => &["o.repository_id"],
        SlotGroup::Stream => &["o.environment", "o.repository_id", "o.is_production"],
    }
}

/// A slot row of `group` with the columns of [`aggregate_columns`] and the keys of
/// [`group_keys`] (named `deployed_day` or `day`, `environment`, …).
fn slot_row(row: &QueryResult, group: SlotGroup) -> Result<SlotRow, DbErr> {
    let keys = group_keys(group);
    // The key's column when the group has it.
    fn key<T: sea_orm::TryGetable>(
        row: &QueryResult,
        keys: &[&str],
        key: &str,
        column: &str,
    ) -> Result<Option<T>, DbErr> {
        if keys.contains(&key) {
            Ok(Some(row.try_get("", column)?))
        } else {
            Ok(None)
        }
    }
    Ok(SlotRow {
        day: key(row, keys, "o.deployed_day", "day")?,
        repository_id: key(row, keys, "o.repository_id", "repository_id")?,
        environment: key(row, keys, "o.environment", "environment")?,
        is_production: key(row, keys, "o.is_production", "is_production")?,
        slot: slot_of(row)?,
    })
}

/// The `SELECT` list of `group`'s slot rows over `deployment_outcomes o`: its keys
/// (`o.deployed_day AS day, o.environment`, …), then [`aggregate_columns`].
pub(crate) fn slot_columns(backend: DbBackend, group: SlotGroup) -> String {
    let keys: Vec<String> = group_keys(group)
        .iter()
        .map(|key| match *key {
            "o.deployed_day" => "o.deployed_day AS day".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    format!(
        "{}, {}",
        keys.join(", "),
        aggregate_columns(backend, !group.per_day())
    )
}

/// Appends the statement of `group`'s slot rows over the outcome rows of the organization
/// (narrowed to `scope`) deployed in `[from_us, to_us)`.
pub(crate) fn push_slots(
    sql: &mut Sql,
    organization_id: Uuid,
    scope: Option<&MetricsScope>,
    group: SlotGroup,
    (from_us, to_us): (i64, i64),
) {
    sql.push(&format!(
        "SELECT {} FROM deployment_outcomes o WHERE o.organization_id = ",
        slot_columns(sql.backend(), group)
    ))
    .bind(organization_id);
    match scope {
        Some(scope) => {
            sql.environment_filter("o", scope)
                .repository_filter("o", scope);
        }
        // Every deployment: named, both values of the index's second column make two range
        // scans of `ix_outcomes_production` instead of a scan of the organization's rows.
        None => {
            sql.push(" AND o.is_production IN (")
                .bind(false)
                .push(", ")
                .bind(true)
                .push(")");
        }
    }
    sql.push(" AND o.deployed_us >= ")
        .bind(from_us)
        .push(" AND o.deployed_us < ")
        .bind(to_us);
    sql.push(&format!(" GROUP BY {}", group_keys(group).join(", ")));
}

/// Runs a statement of `group`'s slot rows.
pub(crate) async fn query_slots<C: ConnectionTrait>(
    conn: &C,
    sql: Sql,
    group: SlotGroup,
) -> Result<Vec<SlotRow>, DbErr> {
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|row| slot_row(row, group))
        .collect()
}

async fn slots_where<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    scope: Option<&MetricsScope>,
    window: &Window,
    group: SlotGroup,
) -> Result<Vec<SlotRow>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    let range = (micros_ceil(window.from), micros_ceil(window.to));
    push_slots(&mut sql, organization_id, scope, group, range);
    query_slots(conn, sql, group).await
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
