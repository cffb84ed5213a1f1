//! `/api/v1/incidents`: record, list, read and resolve incidents.
//!
//! An incident names the deployment that caused it (`deployment_id`), or a repository (it is
//! then attributed to the latest successful deployment of that repository and environment
//! before it started), or nothing (it counts only for time to restore).

use chrono::{DateTime, SecondsFormat, Utc};
use entity::incidents;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    auth::{BearerAuth, Scope},
    body::JsonBody,
    domain::{check_text, truncate_micros, validate_environment},
    error::{ApiError, FieldError},
    routes::ApiTags,
    state::AppState,
    store,
};

/// A new incident.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct IncidentIn {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub title: String,
    /// When it started (RFC 3339); default now.
    pub started_at: Option<DateTime<Utc>>,
    /// When it was resolved, for incidents recorded after the fact; not before `started_at`.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The repository at fault: any spelling of the URL of a repository this organization has
    /// recorded deployments for. Default: the repository of `deployment_id`.
    #[oai(validator(min_length = 1, max_length = 2048))]
    pub repository_url: Option<String>,
    /// Default: the environment of `deployment_id`, else `production`.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub environment: Option<String>,
    /// The deployment that caused it (a deployment of this organization).
    pub deployment_id: Option<Uuid>,
    /// Free text, e.g. `sev1`, `critical`.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub severity: Option<String>,
}

/// How an incident is resolved.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// Default now; not before the incident started.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A recorded incident.
#[derive(Debug, Clone, Object)]
pub struct Incident {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub repository_id: Option<Uuid>,
    pub environment: String,
    /// Whether it counts in the default (production) metrics scope: the `is_production` of its
    /// deployment, else whether its environment is `production` or has received a production
    /// deployment.
    pub is_production: bool,
    pub deployment_id: Option<Uuid>,
    pub title: String,
    pub severity: Option<String>,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `resolved_at − started_at` in seconds, once resolved.
    pub duration_seconds: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
        }
    }
}

/// A page of incidents, latest start first.
#[derive(Debug, Clone, Object)]
pub struct IncidentPage {
    pub items: Vec<Incident>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreateIncidentResponse {
    /// Recorded.
    #[oai(status = 201)]
    Created(Json<Incident>, #[oai(header = "Location")] String),
}

pub struct IncidentsApi;

pub const MAX_PAGE: u64 = 200;

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found("incident"))
}

