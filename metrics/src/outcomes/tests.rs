//! Table-driven tests of [`derive`]: every cause, every way of recovering, every lead-time
//! verdict, order and neighbours. The counts themselves are checked against `compute` by the
//! property tests (tests/outcomes.rs).

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};

use super::*;
use crate::compute::tests::{
    Build, DAY, HOUR, OTHER_REPO, PROD, day, dep, hours, id, incident, incident_on, window,
};
use crate::facts::{IncidentFact, Outcome::*};

fn derived(deployments: &[DeploymentFact], incidents: &[IncidentFact]) -> Vec<DeploymentOutcome> {
    let outcomes = derive(
        &Facts {
            deployments,
            incidents,
        },
        &window(),
    );
    // The input order never matters.
    let mut reversed_deployments = deployments.to_vec();
    reversed_deployments.reverse();
    let mut reversed_incidents = incidents.to_vec();
    reversed_incidents.reverse();
    let reversed = derive(
        &Facts {
            deployments: &reversed_deployments,
            incidents: &reversed_incidents,
        },
        &window(),
    );
    assert_eq!(outcomes, reversed, "input order changed the outcomes");
    outcomes
}

/// The outcome of deployment number `n`.
fn of(outcomes: &[DeploymentOutcome], n: i64) -> &DeploymentOutcome {
    outcomes
        .iter()
        .find(|outcome| outcome.deployment.number == n)
        .unwrap()
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).as_seconds_f64()
}

#[test]
fn remediation_by_the_next_success() {
    let deployments = [
        dep(1, day(1), Success),
        dep(2, day(1) + hours(1), Failure),
        dep(3, day(1) + hours(2), Pending),
        dep(4, day(1) + hours(3), Success).hotfix().rollback(),
    ];
    let outcomes = derived(&deployments, &[]);
    // Pending deployments have no outcome.
    assert_eq!(
        outcomes
            .iter()
            .map(|o| o.deployment.number)
            .collect::<Vec<_>>(),
        [1, 2, 4]
    );

    let first = of(&outcomes, 1);
    assert!(first.change_failure);
    assert_eq!(
        first.causes,
        [FailureCause::RemediatedBy {
            deployment: id(4),
            number: 4,
            remediation: vec![Remediation::Hotfix, Remediation::Rollback],
        }]
    );
    assert_eq!(
        first.recovery,
        Some(Recovery::NextSuccess {
            deployment: id(4),
            number: 4,
            recovered_at: day(1) + hours(3),
            seconds: 3.0 * HOUR,
        })
    );
    assert!(!first.rework);
    assert_eq!(
        first.neighbours,
        Neighbours {
            previous: None,
            next: Some(id(2)),
            next_success: Some(id(4)),
        }
    );

    // A failure is (a) only: (b) is for deployments that succeeded.
    let failed = of(&outcomes, 2);
    assert_eq!(failed.causes, [FailureCause::StatusFailure]);
    assert_eq!(
        failed.recovery.as_ref().and_then(Recovery::seconds),
        Some(2.0 * HOUR)
    );
    assert_eq!(failed.neighbours.previous, Some(id(1)));
    assert_eq!(failed.neighbours.next, Some(id(3)));

    let hotfix = of(&outcomes, 4);
    assert!(!hotfix.change_failure);
    assert!(hotfix.causes.is_empty());
    assert_eq!(hotfix.recovery, None);
    assert!(hotfix.rework);
    assert_eq!(hotfix.flags, [Remediation::Hotfix, Remediation::Rollback]);
    assert_eq!(
        hotfix.neighbours,
        Neighbours {
            previous: Some(id(3)),
            next: None,
            next_success: None,
        }
    );
    assert_eq!(
        hotfix.row(),
        OutcomeRow {
            deployed_at: day(1) + hours(3),
            outcome: Success,
            change_failure: false,
            recovery_seconds: None,
            rework: true,
        }
    );
}

