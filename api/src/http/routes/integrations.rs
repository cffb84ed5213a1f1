//! `/api/v1/integrations`: connections to GitHub, GitLab, PagerDuty and Alertmanager that send
//! webhooks (admin scope). An integration's secret is shown once, when it is created or
//! rotated (PagerDuty's is PagerDuty's: given, never shown); its webhook URL and delivery
//! counts are shown always.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    core::{
        self,
        integrations::{IntegrationPatch, IntegrationRecord},
    },
    domain::{
        Errors, IntegrationOptions, NewIntegration, RawOptions, RawService, Secret,
        check_integration_name, check_source_secret,
    },
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
    /// PagerDuty only: a PagerDuty service id (e.g. `PIJ90N7`) or name → the repository and
    /// environment its incidents are attributed to. Incidents of services not listed are
    /// recorded unattributed (they count in time to restore only).
    #[oai(nullable)]
    pub services: Option<BTreeMap<String, ServiceIn>>,
    /// PagerDuty only: record only incidents of these urgencies (`high`, `low`). Default: all.
    #[oai(nullable)]
    pub match_urgency: Option<Vec<String>>,
    /// Alertmanager only: labels an alert must carry, with these values, to be an incident
    /// (e.g. `{"dora_incident": "true"}`). Default: every alert.
    #[oai(rename = "match")]
    #[serde(rename = "match")]
    #[oai(nullable)]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Alertmanager only: the label naming the repository (its URL in any spelling, or its
    /// id). Default `repository`.
    #[oai(nullable)]
    pub repository_label: Option<String>,
    /// Alertmanager only: the label naming the environment. Default `environment`; without
    /// it, `production`.
    #[oai(nullable)]
    pub environment_label: Option<String>,
    /// Alertmanager only: the label giving the severity. Default `severity`.
    #[oai(nullable)]
    pub severity_label: Option<String>,
    /// Alertmanager only: the annotation giving the title. Default `summary`, else the
    /// `alertname` label.
    #[oai(nullable)]
    pub title_annotation: Option<String>,
}

/// Where a PagerDuty service's incidents are.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ServiceIn {
    /// The repository (any spelling of its URL).
    #[oai(validator(min_length = 1, max_length = 2048))]
    pub repository_url: String,
    /// Default `production`.
    #[oai(validator(min_length = 1, max_length = 64))]
    #[oai(nullable)]
    pub environment: Option<String>,
}

/// Where a PagerDuty service's incidents are.
#[derive(Debug, Clone, Object)]
pub struct ServiceOut {
    pub repository_url: String,
    pub environment: String,
}

impl IntegrationOptionsIn {
    fn raw(&self) -> RawOptions<'_> {
        RawOptions {
            production_environments: self.production_environments.as_deref(),
            deployment_workflows: self.deployment_workflows.as_deref(),
            incident_label: self.incident_label.as_deref(),
            team: self.team.as_deref(),
            repositories: self.repositories.as_deref(),
            services: self.services.as_ref().map(|map| {
                map.iter()
                    .map(|(key, s)| {
                        (
                            key.as_str(),
                            RawService {
                                repository_url: &s.repository_url,
                                environment: s.environment.as_deref(),
                            },
                        )
                    })
                    .collect()
            }),
            match_urgency: self.match_urgency.as_deref(),
            match_labels: self.match_labels.as_ref(),
            repository_label: self.repository_label.as_deref(),
            environment_label: self.environment_label.as_deref(),
            severity_label: self.severity_label.as_deref(),
            title_annotation: self.title_annotation.as_deref(),
        }
    }
}

/// A signing secret from a request: only the kinds whose source generates it take one.
fn given_secret(secret: Option<&str>) -> Result<Option<Secret>, ApiError> {
    let mut errors = Errors::default();
    let secret = secret.and_then(|s| errors.check("secret", check_source_secret(s)));
    if errors.is_empty() {
        Ok(secret)
    } else {
        Err(core::Error::Validation(errors.0).into())
    }
}

