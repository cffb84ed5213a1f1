//! Organizations are tenants: created on first use by a token that names them, never renamed
//! or deleted while the service runs, so a cached id stays right on every instance.

use std::{collections::HashMap, sync::Arc};

use tokio::sync::RwLock;
use uuid::Uuid;

use super::{Core, Error, now};
use crate::{
    auth::{Principal, Verified},
    store::{self, Db},
};

/// Organization slug → id, per instance.
#[derive(Clone, Default)]
pub struct Tenants {
    ids: Arc<RwLock<HashMap<String, Uuid>>>,
}

impl Tenants {
    /// The id of the organization `slug`, creating it on first use.
    pub async fn organization_id(&self, core: &Core, slug: &str) -> Result<Uuid, Error> {
        if let Some(id) = self.ids.read().await.get(slug) {
            return Ok(*id);
        }
        let id = match store::organizations::find_organization(core.db.read(), slug).await? {
            Some(id) => id,
            None => {
                let txn = core.db.begin_write().await?;
                let id = store::organizations::ensure_organization(&txn, slug, now()).await?;
                txn.commit().await?;
                id
            }
        };
        self.ids.write().await.insert(slug.to_owned(), id);
        Ok(id)
    }
}

/// Creates the organization `slug` unless it exists (`dora-tracker token issue`).
pub async fn ensure(db: &Db, slug: &str) -> Result<Uuid, Error> {
    let txn = db.begin_write().await?;
    let id = store::organizations::ensure_organization(&txn, slug, now()).await?;
    txn.commit().await?;
    Ok(id)
}

/// The principal a verified token acts as, once its organization's API rate limit
/// (`core::limits`) admits one more request.
pub async fn principal(core: &Core, token: Verified) -> Result<Principal, Error> {
    let organization_id = core
        .tenants
        .organization_id(core, &token.organization)
        .await?;
    core.api_limits.admit(organization_id)?;
    Ok(Principal {
        organization_id,
        organization: token.organization,
        subject: token.subject,
        scopes: token.scopes,
    })
}
