//! The engine: from deployment and incident facts and a window to every DORA metric
//! (DESIGN.md §5).
//!
//! One pass of preparation, then one walk per stream:
//! - deployments are grouped by stream `(repository, environment)` once and each stream is
//!   sorted once by `(deployed_at, number)` (then `id`, so the order is total);
//! - for every position the next successful deployment is precomputed by a backward scan;
//! - incidents are attributed with a binary search over the stream's successful deployments;
//! - the walk keeps a map of the shas the stream has shipped so far (and by which deployment),
//!   which decides lead time.
//!
//! The walk is where the definitions live: it judges each finished deployment of the windows
//! (`Walked`: change failure and why, recovery and how) and each commit of a successful one
//! ([`CommitLeadTime`]), and hands the verdicts to a visitor. [`compute`] counts them, through
//! the [`OutcomeRow`] of each deployment (the rows [`summarize`](crate::summarize) counts);
//! [`derive`](crate::derive()) keeps them as [`DeploymentOutcome`](crate::DeploymentOutcome)s.
//!
//! O(n log n) in the number of deployments plus O(commits + incidents·log n).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::facts::{CommitFact, DeploymentFact, Facts, IncidentFact, Outcome};
use crate::outcomes::{AttributedBy, CommitLeadTime, OutcomeRow, OutcomeSlot};
use crate::percentile::{median_and_p90, percentile_of};
use crate::summary::{
    ChangeFailureRate, DeploymentFrequency, DoraSummary, LeadTime, RecoveryTime, ReworkRate,
    TimeToRestore,
};
use crate::tiers::{self, Benchmark};
use crate::window::{WholeBuckets, Window, seconds_between};

#[cfg(test)]
pub(crate) mod tests;

/// Computes every metric of `window` from `facts`, graded against `benchmark`.
///
/// `facts` must be *sufficient* for the window (see the crate documentation); anything more is
/// harmless. Everything in `facts` is taken to be in scope. The order of the slices does not
/// matter.
pub fn compute(facts: &Facts<'_>, window: &Window, benchmark: Benchmark) -> DoraSummary {
    let mut tallies = [Tally::new(window)];
    walk(facts, &[*window], &mut tallies[..]);
    let [tally] = tallies;
    tally.finish(facts.incidents, benchmark)
}

/// [`compute`] for each of `windows`, in one pass over `facts`: the same summaries as one call
/// per window, for the cost of about one (a series of 365 daily buckets reads its history once,
/// not 365 times).
///
/// `facts` must be sufficient for every window (facts sufficient for a window are sufficient
/// for any window inside it, such as its [`Window::calendar_buckets`]). Windows that overlap or
/// are out of order are computed one by one.
pub fn compute_each(
    facts: &Facts<'_>,
    windows: &[Window],
    benchmark: Benchmark,
) -> Vec<DoraSummary> {
    let disjoint = windows.windows(2).all(|pair| match pair {
        [a, b] => a.to <= b.from,
        _ => true,
    });
    if !disjoint {
        return windows
            .iter()
            .map(|window| compute(facts, window, benchmark))
            .collect();
    }
    let mut tallies: Vec<Tally> = windows.iter().map(Tally::new).collect();
    walk(facts, windows, &mut tallies[..]);
    tallies
        .into_iter()
        .map(|tally| tally.finish(facts.incidents, benchmark))
        .collect()
}

/// What one window has counted so far.
pub(crate) struct Tally {
    window: Window,
    frequency: FrequencyTally,
    lead_times: Vec<f64>,
    finished: u64,
    failures: u64,
    recovery_times: Vec<f64>,
    unrecovered: u64,
    rework: u64,
}

impl Tally {
    pub(crate) fn new(window: &Window) -> Tally {
        Tally {
            window: *window,
            frequency: FrequencyTally::new(window),
            lead_times: Vec::new(),
            finished: 0,
            failures: 0,
            recovery_times: Vec::new(),
            unrecovered: 0,
            rework: 0,
        }
    }

    /// Counts one deployment of the window. Rows of pending deployments count nothing.
    pub(crate) fn add(&mut self, row: &OutcomeRow) {
        if !row.outcome.is_finished() {
            return;
        }
        if row.outcome == Outcome::Success {
            self.frequency.add(row.deployed_at);
            if row.rework {
                self.rework += 1;
            }
        }
        self.finished += 1;
        if row.change_failure {
            self.failures += 1;
            match row.recovery_seconds {
                Some(seconds) => self.recovery_times.push(seconds),
                None => self.unrecovered += 1,
            }
        }
    }

