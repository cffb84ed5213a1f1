//! Numbers in human units for the page ("3.2 per day", "16 h 40 min", "10.9 %"), and the raw
//! JSON spelling of a number for `data-value` (exactly what the JSON API prints).

use chrono::{DateTime, Utc};
use dora_metrics::Tier;

/// The JSON spelling of `value` (serde_json's, as the API answers), or empty for none.
pub fn json_number(value: Option<f64>) -> String {
    value
        .and_then(serde_json::Number::from_f64)
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// A deployment rate: per day from one a day, else per week, else per month.
pub fn per_day(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0} per day")
    } else if value >= 1.0 {
        format!("{value:.1} per day")
    } else if value * 7.0 >= 1.0 {
        format!("{:.1} per week", value * 7.0)
    } else if value == 0.0 {
        "none".to_owned()
    } else {
        format!("{:.1} per month", value * 30.0)
    }
}

/// A duration in seconds: `45 s`, `12 min`, `16 h 40 min`, `3 d 4 h`, `45 d`.
pub fn duration(seconds: f64) -> String {
    if seconds < 0.0 {
        return format!("−{}", duration(-seconds));
    }
    let total = seconds.round() as u64;
    let (days, hours, minutes) = (total / 86_400, total % 86_400 / 3_600, total % 3_600 / 60);
    if total < 60 {
        format!("{total} s")
    } else if total < 3_600 {
        format!("{minutes} min")
    } else if total < 86_400 {
        if minutes == 0 {
            format!("{hours} h")
        } else {
            format!("{hours} h {minutes} min")
        }
    } else if days < 30 && hours > 0 {
        format!("{days} d {hours} h")
    } else {
        format!("{days} d")
    }
}

/// A ratio 0–1 as a percentage with one decimal.
pub fn percent(rate: f64) -> String {
    format!("{:.1} %", rate * 100.0)
}

/// A tier's word, capitalised.
pub fn tier(tier: Tier) -> &'static str {
    match tier {
        Tier::Elite => "Elite",
        Tier::High => "High",
        Tier::Medium => "Medium",
        Tier::Low => "Low",
    }
}

/// `2026-10-05 14:03 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `2026-10-05`.
pub fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// RFC 3339, as the API writes times.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(per_day(3.2), "3.2 per day");
        assert_eq!(per_day(14.0), "14 per day");
        assert_eq!(per_day(0.5), "3.5 per week");
        assert_eq!(per_day(1.0 / 30.0), "1.0 per month");
        assert_eq!(per_day(0.0), "none");
        assert_eq!(duration(60_000.0), "16 h 40 min");
        assert_eq!(duration(7_200.0), "2 h");
        assert_eq!(duration(45.0), "45 s");
        assert_eq!(duration(720.0), "12 min");
        assert_eq!(duration(273_600.0), "3 d 4 h");
        assert_eq!(duration(-90.0), "−1 min");
        assert_eq!(duration(40.0 * 86_400.0), "40 d");
        assert_eq!(percent(0.10869565217391304), "10.9 %");
    }

    #[test]
    fn json_numbers_match_the_api() {
        assert_eq!(
            json_number(Some(0.10869565217391304)),
            "0.10869565217391304"
        );
        assert_eq!(json_number(Some(5400.0)), "5400.0");
        assert_eq!(json_number(None), "");
    }
}
