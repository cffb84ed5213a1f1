//! `/api/v1/incidents`: record, list, read and resolve incidents.
//!
//! An incident names the deployment that caused it (`deployment_id`), or a repository (it is
//! then attributed to the latest successful deployment of that repository and environment
//! before it started), or nothing (it counts only for time to restore).

use chrono::{DateTime, Utc};
use entity::incidents;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    core,
    domain::{IncidentInput, IncidentSource, RawIncident},
    http::{
        ApiTags, body::JsonBody, error::ApiError, extract::BearerAuth, pagination, parse_id,
        state::AppState,
    },
    store::incidents::ListFilter,
};

/// A new incident.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct IncidentIn {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub title: String,
    /// When it started (RFC 3339); default now.
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it was resolved, for incidents recorded after the fact; not before `started_at`.
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The repository at fault: any spelling of the URL of a repository this organization has
    /// recorded deployments for. Default: the repository of `deployment_id`.
    #[oai(validator(min_length = 1, max_length = 2048))]
    #[oai(nullable)]
    pub repository_url: Option<String>,
    /// Default: the environment of `deployment_id`, else `production`.
    #[oai(validator(min_length = 1, max_length = 64))]
    #[oai(nullable)]
    pub environment: Option<String>,
    /// The deployment that caused it (a deployment of this organization).
    #[oai(nullable)]
    pub deployment_id: Option<Uuid>,
    /// Free text, e.g. `sev1`, `critical`.
    #[oai(validator(min_length = 1, max_length = 64))]
    #[oai(nullable)]
    pub severity: Option<String>,
}

