//! `/api/v1/tokens`: API tokens as records (scope `admin`). A token's JWT appears once, in
//! the creation response; its record (never the JWT) is listed and revoked here.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    core::{self, tokens::TokenRecord},
    domain::{NewToken, RawToken},
    http::{
        ApiTags, body::JsonBody, error::ApiError, extract::BearerAuth, parse_id, state::AppState,
    },
};

/// A token to mint.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    /// What the token is for, e.g. `ci-web`; also its `sub` claim.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// `ingest`, `read`, `admin` (admin implies the others).
    #[oai(validator(min_items = 1, max_items = 3))]
    pub scopes: Vec<String>,
    /// Lifetime, e.g. `90d`, `12h`, `30m`, `2w` (default `90d`, at most 10 years).
    #[oai(validator(min_length = 2, max_length = 16))]
    #[oai(nullable)]
    pub ttl: Option<String>,
    /// Limit writes (deployments, statuses, incidents, hooks) to these repositories, in any
    /// URL spelling; reads are not limited. Leave out for every repository.
    #[oai(validator(min_items = 1, max_items = 100))]
    #[oai(nullable)]
    pub repositories: Option<Vec<String>>,
}

impl TokenIn {
    fn validate(&self) -> Result<NewToken, core::Error> {
        Ok(NewToken::parse(RawToken {
            name: &self.name,
            subject: None,
            scopes: self.scopes.iter().map(String::as_str).collect(),
            ttl: self.ttl.as_deref(),
            repositories: self
                .repositories
                .as_ref()
                .map(|list| list.iter().map(String::as_str).collect()),
        })?)
    }
}

/// A token's record. The token itself is never shown again after creation.
#[derive(Debug, Clone, Object)]
pub struct Token {
    /// The token's id: its `jti` claim.
    pub id: Uuid,
    pub name: String,
    /// The token's `sub` claim.
    pub subject: String,
    pub scopes: Vec<String>,
    /// Repository keys (e.g. `github.com/acme/web`) the token may write for; `null`: every
    /// repository.
    #[oai(nullable)]
    pub repositories: Option<Vec<String>>,
    /// The `sub` of the admin who created it; `null` when made with `dora-tracker token issue`.
    #[oai(nullable)]
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set once revoked: the token answers 401 from then on.
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the token was last used, to within a minute.
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Token {
    pub fn from_record(record: &TokenRecord) -> Self {
        Self {
            id: record.id,
            name: record.name.clone(),
            subject: record.subject.clone(),
            scopes: record
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            repositories: record.repositories.clone(),
            created_by: record.created_by.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
            last_used_at: record.last_used_at,
        }
    }
}

/// A token just minted: the only response that shows it.
#[derive(Debug, Clone, Object)]
pub struct CreatedToken {
    #[oai(flatten)]
    pub record: Token,
    /// The JWT, for `Authorization: Bearer <token>`. Shown once: store it now.
    pub token: String,
}

#[derive(Debug, Clone, Object)]
pub struct TokenList {
    pub items: Vec<Token>,
}

#[derive(ApiResponse)]
pub enum CreateTokenResponse {
    /// Created. The token appears in this response only.
    #[oai(status = 201)]
    Created(
        Json<CreatedToken>,
        #[oai(header = "Location")] String,
        /// `no-store`: the body holds the token.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(Default)]
pub struct TokensApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Tokens")]
impl TokensApi {
    /// Create a token
    ///
    /// Needs the `admin` scope. The response carries the token (a JWT whose `jti` is the
    /// record's id); it is never shown again. A token limited to `repositories` may write
    /// only for those (403 otherwise). A credential that is itself limited to repositories
    /// may only create tokens limited to some of its own.
    #[oai(path = "/tokens", method = "post", operation_id = "createToken")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<TokenIn>,
    ) -> Result<CreateTokenResponse, ApiError> {
        let input = body.value.validate()?;
        let issued = core::tokens::create(&state.core, &auth.0, input).await?;
        let location = format!("/api/v1/tokens/{}", issued.record.id);
        Ok(CreateTokenResponse::Created(
            Json(CreatedToken {
                record: Token::from_record(&issued.record),
                token: issued.token,
            }),
            location,
            "no-store".to_owned(),
        ))
    }

    /// List tokens
    ///
    /// Needs the `admin` scope. Oldest first, revoked and expired ones included; never the
    /// tokens themselves.
    #[oai(path = "/tokens", method = "get", operation_id = "listTokens")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<TokenList>, ApiError> {
        let records = core::tokens::list(&state.core, &auth.0).await?;
        Ok(Json(TokenList {
            items: records.iter().map(Token::from_record).collect(),
        }))
    }

    /// Get a token's record
    #[oai(path = "/tokens/:id", method = "get", operation_id = "getToken")]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<Token>, ApiError> {
        let id = parse_id(&id, "token")?;
        let record = core::tokens::get(&state.core, &auth.0, id).await?;
        Ok(Json(Token::from_record(&record)))
    }

    /// Revoke a token
    ///
    /// Needs the `admin` scope. Answers the record with `revoked_at` set. The token answers
    /// 401 from then on: at once on the instance that revoked it, within
    /// `DORA_TOKEN_CACHE_SECONDS` (10 s by default) on the others. Revoking twice changes
    /// nothing.
    #[oai(path = "/tokens/:id", method = "delete", operation_id = "revokeToken")]
    async fn revoke(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<Token>, ApiError> {
        let id = parse_id(&id, "token")?;
        let record = core::tokens::revoke(&state.core, &auth.0, id).await?;
        Ok(Json(Token::from_record(&record)))
    }
}
