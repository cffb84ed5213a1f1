//! The JSON shapes of `GET /api/v1/metrics/dora/explain`: the engine's listing items
//! (`dora_metrics::ExplainItem`) as spec types, one object per kind under a `kind`
//! discriminator, each with its `reason` in words.

use chrono::{DateTime, NaiveDate, Utc};
use dora_metrics::{
    AttributedBy, CommitLeadTime, DeploymentRef, ExplainItem, FailureCause, Outcome, Recovery,
    Remediation,
};
use poem_openapi::{Enum, Object, Union};
use uuid::Uuid;

use super::out::QueryOut;
use crate::core::metrics::reason;

/// The metric a listing explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MetricName {
    DeploymentFrequency,
    ChangeLeadTime,
    ChangeFailureRate,
    FailedDeploymentRecoveryTime,
    DeploymentReworkRate,
    TimeToRestore,
}

impl From<MetricName> for dora_metrics::Metric {
    fn from(name: MetricName) -> Self {
        use dora_metrics::Metric as M;
        match name {
            MetricName::DeploymentFrequency => M::DeploymentFrequency,
            MetricName::ChangeLeadTime => M::ChangeLeadTime,
            MetricName::ChangeFailureRate => M::ChangeFailureRate,
            MetricName::FailedDeploymentRecoveryTime => M::FailedDeploymentRecoveryTime,
            MetricName::DeploymentReworkRate => M::DeploymentReworkRate,
            MetricName::TimeToRestore => M::TimeToRestore,
        }
    }
}

/// One page of the facts a metric is made of.
#[derive(Debug, Clone, Object)]
pub struct DoraExplainOut {
    #[oai(flatten)]
    pub query: QueryOut,
    /// The metric explained (a field of the summary).
    pub metric: MetricName,
    /// Items in the whole listing (all pages).
    pub total: u64,
    /// In listing order: deployments by deployed-at then number (a deployment's commits in
    /// their order), incidents by start.
    pub items: Vec<ExplainItemOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A deployment, placed in its stream.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ExplainedDeployment")]
pub struct DeploymentRefOut {
    pub id: Uuid,
    pub number: i64,
    pub repository_id: Uuid,
    pub environment: String,
    /// `finished_at`, else the time it was recorded.
    pub deployed_at: DateTime<Utc>,
}

impl From<&DeploymentRef> for DeploymentRefOut {
    fn from(d: &DeploymentRef) -> Self {
        Self {
            id: d.id,
            number: d.number,
            repository_id: d.repository,
            environment: d.environment.clone(),
            deployed_at: d.deployed_at,
        }
    }
}

/// One fact of a listing; `kind` says which.
#[derive(Debug, Clone, Union)]
#[oai(discriminator_name = "kind")]
pub enum ExplainItemOut {
    /// `deployment_frequency`: a successful deployment of the window.
    #[oai(mapping = "deployment")]
    Deployment(FrequencyItemOut),
    /// `change_lead_time`: a commit of a successful deployment of the window.
    #[oai(mapping = "commit")]
    Commit(CommitItemOut),
    /// `change_failure_rate`: a finished deployment of the window.
    #[oai(mapping = "change_failure")]
    ChangeFailure(ChangeFailureItemOut),
    /// `failed_deployment_recovery_time`: a change failure of the window.
    #[oai(mapping = "recovery")]
    Recovery(RecoveryItemOut),
    /// `deployment_rework_rate`: a successful deployment of the window.
    #[oai(mapping = "rework")]
    Rework(ReworkItemOut),
    /// `time_to_restore`: an incident that started in the window.
    #[oai(mapping = "incident")]
    Incident(IncidentItemOut),
}

/// A successful deployment: one deployment and one deploy day.
#[derive(Debug, Clone, Object)]
pub struct FrequencyItemOut {
    pub deployment: DeploymentRefOut,
    /// Its UTC date; deploy days are the distinct dates.
    pub deploy_date: NaiveDate,
    /// The whole 7-day span of the window holding it, counted back from `to` (0 ends at
    /// `to`); null in the leftover at the start. `median_deploy_days_per_week` is the median
    /// over the spans of the distinct deploy dates in each.
    #[oai(nullable)]
    pub week_bucket: Option<u64>,
    /// The same with 30-day spans (`median_deploy_days_per_month`).
    #[oai(nullable)]
    pub month_bucket: Option<u64>,
    pub reason: String,
}

/// How a commit counts for lead time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LeadTimeVerdict {
    /// First shipped in its stream by this deployment: one sample.
    Sample,
    /// Shipped earlier in this stream (`shipped_by`): no second sample.
    ShippedEarlier,
    /// Dated after the deployment: the negative sample is dropped.
    CommittedAfterDeployment,
    /// Listed twice in this deployment: counted once.
    ListedTwice,
}

