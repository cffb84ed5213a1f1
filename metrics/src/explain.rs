//! The explain listing (DESIGN.md §6 `GET /metrics/dora/explain?metric=…`, §11): the facts one
//! metric of a window is made of, each with the reason it counts (or does not), so that the
//! listing adds up exactly to the summary [`compute`](crate::compute()) gives.
//!
//! | metric | one item per | what adds up |
//! |---|---|---|
//! | `deployment_frequency` | successful deployment of the window ([`FrequencyItem`]) | `deployments`; the deploy days of each bucket |
//! | `change_lead_time` | commit of a successful deployment of the window ([`CommitItem`]) | the [`CommitLeadTime::Sample`]s |
//! | `change_failure_rate` | finished deployment of the window ([`ChangeFailureItem`]) | `deployments`, and `failures` with `change_failure` |
//! | `failed_deployment_recovery_time` | change failure of the window ([`RecoveryItem`]) | the recovered samples; `unrecovered` |
//! | `deployment_rework_rate` | successful deployment of the window ([`ReworkItem`]) | `deployments`, and `rework_deployments` with `rework` |
//! | `time_to_restore` | incident started in the window ([`IncidentItem`]) | the resolved durations; `open` |
//!
//! Items are in a stable order, so an HTTP layer can paginate by position: deployments by
//! `(deployed_at, number, id)`, a deployment's commits in listing order, incidents by
//! `(started_at, id)`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::compute::restore_seconds;
use crate::facts::{Facts, IncidentFact, Outcome};
use crate::outcomes::{
    CommitLeadTime, DeploymentOutcome, DeploymentRef, FailureCause, Recovery, Remediation, derive,
};
use crate::window::{WholeBuckets, Window};

#[cfg(test)]
mod tests;

/// A metric of the summary, by its JSON name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    DeploymentFrequency,
    ChangeLeadTime,
    ChangeFailureRate,
    FailedDeploymentRecoveryTime,
    DeploymentReworkRate,
    TimeToRestore,
}

impl Metric {
    /// Every metric, in the order of the summary.
    pub const ALL: [Metric; 6] = [
        Metric::DeploymentFrequency,
        Metric::ChangeLeadTime,
        Metric::ChangeFailureRate,
        Metric::FailedDeploymentRecoveryTime,
        Metric::DeploymentReworkRate,
        Metric::TimeToRestore,
    ];

