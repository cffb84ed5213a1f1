//! Per-deployment derived outcomes (DESIGN.md §12): what the DORA definitions decide about
//! each finished deployment, kept as values rather than only counted.
//!
//! [`derive()`] gives, for every finished deployment of a window, a [`DeploymentOutcome`]:
//! whether it is a change failure and every cause that applies, how and when it recovered, the
//! lead-time verdict of each of its commits, whether it is rework, and its stream neighbours.
//! It runs the very walk [`compute`](crate::compute()) counts (one copy of the definitions).
//!
//! [`OutcomeRow`] is the compact part of an outcome that a store could keep per deployment;
//! [`summarize`] turns the rows of a window, its lead-time samples and its incidents into the
//! same [`DoraSummary`] as `compute`, so a store-backed query can read rows from an index
//! range instead of facts.
//!
//! # What an outcome depends on
//!
//! For a store that keeps outcomes up to date (DESIGN.md §12), the outcome of D changes when:
//! - D itself changes (outcome, time, flags, commits);
//! - the next successful deployment of its stream changes (which one it is, its remediation
//!   flags, its `deployed_at`): a write to a success S touches the outcomes of the deployments
//!   between the success before S and S, wherever S moves from and to;
//! - the incidents attributed to it change: by id, or by repository and time, which goes to the
//!   latest success before the incident started, so a success written in between takes the
//!   later incidents of its predecessor;
//! - for lead time, the earlier successes of its stream that list the same shas change: a
//!   success written before others can turn their first-shipped commits into
//!   [`CommitLeadTime::ShippedEarlier`], and back when it moves or fails;
//! - a deployment of any outcome is written next to it in stream order ([`Neighbours`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::compute::{Recovered, Tally, Visit, Walked, walk};
use crate::facts::{CommitFact, DeploymentFact, Facts, IncidentFact, Outcome};
use crate::summary::DoraSummary;
use crate::tiers::Benchmark;
use crate::window::Window;

#[cfg(test)]
mod tests;

/// Everything the metrics decide about one finished deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentOutcome {
    pub deployment: DeploymentRef,
    /// Success or failure.
    pub outcome: Outcome,
    /// The deployment's own remediation flags, in the order hotfix, fix, rollback.
    pub flags: Vec<Remediation>,
    pub change_failure: bool,
    /// Every cause that makes it a change failure; empty when it is not one.
    pub causes: Vec<FailureCause>,
    /// For a change failure, how it recovered or why it has not; `None` otherwise.
    pub recovery: Option<Recovery>,
    /// For a success, each listed commit in listing order with its lead-time verdict; empty for
    /// a failure, which ships nothing.
    pub commits: Vec<CommitOutcome>,
    /// A successful hotfix or rollback (deployment rework rate).
    pub rework: bool,
    pub neighbours: Neighbours,
}

/// Names a deployment and places it in its stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DeploymentRef {
    pub id: Uuid,
    pub number: i64,
    pub repository: Uuid,
    pub environment: String,
    pub deployed_at: DateTime<Utc>,
}

impl From<&DeploymentFact> for DeploymentRef {
    fn from(deployment: &DeploymentFact) -> DeploymentRef {
        DeploymentRef {
            id: deployment.id,
            number: deployment.number,
            repository: deployment.repository,
            environment: deployment.environment.clone(),
            deployed_at: deployment.deployed_at,
        }
    }
}

/// A deployment's neighbours in stream order, as far as the facts passed to [`derive()`] show.
///
/// `next_success` is exact whenever the facts are sufficient for the window. `previous` and
/// `next` are any outcome and are exact only when the facts hold the stream around the
/// deployment: sufficient facts may omit a pending or failed deployment just outside the
/// window, or condense earlier history into a synthetic deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Neighbours {
    pub previous: Option<Uuid>,
    pub next: Option<Uuid>,
    pub next_success: Option<Uuid>,
}

/// A remediation flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Remediation {
    Hotfix,
    Fix,
    Rollback,
}

impl Remediation {
    /// The flags `deployment` carries, in the order hotfix, fix, rollback.
    fn of(deployment: &DeploymentFact) -> Vec<Remediation> {
        [
            (deployment.is_hotfix, Remediation::Hotfix),
            (deployment.is_fix, Remediation::Fix),
            (deployment.is_rollback, Remediation::Rollback),
        ]
        .into_iter()
        .filter_map(|(set, flag)| set.then_some(flag))
        .collect()
    }
}

