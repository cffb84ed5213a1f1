//! `/api/v1/deployments`: record (iftrue-compatible body), list, read, and finish.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde::Deserialize;

use crate::{
    core,
    domain::{DeploymentChange, Status},
    http::{
        ApiTags,
        body::JsonBody,
        error::ApiError,
        extract::BearerAuth,
        headers, pagination, parse_id,
        shapes::deployment::{
            CreateResponse, Deployment, DeploymentIn, DeploymentPage, record_body,
        },
        state::AppState,
    },
    store::deployments::ListFilter,
};

/// A status and timing transition, e.g. in_progress → success with finished_at. Only forward
/// moves of an unfinished deployment are accepted.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct DeploymentPatch {
    #[oai(nullable)]
    pub status: Option<Status>,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    /// Default when finishing: now.
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct DeploymentsApi;

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
        req: &poem::Request,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        // Declared for the spec; read raw by `headers::idempotency_key`.
        #[oai(name = "Idempotency-Key")] _idempotency_key: Header<Option<String>>,
        body: JsonBody<DeploymentIn>,
    ) -> Result<CreateResponse, ApiError> {
        record_body(
            &state,
            &auth,
            headers::idempotency_key(req)?.as_deref(),
            "POST /api/v1/deployments",
            body,
            Deployment::from_record,
        )
        .await
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
        let status = status
            .0
            .as_deref()
            .map(|word| {
                word.parse::<Status>()
                    .map_err(|e| core::Error::invalid_parameter("status", e.to_string()))
            })
            .transpose()?;
        let filter = ListFilter {
            repository_id: None,
            environment: environment.0,
            branch: branch.0,
            status,
            since: since.0,
            until: until.0,
            before_number: pagination::number_cursor(cursor.0.as_deref())?,
        };
        let (records, more) = core::deployments::list(
            &state.core,
            &auth.0,
            repository.0.as_deref(),
            filter,
            pagination::limit(limit.0),
        )
        .await?;
        Ok(Json(DeploymentPage {
            next_cursor: pagination::next_cursor(&records, more, |r| {
                r.deployment.number.to_string()
            }),
            items: records.iter().map(Deployment::from_record).collect(),
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
        let id = parse_id(&id, "deployment")?;
        let record = core::deployments::get(&state.core, &auth.0, id).await?;
        Ok(Json(Deployment::from_record(&record)))
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
        let id = parse_id(&id, "deployment")?;
        let patch = body.value;
        let change = DeploymentChange {
            status: patch.status,
            started_at: patch.started_at,
            finished_at: patch.finished_at,
        };
        let record = core::deployments::patch(&state.core, &auth.0, id, change).await?;
        Ok(Json(Deployment::from_record(&record)))
    }
}
