//! Bearer JWT authentication. HS256 only; `org`, `scope`, `exp`, `iss` and `aud` are
//! required, `nbf` is honoured. The organization (tenant) comes from the token, never
//! from a request body.

use std::{
    collections::HashSet,
    fs,
    io::Write,
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use poem::Request;
use poem_openapi::{
    SecurityScheme,
    auth::{ApiKey, Bearer},
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    config::{ConfigError, JwtArgs, secret_file},
    error::ApiError,
    state::AppState,
};

pub const MIN_SECRET_BYTES: usize = 32;

/// The claims dora-tracker issues and requires.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Organization slug: the tenant.
    pub org: String,
    /// Space-separated scopes: `ingest`, `read`, `admin`.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub iss: String,
    /// A string or an array of strings.
    pub aud: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        match word {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// Parses a space- or comma-separated scope list; unknown words are an error.
pub fn parse_scopes(value: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for word in value.split([' ', ',']).filter(|w| !w.is_empty()) {
        let scope = Scope::parse(word)
            .ok_or_else(|| format!("unknown scope `{word}` (use ingest, read, admin)"))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err("at least one scope is required".to_owned());
    }
    Ok(scopes)
}

/// Who is calling: the organization and what the token allows.
#[derive(Debug, Clone)]
pub struct Principal {
    pub organization_id: Uuid,
    pub organization: String,
    pub subject: Option<String>,
    scopes: HashSet<Scope>,
}

impl Principal {
    /// `admin` implies every other scope.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this token lacks the `{}` scope",
                scope.as_str()
            )))
        }
    }
}

/// Signing and verification keys with the required claims.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub issuer: String,
    pub audience: String,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Result<Self, ConfigError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::new(
                "DORA_JWT_SECRET (--jwt-secret)",
                format!(
                    "is {} bytes; it must be at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)",
                    secret.len()
                ),
            ));
        }
        if issuer.trim().is_empty() {
            return Err(ConfigError::new(
                "DORA_JWT_ISSUER (--jwt-issuer)",
                "must not be empty",
            ));
        }
        if audience.trim().is_empty() {
            return Err(ConfigError::new(
                "DORA_JWT_AUDIENCE (--jwt-audience)",
                "must not be empty",
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Uses the configured secret, else the one kept next to the database, else makes one.
    pub fn from_args(args: &JwtArgs, database_url: &str) -> Result<Self, ConfigError> {
        let secret = match &args.jwt_secret {
            Some(secret) => secret.clone().into_bytes(),
            None => load_or_create_secret(&secret_file(database_url))?,
        };
        Self::new(&secret, &args.jwt_issuer, &args.jwt_audience)
    }

    pub fn decode(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims)
    }

    pub fn issue(
        &self,
        org: &str,
        scopes: &[Scope],
        subject: &str,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = Claims {
            org: org.to_owned(),
            scope: scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            sub: Some(subject.to_owned()),
            exp: now + ttl.as_secs(),
            iat: Some(now),
            nbf: Some(now),
            iss: self.issuer.clone(),
            aud: serde_json::Value::String(self.audience.clone()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }
}

fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, ConfigError> {
    const SETTING: &str = "DORA_JWT_SECRET (--jwt-secret)";
    match fs::read_to_string(path) {
        Ok(text) => return Ok(text.trim().as_bytes().to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ConfigError::new(
                SETTING,
                format!(
                    "unset, and the kept secret {} cannot be read: {e}",
                    path.display()
                ),
            ));
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write = options
        .open(path)
        .and_then(|mut file| file.write_all(secret.as_bytes()));
    match write {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a JWT signing secret (mode 0600)");
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => fs::read_to_string(path)
            .map(|t| t.trim().as_bytes().to_vec())
            .map_err(|e| ConfigError::new(SETTING, format!("cannot read {}: {e}", path.display()))),
        Err(e) => Err(ConfigError::new(
            SETTING,
            format!(
                "unset, and a secret cannot be written to {}: {e}",
                path.display()
            ),
        )),
    }
}

/// `Authorization: Bearer <JWT>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "authenticate")]
pub struct BearerAuth(pub Principal);

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    Ok(principal_from_token(state, &bearer.token).await?)
}

/// `Authorization: token <JWT>` (as GitHub clients send it) or `Authorization: Bearer <JWT>`:
/// the same tokens, for the GitHub-compatible API.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "Authorization",
    key_in = "header",
    checker = "authenticate_github"
)]
pub struct GithubAuth(pub Principal);

async fn authenticate_github(req: &Request, key: ApiKey) -> poem::Result<Principal> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let value = key.key.trim();
    let token = match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") =>
        {
            token.trim()
        }
        _ => {
            return Err(ApiError::unauthorized(
                "invalid token: use `Authorization: token <JWT>` or `Authorization: Bearer <JWT>`",
            )
            .into());
        }
    };
    Ok(principal_from_token(state, token).await?)
}

/// Verifies a JWT and resolves its organization.
pub async fn principal_from_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state.jwt.decode(token).map_err(|e| {
        tracing::debug!(error = %e, "token rejected");
        ApiError::unauthorized(format!("invalid token: {}", describe_jwt_error(&e)))
    })?;
    let scopes = parse_scopes(&claims.scope)
        .map_err(|e| ApiError::unauthorized(format!("invalid token: scope: {e}")))?;
    if crate::domain::validate_slug(&claims.org).is_err() {
        return Err(ApiError::unauthorized(
            "invalid token: org is not a valid organization slug",
        ));
    }
    let organization_id = state.organization_id(&claims.org).await?;
    Ok(Principal {
        organization_id,
        organization: claims.org,
        subject: claims.sub,
        scopes: scopes.into_iter().collect(),
    })
}

fn describe_jwt_error(err: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::ExpiredSignature => "expired".to_owned(),
        ErrorKind::ImmatureSignature => "not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => "wrong issuer".to_owned(),
        ErrorKind::InvalidAudience => "wrong audience".to_owned(),
        ErrorKind::InvalidSignature => "bad signature".to_owned(),
        ErrorKind::InvalidAlgorithm => "algorithm not accepted (HS256 only)".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim `{claim}`"),
        ErrorKind::Json(_) => "malformed or missing claims".to_owned(),
        _ => "malformed".to_owned(),
    }
}
