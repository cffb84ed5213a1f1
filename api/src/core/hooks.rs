//! Deploy-hook triggers: a secret URL records a deployment of its hook's repository, for
//! platforms that can only call a URL. The secret is the credential: it has 256 random bits,
//! only its SHA-256 is stored, and it is never logged or echoed.
//!
//! A repeat trigger of one hook for the same environment, PR, branch and commit returns the
//! earlier deployment (`already_exists`) while that one is queued or in progress, or within
//! the dedupe window. Triggers are rate limited per hook and per organization, in memory (so
//! per instance).

use std::num::NonZeroU32;

use base64::Engine;
use entity::deployments;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{Core, Error, now};
use crate::{
    domain::{DeploymentChange, NewDeployment, RepositoryRef, Status, TriggeredBy},
    store,
};

/// The environment of the preview form (a PR number and commit in the path).
pub const PREVIEW_ENVIRONMENT: &str = "preview";

/// A new hook secret: 32 random bytes (256 bits), URL-safe base64 without padding.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 (hex) of a secret: what is stored. The secret has 256 bits of entropy, so a
/// fast hash is enough (a slow password hash protects guessable secrets only).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The trigger limits (checked by `settings`).
#[derive(Debug, Clone)]
pub struct HookLimitSettings {
    pub per_hook_per_minute: NonZeroU32,
    pub per_hook_burst: NonZeroU32,
    pub per_organization_per_minute: NonZeroU32,
    pub per_organization_burst: NonZeroU32,
    /// A repeat trigger within this long of the earlier one returns it (0: only while the
    /// earlier one is unfinished).
    pub dedupe_window: chrono::Duration,
}

impl Default for HookLimitSettings {
    fn default() -> Self {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Self {
            per_hook_per_minute: n(10),
            per_hook_burst: n(10),
            per_organization_per_minute: n(60),
            per_organization_burst: n(60),
            dedupe_window: chrono::Duration::seconds(60),
        }
    }
}

/// Rate limiters and the dedupe window of deploy-hook triggers.
pub struct HookLimits {
    per_hook: DefaultKeyedRateLimiter<Uuid>,
    per_organization: DefaultKeyedRateLimiter<Uuid>,
    dedupe_window: chrono::Duration,
}

/// Forget idle limiter keys once this many are kept.
const LIMITER_KEYS_BEFORE_CLEANUP: usize = 10_000;

impl HookLimits {
    pub fn new(settings: &HookLimitSettings) -> Self {
        let quota =
            |rate: NonZeroU32, burst: NonZeroU32| Quota::per_minute(rate).allow_burst(burst);
        Self {
            per_hook: RateLimiter::keyed(quota(
                settings.per_hook_per_minute,
                settings.per_hook_burst,
            )),
            per_organization: RateLimiter::keyed(quota(
                settings.per_organization_per_minute,
                settings.per_organization_burst,
            )),
            dedupe_window: settings.dedupe_window,
        }
    }

    /// Takes one trigger from the hook's and the organization's allowance, or says how
    /// many seconds to wait.
    fn admit(&self, hook: Uuid, organization: Uuid) -> Result<(), u64> {
        let wait = |limiter: &DefaultKeyedRateLimiter<Uuid>, key: &Uuid| {
            if limiter.len() > LIMITER_KEYS_BEFORE_CLEANUP {
                limiter.retain_recent();
            }
            limiter.check_key(key).map_err(|not_until| {
                let wait = not_until.wait_time_from(limiter.clock().now());
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            })
        };
        wait(&self.per_hook, &hook)?;
        wait(&self.per_organization, &organization)?;
        Ok(())
    }
}

/// A validated trigger (the adapter parses its vocabulary into this).
#[derive(Debug, Clone)]
pub struct Trigger {
    /// None: the platform deploys "the latest commit" (recorded with an empty `commit_id`).
    pub commit: Option<String>,
    /// None: the hook's branch.
    pub branch: Option<String>,
    pub status: Status,
    pub is_forced: bool,
    /// The preview form: a PR deployment to [`PREVIEW_ENVIRONMENT`].
    pub pull_request_number: Option<i64>,
}

/// What a trigger did.
#[derive(Debug)]
pub struct Outcome {
    pub deployment: deployments::Model,
    /// True when a repeat matched an earlier deployment; nothing new was recorded.
    pub already_exists: bool,
}

/// The hook a secret belongs to. The lookup goes by the secret's hash through a unique
/// index; the stored hash is then compared in constant time as well.
async fn find_hook(core: &Core, secret: &str) -> Result<entity::deploy_hooks::Model, Error> {
    let hash = hash_secret(secret);
    match store::deploy_hooks::find_by_secret_hash(core.db.read(), &hash).await? {
        Some(hook) if bool::from(hook.secret_hash.as_bytes().ct_eq(hash.as_bytes())) => Ok(hook),
        _ => Err(Error::NotFound("deploy hook")),
    }
}

