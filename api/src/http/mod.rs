//! Everything HTTP: the poem application, its state, the error envelope, request bodies,
//! authentication extractors, pagination, the public origin, telemetry, the canonical API
//! (`routes`), the vendor-shaped surfaces (`compat`) and the web page (`web`). Handlers
//! translate a request into one `core` call and its answer back; they never open a
//! transaction.

pub mod body;
pub mod compat;
pub mod error;
pub mod extract;
pub mod headers;
pub mod origin;
pub mod pagination;
pub mod routes;
pub mod server;
pub mod shapes;
pub mod spec;
pub mod state;
pub mod telemetry;
pub mod web;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{
    OpenApiService, Tags,
    types::{ParseFromJSON, ToJSON},
};
use uuid::Uuid;

use crate::core::{self, idempotency::Replayable};
use body::BodyLimit;
use compat::{
    alertmanager::AlertmanagerWebhookApi, github::GithubApi, github_webhook::GithubWebhookApi,
    gitlab::GitlabWebhookApi, hooks::HooksApi, iftrue::IftrueApi, pagerduty::PagerdutyWebhookApi,
};
use routes::{
    admin::AdminApi, deploy_hooks::DeployHooksApi, deployment_import::DeploymentImportApi,
    deployments::DeploymentsApi, health::HealthApi, incidents::IncidentsApi,
    integrations::IntegrationsApi, metrics::MetricsApi, statuses::StatusesApi, streams::StreamsApi,
    tokens::TokensApi, trust_policies::TrustPoliciesApi,
    webhook_subscriptions::WebhookSubscriptionsApi,
};
use state::AppState;

/// Routes whose request body is read as a stream, as long as it keeps arriving: no body size
/// limit before the handler (it caps each line) and the body-read timeout re-armed by every
/// frame (`http::server`).
pub const STREAMED_BODY_PATHS: &[&str] = &["/api/v1/deployments/import"];

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
    /// Connections to GitHub and GitLab that send webhooks (admin)
    Integrations,
    /// Webhook deliveries from GitHub and GitLab (the integration's secret verifies them)
    Webhooks,
    /// Probes
    Health,
    /// API tokens as revocable records (admin)
    Tokens,
    /// Trust policies for CI identity tokens (OIDC) (admin)
    TrustPolicies,
    /// Outbound webhooks: subscriptions and their deliveries (admin)
    WebhookSubscriptions,
}

pub type Apis = (
    HealthApi,
    DeploymentsApi,
    StatusesApi,
    IncidentsApi,
    MetricsApi,
    IftrueApi,
    GithubApi,
    AdminApi,
    DeployHooksApi,
    HooksApi,
    IntegrationApis,
    // Credentials, nested so the tuple stays short.
    (
        TokensApi,
        TrustPoliciesApi,
        StreamsApi,
        WebhookSubscriptionsApi,
        DeploymentImportApi,
    ),
);

/// Integrations and their webhook sources (a tuple of its own: `Default` is implemented for
/// tuples of at most 12).
pub type IntegrationApis = (
    IntegrationsApi,
    GithubWebhookApi,
    GitlabWebhookApi,
    PagerdutyWebhookApi,
    AlertmanagerWebhookApi,
);

/// The OpenAPI service: the source of `openapi.yaml`.
pub fn openapi_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(Apis::default(), "dora-tracker", env!("CARGO_PKG_VERSION")).description(
        "Records deployment events and computes the DORA metrics. Authenticate with \
         `Authorization: Bearer <JWT>` (mint one with `dora-tracker token issue`). Errors are \
         `application/problem+json`.",
    )
}

/// The whole HTTP application.
pub fn app(state: AppState) -> impl Endpoint {
    let api = openapi_service();
    let ui = api.swagger_ui();
    let routes = Route::new()
        .nest("/docs", ui)
        .at("/openapi.json", poem::get(spec::serve_json))
        .at("/openapi.yaml", poem::get(spec::serve_yaml))
        .at("/metrics", routes::prometheus::scrape)
        .nest("/ui", web::pages())
        .nest("/", api);
    web::WithHome::new(routes)
        .around(body::refuse_control_characters)
        .around(body::reject_large_bodies)
        .around(compat::github::github_errors)
        .around(compat::hooks::hook_errors)
        .around(error::render_errors)
        .around(telemetry::access_log)
        // Outermost, so every layer above sees them.
        .data(BodyLimit(state.http.max_body_bytes))
        .data(state)
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    /// Base of the URLs the service hands out (no trailing slash).
    pub public_url: Option<String>,
    pub trust_forwarded_headers: bool,
}

/// Ids are uuids; anything else is simply not found.
pub fn parse_id(id: &str, what: &'static str) -> Result<Uuid, core::Error> {
    Uuid::parse_str(id).map_err(|_| core::Error::NotFound(what))
}

/// Every response body the spec knows can be stored with an idempotency key.
impl<T: ToJSON + ParseFromJSON> Replayable for T {
    fn to_stored(&self) -> String {
        self.to_json_string()
    }

    fn from_stored(text: &str) -> Result<Self, String> {
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        T::parse_from_json(Some(json)).map_err(|e| e.into_message())
    }
}
