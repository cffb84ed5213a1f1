//! API tokens as records: minted (by an admin through the API, or by the operator with
//! `dora-tracker token issue`), listed, revoked; and the principal a verified token of ours
//! acts as.
//!
//! A token's `jti` names its record. Revocation is a database fact, cached per instance for
//! [`CredentialSettings::token_cache`]: the instance that revokes forgets its cached entry at
//! once, the others notice within that time. Tokens minted before records existed (no `jti`)
//! are accepted until they expire, and cannot be revoked one by one.
//!
//! `last_used_at` is written at most once per [`LAST_USED_INTERVAL`] per token and instance,
//! and not at all when another instance wrote it within that time.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use entity::api_tokens;
use tokio::sync::RwLock;
use uuid::Uuid;

use super::{Core, Error, now, trust};
use crate::{
    auth::{JwtKeys, Principal, Scope, Verified},
    domain::{NewToken, parse_scopes, scope_string},
    store::{self, Db},
};

/// How often a token's `last_used_at` is written at most.
pub const LAST_USED_INTERVAL: Duration = Duration::from_secs(60);
/// Cached entries kept before expired ones are swept.
const CACHE_ENTRIES_BEFORE_SWEEP: usize = 10_000;

/// Settings of credentials (checked by `settings`).
#[derive(Debug, Clone)]
pub struct CredentialSettings {
    /// How long a token's record (its revocation) and an issuer's trust policies are cached
    /// per instance; zero reads the database on every request.
    pub token_cache: Duration,
    /// Also accept `http://127.0.0.1:<port>` issuers (tests only).
    pub oidc_allow_http_loopback: bool,
}

impl Default for CredentialSettings {
    fn default() -> Self {
        Self {
            token_cache: Duration::from_secs(10),
            oidc_allow_http_loopback: false,
        }
    }
}

/// Everything credentials need: our signing keys, the per-instance caches, and the
/// identity providers' keys.
pub struct Credentials {
    pub keys: JwtKeys,
    pub settings: CredentialSettings,
    records: RwLock<HashMap<Uuid, Cached>>,
    last_used: Mutex<HashMap<Uuid, Instant>>,
    pub(crate) issuers: trust::Issuers,
    pub(crate) policies: super::trust_policies::PolicyCache,
}

impl Credentials {
    pub fn new(keys: JwtKeys, settings: CredentialSettings) -> Result<Self, String> {
        let issuers = trust::Issuers::new(settings.oidc_allow_http_loopback)?;
        Ok(Self {
            keys,
            policies: super::trust_policies::PolicyCache::new(settings.token_cache),
            settings,
            records: RwLock::default(),
            last_used: Mutex::default(),
            issuers,
        })
    }
}

/// What verification needs of a record.
#[derive(Debug, Clone)]
struct Cached {
    at: Instant,
    /// `None`: there is no such record.
    record: Option<(api_tokens::Model, String)>,
}

/// A token record as it is shown (never the token itself).
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: Uuid,
    pub organization: String,
    pub name: String,
    pub subject: String,
    pub scopes: Vec<Scope>,
    pub repositories: Option<Vec<String>>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    fn of(model: api_tokens::Model, organization: &str) -> Result<Self, Error> {
        let scopes = parse_scopes(&model.scopes)
            .map_err(|e| Error::internal(format!("stored scopes of token {}: {e}", model.id)))?;
        let repositories = stored_repositories(&model)?;
        Ok(Self {
            id: model.id,
            organization: organization.to_owned(),
            name: model.name,
            subject: model.subject,
            scopes,
            repositories,
            created_by: model.created_by,
            created_at: model.created_at,
            expires_at: model.expires_at,
            revoked_at: model.revoked_at,
            last_used_at: model.last_used_at,
        })
    }
}

fn stored_repositories(model: &api_tokens::Model) -> Result<Option<Vec<String>>, Error> {
    model
        .repositories
        .as_deref()
        .map(serde_json::from_str::<Vec<String>>)
        .transpose()
        .map_err(|e| Error::internal(format!("stored repositories of token {}: {e}", model.id)))
}

/// A token just minted: the only time the JWT is seen.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub record: TokenRecord,
    pub token: String,
}

