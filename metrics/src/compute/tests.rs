//! Table-driven tests of every definition of DESIGN.md §5, one scenario per row.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use uuid::Uuid;

use super::compute;
use crate::facts::{CommitFact, DeploymentFact, Facts, IncidentFact, Outcome};
use crate::summary::DoraSummary;
use crate::tiers::{Benchmark, Tier};
use crate::window::Window;

use Outcome::{Failure, Pending, Success};

pub(crate) const REPO: Uuid = Uuid::from_u128(0xA);
pub(crate) const OTHER_REPO: Uuid = Uuid::from_u128(0xB);
pub(crate) const PROD: &str = "production";
pub(crate) const HOUR: f64 = 3_600.0;
pub(crate) const DAY: f64 = 86_400.0;

/// 2025-01-01T00:00Z plus `days` days.
pub(crate) fn day(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + TimeDelta::days(days)
}

pub(crate) fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

pub(crate) fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

/// The default window of the tests: `[day 0, day 30)`.
pub(crate) fn window() -> Window {
    Window::new(day(0), day(30)).unwrap()
}

/// Deployment number `n` (id derived from it) of `REPO`/production.
pub(crate) fn dep(n: i64, deployed_at: DateTime<Utc>, outcome: Outcome) -> DeploymentFact {
    DeploymentFact {
        id: id(n),
        number: n,
        repository: REPO,
        environment: PROD.into(),
        deployed_at,
        outcome,
        is_fix: false,
        is_hotfix: false,
        is_rollback: false,
        commits: Vec::new(),
    }
}

/// Ids run opposite to numbers, so that a tie broken by id instead of number shows.
pub(crate) fn id(n: i64) -> Uuid {
    Uuid::from_u128(0xFFFF_FFFF - n as u128)
}

pub(crate) trait Build {
    fn fix(self) -> Self;
    fn hotfix(self) -> Self;
    fn rollback(self) -> Self;
    fn env(self, environment: &str) -> Self;
    fn repo(self, repository: Uuid) -> Self;
    fn commit(self, sha: &str, committed_at: DateTime<Utc>) -> Self;
}

impl Build for DeploymentFact {
    fn fix(mut self) -> Self {
        self.is_fix = true;
        self
    }
    fn hotfix(mut self) -> Self {
        self.is_hotfix = true;
        self
    }
    fn rollback(mut self) -> Self {
        self.is_rollback = true;
        self
    }
    fn env(mut self, environment: &str) -> Self {
        self.environment = environment.into();
        self
    }
    fn repo(mut self, repository: Uuid) -> Self {
        self.repository = repository;
        self
    }
    fn commit(mut self, sha: &str, committed_at: DateTime<Utc>) -> Self {
        self.commits.push(CommitFact {
            sha: sha.into(),
            committed_at,
        });
        self
    }
}

/// An incident of `REPO`/production, attributed by repository and time.
pub(crate) fn incident(
    n: u128,
    started_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
) -> IncidentFact {
    IncidentFact {
        id: Uuid::from_u128(0x9000 + n),
        repository: Some(REPO),
        environment: PROD.into(),
        deployment: None,
        started_at,
        resolved_at,
    }
}

/// An incident naming deployment `n` explicitly.
pub(crate) fn incident_on(
    n: i64,
    started_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
) -> IncidentFact {
    IncidentFact {
        deployment: Some(id(n)),
        ..incident(n as u128, started_at, resolved_at)
    }
}

fn run(deployments: &[DeploymentFact], incidents: &[IncidentFact]) -> DoraSummary {
    run_in(deployments, incidents, &window())
}

fn run_in(
    deployments: &[DeploymentFact],
    incidents: &[IncidentFact],
    window: &Window,
) -> DoraSummary {
    let summary = compute(
        &Facts {
            deployments,
            incidents,
        },
        window,
        Benchmark::Y2023,
    );
    // The input order never matters.
    let mut reversed_deployments = deployments.to_vec();
    reversed_deployments.reverse();
    let mut reversed_incidents = incidents.to_vec();
    reversed_incidents.reverse();
    let reversed = compute(
        &Facts {
            deployments: &reversed_deployments,
            incidents: &reversed_incidents,
        },
        window,
        Benchmark::Y2023,
    );
    assert_eq!(summary, reversed, "input order changed the result");
    summary
}

fn close(got: Option<f64>, expected: Option<f64>) -> bool {
    match (got, expected) {
        (Some(g), Some(e)) => (g - e).abs() <= 1e-9 * e.abs().max(1.0),
        _ => got == expected,
    }
}

