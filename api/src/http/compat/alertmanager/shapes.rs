//! The parts of Alertmanager's webhook payload dora-tracker reads (Prometheus's
//! "Configuration" documentation, `<webhook_config>`: `version: "4"`). Grafana Alerting's
//! webhook contact point sends the same fields (`version: "1"`, with a few more that are
//! ignored). Unknown fields are ignored.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One notification: a group of alerts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub version: Option<String>,
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// How many alerts of the group `max_alerts` left out.
    #[serde(default)]
    pub truncated_alerts: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `firing` or `resolved`.
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    /// `0001-01-01T00:00:00Z` while firing without an end.
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(rename = "generatorURL")]
    pub generator_url: Option<String>,
    pub fingerprint: Option<String>,
}
