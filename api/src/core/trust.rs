//! Identity providers' signing keys: each issuer's discovery document
//! (`{issuer}/.well-known/openid-configuration`) names its JWKS, which is fetched with short
//! timeouts, cached for [`KEYS_TTL`], and fetched again early when a token names a key id the
//! cache does not have (key rotation), at most once per [`UNKNOWN_KEY_REFRESH`] per issuer so
//! that made-up key ids cannot make us hammer the issuer. When a refresh fails the keys
//! already held keep working; with none held, verification answers 503.
//!
//! Only issuers some trust policy names are ever fetched (`trust_policies` looks the policies
//! up first), so the cache is bounded by the policies.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::jwk::Jwk;

use super::Error;
use crate::{
    auth::oidc::{self, IdClaims, VerifyError},
    domain::check_issuer,
};

/// How long an issuer's keys are used before they are fetched again.
pub const KEYS_TTL: Duration = Duration::from_secs(3600);
/// At most one early fetch per issuer in this time for tokens naming unknown key ids.
pub const UNKNOWN_KEY_REFRESH: Duration = Duration::from_secs(30);
/// After a failed fetch with no keys held, requests answer 503 at once for this long.
const FAILURE_BACKOFF: Duration = Duration::from_secs(5);
/// Largest discovery document or JWKS read.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// The keys of every issuer seen, and the HTTP client that fetches them.
pub struct Issuers {
    client: reqwest::Client,
    allow_http_loopback: bool,
    issuers: Mutex<HashMap<String, Arc<Issuer>>>,
}

#[derive(Default)]
struct Issuer {
    // Held while fetching, so concurrent requests wait for one fetch instead of each making
    // their own.
    state: tokio::sync::Mutex<KeyState>,
}

#[derive(Default)]
struct KeyState {
    keys: Arc<Vec<Jwk>>,
    fetched_at: Option<Instant>,
    early_refresh_at: Option<Instant>,
    failed_at: Option<(Instant, String)>,
}

