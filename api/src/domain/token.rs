//! A new API token and a new trust policy, validated: what `POST /api/v1/tokens`,
//! `POST /api/v1/trust-policies` and `dora-tracker token issue` may create.

use std::collections::BTreeMap;

use url::{Host, Url};

use super::{Errors, FieldError, RepositoryRef, Scope, check_text, parse_ttl, scopes_of};

/// Longest token or policy name.
pub const MAX_NAME_CHARS: usize = 100;
/// Most repositories one token may be limited to.
pub const MAX_TOKEN_REPOSITORIES: usize = 100;
/// Most claim conditions of one trust policy.
pub const MAX_CONDITIONS: usize = 32;
/// Claims a condition may not name: the verification itself checks them.
const RESERVED_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat"];

/// A validated token to mint.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    /// The JWT's `sub` (who the token is for).
    pub subject: String,
    pub scopes: Vec<Scope>,
    pub ttl: std::time::Duration,
    /// Repository keys (`github.com/acme/web`), sorted; `None`: every repository.
    pub repositories: Option<Vec<String>>,
}

/// Raw fields of a new token.
pub struct RawToken<'a> {
    pub name: &'a str,
    /// Default: the name.
    pub subject: Option<&'a str>,
    pub scopes: Vec<&'a str>,
    /// Default `90d`.
    pub ttl: Option<&'a str>,
    pub repositories: Option<Vec<&'a str>>,
}

fn check_name(errors: &mut Errors, field: &str, name: &str) {
    if name.trim().is_empty() {
        errors.push(field, "must not be blank");
    } else if name.trim().chars().count() > MAX_NAME_CHARS {
        errors.push(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        );
    }
    errors.check(field, check_text(name, false));
}

impl NewToken {
    pub fn parse(raw: RawToken<'_>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        check_name(&mut errors, "name", raw.name);
        let subject = raw.subject.unwrap_or(raw.name).trim();
        if raw.subject.is_some() {
            check_name(&mut errors, "sub", subject);
        }
        let scopes = errors.check("scopes", scopes_of(raw.scopes));
        let ttl = errors.check("ttl", parse_ttl(raw.ttl.unwrap_or("90d")));
        let repositories = raw
            .repositories
            .map(|list| repository_keys(&mut errors, "repositories", &list));
        match (scopes, ttl) {
            (Some(scopes), Some(ttl)) if errors.is_empty() => Ok(NewToken {
                name: raw.name.trim().to_owned(),
                subject: subject.to_owned(),
                scopes,
                ttl,
                repositories,
            }),
            _ => Err(errors.0),
        }
    }
}

