//! Deployments: record one (shared by the canonical API and every vendor adapter), read and
//! list them, and move one forward (PATCH).

use entity::github_deployments;
use futures_util::future::BoxFuture;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::{
    Core, Error,
    access::{WriteFor, authorize_write},
    create_batch::BatchCreate,
    group_commit::{Member, Ran},
    idempotency::{self, Created, Key, Replayable},
    now,
};
use crate::{
    auth::{Principal, Scope},
    domain::{ChangeError, DeploymentChange, NewDeployment, RepositoryRef, Status},
    store::{
        self,
        deployments::{DeploymentRecord, ListFilter},
        idempotency::StoredResponse,
    },
};

/// The canonical URL of a deployment.
pub fn location(id: Uuid) -> String {
    format!("/api/v1/deployments/{id}")
}

/// Records `new` for the principal's organization (scope `ingest`). With an idempotency
/// key, a repeat of the same request answers the stored response and records nothing; a
/// repeat sent while the first is still running waits for it.
/// `render` makes the response from the stored record (it is stored with the key).
pub async fn record<T, R>(
    core: &Core,
    principal: &Principal,
    key: Option<&Key>,
    new: NewDeployment,
    render: R,
) -> Result<Created<T>, Error>
where
    T: Replayable + Send + Sync + 'static,
    R: Fn(&DeploymentRecord) -> T + Send + Sync + 'static,
{
    record_with(core, principal, key, new, None, render).await
}

/// [`record`] for the GitHub-compatible API: the GitHub-only fields (`details`, whose
/// `deployment_id` is filled in here) are stored in the same transaction.
///
/// Concurrent creates may share one transaction (`core::group_commit`): each runs in its
/// own savepoint and is answered only once the shared transaction has committed.
pub async fn record_with<T, R>(
    core: &Core,
    principal: &Principal,
    key: Option<&Key>,
    new: NewDeployment,
    details: Option<github_deployments::Model>,
    render: R,
) -> Result<Created<T>, Error>
where
    T: Replayable + Send + Sync + 'static,
    R: Fn(&DeploymentRecord) -> T + Send + Sync + 'static,
{
    principal.require(Scope::Ingest)?;
    authorize_write(
        core.db.read(),
        principal,
        WriteFor::Key(&new.repository.key),
    )
    .await?;
    let org = principal.organization_id;
    // Before the transaction (see `store::deployments::reserve_number`); with group commit on
    // PostgreSQL, the writer reserves the numbers of a batch at once.
    let number = if core.group_commit.reserves_numbers() {
        None
    } else {
        store::deployments::reserve_number(&core.db, org).await?
    };
    let (answer, answered) = tokio::sync::oneshot::channel();
    let create = Create {
        core: core.clone(),
        org,
        key: key.cloned(),
        new,
        details,
        number,
        render,
        outcome: None,
        answer,
    };
    core.group_commit.run(Box::new(create)).await;
    answered
        .await
        .map_err(|_| Error::internal("the create's writer ended without an answer"))?
}

/// One create as `core::group_commit` runs it.
struct Create<T, R> {
    core: Core,
    org: Uuid,
    key: Option<Key>,
    new: NewDeployment,
    details: Option<github_deployments::Model>,
    number: Option<i64>,
    render: R,
    /// The answer of the last attempt, and the record to remember once committed.
    outcome: Option<(Created<T>, Option<DeploymentRecord>)>,
    answer: tokio::sync::oneshot::Sender<Result<Created<T>, Error>>,
}

