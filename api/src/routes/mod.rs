//! Canonical HTTP API: one `#[OpenApi]` struct per resource.

pub mod deployments;
pub mod health;
pub mod prometheus;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Deployment records
    Deployments,
    /// iftrue-compatible endpoints
    Iftrue,
    /// Probes
    Health,
}
