//! `GET /metrics`: the Prometheus text exposition format. Optionally protected by a static
//! bearer token (`DORA_METRICS_TOKEN`), compared in constant time. Never rate limited.

use poem::{
    Response, handler,
    http::{StatusCode, header},
    web::Data,
};
use subtle::ConstantTimeEq;

use crate::http::{error::Failure, state::AppState};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[handler]
pub async fn scrape(req: &poem::Request, state: Data<&AppState>) -> Response {
    use poem::error::ResponseError;
    if let Some(expected) = &state.metrics_token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(expected.expose().as_bytes())) {
            return Failure::unauthorized("/metrics needs the configured bearer token")
                .as_response();
        }
    }
    let (families, encoded) = state.snapshot.current();
    match state
        .service_metrics
        .render(&state.core.db, families, &encoded)
    {
        Ok(body) => Response::builder()
            .status(StatusCode::OK)
            .content_type(CONTENT_TYPE)
            .body(body),
        Err(e) => Failure::internal(e).as_response(),
    }
}
