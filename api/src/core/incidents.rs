//! Incidents: record, list, read and resolve. An incident names the deployment that caused
//! it, or a repository (it is then attributed to the latest successful deployment of that
//! repository and environment before it started), or nothing (it counts only for time to
//! restore).

use chrono::{DateTime, SecondsFormat, Utc};
use entity::{deployments, incidents};
use uuid::Uuid;

use super::{
    Core, Error,
    access::{WriteFor, authorize_write},
    now,
};
use crate::{
    auth::{Principal, Scope},
    domain::{IncidentInput, IncidentSource},
    store,
};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Records an incident (scope `ingest`). With `deployment_id`, its repository and environment
/// are the deployment's (naming others is an error); with only a repository, that
/// repository must have deployments in the organization.
pub async fn create(
    core: &Core,
    principal: &Principal,
    input: IncidentInput,
) -> Result<incidents::Model, Error> {
    principal.require(Scope::Ingest)?;
    let org = principal.organization_id;
    let now = now();
    let conn = core.db.read();
    let repository = match input.repository_url.as_deref() {
        None => None,
        Some(url) => Some(
            store::organizations::resolve_repository(conn, org, url)
                .await?
                .ok_or_else(|| {
                    Error::field(
                        "repository_url",
                        "no deployment of this repository has been recorded in this organization",
                    )
                })?,
        ),
    };
    let deployment = match input.deployment_id {
        None => None,
        Some(id) => Some(
            store::deployments::find(conn, org, id)
                .await?
                .ok_or_else(|| {
                    Error::field("deployment_id", "no such deployment in this organization")
                })?,
        ),
    };
    if let Some(d) = &deployment {
        if repository.as_ref().is_some_and(|r| r.id != d.repository_id) {
            return Err(Error::field(
                "repository_url",
                "is not the repository of deployment_id",
            ));
        }
        if input
            .environment
            .as_deref()
            .is_some_and(|e| e != d.environment)
        {
            return Err(Error::field(
                "environment",
                format!(
                    "is not the environment of deployment_id (`{}`)",
                    d.environment
                ),
            ));
        }
    }
    let (repository_id, environment, is_production) = placement(
        conn,
        org,
        repository.as_ref().map(|r| r.id),
        deployment.as_ref(),
        input.environment.as_deref(),
    )
    .await?;
    let target = repository_id.map_or(WriteFor::Nothing, WriteFor::Repository);
    authorize_write(conn, principal, target).await?;
    let txn = core.db.begin_write().await?;
    let (incident, changes) = store::incidents::insert(
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
            started_at: input.started_at,
            resolved_at: input.resolved_at,
            created_at: now,
            updated_at: now,
            source: IncidentSource::Api.as_str().to_owned(),
            source_id: None,
            source_url: None,
        },
    )
    .await?;
    super::outbound::incident_changed(&txn, None, &incident).await?;
    super::outbound::outcomes_changed(&txn, org, &changes).await?;
    txn.commit().await?;
    Ok(incident)
}

/// Where an incident counts: with its deployment, that deployment's repository, environment
/// and `is_production`; otherwise the repository given, the environment given (default
/// `production`), and production when that environment is `production` or has received a
/// production deployment (of that repository, when one is named).
async fn placement<C: sea_orm::ConnectionTrait>(
    conn: &C,
    org: Uuid,
    repository_id: Option<Uuid>,
    deployment: Option<&deployments::Model>,
    environment: Option<&str>,
) -> Result<(Option<Uuid>, String, bool), Error> {
    if let Some(d) = deployment {
        return Ok((
            Some(d.repository_id),
            d.environment.clone(),
            d.is_production,
        ));
    }
    let environment = environment.unwrap_or("production").to_owned();
    let is_production = environment == "production"
        || store::incidents::environment_is_production(conn, org, repository_id, &environment)
            .await?;
    Ok((repository_id, environment, is_production))
}

