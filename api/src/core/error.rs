//! What a use case answers when it does not succeed. Each variant says what the caller did
//! wrong (with a message safe to show) or that we failed (with the cause, for the log only);
//! `http` renders them in each surface's own shape.

use sea_orm::DbErr;

use crate::{
    auth::{MissingScope, RepositoryDenied},
    domain::FieldError,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is well-formed but invalid: every invalid field.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// A query or path parameter is invalid.
    #[error("parameter `{name}`: {message}")]
    InvalidParameter { name: String, message: String },
    /// Another kind of bad request (`kind` is the stable problem type).
    #[error("{detail}")]
    BadRequest { kind: &'static str, detail: String },
    /// The credential is missing or invalid.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid credential that does not allow this.
    #[error(transparent)]
    Forbidden(#[from] Denied),
    /// No such object in the caller's organization (exactly as when it does not exist).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Conflicts with the current state.
    #[error("{detail}")]
    Conflict { kind: &'static str, detail: String },
    /// Valid JSON whose meaning is refused, other than field validation.
    #[error("{detail}")]
    Unprocessable { kind: &'static str, detail: String },
    /// Over a rate limit; retry after this many seconds. `policy` names the limit, for
    /// clients that read the `RateLimit`/`RateLimit-Policy` headers.
    #[error("{detail}")]
    RateLimited {
        retry_after: u64,
        detail: String,
        policy: Option<RatePolicy>,
    },
    /// A service we depend on (an identity provider's keys) is unreachable; `detail` is
    /// safe to show.
    #[error("{detail}")]
    Upstream { kind: &'static str, detail: String },
    /// The database is unreachable, or the connection to it was lost before the work was
    /// committed: nothing was written, and the same request may be sent again (the cause is
    /// for the log).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// PostgreSQL aborted the work to break a deadlock or a serialization conflict with
    /// concurrent writers: nothing was written, and the same request may be sent again (the
    /// cause is for the log). Group commit runs such a create again alone.
    #[error("database contention: {0}")]
    Contended(String),
    /// We failed (the cause is for the log).
    #[error("internal error: {0}")]
    Internal(String),
}

/// A rate limit as the IETF RateLimit header fields describe it: `quota` requests per
/// `window_seconds` in the partition `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatePolicy {
    pub name: &'static str,
    pub quota: u32,
    pub window_seconds: u64,
}

impl Error {
    pub fn invalid_parameter(name: &str, message: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name: name.to_owned(),
            message: message.into(),
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn conflict(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            kind,
            detail: detail.into(),
        }
    }

    pub fn unprocessable(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::Unprocessable {
            kind,
            detail: detail.into(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

/// Why a valid credential may not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error(transparent)]
    Scope(#[from] MissingScope),
    #[error(transparent)]
    Repository(#[from] RepositoryDenied),
}

impl From<MissingScope> for Error {
    fn from(e: MissingScope) -> Self {
        Self::Forbidden(e.into())
    }
}

impl From<RepositoryDenied> for Error {
    fn from(e: RepositoryDenied) -> Self {
        Self::Forbidden(e.into())
    }
}

impl From<Vec<FieldError>> for Error {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        if crate::store::db::is_unavailable(&err) {
            Self::Unavailable(err.to_string())
        } else if is_contention(&err) {
            Self::Contended(err.to_string())
        } else {
            Self::Internal(err.to_string())
        }
    }
}

/// PostgreSQL's `40P01` (deadlock detected) and `40001` (serialization failure).
fn is_contention(err: &DbErr) -> bool {
    let (DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
    | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    match e.as_ref() {
        sea_orm::sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| matches!(code.as_ref(), "40P01" | "40001")),
        _ => false,
    }
}
