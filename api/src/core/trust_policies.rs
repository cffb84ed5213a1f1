//! Trust policies (scope `admin`): which CI identity tokens (OIDC) act for the organization,
//! with which scopes, restricted to the repository their claim names. And the principal such
//! a token acts as: every policy of its issuer is looked up (across organizations, cached per
//! instance), the token is verified with the issuer's keys (`trust`), and the policies whose
//! audience and conditions hold grant it their scopes.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use entity::trust_policies;
use tokio::sync::RwLock;
use uuid::Uuid;

use super::{Core, Error, now};
use crate::{
    auth::{
        Principal, Scope,
        oidc::{self, Policy},
    },
    domain::{NewTrustPolicy, parse_scopes, scope_string},
    store::{self, is_unique_violation},
};

/// Issuers whose policies are cached before stale entries are swept.
const CACHE_ENTRIES_BEFORE_SWEEP: usize = 1_000;

/// When an issuer's policies were read, and what they were.
type CachedPolicies = (Instant, Arc<Vec<Policy>>);

/// Policies by issuer, per instance, for the token cache time.
pub(crate) struct PolicyCache {
    ttl: Duration,
    by_issuer: RwLock<HashMap<String, CachedPolicies>>,
}

impl PolicyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            by_issuer: RwLock::default(),
        }
    }
}

/// A trust policy as it is shown.
#[derive(Debug, Clone)]
pub struct PolicyRecord {
    pub id: Uuid,
    pub name: String,
    pub issuer: String,
    pub audience: String,
    pub conditions: BTreeMap<String, String>,
    pub scopes: Vec<Scope>,
    pub repository_claim: String,
    pub repository_host: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl PolicyRecord {
    fn of(model: trust_policies::Model) -> Result<Self, Error> {
        let broken = |what: &str, e: String| {
            Error::internal(format!("stored {what} of trust policy {}: {e}", model.id))
        };
        Ok(Self {
            conditions: serde_json::from_str(&model.conditions)
                .map_err(|e| broken("conditions", e.to_string()))?,
            scopes: parse_scopes(&model.scopes).map_err(|e| broken("scopes", e))?,
            id: model.id,
            name: model.name,
            issuer: model.issuer,
            audience: model.audience,
            repository_claim: model.repository_claim,
            repository_host: model.repository_host,
            created_by: model.created_by,
            created_at: model.created_at,
        })
    }
}

fn name_taken() -> Error {
    Error::conflict(
        "trust-policy-name-taken",
        "a trust policy with this name already exists",
    )
}

/// A repository-restricted principal (a CI job, a restricted token) could grant any
/// repository through a policy: only unrestricted admins manage policies.
fn require_unrestricted(principal: &Principal) -> Result<(), Error> {
    principal.require(Scope::Admin)?;
    if principal.repositories.is_some() {
        return Err(principal.restricted("manage trust policies").into());
    }
    Ok(())
}

/// Creates a policy (scope `admin`, unrestricted).
pub async fn create(
    core: &Core,
    principal: &Principal,
    new: NewTrustPolicy,
) -> Result<PolicyRecord, Error> {
    require_unrestricted(principal)?;
    if new.issuer.trim_end_matches('/') == core.credentials.keys.issuer.trim_end_matches('/') {
        return Err(Error::field(
            "issuer",
            "is dora-tracker's own issuer (DORA_JWT_ISSUER): tokens of that issuer are ours",
        ));
    }
    let org = principal.organization_id;
    let conditions = serde_json::to_string(&new.conditions).map_err(Error::internal)?;
    let txn = core.db.begin_write().await?;
    if store::tokens::find_policy_by_name(&txn, org, &new.name)
        .await?
        .is_some()
    {
        return Err(name_taken());
    }
    let model = store::tokens::insert_policy(
        &txn,
        trust_policies::Model {
            id: Uuid::now_v7(),
            organization_id: org,
            name: new.name,
            issuer: new.issuer,
            audience: new.audience,
            conditions,
            scopes: scope_string(&new.scopes),
            repository_claim: new.repository_claim,
            repository_host: new.repository_host,
            created_by: principal.subject.clone(),
            created_at: now(),
        },
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            name_taken()
        } else {
            e.into()
        }
    })?;
    txn.commit().await?;
    forget(core, &model.issuer).await;
    PolicyRecord::of(model)
}

