//! What a webhook delivery says, in words of no particular source: each adapter
//! (`http::compat::github_webhook`, `http::compat::gitlab`) maps its payloads onto these values
//! in one place, and `core::webhooks` records them. Values built here are already cleaned:
//! text without control characters and within the lengths the store keeps, environment names
//! in the canonical form, shas lower-case.

use chrono::{DateTime, Utc};

use super::{
    CommitInput, GithubState, MAX_STATUS_DESCRIPTION, RepositoryRef, Status, check_http_url,
    normalize_sha, text::clean_text, truncate_micros,
};

/// Longest title kept from a payload.
pub const MAX_TITLE_CHARS: usize = 500;
/// Longest issue body read for attribution lines.
const MAX_BODY_CHARS: usize = 65_536;

/// An http(s) URL from a payload; anything else (empty strings included) is dropped.
pub fn clean_url(url: Option<&str>) -> Option<String> {
    url.filter(|u| u.len() <= 2048)
        .and_then(|u| check_http_url(u).ok())
}

/// An environment name from a payload in the canonical form: lower-case, characters other
/// than letters, digits and `- _ . /` replaced by `-`, at most 64; `None` when nothing is
/// left.
pub fn clean_environment(name: &str) -> Option<String> {
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// A commit id from a payload: 7-64 hex digits, lower-case; anything else is none.
pub fn clean_sha(sha: &str) -> Option<String> {
    normalize_sha(sha).ok()
}

/// A branch from a ref: `refs/heads/main` → `main`; tags and other refs are `None`.
pub fn branch_of_ref(git_ref: &str) -> Option<String> {
    let branch = git_ref.strip_prefix("refs/heads/")?;
    let branch = clean_text(branch, 255, false);
    (!branch.is_empty()).then_some(branch)
}

/// Whether a sha is git's "no commit" (a new or deleted branch).
pub fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// A deployment as a source describes it.
#[derive(Debug, Clone)]
pub struct SourceDeployment {
    /// The source's id of it (unique within the repository).
    pub external_id: String,
    pub repository: RepositoryRef,
    /// Canonical form (see [`clean_environment`]); `None`: the integration's default.
    pub environment: Option<String>,
    /// The payload's own production flag (GitHub `production_environment`, GitLab
    /// `environment_tier: production`).
    pub production: Option<bool>,
    /// Empty when the source names no commit.
    pub sha: String,
    /// Empty when the source names no branch.
    pub branch: String,
    pub title: String,
    pub creator: Option<String>,
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub is_fix: bool,
    pub is_hotfix: bool,
    pub is_rollback: bool,
    /// The workflow run that created it (GitHub Actions jobs with an `environment`): a
    /// deployment recorded from that run is this one.
    pub run_id: Option<String>,
    /// GitHub's own fields, shown by the GitHub-compatible API.
    pub github: Option<GithubFields>,
}

/// The GitHub-only fields of a GitHub deployment.
#[derive(Debug, Clone)]
pub struct GithubFields {
    pub task: String,
    /// JSON text.
    pub payload: String,
    pub description: Option<String>,
    pub transient_environment: bool,
    pub original_environment: String,
}

/// What a status of a source's deployment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceState {
    /// A state with a place in the status history.
    State(GithubState),
    /// Canceled (GitLab): no history state; the deployment becomes `canceled`.
    Canceled,
}

/// One status of a source's deployment.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    /// The source's id of the status (unique within the repository).
    pub external_id: String,
    pub state: SourceState,
    /// When the source set it: the status's time in the history and the deployment's.
    pub at: DateTime<Utc>,
    /// Orders statuses of the same `at` (the source's increasing id, else 0).
    pub order: i64,
    pub description: String,
    pub log_url: Option<String>,
    pub environment_url: Option<String>,
    /// Canonical form; `None`: the deployment's.
    pub environment: Option<String>,
    pub creator: Option<String>,
}

impl SourceStatus {
    /// A status description within the history's limit.
    pub fn description(text: Option<&str>) -> String {
        clean_text(text.unwrap_or(""), MAX_STATUS_DESCRIPTION, false)
    }
}

