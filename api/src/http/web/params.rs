//! The page's query string: every view is a shareable URL. `window` is `7d`, `30d` (default),
//! `90d`, `365d` (the days up to now) or `custom` with `from`/`to`; `from` and `to` are dates
//! (`2026-10-01`, UTC; `to` is the last day included) or RFC 3339 instants (`to` excluded).
//! `repository`, `team`, `environment` and `benchmark` are the JSON API's filters; `by`,
//! `sort` and `dir` arrange the breakdown.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::core::metrics::{GroupBy, RawQuery};

/// The windows offered, in days.
pub const WINDOWS: [i64; 4] = [7, 30, 90, 365];

/// The query string as given (all optional; empty values count as absent).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageParams {
    pub window: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub repository: Option<String>,
    pub team: Option<String>,
    pub environment: Option<String>,
    pub benchmark: Option<String>,
    pub by: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
}

/// The page's window choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowChoice {
    LastDays(i64),
    Custom,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A parameter error to show on the page: (parameter, message).
pub type ParamError = (&'static str, String);

/// A date (midnight UTC; `end` moves it to the next midnight, so the date is included) or an
/// RFC 3339 instant.
fn instant(name: &'static str, value: &str, end: bool) -> Result<DateTime<Utc>, ParamError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        (
            name,
            format!("`{value}` is not a date such as 2026-10-01 or an RFC 3339 time"),
        )
    })?;
    let date = if end {
        date.succ_opt()
            .ok_or_else(|| (name, format!("`{value}` is out of range")))?
    } else {
        date
    };
    Ok(date.and_time(NaiveTime::MIN).and_utc())
}

impl PageParams {
    pub fn repository(&self) -> Option<&str> {
        given(&self.repository)
    }
    pub fn team(&self) -> Option<&str> {
        given(&self.team)
    }
    pub fn environment(&self) -> Option<&str> {
        given(&self.environment)
    }
    pub fn benchmark(&self) -> Option<&str> {
        given(&self.benchmark)
    }

    /// The window asked for: `custom` when `from` or `to` is given without `window`.
    pub fn window_choice(&self) -> Result<WindowChoice, ParamError> {
        match given(&self.window) {
            None if given(&self.from).is_some() || given(&self.to).is_some() => {
                Ok(WindowChoice::Custom)
            }
            None => Ok(WindowChoice::LastDays(30)),
            Some("custom") => Ok(WindowChoice::Custom),
            Some(word) => word
                .strip_suffix('d')
                .and_then(|days| days.parse::<i64>().ok())
                .filter(|days| WINDOWS.contains(days))
                .map(WindowChoice::LastDays)
                .ok_or_else(|| {
                    (
                        "window",
                        format!("`{word}` is not one of 7d, 30d, 90d, 365d or custom"),
                    )
                }),
        }
    }

    /// The metrics query these parameters ask for, as of `now`.
    pub fn raw_query(&self, now: DateTime<Utc>) -> Result<RawQuery, ParamError> {
        let (from, to) = match self.window_choice()? {
            WindowChoice::LastDays(days) => (Some(now - TimeDelta::days(days)), Some(now)),
            WindowChoice::Custom => (
                given(&self.from)
                    .map(|v| instant("from", v, false))
                    .transpose()?,
                given(&self.to)
                    .map(|v| instant("to", v, true))
                    .transpose()?,
            ),
        };
        Ok(RawQuery {
            from,
            to,
            repository: self.repository().map(str::to_owned),
            environment: self.environment().map(str::to_owned),
            team: self.team().map(str::to_owned),
            benchmark: self.benchmark().map(str::to_owned),
        })
    }

    /// What the breakdown groups by (default: repository).
    pub fn group_by(&self) -> Result<GroupBy, ParamError> {
        match given(&self.by) {
            None | Some("repository") => Ok(GroupBy::Repository),
            Some("team") => Ok(GroupBy::Team),
            Some("environment") => Ok(GroupBy::Environment),
            Some(other) => Err((
                "by",
                format!("`{other}` is not one of repository, team, environment"),
            )),
        }
    }

    /// The pairs of the query string, without empty values, `overrides` replacing (or, with
    /// `None`, removing) parameters.
    pub fn pairs(&self, overrides: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
        let current = [
            ("window", given(&self.window)),
            ("from", given(&self.from)),
            ("to", given(&self.to)),
            ("repository", self.repository()),
            ("team", self.team()),
            ("environment", self.environment()),
            ("benchmark", self.benchmark()),
            ("by", given(&self.by)),
            ("sort", given(&self.sort)),
            ("dir", given(&self.dir)),
        ];
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in current {
            let value = match overrides.iter().find(|(n, _)| *n == name) {
                Some((_, replaced)) => *replaced,
                None => value,
            };
            if let Some(value) = value {
                pairs.push((name.to_owned(), value.to_owned()));
            }
        }
        for (name, value) in overrides {
            if let Some(value) = value
                && !current.iter().any(|(n, _)| n == name)
            {
                pairs.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        pairs
    }

    /// `path?query` with `overrides` applied.
    pub fn href(&self, path: &str, overrides: &[(&str, Option<&str>)]) -> String {
        let pairs = self.pairs(overrides);
        if pairs.is_empty() {
            return path.to_owned();
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn params(query: &str) -> PageParams {
        serde_urlencoded_from(query)
    }

    fn serde_urlencoded_from(query: &str) -> PageParams {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let value = serde_json::Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        );
        serde_json::from_value(value).expect("params")
    }

    #[test]
    fn windows() {
        let now = Utc.with_ymd_and_hms(2026, 10, 31, 12, 0, 0).unwrap();
        let raw = params("").raw_query(now).unwrap();
        assert_eq!(raw.from, Some(now - TimeDelta::days(30)));
        assert_eq!(raw.to, Some(now));
        let raw = params("window=7d").raw_query(now).unwrap();
        assert_eq!(raw.from, Some(now - TimeDelta::days(7)));
        let raw = params("from=2026-10-01&to=2026-10-31")
            .raw_query(now)
            .unwrap();
        assert_eq!(
            raw.from,
            Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).single()
        );
        assert_eq!(raw.to, Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single());
        let raw = params("window=custom&from=2026-10-01T06:00:00Z&to=2026-10-02T00:00:00Z")
            .raw_query(now)
            .unwrap();
        assert_eq!(raw.to, Utc.with_ymd_and_hms(2026, 10, 2, 0, 0, 0).single());
        assert_eq!(params("window=5d").raw_query(now).unwrap_err().0, "window");
        assert_eq!(
            params("from=yesterday").raw_query(now).unwrap_err().0,
            "from"
        );
    }

    #[test]
    fn hrefs_keep_the_view_and_encode() {
        let p = params("window=90d&team=a%26b&sort=group");
        assert_eq!(
            p.href("/", &[("by", Some("team")), ("sort", None)]),
            "/?window=90d&team=a%26b&by=team"
        );
        assert_eq!(params("").href("/", &[]), "/");
    }
}
