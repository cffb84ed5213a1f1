//! A deployment's append-only status history. Posting a status moves the deployment's
//! canonical status and timing (see `store::statuses`).

use entity::deployment_statuses;
use uuid::Uuid;

use super::{
    Core, Error,
    access::{WriteFor, authorize_write},
    now,
};
use crate::{
    auth::{Principal, Scope},
    domain::NewStatus,
    store::{self, statuses::Posted},
};

/// Appends `new` to the deployment's history (scope `ingest`).
pub async fn post(
    core: &Core,
    principal: &Principal,
    deployment_id: Uuid,
    new: &NewStatus,
) -> Result<Posted, Error> {
    principal.require(Scope::Ingest)?;
    let txn = core.db.begin_write().await?;
    let deployment =
        store::deployments::find_for_update(&txn, principal.organization_id, deployment_id)
            .await?
            .ok_or(Error::NotFound("deployment"))?;
    authorize_write(
        &txn,
        principal,
        WriteFor::Repository(deployment.repository_id),
    )
    .await?;
    let previous = deployment.status.clone();
    let posted = store::statuses::post(&txn, deployment, new, now()).await?;
    super::outbound::statuses_posted(&txn, &previous, &posted).await?;
    txn.commit().await?;
    Ok(posted)
}

/// A page of a deployment's statuses, newest first: `before` is the previous page's cursor
/// (a status id). Answers the rows and whether more follow (scope `read`).
pub async fn list(
    core: &Core,
    principal: &Principal,
    deployment_id: Uuid,
    before: Option<i64>,
    limit: u64,
) -> Result<(Vec<deployment_statuses::Model>, bool), Error> {
    principal.require(Scope::Read)?;
    let conn = core.db.read();
    store::deployments::find(conn, principal.organization_id, deployment_id)
        .await?
        .ok_or(Error::NotFound("deployment"))?;
    let mut rows = store::statuses::list(conn, deployment_id, before, 0, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows, more))
}

/// One status of a deployment (scope `read`).
pub async fn get(
    core: &Core,
    principal: &Principal,
    deployment_id: Uuid,
    status_id: i64,
) -> Result<deployment_statuses::Model, Error> {
    principal.require(Scope::Read)?;
    let conn = core.db.read();
    store::deployments::find(conn, principal.organization_id, deployment_id)
        .await?
        .ok_or(Error::NotFound("deployment"))?;
    store::statuses::get(conn, deployment_id, status_id)
        .await?
        .ok_or(Error::NotFound("deployment status"))
}
