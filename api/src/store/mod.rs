//! Storage: every sea-orm query lives here. Functions take the connection or transaction
//! to use, and every query is scoped to an organization id.

pub mod audit;
pub mod bulk_import;
pub mod db;
pub mod deploy_hooks;
pub mod deployments;
pub mod facts;
pub mod github;
pub mod idempotency;
pub mod incidents;
pub mod integrations;
pub mod inventory;
pub mod known;
pub mod organizations;
pub mod outbox;
pub mod outcomes;
pub mod overview;
pub mod pushes;
pub mod rollups;
pub mod source_incidents;
pub mod source_objects;
mod sql;
pub mod statuses;
pub mod tokens;
pub mod transfer;

pub use db::Db;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, QuerySelect, Select, SqlErr};

/// The one row of `query`, read inside a write transaction and, on PostgreSQL, locked
/// (`FOR UPDATE`) until it ends, so concurrent read-modify-writes of that row run one after
/// the other instead of losing an update. SQLite needs no lock: a write transaction there holds
/// the database's one write lock from its first statement.
pub(crate) async fn one_for_update<E: EntityTrait, C: ConnectionTrait>(
    txn: &C,
    query: Select<E>,
) -> Result<Option<E::Model>, DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        query.lock_exclusive().one(txn).await
    } else {
        query.one(txn).await
    }
}

/// True when the error is a unique-constraint violation (a lost creation race).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
