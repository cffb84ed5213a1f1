//! Deploy-hook trigger URLs, for deploy platforms and schedulers that can only call a URL
//! (Cloudflare Workers Builds deploy hooks, Flightcontrol deploy hooks). The secret in the
//! path is the credential: it has 256 random bits, only its SHA-256 is stored, and it is
//! never logged or echoed.
//!
//! - `POST /hooks/{secret}` answers in Cloudflare's shape.
//! - `GET /hooks/{secret}?commit=…&branch=…&force=…` answers in Flightcontrol's shape.
//! - `GET|POST /hooks/{secret}/{pr_number}/{commit_sha}` records a preview deployment.
//!
//! A repeat trigger of one hook for the same environment, PR, branch and commit returns
//! the earlier deployment (`already_exists: true`) while that one is queued or in
//! progress, or within the dedupe window. Triggers are rate limited per hook and per
//! organization, in memory (so per instance).

use std::num::NonZeroU32;

use base64::Engine;
use chrono::{DateTime, Utc};
use entity::{deployments, repositories};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use poem::http::StatusCode;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use rand::RngCore;
use sea_orm::EntityTrait;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::{
    config::{ConfigError, HookArgs},
    domain::{
        DeploymentChange, NewDeployment, RepositoryRef, Status, TriggeredBy, check_text,
        normalize_sha, truncate_micros,
    },
    error::ApiError,
    ingest,
    routes::ApiTags,
    state::AppState,
    store,
};

const NO_STORE: &str = "no-store";

/// The environment of the preview form, `GET /hooks/{secret}/{pr_number}/{commit_sha}`.
pub const PREVIEW_ENVIRONMENT: &str = "preview";

/// A new hook secret: 32 random bytes (256 bits), URL-safe base64 without padding.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 (hex) of a secret: what is stored. The secret has 256 bits of entropy, so a
/// fast hash is enough (a slow password hash protects guessable secrets only).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Rate limiters and the dedupe window of deploy-hook triggers.
pub struct HookRuntime {
    per_hook: DefaultKeyedRateLimiter<Uuid>,
    per_organization: DefaultKeyedRateLimiter<Uuid>,
    /// A repeat trigger within this long of the earlier one returns it.
    pub dedupe_window: chrono::Duration,
}

/// Forget idle limiter keys once this many are kept.
const LIMITER_KEYS_BEFORE_CLEANUP: usize = 10_000;

impl HookRuntime {
    pub fn new(args: &HookArgs) -> Result<Self, ConfigError> {
        let nonzero = |setting: &'static str, value: u32| {
            NonZeroU32::new(value).ok_or_else(|| ConfigError::new(setting, "must be at least 1"))
        };
        let per_hook = Quota::per_minute(nonzero(
            "DORA_HOOK_RATE_PER_MINUTE (--hook-rate-per-minute)",
            args.hook_rate_per_minute,
        )?)
        .allow_burst(nonzero("DORA_HOOK_BURST (--hook-burst)", args.hook_burst)?);
        let per_organization = Quota::per_minute(nonzero(
            "DORA_HOOK_ORG_RATE_PER_MINUTE (--hook-org-rate-per-minute)",
            args.hook_org_rate_per_minute,
        )?)
        .allow_burst(nonzero(
            "DORA_HOOK_ORG_BURST (--hook-org-burst)",
            args.hook_org_burst,
        )?);
        Ok(Self {
            per_hook: RateLimiter::keyed(per_hook),
            per_organization: RateLimiter::keyed(per_organization),
            dedupe_window: chrono::Duration::seconds(i64::from(args.hook_dedupe_seconds)),
        })
    }

    /// Takes one trigger from the hook's and the organization's allowance, or says how
    /// many seconds to wait.
    fn admit(&self, hook: Uuid, organization: Uuid) -> Result<(), u64> {
        let wait = |limiter: &DefaultKeyedRateLimiter<Uuid>, key: &Uuid| {
            if limiter.len() > LIMITER_KEYS_BEFORE_CLEANUP {
                limiter.retain_recent();
            }
            limiter.check_key(key).map_err(|not_until| {
                let wait = not_until.wait_time_from(limiter.clock().now());
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            })
        };
        wait(&self.per_hook, &hook)?;
        wait(&self.per_organization, &organization)?;
        Ok(())
    }
}

