//! `/api/v1/trust-policies`: which CI identity tokens (OIDC) act for the organization
//! (scope `admin`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    core::{self, trust_policies::PolicyRecord},
    domain::{NewTrustPolicy, RawTrustPolicy},
    http::{
        ApiTags, body::JsonBody, error::ApiError, extract::BearerAuth, parse_id, state::AppState,
    },
};

/// A trust policy to create.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct TrustPolicyIn {
    /// Unique in the organization, e.g. `github-web-main`.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// The tokens' `iss`, exactly: `https://token.actions.githubusercontent.com` (GitHub
    /// Actions), `https://gitlab.com` (GitLab.com) or your GitLab's URL. Must be https.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub issuer: String,
    /// The `aud` the token must carry, e.g. `dora-tracker`.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub audience: String,
    /// Claim name -> value. Every condition must hold. A value with `*` (any run of
    /// characters, `/` included) or `?` (one character) is a glob, otherwise exact. E.g.
    /// `{"repository_owner": "acme", "ref": "refs/heads/main"}`.
    pub conditions: BTreeMap<String, String>,
    /// What admitted tokens may do: `ingest`, `read`, `admin`.
    #[oai(validator(min_items = 1, max_items = 3))]
    pub scopes: Vec<String>,
    /// The claim naming the one repository a token may write for: `repository` (GitHub),
    /// `project_path` (GitLab).
    #[oai(validator(min_length = 1, max_length = 128))]
    pub repository_claim: String,
    /// The host that repository is on; default `github.com` for GitHub Actions' issuer, else
    /// the issuer's host.
    #[oai(validator(min_length = 1, max_length = 255))]
    #[oai(nullable)]
    pub repository_host: Option<String>,
}

/// A trust policy.
#[derive(Debug, Clone, Object)]
pub struct TrustPolicy {
    pub id: Uuid,
    pub name: String,
    pub issuer: String,
    pub audience: String,
    pub conditions: BTreeMap<String, String>,
    pub scopes: Vec<String>,
    pub repository_claim: String,
    pub repository_host: String,
    /// The `sub` of the admin who created it.
    #[oai(nullable)]
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TrustPolicy {
    fn from_record(record: &PolicyRecord) -> Self {
        Self {
            id: record.id,
            name: record.name.clone(),
            issuer: record.issuer.clone(),
            audience: record.audience.clone(),
            conditions: record.conditions.clone(),
            scopes: record
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            repository_claim: record.repository_claim.clone(),
            repository_host: record.repository_host.clone(),
            created_by: record.created_by.clone(),
            created_at: record.created_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct TrustPolicyList {
    pub items: Vec<TrustPolicy>,
}

#[derive(ApiResponse)]
pub enum CreatePolicyResponse {
    #[oai(status = 201)]
    Created(Json<TrustPolicy>, #[oai(header = "Location")] String),
}

#[derive(Default)]
pub struct TrustPoliciesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::TrustPolicies")]
impl TrustPoliciesApi {
    /// Create a trust policy
    ///
    /// Needs the `admin` scope, on a credential not limited to repositories. From then on a
    /// bearer token of `issuer` (verified with the issuer's published keys, RS256 or ES256)
    /// whose `aud` is `audience` and whose claims satisfy every condition acts for this
    /// organization with `scopes`, writing only for the repository its `repository_claim`
    /// names.
    #[oai(
        path = "/trust-policies",
        method = "post",
        operation_id = "createTrustPolicy"
    )]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<TrustPolicyIn>,
    ) -> Result<CreatePolicyResponse, ApiError> {
        let b = &body.value;
        let new = NewTrustPolicy::parse(
            RawTrustPolicy {
                name: &b.name,
                issuer: &b.issuer,
                audience: &b.audience,
                conditions: &b.conditions,
                scopes: b.scopes.iter().map(String::as_str).collect(),
                repository_claim: &b.repository_claim,
                repository_host: b.repository_host.as_deref(),
            },
            state.core.credentials.settings.oidc_allow_http_loopback,
        )
        .map_err(core::Error::from)?;
        let record = core::trust_policies::create(&state.core, &auth.0, new).await?;
        let location = format!("/api/v1/trust-policies/{}", record.id);
        Ok(CreatePolicyResponse::Created(
            Json(TrustPolicy::from_record(&record)),
            location,
        ))
    }

    /// List trust policies
    #[oai(
        path = "/trust-policies",
        method = "get",
        operation_id = "listTrustPolicies"
    )]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<TrustPolicyList>, ApiError> {
        let records = core::trust_policies::list(&state.core, &auth.0).await?;
        Ok(Json(TrustPolicyList {
            items: records.iter().map(TrustPolicy::from_record).collect(),
        }))
    }

    /// Get a trust policy
    #[oai(
        path = "/trust-policies/:id",
        method = "get",
        operation_id = "getTrustPolicy"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<TrustPolicy>, ApiError> {
        let id = parse_id(&id, "trust policy")?;
        let record = core::trust_policies::get(&state.core, &auth.0, id).await?;
        Ok(Json(TrustPolicy::from_record(&record)))
    }

    /// Delete a trust policy
    ///
    /// Answers the deleted policy. Tokens it admitted are refused from then on (within
    /// `DORA_TOKEN_CACHE_SECONDS` on other instances).
    #[oai(
        path = "/trust-policies/:id",
        method = "delete",
        operation_id = "deleteTrustPolicy"
    )]
    async fn delete(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<TrustPolicy>, ApiError> {
        let id = parse_id(&id, "trust policy")?;
        let record = core::trust_policies::delete(&state.core, &auth.0, id).await?;
        Ok(Json(TrustPolicy::from_record(&record)))
    }
}
