//! `/api/v1/deploy-hooks`: managed deploy hooks (admin scope). A hook's secret trigger
//! URL is shown once, in the creation response; only its SHA-256 is stored.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    core,
    domain::HookInput,
    http::{
        ApiTags, body::JsonBody, error::ApiError, extract::BearerAuth, origin, parse_id,
        state::AppState,
    },
    store::deploy_hooks::HookRecord,
};

/// A deploy hook to create, or the full replacement of one.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct DeployHookIn {
    /// 1-58 characters; unique per repository.
    #[oai(validator(min_length = 1, max_length = 58))]
    pub name: String,
    /// The repository the hook's deployments are of, e.g. `https://github.com/acme/web`.
    #[oai(validator(min_length = 1, max_length = 2048))]
    pub repository_url: String,
    /// The branch a trigger deploys unless it names another.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub branch: String,
    /// Default `production`.
    #[oai(validator(min_length = 1, max_length = 64))]
    #[oai(nullable)]
    pub environment: Option<String>,
}

impl DeployHookIn {
    fn validate(&self) -> Result<HookInput, core::Error> {
        Ok(HookInput::parse(
            &self.name,
            &self.repository_url,
            &self.branch,
            self.environment.as_deref(),
        )?)
    }
}

/// The latest deployment a hook recorded.
#[derive(Debug, Clone, Object)]
pub struct HookDeployment {
    pub id: Uuid,
    pub number: i64,
    pub status: String,
    pub environment: String,
    pub branch: String,
    /// Empty when the trigger named no commit.
    pub commit_id: String,
    #[oai(nullable)]
    pub pull_request_number: Option<i64>,
    pub deployed_at: DateTime<Utc>,
}

/// A deploy hook. Its secret is never shown again after creation.
#[derive(Debug, Clone, Object)]
pub struct DeployHook {
    pub id: Uuid,
    pub name: String,
    pub organization_id: Uuid,
    pub repository_id: Uuid,
    /// The repository URL as first recorded.
    pub repository_url: String,
    /// Normalized repository name, e.g. `acme/web`.
    pub repository: String,
    pub branch: String,
    pub environment: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the hook was last triggered (repeats answered with `already_exists` included).
    #[oai(nullable)]
    pub last_triggered_at: Option<DateTime<Utc>>,
    /// The latest deployment the hook recorded or matched.
    #[oai(nullable)]
    pub last_deployment: Option<HookDeployment>,
}

impl DeployHook {
    pub fn from_record(record: &HookRecord) -> Self {
        let h = &record.hook;
        Self {
            id: h.id,
            name: h.name.clone(),
            organization_id: h.organization_id,
            repository_id: h.repository_id,
            repository_url: record.repository.url.clone(),
            repository: record.repository.name.clone(),
            branch: h.branch.clone(),
            environment: h.environment.clone(),
            created_at: h.created_at,
            updated_at: h.updated_at,
            last_triggered_at: h.last_triggered_at,
            last_deployment: record.last_deployment.as_ref().map(|d| HookDeployment {
                id: d.id,
                number: d.number,
                status: d.status.clone(),
                environment: d.environment.clone(),
                branch: d.branch.clone(),
                commit_id: d.commit_id.clone(),
                pull_request_number: d.pull_request_number,
                deployed_at: d.deployed_at,
            }),
        }
    }
}

/// A hook just created: the only response that shows its secret.
#[derive(Debug, Clone, Object)]
pub struct CreatedDeployHook {
    #[oai(flatten)]
    pub hook: DeployHook,
    /// The secret in the trigger URL (256 random bits). Shown once: store it now.
    pub secret: String,
    /// The trigger path, `/hooks/{secret}`.
    pub path: String,
    /// The full trigger URL: `DORA_PUBLIC_URL`, else the request's host (`X-Forwarded-Host`
    /// and `X-Forwarded-Proto` only with `DORA_TRUST_FORWARDED_HEADERS`), else the path.
    pub url: String,
}

#[derive(Debug, Clone, Object)]
pub struct DeployHookList {
    pub items: Vec<DeployHook>,
}

#[derive(ApiResponse)]
pub enum CreateHookResponse {
    /// Created. The secret and trigger URL appear in this response only.
    #[oai(status = 201)]
    Created(
        Json<CreatedDeployHook>,
        #[oai(header = "Location")] String,
        /// `no-store`: the body holds the secret.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(Default)]
pub struct DeployHooksApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::DeployHooks")]
impl DeployHooksApi {
    /// Create a deploy hook
    ///
    /// Needs the `admin` scope. The response carries the hook's secret and trigger URL;
    /// they are never shown again (only a hash is stored). A second hook with the same
    /// name for the same repository is a 409.
    #[oai(
        path = "/deploy-hooks",
        method = "post",
        operation_id = "createDeployHook"
    )]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<DeployHookIn>,
    ) -> Result<CreateHookResponse, ApiError> {
        let input = body.value.validate()?;
        let (record, secret) = core::deploy_hooks::create(&state.core, &auth.0, input).await?;
        let path = format!("/hooks/{secret}");
        let url = match origin::base_url(req, &state.http) {
            Some(base) => format!("{base}{path}"),
            None => path.clone(),
        };
        let location = format!("/api/v1/deploy-hooks/{}", record.hook.id);
        Ok(CreateHookResponse::Created(
            Json(CreatedDeployHook {
                hook: DeployHook::from_record(&record),
                secret,
                path,
                url,
            }),
            location,
            "no-store".to_owned(),
        ))
    }

    /// List deploy hooks
    ///
    /// Needs the `admin` scope. Oldest first; each hook shows when it was last triggered
    /// and its latest deployment. Secrets are never shown.
    #[oai(
        path = "/deploy-hooks",
        method = "get",
        operation_id = "listDeployHooks"
    )]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<DeployHookList>, ApiError> {
        let records = core::deploy_hooks::list(&state.core, &auth.0).await?;
        Ok(Json(DeployHookList {
            items: records.iter().map(DeployHook::from_record).collect(),
        }))
    }

    /// Get a deploy hook
    #[oai(
        path = "/deploy-hooks/:id",
        method = "get",
        operation_id = "getDeployHook"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<DeployHook>, ApiError> {
        let id = parse_id(&id, "deploy hook")?;
        let record = core::deploy_hooks::get(&state.core, &auth.0, id).await?;
        Ok(Json(DeployHook::from_record(&record)))
    }

    /// Replace a deploy hook
    ///
    /// A full replace with the same fields as create (`environment` defaults to
    /// `production` again when left out). The secret does not change.
    #[oai(
        path = "/deploy-hooks/:id",
        method = "put",
        operation_id = "replaceDeployHook"
    )]
    async fn replace(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<DeployHookIn>,
    ) -> Result<Json<DeployHook>, ApiError> {
        let id = parse_id(&id, "deploy hook")?;
        let input = body.value.validate()?;
        let record = core::deploy_hooks::replace(&state.core, &auth.0, id, input).await?;
        Ok(Json(DeployHook::from_record(&record)))
    }

    /// Delete a deploy hook
    ///
    /// Answers with the deleted hook. Its trigger URL answers 404 from now on, exactly as
    /// an unknown one; the deployments it recorded stay.
    #[oai(
        path = "/deploy-hooks/:id",
        method = "delete",
        operation_id = "deleteDeployHook"
    )]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<DeployHook>, ApiError> {
        let id = parse_id(&id, "deploy hook")?;
        let record = core::deploy_hooks::delete(&state.core, &auth.0, id).await?;
        Ok(Json(DeployHook::from_record(&record)))
    }
}