#[test]
fn empty_inputs_give_no_samples_and_no_nan() {
    let s = run(&[], &[]);
    let f = &s.deployment_frequency;
    assert_eq!(
        (f.deployments, f.per_day, f.median_deploy_days_per_week),
        (0, 0.0, 0.0)
    );
    assert_eq!((f.median_deploy_days_per_month, f.tier), (0.0, Tier::Low));
    assert_eq!(s.change_lead_time.median_seconds, None);
    assert_eq!(s.change_lead_time.p90_seconds, None);
    assert_eq!(s.change_lead_time.samples, 0);
    assert_eq!(s.change_lead_time.tier, None);
    assert_eq!(s.change_failure_rate.rate, None);
    assert_eq!(s.change_failure_rate.tier, None);
    assert_eq!(
        (
            s.change_failure_rate.failures,
            s.change_failure_rate.deployments
        ),
        (0, 0)
    );
    let r = &s.failed_deployment_recovery_time;
    assert_eq!(
        (r.median_seconds, r.p90_seconds, r.tier),
        (None, None, None)
    );
    assert_eq!((r.samples, r.unrecovered), (0, 0));
    assert_eq!(s.deployment_rework_rate.rate, None);
    assert_eq!(s.deployment_rework_rate.deployments, 0);
    let t = &s.time_to_restore;
    assert_eq!((t.median_seconds, t.p90_seconds), (None, None));
    assert_eq!((t.samples, t.open), (0, 0));
}

#[test]
fn pending_only_and_empty_window_give_no_nan() {
    let pending = [dep(1, day(3), Pending).commit("a", day(2))];
    let s = run(&pending, &[]);
    assert_eq!(s.deployment_frequency.deployments, 0);
    assert_eq!(s.change_failure_rate.deployments, 0);
    assert_eq!(s.change_failure_rate.rate, None);
    assert_eq!(s.change_lead_time.samples, 0);

    // A window built by hand with from ≥ to contains nothing.
    let facts = [dep(1, day(3), Success).commit("a", day(2))];
    for empty in [
        Window {
            from: day(3),
            to: day(3),
        },
        Window {
            from: day(5),
            to: day(1),
        },
    ] {
        let s = run_in(&facts, &[incident(1, day(3), None)], &empty);
        assert_eq!(s.deployment_frequency.deployments, 0);
        assert_eq!(s.deployment_frequency.per_day, 0.0);
        assert_eq!(s.deployment_frequency.tier, Tier::Low);
        assert_eq!(s.change_lead_time.samples, 0);
        assert_eq!(s.time_to_restore.open, 0);
    }
}

#[test]
fn window_edges_are_half_open() {
    let deployments = [
        dep(1, day(0), Success).commit("at-from", day(0) - hours(1)),
        dep(2, day(0) - secs(1), Success).commit("before", day(-1)),
        dep(3, day(30), Success).commit("at-to", day(29)),
        dep(4, day(30) - secs(1), Failure),
        dep(5, day(30), Failure),
    ];
    let incidents = [
        incident(1, day(0), Some(day(0) + hours(2))),
        incident(2, day(30), None),
        incident(3, day(0) - secs(1), None),
    ];
    let s = run(&deployments, &incidents);
    assert_eq!(
        s.deployment_frequency.deployments, 1,
        "only the one at from"
    );
    assert_eq!(s.change_lead_time.samples, 1);
    assert_eq!(s.change_lead_time.median_seconds, Some(HOUR));
    assert_eq!(s.change_failure_rate.deployments, 2, "numbers 1 and 4");
    assert_eq!(s.deployment_rework_rate.deployments, 1);
    assert_eq!(s.time_to_restore.samples, 1, "the incident started at from");
    assert_eq!(s.time_to_restore.open, 0, "the one at to is outside");
}

#[test]
fn per_day_is_fractional() {
    let deployments: Vec<_> = (0..15)
        .map(|n| dep(n, day(2 * n), Success))
        .chain([dep(99, day(1), Failure), dep(98, day(1), Pending)])
        .collect();
    let s = run(&deployments, &[]);
    assert_eq!(s.deployment_frequency.deployments, 15);
    assert_eq!(s.deployment_frequency.per_day, 0.5);
    let short = Window::new(day(0), day(0) + hours(36)).unwrap();
    assert_eq!(
        run_in(&deployments, &[], &short)
            .deployment_frequency
            .per_day,
        1.0 / 1.5
    );
}