impl Default for HookRuntime {
    fn default() -> Self {
        Self::new(&HookArgs::default()).unwrap_or_else(|_| unreachable!("defaults are valid"))
    }
}

/// One error of a trigger, as Cloudflare lists them.
#[derive(Debug, Clone, Object)]
pub struct HookErrorItem {
    pub code: u16,
    pub message: String,
}

/// A trigger error: problem details (RFC 9457) that Cloudflare-style (`success`, `errors`)
/// and Flightcontrol-style (`success`, `error`) clients read too. Never names the secret.
#[derive(Debug, Clone, Object)]
pub struct HookProblem {
    #[oai(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Always false.
    pub success: bool,
    /// The same as `detail`.
    pub error: String,
    pub errors: Vec<HookErrorItem>,
    pub messages: Vec<String>,
}

fn hook_problem(status: StatusCode, kind: &str, detail: &str) -> Json<Box<HookProblem>> {
    Json(Box::new(HookProblem {
        kind: kind.to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        success: false,
        error: detail.to_owned(),
        errors: vec![HookErrorItem {
            code: status.as_u16(),
            message: detail.to_owned(),
        }],
        messages: Vec::new(),
    }))
}

#[derive(Debug, ApiResponse)]
pub enum HookError {
    /// A query or path parameter is invalid (e.g. `commit` without `branch` on GET).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Box<HookProblem>>),
    /// No such hook: unknown and deleted secrets answer exactly alike.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Box<HookProblem>>),
    /// Over the hook's or the organization's trigger rate; nothing was recorded.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Box<HookProblem>>,
        /// Seconds to wait before the next trigger is accepted.
        #[oai(header = "Retry-After")]
        u64,
    ),
    /// Something failed on our side; the cause is logged.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Box<HookProblem>>),
    /// The database is unreachable.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Box<HookProblem>>),
}

impl HookError {
    fn invalid(name: &str, message: &str) -> Self {
        Self::BadRequest(hook_problem(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            &format!("parameter `{name}`: {message}"),
        ))
    }

    fn not_found() -> Self {
        Self::NotFound(hook_problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "deploy hook not found",
        ))
    }
}

impl From<ApiError> for HookError {
    /// Only storage failures reach here; `ApiError` has logged their cause.
    fn from(err: ApiError) -> Self {
        if err.status() == StatusCode::SERVICE_UNAVAILABLE {
            Self::Unavailable(hook_problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is not reachable",
            ))
        } else {
            Self::Internal(hook_problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "an internal error occurred; it has been logged",
            ))
        }
    }
}

impl From<sea_orm::DbErr> for HookError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::from(err).into()
    }
}

/// The deployment a trigger recorded or matched (Cloudflare's `result`).
#[derive(Debug, Clone, Object)]
pub struct TriggerResult {
    /// True when a repeat trigger matched an earlier deployment; nothing new was recorded.
    pub already_exists: bool,
    pub deployment_id: Uuid,
    pub created_on: DateTime<Utc>,
    /// Canonical status of the deployment: queued, in_progress, success, failure…
    pub status: String,
}

/// Cloudflare-style answer: `{success, errors, messages, result}`; the result's fields are
/// repeated at the top level for clients that read them flat.
#[derive(Debug, Clone, Object)]
pub struct CloudflareTrigger {
    pub success: bool,
    pub errors: Vec<HookErrorItem>,
    pub messages: Vec<String>,
    pub result: TriggerResult,
    #[oai(flatten)]
    pub flat: TriggerResult,
}

