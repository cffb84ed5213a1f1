//! What the webhook endpoints (`/webhooks/{kind}/{id}`) answer, whatever the source: a small
//! JSON acknowledgement, or problem+json. Sources show the answer in their delivery log.

use poem::http::StatusCode;
use poem_openapi::{ApiResponse, Object, payload::Json};

use uuid::Uuid;

use crate::{
    core::{
        self,
        webhooks::{Credential, Delivery, Outcome},
    },
    domain::{IntegrationKind, IntegrationOptions, SourceEvent},
    http::{
        error::{Failure, Problem},
        state::AppState,
    },
    store::integrations::DeliveryResult,
};

/// A delivery's acknowledgement.
#[derive(Debug, Clone, Object)]
pub struct WebhookAck {
    /// `recorded`, `duplicate` (this delivery or object was recorded before; nothing changed),
    /// `ignored` (a handled event that records nothing, e.g. another repository or a ping) or
    /// `unhandled` (an event type that is not used).
    pub result: String,
    /// What was done, in a sentence.
    pub detail: String,
}

#[derive(Debug, ApiResponse)]
pub enum WebhookResponse {
    /// Verified and handled (see `result`); `ping` answers here too.
    #[oai(status = 200)]
    Ok(Json<WebhookAck>),
    /// Verified, but an event type that is not used: acknowledged, counted, not recorded.
    #[oai(status = 202)]
    Accepted(Json<WebhookAck>),
}

impl From<Outcome> for WebhookResponse {
    fn from(outcome: Outcome) -> Self {
        let ack = Json(WebhookAck {
            result: outcome.result.as_str().to_owned(),
            detail: outcome.detail,
        });
        match outcome.result {
            DeliveryResult::Unhandled => Self::Accepted(ack),
            _ => Self::Ok(ack),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum WebhookError {
    /// The body is not a payload of the event its header names.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Box<Problem>>),
    /// Unknown or deleted integration, or a missing or wrong signature: nothing was recorded.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Box<Problem>>),
    /// The body is larger than `DORA_MAX_BODY_BYTES`.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Box<Problem>>),
    /// Something failed on our side; the cause is logged. The source retries.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Box<Problem>>),
    /// The database is unreachable. The source retries.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Box<Problem>>),
}

impl From<Failure> for WebhookError {
    fn from(failure: Failure) -> Self {
        let body = Json(Box::new(failure.problem()));
        match failure.status {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => Self::BadRequest(body),
            StatusCode::UNAUTHORIZED => Self::Unauthorized(body),
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(body),
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable(body),
            _ => Self::Internal(body),
        }
    }
}

impl From<core::Error> for WebhookError {
    fn from(err: core::Error) -> Self {
        Failure::from(err).into()
    }
}

impl WebhookError {
    /// The status it answers with (for the delivery counter).
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::PayloadTooLarge(_) => 413,
            Self::Internal(_) => 500,
            Self::Unavailable(_) => 503,
        }
    }
}

/// Parses a payload of `event` from JSON `bytes`; a body that is not one is a 400 naming the
/// JSON path.
pub fn parse_payload<T: serde::de::DeserializeOwned>(
    event: &str,
    bytes: &[u8],
) -> Result<T, core::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| core::Error::BadRequest {
        kind: "malformed-payload",
        detail: format!(
            "the body is not a `{event}` payload: {} (at `{}`)",
            e.inner(),
            e.path()
        ),
    })
}

/// Runs one delivery to the integration `id` of the URL through `core::webhooks::receive`
/// and counts it in `dora_webhook_deliveries_total` (`event_label` from a fixed list). An id
/// that is not one answers as an unknown integration does.
#[allow(clippy::too_many_arguments)]
pub async fn deliver(
    state: &AppState,
    kind: IntegrationKind,
    id: &str,
    event_label: &str,
    credential: Credential<'_>,
    body: &[u8],
    delivery: Delivery<'_>,
    parse: impl FnOnce(&IntegrationOptions) -> Result<SourceEvent, core::Error>,
) -> Result<WebhookResponse, WebhookError> {
    let result = match Uuid::parse_str(id) {
        Ok(id) => {
            core::webhooks::receive(&state.core, kind, id, credential, body, delivery, parse).await
        }
        Err(_) => Err(core::webhooks::unauthorized()),
    };
    let counted = match &result {
        Ok(outcome) => outcome.result.as_str(),
        Err(core::Error::Unauthorized(_)) => "unauthorized",
        Err(core::Error::BadRequest { .. } | core::Error::Validation(_)) => "malformed",
        Err(_) => "error",
    };
    state
        .service_metrics
        .webhook_delivery(kind.as_str(), event_label, counted);
    result
        .map(WebhookResponse::from)
        .map_err(WebhookError::from)
}
