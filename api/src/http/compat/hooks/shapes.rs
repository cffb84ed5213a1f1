//! The JSON shapes of deploy-hook triggers: Cloudflare's (`{success, errors, messages,
//! result}`) and Flightcontrol's (`{success, deploymentId}`), and their error body.

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem_openapi::{ApiResponse, Object, payload::Json};
use uuid::Uuid;

use crate::{core, http::error::Failure};

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

pub fn hook_problem(status: StatusCode, kind: &str, detail: &str) -> Json<Box<HookProblem>> {
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
    /// A query or path parameter is invalid (e.g. `commit` without `branch` on GET), or the
    /// request is a GitHub/GitLab webhook (`X-GitHub-Event`, `X-Gitlab-Event`): those belong at
    /// an integration's URL. Nothing was recorded.
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
    /// The database is unreachable; nothing was recorded, and the trigger may be retried.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(
        Json<Box<HookProblem>>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

impl From<Failure> for HookError {
    /// In the hooks' shape; a 404 never says more than "not found", whatever was wrong.
    fn from(failure: Failure) -> Self {
        let status = failure.status;
        let body = hook_problem(status, &failure.kind, &failure.detail);
        match status {
            StatusCode::BAD_REQUEST => Self::BadRequest(body),
            StatusCode::NOT_FOUND => {
                Self::NotFound(hook_problem(status, "not-found", "deploy hook not found"))
            }
            StatusCode::TOO_MANY_REQUESTS => {
                Self::TooManyRequests(body, failure.retry_after.unwrap_or(1).max(1))
            }
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable(
                body,
                failure
                    .retry_after
                    .unwrap_or(crate::http::error::UNAVAILABLE_RETRY_AFTER),
            ),
            _ => Self::Internal(body),
        }
    }
}

impl From<core::Error> for HookError {
    fn from(err: core::Error) -> Self {
        Failure::from(err).into()
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

/// Middleware: an error on `/hooks/…` that no handler shaped (a refused query string, a bad
/// parameter) takes the hooks' own shape, as the spec declares it; `error::render_errors`
/// renders every other surface's.
pub async fn hook_errors<E: poem::Endpoint>(
    ep: E,
    req: poem::Request,
) -> poem::Result<poem::Response> {
    use poem::IntoResponse;
    let is_hook = req.uri().path().starts_with("/hooks/");
    match ep.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) if err.is_from_response() || !is_hook => Err(err),
        Err(err) => {
            let failure = Failure::from_poem(err);
            // Only the statuses the hooks' spec declares; the rest (405, 413, …) stay
            // problem+json, rendered by `error::render_errors`.
            if !matches!(
                failure.status,
                StatusCode::BAD_REQUEST
                    | StatusCode::NOT_FOUND
                    | StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::SERVICE_UNAVAILABLE
            ) {
                return Err(failure.into());
            }
            let mut resp = HookError::from(failure.clone()).into_response();
            for (name, value) in failure.headers() {
                if let Ok(value) = poem::http::HeaderValue::from_str(&value) {
                    resp.headers_mut().insert(name, value);
                }
            }
            Ok(resp)
        }
    }
}