/// Flightcontrol-style answer.
#[derive(Debug, Clone, Object)]
pub struct FlightcontrolTrigger {
    pub success: bool,
    #[oai(rename = "deploymentId")]
    pub deployment_id: Uuid,
    /// True when a repeat trigger matched an earlier deployment.
    #[oai(rename = "alreadyExists")]
    pub already_exists: bool,
}

#[derive(ApiResponse)]
pub enum CloudflareResponse {
    /// Recorded, or matched an earlier deployment (`already_exists: true`).
    #[oai(status = 200)]
    Ok(
        Json<CloudflareTrigger>,
        /// `no-store`: the URL holds a secret; no cache should keep the answer.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum FlightcontrolResponse {
    /// Recorded, or matched an earlier deployment (`alreadyExists: true`).
    #[oai(status = 200)]
    Ok(
        Json<FlightcontrolTrigger>,
        /// `no-store`: the URL holds a secret; no cache should keep the answer.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

/// The parameters of one trigger, raw.
struct TriggerParams<'a> {
    commit: Option<&'a str>,
    branch: Option<&'a str>,
    status: Option<&'a str>,
    force: Option<&'a str>,
    /// Preview form: (PR number, commit) from the path.
    preview: Option<(&'a str, &'a str)>,
    /// GET (Flightcontrol) requires `branch` with `commit`; POST defaults to the hook's.
    branch_required_with_commit: bool,
}

/// A validated trigger.
struct Trigger {
    commit: Option<String>,
    branch: Option<String>,
    status: Status,
    is_forced: bool,
    pull_request_number: Option<i64>,
}

impl TriggerParams<'_> {
    fn validate(&self) -> Result<Trigger, HookError> {
        let (pull_request_number, path_commit) = match self.preview {
            Some((pr, sha)) => {
                let pr = pr
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| HookError::invalid("pr_number", "must be a PR number"))?;
                (Some(pr), Some(sha))
            }
            None => (None, None),
        };
        if path_commit.is_some() && self.commit.is_some() {
            return Err(HookError::invalid(
                "commit",
                "the preview form takes the commit from the path",
            ));
        }
        let commit = match path_commit.or(self.commit) {
            Some(sha) => Some(normalize_sha(sha).map_err(|m| {
                HookError::invalid(
                    if path_commit.is_some() {
                        "commit_sha"
                    } else {
                        "commit"
                    },
                    &m,
                )
            })?),
            None => None,
        };
        let branch = match self.branch {
            Some(b) => {
                let b = b.trim();
                if b.is_empty() || b.chars().count() > 255 {
                    return Err(HookError::invalid("branch", "must be 1-255 characters"));
                }
                check_text(b, false).map_err(|m| HookError::invalid("branch", &m))?;
                Some(b.to_owned())
            }
            None => None,
        };
        if self.branch_required_with_commit && self.commit.is_some() && branch.is_none() {
            return Err(HookError::BadRequest(hook_problem(
                StatusCode::BAD_REQUEST,
                "branch-required",
                "parameter `branch` is required when `commit` is given",
            )));
        }
        let status = match self.status {
            None | Some("success") => Status::Success,
            Some("failure") => Status::Failure,
            Some("in_progress") => Status::InProgress,
            Some(_) => {
                return Err(HookError::invalid(
                    "status",
                    "must be one of success, failure, in_progress",
                ));
            }
        };
        let is_forced = match self.force.map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") | Some("") => true,
            Some(_) => return Err(HookError::invalid("force", "must be true or false")),
        };
        Ok(Trigger {
            commit,
            branch,
            status,
            is_forced,
            pull_request_number,
        })
    }
}

/// What a trigger did.
struct Outcome {
    deployment: deployments::Model,
    already_exists: bool,
}

