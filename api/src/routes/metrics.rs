//! `/api/v1/metrics/dora…`: the DORA metrics of the token's organization (DESIGN.md §5, §6).
//!
//! Every endpoint reads a sufficient set of facts for its scope and window
//! (`store::facts::load`) and hands them to `dora_metrics::compute`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use dora_metrics::{Benchmark, DoraSummary, Interval, Window, WindowError};
use entity::repositories;
use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::{
    auth::{BearerAuth, Scope},
    domain::validate_environment,
    error::ApiError,
    routes::ApiTags,
    state::AppState,
    store::{
        self,
        facts::{MetricsScope, ScopeFacts},
    },
};

/// The default window: the 30 days up to now.
pub const DEFAULT_WINDOW_DAYS: i64 = 30;

/// A performance tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum TierOut {
    Elite,
    High,
    Medium,
    Low,
}

impl From<dora_metrics::Tier> for TierOut {
    fn from(tier: dora_metrics::Tier) -> Self {
        match tier {
            dora_metrics::Tier::Elite => TierOut::Elite,
            dora_metrics::Tier::High => TierOut::High,
            dora_metrics::Tier::Medium => TierOut::Medium,
            dora_metrics::Tier::Low => TierOut::Low,
        }
    }
}

/// The filters applied, as given (null when not given).
#[derive(Debug, Clone, Object)]
pub struct Filters {
    pub repository: Option<String>,
    pub environment: Option<String>,
    pub team: Option<String>,
}

/// Successful deployments deployed in the window.
#[derive(Debug, Clone, Object)]
pub struct DeploymentFrequencyOut {
    pub deployments: u64,
    /// `deployments` ÷ window length in days.
    pub per_day: f64,
    /// Median over the whole 7-day buckets (counted back from `to`) of the distinct UTC dates
    /// with a successful deployment.
    pub median_deploy_days_per_week: f64,
    /// The same over whole 30-day buckets.
    pub median_deploy_days_per_month: f64,
    pub tier: TierOut,
}

/// Commit-to-deploy time of the changes the window's successful deployments shipped first.
#[derive(Debug, Clone, Object)]
pub struct LeadTimeOut {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub samples: u64,
    pub tier: Option<TierOut>,
}

/// Change failures among the window's finished deployments.
#[derive(Debug, Clone, Object)]
pub struct ChangeFailureRateOut {
    pub failures: u64,
    /// Finished (successful or failed) deployments deployed in the window.
    pub deployments: u64,
    pub rate: Option<f64>,
    pub tier: Option<TierOut>,
}

/// Time from a change failure to its recovery.
#[derive(Debug, Clone, Object)]
pub struct RecoveryTimeOut {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    /// Recovered change failures.
    pub samples: u64,
    /// Change failures not recovered yet.
    pub unrecovered: u64,
    pub tier: Option<TierOut>,
}

/// Hotfixes and rollbacks among the window's successful deployments.
#[derive(Debug, Clone, Object)]
pub struct ReworkRateOut {
    pub rework_deployments: u64,
    pub deployments: u64,
    pub rate: Option<f64>,
}

/// Durations of the incidents that started in the window.
#[derive(Debug, Clone, Object)]
pub struct TimeToRestoreOut {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    /// Resolved incidents.
    pub samples: u64,
    /// Incidents still open.
    pub open: u64,
}

/// The DORA metrics of one scope and window.
#[derive(Debug, Clone, Object)]
pub struct DoraSummaryOut {
    /// The token's organization (slug).
    pub organization: String,
    /// Start of the window (inclusive), RFC 3339.
    pub from: String,
    /// End of the window (exclusive), RFC 3339.
    pub to: String,
    /// The benchmark table the tiers come from: `2023` or `2021`.
    pub benchmark: String,
    pub filters: Filters,
    pub deployment_frequency: DeploymentFrequencyOut,
    pub change_lead_time: LeadTimeOut,
    pub change_failure_rate: ChangeFailureRateOut,
    pub failed_deployment_recovery_time: RecoveryTimeOut,
    pub deployment_rework_rate: ReworkRateOut,
    pub time_to_restore: TimeToRestoreOut,
}