#[test]
fn every_cause_that_applies() {
    let deployments = [dep(1, day(1), Success), dep(2, day(5), Success).fix()];
    let incidents = [
        // By repository and time: the latest success before day 3 is deployment 1.
        incident(7, day(3), Some(day(4))),
        // Named, started earlier, resolved later.
        incident_on(1, day(2), Some(day(6))),
    ];
    let outcomes = derived(&deployments, &incidents);
    let first = of(&outcomes, 1);
    assert_eq!(
        first.causes,
        [
            FailureCause::RemediatedBy {
                deployment: id(2),
                number: 2,
                remediation: vec![Remediation::Fix],
            },
            // Incidents in (started_at, id) order.
            FailureCause::Incident {
                incident: incidents[1].id,
                attributed_by: AttributedBy::Id,
            },
            FailureCause::Incident {
                incident: incidents[0].id,
                attributed_by: AttributedBy::RepositoryAndTime,
            },
        ]
    );
    // With incidents attributed, the last resolution decides (not the next success).
    assert_eq!(
        first.recovery,
        Some(Recovery::IncidentResolved {
            incident: incidents[1].id,
            recovered_at: day(6),
            seconds: 5.0 * DAY,
        })
    );
    // `is_fix` is a remediation but not rework.
    assert!(!of(&outcomes, 2).rework);
    assert!(!of(&outcomes, 2).change_failure);
}

#[test]
fn unrecovered_change_failures_say_why() {
    let deployments = [
        dep(1, day(1), Success),
        dep(2, day(2), Success).repo(OTHER_REPO),
        dep(3, day(3), Failure).repo(OTHER_REPO),
    ];
    let incidents = [
        incident_on(1, day(1), Some(day(2))),
        incident_on(1, day(1) + hours(1), None),
        IncidentFact {
            deployment: Some(id(2)),
            ..incident(8, day(4), None)
        },
    ];
    let outcomes = derived(&deployments, &incidents);
    assert_eq!(
        of(&outcomes, 1).recovery,
        Some(Recovery::IncidentsOpen {
            incidents: vec![incidents[1].id],
        })
    );
    assert_eq!(
        of(&outcomes, 2).causes,
        [FailureCause::Incident {
            incident: incidents[2].id,
            attributed_by: AttributedBy::Id,
        }]
    );
    // A failure with nothing after it.
    assert_eq!(of(&outcomes, 3).recovery, Some(Recovery::NoLaterSuccess));
    assert_eq!(of(&outcomes, 3).row().recovery_seconds, None);
    assert!(of(&outcomes, 3).row().change_failure);
}

#[test]
fn every_commit_has_a_verdict() {
    let deployments = [
        dep(1, day(-3), Success).commit("old", day(-4)),
        dep(2, day(2), Success)
            .commit("a", day(1))
            .commit("skewed", day(2) + hours(1))
            .commit("a", day(0))
            .commit("old", day(-4)),
        dep(3, day(3), Failure).commit("b", day(1)),
        dep(4, day(4), Success)
            .commit("a", day(1))
            .commit("b", day(1)),
        // Another stream has its own history.
        dep(5, day(4), Success).env("staging").commit("a", day(1)),
    ];
    let outcomes = derived(&deployments, &[]);
    let verdicts = |n| {
        of(&outcomes, n)
            .commits
            .iter()
            .map(|c| (c.sha.as_str(), c.lead_time))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        verdicts(2),
        [
            ("a", CommitLeadTime::Sample { seconds: DAY }),
            (
                "skewed",
                CommitLeadTime::CommittedAfterDeployment { seconds: -HOUR }
            ),
            ("a", CommitLeadTime::ListedTwice),
            ("old", CommitLeadTime::ShippedEarlier { by: id(1) }),
        ]
    );
    // A failure ships nothing: `b` is first shipped by deployment 4.
    assert!(of(&outcomes, 3).commits.is_empty());
    assert_eq!(
        verdicts(4),
        [
            ("a", CommitLeadTime::ShippedEarlier { by: id(2) }),
            ("b", CommitLeadTime::Sample { seconds: 3.0 * DAY }),
        ]
    );
    assert_eq!(
        verdicts(5),
        [("a", CommitLeadTime::Sample { seconds: 3.0 * DAY })]
    );
    assert_eq!(
        of(&outcomes, 4).lead_time_samples().collect::<Vec<_>>(),
        [3.0 * DAY]
    );
    // Deployment 1 is before the window: it only decides what was shipped.
    assert!(outcomes.iter().all(|o| o.deployment.number != 1));
}

