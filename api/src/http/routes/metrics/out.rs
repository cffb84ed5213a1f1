//! The JSON shapes of the metrics endpoints. [`MetricsOut`] is the one flattened set of
//! metrics every answer carries (the summary, each series bucket, each breakdown row): adding
//! a metric is one engine change and one field here.

use chrono::{DateTime, SecondsFormat, Utc};
use dora_metrics::DoraSummary;
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use crate::core::metrics::{Filters, MetricsQuery};

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
#[oai(rename = "Filters")]
pub struct FiltersOut {
    #[oai(nullable)]
    pub repository: Option<String>,
    #[oai(nullable)]
    pub environment: Option<String>,
    #[oai(nullable)]
    pub team: Option<String>,
}

impl From<&Filters> for FiltersOut {
    fn from(f: &Filters) -> Self {
        Self {
            repository: f.repository.clone(),
            environment: f.environment.clone(),
            team: f.team.clone(),
        }
    }
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
    #[oai(nullable)]
    pub median_seconds: Option<f64>,
    #[oai(nullable)]
    pub p90_seconds: Option<f64>,
    pub samples: u64,
    #[oai(nullable)]
    pub tier: Option<TierOut>,
}

/// Change failures among the window's finished deployments.
#[derive(Debug, Clone, Object)]
pub struct ChangeFailureRateOut {
    pub failures: u64,
    /// Finished (successful or failed) deployments deployed in the window.
    pub deployments: u64,
    #[oai(nullable)]
    pub rate: Option<f64>,
    #[oai(nullable)]
    pub tier: Option<TierOut>,
}

/// Time from a change failure to its recovery.
#[derive(Debug, Clone, Object)]
pub struct RecoveryTimeOut {
    #[oai(nullable)]
    pub median_seconds: Option<f64>,
    #[oai(nullable)]
    pub p90_seconds: Option<f64>,
    /// Recovered change failures.
    pub samples: u64,
    /// Change failures not recovered yet.
    pub unrecovered: u64,
    #[oai(nullable)]
    pub tier: Option<TierOut>,
}

/// Hotfixes and rollbacks among the window's successful deployments.
#[derive(Debug, Clone, Object)]
pub struct ReworkRateOut {
    pub rework_deployments: u64,
    pub deployments: u64,
    #[oai(nullable)]
    pub rate: Option<f64>,
}

/// Durations of the incidents that started in the window.
#[derive(Debug, Clone, Object)]
pub struct TimeToRestoreOut {
    #[oai(nullable)]
    pub median_seconds: Option<f64>,
    #[oai(nullable)]
    pub p90_seconds: Option<f64>,
    /// Resolved incidents.
    pub samples: u64,
    /// Incidents still open.
    pub open: u64,
}

/// The five keys and time to restore, flattened into every answer.
#[derive(Debug, Clone, Object)]
pub struct MetricsOut {
    pub deployment_frequency: DeploymentFrequencyOut,
    pub change_lead_time: LeadTimeOut,
    pub change_failure_rate: ChangeFailureRateOut,
    pub failed_deployment_recovery_time: RecoveryTimeOut,
    pub deployment_rework_rate: ReworkRateOut,
    pub time_to_restore: TimeToRestoreOut,
}

