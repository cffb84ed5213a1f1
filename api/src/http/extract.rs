//! Who is calling: the security schemes of the spec, as extractors, and the one path every
//! bearer token takes ([`principal_for_token`]): our own tokens (verified by `auth`, their
//! records checked by `core::tokens`) or CI identity tokens (`core::trust_policies`). A
//! failure is a 401 (403, 503) in the shape of the surface that answers it (see
//! `error::Failure`).

use poem::Request;
use poem_openapi::{
    SecurityScheme,
    auth::{ApiKey, Bearer},
};

use super::{error::Failure, state::AppState};
use crate::{auth::Principal, core};

/// `Authorization: Bearer <JWT>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "authenticate")]
pub struct BearerAuth(pub Principal);

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    principal(req, &bearer.token).await
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
    let value = key.key.trim();
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") =>
        {
            principal(req, token.trim()).await
        }
        _ => Err(Failure::unauthorized(
            "invalid token: use `Authorization: token <JWT>` or `Authorization: Bearer <JWT>`",
        )
        .into()),
    }
}

/// The principal a bearer token acts as. A token that claims our issuer is one of ours: its
/// signature and claims are checked here (`auth`), then its record (revocation, scopes,
/// repositories) by `core::tokens`, briefly cached. Any other token can only be a CI identity
/// token: `core::trust_policies` checks it against the trust policies of its issuer. Neither
/// the token nor a part of it is ever logged.
pub async fn principal_for_token(state: &AppState, token: &str) -> Result<Principal, Failure> {
    if state.jwt.claims_to_be_ours(token) {
        let verified = state.jwt.verify(token).map_err(|e| {
            tracing::debug!(error = %e, "token rejected");
            Failure::unauthorized(e.to_string())
        })?;
        core::tokens::principal(&state.core, verified).await
    } else {
        core::trust_policies::principal(&state.core, token).await
    }
    // Every credential's organization is held to its API rate limit.
    .and_then(|p| state.core.api_limits.admit(p.organization_id).map(|()| p))
    .map_err(|e| {
        if let core::Error::Unauthorized(why) = &e {
            tracing::debug!(error = %why, "token rejected");
        }
        Failure::from(e)
    })
}

async fn principal(req: &Request, token: &str) -> poem::Result<Principal> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| Failure::internal("application state missing"))?;
    Ok(principal_for_token(state, token).await?)
}
