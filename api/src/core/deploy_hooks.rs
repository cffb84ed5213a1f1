//! Managed deploy hooks (scope `admin`). A hook's secret appears once, when it is created;
//! only its SHA-256 is stored.

use uuid::Uuid;

use super::{
    Core, Error,
    access::{WriteFor, authorize_write},
    hooks::{hash_secret, new_secret},
    now,
};
use crate::{
    auth::{Principal, Scope},
    domain::HookInput,
    store::{
        self,
        deploy_hooks::{HookFields, HookRecord},
        is_unique_violation,
    },
};

fn name_taken() -> Error {
    Error::conflict(
        "deploy-hook-name-taken",
        "a deploy hook with this name already exists for this repository",
    )
}

fn or_name_taken(e: sea_orm::DbErr) -> Error {
    if is_unique_violation(&e) {
        name_taken()
    } else {
        e.into()
    }
}

fn fields(repository_id: Uuid, input: HookInput) -> HookFields {
    HookFields {
        repository_id,
        name: input.name,
        branch: input.branch,
        environment: input.environment,
    }
}

/// Creates a hook; answers it with its secret (shown this once).
pub async fn create(
    core: &Core,
    principal: &Principal,
    input: HookInput,
) -> Result<(HookRecord, String), Error> {
    principal.require(Scope::Admin)?;
    authorize_write(
        core.db.read(),
        principal,
        WriteFor::Key(&input.repository.key),
    )
    .await?;
    let org = principal.organization_id;
    let now = now();
    let secret = new_secret();
    let txn = core.db.begin_write().await?;
    let repository =
        store::organizations::ensure_repository(&txn, org, &input.repository, None, now).await?;
    if store::deploy_hooks::find_by_name(&txn, org, repository.id, &input.name)
        .await?
        .is_some()
    {
        return Err(name_taken());
    }
    let fields = fields(repository.id, input);
    let hook = store::deploy_hooks::insert(&txn, org, &fields, &hash_secret(&secret), now)
        .await
        .map_err(or_name_taken)?;
    txn.commit().await?;
    let record = HookRecord {
        hook,
        repository,
        last_deployment: None,
    };
    Ok((record, secret))
}

/// The organization's hooks, oldest first.
pub async fn list(core: &Core, principal: &Principal) -> Result<Vec<HookRecord>, Error> {
    principal.require(Scope::Admin)?;
    let conn = core.db.read();
    let hooks = store::deploy_hooks::list(conn, principal.organization_id).await?;
    Ok(store::deploy_hooks::hydrate(conn, hooks).await?)
}

async fn one<C: sea_orm::ConnectionTrait>(
    conn: &C,
    org: Uuid,
    id: Uuid,
) -> Result<HookRecord, Error> {
    let hook = store::deploy_hooks::find(conn, org, id)
        .await?
        .ok_or(Error::NotFound("deploy hook"))?;
    store::deploy_hooks::hydrate(conn, vec![hook])
        .await?
        .pop()
        .ok_or(Error::NotFound("deploy hook"))
}

pub async fn get(core: &Core, principal: &Principal, id: Uuid) -> Result<HookRecord, Error> {
    principal.require(Scope::Admin)?;
    one(core.db.read(), principal.organization_id, id).await
}

/// A full replace with the fields of create; the secret does not change.
pub async fn replace(
    core: &Core,
    principal: &Principal,
    id: Uuid,
    input: HookInput,
) -> Result<HookRecord, Error> {
    principal.require(Scope::Admin)?;
    let org = principal.organization_id;
    let now = now();
    let txn = core.db.begin_write().await?;
    let current = store::deploy_hooks::find(&txn, org, id)
        .await?
        .ok_or(Error::NotFound("deploy hook"))?;
    // Both the repository it was of and the one it becomes of.
    authorize_write(&txn, principal, WriteFor::Repository(current.repository_id)).await?;
    authorize_write(&txn, principal, WriteFor::Key(&input.repository.key)).await?;
    let repository =
        store::organizations::ensure_repository(&txn, org, &input.repository, None, now).await?;
    if store::deploy_hooks::find_by_name(&txn, org, repository.id, &input.name)
        .await?
        .is_some_and(|other| other.id != id)
    {
        return Err(name_taken());
    }
    store::deploy_hooks::replace(&txn, current, &fields(repository.id, input), now)
        .await
        .map_err(or_name_taken)?;
    let record = one(&txn, org, id).await?;
    txn.commit().await?;
    Ok(record)
}

/// Deletes a hook; answers it as it was. Its URL answers as an unknown one from now on; the
/// deployments it recorded stay.
pub async fn delete(core: &Core, principal: &Principal, id: Uuid) -> Result<HookRecord, Error> {
    principal.require(Scope::Admin)?;
    let txn = core.db.begin_write().await?;
    let record = one(&txn, principal.organization_id, id).await?;
    authorize_write(&txn, principal, WriteFor::Key(&record.repository.key)).await?;
    store::deploy_hooks::delete(&txn, id).await?;
    txn.commit().await?;
    Ok(record)
}