/// An incident as its source (a GitHub or GitLab issue, a PagerDuty incident, an alert)
/// shows it now.
#[derive(Debug, Clone)]
pub(crate) struct SourcedIncident {
    pub source: IncidentSource,
    pub source_id: String,
    pub source_url: Option<String>,
    pub title: String,
    pub severity: Option<String>,
    /// `None`: unattributed (it counts only in time to restore).
    pub repository_id: Option<Uuid>,
    /// The deployment it names, if found (then it is that deployment's incident).
    pub deployment: Option<deployments::Model>,
    /// Without a deployment: the environment it is in.
    pub environment: String,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Records the sourced incident in `txn`, or brings `current` (its earlier record) up to
/// date: one row per source id, attributed like any incident (see [`placement`]).
pub(crate) async fn upsert_sourced<C: sea_orm::ConnectionTrait>(
    txn: &C,
    org: Uuid,
    current: Option<incidents::Model>,
    incident: SourcedIncident,
    now: DateTime<Utc>,
) -> Result<incidents::Model, Error> {
    let (repository_id, environment, is_production) = placement(
        txn,
        org,
        incident.repository_id,
        incident.deployment.as_ref(),
        Some(&incident.environment),
    )
    .await?;
    // A resolution before the start (clocks of the source) is the start.
    let resolved_at = incident.resolved_at.map(|r| r.max(incident.started_at));
    let model = incidents::Model {
        id: current.as_ref().map_or_else(Uuid::now_v7, |c| c.id),
        organization_id: org,
        repository_id,
        environment,
        is_production,
        deployment_id: incident.deployment.as_ref().map(|d| d.id),
        title: incident.title,
        severity: incident.severity,
        started_at: incident.started_at,
        resolved_at,
        created_at: current.as_ref().map_or(now, |c| c.created_at),
        updated_at: now,
        source: incident.source.as_str().to_owned(),
        source_id: Some(incident.source_id),
        source_url: incident.source_url,
    };
    let (recorded, changes) = match &current {
        Some(_) => store::incidents::replace(txn, model).await?,
        None => store::incidents::insert(txn, model).await?,
    };
    super::outbound::incident_changed(txn, current.as_ref(), &recorded).await?;
    super::outbound::outcomes_changed(txn, recorded.organization_id, &changes).await?;
    Ok(recorded)
}

/// Withdraws an incident its source no longer calls one (the label removed, the issue
/// deleted): it no longer counts anywhere.
pub(crate) async fn withdraw<C: sea_orm::ConnectionTrait>(
    txn: &C,
    org: Uuid,
    id: Uuid,
) -> Result<(), Error> {
    let (withdrawn, changes) = store::incidents::delete(txn, org, id).await?;
    if let Some(withdrawn) = withdrawn {
        super::outbound::incident_withdrawn(txn, &withdrawn).await?;
    }
    super::outbound::outcomes_changed(txn, org, &changes).await?;
    Ok(())
}

/// Latest start first, at most `limit`, and whether more follow (scope `read`). `repository`
/// fills the filter's repository as for deployments.
pub async fn list(
    core: &Core,
    principal: &Principal,
    repository: Option<&str>,
    mut filter: store::incidents::ListFilter,
    limit: u64,
) -> Result<(Vec<incidents::Model>, bool), Error> {
    principal.require(Scope::Read)?;
    let org = principal.organization_id;
    match super::repository_filter(core, org, repository).await? {
        Some(None) => return Ok((Vec::new(), false)),
        Some(Some(id)) => filter.repository_id = Some(id),
        None => {}
    }
    Ok(store::incidents::list(core.db.read(), org, &filter, limit).await?)
}

/// One incident (scope `read`).
pub async fn get(core: &Core, principal: &Principal, id: Uuid) -> Result<incidents::Model, Error> {
    principal.require(Scope::Read)?;
    store::incidents::find(core.db.read(), principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("incident"))
}

/// Resolves an open incident at `resolved_at` (default now; scope `ingest`).
pub async fn resolve(
    core: &Core,
    principal: &Principal,
    id: Uuid,
    resolved_at: Option<DateTime<Utc>>,
) -> Result<incidents::Model, Error> {
    principal.require(Scope::Ingest)?;
    let now = now();
    if let Some(at) = resolved_at {
        crate::domain::check_instant(at, now).map_err(|m| Error::field("resolved_at", m))?;
    }
    let resolved_at = resolved_at.map_or(now, crate::domain::truncate_micros);
    let txn = core.db.begin_write().await?;
    let current = store::incidents::find_for_update(&txn, principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("incident"))?;
    let target = current
        .repository_id
        .map_or(WriteFor::Nothing, WriteFor::Repository);
    authorize_write(&txn, principal, target).await?;
    if let Some(at) = current.resolved_at {
        return Err(Error::conflict(
            "incident-resolved",
            format!("the incident was resolved already, at {}", rfc3339(at)),
        ));
    }
    if resolved_at < current.started_at {
        return Err(Error::field(
            "resolved_at",
            format!(
                "must not be before the incident started ({})",
                rfc3339(current.started_at)
            ),
        ));
    }
    let before = current.clone();
    let (incident, changes) = store::incidents::resolve(&txn, current, resolved_at, now).await?;
    super::outbound::incident_changed(&txn, Some(&before), &incident).await?;
    super::outbound::outcomes_changed(&txn, incident.organization_id, &changes).await?;
    txn.commit().await?;
    Ok(incident)
}
