//! Logging: tracing subscriber set-up and a one-line access log per request. The log
//! names the path with anything secret-looking (deploy-hook tokens) redacted.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response};
use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber; `filter` uses `RUST_LOG` syntax.
pub fn init(filter: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("RUST_LOG (--log): {e}"))?;
    fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| e.to_string())
}

/// `/hooks/<secret>/…` → `/hooks/[redacted]/…`.
pub fn redact_path(path: &str) -> String {
    match path.strip_prefix("/hooks/") {
        Some(rest) => match rest.split_once('/') {
            Some((_, tail)) => format!("/hooks/[redacted]/{tail}"),
            None => "/hooks/[redacted]".to_owned(),
        },
        None => path.to_owned(),
    }
}

pub async fn access_log<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let method = req.method().clone();
    let path = redact_path(req.uri().path());
    let started = Instant::now();
    let resp = ep.call(req).await?.into_response();
    let status = resp.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(%method, %path, status, elapsed_ms, "request");
    } else {
        tracing::debug!(%method, %path, status, elapsed_ms, "request");
    }
    Ok(resp)
}
