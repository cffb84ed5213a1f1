//! CI identity tokens (OIDC, e.g. GitHub Actions' and GitLab CI's job tokens): verifying one
//! against its issuer's keys, and deciding whether a trust policy admits its claims. Pure:
//! the keys are given (`core::trust` fetches and caches them), and `now` is a parameter.
//!
//! Only RS256 and ES256 are accepted, and the key is chosen by the token's `kid` among the
//! issuer's keys of the matching type, so a token signed with HMAC using the public key as
//! the secret (the "algorithm confusion" attack), `alg: none` or any other algorithm is
//! refused before a signature is checked.

use std::collections::HashSet;

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse},
};
use serde_json::{Map, Value};
use uuid::Uuid;
use wildmatch::WildMatch;

use super::{InvalidToken, Scope};
use crate::domain::repository_key_of_claim;

/// Leeway for `exp`, `nbf` and `iat`: runner clocks drift.
pub const LEEWAY_SECONDS: u64 = 60;
/// Most keys kept of one issuer's key set.
pub const MAX_KEYS: usize = 100;

/// What a token says about itself before anything is verified: only used to find the
/// policies and keys to verify it with.
#[derive(Debug, Clone)]
pub struct Unverified {
    pub issuer: String,
    pub key_id: Option<String>,
    pub algorithm: Algorithm,
}

/// Reads the header and the `iss` claim of a token, refusing every algorithm but RS256
/// and ES256.
pub fn peek(token: &str) -> Result<Unverified, InvalidToken> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| InvalidToken("malformed token or unknown algorithm".to_owned()))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(InvalidToken(format!(
            "algorithm {:?} not accepted for identity tokens (RS256 or ES256 only)",
            header.alg
        )));
    }
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: String,
    }
    let issuer = jsonwebtoken::dangerous::insecure_decode::<Iss>(token)
        .map_err(|_| InvalidToken("malformed claims or no `iss`".to_owned()))?
        .claims
        .iss;
    Ok(Unverified {
        issuer,
        key_id: header.kid,
        algorithm: header.alg,
    })
}

/// The usable signing keys of a JWKS document (`{"keys": [...]}`): keys of unknown types or
/// meant for encryption are left out; at most [`MAX_KEYS`].
pub fn parse_jwks(document: &[u8]) -> Result<Vec<Jwk>, String> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<Value>,
    }
    let set: Set = serde_json::from_slice(document)
        .map_err(|e| format!("the JWKS is not a JSON key set: {e}"))?;
    Ok(set
        .keys
        .into_iter()
        .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
        .filter(|key| {
            matches!(
                key.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            ) && key_algorithm(key).is_some()
        })
        .take(MAX_KEYS)
        .collect())
}

/// The one algorithm a key may verify: RS256 for RSA keys, ES256 for P-256 keys (and what
/// its `alg` says, when it says anything).
fn key_algorithm(key: &Jwk) -> Option<Algorithm> {
    let by_type = match &key.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return None,
    };
    match key.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(_) => None,
    }
}

/// Why a token did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// No key of the issuer has the token's `kid` (the keys may have rotated: refresh them).
    UnknownKey,
    /// Refused, with a reason safe to show.
    Invalid(String),
}

/// The claims of a verified identity token.
#[derive(Debug, Clone)]
pub struct IdClaims(pub Map<String, Value>);

