//! Liveness and readiness probes.

use std::time::Duration;

use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::http::{ApiTags, state::AppState};

#[derive(Debug, Object)]
pub struct Health {
    /// `ok`, or what is wrong.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// The database answers.
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// The database does not answer (within 800 ms).
    #[oai(status = 503)]
    NotReady(Json<Health>),
}

/// How long the readiness probe waits for the database.
const READY_WITHIN: Duration = Duration::from_millis(800);

#[derive(Default)]
pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process is up
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<Health> {
        Json(Health {
            status: "ok".to_owned(),
        })
    }

    /// Readiness: the database is reachable
    ///
    /// Answers within a second: a database that does not answer a ping within 800 ms is
    /// not ready (a load balancer should stop sending requests here).
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, state: poem::web::Data<&AppState>) -> ReadyResponse {
        let ping = match tokio::time::timeout(READY_WITHIN, state.core.db.ping()).await {
            Ok(answer) => answer.map_err(|e| e.to_string()),
            Err(_) => Err("no answer within 800 ms".to_owned()),
        };
        match ping {
            Ok(()) => ReadyResponse::Ready(Json(Health {
                status: "ok".to_owned(),
            })),
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                ReadyResponse::NotReady(Json(Health {
                    status: "database unreachable".to_owned(),
                }))
            }
        }
    }
}
