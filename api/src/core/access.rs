//! The repository restriction of credentials: a token limited to repositories, or a CI
//! identity token (restricted to the repository its claim names), writes only for those.
//! Every write use case calls [`authorize_write`] with the repository it writes for; reads
//! never do (they are unrestricted within the organization).

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::Error;
use crate::{auth::Principal, store};

/// The repository a write is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteFor<'a> {
    /// By its key (`github.com/acme/web`): a repository that may not exist yet.
    Key(&'a str),
    /// A stored repository of the principal's organization.
    Repository(Uuid),
    /// No repository at all (an incident naming none): only an unrestricted principal.
    Nothing,
}

/// Refuses (403) a write of a repository-restricted principal for another repository. An
/// unrestricted principal costs no query.
pub(crate) async fn authorize_write<C: ConnectionTrait>(
    conn: &C,
    principal: &Principal,
    target: WriteFor<'_>,
) -> Result<(), Error> {
    if principal.repositories.is_none() {
        return Ok(());
    }
    let key = match target {
        WriteFor::Key(key) => Some(key.to_owned()),
        WriteFor::Repository(id) => Some(
            store::organizations::find_repository(conn, id)
                .await?
                .ok_or_else(|| Error::internal(format!("repository {id} vanished")))?
                .key,
        ),
        WriteFor::Nothing => None,
    };
    Ok(principal.require_write(key.as_deref())?)
}
