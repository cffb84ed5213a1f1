//! `/api/v1/integrations`: connections to GitHub and GitLab that send webhooks (admin scope).
//! An integration's secret is shown once, when it is created or rotated; its webhook URL and
//! delivery counts are shown always.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    core::{
        self,
        integrations::{IntegrationPatch, IntegrationRecord},
    },
    domain::{Errors, IntegrationOptions, NewIntegration, RawOptions, check_integration_name},
    http::{
        ApiTags, body::JsonBody, error::ApiError, extract::BearerAuth, origin, parse_id,
        state::AppState,
    },
};

/// The options of an integration; all optional.
#[derive(Debug, Clone, Default, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct IntegrationOptionsIn {
    /// Environments that count as production when the payload does not say (GitHub's
    /// `production_environment` and GitLab's `environment_tier` win when present). Default
    /// `["production"]`; the first is the environment of workflow-run deployments and of
    /// incidents.
    #[oai(nullable)]
    pub production_environments: Option<Vec<String>>,
    /// GitHub only: the workflows (names or file paths, globs such as `deploy*` or
    /// `.github/workflows/release.yml`) whose completed runs are deployments. Default none.
    #[oai(nullable)]
    pub deployment_workflows: Option<Vec<String>>,
    /// Issues with this label (case-insensitive) are incidents. Default `incident`.
    #[oai(nullable)]
    pub incident_label: Option<String>,
    /// The team of repositories first seen through this integration.
    #[oai(nullable)]
    pub team: Option<String>,
    /// `owner/name` globs (e.g. `acme/*`) of the repositories whose events are recorded;
    /// events of others are acknowledged and ignored. Default: all.
    #[oai(nullable)]
    pub repositories: Option<Vec<String>>,
}

impl IntegrationOptionsIn {
    fn raw(&self) -> RawOptions<'_> {
        RawOptions {
            production_environments: self.production_environments.as_deref(),
            deployment_workflows: self.deployment_workflows.as_deref(),
            incident_label: self.incident_label.as_deref(),
            team: self.team.as_deref(),
            repositories: self.repositories.as_deref(),
        }
    }
}

/// A new integration.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct IntegrationIn {
    /// `github` or `gitlab`.
    #[oai(validator(min_length = 1, max_length = 32))]
    pub kind: String,
    /// 1-100 characters, unique in the organization.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    #[oai(nullable)]
    pub options: Option<IntegrationOptionsIn>,
}

/// A change of an integration: its name, or all its options (those left out take their
/// defaults again).
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatchIn {
    #[oai(validator(min_length = 1, max_length = 100))]
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub options: Option<IntegrationOptionsIn>,
}

/// The options in force (defaults filled in).
#[derive(Debug, Clone, Object)]
pub struct IntegrationOptionsOut {
    pub production_environments: Vec<String>,
    pub deployment_workflows: Vec<String>,
    pub incident_label: String,
    #[oai(nullable)]
    pub team: Option<String>,
    /// Null: every repository.
    #[oai(nullable)]
    pub repositories: Option<Vec<String>>,
}

impl From<&IntegrationOptions> for IntegrationOptionsOut {
    fn from(o: &IntegrationOptions) -> Self {
        Self {
            production_environments: o.production_environments.clone(),
            deployment_workflows: o.deployment_workflows.clone(),
            incident_label: o.incident_label.clone(),
            team: o.team.clone(),
            repositories: o.repositories.clone(),
        }
    }
}

/// What the integration's deliveries did (verified deliveries only: a refused one records
/// nothing, not even here).
#[derive(Debug, Clone, Object)]
pub struct DeliveryCounts {
    /// Every verified delivery.
    pub total: i64,
    /// Deliveries that recorded or changed something.
    pub recorded: i64,
    /// Redeliveries, and events of things already recorded: nothing changed.
    pub duplicates: i64,
    /// Handled events that record nothing (other repositories, pings, other actions).
    pub ignored: i64,
    /// Event types that are not used (answered 202).
    pub unhandled: i64,
    #[oai(nullable)]
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// The event type of the last delivery.
    #[oai(nullable)]
    pub last_event: Option<String>,
}

/// An integration. Its secret is never shown again after creation or rotation.
#[derive(Debug, Clone, Object)]
pub struct Integration {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// `github` or `gitlab`.
    pub kind: String,
    pub name: String,
    pub options: IntegrationOptionsOut,
    /// Where the source sends its webhooks: `DORA_PUBLIC_URL` (else the request's origin) +
    /// `/webhooks/{kind}/{id}`.
    pub webhook_url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub secret_rotated_at: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation is still accepted (null when none is).
    #[oai(nullable)]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub deliveries: DeliveryCounts,
}

/// An integration with its secret: the answer of create and rotate-secret only.
#[derive(Debug, Clone, Object)]
pub struct IntegrationWithSecret {
    #[oai(flatten)]
    pub integration: Integration,
    /// The webhook secret (256 random bits, URL-safe). Shown once: store it in the source's
    /// webhook settings now.
    pub secret: String,
}

#[derive(Debug, Clone, Object)]
pub struct IntegrationList {
    pub items: Vec<Integration>,
}

