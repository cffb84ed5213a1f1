//! `Idempotency-Key` bookkeeping. A key is claimed in its own committed transaction (so a
//! concurrent request with the same key sees it in flight), completed inside the
//! transaction that does the work (so the stored response and the work commit together),
//! and released if the work fails.

use chrono::{DateTime, Duration, Utc};
use entity::idempotency_keys;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::OnConflict,
};
use uuid::Uuid;

use super::Db;

/// A claim in flight for longer than this is taken to be abandoned (its process died).
const ABANDONED_AFTER: Duration = Duration::minutes(5);

/// A stored response, replayed for a repeated request.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

#[derive(Debug)]
pub enum Claim {
    /// Ours: do the work, then `complete`.
    Acquired,
    /// Done before with the same request: answer this again.
    Replay(StoredResponse),
    /// The same key is being processed right now.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

pub async fn claim(
    db: &Db,
    organization_id: Uuid,
    key: &str,
    fingerprint: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Claim, DbErr> {
    let txn = db.begin_write().await?;
    let existing = idempotency_keys::Entity::find_by_id((organization_id, key.to_owned()))
        .one(&txn)
        .await?;
    let fresh = idempotency_keys::ActiveModel {
        organization_id: Set(organization_id),
        key: Set(key.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        response_status: Set(None),
        response_body: Set(None),
        response_location: Set(None),
        created_at: Set(now),
    };
    let claim = match existing {
        Some(row)
            if row.created_at < now - ttl
                || (row.response_status.is_none() && row.created_at < now - ABANDONED_AFTER) =>
        {
            fresh.update(&txn).await?;
            Claim::Acquired
        }
        Some(row) if row.fingerprint != fingerprint => Claim::Mismatch,
        Some(row) => match (row.response_status, row.response_body) {
            (Some(status), Some(body)) => Claim::Replay(StoredResponse {
                status: u16::try_from(status).unwrap_or(200),
                body,
                location: row.response_location,
            }),
            _ => Claim::InFlight,
        },
        None => {
            let inserted = idempotency_keys::Entity::insert(fresh)
                .on_conflict(
                    OnConflict::columns([
                        idempotency_keys::Column::OrganizationId,
                        idempotency_keys::Column::Key,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
            // Zero rows: another request inserted the same key between our read and write.
            if inserted == 1 {
                Claim::Acquired
            } else {
                Claim::InFlight
            }
        }
    };
    txn.commit().await?;
    Ok(claim)
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

/// Forgets a claim whose work failed, so the client may retry with the same key.
pub async fn release(db: &Db, organization_id: Uuid, key: &str) -> Result<(), DbErr> {
    let txn = db.begin_write().await?;
    idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::OrganizationId.eq(organization_id))
        .filter(idempotency_keys::Column::Key.eq(key))
        .filter(idempotency_keys::Column::ResponseStatus.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await
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
