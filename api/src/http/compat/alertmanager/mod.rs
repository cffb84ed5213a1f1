//! `POST /webhooks/alertmanager/{id}`: Prometheus Alertmanager's webhook receiver (and Grafana
//! Alerting's webhook contact point, which sends the same payload) for an `alertmanager`
//! integration. `Authorization: Bearer <the integration's secret>` (Alertmanager's
//! `http_config.authorization.credentials`) is compared in constant time, in
//! `core::webhooks::receive`, before the body is parsed. Then each alert of the notification
//! is one incident, identified by its `fingerprint` and `startsAt`:
//!
//! - `firing`: open from `startsAt` (repeated notifications change nothing);
//! - `resolved`: resolved at `endsAt` (a late `firing` of the same alert changes nothing);
//! - the same fingerprint firing again after a resolve has a new `startsAt`: a new incident.
//!
//! Alerts without every `match` label are ignored; the `repository_label`,
//! `environment_label`, `severity_label` labels and the `title_annotation` annotation say
//! where the incident is and what it is called.

mod shapes;

use std::collections::BTreeMap;

use chrono::{Datelike, SecondsFormat, Utc};
use poem_openapi::{
    OpenApi,
    param::{Header, Path},
};
use sha2::{Digest, Sha256};

use crate::{
    core::{
        self,
        webhooks::{Credential, Delivery},
    },
    domain::{
        AlertChange, AlertRepository, IntegrationKind, IntegrationOptions, MAX_TITLE_CHARS,
        SourceAlert, SourceEvent, clean_environment, clean_text, clean_url, truncate_micros,
    },
    http::{
        ApiTags,
        body::RawBody,
        shapes::webhook::{WebhookError, WebhookResponse, deliver, parse_payload},
        state::AppState,
    },
};
use shapes::{Alert, Notification};

/// Longest fingerprint kept.
const MAX_FINGERPRINT_CHARS: usize = 64;

/// The alert's fingerprint; for a sender without one, a digest of its labels (they identify
/// an alert as Alertmanager's fingerprint does).
fn fingerprint(alert: &Alert) -> String {
    let given = alert
        .fingerprint
        .as_deref()
        .map(|f| clean_text(f, MAX_FINGERPRINT_CHARS, false))
        .filter(|f| !f.is_empty());
    given.unwrap_or_else(|| {
        let mut digest = Sha256::new();
        for (name, value) in &alert.labels {
            digest.update(name.as_bytes());
            digest.update([0]);
            digest.update(value.as_bytes());
            digest.update([0]);
        }
        hex::encode(&digest.finalize()[..8])
    })
}

fn label<'a>(labels: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    labels.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// One alert of the notification as an incident change; a note when its repository label
/// names no repository.
fn alert_of(alert: &Alert, options: &IntegrationOptions) -> (SourceAlert, Option<String>) {
    let fingerprint = fingerprint(alert);
    let starts_at = truncate_micros(alert.starts_at);
    let source_id = format!(
        "{fingerprint}@{}",
        starts_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    );
    let resolved = alert.status.eq_ignore_ascii_case("resolved");
    // A firing alert's `endsAt` is when it would time out, not an end.
    let ends_at = alert
        .ends_at
        .filter(|t| t.year() > 1)
        .unwrap_or_else(Utc::now);
    let (change, at) = if resolved {
        (AlertChange::Resolve, ends_at.max(starts_at))
    } else {
        (AlertChange::Open, starts_at)
    };
    let title = label(&alert.annotations, options.title_annotation())
        .or_else(|| label(&alert.labels, "alertname"))
        .map(|t| clean_text(t, MAX_TITLE_CHARS, false))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("Alert {fingerprint}"));
    let mut note = None;
    let repository = label(&alert.labels, options.repository_label()).and_then(|text| {
        let parsed = AlertRepository::parse(text);
        if parsed.is_none() {
            note = Some(format!(
                "alert {fingerprint}: `{}` is not a repository URL or id; recorded unattributed",
                clean_text(text, 100, false)
            ));
        }
        parsed
    });
    let environment = label(&alert.labels, options.environment_label())
        .and_then(clean_environment)
        .unwrap_or_else(|| "production".to_owned());
    let severity = label(&alert.labels, options.severity_label())
        .map(|s| clean_text(s, 64, false))
        .filter(|s| !s.is_empty());
    let alert = SourceAlert {
        source_id,
        change,
        at,
        started_at: starts_at,
        title,
        severity,
        url: clean_url(alert.generator_url.as_deref()),
        repository,
        environment,
        matched: options.matches_labels(&alert.labels),
    };
    (alert, note)
}

fn parse(body: &RawBody, options: &IntegrationOptions) -> Result<SourceEvent, core::Error> {
    let notification: Notification = parse_payload("Alertmanager webhook", &body.bytes)?;
    let mut notes = Vec::new();
    let mut alerts = Vec::with_capacity(notification.alerts.len());
    for alert in &notification.alerts {
        let (alert, note) = alert_of(alert, options);
        alerts.extend([alert]);
        notes.extend(note);
    }
    if notification.truncated_alerts > 0 {
        notes.push(format!(
            "Alertmanager left {} alerts of this group out (`max_alerts`); they are recorded from a notification that lists them",
            notification.truncated_alerts
        ));
    }
    if let Some(version) = notification.version.as_deref()
        && !matches!(version, "4" | "1")
    {
        notes.push(format!(
            "payload version `{}` is read as version 4",
            clean_text(version, 16, false)
        ));
    }
    Ok(SourceEvent::Alerts {
        alerts,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[derive(Default)]
pub struct AlertmanagerWebhookApi;

#[OpenApi(tag = "ApiTags::Webhooks")]
impl AlertmanagerWebhookApi {
    /// Receive an Alertmanager notification
    ///
    /// The URL of an `alertmanager` integration (`webhook_url`), for Alertmanager's
    /// `webhook_configs` or Grafana Alerting's webhook contact point. No JWT:
    /// `Authorization: Bearer` must carry the integration's secret (compared in constant
    /// time, before the body is parsed). Each alert is one incident, by its `fingerprint` and
    /// `startsAt`: `firing` opens it at `startsAt`, `resolved` resolves it at `endsAt`;
    /// repeated notifications change nothing.
    #[oai(
        path = "/webhooks/alertmanager/:id",
        method = "post",
        operation_id = "receiveAlertmanagerWebhook"
    )]
    async fn receive(
        &self,
        state: poem::web::Data<&AppState>,
        /// The integration's id.
        id: Path<String>,
        /// `Bearer <the integration's secret>`.
        #[oai(name = "Authorization")]
        authorization: Header<Option<String>>,
        body: RawBody,
    ) -> Result<WebhookResponse, WebhookError> {
        deliver(
            &state,
            IntegrationKind::Alertmanager,
            &id,
            "alerts",
            Credential::Token(bearer(authorization.0.as_deref())),
            &body.bytes,
            Delivery {
                id: None,
                event: "alerts",
            },
            |options| parse(&body, options),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