/// The metrics of one bucket of a series.
#[derive(Debug, Clone, Object)]
pub struct SeriesBucket {
    pub from: String,
    pub to: String,
    pub deployment_frequency: DeploymentFrequencyOut,
    pub change_lead_time: LeadTimeOut,
    pub change_failure_rate: ChangeFailureRateOut,
    pub failed_deployment_recovery_time: RecoveryTimeOut,
    pub deployment_rework_rate: ReworkRateOut,
    pub time_to_restore: TimeToRestoreOut,
}

/// The metrics per day, week or month of a window, oldest first.
#[derive(Debug, Clone, Object)]
pub struct DoraSeriesOut {
    pub organization: String,
    pub from: String,
    pub to: String,
    pub benchmark: String,
    /// `day`, `week` (7 days) or `month` (30 days); buckets are counted back from `to`, the
    /// oldest one clipped to `from`.
    pub interval: String,
    pub filters: Filters,
    pub buckets: Vec<SeriesBucket>,
}

/// The metrics of one group of a breakdown.
#[derive(Debug, Clone, Object)]
pub struct BreakdownRow {
    /// The repository name (`acme/web`), the team, or the environment; null for the
    /// repositories without a team.
    pub group: Option<String>,
    /// With `by=repository`: the repository's id.
    pub repository_id: Option<Uuid>,
    pub deployment_frequency: DeploymentFrequencyOut,
    pub change_lead_time: LeadTimeOut,
    pub change_failure_rate: ChangeFailureRateOut,
    pub failed_deployment_recovery_time: RecoveryTimeOut,
    pub deployment_rework_rate: ReworkRateOut,
    pub time_to_restore: TimeToRestoreOut,
}

/// The metrics per repository, team or environment.
#[derive(Debug, Clone, Object)]
pub struct DoraBreakdownOut {
    pub organization: String,
    pub from: String,
    pub to: String,
    pub benchmark: String,
    /// `repository`, `team` or `environment`.
    pub by: String,
    pub filters: Filters,
    /// One row per group with a deployment or an incident in the window, ordered by group.
    pub rows: Vec<BreakdownRow>,
}

/// What a breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum BreakdownBy {
    Repository,
    Team,
    Environment,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

struct Metrics {
    deployment_frequency: DeploymentFrequencyOut,
    change_lead_time: LeadTimeOut,
    change_failure_rate: ChangeFailureRateOut,
    failed_deployment_recovery_time: RecoveryTimeOut,
    deployment_rework_rate: ReworkRateOut,
    time_to_restore: TimeToRestoreOut,
}

fn metrics(s: DoraSummary) -> Metrics {
    let f = s.deployment_frequency;
    let l = s.change_lead_time;
    let c = s.change_failure_rate;
    let r = s.failed_deployment_recovery_time;
    let w = s.deployment_rework_rate;
    let t = s.time_to_restore;
    Metrics {
        deployment_frequency: DeploymentFrequencyOut {
            deployments: f.deployments,
            per_day: f.per_day,
            median_deploy_days_per_week: f.median_deploy_days_per_week,
            median_deploy_days_per_month: f.median_deploy_days_per_month,
            tier: f.tier.into(),
        },
        change_lead_time: LeadTimeOut {
            median_seconds: l.median_seconds,
            p90_seconds: l.p90_seconds,
            samples: l.samples,
            tier: l.tier.map(Into::into),
        },
        change_failure_rate: ChangeFailureRateOut {
            failures: c.failures,
            deployments: c.deployments,
            rate: c.rate,
            tier: c.tier.map(Into::into),
        },
        failed_deployment_recovery_time: RecoveryTimeOut {
            median_seconds: r.median_seconds,
            p90_seconds: r.p90_seconds,
            samples: r.samples,
            unrecovered: r.unrecovered,
            tier: r.tier.map(Into::into),
        },
        deployment_rework_rate: ReworkRateOut {
            rework_deployments: w.rework_deployments,
            deployments: w.deployments,
            rate: w.rate,
        },
        time_to_restore: TimeToRestoreOut {
            median_seconds: t.median_seconds,
            p90_seconds: t.p90_seconds,
            samples: t.samples,
            open: t.open,
        },
    }
}

/// A parsed and checked metrics query.
struct MetricsQuery {
    window: Window,
    scope: MetricsScope,
    benchmark: Benchmark,
    filters: Filters,
}

