//! Sessions of the web page: a read token, given once in the sign-in form, kept in an
//! `HttpOnly`, `SameSite=Strict`, `Path=/` cookie (`Secure` when the public URL is https) that
//! expires with the token. The session is stateless: every request verifies the cookie's token
//! exactly as the API verifies a bearer token (`JwtKeys::verify`, then `core::tenants`), and
//! acts with the `read` scope only, whatever else the token allows.
//!
//! State-changing forms (sign in, sign out) are POSTs that must come from this origin (the
//! `Origin` header) and carry the CSRF token of the `dora_csrf` cookie (double submit, compared
//! in constant time).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use poem::{
    Request,
    web::cookie::{Cookie, CookieJar, SameSite},
};
use rand::RngCore;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::{
    auth::{Principal, Scope},
    core,
    http::{origin, state::AppState},
};

/// The cookie holding the session's token.
pub const SESSION_COOKIE: &str = "dora_session";
/// The cookie holding the CSRF token the forms repeat.
pub const CSRF_COOKIE: &str = "dora_csrf";
/// A token longer than this is refused before it is parsed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// A signed-in manager.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token's organization, with the `read` scope only.
    pub principal: Principal,
    /// When the token (and so the session) expires.
    pub expires_at: DateTime<Utc>,
}

/// Why a token does not start or keep a session (safe to show).
#[derive(Debug, Clone)]
pub struct Refused {
    pub message: String,
    /// 401 for a token that is not valid, 403 for one without the `read` scope.
    pub status: u16,
}

/// Only `exp` is read here, after the token verified.
#[derive(Deserialize)]
struct Expiry {
    exp: i64,
}

/// Verifies `token` as the API verifies a bearer token, and makes it a read-only session.
pub async fn open(state: &AppState, token: &str) -> Result<Session, Refused> {
    let token = token.trim();
    if token.is_empty() {
        return Err(Refused {
            message: "Paste a token to sign in.".to_owned(),
            status: 401,
        });
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refused {
            message: format!("That is not a token: it is longer than {MAX_TOKEN_BYTES} bytes."),
            status: 401,
        });
    }
    let verified = state.jwt.verify(token).map_err(|e| Refused {
        message: format!("That token was not accepted ({e})."),
        status: 401,
    })?;
    if !(verified.scopes.contains(&Scope::Read) || verified.scopes.contains(&Scope::Admin)) {
        return Err(Refused {
            message: "That token lacks the `read` scope. Mint one with `dora-tracker token issue \
                      --scope read`."
                .to_owned(),
            status: 403,
        });
    }
    // The signature and claims are verified above; this only reads `exp` back.
    let expires_at = jsonwebtoken::dangerous::insecure_decode::<Expiry>(token)
        .ok()
        .and_then(|data| DateTime::from_timestamp(data.claims.exp, 0))
        .filter(|at| *at > Utc::now())
        .ok_or_else(|| Refused {
            message: "That token was not accepted (invalid token: expired).".to_owned(),
            status: 401,
        })?;
    let mut principal = core::tenants::principal(&state.core, verified)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "session: organization not resolved");
            Refused {
                message: "The service could not resolve the token's organization; try again."
                    .to_owned(),
                status: 503,
            }
        })?;
    principal.scopes = HashSet::from([Scope::Read]);
    Ok(Session {
        principal,
        expires_at,
    })
}

/// The session of the request: `Ok(None)` without a session cookie, `Err` when its token no
/// longer verifies (the cookie is then removed).
pub async fn current(
    state: &AppState,
    req: &Request,
    jar: &CookieJar,
) -> Result<Option<Session>, Refused> {
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Ok(None);
    };
    match open(state, cookie.value_str()).await {
        Ok(session) => Ok(Some(session)),
        Err(refused) => {
            end(state, req, jar);
            Err(Refused {
                message: format!("Your session has ended. {}", refused.message),
                ..refused
            })
        }
    }
}

/// Whether cookies must be `Secure`: the public URL (or, behind a trusted proxy, the
/// forwarded scheme) is https.
fn secure(state: &AppState, req: &Request) -> bool {
    origin::base_url(req, &state.http).is_some_and(|base| base.starts_with("https://"))
}

fn cookie(name: &str, value: String, secure: bool) -> Cookie {
    let mut cookie = Cookie::new_with_str(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_path("/");
    cookie.set_secure(secure);
    cookie
}

/// Sets the session cookie for `token`, expiring with it.
pub fn start(state: &AppState, req: &Request, jar: &CookieJar, token: &str, session: &Session) {
    let mut cookie = cookie(SESSION_COOKIE, token.trim().to_owned(), secure(state, req));
    cookie.set_expires(session.expires_at);
    jar.add(cookie);
}

/// Removes the session cookie.
pub fn end(state: &AppState, req: &Request, jar: &CookieJar) {
    let mut cookie = cookie(SESSION_COOKIE, String::new(), secure(state, req));
    cookie.set_max_age(std::time::Duration::ZERO);
    cookie.set_expires(DateTime::<Utc>::UNIX_EPOCH);
    jar.add(cookie);
}

fn well_formed_csrf(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The CSRF token for this browser's forms: the cookie's, or a new one (set on the response).
pub fn csrf_token(state: &AppState, req: &Request, jar: &CookieJar) -> String {
    if let Some(existing) = jar.get(CSRF_COOKIE)
        && well_formed_csrf(existing.value_str())
    {
        return existing.value_str().to_owned();
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    jar.add(cookie(CSRF_COOKIE, token.clone(), secure(state, req)));
    token
}

/// Checks a state-changing form: it comes from this origin and repeats the CSRF cookie.
pub fn check_form(
    state: &AppState,
    req: &Request,
    jar: &CookieJar,
    csrf: &str,
) -> Result<(), String> {
    check_origin(state, req)?;
    let cookie = jar
        .get(CSRF_COOKIE)
        .map(|c| c.value_str().to_owned())
        .unwrap_or_default();
    let same: bool = cookie.as_bytes().ct_eq(csrf.as_bytes()).into();
    if !well_formed_csrf(&cookie) || !same {
        return Err(
            "The form has expired or did not come from this page; reload the page and try again."
                .to_owned(),
        );
    }
    Ok(())
}

/// The request's `Origin` must be the service's own. With `DORA_PUBLIC_URL` set, scheme, host
/// and port must all match it; without, host and port must match the request's `Host` (the
/// scheme a proxy terminated is unknown then).
fn check_origin(state: &AppState, req: &Request) -> Result<(), String> {
    let refused = || "The form was not sent from this site.".to_owned();
    let given = req
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(v).ok())
        .ok_or_else(refused)?;
    let expected = origin::base_url(req, &state.http)
        .and_then(|base| url::Url::parse(&base).ok())
        .ok_or_else(refused)?;
    // `Url` lowercases hosts; `port()` is `None` for the scheme's default port.
    let same = if state.http.public_url.is_some() {
        given.origin() == expected.origin()
    } else {
        given.host_str() == expected.host_str() && given.port() == expected.port()
    };
    if same { Ok(()) } else { Err(refused()) }
}

/// Where to go after signing in: a path of this site, else the overview.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 2048
                && !path.bytes().any(|b| b.is_ascii_control()) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/?window=7d")), "/?window=7d");
        assert_eq!(
            safe_next(Some("/ui/explain?metric=x")),
            "/ui/explain?metric=x"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "x",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn csrf_tokens_are_64_hex_digits() {
        assert!(well_formed_csrf(&"a1".repeat(32)));
        assert!(!well_formed_csrf("short"));
        assert!(!well_formed_csrf(&"zz".repeat(32)));
    }
}
