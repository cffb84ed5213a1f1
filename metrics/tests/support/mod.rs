//! What the property tests share: random histories and windows, a naive implementation of
//! DESIGN.md §5 ([`naive`]), the field-by-field comparison of summaries, and the *sufficient
//! subset* of facts the crate documentation promises is enough.
//!
//! Each test binary uses part of it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod naive;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use dora_metrics::{
    Benchmark, CommitFact, DeploymentFact, DoraSummary, Facts, IncidentFact, Interval, Outcome,
    Window, compute,
};
use proptest::prelude::*;
use std::collections::BTreeSet;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Random histories.
// ---------------------------------------------------------------------------------------------

pub const ENVIRONMENTS: [&str; 2] = ["production", "staging"];

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()
}

pub fn repository(k: usize) -> Uuid {
    Uuid::from_u128(0xAA00 + k as u128)
}

/// A time in roughly [−5, 45) days around t0: half the time on a 12-hour grid, so that
/// deployments, incidents and window edges collide often.
pub fn time() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        (-10..90_i64).prop_map(|k| t0() + TimeDelta::hours(12 * k)),
        (-5 * 24 * 60..45 * 24 * 60_i64).prop_map(|m| t0() + TimeDelta::minutes(m)),
    ]
}

#[derive(Debug, Clone)]
pub struct RawDeployment {
    repository: usize,
    environment: usize,
    deployed_at: DateTime<Utc>,
    outcome: Outcome,
    flags: (bool, bool, bool),
    /// (sha index, hours before the deployment; negative = committed after it)
    commits: Vec<(u8, i64)>,
}

pub fn raw_deployment() -> impl Strategy<Value = RawDeployment> {
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
pub enum Attribution {
    /// By id of the deployment at this index (modulo the count).
    Deployment(usize),
    /// By an id that no deployment has.
    Unknown,
    /// By repository and environment.
    Repository(usize, usize),
    None,
}

pub fn raw_incident() -> impl Strategy<Value = (Attribution, DateTime<Utc>, Option<i64>)> {
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

pub fn window() -> impl Strategy<Value = Window> {
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
pub struct History {
    pub deployments: Vec<DeploymentFact>,
    pub incidents: Vec<IncidentFact>,
}

pub fn history() -> impl Strategy<Value = History> {
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

pub fn benchmark() -> impl Strategy<Value = Benchmark> {
    prop_oneof![Just(Benchmark::Y2023), Just(Benchmark::Y2021)]
}

// ---------------------------------------------------------------------------------------------
// Comparison.
// ---------------------------------------------------------------------------------------------

pub fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

pub fn close_option(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => close(a, b),
        _ => a == b,
    }
}

/// Every field, floats within a relative tolerance; reports the first difference by name.
pub fn compare(engine: &DoraSummary, naive: &DoraSummary) -> Result<(), String> {
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

pub fn no_nan(summary: &DoraSummary) -> bool {
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

pub fn stream_key(d: &DeploymentFact) -> (Uuid, String) {
    (d.repository, d.environment.clone())
}

pub fn streams(all: &[DeploymentFact]) -> BTreeSet<(Uuid, String)> {
    all.iter().map(stream_key).collect()
}

pub fn in_window(window: &Window, t: DateTime<Utc>) -> bool {
    window.from <= t && t < window.to
}

/// Item 1: every deployment of the window.
pub fn window_deployments(all: &[DeploymentFact], window: &Window) -> Vec<DeploymentFact> {
    all.iter()
        .filter(|d| in_window(window, d.deployed_at))
        .cloned()
        .collect()
}

/// Item 2: per stream, the first success at or after `to`, without its commits.
pub fn first_later_successes(all: &[DeploymentFact], window: &Window) -> Vec<DeploymentFact> {
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
pub fn window_shas(
    all: &[DeploymentFact],
    window: &Window,
    key: &(Uuid, String),
) -> BTreeSet<String> {
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
pub fn earlier_successes(all: &[DeploymentFact], window: &Window) -> Vec<DeploymentFact> {
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
pub fn condensed_earlier_history(all: &[DeploymentFact], window: &Window) -> Vec<DeploymentFact> {
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
pub fn needed_incidents(history: &History, window: &Window) -> Vec<IncidentFact> {
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

/// The sufficient subset of `history` for `window`, in an input order chosen by `seed`: the
/// window's deployments, the first later success of each stream, earlier history as real
/// trimmed deployments or `condensed` into one synthetic success per stream, and the needed
/// incidents.
pub fn sufficient_subset(
    history: &History,
    window: &Window,
    condensed: bool,
    seed: u64,
) -> History {
    let mut deployments = window_deployments(&history.deployments, window);
    deployments.extend(first_later_successes(&history.deployments, window));
    if condensed {
        deployments.extend(condensed_earlier_history(&history.deployments, window));
    } else {
        deployments.extend(earlier_successes(&history.deployments, window));
    }
    let mut incidents = needed_incidents(history, window);
    // Any input order.
    let rotate = |len: usize| if len == 0 { 0 } else { (seed as usize) % len };
    let by = rotate(deployments.len());
    deployments.rotate_left(by);
    let by = rotate(incidents.len());
    incidents.rotate_left(by);
    if seed.is_multiple_of(2) {
        deployments.reverse();
    }
    History {
        deployments,
        incidents,
    }
}

pub fn run(
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

pub fn interval() -> impl Strategy<Value = Interval> {
    prop_oneof![
        Just(Interval::Day),
        Just(Interval::Week),
        Just(Interval::Month)
    ]
}
