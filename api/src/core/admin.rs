//! Admin repairs (scope `admin`), each written to the audit log in the same transaction.
//! Like Vela's admin build endpoint, a replace overwrites a whole deployment record.

use entity::audit_log;
use uuid::Uuid;

use super::{
    Core, Error,
    access::{WriteFor, authorize_write},
    now,
};
use crate::{
    auth::{Principal, Scope},
    domain::{FieldError, NewDeployment},
    store::{self, audit::Change, deployments::DeploymentRecord},
};

/// Overwrites every writable field of deployment `id` with `new` (never creates one).
/// `read_only` compares the read-only values the caller sent with the stored record and
/// answers those that differ: any refuses the whole replace (422, nothing written). The
/// record before and after, as `snapshot` shows it, goes to the audit log; the status it
/// sets is appended to the history.
pub async fn replace(
    core: &Core,
    principal: &Principal,
    id: Uuid,
    new: &NewDeployment,
    read_only: impl Fn(&DeploymentRecord) -> Vec<FieldError>,
    snapshot: impl Fn(&DeploymentRecord) -> serde_json::Value,
) -> Result<DeploymentRecord, Error> {
    principal.require(Scope::Admin)?;
    let org = principal.organization_id;
    let now = now();
    let txn = core.db.begin_write().await?;
    // Locks the row: a status or PATCH of the same deployment waits for the replacement.
    let before = store::deployments::get_for_update(&txn, org, id)
        .await?
        .ok_or(Error::NotFound("deployment"))?;
    // Both the repository it was of and the one it becomes of.
    authorize_write(&txn, principal, WriteFor::Key(&before.repository.key)).await?;
    authorize_write(&txn, principal, WriteFor::Key(&new.repository.key)).await?;
    let differences = read_only(&before);
    if !differences.is_empty() {
        return Err(Error::Validation(differences));
    }
    let (replaced, changes) =
        store::deployments::replace(&txn, before.deployment.clone(), new, now).await?;
    super::outbound::status_changed(&txn, &before.deployment.status, &replaced).await?;
    super::outbound::outcomes_changed(&txn, org, &changes).await?;
    store::statuses::record_set_status(
        &txn,
        &before.deployment.status,
        &replaced,
        "Status set by an admin replace",
        principal.subject.clone(),
        now,
    )
    .await?;
    let after = store::deployments::get(&txn, org, id)
        .await?
        .ok_or_else(|| Error::internal("replaced deployment vanished"))?;
    store::audit::record(
        &txn,
        Change {
            organization_id: org,
            actor: principal.subject.clone(),
            action: "replace",
            entity: "deployment",
            entity_id: id.to_string(),
            before: Some(snapshot(&before)),
            after: Some(snapshot(&after)),
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// The organization's admin changes, newest first: `before` is the previous page's cursor
/// (an entry id). Answers the rows and whether more follow.
pub async fn audit_log(
    core: &Core,
    principal: &Principal,
    entity_id: Option<&str>,
    before: Option<i64>,
    limit: u64,
) -> Result<(Vec<audit_log::Model>, bool), Error> {
    principal.require(Scope::Admin)?;
    Ok(store::audit::list(
        core.db.read(),
        principal.organization_id,
        entity_id,
        before,
        limit,
    )
    .await?)
}
