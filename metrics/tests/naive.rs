//! Property tests of the engine.
//!
//! 1. `compute` agrees, field by field, with a deliberately naive implementation written
//!    straight from DESIGN.md §5: nested loops, no indexes, its own percentile, bucket and tier
//!    code. Only the data types are shared with the engine.
//! 2. `compute` on the full history equals `compute` on the *sufficient subset* the crate
//!    documentation promises is enough (in two forms: trimmed real deployments, and earlier
//!    history condensed into one synthetic deployment per stream), whatever the input order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use dora_metrics::{
    Benchmark, ChangeFailureRate, CommitFact, DeploymentFact, DeploymentFrequency, DoraSummary,
    Facts, IncidentFact, Interval, LeadTime, Outcome, RecoveryTime, ReworkRate, Tier,
    TimeToRestore, Window, compute, compute_each,
};
use proptest::prelude::*;
use std::collections::BTreeSet;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The naive implementation.
// ---------------------------------------------------------------------------------------------

mod naive {
    use super::*;

    fn inside(window: &Window, t: DateTime<Utc>) -> bool {
        window.from <= t && t < window.to
    }

    fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        (to - from).num_nanoseconds().unwrap() as f64 / 1e9
    }

    fn same_stream(a: &DeploymentFact, b: &DeploymentFact) -> bool {
        a.repository == b.repository && a.environment == b.environment
    }

    /// `a` comes before `b` in stream order.
    fn before(a: &DeploymentFact, b: &DeploymentFact) -> bool {
        a.deployed_at < b.deployed_at || (a.deployed_at == b.deployed_at && a.number < b.number)
    }

    fn finished(d: &DeploymentFact) -> bool {
        d.outcome == Outcome::Success || d.outcome == Outcome::Failure
    }

    fn next_success<'a>(
        all: &'a [DeploymentFact],
        d: &DeploymentFact,
    ) -> Option<&'a DeploymentFact> {
        let mut best: Option<&DeploymentFact> = None;
        for e in all {
            if same_stream(d, e)
                && e.outcome == Outcome::Success
                && before(d, e)
                && (best.is_none() || before(e, best.unwrap()))
            {
                best = Some(e);
            }
        }
        best
    }

    fn attributed_to<'a>(
        all: &'a [DeploymentFact],
        incident: &IncidentFact,
    ) -> Option<&'a DeploymentFact> {
        if let Some(id) = incident.deployment {
            return all.iter().find(|d| d.id == id);
        }
        let repository = incident.repository?;
        let mut best: Option<&DeploymentFact> = None;
        for d in all {
            if d.repository == repository
                && d.environment == incident.environment
                && d.outcome == Outcome::Success
                && d.deployed_at < incident.started_at
                && (best.is_none() || before(best.unwrap(), d))
            {
                best = Some(d);
            }
        }
        best
    }

    fn incidents_of<'a>(
        all: &[DeploymentFact],
        incidents: &'a [IncidentFact],
        d: &DeploymentFact,
    ) -> Vec<&'a IncidentFact> {
        incidents
            .iter()
            .filter(|i| attributed_to(all, i).is_some_and(|target| target.id == d.id))
            .collect()
    }

    fn change_failure(
        all: &[DeploymentFact],
        incidents: &[IncidentFact],
        d: &DeploymentFact,
    ) -> bool {
        if !finished(d) {
            return false;
        }
        if d.outcome == Outcome::Failure {
            return true;
        }
        if let Some(next) = next_success(all, d)
            && (next.is_hotfix || next.is_fix || next.is_rollback)
        {
            return true;
        }
        !incidents_of(all, incidents, d).is_empty()
    }

    pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let rank = p * (sorted.len() - 1) as f64;
        let i = rank.floor() as usize;
        let fraction = rank - i as f64;
        if i + 1 < sorted.len() {
            Some(sorted[i] + fraction * (sorted[i + 1] - sorted[i]))
        } else {
            Some(sorted[i])
        }
    }

    /// Whole `span` buckets counted back from `to`, or the window when shorter than one span.
    fn buckets(window: &Window, span: TimeDelta) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if window.to - window.from < span {
            return vec![(window.from, window.to)];
        }
        let mut out = Vec::new();
        let mut end = window.to;
        while end - span >= window.from {
            out.push((end - span, end));
            end -= span;
        }
        out
    }

    fn median_deploy_days(all: &[DeploymentFact], window: &Window, span_days: i64) -> f64 {
        let mut counts = Vec::new();
        for (start, end) in buckets(window, TimeDelta::days(span_days)) {
            let mut dates: BTreeSet<NaiveDate> = BTreeSet::new();
            for d in all {
                if d.outcome == Outcome::Success && start <= d.deployed_at && d.deployed_at < end {
                    dates.insert(d.deployed_at.date_naive());
                }
            }
            counts.push(dates.len() as f64);
        }
        percentile(&counts, 0.5).unwrap()
    }

    fn frequency_tier(week: f64, month: f64) -> Tier {
        if week >= 5.0 {
            Tier::Elite
        } else if week >= 1.0 {
            Tier::High
        } else if month >= 1.0 {
            Tier::Medium
        } else {
            Tier::Low
        }
    }

    fn lead_time_tier(benchmark: Benchmark, median: f64) -> Tier {
        let hours = median / 3600.0;
        let days = hours / 24.0;
        match benchmark {
            Benchmark::Y2023 if days < 1.0 => Tier::Elite,
            Benchmark::Y2021 if hours < 1.0 => Tier::Elite,
            _ if days < 7.0 => Tier::High,
            Benchmark::Y2023 if days < 30.0 => Tier::Medium,
            Benchmark::Y2021 if days < 180.0 => Tier::Medium,
            _ => Tier::Low,
        }
    }

    fn failure_rate_tier(benchmark: Benchmark, failures: u64, deployments: u64) -> Tier {
        // Exact in integers: failures/deployments ≤ k/100 ⇔ 100·failures ≤ k·deployments.
        let within = |percent: u64| 100 * failures <= percent * deployments;
        let (elite, high, medium) = match benchmark {
            Benchmark::Y2023 => (5, 10, 15),
            Benchmark::Y2021 => (15, 20, 30),
        };
        if within(elite) {
            Tier::Elite
        } else if within(high) {
            Tier::High
        } else if within(medium) {
            Tier::Medium
        } else {
            Tier::Low
        }
    }

    fn recovery_tier(median: f64) -> Tier {
        if median < 3600.0 {
            Tier::Elite
        } else if median < 86_400.0 {
            Tier::High
        } else if median < 7.0 * 86_400.0 {
            Tier::Medium
        } else {
            Tier::Low
        }
    }

    pub fn summary(
        all: &[DeploymentFact],
        incidents: &[IncidentFact],
        window: &Window,
        benchmark: Benchmark,
    ) -> DoraSummary {
        // Deployment frequency.
        let successes: Vec<&DeploymentFact> = all
            .iter()
            .filter(|d| d.outcome == Outcome::Success && inside(window, d.deployed_at))
            .collect();
        let length_days = seconds(window.from, window.to) / 86_400.0;
        let week = median_deploy_days(all, window, 7);
        let month = median_deploy_days(all, window, 30);
        let deployment_frequency = DeploymentFrequency {
            deployments: successes.len() as u64,
            per_day: successes.len() as f64 / length_days,
            median_deploy_days_per_week: week,
            median_deploy_days_per_month: month,
            tier: frequency_tier(week, month),
        };

        // Lead time.
        let mut lead = Vec::new();
        for d in &successes {
            let mut seen: Vec<&str> = Vec::new();
            for commit in &d.commits {
                if seen.contains(&commit.sha.as_str()) {
                    continue;
                }
                seen.push(&commit.sha);
                let shipped_before = all.iter().any(|e| {
                    same_stream(d, e)
                        && e.outcome == Outcome::Success
                        && before(e, d)
                        && e.commits.iter().any(|c| c.sha == commit.sha)
                });
                if !shipped_before {
                    let sample = seconds(commit.committed_at, d.deployed_at);
                    if sample >= 0.0 {
                        lead.push(sample);
                    }
                }
            }
        }
        let lead_median = percentile(&lead, 0.5);

        // Change failures and their recovery.
        let mut finished_count = 0;
        let mut failures = 0;
        let mut recovery = Vec::new();
        let mut unrecovered = 0;
        for d in all {
            if !finished(d) || !inside(window, d.deployed_at) {
                continue;
            }
            finished_count += 1;
            if !change_failure(all, incidents, d) {
                continue;
            }
            failures += 1;
            let attributed = incidents_of(all, incidents, d);
            let recovered_at = if attributed.is_empty() {
                next_success(all, d).map(|next| next.deployed_at)
            } else if attributed.iter().any(|i| i.resolved_at.is_none()) {
                None
            } else {
                attributed.iter().map(|i| i.resolved_at.unwrap()).max()
            };
            match recovered_at {
                Some(at) => recovery.push(seconds(d.deployed_at, at)),
                None => unrecovered += 1,
            }
        }
        let recovery_median = percentile(&recovery, 0.5);

        // Rework.
        let rework = successes
            .iter()
            .filter(|d| d.is_hotfix || d.is_rollback)
            .count() as u64;

        // Time to restore.
        let mut restore = Vec::new();
        let mut open = 0;
        for i in incidents {
            if !inside(window, i.started_at) {
                continue;
            }
            match i.resolved_at {
                Some(resolved_at) => restore.push(seconds(i.started_at, resolved_at)),
                None => open += 1,
            }
        }

        DoraSummary {
            deployment_frequency,
            change_lead_time: LeadTime {
                median_seconds: lead_median,
                p90_seconds: percentile(&lead, 0.9),
                samples: lead.len() as u64,
                tier: lead_median.map(|m| lead_time_tier(benchmark, m)),
            },
            change_failure_rate: ChangeFailureRate {
                failures,
                deployments: finished_count,
                rate: if finished_count == 0 {
                    None
                } else {
                    Some(failures as f64 / finished_count as f64)
                },
                tier: if finished_count == 0 {
                    None
                } else {
                    Some(failure_rate_tier(benchmark, failures, finished_count))
                },
            },
            failed_deployment_recovery_time: RecoveryTime {
                median_seconds: recovery_median,
                p90_seconds: percentile(&recovery, 0.9),
                samples: recovery.len() as u64,
                unrecovered,
                tier: recovery_median.map(recovery_tier),
            },
            deployment_rework_rate: ReworkRate {
                rework_deployments: rework,
                deployments: successes.len() as u64,
                rate: if successes.is_empty() {
                    None
                } else {
                    Some(rework as f64 / successes.len() as f64)
                },
            },
            time_to_restore: TimeToRestore {
                median_seconds: percentile(&restore, 0.5),
                p90_seconds: percentile(&restore, 0.9),
                samples: restore.len() as u64,
                open,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Random histories.
// ---------------------------------------------------------------------------------------------

const ENVIRONMENTS: [&str; 2] = ["production", "staging"];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()
}

fn repository(k: usize) -> Uuid {
    Uuid::from_u128(0xAA00 + k as u128)
}

/// A time in roughly [−5, 45) days around t0: half the time on a 12-hour grid, so that
/// deployments, incidents and window edges collide often.
fn time() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        (-10..90_i64).prop_map(|k| t0() + TimeDelta::hours(12 * k)),
        (-5 * 24 * 60..45 * 24 * 60_i64).prop_map(|m| t0() + TimeDelta::minutes(m)),
    ]
}

