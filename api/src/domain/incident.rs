//! An incident as the domain sees it: what a new incident must satisfy before the store sees
//! it. Which deployment or repository it is attributed to is resolved against stored data by
//! the incident use case.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Errors, FieldError, check_instant, check_text, truncate_micros, validate_environment};

/// Raw fields of a new incident.
pub struct RawIncident<'a> {
    pub title: &'a str,
    pub severity: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub repository_url: Option<&'a str>,
    pub deployment_id: Option<Uuid>,
    pub started_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A validated new incident.
#[derive(Debug, Clone)]
pub struct IncidentInput {
    pub title: String,
    pub severity: Option<String>,
    /// As given: the default depends on the deployment it names.
    pub environment: Option<String>,
    pub repository_url: Option<String>,
    pub deployment_id: Option<Uuid>,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl IncidentInput {
    /// `started_at` defaults to `now`; `resolved_at` must not be before it.
    pub fn parse(raw: RawIncident<'_>, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        errors.check("title", check_text(raw.title, false));
        if raw.title.trim().is_empty() {
            errors.push("title", "must not be blank");
        }
        if let Some(severity) = raw.severity {
            errors.check("severity", check_text(severity, false));
        }
        if let Some(environment) = raw.environment {
            errors.check("environment", validate_environment(environment));
        }
        for (field, t) in [
            ("started_at", raw.started_at),
            ("resolved_at", raw.resolved_at),
        ] {
            if let Some(t) = t {
                errors.check(field, check_instant(t, now));
            }
        }
        let started_at = truncate_micros(raw.started_at.unwrap_or(now));
        let resolved_at = raw.resolved_at.map(truncate_micros);
        if resolved_at.is_some_and(|r| r < started_at) {
            errors.push("resolved_at", "must not be before started_at");
        }
        errors.finish(|| IncidentInput {
            title: raw.title.to_owned(),
            severity: raw.severity.map(str::to_owned),
            environment: raw.environment.map(str::to_owned),
            repository_url: raw.repository_url.map(str::to_owned),
            deployment_id: raw.deployment_id,
            started_at,
            resolved_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(title: &str) -> RawIncident<'_> {
        RawIncident {
            title,
            severity: None,
            environment: None,
            repository_url: None,
            deployment_id: None,
            started_at: None,
            resolved_at: None,
        }
    }

    #[test]
    fn starts_now_by_default() {
        let now = truncate_micros(Utc::now());
        let incident = IncidentInput::parse(raw("Checkout down"), now).expect("valid");
        assert_eq!(incident.started_at, now);
    }

    #[test]
    fn refuses_a_resolution_before_the_start() {
        let now = Utc::now();
        let errors = IncidentInput::parse(
            RawIncident {
                resolved_at: Some(now - chrono::Duration::hours(1)),
                environment: Some("prod uction"),
                ..raw("x")
            },
            now,
        )
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["environment", "resolved_at"]);
    }
}
