//! The JSON shapes of a deployment: iftrue's create body (which the canonical API and iftrue's
//! own path both take) and the record every deployment surface but GitHub's answers with.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, payload::Json};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    core::{
        self,
        idempotency::{Created, Key},
    },
    domain::{IftrueStatus, NewDeployment, RawDeployment, Status},
    http::{body::JsonBody, error::ApiError, extract::BearerAuth, state::AppState},
    store::deployments::DeploymentRecord,
};

/// A commit a deployment shipped.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CommitIn {
    /// Commit id, 7-64 hex digits (checked with the rest of the body, so the error names
    /// `commits[i].sha`).
    pub sha: String,
    /// When the change was committed (RFC 3339); lead time is measured from here.
    pub committed_at: DateTime<Utc>,
}

/// The `(sha, committed_at)` pairs of a body's commits.
pub fn commit_pairs(commits: &Option<Vec<CommitIn>>) -> Vec<(&str, DateTime<Utc>)> {
    commits
        .iter()
        .flatten()
        .map(|c| (c.sha.as_str(), c.committed_at))
        .collect()
}

/// A deployment record: iftrue's "Deployment Tracking With HTTP Request" body, plus
/// dora-tracker's extensions (`environment`, `is_production`, `is_rollback`,
/// `started_at`, `finished_at`, `commits`, `team`).
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct DeploymentIn {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub title: String,
    #[oai(validator(max_length = 20000))]
    #[oai(nullable)]
    pub changelog: Option<String>,
    /// Link to the release, pipeline run or tag.
    #[oai(validator(max_length = 2048))]
    #[oai(nullable)]
    pub url: Option<String>,
    #[oai(validator(min_length = 1, max_length = 255))]
    pub branch: String,
    /// The deployed commit, 7-64 hex digits.
    // 7-64 hex digits, checked by `domain::normalize_sha` (a schema `pattern` here would make
    // poem-openapi compile the regex on every request).
    #[oai(validator(min_length = 7, max_length = 64))]
    pub commit_id: String,
    /// Duration in minutes (as iftrue documents). Responses give seconds.
    #[oai(validator(minimum(value = "0"), maximum(value = "525600")))]
    #[oai(nullable)]
    pub deployment_duration: Option<f64>,
    #[oai(nullable)]
    pub is_fix: Option<bool>,
    #[oai(nullable)]
    pub is_hotfix: Option<bool>,
    /// Default false.
    #[oai(nullable)]
    pub is_forced: Option<bool>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
    #[oai(nullable)]
    pub commits_count: Option<i32>,
    /// Who deployed: any stable id of the person or bot.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub member_id: String,
    #[oai(validator(minimum(value = "0")))]
    pub pull_request_number: i64,
    /// e.g. `https://github.com/acme/web`; any spelling of one repository is one repository.
    #[oai(validator(min_length = 1, max_length = 2048))]
    pub repository_url: String,
    #[oai(validator(max_length = 255))]
    #[oai(nullable)]
    pub deployment_node_id: Option<String>,
    /// Default `succes` (success).
    #[oai(nullable)]
    pub status: Option<IftrueStatus>,
    /// Default `production`.
    #[oai(validator(min_length = 1, max_length = 64))]
    #[oai(nullable)]
    pub environment: Option<String>,
    /// Default: `environment` is `production`.
    #[oai(nullable)]
    pub is_production: Option<bool>,
    #[oai(nullable)]
    pub is_rollback: Option<bool>,
    /// For backfilling history.
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    /// When the deployment finished; its deploy time. For backfilling history.
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The changes this deployment shipped, for lead time.
    #[oai(validator(max_items = 1000))]
    #[oai(nullable)]
    pub commits: Option<Vec<CommitIn>>,
    /// Team owning the repository; recorded on the repository.
    #[oai(validator(min_length = 1, max_length = 128))]
    #[oai(nullable)]
    pub team: Option<String>,
}

impl DeploymentIn {
    pub fn to_domain(&self, now: DateTime<Utc>) -> Result<NewDeployment, ApiError> {
        Ok(NewDeployment::parse(
            RawDeployment {
                title: &self.title,
                changelog: self.changelog.as_deref(),
                url: self.url.as_deref(),
                branch: &self.branch,
                commit_id: &self.commit_id,
                deployment_duration_minutes: self.deployment_duration,
                is_fix: self.is_fix.unwrap_or(false),
                is_hotfix: self.is_hotfix.unwrap_or(false),
                is_forced: self.is_forced.unwrap_or(false),
                is_rollback: self.is_rollback.unwrap_or(false),
                commits_count: self.commits_count.unwrap_or(0),
                member_id: Some(&self.member_id),
                pull_request_number: Some(self.pull_request_number),
                repository_url: &self.repository_url,
                node_id: self.deployment_node_id.as_deref(),
                status: self.status.map_or(Status::Success, IftrueStatus::canonical),
                environment: self.environment.as_deref(),
                is_production: self.is_production,
                started_at: self.started_at,
                finished_at: self.finished_at,
                commits: commit_pairs(&self.commits),
                team: self.team.as_deref(),
            },
            now,
        )
        .map_err(core::Error::from)?)
    }
}