/// A completed CI run that is a deployment (a GitHub Actions workflow run).
#[derive(Debug, Clone)]
pub struct SourceRun {
    /// The run's id; its re-runs share it.
    pub external_id: String,
    pub attempt: i64,
    pub repository: RepositoryRef,
    /// The workflow's names (its name, its file path) for `deployment_workflows`.
    pub workflow_names: Vec<String>,
    pub sha: String,
    pub branch: String,
    pub title: String,
    pub creator: Option<String>,
    pub url: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// success, failure or canceled.
    pub status: Status,
}

/// A push to a branch.
#[derive(Debug, Clone)]
pub struct SourcePush {
    pub repository: RepositoryRef,
    pub branch: String,
    pub before: String,
    pub after: String,
    pub forced: bool,
    pub pushed_at: DateTime<Utc>,
    /// Oldest first.
    pub commits: Vec<CommitInput>,
}

/// An issue, as one event shows it.
#[derive(Debug, Clone)]
pub struct SourceIssue {
    /// The source's id of the issue.
    pub external_id: String,
    pub repository: RepositoryRef,
    /// `#12`, or GitLab's `#12` (its iid).
    pub number: i64,
    pub title: String,
    /// For `root cause:` / `deployment:` lines.
    pub body: String,
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Orders the events of one issue.
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub open: bool,
    pub labels: Vec<String>,
    /// The source's own incident type (GitLab incidents).
    pub incident_type: bool,
    /// The label this event added or removed, if it was one of those.
    pub label_added: Option<String>,
    pub label_removed: Option<String>,
    /// The issue was deleted (or moved away).
    pub deleted: bool,
    pub severity: Option<String>,
}

impl SourceIssue {
    pub fn body(text: Option<&str>) -> String {
        clean_text(text.unwrap_or(""), MAX_BODY_CHARS, true)
    }
}

/// What a change of an alerting source's incident does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChange {
    /// Triggered, firing: open from its start.
    Open,
    /// Reopened after a resolve (PagerDuty): open again, from its first start.
    Reopen,
    /// Resolved at the change's time.
    Resolve,
}

impl AlertChange {
    /// Orders the changes of one instant (a resolve wins over an open of the same time).
    pub fn rank(self) -> i32 {
        match self {
            AlertChange::Open => 0,
            AlertChange::Reopen => 1,
            AlertChange::Resolve => 2,
        }
    }
}

/// A repository as an alert names it: our id, or a URL in any spelling repositories are
/// keyed by (`https://github.com/acme/web`, `git@github.com:acme/web.git`,
/// `github.com/acme/web`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertRepository {
    Id(uuid::Uuid),
    Ref(RepositoryRef),
}

impl AlertRepository {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() || text.len() > 2048 {
            return None;
        }
        if let Ok(id) = uuid::Uuid::parse_str(text) {
            return Some(AlertRepository::Id(id));
        }
        RepositoryRef::parse(text)
            .or_else(|_| {
                // A key (`host/owner/name`) has no scheme.
                if text.contains("://") || !text.contains('/') {
                    Err(String::new())
                } else {
                    RepositoryRef::parse(&format!("https://{text}"))
                }
            })
            .ok()
            .map(AlertRepository::Ref)
    }
}

/// One incident of an alerting source (a PagerDuty incident, an Alertmanager alert) as one
/// delivery reports it.
#[derive(Debug, Clone)]
pub struct SourceAlert {
    /// The source's identity of it: PagerDuty's incident id; an alert's
    /// `fingerprint@startsAt`.
    pub source_id: String,
    pub change: AlertChange,
    /// When the source made this change (a resolve's time): orders the changes of one
    /// incident, so a late or repeated one changes nothing.
    pub at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub title: String,
    pub severity: Option<String>,
    pub url: Option<String>,
    /// `None`: unattributed (it still counts in time to restore).
    pub repository: Option<AlertRepository>,
    /// Canonical form.
    pub environment: String,
    /// Whether the integration's matchers (`match_urgency`, `match`) admit it: one that does
    /// not is recorded only if it was recorded before (its urgency changed since).
    pub matched: bool,
}

