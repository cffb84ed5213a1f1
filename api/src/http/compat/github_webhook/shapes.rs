//! The parts of GitHub's webhook payloads dora-tracker reads (GitHub's "Webhook events and
//! payloads" documentation; the tests use `@octokit/webhooks-examples` shapes). Unknown
//! fields are ignored: GitHub adds fields, and a delivery must not fail for that.

use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Repository {
    pub html_url: String,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub login: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Deployment {
    pub id: i64,
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub task: Option<String>,
    /// An object, or a string as the client sent it.
    pub payload: Option<serde_json::Value>,
    pub environment: Option<String>,
    pub original_environment: Option<String>,
    pub description: Option<String>,
    pub creator: Option<User>,
    pub created_at: DateTime<Utc>,
    pub url: Option<String>,
    pub production_environment: Option<bool>,
    pub transient_environment: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct DeploymentStatus {
    pub id: i64,
    pub state: String,
    pub description: Option<String>,
    pub environment: Option<String>,
    pub target_url: Option<String>,
    pub log_url: Option<String>,
    pub environment_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub creator: Option<User>,
}

/// The run a deployment of a GitHub Actions job belongs to.
#[derive(Debug, Deserialize)]
pub struct RunRef {
    pub id: i64,
}

/// `X-GitHub-Event: deployment`.
#[derive(Debug, Deserialize)]
pub struct DeploymentEvent {
    pub action: Option<String>,
    pub deployment: Deployment,
    pub repository: Repository,
    pub workflow_run: Option<RunRef>,
}

/// `X-GitHub-Event: deployment_status`.
#[derive(Debug, Deserialize)]
pub struct DeploymentStatusEvent {
    pub action: Option<String>,
    pub deployment_status: DeploymentStatus,
    pub deployment: Deployment,
    pub repository: Repository,
    pub workflow_run: Option<RunRef>,
}

#[derive(Debug, Deserialize)]
pub struct WorkflowRun {
    pub id: i64,
    pub name: Option<String>,
    pub path: Option<String>,
    pub display_title: Option<String>,
    pub head_sha: String,
    pub head_branch: Option<String>,
    pub run_started_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub conclusion: Option<String>,
    pub run_attempt: Option<i64>,
    pub html_url: Option<String>,
    pub actor: Option<User>,
    pub triggering_actor: Option<User>,
}

#[derive(Debug, Deserialize)]
pub struct Workflow {
    pub name: Option<String>,
    pub path: Option<String>,
}

/// `X-GitHub-Event: workflow_run`.
#[derive(Debug, Deserialize)]
pub struct WorkflowRunEvent {
    pub action: String,
    pub workflow_run: WorkflowRun,
    pub workflow: Option<Workflow>,
    pub repository: Repository,
}

#[derive(Debug, Deserialize)]
pub struct PushCommit {
    pub id: String,
    pub timestamp: DateTime<Utc>,
}

/// `X-GitHub-Event: push`.
#[derive(Debug, Deserialize)]
pub struct PushEvent {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before: String,
    pub after: String,
    #[serde(default)]
    pub forced: bool,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub commits: Vec<PushCommit>,
    pub head_commit: Option<PushCommit>,
    pub repository: Repository,
}

#[derive(Debug, Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct Issue {
    pub id: i64,
    pub number: i64,
    pub title: Option<String>,
    pub body: Option<String>,
    pub state: Option<String>,
    pub labels: Option<Vec<Label>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub html_url: Option<String>,
    /// Set when the "issue" is a pull request.
    pub pull_request: Option<serde_json::Value>,
}

/// `X-GitHub-Event: issues`.
#[derive(Debug, Deserialize)]
pub struct IssuesEvent {
    pub action: String,
    pub issue: Issue,
    /// The label added or removed (`labeled`, `unlabeled`).
    pub label: Option<Label>,
    pub repository: Repository,
}