    /// Counts lead-time samples of the window's deployments.
    pub(crate) fn add_lead_times(&mut self, seconds: &[f64]) {
        self.lead_times.extend_from_slice(seconds);
    }

    /// Counts what the rows of one slot add up to (see [`OutcomeSlot`]): the same as adding
    /// each row, because the first and last success of each date mark every frequency bucket
    /// the date's successes fall in.
    pub(crate) fn add_slot(&mut self, slot: &OutcomeSlot) {
        self.frequency.add_many(slot.successes, &slot.success_times);
        self.rework += slot.rework;
        self.finished += slot.finished;
        self.failures += slot.failures;
        self.unrecovered += slot.unrecovered;
        self.recovery_times
            .extend_from_slice(&slot.recovery_seconds);
        self.lead_times.extend_from_slice(&slot.lead_seconds);
    }

    pub(crate) fn finish(self, incidents: &[IncidentFact], benchmark: Benchmark) -> DoraSummary {
        let Tally {
            window,
            frequency,
            lead_times,
            finished,
            failures,
            recovery_times,
            unrecovered,
            rework,
        } = self;
        let deployment_frequency = frequency.finish(benchmark);
        let successes = deployment_frequency.deployments;
        DoraSummary {
            deployment_frequency,
            change_lead_time: lead_time(lead_times, benchmark),
            change_failure_rate: ChangeFailureRate {
                failures,
                deployments: finished,
                rate: ratio(failures, finished),
                tier: ratio(failures, finished)
                    .map(|rate| tiers::change_failure_rate(benchmark, rate)),
            },
            failed_deployment_recovery_time: recovery_time(recovery_times, unrecovered, benchmark),
            deployment_rework_rate: ReworkRate {
                rework_deployments: rework,
                deployments: successes,
                rate: ratio(rework, successes),
            },
            time_to_restore: time_to_restore(incidents, &window),
        }
    }
}

/// The tallies of [`compute_each`], one per window (slot).
impl Visit for [Tally] {
    fn deployment(&mut self, slot: usize, walked: &Walked<'_>) {
        if let Some(tally) = self.get_mut(slot) {
            tally.add(&walked.row());
        }
    }

    fn commit(&mut self, slot: usize, _commit: &CommitFact, lead_time: CommitLeadTime) {
        if let (Some(tally), Some(seconds)) = (self.get_mut(slot), lead_time.sample()) {
            tally.lead_times.push(seconds);
        }
    }
}

/// Receives the verdicts of a [`walk`], deployment by deployment. `slot` is the index of the
/// window that holds the deployment.
pub(crate) trait Visit {
    /// A finished deployment deployed in window `slot`. For a successful one, [`Visit::commit`]
    /// follows for each of its commits, in listing order, before the next deployment.
    fn deployment(&mut self, slot: usize, walked: &Walked<'_>);

    /// A commit of the successful deployment last passed to [`Visit::deployment`].
    fn commit(&mut self, slot: usize, commit: &CommitFact, lead_time: CommitLeadTime);
}

/// One finished deployment of a window, with everything DESIGN.md §5 decides about it. The
/// one place where change failure and recovery are defined.
pub(crate) struct Walked<'a> {
    pub(crate) deployment: &'a DeploymentFact,
    /// The deployments just before and after it in stream order, of any outcome.
    pub(crate) previous: Option<&'a DeploymentFact>,
    pub(crate) next: Option<&'a DeploymentFact>,
    /// The first successful deployment after it in stream order.
    pub(crate) next_success: Option<&'a DeploymentFact>,
    /// The incidents attributed to it, ordered by `(started_at, id)`.
    pub(crate) incidents: &'a [Attributed<'a>],
    attribution: Option<&'a Attribution<'a>>,
}