/// Why a deployment is a change failure (DESIGN.md §5 (a), (b), (c)). Several can apply.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum FailureCause {
    /// (a) its status is failure.
    StatusFailure,
    /// (b) it succeeded and the next successful deployment of its stream, `deployment`, is a
    /// remediation (its flags, never empty).
    RemediatedBy {
        deployment: Uuid,
        number: i64,
        remediation: Vec<Remediation>,
    },
    /// (c) an incident is attributed to it.
    Incident {
        incident: Uuid,
        attributed_by: AttributedBy,
    },
}

/// How a change failure recovered, or why it has not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Recovery {
    /// Incidents are attributed to it and all are resolved: recovered when the last of them,
    /// `incident`, was resolved (the earliest started of those resolved at that time).
    IncidentResolved {
        incident: Uuid,
        recovered_at: DateTime<Utc>,
        /// `recovered_at − deployed_at`, negative when an incident named by id was resolved
        /// before the deployment (counted as such, DESIGN.md §5).
        seconds: f64,
    },
    /// No incident is attributed: recovered when the next successful deployment of its stream
    /// was deployed.
    NextSuccess {
        deployment: Uuid,
        number: i64,
        recovered_at: DateTime<Utc>,
        seconds: f64,
    },
    /// Not recovered: these attributed incidents are open.
    IncidentsOpen { incidents: Vec<Uuid> },
    /// Not recovered: no incident is attributed and no successful deployment follows yet.
    NoLaterSuccess,
}

impl Recovery {
    /// The recovery-time sample; `None` while not recovered.
    pub fn seconds(&self) -> Option<f64> {
        match self {
            Recovery::IncidentResolved { seconds, .. } | Recovery::NextSuccess { seconds, .. } => {
                Some(*seconds)
            }
            Recovery::IncidentsOpen { .. } | Recovery::NoLaterSuccess => None,
        }
    }
}

/// One listed commit of a successful deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitOutcome {
    pub sha: String,
    pub committed_at: DateTime<Utc>,
    pub lead_time: CommitLeadTime,
}

/// What the summary counts of one deployment, apart from its lead-time samples: a row a store
/// can keep per deployment and read back from an index range over `deployed_at`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutcomeRow {
    pub deployed_at: DateTime<Utc>,
    /// Success or failure; a pending row counts nothing.
    pub outcome: Outcome,
    pub change_failure: bool,
    /// For a change failure: seconds from deployment to recovery (negative allowed, as
    /// DESIGN.md §5 defines it), or `None` while not recovered. Ignored for other rows.
    pub recovery_seconds: Option<f64>,
    /// A successful hotfix or rollback (deployment rework rate).
    pub rework: bool,
}

/// What the [`OutcomeRow`]s (and lead-time samples) of some deployments add up to: a store
/// can aggregate its outcome rows in SQL (per UTC day, per repository, or keep them added up
/// per day) and hand the engine a few slots instead of every row ([`summarize_slots`]).
///
/// Frequency needs, of each UTC date with successes, only its first and its last success: a
/// date lies in at most two of a window's frequency buckets (they are whole days long, or the
/// whole window), so those two successes fall in every bucket any of the date's successes
/// falls in. [`OutcomeSlot::success_times`] holds at least those.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutcomeSlot {
    /// Finished (successful or failed) deployments.
    pub finished: u64,
    /// Successful deployments.
    pub successes: u64,
    /// `deployed_at` of successes: for every UTC date with successes, at least its earliest
    /// and its latest (more, repeated, or in any order is harmless). Empty without successes.
    pub success_times: Vec<DateTime<Utc>>,
    /// Change failures.
    pub failures: u64,
    /// Change failures not recovered yet.
    pub unrecovered: u64,
    /// Successful hotfixes and rollbacks.
    pub rework: u64,
    /// The recovery-time samples of the recovered change failures, in any order.
    pub recovery_seconds: Vec<f64>,
    /// The lead-time samples of the successes' commits, in any order.
    pub lead_seconds: Vec<f64>,
}

