//! The timestamp parsers of untrusted input: query parameters (`since`, `until`, `from`,
//! `to`: poem-openapi's `ParseFromParameter`), body fields (serde and poem-openapi's
//! `ParseFromJSON`, both of which `JsonBody` runs), then what the service does with them:
//! `core::metrics::window` for metrics, and the time rule (`domain::check_instant`,
//! `check_timing`) and `truncate_micros` for recorded times.
//! Input: `FROM|TO` (either may be empty).
#![no_main]

use api::{
    core::metrics::window as parse_window,
    domain::{CLOCK_SKEW, EARLIEST, Errors, Status, check_instant, check_timing, truncate_micros},
};
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use poem_openapi::types::{ParseFromJSON, ParseFromParameter};

fn parse(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    let param = <DateTime<Utc> as ParseFromParameter>::parse_from_parameter(s).ok();
    let json = <DateTime<Utc> as ParseFromJSON>::parse_from_json(Some(serde_json::Value::String(
        s.to_owned(),
    )))
    .ok();
    let serde: Option<DateTime<Utc>> =
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok();
    // A body field is accepted only when serde and poem-openapi both accept it; they must
    // then agree on the instant.
    if let (Some(a), Some(b)) = (json, serde) {
        assert_eq!(a, b, "serde and poem-openapi read {s:?} differently");
    }
    param.or(json)
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (from, to) = input.split_once('|').unwrap_or((input, ""));
    let (from, to) = (parse(from), parse(to));
    let now = DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default();
    if let Ok(window) = parse_window(from, to, now) {
        assert!(window.from < window.to, "empty window accepted: {window:?}");
        assert!(
            window.to - window.from <= chrono::TimeDelta::days(731),
            "window longer than 731 days accepted: {window:?}"
        );
    }
    for t in [from, to].into_iter().flatten() {
        let _ = truncate_micros(t);
        // The time rule: exactly the instants from 1970 to now + 5 minutes.
        assert_eq!(
            check_instant(t, now).is_ok(),
            t >= EARLIEST && t <= now + CLOCK_SKEW,
            "time rule disagrees for {t}"
        );
    }
    let mut errors = Errors::default();
    check_timing(&mut errors, Status::Success, from, to, now);
});