#[derive(Debug, Clone)]
struct RawDeployment {
    repository: usize,
    environment: usize,
    deployed_at: DateTime<Utc>,
    outcome: Outcome,
    flags: (bool, bool, bool),
    /// (sha index, hours before the deployment; negative = committed after it)
    commits: Vec<(u8, i64)>,
}

fn raw_deployment() -> impl Strategy<Value = RawDeployment> {
    (
        0..3_usize,
        0..2_usize,
        time(),
        prop_oneof![
            3 => Just(Outcome::Success),
            1 => Just(Outcome::Failure),
            1 => Just(Outcome::Pending),
        ],
        (
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.15),
        ),
        prop::collection::vec((0..12_u8, -6..400_i64), 0..4),
    )
        .prop_map(
            |(repository, environment, deployed_at, outcome, flags, commits)| RawDeployment {
                repository,
                environment,
                deployed_at,
                outcome,
                flags,
                commits,
            },
        )
}

#[derive(Debug, Clone)]
enum Attribution {
    /// By id of the deployment at this index (modulo the count).
    Deployment(usize),
    /// By an id that no deployment has.
    Unknown,
    /// By repository and environment.
    Repository(usize, usize),
    None,
}

fn raw_incident() -> impl Strategy<Value = (Attribution, DateTime<Utc>, Option<i64>)> {
    (
        prop_oneof![
            3 => (0..64_usize).prop_map(Attribution::Deployment),
            1 => Just(Attribution::Unknown),
            4 => (0..3_usize, 0..2_usize).prop_map(|(r, e)| Attribution::Repository(r, e)),
            1 => Just(Attribution::None),
        ],
        time(),
        // Minutes to resolution; some negative (bad data), some open.
        prop::option::weighted(
            0.75,
            prop_oneof![1 => -600..0_i64, 5 => 0..(6 * 24 * 60_i64)],
        ),
    )
}

