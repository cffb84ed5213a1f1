//! Outbound webhooks: the events dora-tracker sends, a subscription as requested, a
//! repository dispatch, and which addresses a delivery may go to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Errors, FieldError, check_text};

/// The longest subscription URL.
pub const MAX_SUBSCRIPTION_URL_CHARS: usize = 2000;
/// The longest subscription description.
pub const MAX_SUBSCRIPTION_DESCRIPTION_CHARS: usize = 500;
/// GitHub's limit on `client_payload`'s top-level properties.
pub const MAX_CLIENT_PAYLOAD_PROPERTIES: usize = 10;

/// An event a subscription can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutboundEvent {
    /// A deployment was recorded.
    Deployment,
    /// A deployment's status changed.
    DeploymentStatus,
    /// An incident was opened, resolved or reopened.
    Incident,
    /// `POST /api/v3/repos/{owner}/{repo}/dispatches`.
    RepositoryDispatch,
    /// A key metric's 30-day tier changed at a snapshot refresh.
    TierChanged,
    /// Sent on creation and on request, whatever the subscription's events.
    Ping,
}

impl OutboundEvent {
    /// Every event a subscription may name (`ping` always comes).
    pub const SUBSCRIBABLE: [OutboundEvent; 5] = [
        OutboundEvent::Deployment,
        OutboundEvent::DeploymentStatus,
        OutboundEvent::Incident,
        OutboundEvent::RepositoryDispatch,
        OutboundEvent::TierChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboundEvent::Deployment => "deployment",
            OutboundEvent::DeploymentStatus => "deployment_status",
            OutboundEvent::Incident => "incident",
            OutboundEvent::RepositoryDispatch => "repository_dispatch",
            OutboundEvent::TierChanged => "dora.tier_changed",
            OutboundEvent::Ping => "ping",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([OutboundEvent::Ping])
            .find(|e| e.as_str() == word)
    }
}

impl std::fmt::Display for OutboundEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A subscription's URL: absolute, `https` (or `http` when private targets are allowed), no
/// credentials, no fragment.
pub fn check_subscription_url(value: &str, allow_http: bool) -> Result<url::Url, String> {
    if value.chars().count() > MAX_SUBSCRIPTION_URL_CHARS {
        return Err(format!(
            "must be at most {MAX_SUBSCRIPTION_URL_CHARS} characters"
        ));
    }
    check_text(value, false)?;
    let url = url::Url::parse(value).map_err(|e| format!("is not an absolute URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(
                "must be https (plain http is allowed only with DORA_WEBHOOK_ALLOW_PRIVATE_TARGETS)"
                    .to_owned(),
            );
        }
        _ => return Err("must be an https URL".to_owned()),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".to_owned());
    }
    Ok(url)
}

/// The events of a subscription: at least one, each known (`*` is every event); duplicates
/// are dropped.
pub fn check_events(words: &[String]) -> Result<Vec<OutboundEvent>, String> {
    if words.is_empty() {
        return Err("must name at least one event".to_owned());
    }
    let mut events = Vec::new();
    for word in words {
        if word == "*" {
            events.extend(OutboundEvent::SUBSCRIBABLE);
            continue;
        }
        match OutboundEvent::parse(word) {
            Some(OutboundEvent::Ping) | None => {
                return Err(format!(
                    "`{}` is not an event; use {} or *",
                    word.chars().take(64).collect::<String>(),
                    OutboundEvent::SUBSCRIBABLE
                        .map(OutboundEvent::as_str)
                        .join(", ")
                ));
            }
            Some(event) => events.push(event),
        }
    }
    events.sort();
    events.dedup();
    Ok(events)
}

pub fn check_description(value: &str) -> Result<String, String> {
    if value.chars().count() > MAX_SUBSCRIPTION_DESCRIPTION_CHARS {
        return Err(format!(
            "must be at most {MAX_SUBSCRIPTION_DESCRIPTION_CHARS} characters"
        ));
    }
    check_text(value, false)?;
    Ok(value.to_owned())
}

/// A subscription as requested, validated.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub url: url::Url,
    pub events: Vec<OutboundEvent>,
    pub description: Option<String>,
    pub active: bool,
}

impl NewSubscription {
    pub fn parse(
        url: &str,
        events: &[String],
        description: Option<&str>,
        active: Option<bool>,
        allow_http: bool,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let url = errors.check("url", check_subscription_url(url, allow_http));
        let events = errors.check("events", check_events(events));
        let description =
            description.and_then(|d| errors.check("description", check_description(d)));
        errors.finish(|| Self {
            url: url.unwrap_or_else(|| unreachable!("checked")),
            events: events.unwrap_or_default(),
            description,
            active: active.unwrap_or(true),
        })
    }
}

