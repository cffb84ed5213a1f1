use sea_orm::entity::prelude::*;

/// A day whose `outcome_days` row may be stale: written by triggers on `deployment_outcomes`
/// (migration 000014) in the writer's transaction, deleted by the compactor that rebuilt the
/// day (`api::store::rollups`).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outcome_day_marks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub organization_id: Uuid,
    /// Days since the epoch (UTC).
    pub day: i64,
    pub environment: String,
    pub is_production: bool,
}

impl ActiveModelBehavior for ActiveModel {}
