//! Integrations (scope `admin`): create, list, read, change, delete, rotate the secret. The
//! secret is random (256 bits), shown once — when the integration is created or its secret
//! rotated — and kept sealed under `DORA_SECRET_KEY` (`core::secrets`), because verifying a
//! delivery's HMAC needs it in clear. After a rotation the previous secret keeps verifying
//! deliveries for [`SECRET_OVERLAP`], so deliveries in flight are not lost.

use chrono::{DateTime, Utc};
use entity::integrations;
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use super::{Core, Error, now, secrets};
use crate::{
    auth::{Principal, Scope},
    domain::{IntegrationKind, IntegrationOptions, NewIntegration, RawOptions, Secret},
    store::{self, is_unique_violation},
};

/// How long the previous secret keeps working after a rotation.
pub const SECRET_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// How long delivery ids are remembered (the source's own object ids deduplicate the records
/// beyond that).
pub const DELIVERY_IDS_KEPT: chrono::Duration = chrono::Duration::days(30);

/// An integration with its kind and options read back.
#[derive(Debug, Clone)]
pub struct IntegrationRecord {
    pub integration: integrations::Model,
    pub kind: IntegrationKind,
    pub options: IntegrationOptions,
}

impl IntegrationRecord {
    /// The previous secret's end, while it is still accepted.
    pub fn previous_secret_expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.integration
            .previous_secret_expires_at
            .filter(|at| *at > now)
    }
}

/// What a PATCH changes (the name is validated; the options are validated here, for the
/// integration's kind).
#[derive(Debug, Clone, Default)]
pub struct IntegrationPatch<'a> {
    pub name: Option<String>,
    /// Replaces all the options (defaults for those not given).
    pub options: Option<RawOptions<'a>>,
}

/// The associated data a secret of integration `id` is sealed with.
fn context(id: Uuid) -> String {
    format!("integration:{id}")
}

pub(crate) fn record_of(integration: integrations::Model) -> Result<IntegrationRecord, Error> {
    let kind = integration
        .kind
        .parse::<IntegrationKind>()
        .map_err(|e| Error::internal(format!("stored integration kind: {e}")))?;
    let options: IntegrationOptions = serde_json::from_str(&integration.options)
        .map_err(|e| Error::internal(format!("stored integration options: {e}")))?;
    Ok(IntegrationRecord {
        integration,
        kind,
        options,
    })
}

fn options_json(options: &IntegrationOptions) -> Result<String, Error> {
    serde_json::to_string(options).map_err(Error::internal)
}

fn name_taken() -> Error {
    Error::conflict(
        "integration-name-taken",
        "an integration with this name already exists in this organization",
    )
}

fn seal(core: &Core, secret: &Secret, id: Uuid) -> Result<String, Error> {
    secrets::seal(&core.secret_key, secret, &context(id)).map_err(Error::internal)
}

/// The secrets a delivery to `integration` may be signed with: the current one, and the
/// previous one during its overlap.
pub(crate) fn delivery_secrets(
    core: &Core,
    integration: &integrations::Model,
    now: DateTime<Utc>,
) -> Result<Vec<Secret>, Error> {
    let open = |sealed: &str| {
        secrets::open(&core.secret_key, sealed, &context(integration.id)).map_err(|e| {
            Error::internal(format!(
                "cannot open the secret of integration {}: {e}",
                integration.id
            ))
        })
    };
    // No secret (an imported integration, `core::transfer`): nothing verifies until rotated.
    let mut found = Vec::new();
    if !integration.secret.is_empty() {
        found.push(open(&integration.secret)?);
    }
    if let (Some(previous), Some(until)) = (
        &integration.previous_secret,
        integration.previous_secret_expires_at,
    ) && until > now
    {
        found.push(open(previous)?);
    }
    Ok(found)
}

/// Creates an integration; answers it with its secret (shown this once).
pub async fn create(
    core: &Core,
    principal: &Principal,
    new: NewIntegration,
) -> Result<(IntegrationRecord, Secret), Error> {
    principal.require(Scope::Admin)?;
    let org = principal.organization_id;
    let now = now();
    let id = Uuid::now_v7();
    let secret = secrets::new_token();
    let model = integrations::Model {
        id,
        organization_id: org,
        kind: new.kind.as_str().to_owned(),
        name: new.name.clone(),
        options: options_json(&new.options)?,
        secret: seal(core, &secret, id)?,
        previous_secret: None,
        previous_secret_expires_at: None,
        secret_rotated_at: None,
        deliveries: 0,
        recorded: 0,
        duplicates: 0,
        ignored: 0,
        unhandled: 0,
        last_delivery_at: None,
        last_event: None,
        created_at: now,
        updated_at: now,
    };
    let txn = core.db.begin_write().await?;
    if store::integrations::find_by_name(&txn, org, &new.name)
        .await?
        .is_some()
    {
        return Err(name_taken());
    }
    let integration = store::integrations::insert(&txn, model)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                name_taken()
            } else {
                e.into()
            }
        })?;
    txn.commit().await?;
    tracing::info!(integration_id = %id, kind = %new.kind, "integration created");
    Ok((record_of(integration)?, secret))
}