/// A repository dispatch as GitHub accepts it: `event_type` 1-100 characters, and
/// `client_payload` an object of at most 10 top-level properties.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub event_type: String,
    pub client_payload: serde_json::Map<String, serde_json::Value>,
}

impl Dispatch {
    pub fn parse(
        event_type: &str,
        client_payload: Option<&serde_json::Value>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let length = event_type.chars().count();
        if length == 0 {
            errors.push("event_type", "is required");
        } else if length > 100 {
            errors.push("event_type", "must be at most 100 characters");
        } else {
            errors.check("event_type", check_text(event_type, false));
        }
        let client_payload = match client_payload {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(map)) => {
                if map.len() > MAX_CLIENT_PAYLOAD_PROPERTIES {
                    errors.push(
                        "client_payload",
                        format!(
                            "must have at most {MAX_CLIENT_PAYLOAD_PROPERTIES} top-level properties"
                        ),
                    );
                }
                map.clone()
            }
            Some(_) => {
                errors.push("client_payload", "must be an object");
                serde_json::Map::new()
            }
        };
        errors.finish(|| Self {
            event_type: event_type.to_owned(),
            client_payload,
        })
    }
}

/// Whether a delivery may connect to `ip`: not loopback, private, link-local (which holds
/// the cloud metadata address 169.254.169.254), unique-local (fd00:ec2::254), shared
/// (100.64.0.0/10), unspecified, broadcast, multicast, documentation or reserved space, and
/// not such an IPv4 address inside IPv6 (mapped, compatible, NAT64, 6to4).
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT; Alibaba's metadata 100.100.100.200).
        || (a == 100 && (64..=127).contains(&b))
        // IETF protocol assignments.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking.
        || (a == 198 && (18..=19).contains(&b))
        // Reserved (240.0.0.0/4).
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) embed an IPv4 address.
    if segments[..6] == [0, 0, 0, 0, 0, 0] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        if ip.is_loopback() || ip.is_unspecified() {
            return false;
        }
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    // 6to4 (2002::/16) embeds one too.
    if segments[0] == 0x2002 {
        let [a, b] = segments[1].to_be_bytes();
        let [c, d] = segments[2].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local (fc00::/7).
        || (segments[0] & 0xfe00) == 0xfc00
        // Link-local (fe80::/10) and the old site-local (fec0::/10).
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
        // Documentation (2001:db8::/32).
        || (segments[0] == 0x2001 && segments[1] == 0x0db8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_refused() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = refused.parse().expect("an address");
            assert!(!is_public_address(ip), "{refused} must be refused");
        }
        for allowed in ["140.82.112.3", "1.1.1.1", "2606:4700:4700::1111"] {
            let ip: IpAddr = allowed.parse().expect("an address");
            assert!(is_public_address(ip), "{allowed} must be allowed");
        }
    }

    #[test]
    fn urls_events_and_dispatches() {
        assert!(check_subscription_url("https://example.com/hook", false).is_ok());
        assert!(check_subscription_url("http://example.com/hook", false).is_err());
        assert!(check_subscription_url("http://127.0.0.1:9/hook", true).is_ok());
        assert!(check_subscription_url("https://u:p@example.com/", false).is_err());
        assert!(check_subscription_url("ftp://example.com/", true).is_err());
        assert_eq!(
            check_events(&["incident".into(), "deployment".into(), "incident".into()]),
            Ok(vec![OutboundEvent::Deployment, OutboundEvent::Incident])
        );
        assert_eq!(check_events(&["*".into()]).map(|e| e.len()), Ok(5));
        assert!(check_events(&["ping".into()]).is_err());
        assert!(check_events(&[]).is_err());
        let eleven: serde_json::Map<_, _> = (0..11)
            .map(|i| (format!("k{i}"), serde_json::Value::from(i)))
            .collect();
        assert!(Dispatch::parse("x", Some(&serde_json::Value::Object(eleven))).is_err());
        assert!(Dispatch::parse("", None).is_err());
        assert!(Dispatch::parse(&"x".repeat(101), None).is_err());
        assert!(Dispatch::parse("deploy", Some(&serde_json::json!([1]))).is_err());
        assert!(Dispatch::parse("deploy", Some(&serde_json::json!({"a": 1}))).is_ok());
    }
}
