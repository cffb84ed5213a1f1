//! The use cases behind GitHub's REST deployments API (`http::compat::github`): deployments
//! addressed by their integer `number` within one repository `github.com/{owner}/{repo}`.
//! Creating one is [`deployments::record_with`](super::deployments::record_with); posting a
//! status is [`statuses::post`](super::statuses::post).

use entity::{deployment_statuses, repositories};

use super::{
    Core, Error,
    access::{WriteFor, authorize_write},
};
use crate::{
    auth::{Principal, Scope},
    domain::{RepositoryRef, Status},
    store::{
        self,
        github::{GithubRecord, ListFilter},
    },
};

/// The repository `reference` of the principal's organization, for an operation that needs
/// `scope`; unknown (no deployment recorded yet) is not found.
pub async fn repository(
    core: &Core,
    principal: &Principal,
    reference: &RepositoryRef,
    scope: Scope,
) -> Result<repositories::Model, Error> {
    principal.require(scope)?;
    store::organizations::find_repository_by_key(
        core.db.read(),
        principal.organization_id,
        &reference.key,
    )
    .await?
    .ok_or(Error::NotFound("repository"))
}

/// Deployment `number` of repository `reference`, for an operation that needs `scope`.
pub async fn deployment(
    core: &Core,
    principal: &Principal,
    reference: &RepositoryRef,
    number: i64,
    scope: Scope,
) -> Result<GithubRecord, Error> {
    let repository = repository(core, principal, reference, scope).await?;
    store::github::find(
        core.db.read(),
        principal.organization_id,
        repository.id,
        number,
    )
    .await?
    .ok_or(Error::NotFound("deployment"))
}

/// One page of the repository's deployments, newest first, and how many match in all.
pub async fn list(
    core: &Core,
    principal: &Principal,
    reference: &RepositoryRef,
    filter: &ListFilter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<GithubRecord>, u64), Error> {
    let repository = repository(core, principal, reference, Scope::Read).await?;
    Ok(store::github::list(
        core.db.read(),
        principal.organization_id,
        repository.id,
        filter,
        offset,
        limit,
    )
    .await?)
}

/// GitHub's delete rule (scope `ingest`): the only deployment of a repository may always be
/// deleted; otherwise only an inactive one (its latest status is `inactive`).
pub async fn delete(
    core: &Core,
    principal: &Principal,
    reference: &RepositoryRef,
    number: i64,
) -> Result<(), Error> {
    let org = principal.organization_id;
    let repository = repository(core, principal, reference, Scope::Ingest).await?;
    authorize_write(core.db.read(), principal, WriteFor::Key(&repository.key)).await?;
    let txn = core.db.begin_write().await?;
    let record = store::github::find(&txn, org, repository.id, number)
        .await?
        .ok_or(Error::NotFound("deployment"))?;
    let only_one = store::github::count_in_repository(&txn, org, repository.id).await? == 1;
    let inactive = match store::statuses::latest_state(&txn, record.deployment.id).await? {
        Some(state) => state == "inactive",
        None => record.deployment.status == Status::Inactive.as_str(),
    };
    if !only_one && !inactive {
        return Err(Error::unprocessable(
            "active-deployment",
            "We cannot delete an active deployment unless it is the only deployment in this \
             repository. Mark it inactive first (a status with state `inactive`).",
        ));
    }
    let changes = store::github::delete(&txn, record.deployment.id).await?;
    super::outbound::deployment_deleted(&txn, &record.deployment).await?;
    super::outbound::outcomes_changed(&txn, org, &changes).await?;
    txn.commit().await?;
    Ok(())
}

/// One page of a deployment's statuses, newest first, and how many it has (scope `read`).
pub async fn statuses(
    core: &Core,
    principal: &Principal,
    record: &GithubRecord,
    offset: u64,
    limit: u64,
) -> Result<(Vec<deployment_statuses::Model>, u64), Error> {
    principal.require(Scope::Read)?;
    let id = record.deployment.id;
    let conn = core.db.read();
    let total = store::statuses::count(conn, id).await?;
    let rows = store::statuses::list(conn, id, None, offset, limit).await?;
    Ok((rows, total))
}
