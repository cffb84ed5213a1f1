//! The engine: from deployment and incident facts and a window to every DORA metric
//! (DESIGN.md §5).
//!
//! One pass of preparation, then one walk per stream:
//! - deployments are grouped by stream `(repository, environment)` once and each stream is
//!   sorted once by `(deployed_at, number)` (then `id`, so the order is total);
//! - for every position the next successful deployment is precomputed by a backward scan;
//! - incidents are attributed with a binary search over the stream's successful deployments;
//! - the walk keeps a set of the shas the stream has shipped so far, which decides lead time.
//!
//! O(n log n) in the number of deployments plus O(commits + incidents·log n).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::facts::{DeploymentFact, Facts, IncidentFact, Outcome};
use crate::percentile::{median_and_p90, percentile_of};
use crate::summary::{
    ChangeFailureRate, DeploymentFrequency, DoraSummary, LeadTime, RecoveryTime, ReworkRate,
    TimeToRestore,
};
use crate::tiers::{self, Benchmark};
use crate::window::{WholeBuckets, Window, seconds_between};

#[cfg(test)]
mod tests;

/// Computes every metric of `window` from `facts`, graded against `benchmark`.
///
/// `facts` must be *sufficient* for the window (see the crate documentation); anything more is
/// harmless. Everything in `facts` is taken to be in scope. The order of the slices does not
/// matter.
pub fn compute(facts: &Facts<'_>, window: &Window, benchmark: Benchmark) -> DoraSummary {
    let mut tallies = [Tally::new(window)];
    walk(facts, &mut tallies);
    let [tally] = tallies;
    tally.finish(facts.incidents, benchmark)
}

/// [`compute`] for each of `windows`, in one pass over `facts`: the same summaries as one call
/// per window, for the cost of about one (a series of 365 daily buckets reads its history once,
/// not 365 times).
///
/// `facts` must be sufficient for every window (facts sufficient for a window are sufficient
/// for any window inside it, such as its [`Window::buckets`]). Windows that overlap or are out
/// of order are computed one by one.
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
    walk(facts, &mut tallies);
    tallies
        .into_iter()
        .map(|tally| tally.finish(facts.incidents, benchmark))
        .collect()
}

/// What one window has counted so far.
struct Tally {
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
    fn new(window: &Window) -> Tally {
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

    fn finish(self, incidents: &[IncidentFact], benchmark: Benchmark) -> DoraSummary {
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

/// Walks every stream once, in stream order, and counts each deployment in the tally whose
/// window holds it. `tallies` are sorted and their windows disjoint.
fn walk(facts: &Facts<'_>, tallies: &mut [Tally]) {
    let Some(end) = tallies.last().map(|tally| tally.window.to) else {
        return;
    };
    let deployments = facts.deployments;
    let streams = streams(deployments);
    let attributions = attribute(deployments, facts.incidents, &streams);

    for stream in streams.values() {
        // Shas shipped by the successful deployments walked so far: the stream's history.
        let mut shipped = HashSet::new();
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
            let slot = tallies.partition_point(|tally| tally.window.to <= at);
            let mut tally = tallies
                .get_mut(slot)
                .filter(|tally| tally.window.contains(at));

            if deployment.outcome == Outcome::Success {
                for commit in &deployment.commits {
                    // `insert` is false for a sha shipped before, including earlier in this very
                    // deployment: a sha listed twice counts once.
                    if shipped.insert(commit.sha.as_str())
                        && let Some(tally) = tally.as_deref_mut()
                    {
                        let lead_time = seconds_between(commit.committed_at, at);
                        // A commit dated after its deployment is clock skew: dropped.
                        if lead_time >= 0.0 {
                            tally.lead_times.push(lead_time);
                        }
                    }
                }
            }
            let Some(tally) = tally else {
                continue;
            };
            if !deployment.outcome.is_finished() {
                continue;
            }

            if deployment.outcome == Outcome::Success {
                tally.frequency.add(at);
                if deployment.is_rework() {
                    tally.rework += 1;
                }
            }

            tally.finished += 1;
            let next_success = stream
                .next_success
                .get(position)
                .copied()
                .flatten()
                .and_then(|next| deployments.get(next));
            let incidents = attributions.get(&index);
            let change_failure = deployment.outcome == Outcome::Failure
                || next_success.is_some_and(DeploymentFact::is_remediation)
                || incidents.is_some();
            if !change_failure {
                continue;
            }
            tally.failures += 1;
            let recovered_at = match incidents {
                Some(incidents) => incidents.recovered_at(),
                None => next_success.map(|next| next.deployed_at),
            };
            match recovered_at {
                // As defined (DESIGN.md §5), even when negative: an incident named by id
                // and resolved before the deployment. Only lead time drops negative samples.
                Some(recovered) => tally.recovery_times.push(seconds_between(at, recovered)),
                None => tally.unrecovered += 1,
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

/// What the incidents attributed to one deployment say about its recovery.
#[derive(Debug, Clone, Copy, Default)]
struct Attribution {
    unresolved: bool,
    last_resolved_at: Option<DateTime<Utc>>,
}

impl Attribution {
    fn add(&mut self, incident: &IncidentFact) {
        match incident.resolved_at {
            None => self.unresolved = true,
            Some(at) => self.last_resolved_at = self.last_resolved_at.max(Some(at)),
        }
    }

    /// When the last attributed incident was resolved; `None` while any is open.
    fn recovered_at(&self) -> Option<DateTime<Utc>> {
        if self.unresolved {
            None
        } else {
            self.last_resolved_at
        }
    }
}

/// Incidents per deployment index: by explicit deployment id, else by repository and time.
fn attribute(
    deployments: &[DeploymentFact],
    incidents: &[IncidentFact],
    streams: &HashMap<StreamKey<'_>, Stream>,
) -> HashMap<usize, Attribution> {
    let mut by_id: HashMap<Uuid, usize> = HashMap::new();
    if incidents
        .iter()
        .any(|incident| incident.deployment.is_some())
    {
        for (index, deployment) in deployments.iter().enumerate() {
            by_id.entry(deployment.id).or_insert(index);
        }
    }
    let mut attributions: HashMap<usize, Attribution> = HashMap::new();
    for incident in incidents {
        let target = match (incident.deployment, incident.repository) {
            // Explicit attribution wins, even when the deployment is not among the facts.
            (Some(id), _) => by_id.get(&id).copied(),
            (None, Some(repository)) => streams
                .get(&(repository, incident.environment.as_str()))
                .and_then(|stream| latest_success_before(stream, deployments, incident.started_at)),
            (None, None) => None,
        };
        if let Some(index) = target {
            attributions.entry(index).or_default().add(incident);
        }
    }
    attributions
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

fn time_to_restore(incidents: &[IncidentFact], window: &Window) -> TimeToRestore {
    let mut samples = Vec::new();
    let mut open = 0;
    for incident in incidents.iter().filter(|i| window.contains(i.started_at)) {
        match incident.resolved_at {
            // As defined; the API refuses an incident resolved before it started.
            Some(resolved_at) => {
                samples.push(seconds_between(incident.started_at, resolved_at));
            }
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