/// How a change failure recovered, or why it has not.
pub(crate) enum Recovered<'a> {
    /// Every attributed incident is resolved; `incident` was resolved last, at `at`.
    Incident {
        incident: &'a IncidentFact,
        at: DateTime<Utc>,
        seconds: f64,
    },
    /// No incident is attributed: recovered when the next successful deployment was deployed.
    NextSuccess {
        deployment: &'a DeploymentFact,
        seconds: f64,
    },
    /// An attributed incident is still open.
    IncidentsOpen,
    /// No incident is attributed and no successful deployment follows (yet).
    NoLaterSuccess,
}

impl Recovered<'_> {
    /// The recovery-time sample, `None` while not recovered.
    pub(crate) fn seconds(&self) -> Option<f64> {
        match self {
            Recovered::Incident { seconds, .. } | Recovered::NextSuccess { seconds, .. } => {
                Some(*seconds)
            }
            Recovered::IncidentsOpen | Recovered::NoLaterSuccess => None,
        }
    }
}

impl<'a> Walked<'a> {
    /// (a) its status is failure.
    pub(crate) fn failed_status(&self) -> bool {
        self.deployment.outcome == Outcome::Failure
    }

    /// (b) it succeeded and the next successful deployment of its stream is a remediation:
    /// that deployment.
    pub(crate) fn remediated_by(&self) -> Option<&'a DeploymentFact> {
        if self.deployment.outcome != Outcome::Success {
            return None;
        }
        self.next_success
            .filter(|next| DeploymentFact::is_remediation(next))
    }

    /// A change failure: (a), (b), or (c) an incident is attributed to it.
    pub(crate) fn change_failure(&self) -> bool {
        self.failed_status() || self.remediated_by().is_some() || self.attribution.is_some()
    }

    /// For a change failure: recovered when the last attributed incident was resolved, or
    /// without incidents when the next successful deployment was deployed. `None` otherwise.
    pub(crate) fn recovery(&self) -> Option<Recovered<'a>> {
        if !self.change_failure() {
            return None;
        }
        // As defined (DESIGN.md §5), even when negative: an incident named by id and resolved
        // before the deployment. Only lead time drops negative samples.
        let since_deployed = |at| seconds_between(self.deployment.deployed_at, at);
        Some(match (self.attribution, self.next_success) {
            (Some(attribution), _) => match attribution.recovered() {
                Some((incident, at)) => Recovered::Incident {
                    incident,
                    at,
                    seconds: since_deployed(at),
                },
                None => Recovered::IncidentsOpen,
            },
            (None, Some(next)) => Recovered::NextSuccess {
                deployment: next,
                seconds: since_deployed(next.deployed_at),
            },
            (None, None) => Recovered::NoLaterSuccess,
        })
    }

    /// Rework: a successful hotfix or rollback.
    pub(crate) fn rework(&self) -> bool {
        self.deployment.outcome == Outcome::Success && self.deployment.is_rework()
    }

    /// What the summary counts of this deployment, apart from lead time.
    pub(crate) fn row(&self) -> OutcomeRow {
        let recovery = self.recovery();
        OutcomeRow {
            deployed_at: self.deployment.deployed_at,
            outcome: self.deployment.outcome,
            change_failure: self.change_failure(),
            recovery_seconds: recovery.as_ref().and_then(Recovered::seconds),
            rework: self.rework(),
        }
    }
}