/// Mints a token of the principal's organization (scope `admin`). A repository-restricted
/// principal mints only tokens restricted to some of its own repositories.
pub async fn create(
    core: &Core,
    principal: &Principal,
    input: NewToken,
) -> Result<IssuedToken, Error> {
    principal.require(Scope::Admin)?;
    if !principal.covers(input.repositories.as_deref()) {
        return Err(principal
            .restricted("mint a token for other repositories, or for all")
            .into());
    }
    mint(
        &core.db,
        &core.credentials.keys,
        principal.organization_id,
        &principal.organization,
        input,
        principal.subject.clone(),
    )
    .await
}

/// Mints a token for the operator (`dora-tracker token issue`), creating the organization
/// if it does not exist.
pub async fn issue_on_host(
    db: &Db,
    keys: &JwtKeys,
    organization: &str,
    input: NewToken,
) -> Result<IssuedToken, Error> {
    let organization_id = super::tenants::ensure(db, organization).await?;
    mint(db, keys, organization_id, organization, input, None).await
}

async fn mint(
    db: &Db,
    keys: &JwtKeys,
    organization_id: Uuid,
    organization: &str,
    input: NewToken,
    created_by: Option<String>,
) -> Result<IssuedToken, Error> {
    let now = now();
    // JWT times are whole seconds; the record keeps the same instant.
    let issued_at = now.timestamp().max(0) as u64;
    let ttl =
        chrono::Duration::from_std(input.ttl).map_err(|_| Error::field("ttl", "is too long"))?;
    let expires = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now) + ttl;
    let id = Uuid::new_v4();
    let repositories = input
        .repositories
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(Error::internal)?;
    let token = keys
        .issue_record(
            organization,
            &input.scopes,
            &input.subject,
            id,
            issued_at,
            expires.timestamp().max(0) as u64,
        )
        .map_err(Error::internal)?;
    let txn = db.begin_write().await?;
    let model = store::tokens::insert_token(
        &txn,
        api_tokens::Model {
            id,
            organization_id,
            name: input.name,
            subject: input.subject,
            scopes: scope_string(&input.scopes),
            repositories,
            created_by,
            created_at: now,
            expires_at: expires,
            revoked_at: None,
            last_used_at: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(IssuedToken {
        record: TokenRecord::of(model, organization)?,
        token,
    })
}

/// The organization's tokens, oldest first, revoked and expired ones included (scope
/// `admin`).
pub async fn list(core: &Core, principal: &Principal) -> Result<Vec<TokenRecord>, Error> {
    principal.require(Scope::Admin)?;
    store::tokens::list_tokens(core.db.read(), principal.organization_id)
        .await?
        .into_iter()
        .map(|m| TokenRecord::of(m, &principal.organization))
        .collect()
}

/// One token record (scope `admin`).
pub async fn get(core: &Core, principal: &Principal, id: Uuid) -> Result<TokenRecord, Error> {
    principal.require(Scope::Admin)?;
    let model = store::tokens::find_token(core.db.read(), principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("token"))?;
    TokenRecord::of(model, &principal.organization)
}

/// Revokes a token (scope `admin`): from now on it answers 401, on this instance at once.
/// Revoking a revoked token changes nothing. A repository-restricted principal revokes only
/// tokens restricted to some of its own repositories.
pub async fn revoke(core: &Core, principal: &Principal, id: Uuid) -> Result<TokenRecord, Error> {
    principal.require(Scope::Admin)?;
    let txn = core.db.begin_write().await?;
    let current = store::tokens::find_token(&txn, principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("token"))?;
    if !principal.covers(stored_repositories(&current)?.as_deref()) {
        return Err(principal
            .restricted("revoke a token of other repositories, or of all")
            .into());
    }
    let revoked = store::tokens::revoke_token(&txn, current, now()).await?;
    txn.commit().await?;
    forget(core, id).await;
    TokenRecord::of(revoked, &principal.organization)
}

/// Tokens of every organization, or of one, with the organization (`dora-tracker token
/// list`).
pub async fn list_on_host(db: &Db, organization: &str) -> Result<Vec<TokenRecord>, Error> {
    let Some(organization_id) =
        store::organizations::find_organization(db.read(), organization).await?
    else {
        return Err(Error::NotFound("organization"));
    };
    store::tokens::list_tokens(db.read(), organization_id)
        .await?
        .into_iter()
        .map(|m| TokenRecord::of(m, organization))
        .collect()
}

/// Revokes a token by id, whatever its organization (`dora-tracker token revoke`). Running
/// services notice within their token cache time.
pub async fn revoke_on_host(db: &Db, id: Uuid) -> Result<TokenRecord, Error> {
    let txn = db.begin_write().await?;
    let (current, organization) = store::tokens::find_token_anywhere(&txn, id)
        .await?
        .ok_or(Error::NotFound("token"))?;
    let revoked = store::tokens::revoke_token(&txn, current, now()).await?;
    txn.commit().await?;
    TokenRecord::of(revoked, &organization)
}

async fn forget(core: &Core, id: Uuid) {
    core.credentials.records.write().await.remove(&id);
}

/// The record of token `id`, from the cache while it is fresh.
async fn record(core: &Core, id: Uuid) -> Result<Option<(api_tokens::Model, String)>, Error> {
    let credentials = &core.credentials;
    let ttl = credentials.settings.token_cache;
    if !ttl.is_zero()
        && let Some(cached) = credentials.records.read().await.get(&id)
        && cached.at.elapsed() < ttl
    {
        return Ok(cached.record.clone());
    }
    let record = store::tokens::find_token_anywhere(core.db.read(), id).await?;
    if !ttl.is_zero() {
        let mut records = credentials.records.write().await;
        if records.len() >= CACHE_ENTRIES_BEFORE_SWEEP {
            records.retain(|_, c| c.at.elapsed() < ttl);
        }
        records.insert(
            id,
            Cached {
                at: Instant::now(),
                record: record.clone(),
            },
        );
    }
    Ok(record)
}

/// The principal a verified token of ours acts as: its record's organization, scopes and
/// repositories, unless the record is revoked, expired or missing (401).
pub async fn principal(core: &Core, token: Verified) -> Result<Principal, Error> {
    let Some(id) = token.token_id else {
        // A token from before records: what its claims say.
        return super::tenants::principal(core, token).await;
    };
    let refused = |why: &str| Error::Unauthorized(format!("invalid token: {why}"));
    let (model, organization) = record(core, id)
        .await?
        .ok_or_else(|| refused("no such token (it may have been deleted)"))?;
    if organization != token.organization {
        return Err(refused("the token does not match its record"));
    }
    if model.revoked_at.is_some() {
        return Err(refused("revoked"));
    }
    if model.expires_at <= Utc::now() {
        return Err(refused("expired"));
    }
    let scopes: HashSet<Scope> = parse_scopes(&model.scopes)
        .map_err(|e| Error::internal(format!("stored scopes of token {id}: {e}")))?
        .into_iter()
        .collect();
    let repositories = stored_repositories(&model)?;
    touch(core, id).await;
    Ok(Principal {
        organization_id: model.organization_id,
        organization,
        subject: token.subject,
        scopes,
        repositories,
    })
}

/// Writes `last_used_at`, throttled (see the module docs). A failure is logged: it must not
/// fail the request the token authenticates.
async fn touch(core: &Core, id: Uuid) {
    let due = match core.credentials.last_used.lock() {
        Ok(mut last_used) => {
            let due = last_used
                .get(&id)
                .is_none_or(|at| at.elapsed() >= LAST_USED_INTERVAL);
            if due {
                if last_used.len() >= CACHE_ENTRIES_BEFORE_SWEEP {
                    last_used.retain(|_, at| at.elapsed() < LAST_USED_INTERVAL);
                }
                last_used.insert(id, Instant::now());
            }
            due
        }
        Err(_) => false,
    };
    if !due {
        return;
    }
    let interval = chrono::Duration::from_std(LAST_USED_INTERVAL).unwrap_or_default();
    let result = async {
        let txn = core.db.begin_write().await?;
        store::tokens::touch_token(&txn, id, now(), interval).await?;
        txn.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(token_id = %id, error = %e, "could not record a token's last use");
    }
}
