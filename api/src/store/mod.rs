//! Storage: every sea-orm query lives here. Functions take the connection or transaction
//! to use, and every query is scoped to an organization id.

pub mod audit;
pub mod db;
pub mod deploy_hooks;
pub mod deployments;
pub mod facts;
pub mod github;
pub mod idempotency;
pub mod incidents;
pub mod known;
pub mod organizations;
mod sql;
pub mod statuses;

pub use db::Db;

use sea_orm::{DbErr, SqlErr};

/// True when the error is a unique-constraint violation (a lost creation race).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