/// The raw query parameters every metrics endpoint takes.
struct RawQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    repository: Option<String>,
    environment: Option<String>,
    team: Option<String>,
    benchmark: Option<String>,
}

/// The window of `from`/`to`: `to` defaults to now, `from` to 30 days before `to`.
pub fn parse_window(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Window, ApiError> {
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - TimeDelta::days(DEFAULT_WINDOW_DAYS));
    Window::new(from, to).map_err(|e| match e {
        WindowError::Empty { .. } => {
            ApiError::invalid_parameter("from", format!("`from` must be before `to`: {e}"))
        }
        WindowError::TooLong => ApiError::invalid_parameter(
            "to",
            format!(
                "the window is longer than {} days; ask for a shorter one",
                dora_metrics::MAX_WINDOW_DAYS
            ),
        ),
        WindowError::OutOfRange => ApiError::invalid_parameter("from", e.to_string()),
    })
}

async fn parse_query(
    state: &AppState,
    organization_id: Uuid,
    raw: RawQuery,
) -> Result<MetricsQuery, ApiError> {
    let now = Utc::now();
    let window = parse_window(raw.from, raw.to, now)?;
    let benchmark = match raw.benchmark.as_deref() {
        None => Benchmark::default(),
        Some(name) => name
            .parse::<Benchmark>()
            .map_err(|e| ApiError::invalid_parameter("benchmark", e.to_string()))?,
    };
    if let Some(environment) = raw.environment.as_deref() {
        validate_environment(environment)
            .map_err(|e| ApiError::invalid_parameter("environment", e))?;
    }
    let repository_id = match raw.repository.as_deref() {
        None => None,
        Some(reference) => {
            let repository = store::organizations::resolve_repository(
                state.db.read(),
                organization_id,
                reference,
            )
            .await?
            .ok_or_else(|| {
                ApiError::invalid_parameter(
                    "repository",
                    format!("no repository `{reference}` has deployments in this organization"),
                )
            })?;
            Some(repository.id)
        }
    };
    let team_repositories = match raw.team.as_deref() {
        None => None,
        Some(team) => {
            let ids: Vec<Uuid> = repositories::Entity::find()
                .select_only()
                .column(repositories::Column::Id)
                .filter(repositories::Column::OrganizationId.eq(organization_id))
                .filter(repositories::Column::Team.eq(team))
                .into_tuple()
                .all(state.db.read())
                .await?;
            if ids.is_empty() {
                return Err(ApiError::invalid_parameter(
                    "team",
                    format!("no repository of this organization belongs to team `{team}`"),
                ));
            }
            Some(ids)
        }
    };
    Ok(MetricsQuery {
        window,
        scope: MetricsScope {
            organization_id,
            repository_id,
            team_repositories,
            environment: raw.environment.clone(),
        },
        benchmark,
        filters: Filters {
            repository: raw.repository,
            environment: raw.environment,
            team: raw.team,
        },
    })
}

pub struct MetricsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Metrics")]
impl MetricsApi {
    /// DORA metrics summary
    ///
    /// The five DORA metrics and time to restore of the token's organization over `[from, to)`
    /// (default: the 30 days up to now; at most 731 days). Without `environment`, the scope is
    /// the production deployments. Needs the `read` scope.
    #[oai(
        path = "/metrics/dora",
        method = "get",
        operation_id = "getDoraMetrics"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn summary(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// Start of the window, inclusive (RFC 3339).
        from: Query<Option<DateTime<Utc>>>,
        /// End of the window, exclusive (RFC 3339).
        to: Query<Option<DateTime<Utc>>>,
        /// One repository: its URL (any spelling) or id.
        repository: Query<Option<String>>,
        /// One environment (any, production or not).
        environment: Query<Option<String>>,
        /// The repositories of one team.
        team: Query<Option<String>>,
        /// `2023` (default) or `2021`.
        benchmark: Query<Option<String>>,
    ) -> Result<Json<DoraSummaryOut>, ApiError> {
        auth.0.require(Scope::Read)?;
        let query = parse_query(
            &state,
            auth.0.organization_id,
            RawQuery {
                from: from.0,
                to: to.0,
                repository: repository.0,
                environment: environment.0,
                team: team.0,
                benchmark: benchmark.0,
            },
        )
        .await?;
        let facts = store::facts::load(state.db.read(), &query.scope, &query.window).await?;
        let m = metrics(dora_metrics::compute(
            &facts.as_facts(),
            &query.window,
            query.benchmark,
        ));
        Ok(Json(DoraSummaryOut {
            organization: auth.0.organization.clone(),
            from: rfc3339(query.window.from),
            to: rfc3339(query.window.to),
            benchmark: query.benchmark.to_string(),
            filters: query.filters,
            deployment_frequency: m.deployment_frequency,
            change_lead_time: m.change_lead_time,
            change_failure_rate: m.change_failure_rate,
            failed_deployment_recovery_time: m.failed_deployment_recovery_time,
            deployment_rework_rate: m.deployment_rework_rate,
            time_to_restore: m.time_to_restore,
        }))
    }

