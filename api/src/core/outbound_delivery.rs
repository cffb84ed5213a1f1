//! The delivery worker of outbound webhooks: every instance runs one. It claims due rows of
//! the outbox (`store::outbox::claim`: one conditional update, so one instance sends a row at
//! a time; the claim is a lease, so the rows of an instance that died are sent again once it
//! ends), POSTs each with GitHub-style headers and an `X-Hub-Signature-256`, and records the
//! attempt. Retries follow [`backoff`] (or the receiver's `Retry-After`) until the delivery's
//! retry period ends; then it is failed, and a subscription whose deliveries keep failing is
//! disabled with the reason.
//!
//! Targets: unless `DORA_WEBHOOK_ALLOW_PRIVATE_TARGETS`, an address that is not public
//! (`domain::is_public_address`) is refused when the subscription is made and again at
//! connect time, by the client's own resolver (so a name that re-resolves to a private
//! address, DNS rebinding, gets nowhere). Redirects are not followed; at most
//! [`MAX_RESPONSE_BYTES`] of an answer are read. URLs (which may hold tokens, as chat tools'
//! incoming webhooks do) and secrets are never logged.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use uuid::Uuid;

use super::{Core, Error, now, outbound, secrets};
use crate::{domain::is_public_address, store};

/// Settings of outbound deliveries.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// The whole attempt, connecting included (`DORA_WEBHOOK_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    /// How long a delivery is retried (`DORA_WEBHOOK_RETRY_PERIOD`).
    pub retry_period: chrono::Duration,
    /// The wait before the first retry; it doubles each time (`DORA_WEBHOOK_FIRST_RETRY`).
    pub first_retry: Duration,
    /// Plain http, loopback and private addresses allowed (tests, internal deployments).
    pub allow_private_targets: bool,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retry_period: chrono::Duration::hours(24),
            first_retry: Duration::from_secs(10),
            allow_private_targets: false,
        }
    }
}

/// The most of an answer read (the rest is dropped with the connection).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Deliveries that failed for good in a row before a subscription is disabled.
pub const FAILURES_BEFORE_DISABLE: i32 = 10;
/// How often an idle worker looks for due deliveries.
const POLL: Duration = Duration::from_millis(500);
/// Deliveries claimed (and sent concurrently) at once.
const BATCH: u64 = 16;
/// The event, delivery id and subscription headers (GitHub's `X-GitHub-*`, for dora-tracker).
pub const EVENT_HEADER: &str = "X-Dora-Event";
pub const DELIVERY_HEADER: &str = "X-Dora-Delivery";
pub const HOOK_HEADER: &str = "X-Dora-Hook-ID";
pub const ATTEMPT_HEADER: &str = "X-Dora-Attempt";
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

fn not_public(what: &str) -> Error {
    Error::field(
        "url",
        format!(
            "{what} a loopback, private, link-local or metadata address; only public addresses \
             are allowed (DORA_WEBHOOK_ALLOW_PRIVATE_TARGETS=true lifts this)"
        ),
    )
}

/// Whether `url` may be a subscription's target: its host must resolve, to public addresses
/// only (unless `allow_private`).
pub async fn check_target(url: &url::Url, allow_private: bool) -> Result<(), Error> {
    if allow_private {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !is_public_address(ip.into()) => Err(not_public("is")),
        Some(url::Host::Ipv6(ip)) if !is_public_address(ip.into()) => Err(not_public("is")),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => Ok(()),
        Some(url::Host::Domain(host)) => {
            let found = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host((host, port)),
            )
            .await
            .map_err(|_| Error::field("url", "its host did not resolve within 5 seconds"))?
            .map_err(|_| Error::field("url", "its host does not resolve"))?
            .collect::<Vec<SocketAddr>>();
            if found.is_empty() {
                return Err(Error::field("url", "its host does not resolve"));
            }
            if found.iter().any(|a| !is_public_address(a.ip())) {
                return Err(not_public("its host resolves to"));
            }
            Ok(())
        }
        None => Err(Error::field("url", "must name a host")),
    }
}

/// The client's resolver: the system's, keeping public addresses only.
struct PublicAddressesOnly;

impl Resolve for PublicAddressesOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public_address(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(std::io::Error::other(
                    "the host resolves to no public address (refused)",
                )
                .into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok::<Addrs, Box<dyn std::error::Error + Send + Sync>>(addrs)
        })
    }
}

/// The HTTP client of deliveries.
pub struct Sender {
    client: reqwest::Client,
    settings: OutboundSettings,
    /// This instance, as it marks the rows it claims.
    instance: String,
}

