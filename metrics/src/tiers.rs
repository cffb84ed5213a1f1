//! Performance tiers: the versioned benchmark tables that turn a metric value into `elite`,
//! `high`, `medium` or `low` (DESIGN.md §5). Boundaries are exactly as written there: `≥` for
//! deployment frequency, `<` for durations, `≤` for change failure rate.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Which benchmark table to grade against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum Benchmark {
    /// State of DevOps 2023 cut-offs (continuous versions, as Apache DevLake uses). The default.
    #[default]
    #[serde(rename = "2023")]
    Y2023,
    /// 2021: differs from 2023 in lead time and change failure rate only.
    #[serde(rename = "2021")]
    Y2021,
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Benchmark::Y2023 => "2023",
            Benchmark::Y2021 => "2021",
        })
    }
}

/// A benchmark name other than `2023` or `2021`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseBenchmarkError(pub String);

impl fmt::Display for ParseBenchmarkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown benchmark `{}`: expected 2023 or 2021", self.0)
    }
}

impl std::error::Error for ParseBenchmarkError {}

impl FromStr for Benchmark {
    type Err = ParseBenchmarkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "2023" => Ok(Benchmark::Y2023),
            "2021" => Ok(Benchmark::Y2021),
            other => Err(ParseBenchmarkError(other.to_owned())),
        }
    }
}

/// A performance tier, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Elite,
    High,
    Medium,
    Low,
}