fn window() -> impl Strategy<Value = Window> {
    (
        time(),
        prop_oneof![
            (1..=40_i64).prop_map(TimeDelta::days),
            (1..=100_i64).prop_map(TimeDelta::hours),
            (1..=60 * 24 * 60_i64).prop_map(TimeDelta::minutes),
        ],
    )
        .prop_map(|(from, length)| Window::new(from, from + length).unwrap())
}

#[derive(Debug, Clone)]
struct History {
    deployments: Vec<DeploymentFact>,
    incidents: Vec<IncidentFact>,
}

fn history() -> impl Strategy<Value = History> {
    (
        2..=3_usize,
        1..=2_usize,
        prop::collection::vec(raw_deployment(), 0..40),
        prop::collection::vec(raw_incident(), 0..12),
    )
        .prop_flat_map(|(repositories, environments, raw, incidents)| {
            // Unique numbers in an order unrelated to time or position.
            let numbers = Just((0..raw.len() as i64).collect::<Vec<_>>()).prop_shuffle();
            (
                Just(repositories),
                Just(environments),
                Just(raw),
                Just(incidents),
                numbers,
            )
        })
        .prop_map(
            |(repositories, environments, raw, raw_incidents, numbers)| {
                let deployments: Vec<DeploymentFact> = raw
                    .iter()
                    .zip(numbers)
                    .enumerate()
                    .map(|(k, (d, number))| DeploymentFact {
                        id: Uuid::from_u128(0xD000 + k as u128),
                        number: 100 + number,
                        repository: repository(d.repository % repositories),
                        environment: ENVIRONMENTS[d.environment % environments].into(),
                        deployed_at: d.deployed_at,
                        outcome: d.outcome,
                        is_fix: d.flags.0,
                        is_hotfix: d.flags.1,
                        is_rollback: d.flags.2,
                        commits: d
                            .commits
                            .iter()
                            .map(|&(sha, hours)| CommitFact {
                                sha: format!("sha{sha}"),
                                committed_at: d.deployed_at - TimeDelta::hours(hours),
                            })
                            .collect(),
                    })
                    .collect();
                let incidents = raw_incidents
                    .iter()
                    .enumerate()
                    .map(|(k, (attribution, started_at, resolve))| {
                        let (repo, environment, deployment) = match *attribution {
                            Attribution::Deployment(i) if !deployments.is_empty() => {
                                let target = &deployments[i % deployments.len()];
                                // Often a different repository: the id must win.
                                (
                                    Some(repository(i % repositories)),
                                    target.environment.clone(),
                                    Some(target.id),
                                )
                            }
                            Attribution::Deployment(_) | Attribution::Unknown => (
                                Some(repository(0)),
                                ENVIRONMENTS[0].to_string(),
                                Some(Uuid::from_u128(0xFFFF_0000 + k as u128)),
                            ),
                            Attribution::Repository(r, e) => (
                                Some(repository(r % repositories)),
                                ENVIRONMENTS[e % environments].to_string(),
                                None,
                            ),
                            Attribution::None => (None, ENVIRONMENTS[0].to_string(), None),
                        };
                        IncidentFact {
                            id: Uuid::from_u128(0x1_0000 + k as u128),
                            repository: repo,
                            environment,
                            deployment,
                            started_at: *started_at,
                            resolved_at: resolve.map(|m| *started_at + TimeDelta::minutes(m)),
                        }
                    })
                    .collect();
                History {
                    deployments,
                    incidents,
                }
            },
        )
}

