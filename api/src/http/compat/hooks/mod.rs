//! Deploy-hook trigger URLs, for deploy platforms and schedulers that can only call a URL
//! (Cloudflare Workers Builds deploy hooks, Flightcontrol deploy hooks): the adapter from their
//! parameters and answer shapes to `core::hooks`. The secret in the path is the credential; it
//! is never logged or echoed.
//!
//! - `POST /hooks/{secret}` answers in Cloudflare's shape.
//! - `GET /hooks/{secret}?commit=…&branch=…&force=…` answers in Flightcontrol's shape.
//! - `GET|POST /hooks/{secret}/{pr_number}/{commit_sha}` records a preview deployment.

mod shapes;

use poem::Request;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};

use crate::{
    core::{
        self,
        hooks::{Outcome, Trigger},
    },
    domain::{Status, check_text, normalize_sha},
    http::{ApiTags, state::AppState},
};
pub use shapes::{
    CloudflareResponse, CloudflareTrigger, FlightcontrolResponse, FlightcontrolTrigger, HookError,
    HookErrorItem, HookProblem, TriggerResult, hook_errors,
};

const NO_STORE: &str = "no-store";

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

impl TriggerParams<'_> {
    fn validate(&self) -> Result<Trigger, core::Error> {
        let (pull_request_number, path_commit) = match self.preview {
            Some((pr, sha)) => {
                let pr = pr
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| invalid("pr_number", "must be a PR number"))?;
                (Some(pr), Some(sha))
            }
            None => (None, None),
        };
        if path_commit.is_some() && self.commit.is_some() {
            return Err(invalid(
                "commit",
                "the preview form takes the commit from the path",
            ));
        }
        let commit = match path_commit.or(self.commit) {
            Some(sha) => Some(normalize_sha(sha).map_err(|m| {
                invalid(
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
                    return Err(invalid("branch", "must be 1-255 characters"));
                }
                check_text(b, false).map_err(|m| invalid("branch", &m))?;
                Some(b.to_owned())
            }
            None => None,
        };
        if self.branch_required_with_commit && self.commit.is_some() && branch.is_none() {
            return Err(core::Error::BadRequest {
                kind: "branch-required",
                detail: "parameter `branch` is required when `commit` is given".to_owned(),
            });
        }
        let status = match self.status {
            None | Some("success") => Status::Success,
            Some("failure") => Status::Failure,
            Some("in_progress") => Status::InProgress,
            Some(_) => {
                return Err(invalid(
                    "status",
                    "must be one of success, failure, in_progress",
                ));
            }
        };
        let is_forced = match self.force.map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") | Some("") => true,
            Some(_) => return Err(invalid("force", "must be true or false")),
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

/// A parameter of the trigger is invalid (the error names it, never the secret).
fn invalid(name: &str, message: &str) -> core::Error {
    core::Error::BadRequest {
        kind: "invalid-parameter",
        detail: format!("parameter `{name}`: {message}"),
    }
}

/// A GitHub or GitLab webhook pointed at a deploy-hook URL: refused before anything else, so
/// a `ping` or a push records no deployment.
fn refuse_source_webhooks(req: &Request) -> Result<(), HookError> {
    let sent = |name: &str| req.headers().contains_key(name);
    let source = if sent("x-github-event") {
        "GitHub"
    } else if sent("x-gitlab-event") {
        "GitLab"
    } else {
        return Ok(());
    };
    Err(core::Error::BadRequest {
        kind: "webhook-to-deploy-hook",
        detail: format!(
            "this is a deploy-hook URL, which records a deployment on every call; a {source} \
             webhook belongs at an integration's URL (POST /api/v1/integrations, then \
             /webhooks/{}/{{id}}). Nothing was recorded.",
            source.to_ascii_lowercase()
        ),
    }
    .into())
}

async fn run(
    state: &AppState,
    req: &Request,
    secret: &str,
    params: TriggerParams<'_>,
) -> Result<Outcome, HookError> {
    refuse_source_webhooks(req)?;
    Ok(core::hooks::trigger(&state.core, secret, || params.validate()).await?)
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

#[derive(Default)]
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
    #[allow(clippy::too_many_arguments)]
    async fn trigger_post(
        &self,
        state: poem::web::Data<&AppState>,
        req: &Request,
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
        run(&state, req, &secret, params).await.map(cloudflare)
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
    #[allow(clippy::too_many_arguments)]
    async fn trigger_get(
        &self,
        state: poem::web::Data<&AppState>,
        req: &Request,
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
        run(&state, req, &secret, params).await.map(flightcontrol)
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
        req: &Request,
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
        run(&state, req, &secret, params).await.map(flightcontrol)
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
        req: &Request,
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
        run(&state, req, &secret, params).await.map(cloudflare)
    }
}
