//! The inputs of the engine: what the store knows about deployments and incidents, reduced to
//! the few fields the DORA definitions look at.
//!
//! These are plain values, built by the caller from whatever storage it uses. Everything handed
//! to [`compute`](crate::compute()) is taken to be in scope (organization, repository, team and
//! environment filtering is the caller's job); see the crate documentation for which facts a
//! query must include.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// What became of a deployment, as far as the metrics are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Status `success`: the change reached the environment.
    Success,
    /// Status `failure` or `error`: a finished deployment that failed.
    Failure,
    /// Not finished (`queued`, `in_progress`), or ended without shipping (`canceled`,
    /// `inactive` that never succeeded). Pending deployments are ignored by every metric.
    Pending,
}

impl Outcome {
    /// Success or failure: the deployments change failure rate counts.
    pub fn is_finished(self) -> bool {
        matches!(self, Outcome::Success | Outcome::Failure)
    }
}

/// One change a deployment shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitFact {
    pub sha: String,
    pub committed_at: DateTime<Utc>,
}

/// One deployment of one repository to one environment.
///
/// `(repository, environment)` is the deployment's *stream*; a stream is ordered by
/// `(deployed_at, number)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFact {
    pub id: Uuid,
    /// Unique and increasing (the store's sequence): breaks ties in `deployed_at`.
    pub number: i64,
    pub repository: Uuid,
    pub environment: String,
    /// `finished_at` when set, else `created_at`.
    pub deployed_at: DateTime<Utc>,
    pub outcome: Outcome,
    pub is_fix: bool,
    pub is_hotfix: bool,
    pub is_rollback: bool,
    /// The changes this deployment shipped (used for lead time). A sha listed twice counts once,
    /// with the first listing's `committed_at`.
    pub commits: Vec<CommitFact>,
}

impl DeploymentFact {
    /// A deployment that repairs its predecessor: when it is the next successful deployment
    /// after D, D is a change failure.
    pub fn is_remediation(&self) -> bool {
        self.is_hotfix || self.is_fix || self.is_rollback
    }

    /// A deployment that redoes work (deployment rework rate); `is_fix` does not count here.
    pub fn is_rework(&self) -> bool {
        self.is_hotfix || self.is_rollback
    }
}

/// One incident, possibly attributed to a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFact {
    pub id: Uuid,
    /// With `deployment` unset, the incident is attributed to the latest successful deployment
    /// of `(repository, environment)` deployed strictly before `started_at`.
    pub repository: Option<Uuid>,
    pub environment: String,
    /// Explicit attribution. It wins over `repository`, even when no deployment with this id is
    /// among the facts (the incident is then attributed to nothing the facts contain).
    pub deployment: Option<Uuid>,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Everything [`compute`](crate::compute()) looks at, borrowed from the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facts<'a> {
    pub deployments: &'a [DeploymentFact],
    pub incidents: &'a [IncidentFact],
}