    /// DORA metrics per day, week or month
    ///
    /// The summary's values for each bucket of the window, oldest first: buckets of `interval`
    /// counted back from `to`, the oldest clipped to `from`. Each bucket is computed as if it
    /// were the window (its frequency medians use the whole weeks and months inside it).
    #[oai(
        path = "/metrics/dora/series",
        method = "get",
        operation_id = "getDoraMetricsSeries"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn series(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// `day`, `week` (7 days, the default) or `month` (30 days).
        interval: Query<Option<String>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        repository: Query<Option<String>>,
        environment: Query<Option<String>>,
        team: Query<Option<String>>,
        benchmark: Query<Option<String>>,
    ) -> Result<Json<DoraSeriesOut>, ApiError> {
        auth.0.require(Scope::Read)?;
        let interval = match interval.0.as_deref() {
            None => Interval::Week,
            Some(word) => word
                .parse::<Interval>()
                .map_err(|e| ApiError::invalid_parameter("interval", e.to_string()))?,
        };
        let query = parse_query(
            &state,
            auth.0.organization_id,
            RawQuery {
                from: from.0,
                to: to.0,
                repository: repository.0,
                environment: environment.0,
                team: team.0,
                benchmark: benchmark.0,
            },
        )
        .await?;
        // Facts sufficient for the window are sufficient for every bucket inside it; the
        // engine computes all buckets in one pass over them.
        let facts = store::facts::load(state.db.read(), &query.scope, &query.window).await?;
        let windows = query.window.buckets(interval);
        let summaries = dora_metrics::compute_each(&facts.as_facts(), &windows, query.benchmark);
        let buckets = windows
            .into_iter()
            .zip(summaries)
            .map(|(bucket, summary)| {
                let m = metrics(summary);
                SeriesBucket {
                    from: rfc3339(bucket.from),
                    to: rfc3339(bucket.to),
                    deployment_frequency: m.deployment_frequency,
                    change_lead_time: m.change_lead_time,
                    change_failure_rate: m.change_failure_rate,
                    failed_deployment_recovery_time: m.failed_deployment_recovery_time,
                    deployment_rework_rate: m.deployment_rework_rate,
                    time_to_restore: m.time_to_restore,
                }
            })
            .collect();
        Ok(Json(DoraSeriesOut {
            organization: auth.0.organization.clone(),
            from: rfc3339(query.window.from),
            to: rfc3339(query.window.to),
            benchmark: query.benchmark.to_string(),
            interval: interval.to_string(),
            filters: query.filters,
            buckets,
        }))
    }

