//! `POST /webhooks/pagerduty/{id}`: PagerDuty V3 webhook subscriptions for a `pagerduty`
//! integration. `X-PagerDuty-Signature` (`v1=<hex HMAC-SHA256 of the body>`, several
//! comma-separated while PagerDuty rotates its secret; any valid one passes) is verified in
//! `core::webhooks::receive`, in constant time, before the body is parsed; until the
//! integration has PagerDuty's secret (`PATCH {"secret"}`) every delivery answers 401. Then:
//!
//! | `event.event_type` | becomes |
//! |---|---|
//! | `incident.triggered` | an incident keyed by PagerDuty's incident id, open from the incident's `created_at` |
//! | `incident.resolved` | that incident resolved at `occurred_at` |
//! | `incident.reopened` | that incident open again |
//! | other `incident.*` (acknowledged, annotated, escalated…) | nothing (200 `ignored`, counted) |
//! | `pagey.ping` | nothing (PagerDuty's test event) |
//! | anything else | nothing (202, counted) |
//!
//! The incident's service, through the integration's `services` map, gives its repository
//! and environment; unmapped services' incidents are recorded unattributed.

mod shapes;

use poem_openapi::{
    OpenApi,
    param::{Header, Path},
};

use crate::{
    core::{
        self,
        webhooks::{Credential, Delivery},
    },
    domain::{
        AlertChange, AlertRepository, IntegrationKind, IntegrationOptions, MAX_TITLE_CHARS,
        SourceAlert, SourceEvent, clean_text, clean_url,
    },
    http::{
        ApiTags,
        body::RawBody,
        shapes::webhook::{WebhookError, WebhookResponse, deliver, parse_payload},
        state::AppState,
    },
};
use shapes::Webhook;

/// Longest PagerDuty id kept.
const MAX_ID_CHARS: usize = 64;

fn malformed(detail: impl Into<String>) -> core::Error {
    core::Error::BadRequest {
        kind: "malformed-payload",
        detail: detail.into(),
    }
}

/// Maps a verified delivery onto an incident change.
fn parse(body: &RawBody, options: &IntegrationOptions) -> Result<SourceEvent, core::Error> {
    let webhook: Webhook = parse_payload("PagerDuty V3 webhook", &body.bytes)?;
    let event = webhook.event;
    let event_type = clean_text(&event.event_type, 100, false);
    let change = match event_type.as_str() {
        "pagey.ping" => return Ok(named(&event_type, SourceEvent::Ping)),
        "incident.triggered" => AlertChange::Open,
        "incident.reopened" => AlertChange::Reopen,
        "incident.resolved" => AlertChange::Resolve,
        t if t.starts_with("incident.") => {
            return Ok(named(
                &event_type,
                SourceEvent::Ignored(format!(
                    "`{t}` does not open, resolve or reopen an incident; nothing was recorded"
                )),
            ));
        }
        _ => return Ok(named(&event_type, SourceEvent::Unhandled)),
    };
    let Some(data) = event.data else {
        return Err(malformed(format!("`{event_type}` without `event.data`")));
    };
    let id = data
        .id
        .as_deref()
        .map(|id| clean_text(id, MAX_ID_CHARS, false))
        .filter(|id| !id.is_empty())
        .ok_or_else(|| malformed("event.data.id: the incident's id is required"))?;
    let title = clean_text(data.title.as_deref().unwrap_or(""), MAX_TITLE_CHARS, false);
    let title = match (data.number, title.is_empty()) {
        (Some(n), false) => clean_text(&format!("#{n} {title}"), MAX_TITLE_CHARS, false),
        (Some(n), true) => format!("PagerDuty incident #{n}"),
        (None, false) => title,
        (None, true) => format!("PagerDuty incident {id}"),
    };
    let urgency = data
        .urgency
        .as_deref()
        .map(|u| clean_text(u, 64, false).to_ascii_lowercase())
        .filter(|u| !u.is_empty());
    let severity = data
        .priority
        .as_ref()
        .and_then(|p| p.summary.as_deref())
        .map(|p| clean_text(p, 64, false))
        .filter(|p| !p.is_empty())
        .or_else(|| urgency.clone());
    let target = data.service.as_ref().and_then(|s| {
        options.service_target(
            s.id.as_deref().unwrap_or(""),
            s.summary.as_deref().map(str::trim),
        )
    });
    let alert = SourceAlert {
        source_id: id,
        change,
        at: event.occurred_at,
        started_at: data.created_at.unwrap_or(event.occurred_at),
        title,
        severity,
        url: clean_url(data.html_url.as_deref()),
        repository: target.and_then(|t| AlertRepository::parse(&t.repository_url)),
        environment: target.map_or_else(|| "production".to_owned(), |t| t.environment.clone()),
        matched: options.matches_urgency(urgency.as_deref()),
    };
    Ok(named(
        &event_type,
        SourceEvent::Alerts {
            alerts: vec![alert],
            note: None,
        },
    ))
}

/// The event type travels in the body: it names the delivery in the counts.
fn named(event_type: &str, event: SourceEvent) -> SourceEvent {
    SourceEvent::Named {
        name: event_type.to_owned(),
        event: Box::new(event),
    }
}

#[derive(Default)]
pub struct PagerdutyWebhookApi;

#[OpenApi(tag = "ApiTags::Webhooks")]
impl PagerdutyWebhookApi {
    /// Receive a PagerDuty webhook delivery
    ///
    /// The URL of a `pagerduty` integration (`webhook_url`), for a PagerDuty V3 webhook
    /// subscription. No token: `X-PagerDuty-Signature` must carry a `v1=` HMAC-SHA256 of the
    /// body under the secret PagerDuty generated for the subscription (set it with
    /// `PATCH /api/v1/integrations/{id}` and `{"secret": "..."}`; until then every delivery
    /// answers 401). `incident.triggered`, `incident.resolved` and `incident.reopened` open,
    /// resolve and reopen the incident of PagerDuty's incident id; other `incident.*` events
    /// answer 200 `ignored`; other events 202. A repeated `X-Webhook-Id` changes nothing.
    #[oai(
        path = "/webhooks/pagerduty/:id",
        method = "post",
        operation_id = "receivePagerdutyWebhook"
    )]
    async fn receive(
        &self,
        state: poem::web::Data<&AppState>,
        /// The integration's id.
        id: Path<String>,
        /// `v1=<hex>`, comma-separated when PagerDuty signs with two secrets.
        #[oai(name = "X-PagerDuty-Signature")]
        signature: Header<Option<String>>,
        /// The delivery's id, the same on PagerDuty's retries.
        #[oai(name = "X-Webhook-Id")]
        webhook_id: Header<Option<String>>,
        body: RawBody,
    ) -> Result<WebhookResponse, WebhookError> {
        deliver(
            &state,
            IntegrationKind::Pagerduty,
            &id,
            "incident",
            Credential::PagerdutySignature(signature.0.as_deref()),
            &body.bytes,
            Delivery {
                id: webhook_id.0.as_deref(),
                event: "",
            },
            |options| parse(&body, options),
        )
        .await
    }
}