fn encode_cursor(incident: &incidents::Model) -> String {
    format!(
        "{}_{}",
        incident
            .started_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
        incident.id
    )
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (at, id) = cursor.rsplit_once('_')?;
    Some((
        DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
        Uuid::parse_str(id).ok()?,
    ))
}

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
        auth.0.require(Scope::Ingest)?;
        let org = auth.0.organization_id;
        let input = body.value;
        let now = truncate_micros(Utc::now());
        let mut errors = Vec::new();
        if let Err(e) = check_text(&input.title, false) {
            errors.push(FieldError::new("title", e));
        }
        if let Some(severity) = &input.severity
            && let Err(e) = check_text(severity, false)
        {
            errors.push(FieldError::new("severity", e));
        }
        if let Some(environment) = &input.environment
            && let Err(e) = validate_environment(environment)
        {
            errors.push(FieldError::new("environment", e));
        }
        let started_at = truncate_micros(input.started_at.unwrap_or(now));
        let resolved_at = input.resolved_at.map(truncate_micros);
        if resolved_at.is_some_and(|r| r < started_at) {
            errors.push(FieldError::new(
                "resolved_at",
                "must not be before started_at",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }

        let conn = state.db.read();
        let repository = match input.repository_url.as_deref() {
            None => None,
            Some(url) => Some(
                store::organizations::resolve_repository(conn, org, url)
                    .await?
                    .ok_or_else(|| {
                        ApiError::validation(vec![FieldError::new(
                            "repository_url",
                            "no deployment of this repository has been recorded in this organization",
                        )])
                    })?,
            ),
        };
        let deployment =
            match input.deployment_id {
                None => None,
                Some(id) => Some(store::deployments::find(conn, org, id).await?.ok_or_else(
                    || {
                        ApiError::validation(vec![FieldError::new(
                            "deployment_id",
                            "no such deployment in this organization",
                        )])
                    },
                )?),
            };
        let (repository_id, environment, is_production) = match &deployment {
            Some(d) => {
                if repository.as_ref().is_some_and(|r| r.id != d.repository_id) {
                    return Err(ApiError::validation(vec![FieldError::new(
                        "repository_url",
                        "is not the repository of deployment_id",
                    )]));
                }
                if input
                    .environment
                    .as_deref()
                    .is_some_and(|e| e != d.environment)
                {
                    return Err(ApiError::validation(vec![FieldError::new(
                        "environment",
                        format!(
                            "is not the environment of deployment_id (`{}`)",
                            d.environment
                        ),
                    )]));
                }
                (
                    Some(d.repository_id),
                    d.environment.clone(),
                    d.is_production,
                )
            }
            None => {
                let environment = input
                    .environment
                    .clone()
                    .unwrap_or_else(|| "production".to_owned());
                let repository_id = repository.as_ref().map(|r| r.id);
                let is_production = environment == "production"
                    || store::incidents::environment_is_production(
                        conn,
                        org,
                        repository_id,
                        &environment,
                    )
                    .await?;
                (repository_id, environment, is_production)
            }
        };
        let txn = state.db.begin_write().await?;
        let incident = store::incidents::insert(
            &txn,
            incidents::Model {
                id: Uuid::now_v7(),
                organization_id: org,
                repository_id,
                environment,
                is_production,
                deployment_id: input.deployment_id,
                title: input.title,
                severity: input.severity,
                started_at,
                resolved_at,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        txn.commit().await?;
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
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<IncidentPage>, ApiError> {
        auth.0.require(Scope::Read)?;
        let org = auth.0.organization_id;
        let mut filter = store::incidents::ListFilter {
            environment: environment.0,
            deployment_id: deployment_id.0,
            open: open.0,
            since: since.0,
            until: until.0,
            ..Default::default()
        };
        if let Some(cursor) = cursor.0.as_deref() {
            filter.after = Some(decode_cursor(cursor).ok_or_else(|| {
                ApiError::invalid_parameter("cursor", "not a cursor returned by this API")
            })?);
        }
        if let Some(reference) = repository.0.as_deref() {
            match store::organizations::resolve_repository(state.db.read(), org, reference).await? {
                Some(r) => filter.repository_id = Some(r.id),
                None => {
                    return Ok(Json(IncidentPage {
                        items: Vec::new(),
                        next_cursor: None,
                    }));
                }
            }
        }
        let limit = limit.0.unwrap_or(50).clamp(1, MAX_PAGE);
        let (rows, more) = store::incidents::list(state.db.read(), org, &filter, limit).await?;
        let next_cursor = if more {
            rows.last().map(encode_cursor)
        } else {
            None
        };
        Ok(Json(IncidentPage {
            items: rows.into_iter().map(Incident::from).collect(),
            next_cursor,
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
        auth.0.require(Scope::Read)?;
        let id = parse_id(&id)?;
        store::incidents::find(state.db.read(), auth.0.organization_id, id)
            .await?
            .map(|m| Json(m.into()))
            .ok_or_else(|| ApiError::not_found("incident"))
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
        auth.0.require(Scope::Ingest)?;
        let id = parse_id(&id)?;
        let now = truncate_micros(Utc::now());
        let resolved_at = truncate_micros(body.value.resolved_at.unwrap_or(now));
        let txn = state.db.begin_write().await?;
        let current = store::incidents::find_for_update(&txn, auth.0.organization_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("incident"))?;
        if let Some(at) = current.resolved_at {
            return Err(ApiError::conflict(
                "incident-resolved",
                format!(
                    "the incident was resolved already, at {}",
                    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                ),
            ));
        }
        if resolved_at < current.started_at {
            return Err(ApiError::validation(vec![FieldError::new(
                "resolved_at",
                format!(
                    "must not be before the incident started ({})",
                    current
                        .started_at
                        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
                ),
            )]));
        }
        let incident = store::incidents::resolve(&txn, current, resolved_at, now).await?;
        txn.commit().await?;
        Ok(Json(incident.into()))
    }
}
