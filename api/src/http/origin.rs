//! The externally visible base URL of the service, for the absolute URLs it hands out (GitHub
//! `url` fields and `Link` headers, deploy-hook URLs). One rule everywhere: `DORA_PUBLIC_URL`
//! when set; otherwise the request's `Host` with the scheme it came in on, and
//! `X-Forwarded-Host`/`X-Forwarded-Proto` only when `DORA_TRUST_FORWARDED_HEADERS` is on
//! (a client could otherwise make the service hand out URLs of its choosing).

use poem::Request;

use crate::http::HttpSettings;

/// `scheme://host[:port][/prefix]`, without a trailing slash; `None` when the request names
/// no usable host.
pub fn base_url(req: &Request, settings: &HttpSettings) -> Option<String> {
    if let Some(url) = &settings.public_url {
        return Some(url.clone());
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or_default().trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let trusted = |name: &str| {
        if settings.trust_forwarded_headers {
            header(name)
        } else {
            None
        }
    };
    let host = trusted("x-forwarded-host")
        .or_else(|| header("host"))
        .or_else(|| req.uri().authority().map(|a| a.to_string()))?;
    // Only a plain host[:port]: never reflect anything else into a URL.
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return None;
    }
    let scheme = match trusted("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        Some("http") => "http",
        _ => req.uri().scheme_str().unwrap_or("http"),
    };
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(public_url: Option<&str>, trust: bool) -> HttpSettings {
        HttpSettings {
            max_body_bytes: 1024,
            public_url: public_url.map(str::to_owned),
            trust_forwarded_headers: trust,
        }
    }

    fn request() -> Request {
        Request::builder()
            .header("host", "dora.internal:8080")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .finish()
    }

    #[test]
    fn forwarded_headers_only_when_trusted() {
        assert_eq!(
            base_url(&request(), &settings(None, false)).as_deref(),
            Some("http://dora.internal:8080")
        );
        assert_eq!(
            base_url(&request(), &settings(None, true)).as_deref(),
            Some("https://evil.example")
        );
    }

    #[test]
    fn the_public_url_wins() {
        assert_eq!(
            base_url(
                &request(),
                &settings(Some("https://dora.example.com"), true)
            )
            .as_deref(),
            Some("https://dora.example.com")
        );
    }

    #[test]
    fn odd_hosts_are_not_reflected() {
        let req = Request::builder().header("host", "a/b@c").finish();
        assert_eq!(base_url(&req, &settings(None, false)), None);
    }
}