impl IdClaims {
    /// A claim as a string: strings as they are, numbers and booleans as JSON writes them
    /// (GitLab sends `"ref_protected": "true"`, others a boolean); objects, arrays and
    /// missing claims are `None`.
    pub fn text(&self, claim: &str) -> Option<String> {
        match self.0.get(claim)? {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The `aud` claim: a string or an array of strings.
    pub fn audiences(&self) -> Vec<&str> {
        match self.0.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    pub fn subject(&self) -> Option<String> {
        self.text("sub")
    }
}

/// Verifies `token` of `issuer` with the issuer's `keys`: the signature (RS256 or ES256, with
/// the key its `kid` names), `iss`, and `exp`, `nbf` and `iat` with [`LEEWAY_SECONDS`].
/// The audience is the policies' business ([`admit`]).
pub fn verify(token: &str, issuer: &str, keys: &[Jwk], now: u64) -> Result<IdClaims, VerifyError> {
    let invalid = |why: &str| VerifyError::Invalid(why.to_owned());
    let peeked = peek(token).map_err(|e| VerifyError::Invalid(e.0))?;
    let key = match &peeked.key_id {
        Some(kid) => keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
            .ok_or(VerifyError::UnknownKey)?,
        // Without a `kid`, only an issuer with one key of the token's type is unambiguous.
        None => {
            let mut candidates = keys
                .iter()
                .filter(|k| key_algorithm(k) == Some(peeked.algorithm));
            match (candidates.next(), candidates.next()) {
                (Some(key), None) => key,
                _ => return Err(invalid("the token has no `kid` to choose the issuer's key")),
            }
        }
    };
    if key_algorithm(key) != Some(peeked.algorithm) {
        return Err(invalid(
            "the token's algorithm does not match the issuer's key it names",
        ));
    }
    let decoding =
        DecodingKey::from_jwk(key).map_err(|_| invalid("the issuer's key is unusable"))?;
    let mut validation = Validation::new(peeked.algorithm);
    validation.algorithms = vec![peeked.algorithm];
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.leeway = LEEWAY_SECONDS;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation)
        .map_err(|e| VerifyError::Invalid(describe(&e)))?
        .claims;
    match claims.get("iat") {
        Some(Value::Number(iat)) => {
            let iat = iat.as_f64().unwrap_or(f64::MAX);
            if iat > (now + LEEWAY_SECONDS) as f64 {
                return Err(invalid("issued in the future (iat)"));
            }
        }
        Some(_) => return Err(invalid("`iat` is not a number")),
        None => return Err(invalid("missing claim `iat`")),
    }
    Ok(IdClaims(claims))
}

fn describe(err: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::ExpiredSignature => "expired".to_owned(),
        ErrorKind::ImmatureSignature => "not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => "wrong issuer".to_owned(),
        ErrorKind::InvalidSignature => "bad signature".to_owned(),
        ErrorKind::InvalidAlgorithm => "algorithm not accepted (RS256 or ES256 only)".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim `{claim}`"),
        ErrorKind::InvalidClaimFormat(claim) => format!("malformed claim `{claim}`"),
        _ => "malformed token".to_owned(),
    }
}

/// A trust policy as verification needs it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub organization: String,
    pub name: String,
    pub audience: String,
    /// Claim name -> exact value or glob.
    pub conditions: Vec<(String, String)>,
    pub scopes: Vec<Scope>,
    pub repository_claim: String,
    pub repository_host: String,
}

/// Whether `policy` admits `claims`: the audience is the policy's, every condition holds,
/// and the repository claim names a repository. Answers that repository's key, or why not.
pub fn admit(policy: &Policy, claims: &IdClaims) -> Result<String, String> {
    if !claims.audiences().contains(&policy.audience.as_str()) {
        return Err(format!("the audience is not `{}`", policy.audience));
    }
    for (claim, pattern) in &policy.conditions {
        let value = claims
            .text(claim)
            .ok_or_else(|| format!("the token has no claim `{claim}`"))?;
        if !condition_holds(pattern, &value) {
            return Err(format!("`{claim}` does not match `{pattern}`"));
        }
    }
    let value = claims.text(&policy.repository_claim).ok_or_else(|| {
        format!(
            "the token has no repository claim `{}`",
            policy.repository_claim
        )
    })?;
    repository_key_of_claim(&policy.repository_host, &value)
        .map_err(|e| format!("repository claim `{}` {e}", policy.repository_claim))
}

/// A condition is an exact value, or a glob when it has `*` (any run of characters,
/// `/` included) or `?` (one character).
pub fn condition_holds(pattern: &str, value: &str) -> bool {
    if pattern.contains(['*', '?']) {
        WildMatch::new(pattern).matches(value)
    } else {
        pattern == value
    }
}

/// What the admitting policies grant together: one organization, the union of their scopes,
/// and the repositories their claims name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub organization_id: Uuid,
    pub organization: String,
    pub scopes: HashSet<Scope>,
    pub repositories: Vec<String>,
}

