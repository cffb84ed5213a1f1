//! `/api/v1/webhook-subscriptions`: outbound webhooks (admin scope). A subscription's
//! signing secret is shown once, when it is created or rotated. Its deliveries are listed
//! with each attempt's outcome, and can be sent again.

use chrono::{DateTime, Utc};
use entity::{webhook_deliveries, webhook_subscriptions};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    core::{self, outbound::SubscriptionPatch},
    domain::{Errors, NewSubscription, check_description, check_events, check_subscription_url},
    http::{
        ApiTags, body::JsonBody, error::ApiError, extract::BearerAuth, pagination, parse_id,
        state::AppState,
    },
};

/// A new subscription.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionIn {
    /// Where deliveries are POSTed: an https URL whose host resolves to public addresses
    /// (plain http and private addresses only with `DORA_WEBHOOK_ALLOW_PRIVATE_TARGETS`).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub url: String,
    /// `deployment`, `deployment_status`, `incident`, `repository_dispatch`,
    /// `dora.tier_changed`, or `*` for all. `ping` is always sent.
    #[oai(validator(min_items = 1, max_items = 16))]
    pub events: Vec<String>,
    #[oai(validator(max_length = 500))]
    #[oai(nullable)]
    pub description: Option<String>,
    /// Default true.
    #[oai(nullable)]
    pub active: Option<bool>,
}

/// A change of a subscription; fields left out stay as they are.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatchIn {
    #[oai(validator(min_length = 1, max_length = 2000))]
    #[oai(nullable)]
    pub url: Option<String>,
    #[oai(validator(min_items = 1, max_items = 16))]
    #[oai(nullable)]
    pub events: Option<Vec<String>>,
    /// An empty string clears it.
    #[oai(validator(max_length = 500))]
    #[oai(nullable)]
    pub description: Option<String>,
    /// true re-enables a subscription the service disabled (and clears `disabled_reason`).
    #[oai(nullable)]
    pub active: Option<bool>,
}