/// A commit of a successful deployment.
#[derive(Debug, Clone, Object)]
pub struct CommitItemOut {
    pub deployment: DeploymentRefOut,
    pub sha: String,
    pub committed_at: DateTime<Utc>,
    pub verdict: LeadTimeVerdict,
    /// `deployed_at − committed_at`: the sample (`sample`), or the negative difference
    /// (`committed_after_deployment`); null otherwise.
    #[oai(nullable)]
    pub seconds: Option<f64>,
    /// With `shipped_earlier`: the deployment that shipped it first, when that is in the
    /// window; null when it was before the window.
    #[oai(nullable)]
    pub shipped_by: Option<Uuid>,
    pub reason: String,
}

/// A finished deployment's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum OutcomeOut {
    Success,
    Failure,
}

/// A remediation flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RemediationOut {
    Hotfix,
    Fix,
    Rollback,
}

fn remediations(flags: &[Remediation]) -> Vec<RemediationOut> {
    flags
        .iter()
        .map(|flag| match flag {
            Remediation::Hotfix => RemediationOut::Hotfix,
            Remediation::Fix => RemediationOut::Fix,
            Remediation::Rollback => RemediationOut::Rollback,
        })
        .collect()
}

/// Which rule makes a deployment a change failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CauseKind {
    /// Its status is failure.
    StatusFailure,
    /// The next successful deployment of its stream is a hotfix, fix or rollback.
    RemediatedBy,
    /// An incident is attributed to it.
    Incident,
}

/// How an incident came to be attributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AttributedByOut {
    /// The incident names the deployment.
    Id,
    /// The latest successful deployment of the incident's repository and environment before
    /// it started.
    RepositoryAndTime,
}

/// One cause of a change failure.
#[derive(Debug, Clone, Object)]
pub struct FailureCauseOut {
    pub cause: CauseKind,
    /// With `remediated_by`: the remediating deployment.
    #[oai(nullable)]
    pub deployment_id: Option<Uuid>,
    #[oai(nullable)]
    pub deployment_number: Option<i64>,
    /// With `remediated_by`: its flags.
    pub remediation: Vec<RemediationOut>,
    /// With `incident`: the incident and how it was attributed.
    #[oai(nullable)]
    pub incident_id: Option<Uuid>,
    #[oai(nullable)]
    pub attributed_by: Option<AttributedByOut>,
}

fn causes(causes: &[FailureCause]) -> Vec<FailureCauseOut> {
    causes
        .iter()
        .map(|cause| {
            let mut out = FailureCauseOut {
                cause: CauseKind::StatusFailure,
                deployment_id: None,
                deployment_number: None,
                remediation: Vec::new(),
                incident_id: None,
                attributed_by: None,
            };
            match cause {
                FailureCause::StatusFailure => {}
                FailureCause::RemediatedBy {
                    deployment,
                    number,
                    remediation,
                } => {
                    out.cause = CauseKind::RemediatedBy;
                    out.deployment_id = Some(*deployment);
                    out.deployment_number = Some(*number);
                    out.remediation = remediations(remediation);
                }
                FailureCause::Incident {
                    incident,
                    attributed_by,
                } => {
                    out.cause = CauseKind::Incident;
                    out.incident_id = Some(*incident);
                    out.attributed_by = Some(match attributed_by {
                        AttributedBy::Id => AttributedByOut::Id,
                        AttributedBy::RepositoryAndTime => AttributedByOut::RepositoryAndTime,
                    });
                }
            }
            out
        })
        .collect()
}

/// A finished deployment: a change failure or not, with every cause.
#[derive(Debug, Clone, Object)]
pub struct ChangeFailureItemOut {
    pub deployment: DeploymentRefOut,
    pub outcome: OutcomeOut,
    pub change_failure: bool,
    /// Empty when it is not a change failure.
    pub causes: Vec<FailureCauseOut>,
    pub reason: String,
}

/// How a change failure recovered, or why it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RecoveryHow {
    /// The last of its attributed incidents was resolved.
    IncidentResolved,
    /// No incident is attributed: the next successful deployment of its stream.
    NextSuccess,
    /// Not recovered: attributed incidents are open.
    IncidentsOpen,
    /// Not recovered: no incident is attributed and no success followed yet.
    NoLaterSuccess,
}

/// A change failure's recovery.
#[derive(Debug, Clone, Object)]
pub struct RecoveryOut {
    pub how: RecoveryHow,
    pub recovered: bool,
    #[oai(nullable)]
    pub recovered_at: Option<DateTime<Utc>>,
    /// `recovered_at − deployed_at`: the sample (negative when an incident named by id was
    /// resolved before the deployment); null while not recovered.
    #[oai(nullable)]
    pub seconds: Option<f64>,
    /// With `incident_resolved`: the incident whose resolution recovered it.
    #[oai(nullable)]
    pub incident_id: Option<Uuid>,
    /// With `next_success`: that deployment.
    #[oai(nullable)]
    pub deployment_id: Option<Uuid>,
    #[oai(nullable)]
    pub deployment_number: Option<i64>,
    /// With `incidents_open`: the open incidents.
    pub open_incidents: Vec<Uuid>,
}

