//! The one status vocabulary. [`Status`] is the canonical status of a deployment (what
//! `deployments.status` stores and the metrics read); [`GithubState`] is the state of one entry
//! of a deployment's status history (GitHub's words). Adapters map their own words onto these in
//! one function each: iftrue's in [`IftrueStatus`], GitHub's in [`GithubState`].
//!
//! What a status means for the metrics is written once, in [`Status::outcome`]; the SQL that
//! selects successes and finished deployments is generated from it (`store::facts`), and a test
//! checks the commit-row trigger of migration 000006 against it.

use std::{fmt, str::FromStr};

use dora_metrics::Outcome;
use poem_openapi::Enum;
use serde::{Deserialize, Serialize};

use super::{Errors, FieldError, check_http_url, check_text, validate_environment};

/// Canonical deployment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    InProgress,
    Success,
    Failure,
    Error,
    Canceled,
    Inactive,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Queued,
        Status::InProgress,
        Status::Success,
        Status::Failure,
        Status::Error,
        Status::Canceled,
        Status::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::InProgress => "in_progress",
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Error => "error",
            Status::Canceled => "canceled",
            Status::Inactive => "inactive",
        }
    }

    /// The deployment has ended (successfully or not).
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::InProgress)
    }

    /// Transitions a PATCH may make: forward from queued/in_progress to a later state.
    pub fn can_become(self, next: Status) -> bool {
        match self {
            Status::Queued => next != Status::Queued && next != Status::Inactive,
            Status::InProgress => next.is_final() && next != Status::Inactive,
            _ => false,
        }
    }

    /// What the metrics make of a deployment with this status: `success` is a success, and so
    /// is `inactive` once it has finished (a deployment that succeeded and was later
    /// superseded, GitHub-style); `failure` and `error` are failures; everything else is
    /// pending and ignored by every metric.
    pub fn outcome(self, has_finished: bool) -> Outcome {
        match self {
            Status::Success => Outcome::Success,
            Status::Inactive if has_finished => Outcome::Success,
            Status::Failure | Status::Error => Outcome::Failure,
            Status::Queued | Status::InProgress | Status::Canceled | Status::Inactive => {
                Outcome::Pending
            }
        }
    }

    /// The history state a status set directly (PATCH, admin replace) records. `canceled`
    /// has no GitHub state, so it records none.
    pub fn github_state(self) -> Option<GithubState> {
        match self {
            Status::Queued => Some(GithubState::Queued),
            Status::InProgress => Some(GithubState::InProgress),
            Status::Success => Some(GithubState::Success),
            Status::Failure => Some(GithubState::Failure),
            Status::Error => Some(GithubState::Error),
            Status::Inactive => Some(GithubState::Inactive),
            Status::Canceled => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a canonical status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a deployment status")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    /// Canonical words only.
    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == word)
            .ok_or_else(|| UnknownStatus(word.to_owned()))
    }
}

/// The status words of iftrue's "Deployment Tracking With HTTP Request" body, which both
/// `POST /api/v1/deployments` and `POST /v1/organization/deployment` take: the canonical ones
/// plus iftrue's `succes` and `fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum IftrueStatus {
    Succes,
    Success,
    InProgress,
    Queued,
    Fail,
    Failure,
    Error,
    Canceled,
}

impl IftrueStatus {
    pub fn canonical(self) -> Status {
        match self {
            IftrueStatus::Succes | IftrueStatus::Success => Status::Success,
            IftrueStatus::InProgress => Status::InProgress,
            IftrueStatus::Queued => Status::Queued,
            IftrueStatus::Fail | IftrueStatus::Failure => Status::Failure,
            IftrueStatus::Error => Status::Error,
            IftrueStatus::Canceled => Status::Canceled,
        }
    }

    /// A canonical status in iftrue's answer vocabulary (`succes`, `in_progress`, `fail`).
    pub fn word_for(status: Status) -> &'static str {
        match status {
            Status::Success => "succes",
            Status::Failure | Status::Error => "fail",
            Status::Queued | Status::InProgress => "in_progress",
            other => other.as_str(),
        }
    }
}

/// The state of one deployment status (GitHub's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum GithubState {
    Queued,
    Pending,
    InProgress,
    Success,
    Failure,
    Error,
    Inactive,
}

/// GitHub limits a status description to 140 characters.
pub const MAX_STATUS_DESCRIPTION: usize = 140;