/// What a verified delivery says.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    /// The source checks the URL (GitHub `ping`).
    Ping,
    /// A deployment, and the status this event reports of it, if any.
    Deployment {
        deployment: Box<SourceDeployment>,
        status: Option<Box<SourceStatus>>,
    },
    Run(Box<SourceRun>),
    Push(Box<SourcePush>),
    Issue(Box<SourceIssue>),
    /// Incidents of an alerting source; `note` says what else the payload said (e.g. alerts
    /// Alertmanager truncated).
    Alerts {
        alerts: Vec<SourceAlert>,
        note: Option<String>,
    },
    /// An event whose type the payload names (not a header): `name` is the delivery's event.
    Named {
        name: String,
        event: Box<SourceEvent>,
    },
    /// A handled event type whose content records nothing (the reason is answered).
    Ignored(String),
    /// An event type this source adapter does not handle.
    Unhandled,
}

impl SourceEvent {
    /// The repository it is about, for the allow-list.
    pub fn repository(&self) -> Option<&RepositoryRef> {
        match self {
            SourceEvent::Deployment { deployment, .. } => Some(&deployment.repository),
            SourceEvent::Run(run) => Some(&run.repository),
            SourceEvent::Push(push) => Some(&push.repository),
            SourceEvent::Issue(issue) => Some(&issue.repository),
            SourceEvent::Named { event, .. } => event.repository(),
            SourceEvent::Ping
            | SourceEvent::Alerts { .. }
            | SourceEvent::Ignored(_)
            | SourceEvent::Unhandled => None,
        }
    }
}

/// A time from a payload, to the microsecond, clamped into the time rule (`domain::time`):
/// never after `now` (a source's clock ahead of ours must not put a record in the future),
/// never before 1970.
pub fn payload_time(t: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    truncate_micros(t.min(now).max(super::EARLIEST))
}

/// The attribution a line of an issue body asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// `root cause: <sha>`: the first production deployment that shipped it.
    RootCause(String),
    /// `deployment: <id or number>`.
    Deployment(String),
}

/// The first `root cause: <sha>` or `deployment: <id or number>` line of `body`
/// (case-insensitive, optional `-`/`*` bullet and markdown emphasis around the key).
pub fn attribution(body: &str) -> Option<Attribution> {
    for line in body.lines() {
        let line = line
            .trim()
            .trim_start_matches(['-', '*', '>', ' '])
            .replace("**", "")
            .replace('`', "");
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().trim_start_matches('#');
        let value = value.split_whitespace().next().unwrap_or("");
        match key.trim().to_ascii_lowercase().as_str() {
            "root cause" | "root-cause" => {
                if let Some(sha) = clean_sha(value) {
                    return Some(Attribution::RootCause(sha));
                }
            }
            "deployment" => {
                // Our id (a uuid), or a number (ours, or the source's deployment id).
                let ok = uuid::Uuid::parse_str(value).is_ok()
                    || (!value.is_empty()
                        && value.len() <= 20
                        && value.bytes().all(|b| b.is_ascii_digit()));
                if ok {
                    return Some(Attribution::Deployment(value.to_owned()));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribution_lines() {
        assert_eq!(
            attribution("Checkout fails.\n\nRoot cause: ABCDEF1234\n"),
            Some(Attribution::RootCause("abcdef1234".to_owned()))
        );
        assert_eq!(
            attribution("- **Deployment**: #42"),
            Some(Attribution::Deployment("42".to_owned()))
        );
        assert_eq!(attribution("deployment: not an id!"), None);
        assert_eq!(attribution("root cause: the database"), None);
    }

    #[test]
    fn environments_and_text() {
        assert_eq!(
            clean_environment(" Production Env ").as_deref(),
            Some("production-env")
        );
        assert_eq!(clean_environment("   "), None);
        assert_eq!(clean_text("a\u{0}b\nc", 10, false), "a b c");
        assert_eq!(clean_text("abcdef", 3, false), "abc");
        assert_eq!(
            branch_of_ref("refs/heads/feature/x").as_deref(),
            Some("feature/x")
        );
        assert_eq!(branch_of_ref("refs/tags/v1"), None);
        assert!(is_zero_sha(&"0".repeat(40)));
        assert_eq!(clean_url(Some("")), None);
    }
}
