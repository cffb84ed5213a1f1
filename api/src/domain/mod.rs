//! Domain values: validated once when a request is parsed, so storage and metrics only
//! ever see well-formed data.

mod deploy_hook;
mod deployment;
mod incident;
mod integration;
mod outbound;
mod repository;
mod scope;
mod secret;
mod status;
mod text;
mod time;
mod token;
mod webhook;

pub use deploy_hook::{HookInput, MAX_HOOK_NAME_CHARS};
pub use deployment::{
    ChangeError, CommitInput, DeploymentChange, NewDeployment, RawDeployment, Timing, TriggeredBy,
    check_timing, parse_external_id,
};
pub use incident::{IncidentInput, RawIncident};
pub use integration::{
    IncidentSource, IntegrationKind, IntegrationOptions, MAX_INTEGRATION_NAME_CHARS,
    NewIntegration, RawOptions, RawService, ServiceTarget, check_integration_name,
    check_source_secret,
};
pub use outbound::{
    Dispatch, NewSubscription, OutboundEvent, check_description, check_events,
    check_subscription_url, is_public_address,
};
pub use repository::RepositoryRef;
pub use scope::{Scope, parse_scopes, parse_ttl, scope_string, scopes_of};
pub use secret::Secret;
pub use status::{
    GithubState, IftrueStatus, MAX_STATUS_DESCRIPTION, NewStatus, RawStatus, Status, UnknownStatus,
};
pub use text::{
    FREE_TEXT_FIELDS, check_json_text, check_query_text, check_text, clean_text, refused_char,
};
pub use time::{CLOCK_SKEW, EARLIEST, check_instant};
pub use token::{
    NewToken, NewTrustPolicy, RawToken, RawTrustPolicy, check_issuer, default_repository_host,
    repository_key_of_claim,
};
pub use webhook::{
    AlertChange, AlertRepository, Attribution, GithubFields, MAX_TITLE_CHARS, SourceAlert,
    SourceDeployment, SourceEvent, SourceIssue, SourcePush, SourceRun, SourceState, SourceStatus,
    attribution, branch_of_ref, clean_environment, clean_sha, clean_url, is_zero_sha, payload_time,
};

use chrono::{DateTime, Utc};
use poem_openapi::Object;

/// One invalid field of a request: the field (a JSON path below the body, or the name of a
/// parameter) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct FieldError {
    /// The field, as a JSON path below the body or the name of a parameter.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects field errors while a request is validated, so all are reported at once.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.0.push(FieldError::new(field, message));
                None
            }
        }
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self.0)
        }
    }
}

/// Timestamps are kept to the microsecond, as PostgreSQL does, so what is stored is what
/// is read back on every database.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// An absolute http(s) URL, without control characters (the URL parser would
/// percent-encode them in its own copy, but the string stored is the one given).
pub fn check_http_url(value: &str) -> Result<String, String> {
    check_text(value, false)?;
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(value.to_owned())
        }
        _ => Err("must be an http(s) URL".to_owned()),
    }
}

/// Organization slugs: 1–64 of `a-z 0-9 - _ .`, starting with a letter or digit.
pub fn validate_slug(slug: &str) -> Result<(), String> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && slug.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{slug}` is not an organization slug (1-64 of a-z, 0-9, '-', '_', '.', starting with a letter or digit)"
        ))
    }
}

/// Environment names: 1–64 of letters, digits and `- _ . /`.
pub fn validate_environment(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    if ok {
        Ok(())
    } else {
        Err("must be 1-64 of letters, digits, '-', '_', '.', '/'".to_owned())
    }
}

/// A commit id: 7 to 64 hexadecimal digits, stored lower-case.
pub fn normalize_sha(sha: &str) -> Result<String, String> {
    if (7..=64).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err("must be 7 to 64 hexadecimal digits".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(validate_slug("acme").is_ok());
        assert!(validate_slug("acme-2.eu").is_ok());
        assert!(validate_slug("").is_err());
        assert!(validate_slug("Acme").is_err());
        assert!(validate_slug("-acme").is_err());
        assert!(validate_slug(&"a".repeat(65)).is_err());
    }

    #[test]
    fn shas() {
        assert_eq!(normalize_sha("FA9BCE5").as_deref(), Ok("fa9bce5"));
        assert!(normalize_sha("fa9bce").is_err());
        assert!(normalize_sha("zzzzzzz").is_err());
    }

    #[test]
    fn environments() {
        assert!(validate_environment("production").is_ok());
        assert!(validate_environment("review/pr-12").is_ok());
        assert!(validate_environment("prod uction").is_err());
        assert!(validate_environment("").is_err());
    }
}
