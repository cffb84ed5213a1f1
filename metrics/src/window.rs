//! The half-open time window `[from, to)` a metrics query covers, and how it is cut into buckets:
//! series buckets aligned to the calendar in UTC ([`Window::calendar_buckets`]), the older
//! fixed-span chart buckets counted back from `to` ([`Window::buckets`]), and the
//! deployment-frequency buckets (7- and 30-day spans lying wholly in the window).

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, SecondsFormat, TimeDelta, Utc,
};
use serde::Serialize;

/// The longest window a query may ask for (two years and a day, so that "the last two years"
/// fits whatever the leap years).
pub const MAX_WINDOW_DAYS: i64 = 731;

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const SECONDS_PER_DAY: f64 = 86_400.0;

/// A half-open interval of time `[from, to)`: a fact at `from` is inside, one at `to` is not.
///
/// The fields are public for reading; build windows with [`Window::new`] or
/// [`Window::last_days`], which enforce `from < to` and the length limit. A window built by hand
/// that is empty contains no facts; one longer than [`MAX_WINDOW_DAYS`] works but costs time and
/// memory in proportion to its number of buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Why a window was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowError {
    /// `from` is not before `to`.
    Empty {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    /// Longer than [`MAX_WINDOW_DAYS`].
    TooLong,
    /// The arithmetic left chrono's range of dates.
    OutOfRange,
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::Empty { from, to } => write!(
                f,
                "the window is empty: `from` ({}) must be before `to` ({})",
                from.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                to.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
            WindowError::TooLong => {
                write!(f, "the window is longer than {MAX_WINDOW_DAYS} days")
            }
            WindowError::OutOfRange => f.write_str("the window lies outside the supported dates"),
        }
    }
}

impl std::error::Error for WindowError {}

impl Window {
    /// `[from, to)`, which must be non-empty and at most [`MAX_WINDOW_DAYS`] long.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Window, WindowError> {
        if from >= to {
            return Err(WindowError::Empty { from, to });
        }
        if to - from > TimeDelta::days(MAX_WINDOW_DAYS) {
            return Err(WindowError::TooLong);
        }
        Ok(Window { from, to })
    }

    /// The `days` days up to `now`: `[now − days, now)`.
    pub fn last_days(days: i64, now: DateTime<Utc>) -> Result<Window, WindowError> {
        if days > MAX_WINDOW_DAYS {
            return Err(WindowError::TooLong);
        }
        let from = TimeDelta::try_days(days)
            .and_then(|length| now.checked_sub_signed(length))
            .ok_or(WindowError::OutOfRange)?;
        Window::new(from, now)
    }

    /// Length in days, fractional (0 for an empty window built by hand).
    pub fn days(&self) -> f64 {
        if self.from >= self.to {
            return 0.0;
        }
        (self.to - self.from).as_seconds_f64() / SECONDS_PER_DAY
    }

    /// Whether `t` lies in `[from, to)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    /// Consecutive spans of one `interval` counted back from `to`, oldest first, for charts.
    ///
    /// Unlike the deployment-frequency buckets, a partial span left at the start is included,
    /// clipped to `from`, so the buckets cover the window exactly.
    ///
    /// Superseded by [`Window::calendar_buckets`]: DESIGN.md §6 aligns series buckets to the
    /// calendar, and the HTTP layer uses those; these fixed spans remain for tests that
    /// exercise `compute_each` over many windows.
    pub fn buckets(&self, interval: Interval) -> Vec<Window> {
        let span = interval.span();
        let mut buckets = Vec::new();
        let mut end = self.to;
        while end > self.from {
            let start = end
                .checked_sub_signed(span)
                .map_or(self.from, |start| start.max(self.from));
            buckets.push(Window {
                from: start,
                to: end,
            });
            end = start;
        }
        buckets.reverse();
        buckets
    }

    /// The window cut at the calendar boundaries of `interval` in UTC, oldest first, for
    /// series (DESIGN.md §6): days from midnight, ISO weeks from Monday 00:00, calendar months
    /// from the 1st at 00:00 ([`Interval::Month`] is a calendar month here, not 30 days).
    ///
    /// The buckets cover the window exactly. A first bucket starting after its day, week or
    /// month began, or a last one ending before it ends, is clipped to the window and
    /// [`partial`](Bucket::partial); every other bucket is a whole calendar unit. A window built
    /// by hand that is empty has no buckets; one spanning millennia has as many as it says.
    pub fn calendar_buckets(&self, interval: Interval) -> Vec<Bucket> {
        let mut buckets = Vec::new();
        let mut from = self.from;
        while from < self.to {
            let (start, end) = calendar_unit(from, interval);
            // The unit holding `from` ends after it, so every step advances.
            let to = end.map_or(self.to, |end| end.min(self.to));
            buckets.push(Bucket {
                window: Window { from, to },
                partial: start != Some(from) || end != Some(to),
            });
            from = to;
        }
        buckets
    }
}