impl<T, R> Create<T, R>
where
    T: Replayable + Send + Sync + 'static,
    R: Fn(&DeploymentRecord) -> T + Send + Sync + 'static,
{
    /// The work of one transaction: the key's claim, the work and the stored answer commit
    /// together, so a failed or interrupted request leaves nothing behind (see
    /// `core::idempotency`).
    async fn work(&mut self, txn: &DatabaseTransaction) -> Result<Ran, Error> {
        self.outcome = None;
        let (core, org, key) = (&self.core, self.org, self.key.as_ref());
        if let Some(replayed) = idempotency::begin(core, txn, org, key).await? {
            self.outcome = Some((replayed, None));
            return Ok(Ran::Nothing);
        }
        let (record, changes) =
            store::deployments::insert(txn, org, &self.new, now(), &core.known, self.number)
                .await?;
        super::outbound::deployment_created(txn, &record.deployment).await?;
        super::outbound::outcomes_changed(txn, org, &changes).await?;
        if let Some(details) = &self.details {
            let mut details = details.clone();
            details.deployment_id = record.deployment.id;
            store::github::insert_details(txn, details).await?;
        }
        let created = Created {
            body: (self.render)(&record),
            location: location(record.deployment.id),
            replayed: false,
        };
        idempotency::complete(txn, org, key, &created).await?;
        self.outcome = Some((created, Some(record)));
        Ok(Ran::Wrote)
    }
}

impl<T, R> Member for Create<T, R>
where
    T: Replayable + Send + Sync + 'static,
    R: Fn(&DeploymentRecord) -> T + Send + Sync + 'static,
{
    fn stream(&self) -> (&str, &str) {
        (&self.new.repository.key, &self.new.environment)
    }

    fn exclusive(&self) -> Option<(Uuid, &str)> {
        self.key.as_ref().map(|key| (self.org, key.as_str()))
    }

    fn run<'a>(&'a mut self, txn: &'a DatabaseTransaction) -> BoxFuture<'a, Result<Ran, Error>> {
        Box::pin(self.work(txn))
    }

    fn unnumbered(&self) -> Option<Uuid> {
        self.number.is_none().then_some(self.org)
    }

    fn numbered(&mut self, number: i64) {
        self.number = Some(number);
    }

    fn as_create(&mut self) -> Option<&mut dyn BatchCreate> {
        Some(self)
    }

    fn answer(self: Box<Self>, outcome: Result<(), Error>) {
        let this = *self;
        let (core, done) = (&this.core, this.outcome);
        let result = outcome.and_then(|()| {
            let (created, record) =
                done.ok_or_else(|| Error::internal("a create answered before it ran"))?;
            // Committed: its repository and member exist for every later request.
            if let Some(record) = record {
                record.remember_in(&core.known);
            }
            Ok(created)
        });
        // The caller may have gone away; its work stays committed.
        let _ = this.answer.send(result);
    }
}

impl<T, R> BatchCreate for Create<T, R>
where
    T: Replayable + Send + Sync + 'static,
    R: Fn(&DeploymentRecord) -> T + Send + Sync + 'static,
{
    fn org(&self) -> Uuid {
        self.org
    }

    fn key(&self) -> Option<&Key> {
        self.key.as_ref()
    }

    fn new_deployment(&self) -> &NewDeployment {
        &self.new
    }

    fn reserved(&self) -> Option<i64> {
        self.number
    }

    fn fits(&self) -> bool {
        self.details.is_none() && !self.new.commits.is_empty()
    }

    fn core(&self) -> &Core {
        &self.core
    }

    fn reset(&mut self) {
        self.outcome = None;
    }

    fn claim<'a>(&'a mut self, txn: &'a DatabaseTransaction) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move {
            match idempotency::begin(&self.core, txn, self.org, self.key.as_ref()).await? {
                Some(replayed) => {
                    self.outcome = Some((replayed, None));
                    Ok(true)
                }
                None => Ok(false),
            }
        })
    }

    fn written(&mut self, record: DeploymentRecord) -> StoredResponse {
        let created = Created {
            body: (self.render)(&record),
            location: location(record.deployment.id),
            replayed: false,
        };
        let stored = idempotency::stored(&created);
        self.outcome = Some((created, Some(record)));
        stored
    }
}

/// One deployment of the principal's organization (scope `read`).
pub async fn get(core: &Core, principal: &Principal, id: Uuid) -> Result<DeploymentRecord, Error> {
    principal.require(Scope::Read)?;
    store::deployments::get(core.db.read(), principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("deployment"))
}