/// The keys of a repository list: each a repository URL in any spelling; sorted, no repeats.
fn repository_keys(errors: &mut Errors, field: &str, list: &[&str]) -> Vec<String> {
    if list.is_empty() {
        errors.push(
            field,
            "must name at least one repository (leave it out for every repository)",
        );
    }
    if list.len() > MAX_TOKEN_REPOSITORIES {
        errors.push(
            field,
            format!("must have at most {MAX_TOKEN_REPOSITORIES} repositories"),
        );
    }
    let mut keys: Vec<String> = list
        .iter()
        .enumerate()
        .filter_map(|(i, url)| {
            errors
                .check(&format!("{field}[{i}]"), RepositoryRef::parse(url))
                .map(|r| r.key)
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A validated trust policy.
#[derive(Debug, Clone)]
pub struct NewTrustPolicy {
    pub name: String,
    pub issuer: String,
    pub audience: String,
    /// Claim name -> exact value or glob (`*` any run of characters, `?` one character).
    pub conditions: BTreeMap<String, String>,
    pub scopes: Vec<Scope>,
    pub repository_claim: String,
    /// The host the repository claim's value is a path on (`github.com`).
    pub repository_host: String,
}

/// Raw fields of a new trust policy.
pub struct RawTrustPolicy<'a> {
    pub name: &'a str,
    pub issuer: &'a str,
    pub audience: &'a str,
    pub conditions: &'a BTreeMap<String, String>,
    pub scopes: Vec<&'a str>,
    pub repository_claim: &'a str,
    /// Default: see [`default_repository_host`].
    pub repository_host: Option<&'a str>,
}

impl NewTrustPolicy {
    /// `allow_http_loopback` also admits `http://127.0.0.1:<port>` issuers (tests only).
    pub fn parse(
        raw: RawTrustPolicy<'_>,
        allow_http_loopback: bool,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        check_name(&mut errors, "name", raw.name);
        let issuer = errors.check("issuer", check_issuer(raw.issuer, allow_http_loopback));
        if raw.audience.trim().is_empty() || raw.audience.len() > 255 {
            errors.push("audience", "must be 1-255 characters");
        }
        errors.check("audience", check_text(raw.audience, false));
        if raw.conditions.is_empty() {
            errors.push(
                "conditions",
                "at least one condition is required (e.g. repository_owner), or any job of \
                 the issuer would be admitted",
            );
        }
        if raw.conditions.len() > MAX_CONDITIONS {
            errors.push(
                "conditions",
                format!("must have at most {MAX_CONDITIONS} conditions"),
            );
        }
        for (claim, pattern) in raw.conditions {
            let field = format!("conditions.{}", claim.chars().take(64).collect::<String>());
            errors.check(&field, check_claim_name(claim));
            if RESERVED_CLAIMS.contains(&claim.as_str()) {
                errors.push(
                    &field,
                    "is checked by the verification itself (issuer, audience, times)",
                );
            }
            if pattern.is_empty() || pattern.len() > 512 {
                errors.push(&field, "must be 1-512 characters");
            }
            errors.check(&field, check_text(pattern, false));
        }
        if !raw.conditions.is_empty() && raw.conditions.values().all(|p| only_wildcards(p)) {
            errors.push(
                "conditions",
                "at least one condition must not be only wildcards",
            );
        }
        let scopes = errors.check("scopes", scopes_of(raw.scopes));
        errors.check("repository_claim", check_claim_name(raw.repository_claim));
        let repository_host = match (raw.repository_host, &issuer) {
            (Some(host), _) => errors.check("repository_host", check_host(host)),
            (None, Some(url)) => Some(default_repository_host(url)),
            (None, None) => None,
        };
        match (issuer, scopes, repository_host) {
            (Some(_), Some(scopes), Some(repository_host)) if errors.is_empty() => {
                Ok(NewTrustPolicy {
                    name: raw.name.trim().to_owned(),
                    issuer: raw.issuer.to_owned(),
                    audience: raw.audience.to_owned(),
                    conditions: raw.conditions.clone(),
                    scopes,
                    repository_claim: raw.repository_claim.to_owned(),
                    repository_host,
                })
            }
            _ => Err(errors.0),
        }
    }
}

fn only_wildcards(pattern: &str) -> bool {
    pattern.chars().all(|c| matches!(c, '*' | '?'))
}

/// Claim names: 1-128 of letters, digits and `_ - . : /`.
fn check_claim_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'));
    if ok {
        Ok(())
    } else {
        Err("must be a claim name: 1-128 of letters, digits, '_', '-', '.', ':', '/'".to_owned())
    }
}

/// A host name with an optional port, lower-case: `github.com`, `gitlab.example.com:8443`.
fn check_host(host: &str) -> Result<String, String> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if ok {
        Ok(host.to_ascii_lowercase())
    } else {
        Err("must be a host name such as github.com".to_owned())
    }
}

/// An issuer: an `https` URL with a host and nothing after its path; with
/// `allow_http_loopback`, also `http://127.0.0.1:<port>` or `http://[::1]:<port>`.
pub fn check_issuer(issuer: &str, allow_http_loopback: bool) -> Result<Url, String> {
    if issuer.len() > 255 {
        return Err("must be at most 255 characters".to_owned());
    }
    let url = Url::parse(issuer)
        .map_err(|_| "must be an https URL such as https://token.actions.githubusercontent.com")?;
    if url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(
            "must be an https URL with a host and no credentials, query or fragment".to_owned(),
        );
    }
    // The issuer is compared with the token's `iss` as a string: it must be written as the
    // URL parser writes it (e.g. no upper-case host), or no token would ever match.
    if url.as_str() != issuer && url.as_str() != format!("{issuer}/") {
        return Err(format!(
            "must be written as `{}`",
            url.as_str().trim_end_matches('/')
        ));
    }
    let loopback = matches!(url.host(), Some(Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(Host::Ipv6(ip)) if ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_http_loopback && loopback => Ok(url),
        "http" if loopback => Err(
            "must be https (http://127.0.0.1 issuers need DORA_OIDC_ALLOW_HTTP_LOOPBACK=true, for tests)"
                .to_owned(),
        ),
        _ => Err("must be an https URL".to_owned()),
    }
}

