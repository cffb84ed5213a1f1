//! Cursor pagination of the canonical API: `limit` (1–200, default 50) and `cursor`, the
//! previous page's `next_cursor`. The store answers one more row than asked (or says whether
//! more follow); the last row of a full page gives the next cursor.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use crate::core::{Error, metrics::ExplainKey};

/// The largest page.
pub const MAX_LIMIT: u64 = 200;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u64 = 50;

/// The page size asked for, within bounds.
pub fn limit(asked: Option<u64>) -> u64 {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

fn bad_cursor() -> Error {
    Error::invalid_parameter("cursor", "not a cursor returned by this API")
}

/// A cursor that is an integer key (deployment number, status id, audit entry id).
pub fn number_cursor(cursor: Option<&str>) -> Result<Option<i64>, Error> {
    cursor
        .map(|c| c.parse::<i64>().map_err(|_| bad_cursor()))
        .transpose()
}

/// A cursor that is a time and an id (incidents, by start).
pub fn time_cursor(cursor: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, Error> {
    cursor
        .map(|c| {
            let (at, id) = c.rsplit_once('_').ok_or_else(bad_cursor)?;
            Ok((
                DateTime::parse_from_rfc3339(at)
                    .map_err(|_| bad_cursor())?
                    .with_timezone(&Utc),
                Uuid::parse_str(id).map_err(|_| bad_cursor())?,
            ))
        })
        .transpose()
}

/// The cursor of a time and an id.
pub fn encode_time_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}_{id}", at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// A cursor that is an explain listing's key (`core::metrics::ExplainKey`).
pub fn explain_cursor(cursor: Option<&str>) -> Result<Option<ExplainKey>, Error> {
    cursor
        .map(|c| {
            let mut parts = c.rsplitn(4, '_');
            let (Some(index), Some(id), Some(number), Some(at)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad_cursor());
            };
            Ok(ExplainKey {
                at: DateTime::parse_from_rfc3339(at)
                    .map_err(|_| bad_cursor())?
                    .with_timezone(&Utc),
                number: number.parse().map_err(|_| bad_cursor())?,
                id: Uuid::parse_str(id).map_err(|_| bad_cursor())?,
                index: index.parse().map_err(|_| bad_cursor())?,
            })
        })
        .transpose()
}

/// The cursor of an explain listing's key.
pub fn encode_explain_cursor(key: &ExplainKey) -> String {
    format!(
        "{}_{}_{}_{}",
        key.at.to_rfc3339_opts(SecondsFormat::Nanos, true),
        key.number,
        key.id,
        key.index
    )
}

/// The `next_cursor` of a page: the key of its last row when more follow.
pub fn next_cursor<T>(rows: &[T], more: bool, key: impl Fn(&T) -> String) -> Option<String> {
    if more { rows.last().map(key) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None), DEFAULT_LIMIT);
        assert_eq!(limit(Some(0)), 1);
        assert_eq!(limit(Some(10_000)), MAX_LIMIT);
    }

    #[test]
    fn time_cursors_round_trip() {
        let at = DateTime::parse_from_rfc3339("2026-10-01T12:00:00.123456Z")
            .expect("time")
            .with_timezone(&Utc);
        let id = Uuid::now_v7();
        let cursor = encode_time_cursor(at, id);
        assert_eq!(time_cursor(Some(&cursor)).expect("valid"), Some((at, id)));
        assert!(time_cursor(Some("nope")).is_err());
        assert!(number_cursor(Some("12x")).is_err());
        assert_eq!(number_cursor(None).expect("none"), None);
    }

    #[test]
    fn explain_cursors_round_trip() {
        let key = ExplainKey {
            at: DateTime::parse_from_rfc3339("2026-10-01T12:00:00.123456789Z")
                .expect("time")
                .with_timezone(&Utc),
            number: -3,
            id: Uuid::now_v7(),
            index: 7,
        };
        let cursor = encode_explain_cursor(&key);
        assert_eq!(explain_cursor(Some(&cursor)).expect("valid"), Some(key));
        for bad in ["", "x_1_2_3", "2026-10-01T12:00:00Z_1_nope_0", "a_b"] {
            assert!(explain_cursor(Some(bad)).is_err(), "{bad}");
        }
    }
}
