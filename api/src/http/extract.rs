//! Who is calling: the security schemes of the spec, as extractors. A token is verified by
//! `auth` and its organization resolved by `core::tenants`; a failure is a 401 in the shape of
//! the surface that answers it (see `error::Failure`).

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

/// Verifies a JWT and resolves its organization.
async fn principal(req: &Request, token: &str) -> poem::Result<Principal> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| Failure::internal("application state missing"))?;
    let verified = state.jwt.verify(token).map_err(|e| {
        tracing::debug!(error = %e, "token rejected");
        Failure::unauthorized(e.to_string())
    })?;
    core::tenants::principal(&state.core, verified)
        .await
        .map_err(|e| Failure::from(e).into())
}