/// The hook a secret belongs to. The lookup goes by the secret's hash through a unique
/// index; the stored hash is then compared in constant time as well.
async fn find_hook(
    state: &AppState,
    secret: &str,
) -> Result<entity::deploy_hooks::Model, HookError> {
    let hash = hash_secret(secret);
    match store::deploy_hooks::find_by_secret_hash(state.db.read(), &hash).await? {
        Some(hook) if bool::from(hook.secret_hash.as_bytes().ct_eq(hash.as_bytes())) => Ok(hook),
        _ => Err(HookError::not_found()),
    }
}

async fn run(
    state: &AppState,
    secret: &str,
    params: TriggerParams<'_>,
) -> Result<Outcome, HookError> {
    let hook = find_hook(state, secret).await?;
    let trigger = params.validate()?;
    if let Err(retry_after) = state.hooks.admit(hook.id, hook.organization_id) {
        tracing::info!(hook_id = %hook.id, retry_after, "deploy hook trigger rate limited");
        return Err(HookError::TooManyRequests(
            hook_problem(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                &format!("too many triggers; retry in {retry_after} s"),
            ),
            retry_after.max(1),
        ));
    }
    let now = truncate_micros(Utc::now());
    let txn = state.db.begin_write().await?;
    // Serializes concurrent triggers of this hook (and sees a deletion that raced us).
    let hook = store::deploy_hooks::lock(&txn, hook.id)
        .await?
        .ok_or_else(HookError::not_found)?;
    let preview = trigger.pull_request_number.is_some();
    let environment = if preview {
        PREVIEW_ENVIRONMENT.to_owned()
    } else {
        hook.environment.clone()
    };
    let branch = trigger
        .branch
        .clone()
        .unwrap_or_else(|| hook.branch.clone());
    let commit = trigger.commit.clone().unwrap_or_default();
    let dedupe_key = format!(
        "{environment}\n{}\n{branch}\n{commit}",
        trigger
            .pull_request_number
            .map(|n| n.to_string())
            .unwrap_or_default()
    );

    if let Some((earlier, deployment)) =
        store::deploy_hooks::latest_for_key(&txn, hook.id, &dedupe_key).await?
    {
        let current = Status::parse(&deployment.status);
        let unfinished = current.is_some_and(|s| !s.is_final());
        let recent = state.hooks.dedupe_window > chrono::Duration::zero()
            && now - earlier.created_at < state.hooks.dedupe_window;
        if unfinished || recent {
            let mut deployment = deployment;
            // A repeat that reports an outcome finishes the unfinished deployment.
            if let Some(current) = current.filter(|c| !c.is_final())
                && trigger.status.is_final()
            {
                let change = DeploymentChange {
                    status: Some(trigger.status),
                    started_at: None,
                    finished_at: None,
                };
                if let Ok((status, started_at, finished_at)) =
                    change.apply(current, deployment.started_at, deployment.finished_at, now)
                {
                    deployment = store::deployments::update_timing(
                        &txn,
                        deployment,
                        status,
                        started_at,
                        finished_at,
                        now,
                    )
                    .await?;
                }
            }
            let deployment_id = deployment.id;
            store::deploy_hooks::touch(&txn, hook, deployment_id, now).await?;
            txn.commit().await?;
            return Ok(Outcome {
                deployment,
                already_exists: true,
            });
        }
    }

    let repository = repositories::Entity::find_by_id(hook.repository_id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::internal("deploy hook without its repository"))?;
    let new = NewDeployment {
        repository: RepositoryRef {
            url: repository.url,
            key: repository.key,
            name: repository.name,
        },
        team: None,
        member_external_id: None,
        is_production: environment == "production",
        environment,
        title: match trigger.pull_request_number {
            Some(pr) => format!("Deploy hook {} (PR #{pr})", hook.name),
            None => format!("Deploy hook {}", hook.name),
        },
        changelog: None,
        url: None,
        branch,
        // Empty when the trigger named no commit (platforms deploy "the latest commit").
        commit_id: commit,
        node_id: None,
        pull_request_number: trigger.pull_request_number,
        commits_count: 0,
        duration_seconds: None,
        is_fix: false,
        is_hotfix: false,
        is_forced: trigger.is_forced,
        is_rollback: false,
        status: trigger.status,
        triggered_by: TriggeredBy::DeployHook,
        started_at: (trigger.status == Status::InProgress).then_some(now),
        finished_at: None,
        commits: Vec::new(),
    };
    let record =
        ingest::record_in_transaction(&txn, hook.organization_id, &new, now, &state.known).await?;
    let deployment = record.deployment;
    store::deploy_hooks::record_trigger(&txn, hook.id, deployment.id, &dedupe_key, now).await?;
    let hook_id = hook.id;
    store::deploy_hooks::touch(&txn, hook, deployment.id, now).await?;
    txn.commit().await?;
    tracing::info!(%hook_id, deployment_id = %deployment.id, "deploy hook recorded a deployment");
    Ok(Outcome {
        deployment,
        already_exists: false,
    })
}

