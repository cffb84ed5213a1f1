//! The error envelope: `application/problem+json` (RFC 9457) with a stable `type`, a human
//! `detail` and, for validation, per-field errors.
//!
//! Every error passes through [`Failure`] before it takes a surface's shape: use-case errors
//! (`core::Error`) and the framework's own (a bad parameter, a missing token, a body too large,
//! an unknown route). Failures keep their structure inside `poem::Error` (they are its source),
//! so a vendor surface renders them in its own shape directly (`compat::github`), and
//! [`render_errors`] renders the rest as problem+json. Client failures carry safe messages;
//! internal ones log their cause and answer a generic 500.

use std::fmt;

use poem::{
    Endpoint, IntoResponse, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ReadBodyError, ResponseError},
    http::StatusCode,
};
use poem_openapi::{
    ApiResponse, Object,
    error::{AuthorizationError, ContentTypeError, ParseParamError, ParseRequestPayloadError},
    payload::Json,
};

use crate::{core, domain::FieldError};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error response body (RFC 9457 problem details).
#[derive(Debug, Clone, Object)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `validation-failed`.
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Per-field messages for validation problems.
    // Optional in the spec: only validation problems carry it.
    #[oai(default, skip_serializing_if_is_empty)]
    pub errors: Vec<FieldError>,
}

/// A failure, before it takes a surface's shape.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: StatusCode,
    /// The stable problem type.
    pub kind: String,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// For 429 and 503: seconds until a retry may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
    /// For 429 from a limit with a policy: the `RateLimit` and `RateLimit-Policy` values.
    /// (Boxed: a `Failure` travels in every `Result` of the HTTP layer.)
    pub rate_limit: Option<Box<RateLimitHeaders>>,
}

/// The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) of a 429.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// `RateLimit`: `"organization";r=0;t=5`: nothing remains for `t` seconds.
    pub limit: String,
    /// `RateLimit-Policy`: `"organization";q=6000;w=60`: `q` requests per `w` seconds.
    pub policy: String,
}

impl RateLimitHeaders {
    pub fn exhausted(policy: &core::RatePolicy, retry_after: u64) -> Self {
        Self {
            limit: format!("\"{}\";r=0;t={retry_after}", policy.name),
            policy: format!(
                "\"{}\";q={};w={}",
                policy.name, policy.quota, policy.window_seconds
            ),
        }
    }
}

/// Seconds a client is told to wait before retrying while the database is unreachable.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 2;

impl Failure {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind: kind.to_owned(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            rate_limit: None,
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 422 listing every invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                detail,
            )
        }
    }

    /// 400 naming a query or path parameter.
    pub fn invalid_parameter(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            errors: vec![FieldError::new(name, message.clone())],
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid-parameter",
                format!("query parameter `{name}`: {message}"),
            )
        }
    }

    /// Logs the cause; the client learns only that something failed.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "an internal error occurred; it has been logged",
        )
    }

    /// 503 with `Retry-After`: nothing was written, so the same request (with the same
    /// `Idempotency-Key`) may be sent again.
    pub fn unavailable(cause: impl fmt::Display) -> Self {
        tracing::warn!(error = %cause, "database unavailable");
        Self {
            retry_after: Some(UNAVAILABLE_RETRY_AFTER),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unreachable or too busy to answer in time; nothing was \
                 recorded, retry later",
            )
        }
    }

    /// The headers this failure adds to any response shape: `WWW-Authenticate` on 401,
    /// `Retry-After` on 429 and 503, the RateLimit fields on a 429 with a policy.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.push((
                "WWW-Authenticate",
                r#"Bearer realm="dora-tracker""#.to_owned(),
            ));
        }
        if let Some(seconds) = self.retry_after {
            headers.push(("Retry-After", seconds.to_string()));
        }
        if let Some(rate) = &self.rate_limit {
            headers.push(("RateLimit", rate.limit.clone()));
            headers.push(("RateLimit-Policy", rate.policy.clone()));
        }
        headers
    }

    /// The problem+json body.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: self.kind.clone(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }

    fn problem_json(&self) -> serde_json::Value {
        use poem_openapi::types::ToJSON;
        self.problem().to_json().unwrap_or_default()
    }

    /// Classifies an error of the framework (or one of ours carried inside it).
    pub fn from_poem(err: poem::Error) -> Self {
        if let Some(failure) = err.downcast_ref::<Failure>() {
            return failure.clone();
        }
        if let Some(e) = err.downcast_ref::<ParseParamError>() {
            let reason = if e.reason.contains("date-time") {
                "must be an RFC 3339 date-time such as 2026-10-01T00:00:00Z".to_owned()
            } else if let Some(rule) = e.reason.strip_prefix("verification failed. ") {
                describe_rule(rule)
            } else {
                e.reason.clone()
            };
            return Self::invalid_parameter(e.name, reason);
        }
        if err.is::<AuthorizationError>() {
            return Self::unauthorized("a bearer token is required (Authorization: Bearer <JWT>)");
        }
        if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
            return Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                e.reason.clone(),
            );
        }
        if let Some(e) = err.downcast_ref::<ContentTypeError>() {
            return Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                format!("{e}; send Content-Type: application/json"),
            );
        }
        if let Some(ReadBodyError::PayloadTooLarge) = err.downcast_ref::<ReadBodyError>() {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the request body is too large",
            );
        }
        if err.is::<NotFoundError>() {
            return Self::new(StatusCode::NOT_FOUND, "not-found", "route not found");
        }
        if err.is::<MethodNotAllowedError>() {
            return Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "method not allowed on this route",
            );
        }
        match err.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the request body is too large",
            ),
            StatusCode::NOT_FOUND => {
                Self::new(StatusCode::NOT_FOUND, "not-found", "route not found")
            }
            StatusCode::UNAUTHORIZED => Self::unauthorized(err.to_string()),
            s if s.is_client_error() => Self::new(s, "bad-request", err.to_string()),
            _ => Self::internal(err),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.kind, self.detail)
    }
}

