//! Canonical HTTP API: one `#[OpenApi]` struct per resource.

pub mod deployments;
pub mod health;
pub mod incidents;
pub mod metrics;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Deployment records
    Deployments,
    /// Incidents, attributed to deployments or repositories
    Incidents,
    /// DORA metrics
    Metrics,
    /// iftrue-compatible endpoints
    Iftrue,
    /// Probes
    Health,
}