#[test]
fn deployment_frequency_buckets_and_tiers() {
    // (window, deployment times, expected week median, month median, tier)
    let w30 = window();
    let w7 = Window::new(day(0), day(7)).unwrap();
    // 3 days from noon to noon: touches 4 UTC dates.
    let w3 = Window::new(day(0) + hours(12), day(3) + hours(12)).unwrap();
    let w731 = Window::new(day(0), day(731)).unwrap();
    let every_day: Vec<_> = (0..30).map(day).collect();
    let twice_a_day: Vec<_> = (0..30)
        .flat_map(|d| [day(d) + hours(1), day(d) + hours(20)])
        .collect();
    // The 30-day window's whole weeks are [23,30), [16,23), [9,16), [2,9): days 0–1 are in none.
    let first_two_days = vec![day(0), day(1) + hours(23)];
    let three_of_four_weeks = vec![day(2), day(9), day(16)];
    let two_of_four_weeks = vec![day(2), day(3), day(29)];
    let five_days_each_week: Vec<_> = [2, 9, 16, 23]
        .iter()
        .flat_map(|&start| (start..start + 5).map(day))
        .collect();
    let four_days_each_week: Vec<_> = [2, 9, 16, 23]
        .iter()
        .flat_map(|&start| (start..start + 4).map(day))
        .collect();
    let w3_all: Vec<_> = [12, 24, 48, 83]
        .iter()
        .map(|&h| day(0) + hours(h))
        .collect();
    let w731_daily: Vec<_> = (0..731).map(day).collect();
    let w731_first_year: Vec<_> = (0..365).map(day).collect();
    type Case = (&'static str, Window, Vec<DateTime<Utc>>, f64, f64, Tier);
    let cases: Vec<Case> = vec![
        ("none", w30, vec![], 0.0, 0.0, Tier::Low),
        ("every day", w30, every_day.clone(), 7.0, 30.0, Tier::Elite),
        ("twice a day", w30, twice_a_day, 7.0, 30.0, Tier::Elite),
        ("outside weeks", w30, first_two_days, 0.0, 2.0, Tier::Medium),
        (
            "3 of 4 weeks",
            w30,
            three_of_four_weeks,
            1.0,
            3.0,
            Tier::High,
        ),
        (
            "2 of 4 weeks",
            w30,
            two_of_four_weeks,
            0.5,
            3.0,
            Tier::Medium,
        ),
        ("5 a week", w30, five_days_each_week, 5.0, 20.0, Tier::Elite),
        ("4 a week", w30, four_days_each_week, 4.0, 16.0, Tier::High),
        (
            "7-day window",
            w7,
            every_day[..7].to_vec(),
            7.0,
            7.0,
            Tier::Elite,
        ),
        ("7-day, one", w7, vec![day(6)], 1.0, 1.0, Tier::High),
        ("3-day window", w3, w3_all, 4.0, 4.0, Tier::High),
        ("731 daily", w731, w731_daily, 7.0, 30.0, Tier::Elite),
        // 104 whole weeks [3,10) … [724,731): days 0–364 fill 51, put 5 days in one, leave 52
        // empty: median (0 + 5) / 2. 24 whole months [11,41) … [701,731): 11 full, one with 24
        // days (341–364), 12 empty: median (0 + 24) / 2.
        (
            "731 first year",
            w731,
            w731_first_year,
            2.5,
            12.0,
            Tier::High,
        ),
    ];
    for (name, window, times, week, month, tier) in cases {
        let deployments: Vec<_> = times
            .iter()
            .enumerate()
            .map(|(n, &t)| dep(n as i64, t, Success))
            .collect();
        let f = run_in(&deployments, &[], &window).deployment_frequency;
        assert_eq!(f.deployments, times.len() as u64, "{name}");
        assert_eq!(f.median_deploy_days_per_week, week, "{name} week");
        assert_eq!(f.median_deploy_days_per_month, month, "{name} month");
        assert_eq!(f.tier, tier, "{name} tier");
    }
}

#[test]
fn deployment_frequency_of_a_sparse_two_years() {
    // 731-day window: 104 whole weeks and 24 whole 30-day buckets counted back from day 731.
    let w731 = Window::new(day(0), day(731)).unwrap();
    // One deployment in each of the newest 53 weeks: the median of 53 ones and 51 zeros is 1.
    let newest_53: Vec<_> = (0..53)
        .map(|k| dep(k, day(731 - 7 * k - 1), Success))
        .collect();
    let f = run_in(&newest_53, &[], &w731).deployment_frequency;
    assert_eq!(f.median_deploy_days_per_week, 1.0);
    assert_eq!(f.tier, Tier::High);
    // 52 of them (days 730, 723, … 373): median of 52 ones and 52 zeros is 0.5. They fill the
    // newest 12 months, the oldest of which, [371,401), holds 4 days: median (0 + 4) / 2.
    let f = run_in(&newest_53[..52], &[], &w731).deployment_frequency;
    assert_eq!(f.median_deploy_days_per_week, 0.5);
    assert_eq!(f.median_deploy_days_per_month, 2.0);
    assert_eq!(f.tier, Tier::Medium);
    // The 3- and 11-day partial spans at the start count in no bucket.
    let at_start = [dep(1, day(0), Success), dep(2, day(2), Success)];
    let f = run_in(&at_start, &[], &w731).deployment_frequency;
    assert_eq!(f.deployments, 2);
    assert_eq!(f.median_deploy_days_per_week, 0.0);
    assert_eq!(f.median_deploy_days_per_month, 0.0);
}

#[test]
fn deployment_frequency_ignores_unsuccessful_and_other_days() {
    let deployments = [
        dep(1, day(5), Failure),
        dep(2, day(6), Pending),
        dep(3, day(7), Success).env("staging"),
        dep(4, day(8), Success).repo(OTHER_REPO),
    ];
    let f = run(&deployments, &[]).deployment_frequency;
    // Everything passed is in scope: staging and the other repository count; failures do not.
    assert_eq!(f.deployments, 2);
    assert_eq!(f.median_deploy_days_per_month, 2.0);
}

#[test]
fn lead_time_table() {
    // (name, deployments, expected sorted samples)
    let cases: Vec<(&str, Vec<DeploymentFact>, Vec<f64>)> = vec![
        (
            "one commit",
            vec![dep(1, day(5), Success).commit("a", day(5) - hours(2))],
            vec![2.0 * HOUR],
        ),
        (
            "redeploy of a shipped commit gives no second sample",
            vec![
                dep(1, day(5), Success).commit("a", day(4)),
                dep(2, day(6), Success).commit("a", day(4)),
            ],
            vec![DAY],
        ),
        (
            "shipped before the window",
            vec![
                dep(1, day(-5), Success).commit("a", day(-6)),
                dep(2, day(6), Success)
                    .commit("a", day(-6))
                    .commit("b", day(5)),
            ],
            vec![DAY],
        ),
        (
            "a failed or pending deployment ships nothing",
            vec![
                dep(1, day(4), Failure).commit("a", day(3)),
                dep(2, day(4) + hours(1), Pending).commit("a", day(3)),
                dep(3, day(5), Success).commit("a", day(3)),
            ],
            vec![2.0 * DAY],
        ),
        (
            "another environment is another stream",
            vec![
                dep(1, day(4), Success).commit("a", day(3)).env("staging"),
                dep(2, day(5), Success).commit("a", day(3)),
            ],
            vec![DAY, 2.0 * DAY],
        ),
        (
            "another repository is another stream",
            vec![
                dep(1, day(4), Success).commit("a", day(3)).repo(OTHER_REPO),
                dep(2, day(5), Success).commit("a", day(3)),
            ],
            vec![DAY, 2.0 * DAY],
        ),
        (
            "a sha listed twice counts once, with its first date",
            vec![
                dep(1, day(5), Success)
                    .commit("a", day(4))
                    .commit("a", day(3)),
            ],
            vec![DAY],
        ),
        (
            "negative samples are dropped, zero kept",
            vec![
                dep(1, day(5), Success)
                    .commit("future", day(5) + secs(1))
                    .commit("now", day(5)),
            ],
            vec![0.0],
        ),
        (
            "a dropped negative sample still marks the sha shipped",
            vec![
                dep(1, day(5), Success).commit("a", day(6)),
                dep(2, day(7), Success).commit("a", day(6)),
            ],
            vec![],
        ),
        (
            "equal deploy times: the lower number ships first",
            vec![
                dep(2, day(5), Success).commit("a", day(4)),
                dep(1, day(5), Success)
                    .commit("a", day(4))
                    .commit("b", day(3)),
            ],
            vec![DAY, 2.0 * DAY],
        ),
        (
            "after the window: not sampled",
            vec![dep(1, day(30), Success).commit("a", day(29))],
            vec![],
        ),
        (
            "a later deployment does not un-ship an earlier one",
            vec![
                dep(1, day(29), Success).commit("a", day(28)),
                dep(2, day(31), Success).commit("a", day(28)),
            ],
            vec![DAY],
        ),
    ];
    for (name, deployments, expected) in cases {
        let lead = run(&deployments, &[]).change_lead_time;
        assert_eq!(lead.samples, expected.len() as u64, "{name}");
        let median = crate::percentile(&expected, 0.5);
        let p90 = crate::percentile(&expected, 0.9);
        assert!(close(lead.median_seconds, median), "{name}: {lead:?}");
        assert!(close(lead.p90_seconds, p90), "{name}: {lead:?}");
    }
}

#[test]
fn lead_time_percentiles_and_tiers() {
    let deployments = [dep(1, day(5), Success)
        .commit("a", day(5) - hours(1))
        .commit("b", day(5) - hours(2))
        .commit("c", day(5) - hours(3))
        .commit("d", day(5) - hours(10))];
    let lead = run(&deployments, &[]).change_lead_time;
    assert_eq!(lead.median_seconds, Some(2.5 * HOUR));
    // rank 2.7 → 3 h + 0.7 · 7 h
    assert!(close(lead.p90_seconds, Some(7.9 * HOUR)));
    assert_eq!(lead.tier, Some(Tier::Elite));
    let summary = compute(
        &Facts {
            deployments: &deployments,
            incidents: &[],
        },
        &window(),
        Benchmark::Y2021,
    );
    assert_eq!(summary.change_lead_time.tier, Some(Tier::High));
}

/// One change-failure scenario: which deployments are change failures, and how each recovered.
struct FailureCase {
    name: &'static str,
    deployments: Vec<DeploymentFact>,
    incidents: Vec<IncidentFact>,
    /// finished deployments in the window
    finished: u64,
    failures: u64,
    /// sorted recovery samples in seconds
    recovered: Vec<f64>,
    unrecovered: u64,
}

fn check(cases: Vec<FailureCase>) {
    for case in cases {
        let s = run(&case.deployments, &case.incidents);
        let name = case.name;
        let cfr = &s.change_failure_rate;
        assert_eq!(cfr.deployments, case.finished, "{name}: finished");
        assert_eq!(cfr.failures, case.failures, "{name}: failures");
        let rate = (case.finished > 0).then(|| case.failures as f64 / case.finished as f64);
        assert_eq!(cfr.rate, rate, "{name}: rate");
        let r = &s.failed_deployment_recovery_time;
        assert_eq!(r.samples, case.recovered.len() as u64, "{name}: samples");
        assert_eq!(r.unrecovered, case.unrecovered, "{name}: unrecovered");
        assert!(
            close(r.median_seconds, crate::percentile(&case.recovered, 0.5)),
            "{name}: {r:?}"
        );
        assert!(
            close(r.p90_seconds, crate::percentile(&case.recovered, 0.9)),
            "{name}: {r:?}"
        );
    }
}

#[test]
fn change_failure_by_status_and_remediation() {
    check(vec![
        FailureCase {
            name: "no failures",
            deployments: vec![dep(1, day(1), Success), dep(2, day(2), Success)],
            incidents: vec![],
            finished: 2,
            failures: 0,
            recovered: vec![],
            unrecovered: 0,
        },
        FailureCase {
            name: "failed status, recovered by the next success whatever it is",
            deployments: vec![
                dep(1, day(1), Failure),
                dep(2, day(1) + hours(3), Pending),
                dep(3, day(1) + hours(5), Success),
            ],
            incidents: vec![],
            finished: 2,
            failures: 1,
            recovered: vec![5.0 * HOUR],
            unrecovered: 0,
        },
        FailureCase {
            name: "failed status, no success since: unrecovered",
            deployments: vec![dep(1, day(1), Success), dep(2, day(2), Failure)],
            incidents: vec![],
            finished: 2,
            failures: 1,
            recovered: vec![],
            unrecovered: 1,
        },
        FailureCase {
            name: "followed by a hotfix",
            deployments: vec![dep(1, day(1), Success), dep(2, day(2), Success).hotfix()],
            incidents: vec![],
            finished: 2,
            failures: 1,
            recovered: vec![DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "followed by a fix",
            deployments: vec![dep(1, day(1), Success), dep(2, day(3), Success).fix()],
            incidents: vec![],
            finished: 2,
            failures: 1,
            recovered: vec![2.0 * DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "followed by a rollback",
            deployments: vec![
                dep(1, day(1), Success),
                dep(2, day(1) + hours(1), Success).rollback(),
            ],
            incidents: vec![],
            finished: 2,
            failures: 1,
            recovered: vec![HOUR],
            unrecovered: 0,
        },
        FailureCase {
            name: "a hotfix that itself needs a hotfix: both are failures",
            deployments: vec![
                dep(1, day(1), Success),
                dep(2, day(2), Success).hotfix(),
                dep(3, day(4), Success).hotfix(),
            ],
            incidents: vec![],
            finished: 3,
            failures: 2,
            recovered: vec![DAY, 2.0 * DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "only the next *successful* deployment is looked at",
            deployments: vec![
                dep(1, day(1), Success),
                dep(2, day(2), Pending).hotfix(),
                dep(3, day(3), Failure).hotfix(),
                dep(4, day(4), Success),
                dep(5, day(5), Success),
            ],
            incidents: vec![],
            // 1, 3, 4, 5; number 3 failed and recovered at number 4.
            finished: 4,
            failures: 1,
            recovered: vec![DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "the remediation may come after the window",
            deployments: vec![
                dep(1, day(29), Success),
                dep(2, day(30), Failure),
                dep(3, day(32), Success).rollback(),
            ],
            incidents: vec![],
            finished: 1,
            failures: 1,
            recovered: vec![3.0 * DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "a remediation in the window repairs a deployment before it: not counted",
            deployments: vec![dep(1, day(-1), Success), dep(2, day(1), Success).hotfix()],
            incidents: vec![],
            finished: 1,
            failures: 0,
            recovered: vec![],
            unrecovered: 0,
        },
        FailureCase {
            name: "remediation in another stream does not count",
            deployments: vec![
                dep(1, day(1), Success),
                dep(2, day(2), Success).hotfix().env("staging"),
                dep(3, day(3), Success).hotfix().repo(OTHER_REPO),
            ],
            incidents: vec![],
            finished: 3,
            failures: 0,
            recovered: vec![],
            unrecovered: 0,
        },
        FailureCase {
            name: "equal times: number 1 is followed by the hotfix number 2",
            deployments: vec![dep(2, day(1), Success).hotfix(), dep(1, day(1), Success)],
            incidents: vec![],
            finished: 2,
            failures: 1,
            recovered: vec![0.0],
            unrecovered: 0,
        },
        FailureCase {
            name: "equal times: the hotfix number 1 precedes number 2",
            deployments: vec![dep(1, day(1), Success).hotfix(), dep(2, day(1), Success)],
            incidents: vec![],
            finished: 2,
            failures: 0,
            recovered: vec![],
            unrecovered: 0,
        },
    ]);
}

#[test]
fn change_failure_by_incident() {
    check(vec![
        FailureCase {
            name: "by id, resolved: recovered when resolved",
            deployments: vec![dep(1, day(1), Success), dep(2, day(2), Success)],
            incidents: vec![incident_on(1, day(3), Some(day(4)))],
            finished: 2,
            failures: 1,
            recovered: vec![3.0 * DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "by id, started long after the window: still counts",
            deployments: vec![dep(1, day(1), Success)],
            incidents: vec![incident_on(1, day(90), Some(day(91)))],
            finished: 1,
            failures: 1,
            recovered: vec![90.0 * DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "by id, on a failed deployment: the incident decides recovery",
            deployments: vec![dep(1, day(1), Failure), dep(2, day(2), Success)],
            incidents: vec![incident_on(1, day(1), Some(day(5)))],
            finished: 2,
            failures: 1,
            recovered: vec![4.0 * DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "several incidents: the last resolution",
            deployments: vec![dep(1, day(1), Success)],
            incidents: vec![
                incident_on(1, day(1), Some(day(3))),
                incident(2, day(2), Some(day(6))),
                incident_on(1, day(2), Some(day(2))),
            ],
            finished: 1,
            failures: 1,
            recovered: vec![5.0 * DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "one incident still open: unrecovered, even after a hotfix",
            deployments: vec![dep(1, day(1), Success), dep(2, day(2), Success).hotfix()],
            incidents: vec![
                incident_on(1, day(1), Some(day(3))),
                incident_on(1, day(1), None),
            ],
            finished: 2,
            failures: 1,
            recovered: vec![],
            unrecovered: 1,
        },
        FailureCase {
            name: "resolved before the deployment: negative, as defined",
            deployments: vec![dep(1, day(5), Success)],
            incidents: vec![incident_on(1, day(3), Some(day(4)))],
            finished: 1,
            failures: 1,
            recovered: vec![-DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "by id, naming a deployment outside the window: no effect",
            deployments: vec![
                dep(1, day(-3), Success),
                dep(2, day(1), Success),
                dep(3, day(31), Success),
            ],
            incidents: vec![
                incident_on(1, day(2), Some(day(3))),
                incident_on(3, day(2), None),
            ],
            finished: 1,
            failures: 0,
            recovered: vec![],
            unrecovered: 0,
        },
        FailureCase {
            name: "by id, naming an unknown deployment: no fallback to repository",
            deployments: vec![dep(1, day(1), Success)],
            incidents: vec![incident_on(77, day(2), None)],
            finished: 1,
            failures: 0,
            recovered: vec![],
            unrecovered: 0,
        },
        FailureCase {
            name: "by id, naming a pending deployment: not a change failure",
            deployments: vec![dep(1, day(1), Pending), dep(2, day(2), Success)],
            incidents: vec![incident_on(1, day(2), None)],
            finished: 1,
            failures: 0,
            recovered: vec![],
            unrecovered: 0,
        },
        FailureCase {
            name: "by repository: the latest success strictly before the start",
            deployments: vec![
                dep(1, day(1), Success),
                dep(2, day(2), Success),
                dep(3, day(2) + hours(1), Failure),
                dep(4, day(2) + hours(2), Pending),
                dep(5, day(3), Success),
            ],
            // Starts exactly when number 5 deploys: number 2 is the one before.
            incidents: vec![incident(1, day(3), Some(day(3) + hours(6)))],
            finished: 4,
            failures: 2,
            // number 2: incident resolved at day 3 + 6 h; number 3: next success at day 3.
            recovered: vec![23.0 * HOUR, 30.0 * HOUR],
            unrecovered: 0,
        },
        FailureCase {
            name: "by repository: one second after the deployment",
            deployments: vec![dep(1, day(1), Success), dep(2, day(2), Success)],
            incidents: vec![incident(1, day(2) + secs(1), None)],
            finished: 2,
            failures: 1,
            recovered: vec![],
            unrecovered: 1,
        },
        FailureCase {
            name: "by repository: equal times go to the highest number",
            deployments: vec![
                dep(7, day(2), Success),
                dep(9, day(2), Success),
                dep(8, day(2), Success),
            ],
            incidents: vec![incident(1, day(2) + hours(1), Some(day(2) + hours(3)))],
            finished: 3,
            // 7 → next success 8 (not a remediation); 9 → the incident.
            failures: 1,
            recovered: vec![3.0 * HOUR],
            unrecovered: 0,
        },
        FailureCase {
            name: "by repository: started after the window, no success since",
            deployments: vec![dep(1, day(29), Success), dep(2, day(31), Failure)],
            incidents: vec![incident(1, day(40), Some(day(41)))],
            finished: 1,
            failures: 1,
            recovered: vec![12.0 * DAY],
            unrecovered: 0,
        },
        FailureCase {
            name: "by repository: a later success takes it",
            deployments: vec![dep(1, day(29), Success), dep(2, day(31), Success)],
            incidents: vec![incident(1, day(40), Some(day(41)))],
            finished: 1,
            failures: 0,
            recovered: vec![],
            unrecovered: 0,
        },
        FailureCase {
            name: "by repository: before any deployment, or another stream",
            deployments: vec![dep(1, day(5), Success)],
            incidents: vec![
                incident(1, day(4), None),
                IncidentFact {
                    environment: "staging".into(),
                    ..incident(2, day(6), None)
                },
                IncidentFact {
                    repository: Some(OTHER_REPO),
                    ..incident(3, day(6), None)
                },
                IncidentFact {
                    repository: None,
                    ..incident(4, day(6), None)
                },
            ],
            finished: 1,
            failures: 0,
            recovered: vec![],
            unrecovered: 0,
        },
        FailureCase {
            name: "an incident and a remediation: the incident decides recovery",
            deployments: vec![dep(1, day(1), Success), dep(2, day(2), Success).hotfix()],
            incidents: vec![incident(1, day(1) + hours(1), Some(day(1) + hours(4)))],
            finished: 2,
            failures: 1,
            recovered: vec![4.0 * HOUR],
            unrecovered: 0,
        },
    ]);
}

#[test]
fn change_failure_rate_tiers() {
    // 1 failure in 20 deployments: exactly 5 %, elite; 2 in 20 high; 3 in 20 medium; 4 low.
    for (failed, tier_2023, tier_2021) in [
        (1, Tier::Elite, Tier::Elite),
        (2, Tier::High, Tier::Elite),
        (3, Tier::Medium, Tier::Elite),
        (4, Tier::Low, Tier::High),
        (6, Tier::Low, Tier::Medium),
        (7, Tier::Low, Tier::Low),
    ] {
        let deployments: Vec<_> = (0..20)
            .map(|n| dep(n, day(n), if n < failed { Failure } else { Success }))
            .collect();
        let facts = Facts {
            deployments: &deployments,
            incidents: &[],
        };
        let cfr = compute(&facts, &window(), Benchmark::Y2023).change_failure_rate;
        assert_eq!(cfr.rate, Some(failed as f64 / 20.0));
        assert_eq!(cfr.tier, Some(tier_2023), "{failed}");
        let cfr = compute(&facts, &window(), Benchmark::Y2021).change_failure_rate;
        assert_eq!(cfr.tier, Some(tier_2021), "{failed}");
    }
}

#[test]
fn recovery_tiers() {
    for (gap, tier) in [
        (TimeDelta::minutes(59), Tier::Elite),
        (hours(1), Tier::High),
        (hours(24), Tier::Medium),
        (TimeDelta::days(7), Tier::Low),
    ] {
        let deployments = [dep(1, day(1), Failure), dep(2, day(1) + gap, Success)];
        let r = run(&deployments, &[]).failed_deployment_recovery_time;
        assert_eq!(r.tier, Some(tier), "{gap}");
    }
    let unrecovered = run(&[dep(1, day(1), Failure)], &[]).failed_deployment_recovery_time;
    assert_eq!((unrecovered.unrecovered, unrecovered.tier), (1, None));
}

#[test]
fn rework_rate() {
    let deployments = [
        dep(1, day(1), Success),
        dep(2, day(2), Success).hotfix(),
        dep(3, day(3), Success).rollback(),
        dep(4, day(4), Success).fix(),
        dep(5, day(5), Failure).hotfix(),
        dep(6, day(6), Pending).rollback(),
        dep(7, day(-1), Success).hotfix(),
        dep(8, day(30), Success).rollback(),
    ];
    let rework = run(&deployments, &[]).deployment_rework_rate;
    assert_eq!(rework.rework_deployments, 2);
    assert_eq!(rework.deployments, 4);
    assert_eq!(rework.rate, Some(0.5));
}

#[test]
fn time_to_restore() {
    let unattributed = |n, start, end| IncidentFact {
        repository: None,
        ..incident(n, start, end)
    };
    let incidents = [
        unattributed(1, day(1), Some(day(1) + hours(1))),
        unattributed(2, day(2), Some(day(2) + hours(3))),
        incident(3, day(3), Some(day(5))),
        incident_on(4, day(4), None),
        unattributed(5, day(5), None),
        // Resolved "before" it started: zero.
        unattributed(6, day(6), Some(day(5))),
        // Outside the window, either side.
        unattributed(7, day(-1), Some(day(2))),
        unattributed(8, day(30), None),
    ];
    let t = run(&[], &incidents).time_to_restore;
    assert_eq!((t.samples, t.open), (4, 2));
    // samples 0, 1 h, 3 h, 48 h
    assert_eq!(t.median_seconds, Some(2.0 * HOUR));
    assert!(close(t.p90_seconds, Some((3.0 + 0.7 * 45.0) * HOUR)));
}

#[test]
fn summary_serializes_with_the_api_names() {
    let deployments = [dep(1, day(1), Success).commit("a", day(1) - hours(1))];
    let value = serde_json::to_value(run(&deployments, &[])).unwrap();
    assert_eq!(value["deployment_frequency"]["tier"], "medium");
    assert_eq!(value["change_lead_time"]["median_seconds"], 3600.0);
    assert_eq!(value["change_lead_time"]["tier"], "elite");
    assert!(value["change_failure_rate"]["rate"].is_number());
    assert!(value["failed_deployment_recovery_time"]["median_seconds"].is_null());
    assert!(value["failed_deployment_recovery_time"]["tier"].is_null());
    assert_eq!(value["deployment_rework_rate"]["rework_deployments"], 0);
    assert_eq!(value["time_to_restore"]["open"], 0);
    assert_eq!(serde_json::to_value(Benchmark::Y2021).unwrap(), "2021");
    assert_eq!(serde_json::to_value(Outcome::Pending).unwrap(), "pending");
}

/// Not a timing assertion: an accidental O(n²) would make this test take minutes.
#[test]
fn large_histories_stay_cheap() {
    let n = 100_000_i64;
    let deployments: Vec<_> = (0..n)
        .map(|k| {
            let outcome = match k % 10 {
                0 => Failure,
                1 => Pending,
                _ => Success,
            };
            let at = day(-30) + secs(k * 50);
            let mut d = dep(k, at, outcome).commit(&format!("c{k}"), at - hours(3));
            d.is_hotfix = k % 17 == 0;
            // Ten repositories, two environments.
            d.repository = Uuid::from_u128((k % 10) as u128);
            if k % 3 == 0 {
                d.environment = "staging".into();
            }
            d
        })
        .collect();
    let incidents: Vec<_> = (0..1_000)
        .map(|k| IncidentFact {
            repository: Some(Uuid::from_u128((k % 10) as u128)),
            ..incident(k as u128, day(k % 40), Some(day(k % 40) + hours(2)))
        })
        .collect();
    let s = compute(
        &Facts {
            deployments: &deployments,
            incidents: &incidents,
        },
        &window(),
        Benchmark::Y2023,
    );
    assert!(s.deployment_frequency.deployments > 0);
    assert!(s.change_lead_time.samples > 0);
    // One stream holding everything.
    let one_stream: Vec<_> = deployments
        .into_iter()
        .map(|d| d.repo(REPO).env(PROD))
        .collect();
    let s = compute(
        &Facts {
            deployments: &one_stream,
            incidents: &incidents,
        },
        &window(),
        Benchmark::Y2023,
    );
    assert!(s.change_failure_rate.failures > 0);
}

#[test]
fn a_hand_built_endless_window_stays_cheap() {
    // Bypasses Window::new: millions of frequency buckets, none of them materialised.
    let endless = Window {
        from: DateTime::<Utc>::MIN_UTC,
        to: DateTime::<Utc>::MAX_UTC,
    };
    let deployments = [dep(1, day(1), Success), dep(2, day(2), Failure)];
    let s = run_in(&deployments, &[], &endless);
    let f = &s.deployment_frequency;
    assert_eq!(f.deployments, 1);
    assert!(f.per_day > 0.0 && f.per_day.is_finite());
    assert_eq!(f.median_deploy_days_per_week, 0.0);
    assert_eq!(f.median_deploy_days_per_month, 0.0);
    assert_eq!(s.change_failure_rate.rate, Some(0.5));
}