impl From<DoraSummary> for MetricsOut {
    fn from(s: DoraSummary) -> Self {
        let f = s.deployment_frequency;
        let l = s.change_lead_time;
        let c = s.change_failure_rate;
        let r = s.failed_deployment_recovery_time;
        let w = s.deployment_rework_rate;
        let t = s.time_to_restore;
        Self {
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
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// What every answer says about its query.
#[derive(Debug, Clone, Object)]
pub struct QueryOut {
    /// The token's organization (slug).
    pub organization: String,
    /// Start of the window (inclusive), RFC 3339.
    pub from: String,
    /// End of the window (exclusive), RFC 3339.
    pub to: String,
    /// The benchmark table the tiers come from: `2023` or `2021`.
    pub benchmark: String,
    pub filters: FiltersOut,
}

impl From<&MetricsQuery> for QueryOut {
    fn from(q: &MetricsQuery) -> Self {
        Self {
            organization: q.organization.clone(),
            from: rfc3339(q.window.from),
            to: rfc3339(q.window.to),
            benchmark: q.benchmark.to_string(),
            filters: (&q.filters).into(),
        }
    }
}

/// The DORA metrics of one scope and window.
#[derive(Debug, Clone, Object)]
pub struct DoraSummaryOut {
    #[oai(flatten)]
    pub query: QueryOut,
    #[oai(flatten)]
    pub metrics: MetricsOut,
}

/// Successful deployments deployed in a series bucket: as in the summary, but without a tier
/// when the bucket is partial.
#[derive(Debug, Clone, Object)]
pub struct BucketFrequencyOut {
    pub deployments: u64,
    /// `deployments` ÷ bucket length in days.
    pub per_day: f64,
    /// Median over the whole 7-day spans of the bucket (counted back from its end) of the
    /// distinct UTC dates with a successful deployment; a bucket shorter than 7 days is one
    /// span.
    pub median_deploy_days_per_week: f64,
    /// The same over whole 30-day spans (a 31-day month is one 30-day span counted back from
    /// its end).
    pub median_deploy_days_per_month: f64,
    /// Null on a partial bucket.
    #[oai(nullable)]
    pub tier: Option<TierOut>,
}

/// The metrics of a series bucket: the summary's shapes, every tier null on a partial bucket
/// (its numbers cover part of a day, week or month, so they are not graded).
#[derive(Debug, Clone, Object)]
pub struct BucketMetricsOut {
    pub deployment_frequency: BucketFrequencyOut,
    pub change_lead_time: LeadTimeOut,
    pub change_failure_rate: ChangeFailureRateOut,
    pub failed_deployment_recovery_time: RecoveryTimeOut,
    pub deployment_rework_rate: ReworkRateOut,
    pub time_to_restore: TimeToRestoreOut,
}

impl BucketMetricsOut {
    pub fn new(summary: DoraSummary, partial: bool) -> Self {
        let MetricsOut {
            deployment_frequency: f,
            mut change_lead_time,
            mut change_failure_rate,
            mut failed_deployment_recovery_time,
            deployment_rework_rate,
            time_to_restore,
        } = summary.into();
        if partial {
            change_lead_time.tier = None;
            change_failure_rate.tier = None;
            failed_deployment_recovery_time.tier = None;
        }
        Self {
            deployment_frequency: BucketFrequencyOut {
                deployments: f.deployments,
                per_day: f.per_day,
                median_deploy_days_per_week: f.median_deploy_days_per_week,
                median_deploy_days_per_month: f.median_deploy_days_per_month,
                tier: (!partial).then_some(f.tier),
            },
            change_lead_time,
            change_failure_rate,
            failed_deployment_recovery_time,
            deployment_rework_rate,
            time_to_restore,
        }
    }
}

/// The metrics of one bucket of a series.
#[derive(Debug, Clone, Object)]
pub struct SeriesBucket {
    /// Start of the bucket (inclusive), RFC 3339.
    pub from: String,
    /// End of the bucket (exclusive), RFC 3339.
    pub to: String,
    /// The window cuts this day, week or month short (only the first and the last bucket can
    /// be): its tiers are null.
    pub partial: bool,
    #[oai(flatten)]
    pub metrics: BucketMetricsOut,
}

/// The metrics per day, week or month of a window, oldest first.
#[derive(Debug, Clone, Object)]
pub struct DoraSeriesOut {
    #[oai(flatten)]
    pub query: QueryOut,
    /// `day`, `week` or `month`: UTC days from midnight, ISO weeks from Monday 00:00 UTC,
    /// calendar months from the 1st 00:00 UTC. The first and last buckets are clipped to the
    /// window (and `partial`) when it does not start or end on such a boundary.
    pub interval: String,
    pub buckets: Vec<SeriesBucket>,
}

/// The metrics of one group of a breakdown.
#[derive(Debug, Clone, Object)]
pub struct BreakdownRow {
    /// The repository name (`acme/web`), the team, or the environment; null for the
    /// repositories without a team.
    #[oai(nullable)]
    pub group: Option<String>,
    /// With `by=repository`: the repository's id.
    #[oai(nullable)]
    pub repository_id: Option<Uuid>,
    #[oai(flatten)]
    pub metrics: MetricsOut,
}

/// The metrics per repository, team or environment.
#[derive(Debug, Clone, Object)]
pub struct DoraBreakdownOut {
    #[oai(flatten)]
    pub query: QueryOut,
    /// `repository`, `team` or `environment`.
    pub by: String,
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