impl From<&Recovery> for RecoveryOut {
    fn from(recovery: &Recovery) -> Self {
        let mut out = RecoveryOut {
            how: RecoveryHow::NoLaterSuccess,
            recovered: recovery.seconds().is_some(),
            recovered_at: None,
            seconds: recovery.seconds(),
            incident_id: None,
            deployment_id: None,
            deployment_number: None,
            open_incidents: Vec::new(),
        };
        match recovery {
            Recovery::IncidentResolved {
                incident,
                recovered_at,
                ..
            } => {
                out.how = RecoveryHow::IncidentResolved;
                out.incident_id = Some(*incident);
                out.recovered_at = Some(*recovered_at);
            }
            Recovery::NextSuccess {
                deployment,
                number,
                recovered_at,
                ..
            } => {
                out.how = RecoveryHow::NextSuccess;
                out.deployment_id = Some(*deployment);
                out.deployment_number = Some(*number);
                out.recovered_at = Some(*recovered_at);
            }
            Recovery::IncidentsOpen { incidents } => {
                out.how = RecoveryHow::IncidentsOpen;
                out.open_incidents = incidents.clone();
            }
            Recovery::NoLaterSuccess => {}
        }
        out
    }
}

/// A change failure of the window and its recovery.
#[derive(Debug, Clone, Object)]
pub struct RecoveryItemOut {
    pub deployment: DeploymentRefOut,
    pub causes: Vec<FailureCauseOut>,
    pub recovery: RecoveryOut,
    pub reason: String,
}

/// A successful deployment: rework when a hotfix or a rollback.
#[derive(Debug, Clone, Object)]
pub struct ReworkItemOut {
    pub deployment: DeploymentRefOut,
    pub rework: bool,
    /// Its own flags (`fix` alone is not rework).
    pub flags: Vec<RemediationOut>,
    pub reason: String,
}

/// An incident that started in the window.
#[derive(Debug, Clone, Object)]
pub struct IncidentItemOut {
    pub incident_id: Uuid,
    #[oai(nullable)]
    pub repository_id: Option<Uuid>,
    pub environment: String,
    #[oai(nullable)]
    pub deployment_id: Option<Uuid>,
    pub started_at: DateTime<Utc>,
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// `resolved_at − started_at`; null while open.
    #[oai(nullable)]
    pub seconds: Option<f64>,
    pub reason: String,
}

impl From<&ExplainItem> for ExplainItemOut {
    fn from(item: &ExplainItem) -> Self {
        let reason = reason(item);
        match item {
            ExplainItem::Deployment(i) => Self::Deployment(FrequencyItemOut {
                deployment: (&i.deployment).into(),
                deploy_date: i.deploy_date,
                week_bucket: i.week_bucket.map(|b| b as u64),
                month_bucket: i.month_bucket.map(|b| b as u64),
                reason,
            }),
            ExplainItem::Commit(i) => {
                let (verdict, seconds, shipped_by) = match i.lead_time {
                    CommitLeadTime::Sample { seconds } => {
                        (LeadTimeVerdict::Sample, Some(seconds), None)
                    }
                    CommitLeadTime::ShippedEarlier { by } => (
                        LeadTimeVerdict::ShippedEarlier,
                        None,
                        (!by.is_nil()).then_some(by),
                    ),
                    CommitLeadTime::CommittedAfterDeployment { seconds } => (
                        LeadTimeVerdict::CommittedAfterDeployment,
                        Some(seconds),
                        None,
                    ),
                    CommitLeadTime::ListedTwice => (LeadTimeVerdict::ListedTwice, None, None),
                };
                Self::Commit(CommitItemOut {
                    deployment: (&i.deployment).into(),
                    sha: i.sha.clone(),
                    committed_at: i.committed_at,
                    verdict,
                    seconds,
                    shipped_by,
                    reason,
                })
            }
            ExplainItem::ChangeFailure(i) => Self::ChangeFailure(ChangeFailureItemOut {
                deployment: (&i.deployment).into(),
                outcome: match i.outcome {
                    Outcome::Failure => OutcomeOut::Failure,
                    // Only finished deployments are listed.
                    Outcome::Success | Outcome::Pending => OutcomeOut::Success,
                },
                change_failure: i.change_failure,
                causes: causes(&i.causes),
                reason,
            }),
            ExplainItem::Recovery(i) => Self::Recovery(RecoveryItemOut {
                deployment: (&i.deployment).into(),
                causes: causes(&i.causes),
                recovery: (&i.recovery).into(),
                reason,
            }),
            ExplainItem::Rework(i) => Self::Rework(ReworkItemOut {
                deployment: (&i.deployment).into(),
                rework: i.rework,
                flags: remediations(&i.flags),
                reason,
            }),
            ExplainItem::Incident(i) => Self::Incident(IncidentItemOut {
                incident_id: i.incident,
                repository_id: i.repository,
                environment: i.environment.clone(),
                deployment_id: i.deployment,
                started_at: i.started_at,
                resolved_at: i.resolved_at,
                seconds: i.seconds,
                reason,
            }),
        }
    }
}