/// A subscription. Its secret is never shown again after creation or rotation.
#[derive(Debug, Clone, Object)]
pub struct Subscription {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    #[oai(nullable)]
    pub description: Option<String>,
    pub active: bool,
    /// Why the service disabled it (its deliveries kept failing); null otherwise.
    #[oai(nullable)]
    pub disabled_reason: Option<String>,
    /// Deliveries that failed for good since the last success.
    pub failed_in_a_row: i32,
    #[oai(nullable)]
    pub last_success_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub last_failure_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    fn of(s: &webhook_subscriptions::Model) -> Self {
        Self {
            id: s.id,
            organization_id: s.organization_id,
            url: s.url.clone(),
            events: core::outbound::events_of(s)
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            description: s.description.clone(),
            active: s.active,
            disabled_reason: s.disabled_reason.clone(),
            failed_in_a_row: s.failed_in_a_row,
            last_success_at: s.last_success_at,
            last_failure_at: s.last_failure_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A subscription with its secret: the answer of create and rotate-secret only.
#[derive(Debug, Clone, Object)]
pub struct SubscriptionWithSecret {
    #[oai(flatten)]
    pub subscription: Subscription,
    /// The signing secret (256 random bits, URL-safe): `X-Hub-Signature-256` is the
    /// HMAC-SHA256 of each body under it. Shown once.
    pub secret: String,
}

#[derive(Debug, Clone, Object)]
pub struct SubscriptionList {
    pub items: Vec<Subscription>,
}

/// One delivery: an event for the subscription, and its last attempt.
#[derive(Debug, Clone, Object)]
pub struct Delivery {
    pub id: Uuid,
    /// The `X-Dora-Delivery` header: the same for a delivery and its redeliveries.
    pub guid: Uuid,
    pub subscription_id: Uuid,
    pub event: String,
    #[oai(nullable)]
    pub action: Option<String>,
    /// `pending` (queued or waiting for a retry), `delivered` or `failed`.
    pub state: String,
    pub redelivery: bool,
    pub attempts: i32,
    /// The last attempt's HTTP status (null: no answer, or not tried yet).
    #[oai(nullable)]
    pub status_code: Option<i32>,
    #[oai(nullable)]
    pub duration_ms: Option<i64>,
    /// Why the last attempt failed.
    #[oai(nullable)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (pending deliveries).
    #[oai(nullable)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The JSON body sent (and signed).
    pub payload: serde_json::Value,
}

impl Delivery {
    fn of(d: &webhook_deliveries::Model) -> Self {
        Self {
            id: d.id,
            guid: d.guid,
            subscription_id: d.subscription_id,
            event: d.event.clone(),
            action: d.action.clone(),
            state: d.state.clone(),
            redelivery: d.redelivery,
            attempts: d.attempts,
            status_code: d.status_code,
            duration_ms: d.duration_ms,
            error: d.error.clone(),
            created_at: d.created_at,
            last_attempt_at: d.last_attempt_at,
            next_attempt_at: (d.state == crate::store::outbox::PENDING)
                .then_some(d.next_attempt_at),
            finished_at: d.finished_at,
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreateSubscriptionResponse {
    /// Created; a `ping` is queued. The secret appears in this response only.
    #[oai(status = 201)]
    Created(
        Json<SubscriptionWithSecret>,
        #[oai(header = "Location")] String,
        /// `no-store`: the body holds the secret.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum RotateSubscriptionSecretResponse {
    /// The new secret (shown this once); deliveries not yet sent are signed with it.
    #[oai(status = 200)]
    Ok(
        Json<SubscriptionWithSecret>,
        /// `no-store`: the body holds the secret.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum QueuedResponse {
    /// Queued: the delivery worker sends it shortly.
    #[oai(status = 202)]
    Accepted(Json<Delivery>),
}

fn validation(errors: Errors) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(core::Error::Validation(errors.0).into())
    }
}

#[derive(Default)]
pub struct WebhookSubscriptionsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::WebhookSubscriptions")]
impl WebhookSubscriptionsApi {
    /// Create a webhook subscription
    ///
    /// Needs the `admin` scope. Answers the subscription with its signing `secret` (never
    /// shown again) and queues a `ping` to it. A URL that is not https, or whose host resolves
    /// to a loopback, private, link-local or metadata address, is a 422 (unless
    /// `DORA_WEBHOOK_ALLOW_PRIVATE_TARGETS`).
    #[oai(
        path = "/webhook-subscriptions",
        method = "post",
        operation_id = "createWebhookSubscription"
    )]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<SubscriptionIn>,
    ) -> Result<CreateSubscriptionResponse, ApiError> {
        let b = &body.value;
        let new = NewSubscription::parse(
            &b.url,
            &b.events,
            b.description.as_deref(),
            b.active,
            state.core.outbound.allow_private_targets,
        )
        .map_err(core::Error::Validation)?;
        let (subscription, secret) = core::outbound::create(&state.core, &auth.0, new).await?;
        Ok(CreateSubscriptionResponse::Created(
            Json(SubscriptionWithSecret {
                subscription: Subscription::of(&subscription),
                secret: secret.expose().to_owned(),
            }),
            format!("/api/v1/webhook-subscriptions/{}", subscription.id),
            "no-store".to_owned(),
        ))
    }

    /// List webhook subscriptions
    ///
    /// Oldest first. Secrets are never shown.
    #[oai(
        path = "/webhook-subscriptions",
        method = "get",
        operation_id = "listWebhookSubscriptions"
    )]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<SubscriptionList>, ApiError> {
        let rows = core::outbound::list(&state.core, &auth.0).await?;
        Ok(Json(SubscriptionList {
            items: rows.iter().map(Subscription::of).collect(),
        }))
    }

    /// Get a webhook subscription
    #[oai(
        path = "/webhook-subscriptions/:id",
        method = "get",
        operation_id = "getWebhookSubscription"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<Subscription>, ApiError> {
        let id = parse_id(&id, "webhook subscription")?;
        let s = core::outbound::get(&state.core, &auth.0, id).await?;
        Ok(Json(Subscription::of(&s)))
    }

    /// Change a webhook subscription
    ///
    /// Its URL (checked as at creation), events, description, or whether it is active.
    /// `active: true` re-enables one the service disabled.
    #[oai(
        path = "/webhook-subscriptions/:id",
        method = "patch",
        operation_id = "updateWebhookSubscription"
    )]
    async fn update(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<SubscriptionPatchIn>,
    ) -> Result<Json<Subscription>, ApiError> {
        let id = parse_id(&id, "webhook subscription")?;
        let b = &body.value;
        let mut errors = Errors::default();
        let allow_http = state.core.outbound.allow_private_targets;
        let patch = SubscriptionPatch {
            url: b
                .url
                .as_deref()
                .and_then(|u| errors.check("url", check_subscription_url(u, allow_http))),
            events: b
                .events
                .as_deref()
                .and_then(|e| errors.check("events", check_events(e))),
            description: b.description.as_deref().map(|d| {
                if d.is_empty() {
                    None
                } else {
                    errors.check("description", check_description(d))
                }
            }),
            active: b.active,
        };
        validation(errors)?;
        let s = core::outbound::update(&state.core, &auth.0, id, patch).await?;
        Ok(Json(Subscription::of(&s)))
    }

    /// Delete a webhook subscription
    ///
    /// With its deliveries: those still pending are not sent.
    #[oai(
        path = "/webhook-subscriptions/:id",
        method = "delete",
        operation_id = "deleteWebhookSubscription"
    )]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<Subscription>, ApiError> {
        let id = parse_id(&id, "webhook subscription")?;
        let s = core::outbound::delete(&state.core, &auth.0, id).await?;
        Ok(Json(Subscription::of(&s)))
    }

    /// Rotate a webhook subscription's secret
    ///
    /// Answers the new secret (shown this once). Every delivery sent from now on, retries of
    /// earlier events included, is signed with it.
    #[oai(
        path = "/webhook-subscriptions/:id/rotate-secret",
        method = "post",
        operation_id = "rotateWebhookSubscriptionSecret"
    )]
    async fn rotate_secret(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<RotateSubscriptionSecretResponse, ApiError> {
        let id = parse_id(&id, "webhook subscription")?;
        let (s, secret) = core::outbound::rotate_secret(&state.core, &auth.0, id).await?;
        Ok(RotateSubscriptionSecretResponse::Ok(
            Json(SubscriptionWithSecret {
                subscription: Subscription::of(&s),
                secret: secret.expose().to_owned(),
            }),
            "no-store".to_owned(),
        ))
    }

    /// Ping a webhook subscription
    ///
    /// Queues a `ping` event; answers its delivery (follow it in the deliveries).
    #[oai(
        path = "/webhook-subscriptions/:id/pings",
        method = "post",
        operation_id = "pingWebhookSubscription"
    )]
    async fn ping(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<QueuedResponse, ApiError> {
        let id = parse_id(&id, "webhook subscription")?;
        let d = core::outbound::ping(&state.core, &auth.0, id).await?;
        Ok(QueuedResponse::Accepted(Json(Delivery::of(&d))))
    }

    /// List a webhook subscription's deliveries
    ///
    /// Newest first, each with its last attempt: status code, duration, attempt count, error.
    #[oai(
        path = "/webhook-subscriptions/:id/deliveries",
        method = "get",
        operation_id = "listWebhookDeliveries"
    )]
    async fn deliveries(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<DeliveryPage>, ApiError> {
        let id = parse_id(&id, "webhook subscription")?;
        let before = cursor
            .0
            .as_deref()
            .map(|c| {
                Uuid::parse_str(c).map_err(|_| {
                    core::Error::invalid_parameter("cursor", "not a cursor returned by this API")
                })
            })
            .transpose()?;
        let (rows, more) = core::outbound::deliveries(
            &state.core,
            &auth.0,
            id,
            before,
            pagination::limit(limit.0),
        )
        .await?;
        Ok(Json(DeliveryPage {
            next_cursor: pagination::next_cursor(&rows, more, |d| d.id.to_string()),
            items: rows.iter().map(Delivery::of).collect(),
        }))
    }

    /// Get a webhook delivery
    #[oai(
        path = "/webhook-subscriptions/:id/deliveries/:delivery_id",
        method = "get",
        operation_id = "getWebhookDelivery"
    )]
    async fn delivery(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        delivery_id: Path<String>,
    ) -> Result<Json<Delivery>, ApiError> {
        let id = parse_id(&id, "webhook subscription")?;
        let delivery_id = parse_id(&delivery_id, "webhook delivery")?;
        let d = core::outbound::delivery(&state.core, &auth.0, id, delivery_id).await?;
        Ok(Json(Delivery::of(&d)))
    }

    /// Redeliver a webhook delivery
    ///
    /// Queues the same body again, with the same `X-Dora-Delivery` id (so a receiver that
    /// deduplicates sees it as the same event), as a delivery of its own
    /// (`redelivery: true`), retried like any.
    #[oai(
        path = "/webhook-subscriptions/:id/deliveries/:delivery_id/redeliver",
        method = "post",
        operation_id = "redeliverWebhookDelivery"
    )]
    async fn redeliver(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        delivery_id: Path<String>,
    ) -> Result<QueuedResponse, ApiError> {
        let id = parse_id(&id, "webhook subscription")?;
        let delivery_id = parse_id(&delivery_id, "webhook delivery")?;
        let d = core::outbound::redeliver(&state.core, &auth.0, id, delivery_id).await?;
        Ok(QueuedResponse::Accepted(Json(Delivery::of(&d))))
    }
}
