//! The audit log of admin changes: who, when, the entity before and after.

use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub organization_id: Uuid,
    pub actor: Option<String>,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Records `change`; call inside the transaction that makes it.
pub async fn record<C: ConnectionTrait>(
    txn: &C,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<audit_log::Model, DbErr> {
    audit_log::ActiveModel {
        organization_id: Set(change.organization_id),
        actor: Set(change.actor),
        action: Set(change.action.to_owned()),
        entity: Set(change.entity.to_owned()),
        entity_id: Set(change.entity_id),
        before: Set(change.before.map(|v| v.to_string())),
        after: Set(change.after.map(|v| v.to_string())),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await
}

/// Newest first, at most `limit` (plus whether more follow), ids below `before_id`.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    entity_id: Option<&str>,
    before_id: Option<i64>,
    limit: u64,
) -> Result<(Vec<audit_log::Model>, bool), DbErr> {
    let mut query =
        audit_log::Entity::find().filter(audit_log::Column::OrganizationId.eq(organization_id));
    if let Some(entity_id) = entity_id {
        query = query.filter(audit_log::Column::EntityId.eq(entity_id));
    }
    if let Some(before) = before_id {
        query = query.filter(audit_log::Column::Id.lt(before));
    }
    let mut rows = query
        .order_by_desc(audit_log::Column::Id)
        .limit(limit + 1)
        .all(conn)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}
