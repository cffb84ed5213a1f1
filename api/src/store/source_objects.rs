//! The objects of webhook sources (a GitHub deployment, status, workflow run, issue…) and the
//! records they became: one row per (organization, source, kind, repository, source id), so
//! the same object reached twice (a redelivery, or two events naming it) is found again, and
//! the version last applied keeps out-of-order deliveries from regressing a record.

use chrono::{DateTime, Utc};
use entity::source_objects;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::OnConflict,
};
use uuid::Uuid;

/// Names one source object.
#[derive(Debug, Clone, Copy)]
pub struct ObjectKey<'a> {
    pub organization_id: Uuid,
    pub source: &'a str,
    pub kind: &'a str,
    pub repository_id: Uuid,
    pub external_id: &'a str,
}

fn by_key(key: &ObjectKey<'_>) -> sea_orm::Select<source_objects::Entity> {
    use source_objects::Column as C;
    source_objects::Entity::find()
        .filter(C::OrganizationId.eq(key.organization_id))
        .filter(C::Source.eq(key.source))
        .filter(C::Kind.eq(key.kind))
        .filter(C::RepositoryId.eq(key.repository_id))
        .filter(C::ExternalId.eq(key.external_id))
}

/// The object, if it was seen before.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    key: &ObjectKey<'_>,
) -> Result<Option<source_objects::Model>, DbErr> {
    by_key(key).one(conn).await
}

/// The object's row, created empty when it is new, locked until the transaction ends: two
/// deliveries naming one object at the same moment (on any instance) run one after the other,
/// the second seeing what the first recorded. The bool says whether it was created now.
pub async fn claim<C: ConnectionTrait>(
    txn: &C,
    key: &ObjectKey<'_>,
    now: DateTime<Utc>,
) -> Result<(source_objects::Model, bool), DbErr> {
    use source_objects::Column as C;
    let created = source_objects::Entity::insert(source_objects::ActiveModel {
        organization_id: Set(key.organization_id),
        source: Set(key.source.to_owned()),
        kind: Set(key.kind.to_owned()),
        repository_id: Set(key.repository_id),
        external_id: Set(key.external_id.to_owned()),
        deployment_id: Set(None),
        incident_id: Set(None),
        version_at: Set(None),
        version_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            C::OrganizationId,
            C::Source,
            C::Kind,
            C::RepositoryId,
            C::ExternalId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?
        == 1;
    let row = super::one_for_update(txn, by_key(key))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("source object {}", key.external_id)))?;
    Ok((row, created))
}

/// What an object's row points at and the version applied.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectState {
    pub deployment_id: Option<Uuid>,
    pub incident_id: Option<Uuid>,
    pub version_at: Option<DateTime<Utc>>,
    pub version_id: Option<i64>,
}

/// Sets what the object's row points at and the version applied.
pub async fn set<C: ConnectionTrait>(
    txn: &C,
    row: source_objects::Model,
    state: ObjectState,
    now: DateTime<Utc>,
) -> Result<source_objects::Model, DbErr> {
    let mut active: source_objects::ActiveModel = row.into();
    active.deployment_id = Set(state.deployment_id);
    active.incident_id = Set(state.incident_id);
    active.version_at = Set(state.version_at);
    active.version_id = Set(state.version_id);
    active.updated_at = Set(now);
    active.update(txn).await
}

/// The state of a row as it is.
pub fn state_of(row: &source_objects::Model) -> ObjectState {
    ObjectState {
        deployment_id: row.deployment_id,
        incident_id: row.incident_id,
        version_at: row.version_at,
        version_id: row.version_id,
    }
}
