//! `/api/v1/deployments/{id}/statuses`: a deployment's append-only status history.
//! A deployment's current status is its latest one.

use chrono::{DateTime, Utc};
use entity::deployment_statuses;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    core,
    domain::{GithubState, NewStatus, RawStatus},
    http::{
        ApiTags, body::JsonBody, error::ApiError, extract::BearerAuth, pagination, parse_id,
        state::AppState,
    },
};

/// A new status of a deployment.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct StatusIn {
    pub state: GithubState,
    /// At most 140 characters.
    #[oai(validator(max_length = 140))]
    #[oai(nullable)]
    pub description: Option<String>,
    /// Full URL of the deployment's output (also given back as `target_url`).
    #[oai(validator(max_length = 2048))]
    #[oai(nullable)]
    pub log_url: Option<String>,
    /// URL of the deployed environment.
    #[oai(validator(max_length = 2048))]
    #[oai(nullable)]
    pub environment_url: Option<String>,
    /// Default: the environment of the previous status, else the deployment's.
    #[oai(validator(min_length = 1, max_length = 64))]
    #[oai(nullable)]
    pub environment: Option<String>,
    /// Default true: a `success` marks earlier successful deployments of the same
    /// repository and environment that are non-transient and non-production `inactive`.
    #[oai(nullable)]
    pub auto_inactive: Option<bool>,
}

/// One status of a deployment.
#[derive(Debug, Clone, Object)]
pub struct DeploymentStatus {
    pub id: i64,
    pub deployment_id: Uuid,
    /// queued, pending, in_progress, success, failure, error, inactive.
    pub state: String,
    pub description: String,
    #[oai(nullable)]
    pub log_url: Option<String>,
    /// The same as `log_url`.
    #[oai(nullable)]
    pub target_url: Option<String>,
    #[oai(nullable)]
    pub environment_url: Option<String>,
    pub environment: String,
    /// The `sub` of the token that posted it.
    #[oai(nullable)]
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
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreateStatusResponse {
    /// Appended.
    #[oai(status = 201)]
    Created(Json<DeploymentStatus>, #[oai(header = "Location")] String),
}

#[derive(Default)]
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
        let id = parse_id(&id, "deployment")?;
        let b = &body.value;
        let new = NewStatus::parse(
            RawStatus {
                state: b.state,
                description: b.description.as_deref(),
                log_url: b.log_url.as_deref(),
                environment_url: b.environment_url.as_deref(),
                environment: b.environment.as_deref(),
                auto_inactive: b.auto_inactive,
            },
            auth.0.subject.clone(),
        )
        .map_err(core::Error::from)?;
        let posted = core::statuses::post(&state.core, &auth.0, id, &new).await?;
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
        let id = parse_id(&id, "deployment")?;
        let before = pagination::number_cursor(cursor.0.as_deref())?;
        let (rows, more) =
            core::statuses::list(&state.core, &auth.0, id, before, pagination::limit(limit.0))
                .await?;
        Ok(Json(StatusPage {
            next_cursor: pagination::next_cursor(&rows, more, |s| s.id.to_string()),
            items: rows.iter().map(DeploymentStatus::from_model).collect(),
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
        let id = parse_id(&id, "deployment")?;
        let status_id = status_id
            .parse::<i64>()
            .map_err(|_| core::Error::NotFound("deployment status"))?;
        let status = core::statuses::get(&state.core, &auth.0, id, status_id).await?;
        Ok(Json(DeploymentStatus::from_model(&status)))
    }
}
