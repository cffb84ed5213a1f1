//! Property tests of the derived outcomes (`derive`, `summarize`):
//!
//! 1. summarizing the outcomes' rows and lead-time samples gives exactly what `compute` gives;
//! 2. each outcome agrees with the naive implementation of DESIGN.md §5 (tests/support/naive.rs)
//!    on change failure, its causes, recovery, lead-time samples and rework;
//! 3. the sufficient subset of facts gives the same outcomes as the full history, apart from the
//!    neighbours it is documented not to know;
//! 4. the rows added up into slots (of one UTC date or of many, cut at random, keeping only
//!    each date's first and last success) summarize to `compute` too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use dora_metrics::{
    AttributedBy, CommitLeadTime, DeploymentOutcome, Facts, FailureCause, Outcome, OutcomeRow,
    OutcomeSlot, Recovery, compute, derive, summarize, summarize_slots,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use support::*;
use uuid::Uuid;

fn derived(history: &History, window: &dora_metrics::Window) -> Vec<DeploymentOutcome> {
    derive(
        &Facts {
            deployments: &history.deployments,
            incidents: &history.incidents,
        },
        window,
    )
}

/// What sufficient facts cannot know: the neighbours of any outcome just outside the window,
/// and which earlier deployment shipped a sha first (condensed, or reordered by `number`).
fn without_history(mut outcomes: Vec<DeploymentOutcome>) -> Vec<DeploymentOutcome> {
    for outcome in &mut outcomes {
        outcome.neighbours.previous = None;
        outcome.neighbours.next = None;
        for commit in &mut outcome.commits {
            if let CommitLeadTime::ShippedEarlier { by } = &mut commit.lead_time {
                *by = Uuid::nil();
            }
        }
    }
    outcomes
}