impl std::error::Error for Failure {}

impl ResponseError for Failure {
    fn status(&self) -> StatusCode {
        self.status
    }

    /// problem+json with this failure's own status and [`Failure::headers`].
    fn as_response(&self) -> Response {
        let body = serde_json::to_vec(&self.problem_json()).unwrap_or_default();
        let mut builder = Response::builder()
            .status(self.status)
            .content_type(PROBLEM_JSON);
        for (name, value) in self.headers() {
            builder = builder.header(name, value);
        }
        builder.body(body)
    }
}

impl From<core::Error> for Failure {
    fn from(err: core::Error) -> Self {
        use core::Error as E;
        match err {
            E::Validation(errors) => Self::validation(errors),
            E::InvalidParameter { name, message } => Self::invalid_parameter(&name, message),
            E::BadRequest { kind, detail } => Self::new(StatusCode::BAD_REQUEST, kind, detail),
            E::Unauthorized(detail) => Self::unauthorized(detail),
            E::Forbidden(missing) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", missing.to_string())
            }
            E::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("{what} not found"),
            ),
            E::Conflict { kind, detail } => Self::new(StatusCode::CONFLICT, kind, detail),
            E::Unprocessable { kind, detail } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, kind, detail)
            }
            E::RateLimited {
                retry_after,
                detail,
                policy,
            } => Self {
                retry_after: Some(retry_after),
                rate_limit: policy
                    .as_ref()
                    .map(|p| Box::new(RateLimitHeaders::exhausted(p, retry_after))),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", detail)
            },
            E::Upstream { kind, detail } => {
                tracing::warn!(%detail, "upstream unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, kind, detail)
            }
            E::Unavailable(cause) | E::Contended(cause) => Self::unavailable(cause),
            E::Internal(cause) => Self::internal(cause),
        }
    }
}

impl From<sea_orm::DbErr> for Failure {
    fn from(err: sea_orm::DbErr) -> Self {
        core::Error::from(err).into()
    }
}

