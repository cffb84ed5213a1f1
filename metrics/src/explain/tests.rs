//! Unit tests of the explain listing: names, shapes and order. That every listing adds up to
//! the summary is a property test (tests/explain.rs).

#![allow(clippy::unwrap_used)]

use super::*;
use crate::compute::tests::{Build, HOUR, day, dep, hours, id, incident, incident_on, window};
use crate::facts::{DeploymentFact, Outcome::*};
use crate::outcomes::AttributedBy;

fn listing(
    deployments: &[DeploymentFact],
    incidents: &[IncidentFact],
    metric: Metric,
) -> Vec<ExplainItem> {
    explain(
        &Facts {
            deployments,
            incidents,
        },
        &window(),
        metric,
    )
}

fn numbers(items: &[ExplainItem]) -> Vec<i64> {
    items
        .iter()
        .filter_map(|item| match item {
            ExplainItem::Deployment(item) => Some(item.deployment.number),
            ExplainItem::Commit(item) => Some(item.deployment.number),
            ExplainItem::ChangeFailure(item) => Some(item.deployment.number),
            ExplainItem::Recovery(item) => Some(item.deployment.number),
            ExplainItem::Rework(item) => Some(item.deployment.number),
            ExplainItem::Incident(_) => None,
        })
        .collect()
}

#[test]
fn metric_names_parse_and_display() {
    for metric in Metric::ALL {
        assert_eq!(metric.to_string().parse::<Metric>(), Ok(metric));
        assert_eq!(
            serde_json::to_value(metric).unwrap(),
            serde_json::Value::from(metric.as_str())
        );
    }
    let error = "mttr".parse::<Metric>().unwrap_err();
    assert_eq!(error, ParseMetricError("mttr".into()));
    assert_eq!(
        error.to_string(),
        "unknown metric `mttr`: expected one of deployment_frequency, change_lead_time, \
         change_failure_rate, failed_deployment_recovery_time, deployment_rework_rate, \
         time_to_restore"
    );
}

/// Deployments 1–6 of one stream (numbers out of time order at day 2) and one incident.
fn scenario() -> (Vec<DeploymentFact>, Vec<IncidentFact>) {
    let deployments = vec![
        dep(6, day(-1), Success).commit("old", day(-2)),
        dep(3, day(2), Success)
            .commit("b", day(1))
            .commit("old", day(-2)),
        dep(2, day(2), Failure).commit("x", day(1)),
        dep(4, day(3), Pending),
        dep(5, day(4), Success)
            .rollback()
            .commit("c", day(4) + hours(1)),
        dep(1, day(5), Success).fix(),
    ];
    let incidents = vec![
        incident_on(5, day(4) + hours(2), None),
        incident(9, day(-3), Some(day(-2))),
        incident(8, day(6), Some(day(6) + hours(3))),
    ];
    (deployments, incidents)
}

