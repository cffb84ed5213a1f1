//! The use cases. One use case is one function over the shared [`Core`], the caller's
//! [`Principal`](crate::auth::Principal) (or, for deploy hooks, the secret that stands for one)
//! and a validated domain value; it checks the principal's scope, owns its one transaction and
//! answers a [`core::Error`](Error). Nothing here knows HTTP: handlers and vendor adapters in
//! `http` translate a request into one call and its result back.

mod access;
pub mod admin;
pub mod bulk_import;
mod create_batch;
pub mod deploy_hooks;
pub mod deployments;
mod error;
pub mod github;
pub mod group_commit;
pub mod hooks;
pub mod idempotency;
pub mod incidents;
pub mod integrations;
pub mod limits;
pub mod metrics;
pub mod outbound;
pub mod outbound_delivery;
pub mod overview;
pub mod rollups;
pub mod secrets;
pub mod snapshot;
pub mod statuses;
pub mod tenants;
pub mod tokens;
pub mod transfer;
pub mod trust;
pub mod trust_policies;
pub mod webhooks;

use std::sync::Arc;

pub use error::{Denied, Error, RatePolicy};

use crate::store::{Db, known::Known};

/// What every use case shares: the database and the per-instance memories. Cheap to clone.
#[derive(Clone)]
pub struct Core {
    pub db: Db,
    /// Repositories and members already stored (see `store::known`).
    pub known: Known,
    /// Organization slug → id.
    pub tenants: tenants::Tenants,
    /// How long `Idempotency-Key`s are remembered.
    pub idempotency_ttl: chrono::Duration,
    /// Deploy-hook rate limiters and dedupe window.
    pub hooks: Arc<hooks::HookLimits>,
    /// Seals the secrets kept in the database (`DORA_SECRET_KEY`).
    pub secret_key: secrets::SecretKey,
    /// Our signing keys, token records and trust policies as cached, identity providers' keys.
    pub credentials: Arc<tokens::Credentials>,
    /// Per-organization limits of the authenticated API.
    pub api_limits: Arc<limits::ApiLimits>,
    /// Outbound webhooks: timeouts, retries, which targets are allowed.
    pub outbound: Arc<outbound_delivery::OutboundSettings>,
    /// The writers that commit concurrent creates together (`DORA_GROUP_COMMIT`).
    pub group_commit: group_commit::GroupCommit,
}

impl Core {
    pub fn new(
        db: Db,
        idempotency_ttl: chrono::Duration,
        hook_limits: &hooks::HookLimitSettings,
        secret_key: secrets::SecretKey,
        credentials: tokens::Credentials,
        api_limits: &limits::ApiLimitSettings,
    ) -> Self {
        Self {
            db: db.clone(),
            known: Known::default(),
            tenants: tenants::Tenants::default(),
            idempotency_ttl,
            hooks: Arc::new(hooks::HookLimits::new(hook_limits)),
            secret_key,
            credentials: Arc::new(credentials),
            api_limits: Arc::new(limits::ApiLimits::new(api_limits)),
            outbound: Arc::new(outbound_delivery::OutboundSettings::default()),
            group_commit: group_commit::GroupCommit::new(
                db,
                group_commit::GroupCommitMode::Auto,
                1,
            ),
        }
    }

    /// With this group-commit mode; `max_connections` is the database pool's size.
    pub fn with_group_commit(
        mut self,
        mode: group_commit::GroupCommitMode,
        max_connections: u32,
    ) -> Self {
        self.group_commit = group_commit::GroupCommit::new(self.db.clone(), mode, max_connections);
        self
    }

    /// With these outbound webhook settings.
    pub fn with_outbound(mut self, settings: outbound_delivery::OutboundSettings) -> Self {
        self.outbound = Arc::new(settings);
        self
    }
}

/// The repository a listing filter names (its URL in any spelling, or its id): `None` for
/// no filter, `Some(None)` when the organization has no such repository (the listing is
/// empty), else `Some(Some(id))`.
pub(crate) async fn repository_filter(
    core: &Core,
    organization_id: uuid::Uuid,
    reference: Option<&str>,
) -> Result<Option<Option<uuid::Uuid>>, Error> {
    let Some(reference) = reference else {
        return Ok(None);
    };
    let found =
        crate::store::organizations::resolve_repository(core.db.read(), organization_id, reference)
            .await?;
    Ok(Some(found.map(|r| r.id)))
}

/// Now, to the microsecond the databases keep.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    crate::domain::truncate_micros(chrono::Utc::now())
}