/// The organization's policies, oldest first (scope `admin`).
pub async fn list(core: &Core, principal: &Principal) -> Result<Vec<PolicyRecord>, Error> {
    principal.require(Scope::Admin)?;
    store::tokens::list_policies(core.db.read(), principal.organization_id)
        .await?
        .into_iter()
        .map(PolicyRecord::of)
        .collect()
}

/// One policy (scope `admin`).
pub async fn get(core: &Core, principal: &Principal, id: Uuid) -> Result<PolicyRecord, Error> {
    principal.require(Scope::Admin)?;
    let model = store::tokens::find_policy(core.db.read(), principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("trust policy"))?;
    PolicyRecord::of(model)
}

/// Deletes a policy (scope `admin`, unrestricted); answers it as it was. Tokens it admitted
/// are refused from now on, on this instance at once and on the others within the token
/// cache time.
pub async fn delete(core: &Core, principal: &Principal, id: Uuid) -> Result<PolicyRecord, Error> {
    require_unrestricted(principal)?;
    let txn = core.db.begin_write().await?;
    let model = store::tokens::find_policy(&txn, principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("trust policy"))?;
    store::tokens::delete_policy(&txn, id).await?;
    txn.commit().await?;
    forget(core, &model.issuer).await;
    PolicyRecord::of(model)
}

async fn forget(core: &Core, issuer: &str) {
    core.credentials
        .policies
        .by_issuer
        .write()
        .await
        .remove(issuer);
}

/// Every organization's policies of `issuer`, from the cache while it is fresh.
async fn policies_of(core: &Core, issuer: &str) -> Result<Arc<Vec<Policy>>, Error> {
    let cache = &core.credentials.policies;
    if !cache.ttl.is_zero()
        && let Some((at, policies)) = cache.by_issuer.read().await.get(issuer)
        && at.elapsed() < cache.ttl
    {
        return Ok(policies.clone());
    }
    let mut policies = Vec::new();
    for (model, organization) in store::tokens::policies_of_issuer(core.db.read(), issuer).await? {
        let organization_id = model.organization_id;
        let record = PolicyRecord::of(model)?;
        policies.push(Policy {
            id: record.id,
            organization_id,
            organization,
            name: record.name,
            audience: record.audience,
            conditions: record.conditions.into_iter().collect(),
            scopes: record.scopes,
            repository_claim: record.repository_claim,
            repository_host: record.repository_host,
        });
    }
    let policies = Arc::new(policies);
    if !cache.ttl.is_zero() {
        let mut by_issuer = cache.by_issuer.write().await;
        if by_issuer.len() >= CACHE_ENTRIES_BEFORE_SWEEP {
            by_issuer.retain(|_, (at, _)| at.elapsed() < cache.ttl);
        }
        by_issuer.insert(issuer.to_owned(), (Instant::now(), policies.clone()));
    }
    Ok(policies)
}

/// The principal a CI identity token acts as: 401 for an issuer no policy names, a token
/// that does not verify, or one no policy admits; 503 when the issuer's keys cannot be had.
pub async fn principal(core: &Core, token: &str) -> Result<Principal, Error> {
    let refused = |why: &str| Error::Unauthorized(format!("invalid token: {why}"));
    let peeked = oidc::peek(token).map_err(|e| Error::Unauthorized(e.to_string()))?;
    let policies = policies_of(core, &peeked.issuer).await?;
    if policies.is_empty() {
        return Err(refused(
            "not one of ours, and no trust policy accepts tokens of its issuer",
        ));
    }
    let claims = core
        .credentials
        .issuers
        .verify(&peeked.issuer, token)
        .await?;
    let mut admitted = Vec::new();
    for policy in policies.iter() {
        match oidc::admit(policy, &claims) {
            Ok(repository) => admitted.push((policy, repository)),
            // The reasons name the policies' conditions: for the log, not for the caller.
            Err(why) => {
                tracing::debug!(policy = %policy.id, %why, "trust policy does not admit the token")
            }
        }
    }
    if admitted.is_empty() {
        return Err(refused(
            "no trust policy admits this token (its audience or claim conditions do not hold)",
        ));
    }
    let grant = oidc::grant(&admitted).map_err(|why| refused(&why))?;
    Ok(Principal {
        organization_id: grant.organization_id,
        organization: grant.organization,
        subject: claims.subject(),
        scopes: grant.scopes,
        repositories: Some(grant.repositories),
    })
}
