//! `/api/v1/deployments/{id}/statuses`: a deployment's append-only status history.
//! A deployment's current status is its latest one.

use chrono::{DateTime, Utc};
use entity::{deployment_statuses, deployments};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    auth::{BearerAuth, Principal, Scope},
    body::JsonBody,
    domain::{
        Errors, MAX_STATUS_DESCRIPTION, StatusState, check_http_url, check_text, truncate_micros,
        validate_environment,
    },
    error::ApiError,
    routes::{ApiTags, deployments::parse_id},
    state::AppState,
    store::{
        self,
        statuses::{NewStatus, Posted},
    },
};

/// Status states (GitHub's vocabulary). `pending` is stored as `queued` in the
/// deployment's canonical status; the history keeps `pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum StateIn {
    Queued,
    Pending,
    InProgress,
    Success,
    Failure,
    Error,
    Inactive,
}

impl StateIn {
    pub fn domain(self) -> StatusState {
        match self {
            StateIn::Queued => StatusState::Queued,
            StateIn::Pending => StatusState::Pending,
            StateIn::InProgress => StatusState::InProgress,
            StateIn::Success => StatusState::Success,
            StateIn::Failure => StatusState::Failure,
            StateIn::Error => StatusState::Error,
            StateIn::Inactive => StatusState::Inactive,
        }
    }
}

/// A new status of a deployment.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct StatusIn {
    pub state: StateIn,
    /// At most 140 characters.
    #[oai(validator(max_length = 140))]
    pub description: Option<String>,
    /// Full URL of the deployment's output (also given back as `target_url`).
    #[oai(validator(max_length = 2048))]
    pub log_url: Option<String>,
    /// URL of the deployed environment.
    #[oai(validator(max_length = 2048))]
    pub environment_url: Option<String>,
    /// Default: the environment of the previous status, else the deployment's.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub environment: Option<String>,
    /// Default true: a `success` marks earlier successful deployments of the same
    /// repository and environment that are non-transient and non-production `inactive`.
    pub auto_inactive: Option<bool>,
}

/// Raw fields of a status, shared with the GitHub-compatible API.
pub struct RawStatus<'a> {
    pub state: StatusState,
    pub description: Option<&'a str>,
    pub log_url: Option<&'a str>,
    pub environment_url: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub auto_inactive: Option<bool>,
}

/// Validates a status: description ≤ 140 characters, http(s) URLs, environment name.
/// Empty strings are "not given", as GitHub treats them.
pub fn parse_status(raw: RawStatus<'_>, creator: Option<String>) -> Result<NewStatus, ApiError> {
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
    errors
        .finish(|| NewStatus {
            state: raw.state,
            description,
            log_url,
            environment_url,
            environment,
            auto_inactive: raw.auto_inactive.unwrap_or(true),
            creator,
        })
        .map_err(ApiError::validation)
}

/// Appends `new` to the deployment `find` loads (in the write transaction) and commits.
pub async fn post_status(
    state: &AppState,
    principal: &Principal,
    deployment_id: Uuid,
    new: &NewStatus,
) -> Result<Posted, ApiError> {
    principal.require(Scope::Ingest)?;
    let now = truncate_micros(Utc::now());
    let txn = state.db.begin_write().await?;
    let deployment: deployments::Model =
        store::deployments::find_for_update(&txn, principal.organization_id, deployment_id)
            .await?
            .ok_or_else(|| ApiError::not_found("deployment"))?;
    let posted = store::statuses::post(&txn, deployment, new, now).await?;
    txn.commit().await?;
    Ok(posted)
}

