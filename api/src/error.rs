//! The one error envelope: `application/problem+json` (RFC 9457) with a stable `type`,
//! a human `detail` and, for validation, per-field errors. Client errors carry safe
//! messages; internal errors log their cause and answer a generic 500.

use poem::{
    Endpoint, IntoResponse, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ReadBodyError},
    http::StatusCode,
};
use poem_openapi::{
    ApiResponse, Object,
    error::{AuthorizationError, ContentTypeError, ParseParamError, ParseRequestPayloadError},
    payload::Json,
};

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
    #[oai(skip_serializing_if_is_empty)]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct FieldError {
    /// The field, as a JSON path below the body or the name of a parameter.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

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
    /// Conflicts with the current state (e.g. an idempotency key still in flight).
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
    /// Something failed on our side; the cause is logged.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Box<Problem>>),
    /// The database is unreachable.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Box<Problem>>),
}

fn problem(status: StatusCode, kind: &str, detail: impl Into<String>) -> Json<Box<Problem>> {
    Json(Box::new(Problem {
        kind: kind.to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.into(),
        errors: Vec::new(),
    }))
}

impl ApiError {
    pub fn bad_request(kind: &str, detail: impl Into<String>) -> Self {
        Self::BadRequest(problem(StatusCode::BAD_REQUEST, kind, detail))
    }

    pub fn invalid_parameter(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut body = problem(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            format!("query parameter `{name}`: {message}"),
        );
        body.0.errors.push(FieldError::new(name, message));
        Self::BadRequest(body)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized(
            problem(StatusCode::UNAUTHORIZED, "unauthorized", detail),
            r#"Bearer realm="dora-tracker""#.to_owned(),
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(problem(StatusCode::FORBIDDEN, "forbidden", detail))
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(problem(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        ))
    }

    pub fn conflict(kind: &str, detail: impl Into<String>) -> Self {
        Self::Conflict(problem(StatusCode::CONFLICT, kind, detail))
    }

    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::PayloadTooLarge(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            detail,
        ))
    }

    pub fn unprocessable(kind: &str, detail: impl Into<String>) -> Self {
        Self::Unprocessable(problem(StatusCode::UNPROCESSABLE_ENTITY, kind, detail))
    }

    /// 422 listing every invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut body = problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
            detail,
        );
        body.0.errors = errors;
        Self::Unprocessable(body)
    }

    /// Logs the cause; the client sees only that something failed.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::Internal(problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "an internal error occurred; it has been logged",
        ))
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "database unavailable");
        Self::Unavailable(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is not reachable",
        ))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(..) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        match err {
            sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => {
                Self::unavailable(err)
            }
            other => Self::internal(other),
        }
    }
}

/// Turns the framework's own errors (unknown route, bad parameter, missing token, body
/// too large, wrong content type…) into the same problem+json envelope.
pub fn framework_error_to_problem(err: poem::Error) -> ApiError {
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        let reason = if e.reason.contains("date-time") {
            "must be an RFC 3339 date-time such as 2026-10-01T00:00:00Z".to_owned()
        } else if let Some(rule) = e.reason.strip_prefix("verification failed. ") {
            crate::body::describe_rule(rule)
        } else {
            e.reason.clone()
        };
        return ApiError::invalid_parameter(e.name, reason);
    }
    if err.is::<AuthorizationError>() {
        return ApiError::unauthorized("a bearer token is required (Authorization: Bearer <JWT>)");
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return ApiError::unprocessable("invalid-body", e.reason.clone());
    }
    if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        return ApiError::UnsupportedMediaType(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("{e}; send Content-Type: application/json"),
        ));
    }
    if let Some(ReadBodyError::PayloadTooLarge) = err.downcast_ref::<ReadBodyError>() {
        return ApiError::payload_too_large("the request body is too large");
    }
    if err.is::<NotFoundError>() {
        return ApiError::not_found("route");
    }
    match err.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::payload_too_large("the request body is too large")
        }
        StatusCode::NOT_FOUND => ApiError::not_found("route"),
        StatusCode::UNAUTHORIZED => ApiError::unauthorized(err.to_string()),
        s if s.is_client_error() => ApiError::bad_request("bad-request", err.to_string()),
        _ => ApiError::internal(err),
    }
}

/// Middleware body: every error leaving the app becomes problem+json; responses our own
/// handlers built are passed through untouched.
pub async fn render_errors<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let result = ep.call(req).await;
    // Keep the matched route for the request metrics.
    let err = result.as_ref().err();
    let pattern = err.and_then(|e| e.data::<poem::PathPattern>().cloned());
    let operation = err.and_then(|e| e.data::<poem_openapi::OperationId>().copied());
    let mut resp = into_problem_response(result);
    if let Some(pattern) = pattern {
        resp.set_data(pattern);
    }
    if let Some(operation) = operation {
        resp.set_data(operation);
    }
    Ok(resp)
}

fn into_problem_response<T: IntoResponse>(result: poem::Result<T>) -> Response {
    match result {
        Ok(resp) => resp.into_response(),
        // An error made from one of our `ApiError` responses: send it as it is.
        Err(err) if err.is_from_response() => err.into_response(),
        Err(err) if err.is::<MethodNotAllowedError>() => {
            let mut resp =
                ApiError::bad_request("method-not-allowed", "method not allowed on this route")
                    .into_response();
            resp.set_status(StatusCode::METHOD_NOT_ALLOWED);
            resp
        }
        Err(err) => framework_error_to_problem(err).into_response(),
    }
}
