//! iftrue's "Deployment Tracking With HTTP Request" at its own path,
//! `POST /v1/organization/deployment`, answering in iftrue's status words.

use chrono::Utc;
use poem_openapi::{OpenApi, param::Header};

use crate::{
    auth::BearerAuth,
    body::JsonBody,
    error::ApiError,
    ingest,
    routes::{
        ApiTags,
        deployments::{CreateResponse, Deployment, DeploymentIn},
    },
    state::AppState,
    store::deployments::DeploymentRecord,
};

/// Canonical status → iftrue's vocabulary (`succes`, `in_progress`, `fail`).
pub fn iftrue_status(canonical: &str) -> &str {
    match canonical {
        "success" => "succes",
        "failure" | "error" => "fail",
        "queued" | "in_progress" => "in_progress",
        other => other,
    }
}

fn render(record: &DeploymentRecord) -> Deployment {
    let mut deployment = Deployment::from_record(record);
    deployment.status = iftrue_status(&deployment.status).to_owned();
    deployment
}

pub struct IftrueApi;

#[OpenApi(tag = "ApiTags::Iftrue")]
impl IftrueApi {
    /// Record a deployment (iftrue path)
    ///
    /// The same operation as `POST /api/v1/deployments`, at iftrue's own path; the
    /// response's `status` uses iftrue's words (`succes`, `in_progress`, `fail`).
    #[oai(
        path = "/v1/organization/deployment",
        method = "post",
        operation_id = "iftrueCreateDeployment"
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
            "POST /v1/organization/deployment",
            &body.json,
            new,
            render,
        )
        .await
        .map(CreateResponse::from)
    }
}
