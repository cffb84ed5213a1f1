//! The incidents of alerting sources (PagerDuty, Alertmanager) by the source's id: one row per
//! (organization, source, source id), claimed and locked before the incident is written, with
//! the version of the source's state last applied.

use chrono::{DateTime, Utc};
use entity::source_incidents;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::OnConflict,
};
use uuid::Uuid;

fn by_key(
    organization_id: Uuid,
    source: &str,
    source_id: &str,
) -> sea_orm::Select<source_incidents::Entity> {
    use source_incidents::Column as C;
    source_incidents::Entity::find()
        .filter(C::OrganizationId.eq(organization_id))
        .filter(C::Source.eq(source))
        .filter(C::SourceId.eq(source_id))
}

/// The row of the source's incident, if it was seen before.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    source: &str,
    source_id: &str,
) -> Result<Option<source_incidents::Model>, DbErr> {
    by_key(organization_id, source, source_id).one(conn).await
}

/// The row of the source's incident, created empty when it is new, locked until the
/// transaction ends (see [`super::one_for_update`]).
pub async fn claim<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    source: &str,
    source_id: &str,
    now: DateTime<Utc>,
) -> Result<source_incidents::Model, DbErr> {
    use source_incidents::Column as C;
    source_incidents::Entity::insert(source_incidents::ActiveModel {
        organization_id: Set(organization_id),
        source: Set(source.to_owned()),
        source_id: Set(source_id.to_owned()),
        incident_id: Set(None),
        version_at: Set(None),
        version_rank: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([C::OrganizationId, C::Source, C::SourceId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    super::one_for_update(txn, by_key(organization_id, source, source_id))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("source incident {source_id}")))
}

/// Points the row at `incident_id` and records the version applied.
pub async fn set<C: ConnectionTrait>(
    txn: &C,
    row: source_incidents::Model,
    incident_id: Option<Uuid>,
    version: (DateTime<Utc>, i32),
    now: DateTime<Utc>,
) -> Result<source_incidents::Model, DbErr> {
    let mut active: source_incidents::ActiveModel = row.into();
    active.incident_id = Set(incident_id);
    active.version_at = Set(Some(version.0));
    active.version_rank = Set(Some(version.1));
    active.updated_at = Set(now);
    active.update(txn).await
}