/// The host repositories of an issuer live on: GitHub Actions' issuer
/// (`token.actions.githubusercontent.com`) names repositories of `github.com`; any other
/// issuer (GitLab, GitHub Enterprise Server) is its own host.
pub fn default_repository_host(issuer: &Url) -> String {
    match (issuer.host_str(), issuer.port()) {
        (Some("token.actions.githubusercontent.com"), _) => "github.com".to_owned(),
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    }
}

/// The repository key a repository claim names: `acme/web` on `github.com` is
/// `github.com/acme/web`.
pub fn repository_key_of_claim(host: &str, value: &str) -> Result<String, String> {
    let value = value.trim_matches('/');
    if value.is_empty() || value.contains("://") {
        return Err("is not a repository path such as acme/web".to_owned());
    }
    RepositoryRef::parse(&format!("https://{host}/{value}")).map(|r| r.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(
        issuer: &str,
        conditions: &[(&str, &str)],
    ) -> Result<NewTrustPolicy, Vec<FieldError>> {
        let conditions: BTreeMap<String, String> = conditions
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        NewTrustPolicy::parse(
            RawTrustPolicy {
                name: "gha",
                issuer,
                audience: "dora-tracker",
                conditions: &conditions,
                scopes: vec!["ingest"],
                repository_claim: "repository",
                repository_host: None,
            },
            false,
        )
    }

    #[test]
    fn github_issuer_names_github_repositories() {
        let p = policy(
            "https://token.actions.githubusercontent.com",
            &[("repository_owner", "acme")],
        )
        .expect("valid");
        assert_eq!(p.repository_host, "github.com");
        let p = policy("https://gitlab.example.com", &[("namespace_path", "acme")]).expect("valid");
        assert_eq!(p.repository_host, "gitlab.example.com");
    }

    #[test]
    fn issuers_must_be_https() {
        for bad in [
            "http://token.actions.githubusercontent.com",
            "http://127.0.0.1:8080",
            "https://user:pw@issuer.example",
            "https://issuer.example?x=1",
            "https://Issuer.Example",
            "not a url",
        ] {
            assert!(policy(bad, &[("sub", "x")]).is_err(), "{bad}");
        }
        assert!(check_issuer("http://127.0.0.1:8080", true).is_ok());
        assert!(check_issuer("http://localhost:8080", true).is_err());
        assert!(check_issuer("http://10.0.0.1:8080", true).is_err());
    }

    #[test]
    fn conditions_must_constrain() {
        let issuer = "https://token.actions.githubusercontent.com";
        assert!(policy(issuer, &[]).is_err());
        assert!(policy(issuer, &[("repository", "*")]).is_err());
        assert!(policy(issuer, &[("aud", "x")]).is_err());
        assert!(policy(issuer, &[("bad claim", "x")]).is_err());
        assert!(
            policy(
                issuer,
                &[("ref", "refs/heads/*"), ("repository_owner", "acme")]
            )
            .is_ok()
        );
    }

    #[test]
    fn claims_name_repositories() {
        assert_eq!(
            repository_key_of_claim("github.com", "Acme/Web").as_deref(),
            Ok("github.com/acme/web")
        );
        assert!(repository_key_of_claim("github.com", "").is_err());
        assert!(repository_key_of_claim("github.com", "https://evil/x").is_err());
    }

    #[test]
    fn tokens_validate_every_field() {
        let errors = NewToken::parse(RawToken {
            name: " ",
            subject: None,
            scopes: vec!["root"],
            ttl: Some("forever"),
            repositories: Some(vec!["not a repo"]),
        })
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "scopes", "ttl", "repositories[0]"]);
        let token = NewToken::parse(RawToken {
            name: "ci",
            subject: None,
            scopes: vec!["ingest"],
            ttl: None,
            repositories: Some(vec![
                "https://github.com/acme/web",
                "git@github.com:Acme/Web.git",
                "https://github.com/acme/api",
            ]),
        })
        .expect("valid");
        assert_eq!(
            token.repositories,
            Some(vec![
                "github.com/acme/api".to_owned(),
                "github.com/acme/web".to_owned()
            ])
        );
        assert_eq!(token.subject, "ci");
    }
}
