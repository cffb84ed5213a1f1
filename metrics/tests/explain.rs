//! Property tests of the explain listing: for random facts and windows, each metric's listing
//! adds up exactly (`==`, not approximately) to what `compute` reports, counts and
//! percentiles alike, recomputed from the listed items alone with the public `percentile` and
//! tier functions. And the listing's order is stable whatever the input order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use dora_metrics::{
    Benchmark, ChangeFailureRate, DeploymentFrequency, DoraSummary, ExplainItem, Facts, LeadTime,
    Metric, RecoveryTime, ReworkRate, TimeToRestore, Window, compute, explain, percentile, tiers,
};
use proptest::prelude::*;
use support::*;

fn summary_and_listing(
    history: &History,
    window: &Window,
    benchmark: Benchmark,
    metric: Metric,
) -> (DoraSummary, Vec<ExplainItem>) {
    let facts = Facts {
        deployments: &history.deployments,
        incidents: &history.incidents,
    };
    (
        compute(&facts, window, benchmark),
        explain(&facts, window, metric),
    )
}

fn sorted(mut samples: Vec<f64>) -> Vec<f64> {
    samples.sort_by(f64::total_cmp);
    samples
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Median over the whole `span_days` buckets counted back from `to` (DESIGN.md §5) of the
/// distinct deploy dates the listed deployments fall on.
fn median_deploy_days(
    deployments: &[(DateTime<Utc>, NaiveDate)],
    window: &Window,
    span_days: i64,
) -> f64 {
    let span = TimeDelta::days(span_days);
    let mut buckets = Vec::new();
    if window.to - window.from < span {
        buckets.push((window.from, window.to));
    } else {
        let mut end = window.to;
        while end - span >= window.from {
            buckets.push((end - span, end));
            end -= span;
        }
    }
    let counts = buckets
        .iter()
        .map(|&(start, end)| {
            deployments
                .iter()
                .filter(|(at, _)| start <= *at && *at < end)
                .map(|(_, date)| *date)
                .collect::<BTreeSet<_>>()
                .len() as f64
        })
        .collect();
    percentile(&sorted(counts), 0.5).unwrap()
}

/// The index, newest first, of the whole `span_days` bucket holding `at` (as
/// [`median_deploy_days`] cuts them), if any.
fn bucket_index(at: DateTime<Utc>, window: &Window, span_days: i64) -> Option<usize> {
    let span = TimeDelta::days(span_days);
    if window.to - window.from < span {
        return window.contains(at).then_some(0);
    }
    let mut end = window.to;
    let mut index = 0;
    while end - span >= window.from {
        if end - span <= at && at < end {
            return Some(index);
        }
        end -= span;
        index += 1;
    }
    None
}

/// What the listing is ordered by: deployed-at and number, or an incident's start.
fn order_key(item: &ExplainItem) -> (DateTime<Utc>, i64) {
    let deployment = match item {
        ExplainItem::Deployment(item) => &item.deployment,
        ExplainItem::Commit(item) => &item.deployment,
        ExplainItem::ChangeFailure(item) => &item.deployment,
        ExplainItem::Recovery(item) => &item.deployment,
        ExplainItem::Rework(item) => &item.deployment,
        ExplainItem::Incident(item) => return (item.started_at, 0),
    };
    (deployment.deployed_at, deployment.number)
}

proptest! {
    #[test]
    fn deployment_frequency_adds_up(
        history in history(),
        window in window(),
        benchmark in benchmark(),
    ) {
        let (summary, items) =
            summary_and_listing(&history, &window, benchmark, Metric::DeploymentFrequency);
        let deployments: Vec<(DateTime<Utc>, NaiveDate)> = items
            .iter()
            .map(|item| match item {
                ExplainItem::Deployment(item) => (item.deployment.deployed_at, item.deploy_date),
                other => panic!("{other:?}"),
            })
            .collect();
        for item in &items {
            let ExplainItem::Deployment(item) = item else { unreachable!() };
            let at = item.deployment.deployed_at;
            prop_assert_eq!(item.week_bucket, bucket_index(at, &window, 7));
            prop_assert_eq!(item.month_bucket, bucket_index(at, &window, 30));
        }
        let week = median_deploy_days(&deployments, &window, 7);
        let month = median_deploy_days(&deployments, &window, 30);
        let count = deployments.len() as u64;
        let listed = DeploymentFrequency {
            deployments: count,
            per_day: count as f64 / window.days(),
            median_deploy_days_per_week: week,
            median_deploy_days_per_month: month,
            tier: tiers::deployment_frequency(benchmark, week, month),
        };
        prop_assert_eq!(listed, summary.deployment_frequency);
    }

    #[test]
    fn change_lead_time_adds_up(
        history in history(),
        window in window(),
        benchmark in benchmark(),
    ) {
        let (summary, items) =
            summary_and_listing(&history, &window, benchmark, Metric::ChangeLeadTime);
        let samples = sorted(
            items
                .iter()
                .filter_map(|item| match item {
                    ExplainItem::Commit(item) => item.lead_time.sample(),
                    other => panic!("{other:?}"),
                })
                .collect(),
        );
        let median = percentile(&samples, 0.5);
        let listed = LeadTime {
            median_seconds: median,
            p90_seconds: percentile(&samples, 0.9),
            samples: samples.len() as u64,
            tier: median.map(|median| tiers::lead_time(benchmark, median)),
        };
        prop_assert_eq!(listed, summary.change_lead_time);
    }

    #[test]
    fn change_failure_rate_adds_up(
        history in history(),
        window in window(),
        benchmark in benchmark(),
    ) {
        let (summary, items) =
            summary_and_listing(&history, &window, benchmark, Metric::ChangeFailureRate);
        let mut failures = 0;
        for item in &items {
            let ExplainItem::ChangeFailure(item) = item else {
                panic!("{item:?}");
            };
            prop_assert_eq!(item.change_failure, !item.causes.is_empty());
            failures += u64::from(item.change_failure);
        }
        let deployments = items.len() as u64;
        let rate = ratio(failures, deployments);
        let listed = ChangeFailureRate {
            failures,
            deployments,
            rate,
            tier: rate.map(|rate| tiers::change_failure_rate(benchmark, rate)),
        };
        prop_assert_eq!(listed, summary.change_failure_rate);
    }

    #[test]
    fn failed_deployment_recovery_time_adds_up(
        history in history(),
        window in window(),
        benchmark in benchmark(),
    ) {
        let (summary, items) = summary_and_listing(
            &history,
            &window,
            benchmark,
            Metric::FailedDeploymentRecoveryTime,
        );
        let mut samples = Vec::new();
        let mut unrecovered = 0;
        for item in &items {
            let ExplainItem::Recovery(item) = item else {
                panic!("{item:?}");
            };
            prop_assert!(!item.causes.is_empty());
            match item.recovery.seconds() {
                Some(seconds) => samples.push(seconds),
                None => unrecovered += 1,
            }
        }
        let samples = sorted(samples);
        let median = percentile(&samples, 0.5);
        let listed = RecoveryTime {
            median_seconds: median,
            p90_seconds: percentile(&samples, 0.9),
            samples: samples.len() as u64,
            unrecovered,
            tier: median.map(|median| tiers::recovery_time(benchmark, median)),
        };
        prop_assert_eq!(listed, summary.failed_deployment_recovery_time);
    }

    #[test]
    fn deployment_rework_rate_adds_up(
        history in history(),
        window in window(),
        benchmark in benchmark(),
    ) {
        let (summary, items) =
            summary_and_listing(&history, &window, benchmark, Metric::DeploymentReworkRate);
        let rework = items
            .iter()
            .filter(|item| match item {
                ExplainItem::Rework(item) => item.rework,
                other => panic!("{other:?}"),
            })
            .count() as u64;
        let deployments = items.len() as u64;
        let listed = ReworkRate {
            rework_deployments: rework,
            deployments,
            rate: ratio(rework, deployments),
        };
        prop_assert_eq!(listed, summary.deployment_rework_rate);
    }

    #[test]
    fn time_to_restore_adds_up(
        history in history(),
        window in window(),
        benchmark in benchmark(),
    ) {
        let (summary, items) =
            summary_and_listing(&history, &window, benchmark, Metric::TimeToRestore);
        let mut samples = Vec::new();
        let mut open = 0;
        for item in &items {
            let ExplainItem::Incident(item) = item else {
                panic!("{item:?}");
            };
            match item.seconds {
                Some(seconds) => samples.push(seconds),
                None => open += 1,
            }
        }
        let samples = sorted(samples);
        let listed = TimeToRestore {
            median_seconds: percentile(&samples, 0.5),
            p90_seconds: percentile(&samples, 0.9),
            samples: samples.len() as u64,
            open,
        };
        prop_assert_eq!(listed, summary.time_to_restore);
    }

    /// Pagination by position needs one order for one set of facts, however they arrive.
    #[test]
    fn listing_order_is_stable(history in history(), window in window(), seed in any::<u64>()) {
        let facts = Facts {
            deployments: &history.deployments,
            incidents: &history.incidents,
        };
        let mut deployments = history.deployments.clone();
        let mut incidents = history.incidents.clone();
        let by = |len: usize| if len == 0 { 0 } else { seed as usize % len };
        let (d, i) = (by(deployments.len()), by(incidents.len()));
        deployments.rotate_left(d);
        incidents.rotate_left(i);
        deployments.reverse();
        let shuffled = Facts {
            deployments: &deployments,
            incidents: &incidents,
        };
        for metric in Metric::ALL {
            let items = explain(&facts, &window, metric);
            prop_assert_eq!(&items, &explain(&shuffled, &window, metric));
            let keys: Vec<_> = items.iter().map(order_key).collect();
            prop_assert!(keys.is_sorted(), "{metric}: {keys:?}");
        }
    }
}