/// The errors of the canonical API, as the spec lists them.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed (bad JSON, bad query parameter).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Box<Problem>>),
    /// Missing or invalid bearer token.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(
        Json<Box<Problem>>,
        #[oai(header = "WWW-Authenticate")] String,
    ),
    /// The token lacks the scope this operation needs.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Box<Problem>>),
    /// No such object in the token's organization.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Box<Problem>>),
    /// Conflicts with the current state (e.g. a transition a deployment cannot make).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Box<Problem>>),
    /// The request body is larger than the configured limit.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Box<Problem>>),
    /// The body is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Box<Problem>>),
    /// The body is well-formed JSON but not a valid request.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Box<Problem>>),
    /// Over the organization's API rate limit; nothing was done.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Box<Problem>>,
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
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Box<Problem>>),
    /// The database (or an identity provider's keys) is unreachable, or the connection to it
    /// was lost before anything was committed: nothing was recorded, and the same request may
    /// be retried.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(
        Json<Box<Problem>>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        let body = Json(Box::new(failure.problem()));
        match failure.status {
            StatusCode::BAD_REQUEST => Self::BadRequest(body),
            StatusCode::UNAUTHORIZED => {
                Self::Unauthorized(body, r#"Bearer realm="dora-tracker""#.to_owned())
            }
            StatusCode::FORBIDDEN => Self::Forbidden(body),
            StatusCode::NOT_FOUND => Self::NotFound(body),
            StatusCode::CONFLICT => Self::Conflict(body),
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(body),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(body),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable(body),
            StatusCode::TOO_MANY_REQUESTS => {
                let rate = failure.rate_limit.clone();
                Self::TooManyRequests(
                    body,
                    failure.retry_after.unwrap_or(1),
                    rate.as_ref().map(|r| r.limit.clone()),
                    rate.map(|r| r.policy),
                )
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                Self::Unavailable(body, failure.retry_after.unwrap_or(UNAVAILABLE_RETRY_AFTER))
            }
            // No operation of the canonical API answers another status: render it as what it
            // is, it only lacks a spec entry.
            _ => Self::Internal(body),
        }
    }
}

impl From<core::Error> for ApiError {
    fn from(err: core::Error) -> Self {
        Failure::from(err).into()
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        Failure::from(err).into()
    }
}

/// `maxLength(500)` → `must be at most 500 characters long`.
pub fn describe_rule(rule: &str) -> String {
    let Some((name, arg)) = rule.strip_suffix(')').and_then(|r| r.split_once('(')) else {
        return rule.to_owned();
    };
    match name {
        "minLength" => format!("must be at least {arg} characters long"),
        "maxLength" => format!("must be at most {arg} characters long"),
        // `minimum(0, exclusive: false)`
        "minimum" => format!("must be at least {}", arg.split(',').next().unwrap_or(arg)),
        "maximum" => format!("must be at most {}", arg.split(',').next().unwrap_or(arg)),
        "pattern" => format!("must match {arg}"),
        "maxItems" => format!("must have at most {arg} items"),
        "minItems" => format!("must have at least {arg} items"),
        _ => rule.to_owned(),
    }
}

/// Middleware: every error still unanswered when it leaves the app becomes problem+json;
/// responses the handlers built (and vendor surfaces shaped) pass through untouched.
pub async fn render_errors<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let result = ep.call(req).await;
    // Keep the matched route for the request metrics.
    let err = result.as_ref().err();
    let pattern = err.and_then(|e| e.data::<poem::PathPattern>().cloned());
    let operation = err.and_then(|e| e.data::<poem_openapi::OperationId>().copied());
    let mut resp = match result {
        Ok(resp) => resp.into_response(),
        Err(err) if err.is_from_response() => err.into_response(),
        Err(err) => Failure::from_poem(err).as_response(),
    };
    if let Some(pattern) = pattern {
        resp.set_data(pattern);
    }
    if let Some(operation) = operation {
        resp.set_data(operation);
    }
    // RFC 9110 §15.5.6: a 405 lists the methods the resource has, whichever surface shaped it.
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp.headers().contains_key(poem::http::header::ALLOW)
        && let Some(allow) = allowed_methods(&path)
        && let Ok(value) = poem::http::HeaderValue::from_str(&allow)
    {
        resp.headers_mut().insert(poem::http::header::ALLOW, value);
    }
    Ok(resp)
}

/// The methods the spec declares for the path a request names (`GET, POST`), if any.
pub fn allowed_methods(path: &str) -> Option<String> {
    use std::sync::OnceLock;
    type Table = Vec<(Vec<String>, String)>;
    static TABLE: OnceLock<Table> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let spec: serde_json::Value =
            serde_json::from_str(&super::openapi_service().spec()).unwrap_or_default();
        let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) else {
            return Vec::new();
        };
        paths
            .iter()
            .map(|(template, ops)| {
                let methods: Vec<String> = ops
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                let segments = template.split('/').map(str::to_owned).collect();
                (segments, methods.join(", "))
            })
            .collect()
    });
    let segments: Vec<&str> = path.split('/').collect();
    table
        .iter()
        .filter(|(template, _)| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| {
                    t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                })
        })
        // `/deployments/stream` before `/deployments/{id}`.
        .max_by_key(|(template, _)| template.iter().filter(|t| !t.starts_with('{')).count())
        .map(|(_, methods)| methods.clone())
}