proptest! {
    #[test]
    fn summarized_outcomes_equal_compute(
        history in history(),
        window in window(),
        benchmark in benchmark(),
    ) {
        let facts = Facts {
            deployments: &history.deployments,
            incidents: &history.incidents,
        };
        let outcomes = derive(&facts, &window);
        let rows: Vec<OutcomeRow> = outcomes.iter().map(DeploymentOutcome::row).collect();
        let samples: Vec<f64> = outcomes
            .iter()
            .flat_map(DeploymentOutcome::lead_time_samples)
            .collect();
        let summarized = summarize(&window, &rows, &samples, &history.incidents, benchmark);
        prop_assert_eq!(summarized, compute(&facts, &window, benchmark));
    }

    #[test]
    fn slots_summarize_to_compute(
        history in history(),
        window in window(),
        benchmark in benchmark(),
        cuts in proptest::collection::vec(any::<u8>(), 0..64),
        per_date in any::<bool>(),
        merged in any::<bool>(),
    ) {
        let facts = Facts {
            deployments: &history.deployments,
            incidents: &history.incidents,
        };
        // Each outcome goes to a slot drawn for it (as a store groups by repository), of its
        // date too when `per_date` (as a store adds up days).
        let mut slots: BTreeMap<(Option<chrono::NaiveDate>, u8), OutcomeSlot> = BTreeMap::new();
        for (k, outcome) in derive(&facts, &window).iter().enumerate() {
            let cut = cuts.get(k).map_or(0, |c| c % 3);
            let date = per_date.then(|| outcome.deployment.deployed_at.date_naive());
            let samples: Vec<f64> = outcome.lead_time_samples().collect();
            slots
                .entry((date, cut))
                .or_default()
                .add(&outcome.row(), &samples);
        }
        let mut slots: Vec<OutcomeSlot> = slots.into_values().collect();
        if merged && slots.len() > 1 {
            // Merging slots is a slot too.
            let (first, rest) = slots.split_at_mut(1);
            for slot in rest.iter() {
                first[0].merge(slot);
            }
            slots.truncate(1);
        }
        for slot in &mut slots {
            // Only the first and the last success of each date are needed, in any order.
            let mut by_date: BTreeMap<chrono::NaiveDate, (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
                BTreeMap::new();
            for &t in &slot.success_times {
                let entry = by_date.entry(t.date_naive()).or_insert((t, t));
                entry.0 = entry.0.min(t);
                entry.1 = entry.1.max(t);
            }
            slot.success_times = by_date.into_values().rev().flat_map(|(a, b)| [b, a]).collect();
        }
        let summarized = summarize_slots(&window, &slots, &history.incidents, benchmark);
        prop_assert_eq!(summarized, compute(&facts, &window, benchmark));
    }

    #[test]
    fn outcomes_agree_with_naive(history in history(), window in window()) {
        let all = &history.deployments;
        let incidents = &history.incidents;
        let outcomes = derived(&history, &window);

        // Exactly the window's finished deployments, by (deployed_at, number).
        let mut expected: Vec<_> = all
            .iter()
            .filter(|d| naive::finished(d) && naive::inside(&window, d.deployed_at))
            .collect();
        expected.sort_by_key(|d| (d.deployed_at, d.number));
        let ids: Vec<Uuid> = outcomes.iter().map(|o| o.deployment.id).collect();
        prop_assert_eq!(ids, expected.iter().map(|d| d.id).collect::<Vec<_>>());

        for (outcome, d) in outcomes.iter().zip(expected) {
            let name = d.number;
            let change_failure = naive::change_failure(all, incidents, d);
            prop_assert_eq!(outcome.change_failure, change_failure, "{}", name);
            prop_assert_eq!(outcome.change_failure, !outcome.causes.is_empty(), "{}", name);

            // Every cause that applies, and no other.
            let next = naive::next_success(all, d);
            prop_assert_eq!(outcome.neighbours.next_success, next.map(|n| n.id), "{}", name);
            let remediated = d.outcome == Outcome::Success
                && next.is_some_and(|n| n.is_hotfix || n.is_fix || n.is_rollback);
            let mut causes = Vec::new();
            if d.outcome == Outcome::Failure {
                causes.push("status".to_string());
            }
            if remediated {
                causes.push(format!("remediated by {}", next.unwrap().id));
            }
            let mut attributed: Vec<_> = naive::incidents_of(all, incidents, d);
            attributed.sort_by_key(|i| (i.started_at, i.id));
            causes.extend(attributed.iter().map(|i| {
                let by = if i.deployment.is_some() {
                    AttributedBy::Id
                } else {
                    AttributedBy::RepositoryAndTime
                };
                format!("incident {} by {by:?}", i.id)
            }));
            let described: Vec<String> = outcome
                .causes
                .iter()
                .map(|cause| match cause {
                    FailureCause::StatusFailure => "status".to_string(),
                    FailureCause::RemediatedBy { deployment, .. } => {
                        format!("remediated by {deployment}")
                    }
                    FailureCause::Incident {
                        incident,
                        attributed_by,
                    } => format!("incident {incident} by {attributed_by:?}"),
                })
                .collect();
            prop_assert_eq!(described, causes, "{}", name);

            match &outcome.recovery {
                None => prop_assert!(!change_failure, "{}", name),
                Some(recovery) => {
                    let naive = naive::recovery_seconds(all, incidents, d);
                    prop_assert!(
                        close_option(recovery.seconds(), naive),
                        "{}: {:?} vs naive {:?}", name, recovery, naive
                    );
                    if let Recovery::IncidentsOpen { incidents: open } = recovery {
                        prop_assert!(!open.is_empty());
                    }
                }
            }

            let samples: Vec<f64> = outcome.lead_time_samples().collect();
            let naive_samples = if d.outcome == Outcome::Success {
                naive::lead_time_samples(all, d)
            } else {
                Vec::new()
            };
            prop_assert_eq!(samples.len(), naive_samples.len(), "{}", name);
            for (a, b) in samples.iter().zip(&naive_samples) {
                prop_assert!(close(*a, *b), "{}: {} vs naive {}", name, a, b);
            }
            prop_assert_eq!(
                outcome.commits.len(),
                if d.outcome == Outcome::Success { d.commits.len() } else { 0 }
            );
            prop_assert_eq!(
                outcome.rework,
                d.outcome == Outcome::Success && (d.is_hotfix || d.is_rollback)
            );
        }
    }

    #[test]
    fn sufficient_facts_give_the_same_outcomes(
        history in history(),
        window in window(),
        condensed in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let full = derived(&history, &window);
        let subset = derived(&sufficient_subset(&history, &window, condensed, seed), &window);
        prop_assert_eq!(without_history(full), without_history(subset));
    }
}