/// One status of a deployment.
#[derive(Debug, Clone, Object)]
pub struct DeploymentStatus {
    pub id: i64,
    pub deployment_id: Uuid,
    /// queued, pending, in_progress, success, failure, error, inactive.
    pub state: String,
    pub description: String,
    pub log_url: Option<String>,
    /// The same as `log_url`.
    pub target_url: Option<String>,
    pub environment_url: Option<String>,
    pub environment: String,
    /// The `sub` of the token that posted it.
    pub creator: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl DeploymentStatus {
    pub fn from_model(m: &deployment_statuses::Model) -> Self {
        Self {
            id: m.id,
            deployment_id: m.deployment_id,
            state: m.state.clone(),
            description: m.description.clone(),
            log_url: m.log_url.clone(),
            target_url: m.log_url.clone(),
            environment_url: m.environment_url.clone(),
            environment: m.environment.clone(),
            creator: m.creator.clone(),
            created_at: m.created_at,
        }
    }
}

/// A page of statuses, newest first.
#[derive(Debug, Clone, Object)]
pub struct StatusPage {
    pub items: Vec<DeploymentStatus>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreateStatusResponse {
    /// Appended.
    #[oai(status = 201)]
    Created(Json<DeploymentStatus>, #[oai(header = "Location")] String),
}

pub struct StatusesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Deployments")]
impl StatusesApi {
    /// Add a deployment status
    ///
    /// Appends to the deployment's history and makes it the current status: the
    /// deployment's `status` becomes the state (`pending` → `queued`), `in_progress`
    /// sets `started_at`, the first `success` sets `finished_at` (the deploy time) unless
    /// the client gave one, `failure`/`error` set `finished_at` if unset. `inactive` never
    /// hides a failure. With `auto_inactive` (default true), a `success` adds an
    /// `inactive` status to earlier successful, non-transient, non-production deployments
    /// of the same repository and environment.
    #[oai(
        path = "/deployments/:id/statuses",
        method = "post",
        operation_id = "createDeploymentStatus"
    )]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<StatusIn>,
    ) -> Result<CreateStatusResponse, ApiError> {
        auth.0.require(Scope::Ingest)?;
        let id = parse_id(&id)?;
        let b = &body.value;
        let new = parse_status(
            RawStatus {
                state: b.state.domain(),
                description: b.description.as_deref(),
                log_url: b.log_url.as_deref(),
                environment_url: b.environment_url.as_deref(),
                environment: b.environment.as_deref(),
                auto_inactive: b.auto_inactive,
            },
            auth.0.subject.clone(),
        )?;
        let posted = post_status(&state, &auth.0, id, &new).await?;
        let location = format!("/api/v1/deployments/{id}/statuses/{}", posted.status.id);
        Ok(CreateStatusResponse::Created(
            Json(DeploymentStatus::from_model(&posted.status)),
            location,
        ))
    }

    /// List a deployment's statuses
    ///
    /// Newest first; the first is the current status.
    #[oai(
        path = "/deployments/:id/statuses",
        method = "get",
        operation_id = "listDeploymentStatuses"
    )]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<StatusPage>, ApiError> {
        auth.0.require(Scope::Read)?;
        let id = parse_id(&id)?;
        let before = match cursor.0.as_deref() {
            Some(c) => Some(c.parse::<i64>().map_err(|_| {
                ApiError::invalid_parameter("cursor", "not a cursor returned by this API")
            })?),
            None => None,
        };
        store::deployments::find(state.db.read(), auth.0.organization_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("deployment"))?;
        let limit = limit.0.unwrap_or(50).clamp(1, 200);
        let mut rows = store::statuses::list(state.db.read(), id, before, 0, limit + 1).await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|s| s.id.to_string())
        } else {
            None
        };
        Ok(Json(StatusPage {
            items: rows.iter().map(DeploymentStatus::from_model).collect(),
            next_cursor,
        }))
    }

    /// Get a deployment status
    #[oai(
        path = "/deployments/:id/statuses/:status_id",
        method = "get",
        operation_id = "getDeploymentStatus"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        status_id: Path<String>,
    ) -> Result<Json<DeploymentStatus>, ApiError> {
        auth.0.require(Scope::Read)?;
        let id = parse_id(&id)?;
        store::deployments::find(state.db.read(), auth.0.organization_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("deployment"))?;
        let status_id = status_id
            .parse::<i64>()
            .map_err(|_| ApiError::not_found("deployment status"))?;
        store::statuses::get(state.db.read(), id, status_id)
            .await?
            .map(|s| Json(DeploymentStatus::from_model(&s)))
            .ok_or_else(|| ApiError::not_found("deployment status"))
    }
}