/// How an incident is resolved.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// Default now; not before the incident started.
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A recorded incident.
#[derive(Debug, Clone, Object)]
pub struct Incident {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[oai(nullable)]
    pub repository_id: Option<Uuid>,
    pub environment: String,
    /// Whether it counts in the default (production) metrics scope: the `is_production` of its
    /// deployment, else whether its environment is `production` or has received a production
    /// deployment.
    pub is_production: bool,
    #[oai(nullable)]
    pub deployment_id: Option<Uuid>,
    pub title: String,
    #[oai(nullable)]
    pub severity: Option<String>,
    pub started_at: DateTime<Utc>,
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// `resolved_at − started_at` in seconds, once resolved.
    #[oai(nullable)]
    pub duration_seconds: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where it came from: `api` (`POST /api/v1/incidents`), `github` or `gitlab` (an issue
    /// delivered by an integration's webhook), `pagerduty` (a PagerDuty incident) or
    /// `alertmanager` (an alert from Alertmanager or Grafana Alerting).
    pub source: String,
    /// The source's id of it: the issue (`owner/name#12`), PagerDuty's incident id, an
    /// alert's `fingerprint@startsAt`; null for `api`.
    #[oai(nullable)]
    pub source_id: Option<String>,
    /// The source's page of it (the issue, the PagerDuty incident, the alert's generator
    /// URL), null for `api`.
    #[oai(nullable)]
    pub source_url: Option<String>,
}

impl From<incidents::Model> for Incident {
    fn from(m: incidents::Model) -> Self {
        Self {
            duration_seconds: m.resolved_at.map(|r| (r - m.started_at).num_seconds()),
            id: m.id,
            organization_id: m.organization_id,
            repository_id: m.repository_id,
            environment: m.environment,
            is_production: m.is_production,
            deployment_id: m.deployment_id,
            title: m.title,
            severity: m.severity,
            started_at: m.started_at,
            resolved_at: m.resolved_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
            source: m.source,
            source_id: m.source_id,
            source_url: m.source_url,
        }
    }
}

/// A page of incidents, latest start first.
#[derive(Debug, Clone, Object)]
pub struct IncidentPage {
    pub items: Vec<Incident>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreateIncidentResponse {
    /// Recorded.
    #[oai(status = 201)]
    Created(Json<Incident>, #[oai(header = "Location")] String),
}

#[derive(Default)]
pub struct IncidentsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Incidents")]
impl IncidentsApi {
    /// Record an incident
    ///
    /// With `deployment_id`, the incident is that deployment's (its repository and
    /// environment are the deployment's; giving others is an error). With only
    /// `repository_url`, it is attributed to the latest successful deployment of that
    /// repository and environment before `started_at`. Needs the `ingest` scope.
    #[oai(path = "/incidents", method = "post", operation_id = "createIncident")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<IncidentIn>,
    ) -> Result<CreateIncidentResponse, ApiError> {
        let b = &body.value;
        let input = IncidentInput::parse(
            RawIncident {
                title: &b.title,
                severity: b.severity.as_deref(),
                environment: b.environment.as_deref(),
                repository_url: b.repository_url.as_deref(),
                deployment_id: b.deployment_id,
                started_at: b.started_at,
                resolved_at: b.resolved_at,
            },
            Utc::now(),
        )
        .map_err(core::Error::from)?;
        let incident = core::incidents::create(&state.core, &auth.0, input).await?;
        let location = format!("/api/v1/incidents/{}", incident.id);
        Ok(CreateIncidentResponse::Created(
            Json(incident.into()),
            location,
        ))
    }

    /// List incidents
    ///
    /// Latest start first. `since`/`until` bound `started_at` (`[since, until)`); `open=true`
    /// lists the unresolved ones, `open=false` the resolved ones. Needs the `read` scope.
    #[oai(path = "/incidents", method = "get", operation_id = "listIncidents")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// Repository URL (any spelling) or id.
        repository: Query<Option<String>>,
        environment: Query<Option<String>>,
        deployment_id: Query<Option<Uuid>>,
        open: Query<Option<bool>>,
        /// Only incidents from this source: `api`, `github`, `gitlab`, `pagerduty` or
        /// `alertmanager`.
        source: Query<Option<String>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<IncidentPage>, ApiError> {
        let filter = ListFilter {
            repository_id: None,
            environment: environment.0,
            deployment_id: deployment_id.0,
            open: open.0,
            source: source
                .0
                .map(|s| {
                    s.parse::<IncidentSource>()
                        .map(|s| s.as_str().to_owned())
                        .map_err(|e| core::Error::invalid_parameter("source", e))
                })
                .transpose()?,
            since: since.0,
            until: until.0,
            after: pagination::time_cursor(cursor.0.as_deref())?,
        };
        let (rows, more) = core::incidents::list(
            &state.core,
            &auth.0,
            repository.0.as_deref(),
            filter,
            pagination::limit(limit.0),
        )
        .await?;
        Ok(Json(IncidentPage {
            next_cursor: pagination::next_cursor(&rows, more, |i| {
                pagination::encode_time_cursor(i.started_at, i.id)
            }),
            items: rows.into_iter().map(Incident::from).collect(),
        }))
    }

    /// Get an incident
    #[oai(path = "/incidents/:id", method = "get", operation_id = "getIncident")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<Incident>, ApiError> {
        let id = parse_id(&id, "incident")?;
        let incident = core::incidents::get(&state.core, &auth.0, id).await?;
        Ok(Json(incident.into()))
    }

    /// Resolve an incident
    ///
    /// `resolved_at` defaults to now. Resolving a resolved incident is a 409; a `resolved_at`
    /// before the start is a 422. Needs the `ingest` scope.
    #[oai(
        path = "/incidents/:id/resolve",
        method = "post",
        operation_id = "resolveIncident"
    )]
    async fn resolve(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<ResolveIn>,
    ) -> Result<Json<Incident>, ApiError> {
        let id = parse_id(&id, "incident")?;
        let incident =
            core::incidents::resolve(&state.core, &auth.0, id, body.value.resolved_at).await?;
        Ok(Json(incident.into()))
    }
}