impl Sender {
    pub fn new(settings: OutboundSettings) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A proxy would resolve the name itself, past the address check.
            .no_proxy()
            .user_agent(concat!("dora-tracker-webhooks/", env!("CARGO_PKG_VERSION")));
        if !settings.allow_private_targets {
            builder = builder.dns_resolver(Arc::new(PublicAddressesOnly));
        }
        Ok(Self {
            client: builder.build().map_err(|e| e.to_string())?,
            settings,
            instance: Uuid::new_v4().to_string(),
        })
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// How long a claim lasts: past the attempt's timeout, so a live instance's claim never
    /// ends while it sends.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.timeout * 2 + Duration::from_secs(5))
            .unwrap_or(chrono::Duration::seconds(60))
    }
}

/// The wait after failed attempt number `attempt` (1 for the first): `first` doubled each
/// time, at most [`MAX_BACKOFF`], with "equal jitter" (between half and all of it), so
/// receivers coming back are not hit by every retry at once.
pub fn backoff(first: Duration, attempt: i32) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let full = first
        .checked_mul(1u32 << exponent)
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF);
    let half = full / 2;
    half + half.mul_f64(rand::rng().random_range(0.0..=1.0))
}

/// `Retry-After` as seconds or an HTTP date, from `now`.
fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

/// What one attempt came to.
enum AttemptResult {
    Delivered(u16),
    /// Worth another attempt (5xx, 429, a timeout, a connection error), with the receiver's
    /// `Retry-After` if it sent one.
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// Not retried (another answer, such as 3xx or 4xx).
    Refused {
        status: Option<u16>,
        error: String,
    },
}

/// Sends due deliveries until the task is aborted.
pub async fn run_forever(core: Core, sender: Arc<Sender>) {
    loop {
        match deliver_due(&core, &sender).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbound webhooks: cannot read the outbox"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Gives back the deliveries this instance holds (at shutdown).
pub async fn release(core: &Core, sender: &Sender) {
    let released = async {
        let txn = core.db.begin_write().await?;
        let n = store::outbox::release_claims(&txn, &sender.instance).await?;
        txn.commit().await?;
        Ok::<_, sea_orm::DbErr>(n)
    };
    match released.await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            released = n,
            "outbound webhooks: deliveries in flight given back"
        ),
        Err(e) => tracing::warn!(error = %e, "outbound webhooks: cannot give back deliveries"),
    }
}

/// Claims and sends one batch of due deliveries; answers how many were claimed.
async fn deliver_due(core: &Core, sender: &Arc<Sender>) -> Result<usize, Error> {
    let now = now();
    let due = store::outbox::due(core.db.read(), now, BATCH).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for id in due {
        let claimed = {
            let txn = core.db.begin_write().await?;
            let claimed =
                store::outbox::claim(&txn, id, &sender.instance, now, now + sender.lease()).await?;
            txn.commit().await?;
            claimed
        };
        if claimed {
            let (core, sender) = (core.clone(), sender.clone());
            tasks.spawn(async move {
                if let Err(e) = deliver(&core, &sender, id).await {
                    tracing::warn!(delivery_id = %id, error = %e, "outbound webhook delivery");
                }
            });
        }
    }
    let claimed = tasks.len();
    while tasks.join_next().await.is_some() {}
    Ok(claimed)
}

/// One attempt of claimed delivery `id`.
async fn deliver(core: &Core, sender: &Sender, id: Uuid) -> Result<(), Error> {
    let Some((delivery, subscription)) =
        store::outbox::delivery_with_subscription(core.db.read(), id).await?
    else {
        return Ok(());
    };
    let secret = outbound::signing_secret(core, &subscription)?;
    let body = delivery.payload.clone().into_bytes();
    let signature = secrets::hmac_sha256_header(&secret, &body);
    let attempt_number = delivery.attempts + 1;
    let started = std::time::Instant::now();
    let result = send(
        sender,
        &subscription.url,
        body,
        &[
            (EVENT_HEADER, delivery.event.clone()),
            (DELIVERY_HEADER, delivery.guid.to_string()),
            (HOOK_HEADER, subscription.id.to_string()),
            (ATTEMPT_HEADER, attempt_number.to_string()),
            (SIGNATURE_HEADER, signature),
        ],
    )
    .await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let at = now();
    let (state, status, error, next) = match result {
        AttemptResult::Delivered(status) => (store::outbox::DELIVERED, Some(status), None, at),
        AttemptResult::Refused { status, error } => {
            (store::outbox::FAILED, status, Some(error), at)
        }
        AttemptResult::Retry {
            status,
            error,
            retry_after,
        } => {
            let wait = retry_after
                .map(|w| w.min(MAX_BACKOFF))
                .unwrap_or_else(|| backoff(sender.settings.first_retry, attempt_number));
            let next = at + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
            // The retry period runs from when the event (or the redelivery) was queued.
            if next > delivery.created_at + sender.settings.retry_period {
                let error = format!(
                    "{error}; gave up after {attempt_number} attempts (the retry period ended)"
                );
                (store::outbox::FAILED, status, Some(error), at)
            } else {
                (store::outbox::PENDING, status, Some(error), next)
            }
        }
    };
    let attempt = store::outbox::Attempt {
        state,
        next_attempt_at: next,
        status_code: status.map(i32::from),
        duration_ms,
        error: error.clone(),
        at,
    };
    let txn = core.db.begin_write().await?;
    if !store::outbox::record_attempt(&txn, id, &sender.instance, &attempt).await? {
        // Our lease ran out and another instance took the row: its record stands.
        txn.rollback().await?;
        return Ok(());
    }
    match state {
        store::outbox::DELIVERED => {
            store::outbox::subscription_succeeded(&txn, subscription.id, at).await?;
        }
        store::outbox::FAILED => {
            let never_succeeded_since = subscription
                .last_success_at
                .is_none_or(|t| t < delivery.created_at);
            let expired = error
                .as_deref()
                .is_some_and(|e| e.contains("retry period ended"));
            let disable = if expired && never_succeeded_since {
                Some(format!(
                    "every attempt failed for the whole retry period; the last: {}",
                    error.as_deref().unwrap_or("")
                ))
            } else if subscription.failed_in_a_row + 1 >= FAILURES_BEFORE_DISABLE {
                Some(format!(
                    "{FAILURES_BEFORE_DISABLE} deliveries in a row failed; the last: {}",
                    error.as_deref().unwrap_or("")
                ))
            } else {
                None
            };
            store::outbox::subscription_failed(&txn, subscription.id, at, disable.as_deref())
                .await?;
            if disable.is_some() {
                tracing::warn!(subscription_id = %subscription.id, "webhook subscription disabled: its deliveries keep failing");
            }
        }
        _ => {}
    }
    txn.commit().await?;
    tracing::info!(
        delivery_id = %delivery.id,
        subscription_id = %subscription.id,
        event = %delivery.event,
        attempt = attempt_number,
        state,
        status = status.unwrap_or(0),
        "outbound webhook attempt"
    );
    Ok(())
}