impl OutcomeSlot {
    /// Adds one deployment: its row and its lead-time samples. Pending rows add nothing.
    pub fn add(&mut self, row: &OutcomeRow, lead_seconds: &[f64]) {
        if !row.outcome.is_finished() {
            return;
        }
        self.finished += 1;
        if row.outcome == Outcome::Success {
            self.successes += 1;
            self.success_times.push(row.deployed_at);
            if row.rework {
                self.rework += 1;
            }
            self.lead_seconds.extend_from_slice(lead_seconds);
        }
        if row.change_failure {
            self.failures += 1;
            match row.recovery_seconds {
                Some(seconds) => self.recovery_seconds.push(seconds),
                None => self.unrecovered += 1,
            }
        }
    }

    /// Adds the deployments of `other`.
    pub fn merge(&mut self, other: &OutcomeSlot) {
        self.finished += other.finished;
        self.successes += other.successes;
        self.success_times.extend_from_slice(&other.success_times);
        self.failures += other.failures;
        self.unrecovered += other.unrecovered;
        self.rework += other.rework;
        self.recovery_seconds
            .extend_from_slice(&other.recovery_seconds);
        self.lead_seconds.extend_from_slice(&other.lead_seconds);
    }
}

/// How a commit of a successful deployment counts for change lead time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum CommitLeadTime {
    /// First shipped in its stream by this deployment: one sample, `deployed_at − committed_at`.
    Sample { seconds: f64 },
    /// Shipped earlier in this stream by the successful deployment `by`: no second sample.
    ShippedEarlier { by: Uuid },
    /// First shipped here but dated after the deployment (clock skew): the negative sample is
    /// dropped.
    CommittedAfterDeployment { seconds: f64 },
    /// Listed again in this deployment: it counts once, with its first listing.
    ListedTwice,
}

impl CommitLeadTime {
    /// The lead-time sample, for [`CommitLeadTime::Sample`].
    pub fn sample(&self) -> Option<f64> {
        match self {
            CommitLeadTime::Sample { seconds } => Some(*seconds),
            _ => None,
        }
    }
}

/// How an incident came to be attributed to a deployment (DESIGN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributedBy {
    /// The incident names the deployment.
    Id,
    /// The latest successful deployment of the incident's `(repository, environment)` deployed
    /// before it started.
    RepositoryAndTime,
}

impl DeploymentOutcome {
    /// The compact row of this outcome: what the summary counts of it, apart from lead time.
    pub fn row(&self) -> OutcomeRow {
        OutcomeRow {
            deployed_at: self.deployment.deployed_at,
            outcome: self.outcome,
            change_failure: self.change_failure,
            recovery_seconds: self.recovery.as_ref().and_then(Recovery::seconds),
            rework: self.rework,
        }
    }

    /// The lead-time samples of its commits, in listing order.
    pub fn lead_time_samples(&self) -> impl Iterator<Item = f64> + '_ {
        self.commits
            .iter()
            .filter_map(|commit| commit.lead_time.sample())
    }

    fn from_walked(walked: &Walked<'_>) -> DeploymentOutcome {
        let deployment = walked.deployment;
        let mut causes = Vec::new();
        if walked.failed_status() {
            causes.push(FailureCause::StatusFailure);
        }
        if let Some(next) = walked.remediated_by() {
            causes.push(FailureCause::RemediatedBy {
                deployment: next.id,
                number: next.number,
                remediation: Remediation::of(next),
            });
        }
        causes.extend(
            walked
                .incidents
                .iter()
                .map(|attributed| FailureCause::Incident {
                    incident: attributed.incident.id,
                    attributed_by: attributed.by,
                }),
        );
        let recovery = walked.recovery().map(|recovered| match recovered {
            Recovered::Incident {
                incident,
                at,
                seconds,
            } => Recovery::IncidentResolved {
                incident: incident.id,
                recovered_at: at,
                seconds,
            },
            Recovered::NextSuccess {
                deployment: next,
                seconds,
            } => Recovery::NextSuccess {
                deployment: next.id,
                number: next.number,
                recovered_at: next.deployed_at,
                seconds,
            },
            Recovered::IncidentsOpen => Recovery::IncidentsOpen {
                incidents: walked
                    .incidents
                    .iter()
                    .filter(|attributed| attributed.incident.resolved_at.is_none())
                    .map(|attributed| attributed.incident.id)
                    .collect(),
            },
            Recovered::NoLaterSuccess => Recovery::NoLaterSuccess,
        });
        DeploymentOutcome {
            deployment: DeploymentRef::from(deployment),
            outcome: deployment.outcome,
            flags: Remediation::of(deployment),
            change_failure: walked.change_failure(),
            causes,
            recovery,
            commits: Vec::new(),
            rework: walked.rework(),
            neighbours: Neighbours {
                previous: walked.previous.map(|d| d.id),
                next: walked.next.map(|d| d.id),
                next_success: walked.next_success.map(|d| d.id),
            },
        }
    }
}

