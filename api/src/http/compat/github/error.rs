//! GitHub's error shape, `{message, documentation_url, errors?, status}`, for every error of
//! `/api/v3`: the handlers' own (from `core::Error`) and the framework's (a bad body, a missing
//! token), both mapped from their structured [`Failure`], never re-parsed from a rendered body.

use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::{core, http::error::Failure};

const DOCS_DEPLOYMENTS: &str = "https://docs.github.com/rest/deployments/deployments";
const DOCS_STATUSES: &str = "https://docs.github.com/rest/deployments/statuses";

/// GitHub's error body: `{message, documentation_url}`, with `errors` for validation.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct GithubErrorBody {
    pub message: String,
    pub documentation_url: String,
    // Optional in the spec: only validation problems carry it.
    #[oai(default, skip_serializing_if_is_empty)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<GithubFieldError>,
    /// The HTTP status code, as a string (as GitHub sends it).
    pub status: String,
}

/// One invalid field, as GitHub reports it.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct GithubFieldError {
    pub resource: String,
    pub field: String,
    /// `missing_field` or `invalid`.
    pub code: String,
    pub message: String,
}

/// Errors of the GitHub-compatible API, in GitHub's shape.
#[derive(Debug, ApiResponse)]
pub enum GithubError {
    /// Problems parsing JSON, or a bad parameter.
    #[oai(status = 400)]
    BadRequest(Json<GithubErrorBody>),
    /// Requires authentication / bad credentials.
    #[oai(status = 401)]
    Unauthorized(Json<GithubErrorBody>),
    /// The token lacks the scope.
    #[oai(status = 403)]
    Forbidden(Json<GithubErrorBody>),
    /// Not Found (also: another organization's deployment or repository).
    #[oai(status = 404)]
    NotFound(Json<GithubErrorBody>),
    /// Conflicts with the current state.
    #[oai(status = 409)]
    Conflict(Json<GithubErrorBody>),
    /// Validation Failed, or the delete rule.
    #[oai(status = 422)]
    Unprocessable(Json<GithubErrorBody>),
    /// The body is too large.
    #[oai(status = 413)]
    PayloadTooLarge(Json<GithubErrorBody>),
    /// The body is not JSON.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<GithubErrorBody>),
    /// Over the organization's API rate limit.
    #[oai(status = 429)]
    TooManyRequests(
        Json<GithubErrorBody>,
        /// Seconds until a request may succeed.
        #[oai(header = "Retry-After")]
        u64,
        /// `"organization";r=0;t=<seconds>` (IETF RateLimit header fields).
        #[oai(header = "RateLimit")]
        Option<String>,
        /// `"organization";q=<requests>;w=<seconds>`: the organization's quota.
        #[oai(header = "RateLimit-Policy")]
        Option<String>,
    ),
    /// Something failed on our side; the cause is logged.
    #[oai(status = 500)]
    Internal(Json<GithubErrorBody>),
    /// The database is unreachable; nothing was recorded, and the request may be retried.
    #[oai(status = 503)]
    Unavailable(
        Json<GithubErrorBody>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

/// GitHub's error body for a failure.
fn github_body(failure: &Failure, statuses: bool) -> GithubErrorBody {
    let (status, kind, detail) = (
        failure.status,
        failure.kind.as_str(),
        failure.detail.as_str(),
    );
    let (resource, documentation_url) = if statuses {
        ("DeploymentStatus", DOCS_STATUSES)
    } else {
        ("Deployment", DOCS_DEPLOYMENTS)
    };
    let message = match status {
        StatusCode::NOT_FOUND => "Not Found".to_owned(),
        StatusCode::UNAUTHORIZED if detail.starts_with("invalid token") => {
            "Bad credentials".to_owned()
        }
        StatusCode::UNAUTHORIZED => "Requires authentication".to_owned(),
        StatusCode::BAD_REQUEST if kind == "malformed-json" => "Problems parsing JSON".to_owned(),
        StatusCode::UNPROCESSABLE_ENTITY if !failure.errors.is_empty() => {
            "Validation Failed".to_owned()
        }
        _ => detail.to_owned(),
    };
    GithubErrorBody {
        message,
        documentation_url: documentation_url.to_owned(),
        errors: failure
            .errors
            .iter()
            .map(|e| GithubFieldError {
                resource: resource.to_owned(),
                code: if e.message == "is required" {
                    "missing_field"
                } else {
                    "invalid"
                }
                .to_owned(),
                message: format!("{} {}", e.field, e.message),
                field: e.field.clone(),
            })
            .collect(),
        status: status.as_u16().to_string(),
    }
}

impl GithubError {
    /// `failure` in GitHub's shape; `statuses` picks the documentation of statuses.
    pub fn new(failure: &Failure, statuses: bool) -> Self {
        let body = Json(github_body(failure, statuses));
        match failure.status {
            StatusCode::BAD_REQUEST => GithubError::BadRequest(body),
            StatusCode::UNAUTHORIZED => GithubError::Unauthorized(body),
            StatusCode::FORBIDDEN => GithubError::Forbidden(body),
            StatusCode::NOT_FOUND => GithubError::NotFound(body),
            StatusCode::CONFLICT => GithubError::Conflict(body),
            StatusCode::UNPROCESSABLE_ENTITY => GithubError::Unprocessable(body),
            StatusCode::PAYLOAD_TOO_LARGE => GithubError::PayloadTooLarge(body),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => GithubError::UnsupportedMediaType(body),
            StatusCode::TOO_MANY_REQUESTS => {
                let rate = failure.rate_limit.clone();
                GithubError::TooManyRequests(
                    body,
                    failure.retry_after.unwrap_or(1),
                    rate.as_ref().map(|r| r.limit.clone()),
                    rate.map(|r| r.policy),
                )
            }
            StatusCode::SERVICE_UNAVAILABLE => GithubError::Unavailable(
                body,
                failure
                    .retry_after
                    .unwrap_or(crate::http::error::UNAVAILABLE_RETRY_AFTER),
            ),
            _ => GithubError::Internal(body),
        }
    }
}

impl From<core::Error> for GithubError {
    fn from(err: core::Error) -> Self {
        GithubError::new(&Failure::from(err), false)
    }
}

/// Middleware: on `/api/v3/`, an error the handlers did not answer themselves (a bad body,
/// a missing token, an unknown route) is answered in GitHub's shape. It must sit inside
/// `error::render_errors`, which renders every other surface's.
pub async fn github_errors<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    match ep.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) if err.is_from_response() || !path.starts_with("/api/v3/") => Err(err),
        Err(err) => {
            let pattern = err.data::<poem::PathPattern>().cloned();
            let operation = err.data::<poem_openapi::OperationId>().copied();
            let failure = Failure::from_poem(err);
            let body = github_body(&failure, path.contains("/statuses"));
            let mut builder = Response::builder()
                .status(failure.status)
                .content_type("application/json; charset=utf-8");
            // GitHub sends no WWW-Authenticate; the retry hints it does send.
            for (name, value) in failure.headers() {
                if name != "WWW-Authenticate" {
                    builder = builder.header(name, value);
                }
            }
            let mut resp = builder.body(serde_json::to_vec(&body).unwrap_or_default());
            // Keep the matched route for the request metrics.
            if let Some(pattern) = pattern {
                resp.set_data(pattern);
            }
            if let Some(operation) = operation {
                resp.set_data(operation);
            }
            Ok(resp)
        }
    }
}