fn benchmark() -> impl Strategy<Value = Benchmark> {
    prop_oneof![Just(Benchmark::Y2023), Just(Benchmark::Y2021)]
}

// ---------------------------------------------------------------------------------------------
// Comparison.
// ---------------------------------------------------------------------------------------------

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn close_option(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => close(a, b),
        _ => a == b,
    }
}

/// Every field, floats within a relative tolerance; reports the first difference by name.
fn compare(engine: &DoraSummary, naive: &DoraSummary) -> Result<(), String> {
    macro_rules! same {
        ($($field:ident . $sub:ident),* $(,)?) => {$(
            if engine.$field.$sub != naive.$field.$sub {
                return Err(format!(
                    "{}.{}: engine {:?}, naive {:?}",
                    stringify!($field), stringify!($sub), engine.$field.$sub, naive.$field.$sub
                ));
            }
        )*};
    }
    macro_rules! near {
        ($check:ident: $($field:ident . $sub:ident),* $(,)?) => {$(
            if !$check(engine.$field.$sub, naive.$field.$sub) {
                return Err(format!(
                    "{}.{}: engine {:?}, naive {:?}",
                    stringify!($field), stringify!($sub), engine.$field.$sub, naive.$field.$sub
                ));
            }
        )*};
    }
    same!(
        deployment_frequency.deployments,
        deployment_frequency.tier,
        change_lead_time.samples,
        change_lead_time.tier,
        change_failure_rate.failures,
        change_failure_rate.deployments,
        change_failure_rate.tier,
        failed_deployment_recovery_time.samples,
        failed_deployment_recovery_time.unrecovered,
        failed_deployment_recovery_time.tier,
        deployment_rework_rate.rework_deployments,
        deployment_rework_rate.deployments,
        time_to_restore.samples,
        time_to_restore.open,
    );
    near!(close:
        deployment_frequency.per_day,
        deployment_frequency.median_deploy_days_per_week,
        deployment_frequency.median_deploy_days_per_month,
    );
    near!(close_option:
        change_lead_time.median_seconds,
        change_lead_time.p90_seconds,
        change_failure_rate.rate,
        failed_deployment_recovery_time.median_seconds,
        failed_deployment_recovery_time.p90_seconds,
        deployment_rework_rate.rate,
        time_to_restore.median_seconds,
        time_to_restore.p90_seconds,
    );
    Ok(())
}