/// The outcome of every finished deployment deployed in `window`, ordered by
/// `(deployed_at, number, id)`.
///
/// `facts` must be sufficient for `window`, exactly as for [`compute`](crate::compute()) (see
/// the crate documentation and [`Neighbours`] for what that leaves open); the order of the
/// slices does not matter. Pending deployments have no outcome. To derive every deployment of
/// a full history, pass a window built by hand over all time, such as
/// `Window { from: DateTime::<Utc>::MIN_UTC, to: DateTime::<Utc>::MAX_UTC }`.
pub fn derive(facts: &Facts<'_>, window: &Window) -> Vec<DeploymentOutcome> {
    let mut outcomes = Outcomes(Vec::new());
    walk(facts, &[*window], &mut outcomes);
    let Outcomes(mut outcomes) = outcomes;
    // The walk goes stream by stream; the listing goes by time across streams.
    outcomes.sort_by(|a, b| {
        let key = |o: &DeploymentOutcome| {
            (
                o.deployment.deployed_at,
                o.deployment.number,
                o.deployment.id,
            )
        };
        key(a).cmp(&key(b))
    });
    outcomes
}

/// The summary of `window` from per-deployment outcomes: exactly what
/// [`compute`](crate::compute()) answers for the facts the outcomes were derived from.
///
/// - `rows`: the [`OutcomeRow`] of every finished deployment deployed in the window (rows
///   deployed outside it and pending rows are ignored; order does not matter);
/// - `lead_time_seconds`: the lead-time samples of those deployments' commits
///   ([`CommitLeadTime::Sample`]), which cannot be checked against the window: pass only the
///   window's;
/// - `incidents`: at least the incidents that started in the window (time to restore).
pub fn summarize(
    window: &Window,
    rows: &[OutcomeRow],
    lead_time_seconds: &[f64],
    incidents: &[IncidentFact],
    benchmark: Benchmark,
) -> DoraSummary {
    let mut tally = Tally::new(window);
    for row in rows.iter().filter(|row| window.contains(row.deployed_at)) {
        tally.add(row);
    }
    tally.add_lead_times(lead_time_seconds);
    tally.finish(incidents, benchmark)
}

/// The summary of `window` from [`OutcomeSlot`]s: exactly what [`summarize`] answers for the
/// rows the slots add up.
///
/// Every slot must hold deployments deployed in the window, each deployment in one slot
/// (a slot may hold one UTC date or many; order does not matter). `incidents` as for
/// [`summarize`].
pub fn summarize_slots(
    window: &Window,
    slots: &[OutcomeSlot],
    incidents: &[IncidentFact],
    benchmark: Benchmark,
) -> DoraSummary {
    let mut tally = Tally::new(window);
    for slot in slots {
        tally.add_slot(slot);
    }
    tally.finish(incidents, benchmark)
}

/// The visitor of [`derive`]: keeps every verdict.
struct Outcomes(Vec<DeploymentOutcome>);

impl Visit for Outcomes {
    fn deployment(&mut self, _slot: usize, walked: &Walked<'_>) {
        self.0.push(DeploymentOutcome::from_walked(walked));
    }

    fn commit(&mut self, _slot: usize, commit: &CommitFact, lead_time: CommitLeadTime) {
        if let Some(outcome) = self.0.last_mut() {
            outcome.commits.push(CommitOutcome {
                sha: commit.sha.clone(),
                committed_at: commit.committed_at,
                lead_time,
            });
        }
    }
}
