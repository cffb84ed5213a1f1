//! Per-organization rate limits on the authenticated API: every request that presents a
//! valid token (canonical API, iftrue's path, the GitHub-compatible API) takes one unit from
//! its organization's allowance before any work is done; over it, the request is refused
//! with 429 and `Retry-After`. Deploy hooks have their own limits (`core::hooks`); `/metrics`,
//! the probes and the docs are not limited.
//!
//! The allowance is a GCRA bucket (governor): `per_minute` sustained, up to `burst` at once.
//! It is kept in memory, so each instance applies it on its own: behind a load balancer
//! spreading requests over N instances, an organization may send up to N × the limit.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use uuid::Uuid;

use super::{Error, RatePolicy};

/// The API limits (checked by `settings`).
#[derive(Debug, Clone)]
pub struct ApiLimitSettings {
    /// Requests per minute one organization may make, sustained.
    pub per_minute: NonZeroU32,
    /// Requests one organization may make at once before the per-minute rate applies.
    pub burst: NonZeroU32,
}

impl Default for ApiLimitSettings {
    fn default() -> Self {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Self {
            per_minute: n(DEFAULT_PER_MINUTE),
            burst: n(DEFAULT_BURST),
        }
    }
}

/// Generous: a busy organization's CI sends a few requests a second; these defaults only stop
/// a runaway client from taking an instance's whole capacity (the ingest benchmark's 32
/// clients, about 1,100 requests/s on a fast machine, stay under them).
pub const DEFAULT_PER_MINUTE: u32 = 120_000;
pub const DEFAULT_BURST: u32 = 2_000;

/// Forget idle organizations' buckets once this many are kept.
const KEYS_BEFORE_CLEANUP: usize = 10_000;

pub struct ApiLimits {
    per_organization: DefaultKeyedRateLimiter<Uuid>,
    policy: RatePolicy,
}

impl ApiLimits {
    pub fn new(settings: &ApiLimitSettings) -> Self {
        Self {
            per_organization: RateLimiter::keyed(
                Quota::per_minute(settings.per_minute).allow_burst(settings.burst),
            ),
            policy: RatePolicy {
                name: "organization",
                quota: settings.per_minute.get(),
                window_seconds: 60,
            },
        }
    }

    /// Takes one request from `organization`'s allowance, or says how long to wait.
    pub fn admit(&self, organization: Uuid) -> Result<(), Error> {
        let limiter = &self.per_organization;
        if limiter.len() > KEYS_BEFORE_CLEANUP {
            limiter.retain_recent();
        }
        limiter.check_key(&organization).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            let retry_after = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            tracing::info!(%organization, retry_after, "API request rate limited");
            Error::RateLimited {
                retry_after,
                detail: format!(
                    "this organization is over its API rate limit ({} requests per minute); \
                     retry in {retry_after} s",
                    self.policy.quota
                ),
                policy: Some(self.policy.clone()),
            }
        })
    }
}