/// Walks every stream once, in stream order, and reports each finished deployment deployed in
/// one of `windows` (sorted and disjoint) to `visitor`, with the slot of its window.
pub(crate) fn walk<V: Visit + ?Sized>(facts: &Facts<'_>, windows: &[Window], visitor: &mut V) {
    let Some(end) = windows.last().map(|window| window.to) else {
        return;
    };
    let deployments = facts.deployments;
    let streams = streams(deployments);
    let attributions = attribute(deployments, facts.incidents, &streams);

    for stream in streams.values() {
        // Shas shipped by the successful deployments walked so far (the stream's history), each
        // with the deployment that shipped it first.
        let mut shipped: HashMap<&str, &DeploymentFact> = HashMap::new();
        for (position, &index) in stream.order.iter().enumerate() {
            let Some(deployment) = deployments.get(index) else {
                continue;
            };
            if deployment.deployed_at >= end {
                // Nothing later is measured, and later deployments cannot change what the
                // earlier ones shipped first.
                break;
            }
            let at = deployment.deployed_at;
            let slot = windows.partition_point(|window| window.to <= at);
            let in_window = windows.get(slot).is_some_and(|window| window.contains(at));

            if in_window && deployment.outcome.is_finished() {
                let attribution = attributions.by_deployment.get(&index);
                let walked = Walked {
                    deployment,
                    previous: position
                        .checked_sub(1)
                        .and_then(|previous| stream.order.get(previous))
                        .and_then(|&previous| deployments.get(previous)),
                    next: stream
                        .order
                        .get(position + 1)
                        .and_then(|&next| deployments.get(next)),
                    next_success: stream
                        .next_success
                        .get(position)
                        .copied()
                        .flatten()
                        .and_then(|next| deployments.get(next)),
                    incidents: attribution
                        .and_then(|attribution| attributions.pairs.get(attribution.range.clone()))
                        .unwrap_or_default(),
                    attribution,
                };
                visitor.deployment(slot, &walked);
            }

            if deployment.outcome != Outcome::Success {
                continue;
            }
            for commit in &deployment.commits {
                let first = match shipped.entry(commit.sha.as_str()) {
                    Entry::Vacant(entry) => {
                        entry.insert(deployment);
                        None
                    }
                    Entry::Occupied(entry) => Some(*entry.get()),
                };
                if !in_window {
                    continue;
                }
                let lead_time = match first {
                    None => {
                        let seconds = seconds_between(commit.committed_at, at);
                        // A commit dated after its deployment is clock skew: dropped.
                        if seconds >= 0.0 {
                            CommitLeadTime::Sample { seconds }
                        } else {
                            CommitLeadTime::CommittedAfterDeployment { seconds }
                        }
                    }
                    // A sha listed twice counts once, with the first listing's `committed_at`.
                    Some(earlier) if std::ptr::eq(earlier, deployment) => {
                        CommitLeadTime::ListedTwice
                    }
                    Some(earlier) => CommitLeadTime::ShippedEarlier { by: earlier.id },
                };
                visitor.commit(slot, commit, lead_time);
            }
        }
    }
}

/// The deployments of one `(repository, environment)`, in stream order.
struct Stream {
    /// Indices into the deployment slice, sorted by `(deployed_at, number, id)`.
    order: Vec<usize>,
    /// For each position of `order`: the index of the first successful deployment after it.
    next_success: Vec<Option<usize>>,
    /// Indices of the successful deployments, in stream order (for attribution).
    successes: Vec<usize>,
}

type StreamKey<'a> = (Uuid, &'a str);

fn stream_order(a: &DeploymentFact, b: &DeploymentFact) -> Ordering {
    (a.deployed_at, a.number, a.id).cmp(&(b.deployed_at, b.number, b.id))
}

fn streams(deployments: &[DeploymentFact]) -> HashMap<StreamKey<'_>, Stream> {
    let mut orders: HashMap<StreamKey<'_>, Vec<usize>> = HashMap::new();
    for (index, deployment) in deployments.iter().enumerate() {
        orders
            .entry((deployment.repository, deployment.environment.as_str()))
            .or_default()
            .push(index);
    }
    orders
        .into_iter()
        .map(|(key, mut order)| {
            // Stable, so even duplicate ids (which the store never produces) give one answer
            // for one input.
            order.sort_by(|&a, &b| match (deployments.get(a), deployments.get(b)) {
                (Some(a), Some(b)) => stream_order(a, b),
                _ => Ordering::Equal,
            });
            let is_success =
                |index: usize| deployments.get(index).map(|d| d.outcome) == Some(Outcome::Success);
            let mut next_success = vec![None; order.len()];
            let mut next = None;
            for (position, &index) in order.iter().enumerate().rev() {
                if let Some(slot) = next_success.get_mut(position) {
                    *slot = next;
                }
                if is_success(index) {
                    next = Some(index);
                }
            }
            let successes = order.iter().copied().filter(|&i| is_success(i)).collect();
            let stream = Stream {
                order,
                next_success,
                successes,
            };
            (key, stream)
        })
        .collect()
}

/// One incident attributed to one deployment.
pub(crate) struct Attributed<'a> {
    /// Index of the deployment.
    deployment: usize,
    pub(crate) incident: &'a IncidentFact,
    pub(crate) by: AttributedBy,
}

