//! The half-open time window `[from, to)` a metrics query covers, and how it is cut into buckets:
//! chart buckets (every span, a partial one at the start included) and the deployment-frequency
//! buckets (only spans lying wholly in the window).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
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
}

/// The span of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// 1 day.
    Day,
    /// 7 days.
    Week,
    /// 30 days (DORA's "month").
    Month,
}

impl Interval {
    /// Length of one bucket in days.
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