/// One bucket of a calendar-aligned series ([`Window::calendar_buckets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Bucket {
    pub window: Window,
    /// The window cuts this day, week or month short (only the first and the last bucket can
    /// be): its numbers cover part of the unit, so it carries no tier (DESIGN.md §6).
    pub partial: bool,
}

/// The calendar unit of `interval` (UTC day, ISO week, calendar month) holding `t`: its start and
/// end, each `None` where it falls outside chrono's range of dates.
fn calendar_unit(
    t: DateTime<Utc>,
    interval: Interval,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let date = t.date_naive();
    let start = match interval {
        Interval::Day => Some(date),
        Interval::Week => {
            date.checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday())))
        }
        Interval::Month => date.with_day(1),
    };
    let end = start.and_then(|start| match interval {
        Interval::Day => start.checked_add_days(Days::new(1)),
        Interval::Week => start.checked_add_days(Days::new(7)),
        Interval::Month => start.checked_add_months(Months::new(1)),
    });
    let midnight = |date: NaiveDate| date.and_time(NaiveTime::MIN).and_utc();
    (start.map(midnight), end.map(midnight))
}

/// The span of a bucket: a day, a week or a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// 1 day.
    Day,
    /// 7 days.
    Week,
    /// A calendar month in [`Window::calendar_buckets`]; 30 days (DORA's "month") in
    /// [`Interval::days`] and [`Window::buckets`].
    Month,
}

impl Interval {
    /// Length of one [`Window::buckets`] span in days (a month is 30).
    pub fn days(self) -> i64 {
        match self {
            Interval::Day => 1,
            Interval::Week => 7,
            Interval::Month => 30,
        }
    }

    fn span(self) -> TimeDelta {
        TimeDelta::days(self.days())
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        })
    }
}

/// An interval name other than `day`, `week` or `month`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIntervalError(pub String);

impl fmt::Display for ParseIntervalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown interval `{}`: expected day, week or month",
            self.0
        )
    }
}

impl std::error::Error for ParseIntervalError {}

impl FromStr for Interval {
    type Err = ParseIntervalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            "month" => Ok(Interval::Month),
            other => Err(ParseIntervalError(other.to_owned())),
        }
    }
}

/// The deployment-frequency buckets of a window: consecutive spans of `span_days` counted back
/// from `to` that lie wholly in the window, or the whole window as one bucket when it is shorter
/// than one span. Bucket 0 is the newest (ending at `to`).
///
/// Kept as arithmetic rather than a list so that placing a deployment costs O(1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WholeBuckets {
    window: Window,
    span_nanos: i128,
    count: usize,
}