    /// The name, as serialized and as the summary's field.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::DeploymentFrequency => "deployment_frequency",
            Metric::ChangeLeadTime => "change_lead_time",
            Metric::ChangeFailureRate => "change_failure_rate",
            Metric::FailedDeploymentRecoveryTime => "failed_deployment_recovery_time",
            Metric::DeploymentReworkRate => "deployment_rework_rate",
            Metric::TimeToRestore => "time_to_restore",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A metric name that is not one of [`Metric::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMetricError(pub String);

impl fmt::Display for ParseMetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown metric `{}`: expected one of ", self.0)?;
        for (k, metric) in Metric::ALL.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            f.write_str(metric.as_str())?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseMetricError {}

impl FromStr for Metric {
    type Err = ParseMetricError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|metric| metric.as_str() == s)
            .ok_or_else(|| ParseMetricError(s.to_owned()))
    }
}

/// One fact of a listing. Serialized with its variant as `kind` (snake_case) next to the
/// fields of its item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExplainItem {
    /// `deployment_frequency`
    Deployment(FrequencyItem),
    /// `change_lead_time`
    Commit(CommitItem),
    /// `change_failure_rate`
    ChangeFailure(ChangeFailureItem),
    /// `failed_deployment_recovery_time`
    Recovery(RecoveryItem),
    /// `deployment_rework_rate`
    Rework(ReworkItem),
    /// `time_to_restore`
    Incident(IncidentItem),
}

/// A successful deployment of the window: one deployment, and one deploy day on its UTC date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrequencyItem {
    pub deployment: DeploymentRef,
    /// The UTC date of `deployed_at` (deploy days are distinct dates).
    pub deploy_date: NaiveDate,
    /// The whole 7-day span of the window holding it, counted back from `to` (0 ends at `to`;
    /// a window shorter than 7 days is the one span 0); `None` in the leftover at the start,
    /// which no weekly median counts. `median_deploy_days_per_week` is the median, over the
    /// window's spans, of the distinct `deploy_date`s per span.
    pub week_bucket: Option<usize>,
    /// The same with 30-day spans (`median_deploy_days_per_month`).
    pub month_bucket: Option<usize>,
}

/// A commit of a successful deployment of the window: a lead-time sample, or why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitItem {
    pub deployment: DeploymentRef,
    pub sha: String,
    pub committed_at: DateTime<Utc>,
    pub lead_time: CommitLeadTime,
}

/// A finished deployment of the window: whether it is a change failure, and every cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeFailureItem {
    pub deployment: DeploymentRef,
    pub outcome: Outcome,
    pub change_failure: bool,
    pub causes: Vec<FailureCause>,
}

/// A change failure of the window: how it recovered, or why it has not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryItem {
    pub deployment: DeploymentRef,
    pub causes: Vec<FailureCause>,
    pub recovery: Recovery,
}

/// A successful deployment of the window: rework when a hotfix or a rollback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReworkItem {
    pub deployment: DeploymentRef,
    pub rework: bool,
    /// The deployment's own flags (`fix` alone is not rework).
    pub flags: Vec<Remediation>,
}

/// An incident started in the window: its duration, or open.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentItem {
    pub incident: Uuid,
    pub repository: Option<Uuid>,
    pub environment: String,
    pub deployment: Option<Uuid>,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `resolved_at − started_at`; `None` while open.
    pub seconds: Option<f64>,
}

/// The listing of `metric` for `window`: the facts its number is made of, in a stable order.
///
/// `facts` must be sufficient for the window, as for [`compute`](crate::compute()).
pub fn explain(facts: &Facts<'_>, window: &Window, metric: Metric) -> Vec<ExplainItem> {
    let outcomes = match metric {
        Metric::TimeToRestore => Vec::new(),
        _ => derive(facts, window),
    };
    explain_outcomes(&outcomes, facts.incidents, window, metric)
}

/// [`explain`] from outcomes already derived (or stored): `outcomes` must hold those of every
/// finished deployment of the window (others are ignored, any order); `incidents`, those that
/// started in the window (others are ignored; only `time_to_restore` reads them).
pub fn explain_outcomes(
    outcomes: &[DeploymentOutcome],
    incidents: &[IncidentFact],
    window: &Window,
    metric: Metric,
) -> Vec<ExplainItem> {
    let outcomes = in_order(outcomes, window);
    let successes = || {
        outcomes
            .iter()
            .copied()
            .filter(|outcome| outcome.outcome == Outcome::Success)
    };
    match metric {
        Metric::DeploymentFrequency => {
            let (weeks, months) = (WholeBuckets::new(window, 7), WholeBuckets::new(window, 30));
            successes()
                .map(|outcome| {
                    let deployed_at = outcome.deployment.deployed_at;
                    ExplainItem::Deployment(FrequencyItem {
                        deployment: outcome.deployment.clone(),
                        deploy_date: deployed_at.date_naive(),
                        week_bucket: weeks.index_of(deployed_at),
                        month_bucket: months.index_of(deployed_at),
                    })
                })
                .collect()
        }
        Metric::ChangeLeadTime => successes()
            .flat_map(|outcome| {
                outcome.commits.iter().map(|commit| {
                    ExplainItem::Commit(CommitItem {
                        deployment: outcome.deployment.clone(),
                        sha: commit.sha.clone(),
                        committed_at: commit.committed_at,
                        lead_time: commit.lead_time,
                    })
                })
            })
            .collect(),
        Metric::ChangeFailureRate => outcomes
            .iter()
            .filter(|outcome| outcome.outcome.is_finished())
            .map(|outcome| {
                ExplainItem::ChangeFailure(ChangeFailureItem {
                    deployment: outcome.deployment.clone(),
                    outcome: outcome.outcome,
                    change_failure: outcome.change_failure,
                    causes: outcome.causes.clone(),
                })
            })
            .collect(),
        Metric::FailedDeploymentRecoveryTime => outcomes
            .iter()
            .filter(|outcome| outcome.change_failure)
            .filter_map(|outcome| {
                let recovery = outcome.recovery.clone()?;
                Some(ExplainItem::Recovery(RecoveryItem {
                    deployment: outcome.deployment.clone(),
                    causes: outcome.causes.clone(),
                    recovery,
                }))
            })
            .collect(),
        Metric::DeploymentReworkRate => successes()
            .map(|outcome| {
                ExplainItem::Rework(ReworkItem {
                    deployment: outcome.deployment.clone(),
                    rework: outcome.rework,
                    flags: outcome.flags.clone(),
                })
            })
            .collect(),
        Metric::TimeToRestore => time_to_restore(incidents, window),
    }
}

/// The outcomes of the window's deployments by `(deployed_at, number, id)`.
fn in_order<'a>(outcomes: &'a [DeploymentOutcome], window: &Window) -> Vec<&'a DeploymentOutcome> {
    let mut in_window: Vec<&DeploymentOutcome> = outcomes
        .iter()
        .filter(|outcome| window.contains(outcome.deployment.deployed_at))
        .collect();
    in_window.sort_by(|a, b| {
        let key = |o: &DeploymentOutcome| {
            (
                o.deployment.deployed_at,
                o.deployment.number,
                o.deployment.id,
            )
        };
        key(a).cmp(&key(b))
    });
    in_window
}

/// Incidents that started in the window, by `(started_at, id)`.
fn time_to_restore(incidents: &[IncidentFact], window: &Window) -> Vec<ExplainItem> {
    let mut started: Vec<&IncidentFact> = incidents
        .iter()
        .filter(|incident| window.contains(incident.started_at))
        .collect();
    started.sort_by_key(|incident| (incident.started_at, incident.id));
    started
        .into_iter()
        .map(|incident| {
            ExplainItem::Incident(IncidentItem {
                incident: incident.id,
                repository: incident.repository,
                environment: incident.environment.clone(),
                deployment: incident.deployment,
                started_at: incident.started_at,
                resolved_at: incident.resolved_at,
                seconds: restore_seconds(incident),
            })
        })
        .collect()
}