fn no_nan(summary: &DoraSummary) -> bool {
    let floats = [
        Some(summary.deployment_frequency.per_day),
        Some(summary.deployment_frequency.median_deploy_days_per_week),
        Some(summary.deployment_frequency.median_deploy_days_per_month),
        summary.change_lead_time.median_seconds,
        summary.change_lead_time.p90_seconds,
        summary.change_failure_rate.rate,
        summary.failed_deployment_recovery_time.median_seconds,
        summary.failed_deployment_recovery_time.p90_seconds,
        summary.deployment_rework_rate.rate,
        summary.time_to_restore.median_seconds,
        summary.time_to_restore.p90_seconds,
    ];
    floats.iter().flatten().all(|x| x.is_finite())
}

// ---------------------------------------------------------------------------------------------
// The sufficient subset of the crate documentation.
// ---------------------------------------------------------------------------------------------

fn stream_key(d: &DeploymentFact) -> (Uuid, String) {
    (d.repository, d.environment.clone())
}

fn streams(all: &[DeploymentFact]) -> BTreeSet<(Uuid, String)> {
    all.iter().map(stream_key).collect()
}

fn in_window(window: &Window, t: DateTime<Utc>) -> bool {
    window.from <= t && t < window.to
}

/// Item 1: every deployment of the window.
fn window_deployments(all: &[DeploymentFact], window: &Window) -> Vec<DeploymentFact> {
    all.iter()
        .filter(|d| in_window(window, d.deployed_at))
        .cloned()
        .collect()
}