/// Checks `secret` (an unknown or deleted one is not found), then `parse`s the trigger's
/// parameters (so nothing about them is revealed without the secret), admits it under the
/// rate limits, and records or matches a deployment.
pub async fn trigger(
    core: &Core,
    secret: &str,
    parse: impl FnOnce() -> Result<Trigger, Error>,
) -> Result<Outcome, Error> {
    let hook = find_hook(core, secret).await?;
    let trigger = parse()?;
    if let Err(retry_after) = core.hooks.admit(hook.id, hook.organization_id) {
        tracing::info!(hook_id = %hook.id, retry_after, "deploy hook trigger rate limited");
        return Err(Error::RateLimited {
            retry_after: retry_after.max(1),
            detail: format!("too many triggers; retry in {retry_after} s"),
            policy: None,
        });
    }
    let now = now();
    // Before the transaction (see `store::deployments::reserve_number`); a repeat trigger
    // answered with the earlier deployment leaves it unused.
    let number = store::deployments::reserve_number(&core.db, hook.organization_id).await?;
    let txn = core.db.begin_write().await?;
    // Serializes concurrent triggers of this hook (and sees a deletion that raced us).
    let hook = store::deploy_hooks::lock(&txn, hook.id)
        .await?
        .ok_or(Error::NotFound("deploy hook"))?;
    let environment = if trigger.pull_request_number.is_some() {
        PREVIEW_ENVIRONMENT.to_owned()
    } else {
        hook.environment.clone()
    };
    let branch = trigger
        .branch
        .clone()
        .unwrap_or_else(|| hook.branch.clone());
    let commit = trigger.commit.clone().unwrap_or_default();
    let dedupe_key = format!(
        "{environment}\n{}\n{branch}\n{commit}",
        trigger
            .pull_request_number
            .map(|n| n.to_string())
            .unwrap_or_default()
    );

    if let Some((earlier, deployment)) =
        store::deploy_hooks::latest_for_key(&txn, hook.id, &dedupe_key).await?
    {
        let current = deployment.status.parse::<Status>().ok();
        let unfinished = current.is_some_and(|s| !s.is_final());
        let window = core.hooks.dedupe_window;
        let recent = window > chrono::Duration::zero() && now - earlier.created_at < window;
        if unfinished || recent {
            let mut deployment = deployment;
            // A repeat that reports an outcome finishes the unfinished deployment.
            if let Some(current) = current.filter(|c| !c.is_final())
                && trigger.status.is_final()
            {
                let change = DeploymentChange {
                    status: Some(trigger.status),
                    started_at: None,
                    finished_at: None,
                };
                if let Ok((status, started_at, finished_at)) =
                    change.apply(current, deployment.started_at, deployment.finished_at, now)
                {
                    let previous = deployment.status.clone();
                    let changes;
                    (deployment, changes) = store::deployments::update_timing(
                        &txn,
                        deployment,
                        status,
                        started_at,
                        finished_at,
                        now,
                    )
                    .await?;
                    super::outbound::status_changed(&txn, &previous, &deployment).await?;
                    let org = deployment.organization_id;
                    super::outbound::outcomes_changed(&txn, org, &changes).await?;
                }
            }
            store::deploy_hooks::touch(&txn, hook, deployment.id, now).await?;
            txn.commit().await?;
            return Ok(Outcome {
                deployment,
                already_exists: true,
            });
        }
    }

    let repository = store::organizations::find_repository(&txn, hook.repository_id)
        .await?
        .ok_or_else(|| Error::internal("deploy hook without its repository"))?;
    let new = NewDeployment {
        repository: RepositoryRef {
            url: repository.url,
            key: repository.key,
            name: repository.name,
        },
        team: None,
        member_external_id: None,
        is_production: environment == "production",
        environment,
        title: match trigger.pull_request_number {
            Some(pr) => format!("Deploy hook {} (PR #{pr})", hook.name),
            None => format!("Deploy hook {}", hook.name),
        },
        changelog: None,
        url: None,
        branch,
        commit_id: commit,
        node_id: None,
        pull_request_number: trigger.pull_request_number,
        commits_count: 0,
        duration_seconds: None,
        is_fix: false,
        is_hotfix: false,
        is_forced: trigger.is_forced,
        is_rollback: false,
        status: trigger.status,
        triggered_by: TriggeredBy::DeployHook,
        started_at: (trigger.status == Status::InProgress).then_some(now),
        finished_at: None,
        commits: Vec::new(),
    };
    let org = hook.organization_id;
    let (record, changes) =
        store::deployments::insert(&txn, org, &new, now, &core.known, number).await?;
    let deployment = record.deployment;
    super::outbound::deployment_created(&txn, &deployment).await?;
    super::outbound::outcomes_changed(&txn, org, &changes).await?;
    store::deploy_hooks::record_trigger(&txn, hook.id, deployment.id, &dedupe_key, now).await?;
    let hook_id = hook.id;
    store::deploy_hooks::touch(&txn, hook, deployment.id, now).await?;
    txn.commit().await?;
    tracing::info!(%hook_id, deployment_id = %deployment.id, "deploy hook recorded a deployment");
    Ok(Outcome {
        deployment,
        already_exists: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bit_url_safe_and_hashed_to_hex() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&a)
            .expect("base64");
        assert_eq!(bytes.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        let hash = hash_secret(&a);
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, hash_secret(&a));
        assert_ne!(hash, hash_secret(&b));
    }

    #[test]
    fn the_hook_limit_refuses_past_its_burst() {
        let n = |v| NonZeroU32::new(v).expect("non-zero");
        let limits = HookLimits::new(&HookLimitSettings {
            per_hook_per_minute: n(1),
            per_hook_burst: n(2),
            ..HookLimitSettings::default()
        });
        let (hook, org) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(limits.admit(hook, org).is_ok());
        assert!(limits.admit(hook, org).is_ok());
        let wait = limits.admit(hook, org).expect_err("over the burst");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(limits.admit(Uuid::now_v7(), org).is_ok());
    }
}