/// The organization's integrations, oldest first.
pub async fn list(core: &Core, principal: &Principal) -> Result<Vec<IntegrationRecord>, Error> {
    principal.require(Scope::Admin)?;
    store::integrations::list(core.db.read(), principal.organization_id)
        .await?
        .into_iter()
        .map(record_of)
        .collect()
}

pub async fn get(core: &Core, principal: &Principal, id: Uuid) -> Result<IntegrationRecord, Error> {
    principal.require(Scope::Admin)?;
    let integration = store::integrations::find(core.db.read(), principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("integration"))?;
    record_of(integration)
}

/// Renames it or replaces its options (validated for its kind).
pub async fn update(
    core: &Core,
    principal: &Principal,
    id: Uuid,
    patch: IntegrationPatch<'_>,
) -> Result<IntegrationRecord, Error> {
    principal.require(Scope::Admin)?;
    let org = principal.organization_id;
    let now = now();
    let txn = core.db.begin_write().await?;
    let current = store::integrations::find_for_update(&txn, org, id)
        .await?
        .ok_or(Error::NotFound("integration"))?;
    let kind = record_of(current.clone())?.kind;
    let options = patch
        .options
        .map(|raw| IntegrationOptions::parse(kind, &raw))
        .transpose()?;
    if let Some(name) = &patch.name
        && store::integrations::find_by_name(&txn, org, name)
            .await?
            .is_some_and(|other| other.id != id)
    {
        return Err(name_taken());
    }
    let mut active: integrations::ActiveModel = current.into();
    if let Some(name) = patch.name {
        active.name = Set(name);
    }
    if let Some(options) = &options {
        active.options = Set(options_json(options)?);
    }
    active.updated_at = Set(now);
    let updated = store::integrations::update(&txn, active)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                name_taken()
            } else {
                e.into()
            }
        })?;
    txn.commit().await?;
    record_of(updated)
}

/// Deletes it; its webhook URL answers 401 from now on, like an unknown one. What its
/// deliveries recorded stays.
pub async fn delete(
    core: &Core,
    principal: &Principal,
    id: Uuid,
) -> Result<IntegrationRecord, Error> {
    principal.require(Scope::Admin)?;
    let txn = core.db.begin_write().await?;
    let current = store::integrations::find_for_update(&txn, principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("integration"))?;
    store::integrations::delete(&txn, id).await?;
    txn.commit().await?;
    tracing::info!(integration_id = %id, "integration deleted");
    record_of(current)
}

/// A new secret (shown this once); the current one becomes the previous one and keeps
/// verifying deliveries for [`SECRET_OVERLAP`]. A secret older than that is dropped.
pub async fn rotate_secret(
    core: &Core,
    principal: &Principal,
    id: Uuid,
) -> Result<(IntegrationRecord, Secret), Error> {
    principal.require(Scope::Admin)?;
    let now = now();
    let secret = secrets::new_token();
    let sealed = seal(core, &secret, id)?;
    let txn = core.db.begin_write().await?;
    let current = store::integrations::find_for_update(&txn, principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("integration"))?;
    // An imported integration has no secret to keep accepting.
    let previous = Some(current.secret.clone()).filter(|s| !s.is_empty());
    let mut active: integrations::ActiveModel = current.into();
    active.secret = Set(sealed);
    active.previous_secret = Set(previous);
    active.previous_secret_expires_at = Set(Some(now + SECRET_OVERLAP));
    active.secret_rotated_at = Set(Some(now));
    active.updated_at = Set(now);
    let updated = store::integrations::update(&txn, active).await?;
    txn.commit().await?;
    tracing::info!(integration_id = %id, "integration secret rotated");
    Ok((record_of(updated)?, secret))
}

/// Forgets delivery ids older than [`DELIVERY_IDS_KEPT`] (the hourly housekeeping).
pub async fn purge_delivery_ids(core: &Core) -> Result<u64, Error> {
    let txn = core.db.begin_write().await?;
    let purged = store::integrations::purge_deliveries(&txn, now() - DELIVERY_IDS_KEPT).await?;
    txn.commit().await?;
    Ok(purged)
}
