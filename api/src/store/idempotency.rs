//! `Idempotency-Key` bookkeeping. A key is claimed inside the transaction that does the work
//! and its response is stored in that same transaction, so the claim, the work and the stored
//! answer commit together or not at all: a request that dies (its process killed, its
//! connection to the database lost, its work failed) leaves no claim behind, and a retry can
//! proceed at once.
//!
//! A second request with the same key while the first is still running waits for it: on
//! PostgreSQL its insert of the key blocks on the first transaction's uncommitted row until
//! that one commits (then it replays the stored answer) or rolls back (then it claims the key
//! itself); on SQLite every write transaction holds the database's one write lock, so the
//! second one starts only after the first has ended.

use chrono::{DateTime, Duration, Utc};
use entity::idempotency_keys;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::OnConflict,
};
use uuid::Uuid;

use super::Db;

/// A stored response, replayed for a repeated request.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

#[derive(Debug)]
pub enum Claim {
    /// Ours: do the work in the same transaction, then `complete`.
    Acquired,
    /// Done before with the same request: answer this again.
    Replay(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
}

/// Claims `key` for organization `organization_id` inside `txn`, the write transaction that
/// will do the request's work. The claim exists for others only once `txn` commits.
pub async fn claim<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    key: &str,
    fingerprint: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Claim, DbErr> {
    let fresh = idempotency_keys::ActiveModel {
        organization_id: Set(organization_id),
        key: Set(key.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        response_status: Set(None),
        response_body: Set(None),
        response_location: Set(None),
        created_at: Set(now),
    };
    // On PostgreSQL, this waits while another transaction holds an uncommitted row with the
    // same key, and inserts nothing if that one commits.
    let inserted = idempotency_keys::Entity::insert(fresh.clone())
        .on_conflict(
            OnConflict::columns([
                idempotency_keys::Column::OrganizationId,
                idempotency_keys::Column::Key,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    if inserted == 1 {
        return Ok(Claim::Acquired);
    }
    // A committed row (read committed: this statement sees the commit we waited for).
    let Some(row) = idempotency_keys::Entity::find_by_id((organization_id, key.to_owned()))
        .one(txn)
        .await?
    else {
        // Purged between the two statements: claim it again.
        idempotency_keys::Entity::insert(fresh)
            .exec_without_returning(txn)
            .await?;
        return Ok(Claim::Acquired);
    };
    // Expired: the key may be reused for anything. A committed claim without a response
    // was left by a version that claimed keys in a transaction of their own: nothing is
    // working on it any more.
    if row.created_at < now - ttl || row.response_status.is_none() || row.response_body.is_none() {
        fresh.update(txn).await?;
        return Ok(Claim::Acquired);
    }
    if row.fingerprint != fingerprint {
        return Ok(Claim::Mismatch);
    }
    Ok(Claim::Replay(StoredResponse {
        status: row
            .response_status
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(200),
        body: row.response_body.unwrap_or_default(),
        location: row.response_location,
    }))
}

/// Stores the response; call inside the transaction that did the work.
pub async fn complete<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    key: &str,
    response: &StoredResponse,
) -> Result<(), DbErr> {
    idempotency_keys::Entity::update_many()
        .col_expr(
            idempotency_keys::Column::ResponseStatus,
            i32::from(response.status).into(),
        )
        .col_expr(
            idempotency_keys::Column::ResponseBody,
            response.body.clone().into(),
        )
        .col_expr(
            idempotency_keys::Column::ResponseLocation,
            response.location.clone().into(),
        )
        .filter(idempotency_keys::Column::OrganizationId.eq(organization_id))
        .filter(idempotency_keys::Column::Key.eq(key))
        .exec(txn)
        .await?;
    Ok(())
}

/// Deletes keys older than `before`; returns how many.
pub async fn purge_expired(db: &Db, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let txn = db.begin_write().await?;
    let result = idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::CreatedAt.lt(before))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(result.rows_affected)
}
