//! `/api/v1/deployments`: record (iftrue-compatible body), list, read, and finish.

use chrono::{DateTime, Utc};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    auth::{BearerAuth, Scope},
    body::JsonBody,
    domain::{
        ChangeError, DeploymentChange, NewDeployment, RawDeployment, Status, truncate_micros,
    },
    error::ApiError,
    ingest::{self, Created},
    routes::ApiTags,
    state::AppState,
    store::{
        self,
        deployments::{DeploymentRecord, ListFilter},
    },
};

/// Status words accepted on input: the canonical ones plus iftrue's `succes` and `fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum InputStatus {
    Succes,
    Success,
    InProgress,
    Queued,
    Fail,
    Failure,
    Error,
    Canceled,
}

impl InputStatus {
    pub fn canonical(self) -> Status {
        match self {
            InputStatus::Succes | InputStatus::Success => Status::Success,
            InputStatus::InProgress => Status::InProgress,
            InputStatus::Queued => Status::Queued,
            InputStatus::Fail | InputStatus::Failure => Status::Failure,
            InputStatus::Error => Status::Error,
            InputStatus::Canceled => Status::Canceled,
        }
    }
}

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
    pub changelog: Option<String>,
    /// Link to the release, pipeline run or tag.
    #[oai(validator(max_length = 2048))]
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
    pub deployment_duration: Option<f64>,
    pub is_fix: Option<bool>,
    pub is_hotfix: Option<bool>,
    /// Default false.
    pub is_forced: Option<bool>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
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
    pub deployment_node_id: Option<String>,
    /// Default `succes` (success).
    pub status: Option<InputStatus>,
    /// Default `production`.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub environment: Option<String>,
    /// Default: `environment` is `production`.
    pub is_production: Option<bool>,
    pub is_rollback: Option<bool>,
    /// For backfilling history.
    pub started_at: Option<DateTime<Utc>>,
    /// When the deployment finished; its deploy time. For backfilling history.
    pub finished_at: Option<DateTime<Utc>>,
    /// The changes this deployment shipped, for lead time.
    #[oai(validator(max_items = 1000))]
    pub commits: Option<Vec<CommitIn>>,
    /// Team owning the repository; recorded on the repository.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub team: Option<String>,
}

impl DeploymentIn {
    pub fn to_domain(&self, now: DateTime<Utc>) -> Result<NewDeployment, ApiError> {
        NewDeployment::parse(
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
                status: self.status.map_or(Status::Success, InputStatus::canonical),
                environment: self.environment.as_deref(),
                is_production: self.is_production,
                started_at: self.started_at,
                finished_at: self.finished_at,
                commits: self
                    .commits
                    .iter()
                    .flatten()
                    .map(|c| (c.sha.as_str(), c.committed_at))
                    .collect(),
                team: self.team.as_deref(),
            },
            now,
        )
        .map_err(ApiError::validation)
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
    pub team: Option<String>,
    pub pusher_id: Option<Uuid>,
    pub member_id: Option<String>,
    pub environment: String,
    pub is_production: bool,
    pub title: String,
    pub changelog: Option<String>,
    pub url: Option<String>,
    pub branch: String,
    pub commit_id: String,
    pub node_id: Option<String>,
    pub pull_request_number: Option<i64>,
    pub commits_count: i32,
    /// Duration in seconds.
    pub deployment_duration: Option<i64>,
    pub is_fix: bool,
    pub is_hotfix: bool,
    pub is_forced: bool,
    pub is_rollback: bool,
    /// Canonical: queued, in_progress, success, failure, error, canceled, inactive. (The
    /// iftrue path answers succes, in_progress, fail.)
    pub status: String,
    /// What recorded it: api, github, deploy_hook, admin.
    pub triggered_by: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The deploy time used by the metrics: finished_at, else created_at.
    pub deployed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub commits: Vec<CommitOut>,
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
        }
    }
}

/// A page of deployments, newest first.
#[derive(Debug, Clone, Object)]
pub struct DeploymentPage {
    pub items: Vec<Deployment>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Status words a PATCH may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PatchStatus {
    InProgress,
    Success,
    Failure,
    Error,
    Canceled,
}

/// A status and timing transition, e.g. in_progress → success with finished_at.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct DeploymentPatch {
    pub status: Option<PatchStatus>,
    pub started_at: Option<DateTime<Utc>>,
    /// Default when finishing: now.
    pub finished_at: Option<DateTime<Utc>>,
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
        CreateResponse::Created(Json(c.body), c.location, c.replayed)
    }
}

pub struct DeploymentsApi;