/// What the incidents attributed to one deployment say about its recovery.
struct Attribution<'a> {
    /// Its incidents in [`Attributions::pairs`].
    range: Range<usize>,
    unresolved: bool,
    /// The incident resolved last (the first in `(started_at, id)` order among equal times).
    last_resolved: Option<(&'a IncidentFact, DateTime<Utc>)>,
}

impl<'a> Attribution<'a> {
    /// The incident resolved last and when; `None` while any is open.
    fn recovered(&self) -> Option<(&'a IncidentFact, DateTime<Utc>)> {
        if self.unresolved {
            None
        } else {
            self.last_resolved
        }
    }
}

/// Every attributed incident, grouped by deployment.
struct Attributions<'a> {
    /// Sorted by deployment index, then by the incident's `(started_at, id)`.
    pairs: Vec<Attributed<'a>>,
    /// Deployment index → its incidents.
    by_deployment: HashMap<usize, Attribution<'a>>,
}

/// Attributes incidents to deployment indices: by explicit deployment id, else by repository
/// and time.
fn attribute<'a>(
    deployments: &[DeploymentFact],
    incidents: &'a [IncidentFact],
    streams: &HashMap<StreamKey<'_>, Stream>,
) -> Attributions<'a> {
    let mut by_id: HashMap<Uuid, usize> = HashMap::new();
    if incidents
        .iter()
        .any(|incident| incident.deployment.is_some())
    {
        for (index, deployment) in deployments.iter().enumerate() {
            by_id.entry(deployment.id).or_insert(index);
        }
    }
    let mut pairs: Vec<Attributed<'a>> = incidents
        .iter()
        .filter_map(|incident| {
            let (target, by) = match (incident.deployment, incident.repository) {
                // Explicit attribution wins, even when the deployment is not among the facts.
                (Some(id), _) => (by_id.get(&id).copied(), AttributedBy::Id),
                (None, Some(repository)) => (
                    streams
                        .get(&(repository, incident.environment.as_str()))
                        .and_then(|stream| {
                            latest_success_before(stream, deployments, incident.started_at)
                        }),
                    AttributedBy::RepositoryAndTime,
                ),
                (None, None) => (None, AttributedBy::Id),
            };
            target.map(|deployment| Attributed {
                deployment,
                incident,
                by,
            })
        })
        .collect();
    // Stable: incidents with equal ids (which the store never produces) keep the input order.
    pairs.sort_by(|a, b| {
        (a.deployment, a.incident.started_at, a.incident.id).cmp(&(
            b.deployment,
            b.incident.started_at,
            b.incident.id,
        ))
    });
    let mut by_deployment: HashMap<usize, Attribution<'a>> = HashMap::new();
    for (position, pair) in pairs.iter().enumerate() {
        let attribution = by_deployment
            .entry(pair.deployment)
            .or_insert_with(|| Attribution {
                range: position..position,
                unresolved: false,
                last_resolved: None,
            });
        attribution.range.end = position + 1;
        match pair.incident.resolved_at {
            None => attribution.unresolved = true,
            Some(at) => {
                if attribution.last_resolved.is_none_or(|(_, last)| at > last) {
                    attribution.last_resolved = Some((pair.incident, at));
                }
            }
        }
    }
    Attributions {
        pairs,
        by_deployment,
    }
}

/// The last successful deployment (in stream order, so the highest `number` among equal times)
/// deployed strictly before `t`.
fn latest_success_before(
    stream: &Stream,
    deployments: &[DeploymentFact],
    t: DateTime<Utc>,
) -> Option<usize> {
    let before = stream.successes.partition_point(|&index| {
        deployments
            .get(index)
            .is_some_and(|deployment| deployment.deployed_at < t)
    });
    before
        .checked_sub(1)
        .and_then(|last| stream.successes.get(last))
        .copied()
}

/// Counts successful deployments and their distinct UTC dates per frequency bucket.
struct FrequencyTally {
    window: Window,
    weeks: WholeBuckets,
    months: WholeBuckets,
    deployments: u64,
    week_days: Vec<(usize, NaiveDate)>,
    month_days: Vec<(usize, NaiveDate)>,
}

impl FrequencyTally {
    fn new(window: &Window) -> FrequencyTally {
        FrequencyTally {
            window: *window,
            weeks: WholeBuckets::new(window, 7),
            months: WholeBuckets::new(window, 30),
            deployments: 0,
            week_days: Vec::new(),
            month_days: Vec::new(),
        }
    }

