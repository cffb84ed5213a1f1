//! Property tests of the engine.
//!
//! 1. `compute` agrees, field by field, with a deliberately naive implementation written
//!    straight from DESIGN.md §5: nested loops, no indexes, its own percentile, bucket and tier
//!    code. Only the data types are shared with the engine.
//! 2. `compute` on the full history equals `compute` on the *sufficient subset* the crate
//!    documentation promises is enough (in two forms: trimmed real deployments, and earlier
//!    history condensed into one synthetic deployment per stream), whatever the input order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use dora_metrics::{Facts, compute, compute_each};
use proptest::prelude::*;
use support::*;

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

        let subset = sufficient_subset(&history, &window, condensed, seed);
        let subset = run(&subset.deployments, &subset.incidents, &window, benchmark);
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