fn view(req: &poem::Request, state: &AppState, record: &IntegrationRecord) -> Integration {
    let i = &record.integration;
    let path = format!("/webhooks/{}/{}", record.kind.as_str(), i.id);
    let webhook_url = match origin::base_url(req, &state.http) {
        Some(base) => format!("{base}{path}"),
        None => path,
    };
    Integration {
        id: i.id,
        organization_id: i.organization_id,
        kind: record.kind.as_str().to_owned(),
        name: i.name.clone(),
        options: (&record.options).into(),
        webhook_url,
        created_at: i.created_at,
        updated_at: i.updated_at,
        secret_rotated_at: i.secret_rotated_at,
        previous_secret_expires_at: record.previous_secret_expires_at(Utc::now()),
        deliveries: DeliveryCounts {
            total: i.deliveries,
            recorded: i.recorded,
            duplicates: i.duplicates,
            ignored: i.ignored,
            unhandled: i.unhandled,
            last_delivery_at: i.last_delivery_at,
            last_event: i.last_event.clone(),
        },
    }
}

#[derive(ApiResponse)]
pub enum CreateIntegrationResponse {
    /// Created. The secret appears in this response only.
    #[oai(status = 201)]
    Created(
        Json<IntegrationWithSecret>,
        #[oai(header = "Location")] String,
        /// `no-store`: the body holds the secret.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum RotateSecretResponse {
    /// The new secret (shown this once); the previous one works until
    /// `previous_secret_expires_at`.
    #[oai(status = 200)]
    Ok(
        Json<IntegrationWithSecret>,
        /// `no-store`: the body holds the secret.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(Default)]
pub struct IntegrationsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Integrations")]
impl IntegrationsApi {
    /// Create an integration
    ///
    /// Needs the `admin` scope. Answers the integration with its `webhook_url` and `secret`
    /// (the secret is never shown again). Configure both in GitHub or GitLab (README,
    /// "Connect GitHub" and "Connect GitLab"). A second integration with the same name is a
    /// 409.
    #[oai(
        path = "/integrations",
        method = "post",
        operation_id = "createIntegration"
    )]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<IntegrationIn>,
    ) -> Result<CreateIntegrationResponse, ApiError> {
        let b = &body.value;
        let options = b.options.clone().unwrap_or_default();
        let new =
            NewIntegration::parse(&b.kind, &b.name, &options.raw()).map_err(core::Error::from)?;
        let (record, secret) = core::integrations::create(&state.core, &auth.0, new).await?;
        let location = format!("/api/v1/integrations/{}", record.integration.id);
        Ok(CreateIntegrationResponse::Created(
            Json(IntegrationWithSecret {
                integration: view(req, &state, &record),
                secret: secret.expose().to_owned(),
            }),
            location,
            "no-store".to_owned(),
        ))
    }

    /// List integrations
    ///
    /// Needs the `admin` scope. Oldest first, each with its delivery counts. Secrets are
    /// never shown.
    #[oai(
        path = "/integrations",
        method = "get",
        operation_id = "listIntegrations"
    )]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
    ) -> Result<Json<IntegrationList>, ApiError> {
        let records = core::integrations::list(&state.core, &auth.0).await?;
        Ok(Json(IntegrationList {
            items: records.iter().map(|r| view(req, &state, r)).collect(),
        }))
    }

    /// Get an integration
    ///
    /// Its options, webhook URL, and what its deliveries did: counts, the last delivery's
    /// time and event. That is how to check a connection.
    #[oai(
        path = "/integrations/:id",
        method = "get",
        operation_id = "getIntegration"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<Integration>, ApiError> {
        let id = parse_id(&id, "integration")?;
        let record = core::integrations::get(&state.core, &auth.0, id).await?;
        Ok(Json(view(req, &state, &record)))
    }

    /// Change an integration
    ///
    /// Renames it, or replaces its options (validated for its kind; options left out take
    /// their defaults). The kind and secret do not change here.
    #[oai(
        path = "/integrations/:id",
        method = "patch",
        operation_id = "updateIntegration"
    )]
    async fn update(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<IntegrationPatchIn>,
    ) -> Result<Json<Integration>, ApiError> {
        let id = parse_id(&id, "integration")?;
        let b = &body.value;
        let mut errors = Errors::default();
        let name = b
            .name
            .as_deref()
            .and_then(|n| check_integration_name(&mut errors, n));
        if !errors.is_empty() {
            return Err(core::Error::Validation(errors.0).into());
        }
        let patch = IntegrationPatch {
            name,
            options: b.options.as_ref().map(IntegrationOptionsIn::raw),
        };
        let record = core::integrations::update(&state.core, &auth.0, id, patch).await?;
        Ok(Json(view(req, &state, &record)))
    }

    /// Delete an integration
    ///
    /// Answers with the deleted integration. Its webhook URL answers 401 from now on, like an
    /// unknown one; what its deliveries recorded stays.
    #[oai(
        path = "/integrations/:id",
        method = "delete",
        operation_id = "deleteIntegration"
    )]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<Integration>, ApiError> {
        let id = parse_id(&id, "integration")?;
        let record = core::integrations::delete(&state.core, &auth.0, id).await?;
        Ok(Json(view(req, &state, &record)))
    }

    /// Rotate an integration's secret
    ///
    /// Answers the new secret (shown this once). The previous secret keeps verifying
    /// deliveries for 24 hours (`previous_secret_expires_at`), so deliveries in flight are not
    /// lost while the source's settings are updated; an older one stops at once.
    #[oai(
        path = "/integrations/:id/rotate-secret",
        method = "post",
        operation_id = "rotateIntegrationSecret"
    )]
    async fn rotate_secret(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<RotateSecretResponse, ApiError> {
        let id = parse_id(&id, "integration")?;
        let (record, secret) = core::integrations::rotate_secret(&state.core, &auth.0, id).await?;
        Ok(RotateSecretResponse::Ok(
            Json(IntegrationWithSecret {
                integration: view(req, &state, &record),
                secret: secret.expose().to_owned(),
            }),
            "no-store".to_owned(),
        ))
    }
}