/// Item 2: per stream, the first success at or after `to`, without its commits.
fn first_later_successes(all: &[DeploymentFact], window: &Window) -> Vec<DeploymentFact> {
    streams(all)
        .into_iter()
        .filter_map(|key| {
            all.iter()
                .filter(|d| {
                    stream_key(d) == key
                        && d.outcome == Outcome::Success
                        && d.deployed_at >= window.to
                })
                .min_by_key(|d| (d.deployed_at, d.number))
                .map(|d| DeploymentFact {
                    commits: Vec::new(),
                    ..d.clone()
                })
        })
        .collect()
}

/// Shas of the window's successful deployments in this stream.
fn window_shas(all: &[DeploymentFact], window: &Window, key: &(Uuid, String)) -> BTreeSet<String> {
    all.iter()
        .filter(|d| {
            &stream_key(d) == key
                && d.outcome == Outcome::Success
                && in_window(window, d.deployed_at)
        })
        .flat_map(|d| d.commits.iter().map(|c| c.sha.clone()))
        .collect()
}

/// Item 3, as real deployments: earlier successes with only the commits that matter, and
/// everything else about them scrambled to show it is not used.
fn earlier_successes(all: &[DeploymentFact], window: &Window) -> Vec<DeploymentFact> {
    all.iter()
        .filter(|d| d.outcome == Outcome::Success && d.deployed_at < window.from)
        .enumerate()
        .map(|(k, d)| {
            let shas = window_shas(all, window, &stream_key(d));
            DeploymentFact {
                number: -(k as i64),
                is_fix: !d.is_fix,
                is_hotfix: k % 2 == 0,
                is_rollback: false,
                commits: d
                    .commits
                    .iter()
                    .filter(|c| shas.contains(&c.sha))
                    .map(|c| CommitFact {
                        sha: c.sha.clone(),
                        committed_at: t0(),
                    })
                    .collect(),
                ..d.clone()
            }
        })
        .collect()
}