    fn add(&mut self, deployed_at: DateTime<Utc>) {
        self.deployments += 1;
        self.mark(deployed_at);
    }

    /// `count` successes, of which `times` holds at least the first and the last of each UTC
    /// date: a date lies in at most two buckets of a kind (spans are whole days or the whole
    /// window), so those two mark every bucket the date's others fall in.
    fn add_many(&mut self, count: u64, times: &[DateTime<Utc>]) {
        self.deployments += count;
        for &t in times {
            self.mark(t);
        }
    }

    /// Notes a success at `deployed_at` in its buckets, without counting it.
    fn mark(&mut self, deployed_at: DateTime<Utc>) {
        let date = deployed_at.date_naive();
        if let Some(week) = self.weeks.index_of(deployed_at) {
            self.week_days.push((week, date));
        }
        if let Some(month) = self.months.index_of(deployed_at) {
            self.month_days.push((month, date));
        }
    }

    fn finish(self, benchmark: Benchmark) -> DeploymentFrequency {
        let days = self.window.days();
        let per_day = if days > 0.0 {
            self.deployments as f64 / days
        } else {
            0.0
        };
        let per_week = median_deploy_days(self.week_days, self.weeks.count());
        let per_month = median_deploy_days(self.month_days, self.months.count());
        DeploymentFrequency {
            deployments: self.deployments,
            per_day,
            median_deploy_days_per_week: per_week,
            median_deploy_days_per_month: per_month,
            tier: tiers::deployment_frequency(benchmark, per_week, per_month),
        }
    }
}

/// Median over `buckets` buckets of the distinct dates each holds (0 with no buckets).
fn median_deploy_days(mut days: Vec<(usize, NaiveDate)>, buckets: usize) -> f64 {
    days.sort_unstable();
    days.dedup();
    // Distinct dates of each bucket that has any; the other buckets count 0.
    let mut busy: Vec<f64> = Vec::new();
    let mut previous = None;
    for (bucket, _) in days {
        match busy.last_mut() {
            Some(count) if previous == Some(bucket) => *count += 1.0,
            _ => busy.push(1.0),
        }
        previous = Some(bucket);
    }
    busy.sort_by(f64::total_cmp);
    // Sorted, the buckets are the empty ones then `busy`: no need to allocate the zeros, which
    // keeps a hand-built, absurdly long window cheap.
    let empty = buckets.saturating_sub(busy.len());
    percentile_of(buckets, 0.5, |k| match k.checked_sub(empty) {
        None => Some(0.0),
        Some(k) => busy.get(k).copied(),
    })
    .unwrap_or(0.0)
}

fn lead_time(mut samples: Vec<f64>, benchmark: Benchmark) -> LeadTime {
    let (median, p90) = median_and_p90(&mut samples);
    LeadTime {
        median_seconds: median,
        p90_seconds: p90,
        samples: samples.len() as u64,
        tier: median.map(|median| tiers::lead_time(benchmark, median)),
    }
}

fn recovery_time(mut samples: Vec<f64>, unrecovered: u64, benchmark: Benchmark) -> RecoveryTime {
    let (median, p90) = median_and_p90(&mut samples);
    RecoveryTime {
        median_seconds: median,
        p90_seconds: p90,
        samples: samples.len() as u64,
        unrecovered,
        tier: median.map(|median| tiers::recovery_time(benchmark, median)),
    }
}

/// How long an incident lasted, `None` while open. As defined; the API refuses an incident
/// resolved before it started.
pub(crate) fn restore_seconds(incident: &IncidentFact) -> Option<f64> {
    incident
        .resolved_at
        .map(|resolved_at| seconds_between(incident.started_at, resolved_at))
}

fn time_to_restore(incidents: &[IncidentFact], window: &Window) -> TimeToRestore {
    let mut samples = Vec::new();
    let mut open = 0;
    for incident in incidents.iter().filter(|i| window.contains(i.started_at)) {
        match restore_seconds(incident) {
            Some(seconds) => samples.push(seconds),
            None => open += 1,
        }
    }
    let (median, p90) = median_and_p90(&mut samples);
    TimeToRestore {
        median_seconds: median,
        p90_seconds: p90,
        samples: samples.len() as u64,
        open,
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}
