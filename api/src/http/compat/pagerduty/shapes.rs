//! The parts of PagerDuty's V3 webhook payloads dora-tracker reads (PagerDuty's developer
//! documentation, "Webhooks Overview": one `event` per delivery, `event.data` an `incident`
//! for the incident events). Unknown fields are ignored.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A V3 webhook delivery.
#[derive(Debug, Deserialize)]
pub struct Webhook {
    pub event: Event,
}

#[derive(Debug, Deserialize)]
pub struct Event {
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// An `incident` for `incident.triggered`/`resolved`/`reopened`/`acknowledged`…; other
    /// shapes (an `incident_note`) for others, whose fields are read as absent.
    pub data: Option<Incident>,
}

/// `event.data` of the incident events.
#[derive(Debug, Deserialize)]
pub struct Incident {
    pub id: Option<String>,
    pub html_url: Option<String>,
    pub number: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
    pub title: Option<String>,
    pub service: Option<Reference>,
    pub priority: Option<Reference>,
    pub urgency: Option<String>,
}

/// A reference to another PagerDuty object (a service, a priority).
#[derive(Debug, Deserialize)]
pub struct Reference {
    pub id: Option<String>,
    pub summary: Option<String>,
}