    /// DORA metrics per repository, team or environment
    ///
    /// One row per group that has a deployment or an incident in the window; each row is the
    /// summary with that group's filter added. With `by=team`, the repositories without a team
    /// form one row whose `group` is null; incidents without a repository belong to no row.
    #[oai(
        path = "/metrics/dora/breakdown",
        method = "get",
        operation_id = "getDoraMetricsBreakdown"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn breakdown(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// `repository`, `team` or `environment`.
        by: Query<BreakdownBy>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        repository: Query<Option<String>>,
        environment: Query<Option<String>>,
        team: Query<Option<String>>,
        benchmark: Query<Option<String>>,
    ) -> Result<Json<DoraBreakdownOut>, ApiError> {
        auth.0.require(Scope::Read)?;
        let query = parse_query(
            &state,
            auth.0.organization_id,
            RawQuery {
                from: from.0,
                to: to.0,
                repository: repository.0,
                environment: environment.0,
                team: team.0,
                benchmark: benchmark.0,
            },
        )
        .await?;
        let facts = store::facts::load(state.db.read(), &query.scope, &query.window).await?;
        let groups = group_facts(&state, &facts, by.0, &query.window).await?;
        let rows = groups
            .into_iter()
            .map(|((group, repository_id), facts)| {
                let m = metrics(dora_metrics::compute(
                    &facts.as_facts(),
                    &query.window,
                    query.benchmark,
                ));
                BreakdownRow {
                    group,
                    repository_id,
                    deployment_frequency: m.deployment_frequency,
                    change_lead_time: m.change_lead_time,
                    change_failure_rate: m.change_failure_rate,
                    failed_deployment_recovery_time: m.failed_deployment_recovery_time,
                    deployment_rework_rate: m.deployment_rework_rate,
                    time_to_restore: m.time_to_restore,
                }
            })
            .collect();
        Ok(Json(DoraBreakdownOut {
            organization: auth.0.organization.clone(),
            from: rfc3339(query.window.from),
            to: rfc3339(query.window.to),
            benchmark: query.benchmark.to_string(),
            by: match by.0 {
                BreakdownBy::Repository => "repository",
                BreakdownBy::Team => "team",
                BreakdownBy::Environment => "environment",
            }
            .to_owned(),
            filters: query.filters,
            rows,
        }))
    }
}

type Groups = BTreeMap<(Option<String>, Option<Uuid>), ScopeFacts>;

/// Splits the facts of a scope by group. Facts are partitioned by stream and every stream lies
/// in one group, so each group's share is sufficient for that group's scope.
async fn group_facts(
    state: &AppState,
    facts: &ScopeFacts,
    by: BreakdownBy,
    window: &Window,
) -> Result<Groups, ApiError> {
    let mut repository_ids: Vec<Uuid> = facts
        .deployments
        .iter()
        .map(|d| d.repository)
        .chain(facts.incidents.iter().filter_map(|i| i.repository))
        .collect();
    repository_ids.sort_unstable();
    repository_ids.dedup();
    let repositories: HashMap<Uuid, repositories::Model> =
        if by == BreakdownBy::Environment || repository_ids.is_empty() {
            HashMap::new()
        } else {
            let mut found = HashMap::new();
            for chunk in repository_ids.chunks(1000) {
                for r in repositories::Entity::find()
                    .filter(repositories::Column::Id.is_in(chunk.to_vec()))
                    .all(state.db.read())
                    .await?
                {
                    found.insert(r.id, r);
                }
            }
            found
        };
    // The group of a repository/environment; `None` (outer) when it belongs to no group.
    let key =
        |repository: Option<Uuid>, environment: &str| -> Option<(Option<String>, Option<Uuid>)> {
            match by {
                BreakdownBy::Environment => Some((Some(environment.to_owned()), None)),
                BreakdownBy::Repository => {
                    let id = repository?;
                    let name = repositories
                        .get(&id)
                        .map_or_else(|| id.to_string(), |r| r.name.clone());
                    Some((Some(name), Some(id)))
                }
                BreakdownBy::Team => {
                    let id = repository?;
                    Some((repositories.get(&id).and_then(|r| r.team.clone()), None))
                }
            }
        };
    let mut groups: Groups = BTreeMap::new();
    // Groups exist when something happened in the window.
    for d in &facts.deployments {
        if window.contains(d.deployed_at)
            && let Some(group) = key(Some(d.repository), &d.environment)
        {
            groups.entry(group).or_default();
        }
    }
    for i in &facts.incidents {
        if window.contains(i.started_at)
            && let Some(group) = key(i.repository, &i.environment)
        {
            groups.entry(group).or_default();
        }
    }
    for d in &facts.deployments {
        if let Some(group) = key(Some(d.repository), &d.environment)
            && let Some(g) = groups.get_mut(&group)
        {
            g.deployments.push(d.clone());
        }
    }
    for i in &facts.incidents {
        if let Some(group) = key(i.repository, &i.environment)
            && let Some(g) = groups.get_mut(&group)
        {
            g.incidents.push(i.clone());
        }
    }
    Ok(groups)
}
