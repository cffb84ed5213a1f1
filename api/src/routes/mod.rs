//! Canonical HTTP API: one `#[OpenApi]` struct per resource.

pub mod admin;
pub mod deploy_hooks;
pub mod deployments;
pub mod health;
pub mod incidents;
pub mod metrics;
pub mod prometheus;
pub mod statuses;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Deployment records
    Deployments,
    /// Managed deploy hooks (admin)
    DeployHooks,
    /// Deploy-hook trigger URLs (the secret in the path is the credential)
    Hooks,
    /// Incidents, attributed to deployments or repositories
    Incidents,
    /// DORA metrics
    Metrics,
    /// iftrue-compatible endpoints
    Iftrue,
    /// GitHub-compatible deployments API (`/api/v3`)
    Github,
    /// Admin repairs and the audit log
    Admin,
    /// Probes
    Health,
}