fn cloudflare(outcome: Outcome) -> CloudflareResponse {
    let result = TriggerResult {
        already_exists: outcome.already_exists,
        deployment_id: outcome.deployment.id,
        created_on: outcome.deployment.created_at,
        status: outcome.deployment.status,
    };
    CloudflareResponse::Ok(
        Json(CloudflareTrigger {
            success: true,
            errors: Vec::new(),
            messages: Vec::new(),
            result: result.clone(),
            flat: result,
        }),
        NO_STORE.to_owned(),
    )
}

fn flightcontrol(outcome: Outcome) -> FlightcontrolResponse {
    FlightcontrolResponse::Ok(
        Json(FlightcontrolTrigger {
            success: true,
            deployment_id: outcome.deployment.id,
            already_exists: outcome.already_exists,
        }),
        NO_STORE.to_owned(),
    )
}

pub struct HooksApi;

#[OpenApi(tag = "ApiTags::Hooks")]
impl HooksApi {
    /// Trigger a deploy hook (Cloudflare style)
    ///
    /// No token: the secret in the path is the credential. Records a deployment of the
    /// hook's repository, branch and environment (`triggered_by: deploy_hook`). No body is
    /// needed (one sent is ignored). A repeat for the same commit while the earlier
    /// deployment is queued or in progress, or within the dedupe window, answers that
    /// deployment with `already_exists: true`.
    #[oai(
        path = "/hooks/:secret",
        method = "post",
        operation_id = "triggerDeployHook"
    )]
    async fn trigger_post(
        &self,
        state: poem::web::Data<&AppState>,
        /// The hook's secret.
        secret: Path<String>,
        /// The deployed commit (7-64 hex digits). Without it the deployment has an empty
        /// `commit_id`.
        commit: Query<Option<String>>,
        /// Default: the hook's branch.
        branch: Query<Option<String>>,
        /// success (default), failure or in_progress.
        status: Query<Option<String>>,
        /// Marks the deployment `is_forced`.
        force: Query<Option<String>>,
    ) -> Result<CloudflareResponse, HookError> {
        let params = TriggerParams {
            commit: commit.0.as_deref(),
            branch: branch.0.as_deref(),
            status: status.0.as_deref(),
            force: force.0.as_deref(),
            preview: None,
            branch_required_with_commit: false,
        };
        run(&state, &secret, params).await.map(cloudflare)
    }

    /// Trigger a deploy hook (Flightcontrol style)
    ///
    /// Like the POST form, answering `{"success": true, "deploymentId": …}`. `branch` is
    /// required when `commit` is given.
    #[oai(
        path = "/hooks/:secret",
        method = "get",
        operation_id = "triggerDeployHookGet"
    )]
    async fn trigger_get(
        &self,
        state: poem::web::Data<&AppState>,
        /// The hook's secret.
        secret: Path<String>,
        /// The deployed commit (7-64 hex digits); needs `branch`.
        commit: Query<Option<String>>,
        /// The branch deployed. Default: the hook's branch. Required with `commit`.
        branch: Query<Option<String>>,
        /// success (default), failure or in_progress.
        status: Query<Option<String>>,
        /// true marks the deployment `is_forced`.
        force: Query<Option<String>>,
    ) -> Result<FlightcontrolResponse, HookError> {
        let params = TriggerParams {
            commit: commit.0.as_deref(),
            branch: branch.0.as_deref(),
            status: status.0.as_deref(),
            force: force.0.as_deref(),
            preview: None,
            branch_required_with_commit: true,
        };
        run(&state, &secret, params).await.map(flightcontrol)
    }

    /// Trigger a preview deployment (Flightcontrol style)
    ///
    /// Records a deployment of the hook's repository to the non-production `preview`
    /// environment, carrying the PR number and commit from the path. Previews never count
    /// in production metrics.
    #[oai(
        path = "/hooks/:secret/:pr_number/:commit_sha",
        method = "get",
        operation_id = "triggerDeployHookPreview"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn preview_get(
        &self,
        state: poem::web::Data<&AppState>,
        /// The hook's secret.
        secret: Path<String>,
        /// The pull request number.
        pr_number: Path<String>,
        /// The deployed commit, 7-64 hex digits.
        commit_sha: Path<String>,
        /// The PR's branch. Default: the hook's branch.
        branch: Query<Option<String>>,
        /// success (default), failure or in_progress.
        status: Query<Option<String>>,
        /// true marks the deployment `is_forced`.
        force: Query<Option<String>>,
    ) -> Result<FlightcontrolResponse, HookError> {
        let params = TriggerParams {
            commit: None,
            branch: branch.0.as_deref(),
            status: status.0.as_deref(),
            force: force.0.as_deref(),
            preview: Some((pr_number.0.as_str(), commit_sha.0.as_str())),
            branch_required_with_commit: false,
        };
        run(&state, &secret, params).await.map(flightcontrol)
    }

    /// Trigger a preview deployment (Cloudflare style)
    ///
    /// The preview form answering in Cloudflare's shape.
    #[oai(
        path = "/hooks/:secret/:pr_number/:commit_sha",
        method = "post",
        operation_id = "triggerDeployHookPreviewPost"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn preview_post(
        &self,
        state: poem::web::Data<&AppState>,
        /// The hook's secret.
        secret: Path<String>,
        /// The pull request number.
        pr_number: Path<String>,
        /// The deployed commit, 7-64 hex digits.
        commit_sha: Path<String>,
        /// The PR's branch. Default: the hook's branch.
        branch: Query<Option<String>>,
        /// success (default), failure or in_progress.
        status: Query<Option<String>>,
        /// true marks the deployment `is_forced`.
        force: Query<Option<String>>,
    ) -> Result<CloudflareResponse, HookError> {
        let params = TriggerParams {
            commit: None,
            branch: branch.0.as_deref(),
            status: status.0.as_deref(),
            force: force.0.as_deref(),
            preview: Some((pr_number.0.as_str(), commit_sha.0.as_str())),
            branch_required_with_commit: false,
        };
        run(&state, &secret, params).await.map(cloudflare)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bit_url_safe_and_hashed_to_hex() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&a)
            .unwrap_or_default();
        assert_eq!(bytes.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        let hash = hash_secret(&a);
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, hash_secret(&a));
        assert_ne!(hash, hash_secret(&b));
    }

    #[test]
    fn the_hook_limit_refuses_past_its_burst() {
        let runtime = HookRuntime::new(&HookArgs {
            hook_rate_per_minute: 1,
            hook_burst: 2,
            ..HookArgs::default()
        })
        .unwrap_or_default();
        let (hook, org) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(runtime.admit(hook, org).is_ok());
        assert!(runtime.admit(hook, org).is_ok());
        let wait = runtime.admit(hook, org).err().unwrap_or(0);
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(runtime.admit(Uuid::now_v7(), org).is_ok());
    }
}