/// Item 3, condensed: one synthetic success per stream just before `from`, with all the shas
/// the stream shipped before the window.
fn condensed_earlier_history(all: &[DeploymentFact], window: &Window) -> Vec<DeploymentFact> {
    streams(all)
        .into_iter()
        .enumerate()
        .map(|(k, key)| {
            let shipped: BTreeSet<String> = all
                .iter()
                .filter(|d| {
                    stream_key(d) == key
                        && d.outcome == Outcome::Success
                        && d.deployed_at < window.from
                })
                .flat_map(|d| d.commits.iter().map(|c| c.sha.clone()))
                .collect();
            DeploymentFact {
                id: Uuid::from_u128(u128::MAX - k as u128),
                number: i64::MIN + k as i64,
                repository: key.0,
                environment: key.1,
                deployed_at: window.from - TimeDelta::nanoseconds(1),
                outcome: Outcome::Success,
                is_fix: true,
                is_hotfix: true,
                is_rollback: true,
                commits: shipped
                    .into_iter()
                    .map(|sha| CommitFact {
                        sha,
                        committed_at: window.from,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Incidents that started at or after `from`, plus those naming a window deployment.
fn needed_incidents(history: &History, window: &Window) -> Vec<IncidentFact> {
    let window_ids: BTreeSet<Uuid> = history
        .deployments
        .iter()
        .filter(|d| in_window(window, d.deployed_at))
        .map(|d| d.id)
        .collect();
    history
        .incidents
        .iter()
        .filter(|i| {
            i.started_at >= window.from || i.deployment.is_some_and(|id| window_ids.contains(&id))
        })
        .cloned()
        .collect()
}

fn run(
    deployments: &[DeploymentFact],
    incidents: &[IncidentFact],
    window: &Window,
    benchmark: Benchmark,
) -> DoraSummary {
    compute(
        &Facts {
            deployments,
            incidents,
        },
        window,
        benchmark,
    )
}

proptest! {
    #[test]
    fn engine_agrees_with_naive(history in history(), window in window(), benchmark in benchmark()) {
        let engine = run(&history.deployments, &history.incidents, &window, benchmark);
        let naive = naive::summary(&history.deployments, &history.incidents, &window, benchmark);
        prop_assert!(no_nan(&engine), "NaN in {engine:?}");
        if let Err(difference) = compare(&engine, &naive) {
            prop_assert!(false, "{difference}\nengine: {engine:#?}\nnaive: {naive:#?}");
        }
    }

    #[test]
    fn sufficient_subset_gives_the_same_answer(
        history in history(),
        window in window(),
        benchmark in benchmark(),
        condensed in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let full = run(&history.deployments, &history.incidents, &window, benchmark);

        let mut deployments = window_deployments(&history.deployments, &window);
        deployments.extend(first_later_successes(&history.deployments, &window));
        if condensed {
            deployments.extend(condensed_earlier_history(&history.deployments, &window));
        } else {
            deployments.extend(earlier_successes(&history.deployments, &window));
        }
        let mut incidents = needed_incidents(&history, &window);
        // Any input order.
        let rotate = |len: usize| if len == 0 { 0 } else { (seed as usize) % len };
        let by = rotate(deployments.len());
        deployments.rotate_left(by);
        let by = rotate(incidents.len());
        incidents.rotate_left(by);
        if seed % 2 == 0 {
            deployments.reverse();
        }

        let subset = run(&deployments, &incidents, &window, benchmark);
        prop_assert_eq!(full, subset);
    }
}

#[test]
fn naive_percentile_matches_the_definition() {
    assert_eq!(naive::percentile(&[], 0.5), None);
    assert_eq!(naive::percentile(&[3.0], 0.9), Some(3.0));
    assert_eq!(naive::percentile(&[4.0, 1.0], 0.5), Some(2.5));
    assert_eq!(
        naive::percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.9),
        Some(4.6)
    );
    assert_eq!(
        naive::percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.9),
        dora_metrics::percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.9)
    );
}

fn interval() -> impl Strategy<Value = Interval> {
    prop_oneof![
        Just(Interval::Day),
        Just(Interval::Week),
        Just(Interval::Month)
    ]
}

proptest! {
    /// A series computes every bucket in one pass (`compute_each`); it must answer what one
    /// `compute` per bucket answers.
    #[test]
    fn one_pass_over_buckets_equals_one_call_per_bucket(
        history in history(),
        window in window(),
        interval in interval(),
        benchmark in benchmark(),
    ) {
        let facts = Facts {
            deployments: &history.deployments,
            incidents: &history.incidents,
        };
        let buckets = window.buckets(interval);
        let each = compute_each(&facts, &buckets, benchmark);
        prop_assert_eq!(each.len(), buckets.len());
        for (bucket, summary) in buckets.iter().zip(&each) {
            let one = compute(&facts, bucket, benchmark);
            if let Err(difference) = compare(summary, &one) {
                prop_assert!(false, "{bucket:?}: {difference}\none pass: {summary:#?}\nper bucket: {one:#?}");
            }
        }
    }
}