#[test]
fn each_metric_lists_its_facts_in_order() {
    let (deployments, incidents) = scenario();
    let list = |metric| listing(&deployments, &incidents, metric);

    assert_eq!(numbers(&list(Metric::DeploymentFrequency)), [3, 5, 1]);
    assert_eq!(numbers(&list(Metric::ChangeLeadTime)), [3, 3, 5]);
    assert_eq!(numbers(&list(Metric::ChangeFailureRate)), [2, 3, 5, 1]);
    // 2: failed; 3: rolled back by 5; 5: incident named; 1: incident 8 by repository and time.
    assert_eq!(
        numbers(&list(Metric::FailedDeploymentRecoveryTime)),
        [2, 3, 5, 1]
    );
    assert_eq!(numbers(&list(Metric::DeploymentReworkRate)), [3, 5, 1]);

    let commits: Vec<_> = list(Metric::ChangeLeadTime)
        .into_iter()
        .map(|item| match item {
            ExplainItem::Commit(item) => (item.sha, item.lead_time),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        commits,
        [
            (
                "b".to_string(),
                CommitLeadTime::Sample { seconds: 86_400.0 }
            ),
            (
                "old".to_string(),
                CommitLeadTime::ShippedEarlier { by: id(6) }
            ),
            (
                "c".to_string(),
                CommitLeadTime::CommittedAfterDeployment { seconds: -HOUR }
            ),
        ]
    );

    let rework: Vec<_> = list(Metric::DeploymentReworkRate)
        .into_iter()
        .map(|item| match item {
            ExplainItem::Rework(item) => (item.rework, item.flags),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        rework,
        [
            (false, vec![]),
            (true, vec![Remediation::Rollback]),
            (false, vec![Remediation::Fix]),
        ]
    );

    let restore = list(Metric::TimeToRestore);
    assert_eq!(
        restore,
        [
            ExplainItem::Incident(IncidentItem {
                incident: incidents[0].id,
                repository: incidents[0].repository,
                environment: "production".into(),
                deployment: Some(id(5)),
                started_at: day(4) + hours(2),
                resolved_at: None,
                seconds: None,
            }),
            ExplainItem::Incident(IncidentItem {
                incident: incidents[2].id,
                repository: incidents[2].repository,
                environment: "production".into(),
                deployment: None,
                started_at: day(6),
                resolved_at: Some(day(6) + hours(3)),
                seconds: Some(3.0 * HOUR),
            }),
        ]
    );
}

#[test]
fn recovery_items_say_how() {
    let (deployments, incidents) = scenario();
    let items = listing(
        &deployments,
        &incidents,
        Metric::FailedDeploymentRecoveryTime,
    );
    let how: Vec<_> = items
        .iter()
        .map(|item| match item {
            ExplainItem::Recovery(item) => (item.causes.clone(), item.recovery.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        how[0],
        (
            vec![FailureCause::StatusFailure],
            Recovery::NextSuccess {
                deployment: id(3),
                number: 3,
                recovered_at: day(2),
                seconds: 0.0,
            }
        )
    );
    // Remediated by the fix that follows, and an incident names it: both causes.
    assert_eq!(
        how[2],
        (
            vec![
                FailureCause::RemediatedBy {
                    deployment: id(1),
                    number: 1,
                    remediation: vec![Remediation::Fix],
                },
                FailureCause::Incident {
                    incident: incidents[0].id,
                    attributed_by: AttributedBy::Id,
                },
            ],
            Recovery::IncidentsOpen {
                incidents: vec![incidents[0].id],
            }
        )
    );
    assert_eq!(
        how[3].1,
        Recovery::IncidentResolved {
            incident: incidents[2].id,
            recovered_at: day(6) + hours(3),
            seconds: 27.0 * HOUR,
        }
    );
}

#[test]
fn from_outcomes_ignores_what_is_outside_the_window() {
    let (deployments, incidents) = scenario();
    let facts = Facts {
        deployments: &deployments,
        incidents: &incidents,
    };
    let everything = Window {
        from: DateTime::<Utc>::MIN_UTC,
        to: DateTime::<Utc>::MAX_UTC,
    };
    let mut outcomes = derive(&facts, &everything);
    outcomes.reverse();
    for metric in Metric::ALL {
        assert_eq!(
            explain_outcomes(&outcomes, &incidents, &window(), metric),
            explain(&facts, &window(), metric),
            "{metric}"
        );
    }
}

#[test]
fn items_serialize_with_their_kind() {
    let (deployments, incidents) = scenario();
    let json = |metric| serde_json::to_value(listing(&deployments, &incidents, metric)).unwrap();

    let frequency = json(Metric::DeploymentFrequency);
    assert_eq!(frequency[0]["kind"], "deployment");
    assert_eq!(frequency[0]["deploy_date"], "2025-01-03");
    assert_eq!(frequency[0]["deployment"]["number"], 3);
    assert_eq!(
        frequency[0]["deployment"]["deployed_at"],
        "2025-01-03T00:00:00Z"
    );

    let lead = json(Metric::ChangeLeadTime);
    assert_eq!(lead[0]["kind"], "commit");
    assert_eq!(lead[0]["sha"], "b");
    assert_eq!(lead[0]["lead_time"]["verdict"], "sample");
    assert_eq!(
        lead[2]["lead_time"]["verdict"],
        "committed_after_deployment"
    );

    let failures = json(Metric::ChangeFailureRate);
    assert_eq!(failures[0]["kind"], "change_failure");
    assert_eq!(failures[0]["outcome"], "failure");
    assert_eq!(failures[0]["change_failure"], true);
    assert_eq!(failures[0]["causes"][0]["cause"], "status_failure");
    assert_eq!(failures[1]["causes"][0]["cause"], "remediated_by");

    let recovery = json(Metric::FailedDeploymentRecoveryTime);
    assert_eq!(recovery[0]["kind"], "recovery");
    assert_eq!(recovery[0]["recovery"]["how"], "next_success");
    assert_eq!(recovery[3]["recovery"]["how"], "incident_resolved");
    assert_eq!(
        recovery[3]["causes"][0]["attributed_by"],
        "repository_and_time"
    );

    let rework = json(Metric::DeploymentReworkRate);
    assert_eq!(rework[1]["kind"], "rework");
    assert_eq!(rework[1]["flags"][0], "rollback");

    let restore = json(Metric::TimeToRestore);
    assert_eq!(restore[0]["kind"], "incident");
    assert!(restore[0]["seconds"].is_null());
    assert_eq!(restore[1]["seconds"], 3.0 * HOUR);
}