impl Issuers {
    pub fn new(allow_http_loopback: bool) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            // The discovery document names the JWKS; nothing else decides where we connect.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dora-tracker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client for identity providers: {e}"))?;
        Ok(Self {
            client,
            allow_http_loopback,
            issuers: Mutex::default(),
        })
    }

    fn issuer(&self, issuer: &str) -> Arc<Issuer> {
        match self.issuers.lock() {
            Ok(mut issuers) => issuers.entry(issuer.to_owned()).or_default().clone(),
            // A panic while holding the lock: carry on with a fresh entry.
            Err(_) => Arc::default(),
        }
    }

    /// Verifies `token` of `issuer` with the issuer's keys (see the module docs).
    pub async fn verify(&self, issuer: &str, token: &str) -> Result<IdClaims, Error> {
        check_issuer(issuer, self.allow_http_loopback).map_err(|e| {
            Error::Unauthorized(format!("invalid token: the issuer is not accepted: {e}"))
        })?;
        let entry = self.issuer(issuer);
        let keys = self.current_keys(issuer, &entry).await?;
        match oidc::verify(token, issuer, &keys, unix_now()) {
            Ok(claims) => Ok(claims),
            Err(VerifyError::Invalid(why)) => Err(refused(&why)),
            Err(VerifyError::UnknownKey) => {
                let Some(keys) = self.refresh_for_unknown_key(issuer, &entry).await? else {
                    return Err(refused(
                        "the token's key id (kid) is not among the issuer's keys",
                    ));
                };
                match oidc::verify(token, issuer, &keys, unix_now()) {
                    Ok(claims) => Ok(claims),
                    Err(VerifyError::Invalid(why)) => Err(refused(&why)),
                    Err(VerifyError::UnknownKey) => Err(refused(
                        "the token's key id (kid) is not among the issuer's keys",
                    )),
                }
            }
        }
    }

    /// The issuer's keys: cached, or fetched when there are none or they are old.
    async fn current_keys(&self, issuer: &str, entry: &Issuer) -> Result<Arc<Vec<Jwk>>, Error> {
        let mut state = entry.state.lock().await;
        let fresh = state.fetched_at.is_some_and(|at| at.elapsed() < KEYS_TTL);
        if fresh {
            return Ok(state.keys.clone());
        }
        if state.fetched_at.is_none()
            && let Some((at, why)) = &state.failed_at
            && at.elapsed() < FAILURE_BACKOFF
        {
            return Err(unavailable(issuer, why));
        }
        match self.fetch(issuer).await {
            Ok(keys) => {
                state.keys = Arc::new(keys);
                state.fetched_at = Some(Instant::now());
                state.failed_at = None;
                Ok(state.keys.clone())
            }
            Err(why) if state.fetched_at.is_some() => {
                // Old keys beat none: the issuer may be down for a moment.
                tracing::warn!(%issuer, error = %why, "identity provider keys not refreshed; using the cached ones");
                state.failed_at = Some((Instant::now(), why));
                Ok(state.keys.clone())
            }
            Err(why) => {
                let error = unavailable(issuer, &why);
                state.failed_at = Some((Instant::now(), why));
                Err(error)
            }
        }
    }

    /// Fetches the keys again for a token with an unknown key id, unless that was done
    /// within [`UNKNOWN_KEY_REFRESH`] (`None`: not refreshed).
    async fn refresh_for_unknown_key(
        &self,
        issuer: &str,
        entry: &Issuer,
    ) -> Result<Option<Arc<Vec<Jwk>>>, Error> {
        let mut state = entry.state.lock().await;
        if state
            .early_refresh_at
            .is_some_and(|at| at.elapsed() < UNKNOWN_KEY_REFRESH)
        {
            return Ok(None);
        }
        state.early_refresh_at = Some(Instant::now());
        match self.fetch(issuer).await {
            Ok(keys) => {
                state.keys = Arc::new(keys);
                state.fetched_at = Some(Instant::now());
                state.failed_at = None;
                Ok(Some(state.keys.clone()))
            }
            Err(why) => {
                tracing::warn!(%issuer, error = %why, "identity provider keys not refreshed");
                let error = unavailable(issuer, &why);
                state.failed_at = Some((Instant::now(), why));
                Err(error)
            }
        }
    }

    /// The discovery document, then the JWKS it names. The error says what failed (it names
    /// URLs, never a token).
    async fn fetch(&self, issuer: &str) -> Result<Vec<Jwk>, String> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: serde_json::Value = serde_json::from_slice(&self.get(&discovery_url).await?)
            .map_err(|e| format!("{discovery_url}: not a discovery document: {e}"))?;
        let named = discovery["issuer"].as_str().unwrap_or_default();
        if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!(
                "{discovery_url}: the discovery document names another issuer"
            ));
        }
        let jwks_uri = discovery["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("{discovery_url}: no jwks_uri"))?;
        check_issuer(jwks_uri, self.allow_http_loopback)
            .map_err(|e| format!("{discovery_url}: jwks_uri {e}"))?;
        let keys =
            oidc::parse_jwks(&self.get(jwks_uri).await?).map_err(|e| format!("{jwks_uri}: {e}"))?;
        if keys.is_empty() {
            return Err(format!("{jwks_uri}: no RS256 or ES256 signing keys"));
        }
        tracing::debug!(%issuer, keys = keys.len(), "identity provider keys fetched");
        Ok(keys)
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .client
            .get(url)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {}", describe(&e)))?;
        if !response.status().is_success() {
            return Err(format!("{url}: answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("{url}: {}", describe(&e)))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("{url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        e.to_string()
    }
}

fn refused(why: &str) -> Error {
    Error::Unauthorized(format!("invalid token: {why}"))
}

fn unavailable(issuer: &str, why: &str) -> Error {
    Error::Upstream {
        kind: "identity-provider-unavailable",
        detail: format!(
            "the signing keys of issuer {issuer} cannot be fetched ({why}); try again later"
        ),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
