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

use super::{Db, sql::Sql};

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

/// [`claim`] for several fresh keys at once (a batch of creates, `core::group_commit`): one
/// multi-row insert of the claims, in `txn`. Answers the `(organization, key)` pairs it
/// claimed; a key it did not claim (stored before, or claimed by a transaction that committed
/// while this one waited) goes through [`claim`], which tells a replay from a mismatch.
pub async fn claim_fresh<C: ConnectionTrait>(
    txn: &C,
    keys: &[(Uuid, &str, &str)],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<(Uuid, String)>, DbErr> {
    let mut claimed = std::collections::HashSet::new();
    if keys.is_empty() {
        return Ok(claimed);
    }
    // Sorted, so two batches claiming the same keys take their row locks in one order.
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push(
        "INSERT INTO idempotency_keys (organization_id, \"key\", fingerprint, created_at) VALUES ",
    );
    for (i, (organization_id, key, fingerprint)) in keys.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(")
            .bind(*organization_id)
            .push(", ")
            .bind((*key).to_owned())
            .push(", ")
            .bind((*fingerprint).to_owned())
            .push(", ")
            .bind(now)
            .push(")");
    }
    sql.push(
        " ON CONFLICT (organization_id, \"key\") DO NOTHING RETURNING organization_id, \"key\"",
    );
    for row in txn.query_all_raw(sql.statement()).await? {
        claimed.insert((row.try_get("", "organization_id")?, row.try_get("", "key")?));
    }
    Ok(claimed)
}

/// [`complete`] for several keys at once (one statement): `(organization, key, response)`.
pub async fn complete_many<C: ConnectionTrait>(
    txn: &C,
    responses: &[(Uuid, &str, StoredResponse)],
) -> Result<(), DbErr> {
    // Bound values per statement stay far under both databases' limits.
    for chunk in responses.chunks(500) {
        let backend = txn.get_database_backend();
        let mut sql = Sql::new(backend);
        let case = |sql: &mut Sql, value: &dyn Fn(&StoredResponse) -> sea_orm::Value| {
            sql.push("CASE");
            for (organization_id, key, response) in chunk {
                sql.push(" WHEN organization_id = ")
                    .bind(*organization_id)
                    .push(" AND \"key\" = ")
                    .bind((*key).to_owned())
                    .push(" THEN ")
                    .bind(value(response));
            }
            sql.push(" END");
        };
        sql.push("UPDATE idempotency_keys SET response_status = ");
        case(&mut sql, &|r| i32::from(r.status).into());
        sql.push(", response_body = ");
        case(&mut sql, &|r| r.body.clone().into());
        sql.push(", response_location = ");
        case(&mut sql, &|r| r.location.clone().into());
        sql.push(" WHERE ");
        for (i, (organization_id, key, _)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(organization_id = ")
                .bind(*organization_id)
                .push(" AND \"key\" = ")
                .bind((*key).to_owned())
                .push(")");
        }
        txn.execute_raw(sql.statement()).await?;
    }
    Ok(())
}
