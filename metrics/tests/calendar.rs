//! Property tests of the calendar-aligned series buckets (`Window::calendar_buckets`): they tile
//! the window with whole UTC days, ISO weeks or calendar months, partial only at the ends; and
//! `compute_each` over them answers what one `compute` per bucket answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc, Weekday};
use dora_metrics::{Facts, Interval, Window, compute, compute_each};
use proptest::prelude::*;
use support::*;

/// Windows up to ~4 months from any minute, sometimes exactly on midnight.
fn long_window() -> impl Strategy<Value = Window> {
    (
        time(),
        prop::bool::weighted(0.3),
        prop_oneof![
            (1..=130_i64).prop_map(TimeDelta::days),
            (1..=130 * 24 * 60_i64).prop_map(TimeDelta::minutes),
        ],
    )
        .prop_map(|(from, midnight, length)| {
            let from = if midnight {
                from.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc()
            } else {
                from
            };
            Window::new(from, from + length).unwrap()
        })
}

fn is_midnight(t: DateTime<Utc>) -> bool {
    t.num_seconds_from_midnight() == 0 && t.nanosecond() == 0
}

/// Whether `[from, to)` is one whole unit of `interval`.
fn whole_unit(from: DateTime<Utc>, to: DateTime<Utc>, interval: Interval) -> bool {
    is_midnight(from)
        && match interval {
            Interval::Day => to - from == TimeDelta::days(1),
            Interval::Week => from.weekday() == Weekday::Mon && to - from == TimeDelta::days(7),
            Interval::Month => {
                let next = if from.month() == 12 {
                    (from.year() + 1, 1)
                } else {
                    (from.year(), from.month() + 1)
                };
                from.day() == 1
                    && is_midnight(to)
                    && to.day() == 1
                    && (to.year(), to.month()) == next
            }
        }
}

/// Whether `[from, to)` lies within one unit of `interval` (the unit of `from`).
fn within_one_unit(from: DateTime<Utc>, to: DateTime<Utc>, interval: Interval) -> bool {
    let last = to - TimeDelta::nanoseconds(1);
    match interval {
        Interval::Day => from.date_naive() == last.date_naive(),
        Interval::Week => from.iso_week() == last.iso_week(),
        Interval::Month => (from.year(), from.month()) == (last.year(), last.month()),
    }
}

proptest! {
    #[test]
    fn calendar_buckets_tile_the_window(window in long_window(), interval in interval()) {
        let buckets = window.calendar_buckets(interval);
        prop_assert!(!buckets.is_empty());
        prop_assert_eq!(buckets.first().unwrap().window.from, window.from);
        prop_assert_eq!(buckets.last().unwrap().window.to, window.to);
        for pair in buckets.windows(2) {
            prop_assert_eq!(pair[0].window.to, pair[1].window.from);
        }
        let last = buckets.len() - 1;
        for (k, bucket) in buckets.iter().enumerate() {
            let (from, to) = (bucket.window.from, bucket.window.to);
            prop_assert!(from < to);
            prop_assert!(within_one_unit(from, to, interval), "{:?}", bucket);
            prop_assert_eq!(bucket.partial, !whole_unit(from, to, interval), "{:?}", bucket);
            if k != 0 && k != last {
                prop_assert!(!bucket.partial, "{:?}", bucket);
            }
        }
    }

    /// A series computes every bucket in one pass; it must answer what one `compute` per
    /// bucket answers, exactly.
    #[test]
    fn one_pass_over_calendar_buckets_equals_one_call_per_bucket(
        history in history(),
        window in long_window(),
        interval in interval(),
        benchmark in benchmark(),
    ) {
        let facts = Facts {
            deployments: &history.deployments,
            incidents: &history.incidents,
        };
        let windows: Vec<Window> = window
            .calendar_buckets(interval)
            .iter()
            .map(|bucket| bucket.window)
            .collect();
        let each = compute_each(&facts, &windows, benchmark);
        prop_assert_eq!(each.len(), windows.len());
        for (bucket, summary) in windows.iter().zip(each) {
            prop_assert_eq!(summary, compute(&facts, bucket, benchmark), "{:?}", bucket);
        }
    }
}
