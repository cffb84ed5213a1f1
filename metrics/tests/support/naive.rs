//! A deliberately naive implementation of DESIGN.md §5: nested loops, no indexes, its own
//! percentile, bucket and tier code. Only the data types are shared with the engine.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use dora_metrics::{
    Benchmark, ChangeFailureRate, DeploymentFact, DeploymentFrequency, DoraSummary, IncidentFact,
    LeadTime, Outcome, RecoveryTime, ReworkRate, Tier, TimeToRestore, Window,
};
use std::collections::BTreeSet;

pub fn inside(window: &Window, t: DateTime<Utc>) -> bool {
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

pub fn finished(d: &DeploymentFact) -> bool {
    d.outcome == Outcome::Success || d.outcome == Outcome::Failure
}

pub fn next_success<'a>(
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

pub fn incidents_of<'a>(
    all: &[DeploymentFact],
    incidents: &'a [IncidentFact],
    d: &DeploymentFact,
) -> Vec<&'a IncidentFact> {
    incidents
        .iter()
        .filter(|i| attributed_to(all, i).is_some_and(|target| target.id == d.id))
        .collect()
}

pub fn change_failure(
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

/// The lead-time samples of successful deployment `d`: its commits not shipped before in its
/// stream, each sha once, negative samples dropped.
pub fn lead_time_samples(all: &[DeploymentFact], d: &DeploymentFact) -> Vec<f64> {
    let mut lead = Vec::new();
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
    lead
}

/// The recovery sample of change failure `d`, `None` while it is not recovered.
pub fn recovery_seconds(
    all: &[DeploymentFact],
    incidents: &[IncidentFact],
    d: &DeploymentFact,
) -> Option<f64> {
    let attributed = incidents_of(all, incidents, d);
    let recovered_at = if attributed.is_empty() {
        next_success(all, d).map(|next| next.deployed_at)
    } else if attributed.iter().any(|i| i.resolved_at.is_none()) {
        None
    } else {
        attributed.iter().map(|i| i.resolved_at.unwrap()).max()
    };
    recovered_at.map(|at| seconds(d.deployed_at, at))
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
        lead.extend(lead_time_samples(all, d));
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
        match recovery_seconds(all, incidents, d) {
            Some(sample) => recovery.push(sample),
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