impl Tier {
    /// The lowercase name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Elite => "elite",
            Tier::High => "high",
            Tier::Medium => "medium",
            Tier::Low => "low",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const HOUR: f64 = 3_600.0;
const DAY: f64 = 24.0 * HOUR;

/// Elite: median deploy days per week ≥ 5; high: ≥ 1; medium: median deploy days per 30-day
/// bucket ≥ 1; low otherwise. The same in both benchmarks.
pub fn deployment_frequency(
    _benchmark: Benchmark,
    per_week_median: f64,
    per_month_median: f64,
) -> Tier {
    if per_week_median >= 5.0 {
        Tier::Elite
    } else if per_week_median >= 1.0 {
        Tier::High
    } else if per_month_median >= 1.0 {
        Tier::Medium
    } else {
        Tier::Low
    }
}

/// Median change lead time. 2023: < 1 day / < 7 days / < 30 days; 2021: < 1 hour / < 7 days /
/// < 180 days.
pub fn lead_time(benchmark: Benchmark, median_seconds: f64) -> Tier {
    let (elite, high, medium) = match benchmark {
        Benchmark::Y2023 => (DAY, 7.0 * DAY, 30.0 * DAY),
        Benchmark::Y2021 => (HOUR, 7.0 * DAY, 180.0 * DAY),
    };
    below(median_seconds, elite, high, medium)
}

/// Change failure rate (0–1). 2023: ≤ 5 % / ≤ 10 % / ≤ 15 %; 2021: ≤ 15 % / ≤ 20 % / ≤ 30 %.
pub fn change_failure_rate(benchmark: Benchmark, rate: f64) -> Tier {
    // Written as the literals 0.05 etc.: a rate a/b equal to 1/20 as a fraction rounds to the
    // same double as the literal, so the boundaries hold exactly.
    let (elite, high, medium) = match benchmark {
        Benchmark::Y2023 => (0.05, 0.10, 0.15),
        Benchmark::Y2021 => (0.15, 0.20, 0.30),
    };
    if rate <= elite {
        Tier::Elite
    } else if rate <= high {
        Tier::High
    } else if rate <= medium {
        Tier::Medium
    } else {
        Tier::Low
    }
}

/// Median failed deployment recovery time: < 1 hour / < 1 day / < 7 days, both benchmarks.
pub fn recovery_time(_benchmark: Benchmark, median_seconds: f64) -> Tier {
    below(median_seconds, HOUR, DAY, 7.0 * DAY)
}

fn below(value: f64, elite: f64, high: f64, medium: f64) -> Tier {
    if value < elite {
        Tier::Elite
    } else if value < high {
        Tier::High
    } else if value < medium {
        Tier::Medium
    } else {
        Tier::Low
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Benchmark::{Y2021, Y2023};
    use Tier::{Elite, High, Low, Medium};

    #[test]
    fn deployment_frequency_boundaries() {
        let cases = [
            (5.0, 0.0, Elite),
            (4.99, 30.0, High),
            (1.0, 0.0, High),
            (0.99, 1.0, Medium),
            (0.5, 1.0, Medium),
            (0.0, 0.99, Low),
            (0.0, 0.0, Low),
            (7.0, 30.0, Elite),
        ];
        for benchmark in [Y2023, Y2021] {
            for (week, month, tier) in cases {
                assert_eq!(
                    deployment_frequency(benchmark, week, month),
                    tier,
                    "{benchmark} {week} {month}"
                );
            }
        }
    }

    #[test]
    fn lead_time_boundaries() {
        let cases = [
            (Y2023, 0.0, Elite),
            (Y2023, DAY - 1.0, Elite),
            (Y2023, DAY, High),
            (Y2023, 7.0 * DAY - 0.001, High),
            (Y2023, 7.0 * DAY, Medium),
            (Y2023, 30.0 * DAY - 1.0, Medium),
            (Y2023, 30.0 * DAY, Low),
            (Y2023, 180.0 * DAY, Low),
            (Y2021, HOUR - 1.0, Elite),
            (Y2021, HOUR, High),
            (Y2021, DAY, High),
            (Y2021, 7.0 * DAY - 1.0, High),
            (Y2021, 7.0 * DAY, Medium),
            (Y2021, 30.0 * DAY, Medium),
            (Y2021, 180.0 * DAY - 1.0, Medium),
            (Y2021, 180.0 * DAY, Low),
        ];
        for (benchmark, seconds, tier) in cases {
            assert_eq!(lead_time(benchmark, seconds), tier, "{benchmark} {seconds}");
        }
    }

    #[test]
    fn change_failure_rate_boundaries() {
        let cases = [
            (Y2023, 0.0, Elite),
            (Y2023, 1.0 / 20.0, Elite),
            (Y2023, 0.0501, High),
            (Y2023, 1.0 / 10.0, High),
            (Y2023, 0.1001, Medium),
            (Y2023, 3.0 / 20.0, Medium),
            (Y2023, 0.1501, Low),
            (Y2023, 1.0, Low),
            (Y2021, 0.15, Elite),
            (Y2021, 3.0 / 20.0, Elite),
            (Y2021, 0.1501, High),
            (Y2021, 1.0 / 5.0, High),
            (Y2021, 0.2001, Medium),
            (Y2021, 3.0 / 10.0, Medium),
            (Y2021, 0.3001, Low),
        ];
        for (benchmark, rate, tier) in cases {
            assert_eq!(
                change_failure_rate(benchmark, rate),
                tier,
                "{benchmark} {rate}"
            );
        }
    }

    #[test]
    fn recovery_time_boundaries() {
        let cases = [
            (0.0, Elite),
            (HOUR - 1.0, Elite),
            (HOUR, High),
            (DAY - 1.0, High),
            (DAY, Medium),
            (7.0 * DAY - 1.0, Medium),
            (7.0 * DAY, Low),
        ];
        for benchmark in [Y2023, Y2021] {
            for (seconds, tier) in cases {
                assert_eq!(
                    recovery_time(benchmark, seconds),
                    tier,
                    "{benchmark} {seconds}"
                );
            }
        }
    }

    #[test]
    fn benchmark_names() {
        assert_eq!(Benchmark::default(), Y2023);
        assert_eq!("2023".parse::<Benchmark>(), Ok(Y2023));
        assert_eq!("2021".parse::<Benchmark>(), Ok(Y2021));
        assert_eq!(
            "2019".parse::<Benchmark>(),
            Err(ParseBenchmarkError("2019".into()))
        );
        assert_eq!(Y2023.to_string(), "2023");
        assert_eq!(Y2021.to_string(), "2021");
    }

    #[test]
    fn tier_names() {
        let names: Vec<String> = [Elite, High, Medium, Low]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["elite", "high", "medium", "low"]);
    }
}
