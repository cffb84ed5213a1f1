//! `GET /metrics`: the Prometheus text exposition format. Optionally protected by a static
//! bearer token (`DORA_METRICS_TOKEN`), compared in constant time. Never rate limited.

use poem::{
    IntoResponse, Response, handler,
    http::{StatusCode, header},
    web::Data,
};
use subtle::ConstantTimeEq;

use crate::{error::ApiError, snapshot::DoraSnapshot, state::AppState, telemetry::ServiceMetrics};

/// The configured scrape token, if any.
#[derive(Clone)]
pub struct MetricsToken(pub Option<String>);

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[handler]
pub async fn scrape(
    req: &poem::Request,
    state: Data<&AppState>,
    metrics: Data<&ServiceMetrics>,
    snapshot: Data<&DoraSnapshot>,
    token: Data<&MetricsToken>,
) -> Response {
    if let Some(expected) = &token.0.0 {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            return ApiError::unauthorized("/metrics needs the configured bearer token")
                .into_response();
        }
    }
    let (families, encoded) = snapshot.current();
    match metrics.render(&state.db, families, &encoded) {
        Ok(body) => Response::builder()
            .status(StatusCode::OK)
            .content_type(CONTENT_TYPE)
            .body(body),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
