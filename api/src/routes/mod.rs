//! Canonical HTTP API: one `#[OpenApi]` struct per resource.

pub mod admin;
pub mod deployments;
pub mod health;
pub mod statuses;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Deployment records
    Deployments,
    /// iftrue-compatible endpoints
    Iftrue,
    /// GitHub-compatible deployments API (`/api/v3`)
    Github,
    /// Admin repairs and the audit log
    Admin,
    /// Probes
    Health,
}
