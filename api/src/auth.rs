//! Token logic: signing keys, claims, scopes and the principal a request acts as. Our own
//! tokens are HS256 only; `org`, `scope`, `exp`, `iss` and `aud` are required, `nbf` is
//! honoured, and `jti` (tokens minted since token records exist) names the stored record that
//! can revoke it. CI identity tokens of other issuers are verified by [`oidc`]. The
//! organization (tenant) comes from the token, never from a request body. Nothing here knows
//! HTTP or the application state: `http::extract` reads the header, `core::tokens` and
//! `core::trust_policies` resolve records and policies.

pub mod oidc;

use std::{
    collections::HashSet,
    fs,
    io::Write,
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::domain::{Scope, parse_scopes};
use crate::domain::{Secret, scope_string};

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
    /// The id of the token's record (a uuid). Tokens minted before records existed have
    /// none: they are accepted until they expire but cannot be revoked one by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// Who is calling: the organization and what the token allows.
#[derive(Debug, Clone)]
pub struct Principal {
    pub organization_id: Uuid,
    pub organization: String,
    pub subject: Option<String>,
    pub scopes: HashSet<Scope>,
    /// The repository keys (`github.com/acme/web`) this principal may write for; `None`:
    /// every repository of the organization. Reads are never restricted.
    pub repositories: Option<Vec<String>>,
}

/// A valid token without the scope an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this token lacks the `{}` scope", .0.as_str())]
pub struct MissingScope(pub Scope);

/// A valid credential limited to other repositories than the one a write is for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RepositoryDenied(pub String);

impl Principal {
    /// `admin` implies every other scope.
    pub fn require(&self, scope: Scope) -> Result<(), MissingScope> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(MissingScope(scope))
        }
    }

    /// Whether the principal has `scope` (`admin` implies every other scope).
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// Whether the principal may write for the repository with this key.
    pub fn may_write(&self, repository_key: &str) -> bool {
        self.repositories
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| k == repository_key))
    }

    /// [`may_write`](Self::may_write) as an error; `None` is a write for no repository
    /// (an incident that names none), which only an unrestricted principal may make.
    pub fn require_write(&self, repository_key: Option<&str>) -> Result<(), RepositoryDenied> {
        match (repository_key, &self.repositories) {
            (_, None) => Ok(()),
            (Some(key), Some(_)) if self.may_write(key) => Ok(()),
            (Some(key), Some(keys)) => Err(RepositoryDenied(format!(
                "this credential may write only for {}; not for {key}",
                keys.join(", ")
            ))),
            (None, Some(keys)) => Err(RepositoryDenied(format!(
                "this credential may write only for {}: name one of them",
                keys.join(", ")
            ))),
        }
    }

    /// Refuses something a repository-restricted principal may not do (`what`).
    pub fn restricted(&self, what: &str) -> RepositoryDenied {
        RepositoryDenied(format!(
            "this credential may write only for {}: it may not {what}",
            self.repositories.as_deref().unwrap_or_default().join(", ")
        ))
    }

    /// Whether every repository `other` may write for is one this principal may write for.
    pub fn covers(&self, other: Option<&[String]>) -> bool {
        match (&self.repositories, other) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(keys)) => keys.iter().all(|k| self.may_write(k)),
        }
    }
}

