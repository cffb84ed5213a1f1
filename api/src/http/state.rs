//! What every request handler sees.

use crate::{
    auth::JwtKeys,
    core::{Core, snapshot::DoraSnapshot},
    domain::Secret,
    http::HttpSettings,
};

use super::telemetry::ServiceMetrics;

#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub jwt: JwtKeys,
    pub http: HttpSettings,
    /// Bearer token `/metrics` requires, if any.
    pub metrics_token: Option<Secret>,
    pub service_metrics: ServiceMetrics,
    pub snapshot: DoraSnapshot,
}