pub const MAX_PAGE: u64 = 200;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Deployments")]
impl DeploymentsApi {
    /// Record a deployment
    ///
    /// Takes iftrue's "Deployment Tracking With HTTP Request" body. With an
    /// `Idempotency-Key`, repeating the same request records nothing new and answers the
    /// stored response again.
    #[oai(
        path = "/deployments",
        method = "post",
        operation_id = "createDeployment"
    )]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: JsonBody<DeploymentIn>,
    ) -> Result<CreateResponse, ApiError> {
        let new = body.value.to_domain(Utc::now())?;
        ingest::record_deployment(
            &state,
            &auth.0,
            idempotency_key.as_deref(),
            "POST /api/v1/deployments",
            &body.json,
            new,
            Deployment::from_record,
        )
        .await
        .map(CreateResponse::from)
    }

    /// List deployments
    ///
    /// Newest first. `since`/`until` bound the deploy time (`[since, until)`).
    #[oai(
        path = "/deployments",
        method = "get",
        operation_id = "listDeployments"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// Repository URL (any spelling) or id.
        repository: Query<Option<String>>,
        environment: Query<Option<String>>,
        branch: Query<Option<String>>,
        /// Canonical status.
        status: Query<Option<String>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<DeploymentPage>, ApiError> {
        auth.0.require(Scope::Read)?;
        let org = auth.0.organization_id;
        let mut filter = ListFilter {
            environment: environment.0,
            branch: branch.0,
            since: since.0,
            until: until.0,
            ..Default::default()
        };
        if let Some(word) = status.0.as_deref() {
            filter.status = Some(Status::parse(word).ok_or_else(|| {
                ApiError::invalid_parameter(
                    "status",
                    format!("`{word}` is not a deployment status"),
                )
            })?);
        }
        if let Some(cursor) = cursor.0.as_deref() {
            filter.before_number = Some(cursor.parse::<i64>().map_err(|_| {
                ApiError::invalid_parameter("cursor", "not a cursor returned by this API")
            })?);
        }
        let empty = || {
            Json(DeploymentPage {
                items: Vec::new(),
                next_cursor: None,
            })
        };
        if let Some(reference) = repository.0.as_deref() {
            match store::organizations::resolve_repository(state.db.read(), org, reference).await? {
                Some(r) => filter.repository_id = Some(r.id),
                None => return Ok(empty()),
            }
        }
        let limit = limit.0.unwrap_or(50).clamp(1, MAX_PAGE);
        let (records, more) =
            store::deployments::list(state.db.read(), org, &filter, limit).await?;
        let next_cursor = if more {
            records.last().map(|r| r.deployment.number.to_string())
        } else {
            None
        };
        Ok(Json(DeploymentPage {
            items: records.iter().map(Deployment::from_record).collect(),
            next_cursor,
        }))
    }

    /// Get a deployment
    #[oai(
        path = "/deployments/:id",
        method = "get",
        operation_id = "getDeployment"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<Deployment>, ApiError> {
        auth.0.require(Scope::Read)?;
        let id = parse_id(&id)?;
        store::deployments::get(state.db.read(), auth.0.organization_id, id)
            .await?
            .map(|r| Json(Deployment::from_record(&r)))
            .ok_or_else(|| ApiError::not_found("deployment"))
    }

    /// Update a deployment's status and timing
    ///
    /// Only forward transitions of an unfinished deployment: queued → in_progress →
    /// success/failure/error/canceled. Finishing without `finished_at` means now.
    #[oai(
        path = "/deployments/:id",
        method = "patch",
        operation_id = "updateDeployment"
    )]
    async fn patch(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<DeploymentPatch>,
    ) -> Result<Json<Deployment>, ApiError> {
        auth.0.require(Scope::Ingest)?;
        let id = parse_id(&id)?;
        let org = auth.0.organization_id;
        let patch = body.value;
        let change = DeploymentChange {
            status: patch.status.map(|s| match s {
                PatchStatus::InProgress => Status::InProgress,
                PatchStatus::Success => Status::Success,
                PatchStatus::Failure => Status::Failure,
                PatchStatus::Error => Status::Error,
                PatchStatus::Canceled => Status::Canceled,
            }),
            started_at: patch.started_at,
            finished_at: patch.finished_at,
        };
        let now = truncate_micros(Utc::now());
        let txn = state.db.begin_write().await?;
        let current = store::deployments::find_for_update(&txn, org, id)
            .await?
            .ok_or_else(|| ApiError::not_found("deployment"))?;
        let status = Status::parse(&current.status)
            .ok_or_else(|| ApiError::internal(format!("stored status {}", current.status)))?;
        let (status, started_at, finished_at) = change
            .apply(status, current.started_at, current.finished_at, now)
            .map_err(|e| match e {
                ChangeError::Transition { from, to } => ApiError::conflict(
                    "invalid-transition",
                    format!(
                        "a `{}` deployment cannot become `{}`",
                        from.as_str(),
                        to.as_str()
                    ),
                ),
                ChangeError::Finished(s) => ApiError::conflict(
                    "deployment-finished",
                    format!(
                        "the deployment is already `{}`; its timing cannot change",
                        s.as_str()
                    ),
                ),
                ChangeError::Invalid(errors) => ApiError::validation(errors),
            })?;
        let previous_status = current.status.clone();
        let updated =
            store::deployments::update_timing(&txn, current, status, started_at, finished_at, now)
                .await?;
        store::statuses::record_set_status(
            &txn,
            &previous_status,
            &updated,
            "Status set by PATCH",
            auth.0.subject.clone(),
            now,
        )
        .await?;
        txn.commit().await?;
        store::deployments::get(state.db.read(), org, id)
            .await?
            .map(|r| Json(Deployment::from_record(&r)))
            .ok_or_else(|| ApiError::not_found("deployment"))
    }
}

/// Ids are uuids; anything else is simply not found.
pub fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found("deployment"))
}