/// POSTs `body`; the URL's literal address (which skips the resolver) is checked here.
async fn send(
    sender: &Sender,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> AttemptResult {
    let Ok(parsed) = url::Url::parse(url) else {
        return AttemptResult::Refused {
            status: None,
            error: "the subscription's URL does not parse".to_owned(),
        };
    };
    if !sender.settings.allow_private_targets {
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(|ip| !is_public_address(ip)) {
            return AttemptResult::Refused {
                status: None,
                error: "the URL's address is not public (refused)".to_owned(),
            };
        }
    }
    let mut request = sender
        .client
        .post(parsed)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            // Never the URL: it may hold a token.
            let e = e.without_url();
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            return AttemptResult::Retry {
                status: None,
                error: format!("{kind}: {}", error_chain(&e)),
                retry_after: None,
            };
        }
    };
    let status = response.status();
    let retry_after_value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, Utc::now()));
    // Read (at most MAX_RESPONSE_BYTES of) the answer, so the connection can be reused.
    let mut response = response;
    let mut read = 0usize;
    let mut body_error = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                read += chunk.len();
                if read >= MAX_RESPONSE_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                body_error = Some(error_chain(&e.without_url()));
                break;
            }
        }
    }
    let code = status.as_u16();
    if status.is_success() {
        return AttemptResult::Delivered(code);
    }
    let mut error = format!("answered {code}");
    if let Some(e) = body_error {
        error.push_str(&format!(" (reading the answer: {e})"));
    }
    if status.is_server_error() || code == 429 {
        AttemptResult::Retry {
            status: Some(code),
            error,
            retry_after: retry_after_value.filter(|_| matches!(code, 429 | 503)),
        }
    } else {
        if status.is_redirection() {
            error.push_str("; redirects are not followed");
        }
        AttemptResult::Refused {
            status: Some(code),
            error: format!("{error}; not retried"),
        }
    }
}

/// An error and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let first = Duration::from_secs(10);
        for attempt in 1..=12 {
            let full = (first * (1u32 << (attempt - 1))).min(MAX_BACKOFF);
            let wait = backoff(first, attempt);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
        assert!(backoff(first, 40) <= MAX_BACKOFF);
    }

    #[test]
    fn retry_after_in_seconds_or_a_date() {
        let now = Utc::now();
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        let later = (now + chrono::Duration::seconds(30)).to_rfc2822();
        let parsed = retry_after(&later, now).expect("a date");
        assert!(parsed <= Duration::from_secs(30) && parsed >= Duration::from_secs(29));
        assert_eq!(retry_after("soon", now), None);
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        let resolved = PublicAddressesOnly
            .resolve("localhost".parse().expect("a name"))
            .await;
        assert!(resolved.is_err());
        let refused = check_target(
            &url::Url::parse("https://localhost/hook").expect("url"),
            false,
        )
        .await;
        assert!(refused.is_err());
        let refused = check_target(
            &url::Url::parse("https://169.254.169.254/latest").expect("url"),
            false,
        )
        .await;
        assert!(refused.is_err());
        assert!(
            check_target(&url::Url::parse("http://127.0.0.1:1/").expect("url"), true)
                .await
                .is_ok()
        );
    }
}