#[derive(Debug, Clone, Object)]
pub struct CommitOut {
    pub sha: String,
    pub committed_at: DateTime<Utc>,
}

/// A recorded deployment.
#[derive(Debug, Clone, Object)]
pub struct Deployment {
    pub id: Uuid,
    /// Increasing integer id (GitHub-style).
    pub number: i64,
    pub organization_id: Uuid,
    pub repository_id: Uuid,
    /// The repository URL as first recorded.
    pub repository_url: String,
    /// Normalized repository name, e.g. `acme/web`.
    pub repository: String,
    #[oai(nullable)]
    pub team: Option<String>,
    #[oai(nullable)]
    pub pusher_id: Option<Uuid>,
    #[oai(nullable)]
    pub member_id: Option<String>,
    pub environment: String,
    pub is_production: bool,
    pub title: String,
    #[oai(nullable)]
    pub changelog: Option<String>,
    #[oai(nullable)]
    pub url: Option<String>,
    pub branch: String,
    pub commit_id: String,
    #[oai(nullable)]
    pub node_id: Option<String>,
    #[oai(nullable)]
    pub pull_request_number: Option<i64>,
    pub commits_count: i32,
    /// Duration in seconds.
    #[oai(nullable)]
    pub deployment_duration: Option<i64>,
    pub is_fix: bool,
    pub is_hotfix: bool,
    pub is_forced: bool,
    pub is_rollback: bool,
    /// Canonical: queued, in_progress, success, failure, error, canceled, inactive. (The
    /// iftrue path answers succes, in_progress, fail.)
    pub status: String,
    /// What recorded it: api, github, deploy_hook, admin, github_webhook, gitlab_webhook.
    pub triggered_by: String,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The deploy time used by the metrics: finished_at, else created_at.
    pub deployed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub commits: Vec<CommitOut>,
    /// The caller's own id, for a deployment imported with one
    /// (`POST /api/v1/deployments/import`).
    #[oai(nullable)]
    pub external_id: Option<String>,
}

impl Deployment {
    pub fn from_record(record: &DeploymentRecord) -> Self {
        let d = &record.deployment;
        Self {
            id: d.id,
            number: d.number,
            organization_id: d.organization_id,
            repository_id: d.repository_id,
            repository_url: record.repository.url.clone(),
            repository: record.repository.name.clone(),
            team: record.repository.team.clone(),
            pusher_id: d.pusher_id,
            member_id: record.member_external_id.clone(),
            environment: d.environment.clone(),
            is_production: d.is_production,
            title: d.title.clone(),
            changelog: d.changelog.clone(),
            url: d.url.clone(),
            branch: d.branch.clone(),
            commit_id: d.commit_id.clone(),
            node_id: d.node_id.clone(),
            pull_request_number: d.pull_request_number,
            commits_count: d.commits_count,
            deployment_duration: d.duration_seconds,
            is_fix: d.is_fix,
            is_hotfix: d.is_hotfix,
            is_forced: d.is_forced,
            is_rollback: d.is_rollback,
            status: d.status.clone(),
            triggered_by: d.triggered_by.clone(),
            started_at: d.started_at,
            finished_at: d.finished_at,
            deployed_at: d.deployed_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
            commits: record
                .commits
                .iter()
                .map(|c| CommitOut {
                    sha: c.sha.clone(),
                    committed_at: c.committed_at,
                })
                .collect(),
            external_id: d.external_id.clone(),
        }
    }
}

/// A page of deployments, newest first.
#[derive(Debug, Clone, Object)]
pub struct DeploymentPage {
    pub items: Vec<Deployment>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreateResponse {
    /// Recorded (or, with `Idempotent-Replayed: true`, recorded before by the same request).
    #[oai(status = 201)]
    Created(
        Json<Deployment>,
        #[oai(header = "Location")] String,
        #[oai(header = "Idempotent-Replayed")] Option<String>,
    ),
}

impl From<Created<Deployment>> for CreateResponse {
    fn from(c: Created<Deployment>) -> Self {
        CreateResponse::Created(
            Json(c.body),
            c.location,
            c.replayed.then(|| "true".to_owned()),
        )
    }
}

/// Records the body of `POST /api/v1/deployments` or iftrue's own path, answering with
/// `render`'s representation.
pub async fn record_body(
    state: &AppState,
    auth: &BearerAuth,
    idempotency_key: Option<&str>,
    operation: &str,
    body: JsonBody<DeploymentIn>,
    render: fn(&DeploymentRecord) -> Deployment,
) -> Result<CreateResponse, ApiError> {
    let key = Key::new(idempotency_key, operation, &body.json)?;
    let new = body.value.to_domain(Utc::now())?;
    let created =
        core::deployments::record(&state.core, &auth.0, key.as_ref(), new, render).await?;
    Ok(CreateResponse::from(created))
}
