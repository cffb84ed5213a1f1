//! Shared application state, handed to every request.

use std::{collections::HashMap, sync::Arc};

use chrono::{Duration, Utc};
use tokio::sync::RwLock;
use uuid::Uuid;

use crate::{
    auth::JwtKeys,
    compat::hooks::HookRuntime,
    config::{ConfigError, HookArgs},
    error::ApiError,
    store,
};

#[derive(Clone)]
pub struct AppState {
    pub db: store::Db,
    pub jwt: JwtKeys,
    pub idempotency_ttl: Duration,
    /// Deploy-hook rate limiters and dedupe window.
    pub hooks: Arc<HookRuntime>,
    /// Organization slug → id. Organizations are never renamed or deleted while the
    /// service runs, so a cached id stays right on every instance.
    organizations: Arc<RwLock<HashMap<String, Uuid>>>,
    /// Repositories and members already stored (see `store::known`).
    pub known: store::known::Known,
}

impl AppState {
    pub fn new(db: store::Db, jwt: JwtKeys, idempotency_ttl: Duration) -> Self {
        Self {
            db,
            jwt,
            idempotency_ttl,
            hooks: Arc::default(),
            organizations: Arc::default(),
            known: store::known::Known::default(),
        }
    }

    /// Applies the deploy-hook settings (the defaults apply until then).
    pub fn with_hook_settings(self, args: &HookArgs) -> Result<Self, ConfigError> {
        Ok(self.with_hook_runtime(HookRuntime::new(args)?))
    }

    pub fn with_hook_runtime(mut self, hooks: HookRuntime) -> Self {
        self.hooks = Arc::new(hooks);
        self
    }

    /// The id of the organization named by a token, creating it on first use.
    pub async fn organization_id(&self, slug: &str) -> Result<Uuid, ApiError> {
        if let Some(id) = self.organizations.read().await.get(slug) {
            return Ok(*id);
        }
        let id = match store::organizations::find_organization(self.db.read(), slug).await? {
            Some(id) => id,
            None => {
                let txn = self.db.begin_write().await?;
                let id = store::organizations::ensure_organization(&txn, slug, Utc::now()).await?;
                txn.commit().await?;
                id
            }
        };
        self.organizations.write().await.insert(slug.to_owned(), id);
        Ok(id)
    }
}