/// Checks an HS256 secret's length.
pub fn check_secret(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_SECRET_BYTES {
        Err(format!(
            "is {} bytes; it must be at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)",
            secret.len()
        ))
    } else {
        Ok(())
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
    /// Keys for `secret` (see [`check_secret`]) requiring `issuer` and `audience`.
    pub fn new(secret: &Secret, issuer: &str, audience: &str) -> Result<Self, String> {
        let secret = secret.expose().as_bytes();
        check_secret(secret)?;
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

    /// Verifies a token: its signature, algorithm and every required claim.
    pub fn verify(&self, token: &str) -> Result<Verified, InvalidToken> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| InvalidToken(describe_jwt_error(&e)))?;
        let scopes = parse_scopes(&claims.scope)
            .map_err(|e| InvalidToken(format!("scope: {e}")))?
            .into_iter()
            .collect();
        if crate::domain::validate_slug(&claims.org).is_err() {
            return Err(InvalidToken(
                "org is not a valid organization slug".to_owned(),
            ));
        }
        let token_id = claims
            .jti
            .as_deref()
            .map(|jti| {
                Uuid::parse_str(jti).map_err(|_| InvalidToken("jti is not a token id".to_owned()))
            })
            .transpose()?;
        Ok(Verified {
            organization: claims.org,
            subject: claims.sub,
            scopes,
            token_id,
        })
    }

    /// Whether `token` claims to be one of ours (its unverified `iss` is our issuer), so
    /// [`verify`](Self::verify) decides; any other token can only be a CI identity token.
    pub fn claims_to_be_ours(&self, token: &str) -> bool {
        #[derive(Deserialize)]
        struct Iss {
            iss: Option<serde_json::Value>,
        }
        match jsonwebtoken::dangerous::insecure_decode::<Iss>(token) {
            Ok(data) => match data.claims.iss {
                Some(serde_json::Value::String(iss)) => iss == self.issuer,
                // No or a non-string issuer: ours refuses it with the reason.
                _ => true,
            },
            Err(_) => true,
        }
    }

    /// Signs the token of record `token_id`: it expires at `expires_at` (Unix seconds).
    pub fn issue_record(
        &self,
        org: &str,
        scopes: &[Scope],
        subject: &str,
        token_id: Uuid,
        issued_at: u64,
        expires_at: u64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            org: org.to_owned(),
            scope: scope_string(scopes),
            sub: Some(subject.to_owned()),
            exp: expires_at,
            iat: Some(issued_at),
            nbf: Some(issued_at),
            iss: self.issuer.clone(),
            aud: serde_json::Value::String(self.audience.clone()),
            jti: Some(token_id.to_string()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Signs a token without a record (`jti`): valid until it expires, not revocable on its
    /// own. The service mints records ([`issue_record`](Self::issue_record)); this remains
    /// for tests and tools.
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
            scope: scope_string(scopes),
            sub: Some(subject.to_owned()),
            exp: now + ttl.as_secs(),
            iat: Some(now),
            nbf: Some(now),
            iss: self.issuer.clone(),
            aud: serde_json::Value::String(self.audience.clone()),
            jti: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }
}

/// A token that verified: who it is for and what it allows (the organization is still a
/// slug; `core::tenants` resolves it).
#[derive(Debug, Clone)]
pub struct Verified {
    pub organization: String,
    pub subject: Option<String>,
    pub scopes: HashSet<Scope>,
    /// The token's record (`jti`); `None` for tokens minted before records existed.
    pub token_id: Option<Uuid>,
}

/// Why a token was refused (safe to show the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid token: {0}")]
pub struct InvalidToken(pub String);

/// The secret kept in `path`; `None` when there is no such file. The error says what went
/// wrong with the file.
pub fn load_secret(path: &Path) -> Result<Option<Secret>, String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(Secret::new(text.trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "unset, and the kept secret {} cannot be read: {e}",
            path.display()
        )),
    }
}

/// The secret kept in `path`, made (256 random bits, mode 0600) when there is none. The
/// error says what went wrong with the file.
pub fn load_or_create_secret(path: &Path) -> Result<Secret, String> {
    if let Some(secret) = load_secret(path)? {
        return Ok(secret);
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
            Ok(Secret::new(secret))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            load_secret(path)?.ok_or_else(|| format!("cannot read {}: it vanished", path.display()))
        }
        Err(e) => Err(format!(
            "unset, and a secret cannot be written to {}: {e}",
            path.display()
        )),
    }
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
