//! iftrue's "Deployment Tracking With HTTP Request" at its own path,
//! `POST /v1/organization/deployment`, answering in iftrue's status words.

use poem_openapi::{OpenApi, param::Header};

use crate::{
    domain::{IftrueStatus, Status},
    http::{
        ApiTags,
        body::JsonBody,
        error::ApiError,
        extract::BearerAuth,
        headers,
        shapes::deployment::{CreateResponse, Deployment, DeploymentIn, record_body},
        state::AppState,
    },
    store::deployments::DeploymentRecord,
};

/// The canonical representation with `status` in iftrue's words.
fn render(record: &DeploymentRecord) -> Deployment {
    let mut deployment = Deployment::from_record(record);
    if let Ok(status) = deployment.status.parse::<Status>() {
        deployment.status = IftrueStatus::word_for(status).to_owned();
    }
    deployment
}

#[derive(Default)]
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
            "POST /v1/organization/deployment",
            body,
            render,
        )
        .await
    }
}