#[test]
fn ordered_by_time_then_number_across_streams() {
    let deployments = [
        dep(5, day(2), Success).env("staging"),
        dep(3, day(2), Failure),
        dep(9, day(1), Success).repo(OTHER_REPO),
        dep(1, day(3), Success),
        dep(2, day(30), Success),
        dep(4, day(-1), Failure),
    ];
    let outcomes = derived(&deployments, &[]);
    let order: Vec<_> = outcomes.iter().map(|o| o.deployment.number).collect();
    assert_eq!(order, [9, 3, 5, 1]);
    // Deployment 2, after the window, is still the neighbour of deployment 1.
    assert_eq!(of(&outcomes, 1).neighbours.next, Some(id(2)));
    assert_eq!(of(&outcomes, 1).neighbours.next_success, Some(id(2)));
    assert_eq!(of(&outcomes, 3).neighbours.previous, Some(id(4)));
    assert_eq!(
        of(&outcomes, 5).deployment,
        DeploymentRef {
            id: id(5),
            number: 5,
            repository: crate::compute::tests::REPO,
            environment: "staging".into(),
            deployed_at: day(2),
        }
    );
}

#[test]
fn negative_recovery_is_kept_as_the_engine_counts_it() {
    let deployments = [dep(1, day(5), Success)];
    let incidents = [incident_on(1, day(3), Some(day(4)))];
    let outcomes = derived(&deployments, &incidents);
    assert_eq!(
        of(&outcomes, 1).row().recovery_seconds,
        Some(seconds_between(day(5), day(4)))
    );
}

#[test]
fn outcomes_serialize_in_snake_case() {
    let deployments = [
        dep(1, day(1), Success).commit("a", day(1) - hours(1)),
        dep(2, day(2), Success).rollback().commit("a", day(0)),
    ];
    let incidents = [incident_on(1, day(1), None)];
    let outcomes = derived(&deployments, &incidents);
    let value = serde_json::to_value(&outcomes).unwrap();
    let first = &value[0];
    assert_eq!(first["outcome"], "success");
    assert_eq!(first["deployment"]["environment"], PROD);
    assert_eq!(first["causes"][0]["cause"], "remediated_by");
    assert_eq!(first["causes"][0]["remediation"][0], "rollback");
    assert_eq!(first["causes"][1]["cause"], "incident");
    assert_eq!(first["causes"][1]["attributed_by"], "id");
    assert_eq!(first["recovery"]["how"], "incidents_open");
    assert_eq!(first["commits"][0]["lead_time"]["verdict"], "sample");
    assert_eq!(first["commits"][0]["lead_time"]["seconds"], HOUR);
    assert_eq!(first["neighbours"]["next_success"], id(2).to_string());
    let second = &value[1];
    assert_eq!(
        second["commits"][0]["lead_time"]["verdict"],
        "shipped_earlier"
    );
    assert_eq!(second["commits"][0]["lead_time"]["by"], id(1).to_string());
    assert_eq!(second["recovery"], serde_json::Value::Null);
    assert_eq!(second["rework"], true);
}

#[test]
fn summarize_counts_rows_like_compute() {
    let deployments = [
        dep(1, day(-2), Success).commit("a", day(-3)),
        dep(2, day(1), Success)
            .commit("a", day(0))
            .commit("b", day(0)),
        dep(3, day(2), Success).hotfix(),
        dep(4, day(3), Failure),
        dep(5, day(4), Pending),
        dep(6, day(31), Success),
    ];
    let incidents = [
        incident(1, day(5), Some(day(5) + hours(2))),
        incident(2, day(6), None),
        incident(3, day(-5), Some(day(1))),
    ];
    let facts = Facts {
        deployments: &deployments,
        incidents: &incidents,
    };
    let outcomes = derive(&facts, &window());
    let rows: Vec<OutcomeRow> = outcomes.iter().map(DeploymentOutcome::row).collect();
    let samples: Vec<f64> = outcomes
        .iter()
        .flat_map(DeploymentOutcome::lead_time_samples)
        .collect();
    assert_eq!(samples, [DAY]);
    let expected = crate::compute(&facts, &window(), Benchmark::Y2023);
    assert_eq!(
        summarize(&window(), &rows, &samples, &incidents, Benchmark::Y2023),
        expected
    );
    assert_eq!(expected.change_failure_rate.failures, 3);
    assert_eq!(expected.failed_deployment_recovery_time.unrecovered, 1);

    // Rows outside the window and pending rows count nothing.
    let mut more = rows.clone();
    more.push(OutcomeRow {
        deployed_at: day(30),
        ..rows[0]
    });
    more.push(OutcomeRow {
        outcome: Pending,
        change_failure: true,
        ..rows[0]
    });
    assert_eq!(
        summarize(&window(), &more, &samples, &incidents, Benchmark::Y2023),
        expected
    );
}
