//! A one-line access log per request (paths of secret-bearing routes redacted), and the
//! Prometheus metrics of the HTTP service (`http_requests_total`,
//! `http_request_duration_seconds`, database pool gauges, build info) in a registry of the
//! app's own.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, PathPattern, Request, Response};
use poem_openapi::OperationId;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::store::Db;

/// The service's own Prometheus metrics. Labels are bounded: method, route template
/// (never the raw path) and status code.
#[derive(Clone)]
pub struct ServiceMetrics {
    /// OpenAPI operation id → its path template as the spec writes it (`/x/{id}`).
    routes: std::sync::Arc<std::collections::HashMap<String, String>>,
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    pool_connections: IntGaugeVec,
    webhook_deliveries: IntCounterVec,
}

impl ServiceMetrics {
    /// `spec_json` is the OpenAPI document, whose path templates become route labels.
    pub fn new(spec_json: &str) -> Result<Self, prometheus::Error> {
        let mut routes = std::collections::HashMap::new();
        if let Ok(spec) = serde_json::from_str::<serde_json::Value>(spec_json)
            && let Some(paths) = spec["paths"].as_object()
        {
            for (path, operations) in paths {
                for operation in operations.as_object().into_iter().flat_map(|o| o.values()) {
                    if let Some(id) = operation["operationId"].as_str() {
                        routes.insert(id.to_owned(), path.clone());
                    }
                }
            }
        }
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route template",
            ),
            &["method", "route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer HTTP requests, by route template",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "dora_db_pool_connections",
                "Database pool connections by pool (read/write) and state (idle/in_use)",
            ),
            &["pool", "state"],
        )?;
        let build_info = IntGauge::with_opts(
            Opts::new(
                "dora_build_info",
                "Build information; the value is always 1",
            )
            .const_label("version", env!("CARGO_PKG_VERSION")),
        )?;
        build_info.set(1);
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "dora_webhook_deliveries_total",
                "Webhook deliveries received, by source, event type and result",
            ),
            &["source", "event", "result"],
        )?;
        registry.register(Box::new(build_info))?;
        registry.register(Box::new(webhook_deliveries.clone()))?;
        Ok(Self {
            routes: std::sync::Arc::new(routes),
            registry,
            requests,
            duration,
            pool_connections,
            webhook_deliveries,
        })
    }

    /// Counts a webhook delivery. `event` must come from a fixed list (the adapter maps every
    /// other event type to `other`), so the series stay bounded.
    pub fn webhook_delivery(&self, source: &str, event: &str, result: &str) {
        self.webhook_deliveries
            .with_label_values(&[source, event, result])
            .inc();
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, itoa_status(status)])
            .inc();
        self.duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Renders the text exposition format: the service metrics (pool gauges read now), the
    /// `extra` families, then `encoded`: families already in the text format (the DORA
    /// snapshot; its names must not repeat any of the others).
    pub fn render(
        &self,
        db: &Db,
        extra: Vec<prometheus::proto::MetricFamily>,
        encoded: &[u8],
    ) -> Result<Vec<u8>, prometheus::Error> {
        for (pool, stats) in db.pool_stats() {
            self.pool_connections
                .with_label_values(&[pool, "idle"])
                .set(stats.idle);
            self.pool_connections
                .with_label_values(&[pool, "in_use"])
                .set(stats.size - stats.idle);
        }
        let mut families = self.registry.gather();
        families.extend(extra);
        let mut out = Vec::with_capacity(encoded.len() + 16 * 1024);
        TextEncoder::new().encode(&families, &mut out)?;
        out.extend_from_slice(encoded);
        Ok(out)
    }
}

/// Status codes as label values without allocating for the common ones.
fn itoa_status(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// Routes whose path carries a secret: the segments of the route's prefix, then the secret
/// as the next segment. Every logged path is checked against this table; a new secret-bearing
/// route adds its row here.
const SECRET_ROUTES: &[&[&str]] = &[
    // `/hooks/{secret}`, `/hooks/{secret}/{pr_number}/{commit_sha}`: the deploy-hook trigger
    // URL's secret is its only credential.
    &["hooks"],
];

/// The path as it is logged: when it names a secret-bearing route, in its normalized form
/// (percent-decoded, empty and `.` segments dropped, `..` applied, `\` read as `/`) with
/// the secret replaced by `[redacted]`; otherwise as received. Normalizing first means no
/// spelling of the same route (`//hooks/S`, `/hooks//S`, `/./hooks/S`, `/%68ooks/S`,
/// `/x/../hooks/S`, `/hooks%2FS`) gets its secret into the log.
pub fn redact_path(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let secret_at = SECRET_ROUTES.iter().find_map(|prefix| {
        let matches = segments.len() > prefix.len()
            && prefix
                .iter()
                .zip(&segments)
                .all(|(p, s)| p.eq_ignore_ascii_case(s));
        matches.then_some(prefix.len())
    });
    match secret_at {
        Some(i) => {
            let mut out = String::new();
            for (n, segment) in segments.iter().enumerate() {
                out.push('/');
                out.push_str(if n == i { "[redacted]" } else { segment });
            }
            out
        }
        None => path.to_owned(),
    }
}

/// Access log and request metrics. Must wrap `error::render_errors`, so every outcome
/// arrives here as a response.
pub async fn access_log<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let method = req.method().clone();
    let path = redact_path(req.uri().path());
    let metrics = req
        .data::<super::state::AppState>()
        .map(|s| s.service_metrics.clone());
    let started = Instant::now();
    let resp = ep.call(req).await?.into_response();
    let status = resp.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(metrics) = metrics {
        // The OpenAPI path template, else poem's route pattern; unmatched paths share one
        // label value, so scanners cannot grow the series.
        let route = resp
            .data::<OperationId>()
            .and_then(|id| metrics.routes.get(id.0).map(String::as_str))
            .or_else(|| resp.data::<PathPattern>().map(|p| p.0.as_ref()))
            .filter(|r| !r.is_empty())
            .unwrap_or("unmatched");
        metrics.observe(method.as_str(), route, status, elapsed);
    }
    let elapsed_ms = elapsed * 1000.0;
    if status >= 500 {
        tracing::warn!(%method, %path, status, elapsed_ms, "request");
    } else {
        tracing::debug!(%method, %path, status, elapsed_ms, "request");
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::redact_path;

    #[test]
    fn every_spelling_of_a_hook_url_is_redacted() {
        for path in [
            "/hooks/SECRET",
            "//hooks/SECRET",
            "/hooks//SECRET",
            "/./hooks/SECRET",
            "/hooks/./SECRET",
            "/x/../hooks/SECRET",
            "/%68ooks/SECRET",
            "/hooks%2FSECRET",
            "\\hooks\\SECRET",
            "/hooks/%53ECRET",
        ] {
            assert_eq!(redact_path(path), "/hooks/[redacted]", "{path}");
        }
        assert_eq!(
            redact_path("//hooks/SECRET/12/abc"),
            "/hooks/[redacted]/12/abc"
        );
        assert_eq!(redact_path("/HOOKS/SECRET"), "/HOOKS/[redacted]");
        assert_eq!(redact_path("/hooks"), "/hooks");
        assert_eq!(redact_path("/api/v1/deployments"), "/api/v1/deployments");
        assert_eq!(
            redact_path("/api/v1/deploy-hooks/x"),
            "/api/v1/deploy-hooks/x"
        );
    }
}