impl WholeBuckets {
    pub(crate) fn new(window: &Window, span_days: i64) -> WholeBuckets {
        let length = nanos(window.to - window.from);
        let span = i128::from(span_days) * 86_400 * NANOS_PER_SECOND;
        if length <= 0 || span <= 0 {
            return WholeBuckets {
                window: *window,
                span_nanos: 1,
                count: 0,
            };
        }
        // A window shorter than a span is one bucket: the whole window.
        let span_nanos = span.min(length);
        WholeBuckets {
            window: *window,
            span_nanos,
            count: usize::try_from(length / span_nanos).unwrap_or(usize::MAX),
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The bucket holding `t`, if any (times in the partial span at the start belong to none).
    pub(crate) fn index_of(&self, t: DateTime<Utc>) -> Option<usize> {
        if !self.window.contains(t) {
            return None;
        }
        let back = nanos(self.window.to - t);
        // `to` itself is outside, so `back` > 0; the bucket ending at `to` holds (to − span, to].
        // Half-open [start, end) means t = end − span belongs to that bucket, t = end does not:
        // index = (back − 1) / span.
        let index = usize::try_from((back - 1) / self.span_nanos).ok()?;
        (index < self.count).then_some(index)
    }
}

/// A duration in nanoseconds, exact over chrono's whole range.
fn nanos(delta: TimeDelta) -> i128 {
    // num_seconds rounds toward zero and subsec_nanos carries the sign, so the sum is exact.
    i128::from(delta.num_seconds()) * NANOS_PER_SECOND + i128::from(delta.subsec_nanos())
}

/// `later − earlier` in seconds.
pub(crate) fn seconds_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> f64 {
    (later - earlier).as_seconds_f64()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn days(n: i64) -> TimeDelta {
        TimeDelta::days(n)
    }

    #[test]
    fn new_checks_order_and_length() {
        let t = at(2025, 1, 1, 0);
        assert_eq!(
            Window::new(t, t),
            Err(WindowError::Empty { from: t, to: t })
        );
        assert!(matches!(
            Window::new(t + days(1), t),
            Err(WindowError::Empty { .. })
        ));
        assert!(Window::new(t, t + days(MAX_WINDOW_DAYS)).is_ok());
        assert_eq!(
            Window::new(t, t + days(MAX_WINDOW_DAYS) + TimeDelta::seconds(1)),
            Err(WindowError::TooLong)
        );
        assert!(Window::new(t, t + TimeDelta::nanoseconds(1)).is_ok());
    }

    #[test]
    fn last_days() {
        let now = at(2025, 3, 1, 12);
        let w = Window::last_days(30, now).unwrap();
        assert_eq!(w.to, now);
        assert_eq!(w.from, now - days(30));
        assert_eq!(w.days(), 30.0);
        assert!(Window::last_days(MAX_WINDOW_DAYS, now).is_ok());
        assert_eq!(
            Window::last_days(MAX_WINDOW_DAYS + 1, now),
            Err(WindowError::TooLong)
        );
        assert!(matches!(
            Window::last_days(0, now),
            Err(WindowError::Empty { .. })
        ));
        assert!(matches!(
            Window::last_days(-3, now),
            Err(WindowError::Empty { .. })
        ));
        assert_eq!(
            Window::last_days(i64::MIN, now),
            Err(WindowError::OutOfRange)
        );
        assert_eq!(
            Window::last_days(1, DateTime::<Utc>::MIN_UTC),
            Err(WindowError::OutOfRange)
        );
    }

    #[test]
    fn days_is_fractional_and_never_nan() {
        let t = at(2025, 1, 1, 0);
        let w = Window::new(t, t + TimeDelta::hours(36)).unwrap();
        assert_eq!(w.days(), 1.5);
        let backwards = Window {
            from: t,
            to: t - days(1),
        };
        assert_eq!(backwards.days(), 0.0);
        assert_eq!(Window { from: t, to: t }.days(), 0.0);
    }

    #[test]
    fn contains_is_half_open() {
        let t = at(2025, 1, 1, 0);
        let w = Window::new(t, t + days(1)).unwrap();
        assert!(w.contains(t));
        assert!(w.contains(t + days(1) - TimeDelta::nanoseconds(1)));
        assert!(!w.contains(t + days(1)));
        assert!(!w.contains(t - TimeDelta::nanoseconds(1)));
    }

    #[test]
    fn errors_display() {
        let t = at(2025, 1, 1, 0);
        assert_eq!(
            WindowError::Empty { from: t, to: t }.to_string(),
            "the window is empty: `from` (2025-01-01T00:00:00Z) must be before `to` (2025-01-01T00:00:00Z)"
        );
        assert_eq!(
            WindowError::TooLong.to_string(),
            "the window is longer than 731 days"
        );
    }

    #[test]
    fn interval_parse_and_display() {
        for interval in [Interval::Day, Interval::Week, Interval::Month] {
            assert_eq!(interval.to_string().parse::<Interval>(), Ok(interval));
        }
        assert_eq!(
            "fortnight".parse::<Interval>(),
            Err(ParseIntervalError("fortnight".into()))
        );
        assert_eq!(Interval::Month.days(), 30);
    }

    /// (window length, interval, expected chart bucket lengths oldest first as (count, days) runs)
    #[test]
    fn chart_buckets() {
        let to = at(2025, 6, 1, 15);
        let cases: &[(TimeDelta, Interval, usize, TimeDelta)] = &[
            // (window length, interval, bucket count, length of the first (oldest) bucket)
            (days(30), Interval::Day, 30, days(1)),
            (days(30), Interval::Week, 5, days(2)),
            (days(30), Interval::Month, 1, days(30)),
            (days(7), Interval::Day, 7, days(1)),
            (days(7), Interval::Week, 1, days(7)),
            (days(7), Interval::Month, 1, days(7)),
            (days(3), Interval::Day, 3, days(1)),
            (days(3), Interval::Week, 1, days(3)),
            (days(3), Interval::Month, 1, days(3)),
            (days(731), Interval::Day, 731, days(1)),
            (days(731), Interval::Week, 105, days(3)),
            (days(731), Interval::Month, 25, days(11)),
            (TimeDelta::hours(36), Interval::Day, 2, TimeDelta::hours(12)),
        ];
        for &(length, interval, count, first) in cases {
            let w = Window::new(to - length, to).unwrap();
            let buckets = w.buckets(interval);
            assert_eq!(buckets.len(), count, "{length} {interval}");
            assert_eq!(buckets[0].from, w.from, "{length} {interval}");
            assert_eq!(
                buckets[0].to - buckets[0].from,
                first,
                "{length} {interval}"
            );
            assert_eq!(buckets[count - 1].to, to, "{length} {interval}");
            for pair in buckets.windows(2) {
                assert_eq!(pair[0].to, pair[1].from);
                assert_eq!(pair[1].to - pair[1].from, interval.span());
            }
        }
    }

    #[test]
    fn chart_buckets_of_an_empty_window() {
        let t = at(2025, 1, 1, 0);
        assert!(Window { from: t, to: t }.buckets(Interval::Day).is_empty());
        assert!(
            Window {
                from: t,
                to: t - days(3)
            }
            .buckets(Interval::Week)
            .is_empty()
        );
    }

    fn at_minute(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    /// The buckets as (from, to, partial).
    fn calendar(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        interval: Interval,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>, bool)> {
        Window::new(from, to)
            .unwrap()
            .calendar_buckets(interval)
            .into_iter()
            .map(|bucket| (bucket.window.from, bucket.window.to, bucket.partial))
            .collect()
    }

    #[test]
    fn calendar_weeks_from_a_tuesday_evening() {
        // 2025-03-04 is a Tuesday; 2025-03-27 a Thursday.
        let from = at_minute(2025, 3, 4, 18, 22);
        let to = at(2025, 3, 27, 9);
        assert_eq!(
            calendar(from, to, Interval::Week),
            [
                (from, at(2025, 3, 10, 0), true),
                (at(2025, 3, 10, 0), at(2025, 3, 17, 0), false),
                (at(2025, 3, 17, 0), at(2025, 3, 24, 0), false),
                (at(2025, 3, 24, 0), to, true),
            ]
        );
        assert_eq!(at(2025, 3, 10, 0).weekday(), chrono::Weekday::Mon);
    }

    #[test]
    fn calendar_days_split_at_midnight() {
        let from = at_minute(2025, 3, 4, 18, 22);
        let to = at(2025, 3, 6, 9);
        assert_eq!(
            calendar(from, to, Interval::Day),
            [
                (from, at(2025, 3, 5, 0), true),
                (at(2025, 3, 5, 0), at(2025, 3, 6, 0), false),
                (at(2025, 3, 6, 0), to, true),
            ]
        );
    }

    #[test]
    fn calendar_months_across_a_leap_february() {
        let from = at(2024, 1, 15, 0);
        let to = at(2024, 4, 10, 0);
        let buckets = calendar(from, to, Interval::Month);
        assert_eq!(
            buckets,
            [
                (from, at(2024, 2, 1, 0), true),
                (at(2024, 2, 1, 0), at(2024, 3, 1, 0), false),
                (at(2024, 3, 1, 0), at(2024, 4, 1, 0), false),
                (at(2024, 4, 1, 0), to, true),
            ]
        );
        assert_eq!(buckets[1].1 - buckets[1].0, days(29));
        assert_eq!(buckets[2].1 - buckets[2].0, days(31));
        // Not a leap year: 28 days.
        let february = calendar(at(2025, 2, 1, 0), at(2025, 3, 1, 0), Interval::Month);
        assert_eq!(february, [(at(2025, 2, 1, 0), at(2025, 3, 1, 0), false)]);
    }

    #[test]
    fn calendar_buckets_on_boundaries_are_whole() {
        // Midnight to midnight: whole days.
        let days_only = calendar(at(2025, 3, 1, 0), at(2025, 3, 8, 0), Interval::Day);
        assert_eq!(days_only.len(), 7);
        assert!(
            days_only
                .iter()
                .all(|&(from, to, partial)| !partial && to - from == days(1))
        );
        // Monday to Monday, across a year: 2024-12-30 starts ISO week 1 of 2025.
        let weeks = calendar(at(2024, 12, 23, 0), at(2025, 1, 13, 0), Interval::Week);
        assert_eq!(
            weeks,
            [
                (at(2024, 12, 23, 0), at(2024, 12, 30, 0), false),
                (at(2024, 12, 30, 0), at(2025, 1, 6, 0), false),
                (at(2025, 1, 6, 0), at(2025, 1, 13, 0), false),
            ]
        );
        let months = calendar(at(2024, 11, 1, 0), at(2025, 2, 1, 0), Interval::Month);
        assert_eq!(months.len(), 3);
        assert!(months.iter().all(|&(_, _, partial)| !partial));
        // Day boundaries that are not week boundaries: partial weeks at both ends.
        let thursday_to_thursday = calendar(at(2025, 3, 6, 0), at(2025, 3, 20, 0), Interval::Week);
        assert_eq!(
            thursday_to_thursday
                .iter()
                .map(|&(_, _, partial)| partial)
                .collect::<Vec<_>>(),
            [true, false, true]
        );
    }

    #[test]
    fn calendar_buckets_of_short_and_empty_windows() {
        // Inside one day: one bucket, partial.
        let from = at_minute(2025, 3, 4, 18, 22);
        let to = at_minute(2025, 3, 4, 19, 0);
        for interval in [Interval::Day, Interval::Week, Interval::Month] {
            assert_eq!(
                calendar(from, to, interval),
                [(from, to, true)],
                "{interval}"
            );
        }
        // Starting on a boundary, ending inside: only the last is partial.
        let from = at(2025, 3, 3, 0);
        let to = at_minute(2025, 3, 12, 7, 30);
        assert_eq!(
            calendar(from, to, Interval::Week),
            [
                (from, at(2025, 3, 10, 0), false),
                (at(2025, 3, 10, 0), to, true),
            ]
        );
        // A nanosecond after midnight is not midnight.
        let from = at(2025, 3, 5, 0) + TimeDelta::nanoseconds(1);
        let buckets = calendar(from, at(2025, 3, 7, 0), Interval::Day);
        assert_eq!(buckets[0], (from, at(2025, 3, 6, 0), true));
        assert!(!buckets[1].2);
        let t = at(2025, 1, 1, 0);
        assert!(
            Window { from: t, to: t }
                .calendar_buckets(Interval::Day)
                .is_empty()
        );
        assert!(
            Window {
                from: t,
                to: t - days(3)
            }
            .calendar_buckets(Interval::Month)
            .is_empty()
        );
    }

    #[test]
    fn calendar_buckets_at_the_ends_of_time() {
        // Units that begin or end outside chrono's dates are clipped; the buckets still tile.
        let first = DateTime::<Utc>::MIN_UTC;
        let last = DateTime::<Utc>::MAX_UTC;
        for interval in [Interval::Day, Interval::Week, Interval::Month] {
            for window in [
                Window {
                    from: first,
                    to: first + days(40),
                },
                Window {
                    from: last - days(40),
                    to: last,
                },
            ] {
                let buckets = window.calendar_buckets(interval);
                assert_eq!(buckets.first().unwrap().window.from, window.from);
                assert_eq!(buckets.last().unwrap().window.to, window.to);
                for pair in buckets.windows(2) {
                    assert_eq!(pair[0].window.to, pair[1].window.from);
                }
            }
        }
    }

    /// Frequency buckets: (window length, span days, expected count).
    #[test]
    fn whole_buckets_count() {
        let to = at(2025, 6, 1, 15);
        let cases: &[(TimeDelta, i64, usize)] = &[
            (days(30), 7, 4),
            (days(30), 30, 1),
            (days(7), 7, 1),
            (days(7), 30, 1),
            (days(3), 7, 1),
            (days(3), 30, 1),
            (days(731), 7, 104),
            (days(731), 30, 24),
            (days(14) - TimeDelta::nanoseconds(1), 7, 1),
            (days(14), 7, 2),
        ];
        for &(length, span, count) in cases {
            let w = Window::new(to - length, to).unwrap();
            assert_eq!(
                WholeBuckets::new(&w, span).count(),
                count,
                "{length} {span}"
            );
        }
        let empty = Window { from: to, to };
        assert_eq!(WholeBuckets::new(&empty, 7).count(), 0);
        assert_eq!(WholeBuckets::new(&empty, 7).index_of(to), None);
    }

    #[test]
    fn whole_buckets_place_times() {
        let to = at(2025, 6, 1, 15);
        let w = Window::new(to - days(30), to).unwrap();
        let weeks = WholeBuckets::new(&w, 7);
        let ns = TimeDelta::nanoseconds(1);
        let cases: &[(DateTime<Utc>, Option<usize>)] = &[
            (to, None),
            (to - ns, Some(0)),
            (to - days(7), Some(0)),
            (to - days(7) - ns, Some(1)),
            (to - days(28), Some(3)),
            // The two days at the start lie in no whole week.
            (to - days(28) - ns, None),
            (w.from, None),
            (w.from - ns, None),
        ];
        for &(t, index) in cases {
            assert_eq!(weeks.index_of(t), index, "{t}");
        }
        // Shorter than a span: the whole window is bucket 0.
        let short = Window::new(to - days(3), to).unwrap();
        let one = WholeBuckets::new(&short, 7);
        assert_eq!(one.index_of(short.from), Some(0));
        assert_eq!(one.index_of(to - ns), Some(0));
        assert_eq!(one.index_of(to), None);
    }
}