impl GithubState {
    pub const ALL: [GithubState; 7] = [
        GithubState::Queued,
        GithubState::Pending,
        GithubState::InProgress,
        GithubState::Success,
        GithubState::Failure,
        GithubState::Error,
        GithubState::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GithubState::Queued => "queued",
            GithubState::Pending => "pending",
            GithubState::InProgress => "in_progress",
            GithubState::Success => "success",
            GithubState::Failure => "failure",
            GithubState::Error => "error",
            GithubState::Inactive => "inactive",
        }
    }

    /// The canonical status word: `pending` is stored as `queued` in `deployments.status`
    /// (the history keeps `pending`).
    pub fn canonical(self) -> Status {
        match self {
            GithubState::Queued | GithubState::Pending => Status::Queued,
            GithubState::InProgress => Status::InProgress,
            GithubState::Success => Status::Success,
            GithubState::Failure => Status::Failure,
            GithubState::Error => Status::Error,
            GithubState::Inactive => Status::Inactive,
        }
    }

    /// The deployment's canonical status after this status, given its current one.
    /// `inactive` means "superseded", not an outcome: it never hides a failure, error or
    /// cancellation, so the metrics keep counting those as what they were.
    pub fn next_status(self, current: Status) -> Status {
        match (self, current) {
            (GithubState::Inactive, Status::Failure | Status::Error | Status::Canceled) => current,
            _ => self.canonical(),
        }
    }
}

impl FromStr for GithubState {
    type Err = UnknownStatus;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        GithubState::ALL
            .into_iter()
            .find(|s| s.as_str() == word)
            .ok_or_else(|| UnknownStatus(word.to_owned()))
    }
}

/// Raw fields of a new deployment status (the canonical and GitHub-shaped APIs).
pub struct RawStatus<'a> {
    pub state: GithubState,
    pub description: Option<&'a str>,
    pub log_url: Option<&'a str>,
    pub environment_url: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub auto_inactive: Option<bool>,
}

/// A validated status to append to a deployment's history.
#[derive(Debug, Clone)]
pub struct NewStatus {
    pub state: GithubState,
    pub description: String,
    pub log_url: Option<String>,
    pub environment_url: Option<String>,
    /// None: the deployment's current environment (that of its previous status, else its own).
    pub environment: Option<String>,
    pub auto_inactive: bool,
    /// The `sub` of the token that posts it.
    pub creator: Option<String>,
}

impl NewStatus {
    /// Description ≤ 140 characters, http(s) URLs, environment name. Empty strings are "not
    /// given", as GitHub treats them.
    pub fn parse(raw: RawStatus<'_>, creator: Option<String>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let description = raw.description.unwrap_or("").to_owned();
        if description.chars().count() > MAX_STATUS_DESCRIPTION {
            errors.push(
                "description",
                format!("must be at most {MAX_STATUS_DESCRIPTION} characters long"),
            );
        }
        errors.check("description", check_text(&description, true));
        let non_empty = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_owned);
        let log_url = non_empty(raw.log_url);
        if let Some(url) = &log_url {
            errors.check("log_url", check_http_url(url));
        }
        let environment_url = non_empty(raw.environment_url);
        if let Some(url) = &environment_url {
            errors.check("environment_url", check_http_url(url));
        }
        let environment = non_empty(raw.environment);
        if let Some(env) = &environment {
            errors.check("environment", validate_environment(env));
        }
        errors.finish(|| NewStatus {
            state: raw.state,
            description,
            log_url,
            environment_url,
            environment,
            auto_inactive: raw.auto_inactive.unwrap_or(true),
            creator,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
        for state in GithubState::ALL {
            assert_eq!(state.as_str().parse::<GithubState>(), Ok(state));
        }
        assert!("succes".parse::<Status>().is_err());
        assert!("canceled".parse::<GithubState>().is_err());
        assert_eq!(GithubState::Pending.canonical(), Status::Queued);
    }

    #[test]
    fn iftrue_words() {
        assert_eq!(IftrueStatus::Succes.canonical(), Status::Success);
        assert_eq!(IftrueStatus::Fail.canonical(), Status::Failure);
        assert_eq!(IftrueStatus::word_for(Status::Success), "succes");
        assert_eq!(IftrueStatus::word_for(Status::Error), "fail");
        assert_eq!(IftrueStatus::word_for(Status::Canceled), "canceled");
    }

    #[test]
    fn transitions() {
        assert!(Status::InProgress.can_become(Status::Success));
        assert!(!Status::Success.can_become(Status::Failure));
        assert!(!Status::InProgress.can_become(Status::Queued));
        assert!(!Status::Queued.can_become(Status::Inactive));
    }

    #[test]
    fn the_success_rule() {
        assert_eq!(Status::Success.outcome(false), Outcome::Success);
        assert_eq!(Status::Inactive.outcome(true), Outcome::Success);
        assert_eq!(Status::Inactive.outcome(false), Outcome::Pending);
        assert_eq!(Status::Error.outcome(true), Outcome::Failure);
        assert_eq!(Status::Canceled.outcome(true), Outcome::Pending);
    }

    #[test]
    fn inactive_keeps_failures() {
        assert_eq!(
            GithubState::Inactive.next_status(Status::Failure),
            Status::Failure
        );
        assert_eq!(
            GithubState::Inactive.next_status(Status::Success),
            Status::Inactive
        );
        assert_eq!(
            GithubState::Success.next_status(Status::Failure),
            Status::Success
        );
    }
}
