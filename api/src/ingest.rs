//! The one core for recording a deployment, shared by the canonical API and every
//! vendor-shaped adapter: scope check, idempotency, one transaction, response.

use chrono::Utc;
use entity::github_deployments;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use sha2::{Digest, Sha256};

use crate::{
    auth::{Principal, Scope},
    domain::{NewDeployment, truncate_micros},
    error::ApiError,
    state::AppState,
    store::{
        self,
        deployments::DeploymentRecord,
        idempotency::{Claim, StoredResponse},
    },
};

/// A created (or replayed) resource.
pub struct Created<T> {
    pub body: T,
    pub location: String,
    /// `Some("true")` when this is a stored response sent again.
    pub replayed: Option<String>,
}

/// Checks an `Idempotency-Key` header value: 1–255 visible ASCII characters.
pub fn check_idempotency_key(key: &str) -> Result<(), ApiError> {
    if !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid-idempotency-key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        ))
    }
}

/// SHA-256 over the operation and the body with object keys sorted, so the same JSON
/// written with another key order or spacing is the same request.
pub fn fingerprint(operation: &str, body: &serde_json::Value) -> String {
    fn canonical(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(key.clone()).to_string());
                    out.push(':');
                    if let Some(v) = map.get(key) {
                        canonical(v, out);
                    }
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::from(operation);
    text.push('\n');
    canonical(body, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Records `new` for the principal's organization (which needs the `ingest` scope).
pub async fn record_deployment<T: ToJSON + ParseFromJSON>(
    state: &AppState,
    principal: &Principal,
    idempotency_key: Option<&str>,
    operation: &str,
    request: &serde_json::Value,
    new: NewDeployment,
    render: impl FnOnce(&DeploymentRecord) -> T,
) -> Result<Created<T>, ApiError> {
    principal.require(Scope::Ingest)?;
    record_for_organization(
        state,
        principal.organization_id,
        idempotency_key,
        operation,
        request,
        new,
        render,
    )
    .await
}

/// Records `new` for an organization whose right to write was already checked (a token's
/// scope, a deploy hook's secret). With an idempotency key, a repeat of the same request
/// answers the stored response and records nothing.
pub async fn record_for_organization<T: ToJSON + ParseFromJSON>(
    state: &AppState,
    org: uuid::Uuid,
    idempotency_key: Option<&str>,
    operation: &str,
    request: &serde_json::Value,
    new: NewDeployment,
    render: impl FnOnce(&DeploymentRecord) -> T,
) -> Result<Created<T>, ApiError> {
    record_with_details(
        state,
        org,
        idempotency_key,
        operation,
        request,
        new,
        None,
        render,
    )
    .await
}

/// `record_deployment` for the GitHub-compatible API: the GitHub-only fields (`details`,
/// whose `deployment_id` is filled in here) are stored in the same transaction.
#[allow(clippy::too_many_arguments)]
pub async fn record_github_deployment<T: ToJSON + ParseFromJSON>(
    state: &AppState,
    principal: &Principal,
    idempotency_key: Option<&str>,
    operation: &str,
    request: &serde_json::Value,
    new: NewDeployment,
    details: github_deployments::Model,
    render: impl FnOnce(&DeploymentRecord) -> T,
) -> Result<Created<T>, ApiError> {
    principal.require(Scope::Ingest)?;
    record_with_details(
        state,
        principal.organization_id,
        idempotency_key,
        operation,
        request,
        new,
        Some(details),
        render,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn record_with_details<T: ToJSON + ParseFromJSON>(
    state: &AppState,
    org: uuid::Uuid,
    idempotency_key: Option<&str>,
    operation: &str,
    request: &serde_json::Value,
    new: NewDeployment,
    details: Option<github_deployments::Model>,
    render: impl FnOnce(&DeploymentRecord) -> T,
) -> Result<Created<T>, ApiError> {
    let now = truncate_micros(Utc::now());
    if let Some(key) = idempotency_key {
        check_idempotency_key(key)?;
        let claim = store::idempotency::claim(
            &state.db,
            org,
            key,
            &fingerprint(operation, request),
            state.idempotency_ttl,
            now,
        )
        .await?;
        match claim {
            Claim::Acquired => {}
            Claim::Replay(stored) => {
                let json: serde_json::Value =
                    serde_json::from_str(&stored.body).map_err(ApiError::internal)?;
                let body = T::parse_from_json(Some(json))
                    .map_err(|e| ApiError::internal(e.into_message()))?;
                return Ok(Created {
                    body,
                    location: stored.location.unwrap_or_default(),
                    replayed: Some("true".to_owned()),
                });
            }
            Claim::InFlight => {
                return Err(ApiError::conflict(
                    "idempotency-key-in-flight",
                    "a request with this Idempotency-Key is still being processed; retry later",
                ));
            }
            Claim::Mismatch => {
                return Err(ApiError::unprocessable(
                    "idempotency-key-reused",
                    "this Idempotency-Key was used with a different request",
                ));
            }
        }
    }
    let result = insert(state, org, idempotency_key, &new, details, now, render).await;
    if result.is_err()
        && let Some(key) = idempotency_key
        && let Err(e) = store::idempotency::release(&state.db, org, key).await
    {
        tracing::warn!(error = %e, "could not release an idempotency key");
    }
    result
}

/// Records `new` for `org` inside a write transaction the caller holds, for adapters that
/// must decide and record atomically (the deploy-hook dedupe rule). No idempotency key:
/// the caller's own rule makes repeats safe.
pub async fn record_in_transaction<C: sea_orm::ConnectionTrait>(
    txn: &C,
    org: uuid::Uuid,
    new: &NewDeployment,
    now: chrono::DateTime<Utc>,
    known: &store::known::Known,
) -> Result<DeploymentRecord, ApiError> {
    Ok(store::deployments::insert(txn, org, new, now, known).await?)
}

#[allow(clippy::too_many_arguments)]
async fn insert<T: ToJSON>(
    state: &AppState,
    org: uuid::Uuid,
    idempotency_key: Option<&str>,
    new: &NewDeployment,
    details: Option<github_deployments::Model>,
    now: chrono::DateTime<Utc>,
    render: impl FnOnce(&DeploymentRecord) -> T,
) -> Result<Created<T>, ApiError> {
    let txn = state.db.begin_write().await?;
    let record = store::deployments::insert(&txn, org, new, now, &state.known).await?;
    if let Some(mut details) = details {
        details.deployment_id = record.deployment.id;
        store::github::insert_details(&txn, details).await?;
    }
    let location = format!("/api/v1/deployments/{}", record.deployment.id);
    let body = render(&record);
    if let Some(key) = idempotency_key {
        let stored = StoredResponse {
            status: 201,
            body: body.to_json_string(),
            location: Some(location.clone()),
        };
        store::idempotency::complete(&txn, org, key, &stored).await?;
    }
    txn.commit().await?;
    record.remember_in(&state.known);
    Ok(Created {
        body,
        location,
        replayed: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_key_order_and_spacing() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"a":1,"b":{"y":2,"x":[1,2]}}"#).unwrap_or_default();
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "b": {"x": [1, 2], "y": 2}, "a": 1 }"#).unwrap_or_default();
        assert_eq!(fingerprint("op", &a), fingerprint("op", &b));
        assert_ne!(fingerprint("op", &a), fingerprint("other", &a));
        let c: serde_json::Value = serde_json::from_str(r#"{"a":2}"#).unwrap_or_default();
        assert_ne!(fingerprint("op", &a), fingerprint("op", &c));
    }
}