/// Newest first, at most `limit`, and whether more follow (scope `read`). `repository` (a
/// URL in any spelling, or an id) fills the filter's repository; one the organization has
/// no deployments of lists nothing.
pub async fn list(
    core: &Core,
    principal: &Principal,
    repository: Option<&str>,
    mut filter: ListFilter,
    limit: u64,
) -> Result<(Vec<DeploymentRecord>, bool), Error> {
    principal.require(Scope::Read)?;
    let org = principal.organization_id;
    match super::repository_filter(core, org, repository).await? {
        Some(None) => return Ok((Vec::new(), false)),
        Some(Some(id)) => filter.repository_id = Some(id),
        None => {}
    }
    Ok(store::deployments::list(core.db.read(), org, &filter, limit).await?)
}

/// Moves an unfinished deployment forward (scope `ingest`): status and timing only. The
/// status it sets is appended to the history.
pub async fn patch(
    core: &Core,
    principal: &Principal,
    id: Uuid,
    change: DeploymentChange,
) -> Result<DeploymentRecord, Error> {
    principal.require(Scope::Ingest)?;
    let org = principal.organization_id;
    let now = now();
    let txn = core.db.begin_write().await?;
    let current = store::deployments::find_for_update(&txn, org, id)
        .await?
        .ok_or(Error::NotFound("deployment"))?;
    authorize_write(&txn, principal, WriteFor::Repository(current.repository_id)).await?;
    let status = stored_status(&current.status)?;
    let (status, started_at, finished_at) = change
        .apply(status, current.started_at, current.finished_at, now)
        .map_err(change_error)?;
    let previous = current.status.clone();
    let (updated, changes) =
        store::deployments::update_timing(&txn, current, status, started_at, finished_at, now)
            .await?;
    super::outbound::status_changed(&txn, &previous, &updated).await?;
    super::outbound::outcomes_changed(&txn, org, &changes).await?;
    store::statuses::record_set_status(
        &txn,
        &previous,
        &updated,
        "Status set by PATCH",
        principal.subject.clone(),
        now,
    )
    .await?;
    let record = store::deployments::get(&txn, org, id)
        .await?
        .ok_or(Error::NotFound("deployment"))?;
    txn.commit().await?;
    Ok(record)
}

/// A status read back from the database.
pub(crate) fn stored_status(word: &str) -> Result<Status, Error> {
    word.parse()
        .map_err(|_| Error::internal(format!("stored status `{word}`")))
}

fn change_error(e: ChangeError) -> Error {
    match e {
        ChangeError::Transition { from, to } => Error::conflict(
            "invalid-transition",
            format!("a `{from}` deployment cannot become `{to}`"),
        ),
        ChangeError::Finished(s) => Error::conflict(
            "deployment-finished",
            format!("the deployment is already `{s}`; its timing cannot change"),
        ),
        ChangeError::Invalid(errors) => Error::Validation(errors),
    }
}

/// The latest successful deployment of the stream (repository, environment), of another
/// commit than `except_commit` when given, so a CI job can tell which commits it ships
/// (`dora-tracker record`). Scope `read`, or `ingest` for a repository the principal may
/// write for.
pub async fn last_success(
    core: &Core,
    principal: &Principal,
    repository: &RepositoryRef,
    environment: &str,
    except_commit: Option<&str>,
) -> Result<Option<entity::deployments::Model>, Error> {
    if !principal.has(Scope::Read) {
        principal.require(Scope::Ingest)?;
        authorize_write(core.db.read(), principal, WriteFor::Key(&repository.key)).await?;
    }
    let conn = core.db.read();
    let org = principal.organization_id;
    let Some(found) =
        store::organizations::find_repository_by_key(conn, org, &repository.key).await?
    else {
        return Ok(None);
    };
    Ok(store::deployments::last_success(conn, org, found.id, environment, except_commit).await?)
}