/// Combines the admitting policies (with the repository each admitted); policies of several
/// organizations admitting one token are refused, because a token must act for one.
pub fn grant(admitted: &[(&Policy, String)]) -> Result<Grant, String> {
    let Some((first, _)) = admitted.first() else {
        return Err("no trust policy admits this token".to_owned());
    };
    if admitted
        .iter()
        .any(|(p, _)| p.organization_id != first.organization_id)
    {
        return Err(
            "trust policies of several organizations admit this token; narrow their conditions"
                .to_owned(),
        );
    }
    let mut repositories: Vec<String> = admitted.iter().map(|(_, r)| r.clone()).collect();
    repositories.sort();
    repositories.dedup();
    Ok(Grant {
        organization_id: first.organization_id,
        organization: first.organization.clone(),
        scopes: admitted
            .iter()
            .flat_map(|(p, _)| p.scopes.iter().copied())
            .collect(),
        repositories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(conditions: &[(&str, &str)]) -> Policy {
        Policy {
            id: Uuid::nil(),
            organization_id: Uuid::nil(),
            organization: "acme".to_owned(),
            name: "gha".to_owned(),
            audience: "dora-tracker".to_owned(),
            conditions: conditions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            scopes: vec![Scope::Ingest],
            repository_claim: "repository".to_owned(),
            repository_host: "github.com".to_owned(),
        }
    }

    fn claims(value: Value) -> IdClaims {
        match value {
            Value::Object(map) => IdClaims(map),
            _ => IdClaims(Map::new()),
        }
    }

    #[test]
    fn conditions_are_exact_or_globs() {
        assert!(condition_holds("refs/heads/main", "refs/heads/main"));
        assert!(!condition_holds("refs/heads/main", "refs/heads/main2"));
        assert!(condition_holds("refs/heads/*", "refs/heads/release/1"));
        assert!(condition_holds("v?", "v1"));
        assert!(!condition_holds("refs/tags/*", "refs/heads/main"));
        // `[` is not special: only `*` and `?` are.
        assert!(condition_holds("a[b]", "a[b]"));
    }

    #[test]
    fn admission_checks_audience_conditions_and_repository() {
        let p = policy(&[("repository_owner", "acme"), ("ref", "refs/heads/*")]);
        let good = serde_json::json!({
            "aud": "dora-tracker", "repository_owner": "acme",
            "ref": "refs/heads/main", "repository": "Acme/Web",
        });
        assert_eq!(
            admit(&p, &claims(good.clone())).as_deref(),
            Ok("github.com/acme/web")
        );
        let mut list_aud = good.clone();
        list_aud["aud"] = serde_json::json!(["other", "dora-tracker"]);
        assert!(admit(&p, &claims(list_aud)).is_ok());
        for (claim, value) in [
            ("aud", serde_json::json!("someone-else")),
            ("repository_owner", serde_json::json!("evil")),
            ("ref", serde_json::json!("refs/tags/v1")),
            ("repository", serde_json::json!(["acme/web"])),
            ("repository", serde_json::json!("")),
        ] {
            let mut bad = good.clone();
            bad[claim] = value;
            assert!(admit(&p, &claims(bad)).is_err(), "{claim}");
        }
        let mut missing = good;
        missing.as_object_mut().map(|m| m.remove("ref"));
        assert!(admit(&p, &claims(missing)).is_err());
    }

    #[test]
    fn one_organization_per_token() {
        let a = policy(&[("repository_owner", "acme")]);
        let mut b = policy(&[("repository_owner", "acme")]);
        b.scopes = vec![Scope::Read];
        let both = grant(&[
            (&a, "github.com/acme/web".to_owned()),
            (&b, "github.com/acme/web".to_owned()),
        ])
        .expect("one organization");
        assert_eq!(both.scopes, HashSet::from([Scope::Ingest, Scope::Read]));
        assert_eq!(both.repositories, vec!["github.com/acme/web".to_owned()]);
        b.organization_id = Uuid::from_u128(1);
        assert!(grant(&[(&a, String::new()), (&b, String::new())]).is_err());
        assert!(grant(&[]).is_err());
    }

    #[test]
    fn only_rs256_and_es256_are_peeked() {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://issuer.example"}"#);
        for alg in ["HS256", "none", "RS512", "PS256", "EdDSA"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            assert!(peek(&format!("{header}.{payload}.sig")).is_err(), "{alg}");
        }
        for alg in ["RS256", "ES256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"k"}}"#));
            let peeked = peek(&format!("{header}.{payload}.sig")).expect("peeked");
            assert_eq!(peeked.issuer, "https://issuer.example");
            assert_eq!(peeked.key_id.as_deref(), Some("k"));
        }
    }

    #[test]
    fn symmetric_and_encryption_keys_are_left_out() {
        let keys = parse_jwks(
            br#"{"keys": [
                {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "enc", "use": "enc"},
                {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rs", "alg": "RS256"},
                {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "ps", "alg": "PS256"},
                {"kty": "weird"}
            ]}"#,
        )
        .expect("a key set");
        let kids: Vec<_> = keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect();
        assert_eq!(kids, ["rs"]);
    }
}