/// A new integration.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct IntegrationIn {
    /// `github`, `gitlab`, `pagerduty` or `alertmanager`.
    #[oai(validator(min_length = 1, max_length = 32))]
    pub kind: String,
    /// 1-100 characters, unique in the organization.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    #[oai(nullable)]
    pub options: Option<IntegrationOptionsIn>,
    /// `pagerduty` only: the signing secret PagerDuty showed for the webhook subscription, if
    /// it exists already (else set it later with PATCH). Write-only: stored sealed, never
    /// shown.
    #[oai(validator(min_length = 1, max_length = 256))]
    #[oai(nullable)]
    pub secret: Option<String>,
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
    /// `pagerduty` only: the signing secret PagerDuty shows for the webhook subscription
    /// (after a rotation in PagerDuty, the new one). Write-only: stored sealed, never shown;
    /// the secret before it stops at once.
    #[oai(validator(min_length = 1, max_length = 256))]
    #[oai(nullable)]
    pub secret: Option<String>,
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
    /// PagerDuty: the service map.
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub services: Option<BTreeMap<String, ServiceOut>>,
    /// PagerDuty: the urgencies recorded (absent: all).
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub match_urgency: Option<Vec<String>>,
    /// Alertmanager: the labels an alert must carry (empty: every alert counts).
    #[oai(rename = "match", skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Alertmanager: the labels and annotation read.
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub repository_label: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub environment_label: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub severity_label: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub title_annotation: Option<String>,
}

impl From<&IntegrationOptions> for IntegrationOptionsOut {
    fn from(o: &IntegrationOptions) -> Self {
        Self {
            production_environments: o.production_environments.clone(),
            deployment_workflows: o.deployment_workflows.clone(),
            incident_label: o.incident_label.clone(),
            team: o.team.clone(),
            repositories: o.repositories.clone(),
            services: o.services.as_ref().map(|map| {
                map.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            ServiceOut {
                                repository_url: v.repository_url.clone(),
                                environment: v.environment.clone(),
                            },
                        )
                    })
                    .collect()
            }),
            match_urgency: o.match_urgency.clone(),
            match_labels: o.match_labels.clone(),
            repository_label: o.repository_label.clone(),
            environment_label: o.environment_label.clone(),
            severity_label: o.severity_label.clone(),
            title_annotation: o.title_annotation.clone(),
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
    /// `github`, `gitlab`, `pagerduty` or `alertmanager`.
    pub kind: String,
    pub name: String,
    pub options: IntegrationOptionsOut,
    /// Whether deliveries can be verified: false for a `pagerduty` integration until
    /// PagerDuty's secret is set (its deliveries answer 401 until then).
    pub secret_set: bool,
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
    /// webhook settings now. Absent for `pagerduty` integrations: PagerDuty generates the
    /// secret (set it with PATCH).
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub secret: Option<String>,
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
        secret_set: record.secret_set(),
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
        let given = given_secret(b.secret.as_deref())?;
        let (record, secret) = core::integrations::create(&state.core, &auth.0, new, given).await?;
        let location = format!("/api/v1/integrations/{}", record.integration.id);
        Ok(CreateIntegrationResponse::Created(
            Json(IntegrationWithSecret {
                integration: view(req, &state, &record),
                secret: secret.map(|s| s.expose().to_owned()),
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
    /// Renames it, replaces its options (validated for its kind; options left out take
    /// their defaults), or, for `pagerduty`, sets the signing secret PagerDuty shows
    /// (`secret`, write-only). The kind does not change; other kinds' secrets change only by
    /// rotate-secret.
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
            secret: given_secret(b.secret.as_deref())?,
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
                secret: Some(secret.expose().to_owned()),
            }),
            "no-store".to_owned(),
        ))
    }
}
