//! `/api/v1/deploy-hooks`: managed deploy hooks (admin scope). A hook's secret trigger
//! URL is shown once, in the creation response; only its SHA-256 is stored.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    auth::{BearerAuth, Scope},
    body::JsonBody,
    compat::hooks::{hash_secret, new_secret},
    domain::{Errors, RepositoryRef, check_text, truncate_micros, validate_environment},
    error::ApiError,
    routes::ApiTags,
    state::AppState,
    store::{
        self,
        deploy_hooks::{HookFields, HookRecord},
        is_unique_violation,
    },
};

/// Longest hook name, as Cloudflare's deploy hooks allow.
pub const MAX_NAME_CHARS: usize = 58;

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
    pub environment: Option<String>,
}

/// A validated hook request (the repository is resolved in the transaction).
struct ValidHook {
    repository: RepositoryRef,
    name: String,
    branch: String,
    environment: String,
}

impl DeployHookIn {
    fn validate(&self) -> Result<ValidHook, ApiError> {
        let mut errors = Errors::default();
        let repository = errors.check("repository_url", RepositoryRef::parse(&self.repository_url));
        let name = self.name.trim();
        if name.is_empty() {
            errors.push("name", "must not be blank");
        } else if name.chars().count() > MAX_NAME_CHARS {
            errors.push(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            );
        }
        errors.check("name", check_text(name, false));
        let branch = self.branch.trim();
        if branch.is_empty() {
            errors.push("branch", "must not be blank");
        }
        errors.check("branch", check_text(branch, false));
        let environment = self.environment.as_deref().unwrap_or("production");
        errors.check("environment", validate_environment(environment));
        match (repository, errors.0.is_empty()) {
            (Some(repository), true) => Ok(ValidHook {
                repository,
                name: name.to_owned(),
                branch: branch.to_owned(),
                environment: environment.to_owned(),
            }),
            _ => Err(ApiError::validation(errors.0)),
        }
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
    pub last_triggered_at: Option<DateTime<Utc>>,
    /// The latest deployment the hook recorded or matched.
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
    /// The full trigger URL when the request named a host (`Host`, `X-Forwarded-Host`,
    /// `X-Forwarded-Proto` are honoured), else the path.
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

/// Ids are uuids; anything else is simply not found.
fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found("deploy hook"))
}

fn name_taken() -> ApiError {
    ApiError::conflict(
        "deploy-hook-name-taken",
        "a deploy hook with this name already exists for this repository",
    )
}

/// `scheme://host` of the request, when it names a host.
fn origin(req: &poem::Request) -> Option<String> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or_default().trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .or_else(|| req.uri().authority().map(|a| a.to_string()))?;
    // Only a plain host[:port]: never reflect anything else into the URL.
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return None;
    }
    let scheme = match header("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        Some("http") => "http",
        _ => req.uri().scheme_str().unwrap_or("http"),
    };
    Some(format!("{scheme}://{host}"))
}

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
        auth.0.require(Scope::Admin)?;
        let org = auth.0.organization_id;
        let valid = body.value.validate()?;
        let now = truncate_micros(Utc::now());
        let secret = new_secret();
        let txn = state.db.begin_write().await?;
        let repository =
            store::organizations::ensure_repository(&txn, org, &valid.repository, None, now)
                .await?;
        if store::deploy_hooks::find_by_name(&txn, org, repository.id, &valid.name)
            .await?
            .is_some()
        {
            return Err(name_taken());
        }
        let fields = HookFields {
            repository_id: repository.id,
            name: valid.name,
            branch: valid.branch,
            environment: valid.environment,
        };
        let hook = store::deploy_hooks::insert(&txn, org, &fields, &hash_secret(&secret), now)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    name_taken()
                } else {
                    e.into()
                }
            })?;
        txn.commit().await?;
        let record = HookRecord {
            hook,
            repository,
            last_deployment: None,
        };
        let path = format!("/hooks/{secret}");
        let url = match origin(req) {
            Some(origin) => format!("{origin}{path}"),
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
        auth.0.require(Scope::Admin)?;
        let conn = state.db.read();
        let hooks = store::deploy_hooks::list(conn, auth.0.organization_id).await?;
        let records = store::deploy_hooks::hydrate(conn, hooks).await?;
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
        auth.0.require(Scope::Admin)?;
        let id = parse_id(&id)?;
        let conn = state.db.read();
        let hook = store::deploy_hooks::find(conn, auth.0.organization_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("deploy hook"))?;
        one(conn, hook).await.map(Json)
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
        auth.0.require(Scope::Admin)?;
        let id = parse_id(&id)?;
        let org = auth.0.organization_id;
        let valid = body.value.validate()?;
        let now = truncate_micros(Utc::now());
        let txn = state.db.begin_write().await?;
        let current = store::deploy_hooks::find(&txn, org, id)
            .await?
            .ok_or_else(|| ApiError::not_found("deploy hook"))?;
        let repository =
            store::organizations::ensure_repository(&txn, org, &valid.repository, None, now)
                .await?;
        if store::deploy_hooks::find_by_name(&txn, org, repository.id, &valid.name)
            .await?
            .is_some_and(|other| other.id != id)
        {
            return Err(name_taken());
        }
        let fields = HookFields {
            repository_id: repository.id,
            name: valid.name,
            branch: valid.branch,
            environment: valid.environment,
        };
        let hook = store::deploy_hooks::replace(&txn, current, &fields, now)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    name_taken()
                } else {
                    e.into()
                }
            })?;
        let record = store::deploy_hooks::hydrate(&txn, vec![hook])
            .await?
            .pop()
            .ok_or_else(|| ApiError::not_found("deploy hook"))?;
        txn.commit().await?;
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
        auth.0.require(Scope::Admin)?;
        let id = parse_id(&id)?;
        let txn = state.db.begin_write().await?;
        let hook = store::deploy_hooks::find(&txn, auth.0.organization_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("deploy hook"))?;
        let record = one(&txn, hook).await?;
        store::deploy_hooks::delete(&txn, id).await?;
        txn.commit().await?;
        Ok(Json(record))
    }
}

async fn one<C: sea_orm::ConnectionTrait>(
    conn: &C,
    hook: entity::deploy_hooks::Model,
) -> Result<DeployHook, ApiError> {
    let record = store::deploy_hooks::hydrate(conn, vec![hook])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("deploy hook"))?;
    Ok(DeployHook::from_record(&record))
}
