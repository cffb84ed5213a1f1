use sea_orm::entity::prelude::*;

/// What the `deployment_outcomes` rows of one (organization, environment, `is_production`, UTC
/// day) add up to, kept by `api::store::rollups` (migration 000014); valid while the day has no
/// row in `outcome_day_marks`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outcome_days")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub environment: String,
    /// Days since the epoch (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub is_production: bool,
    pub finished: i64,
    pub successes: i64,
    /// The first and last success's `deployed_at`, in microseconds since the epoch.
    pub first_success_us: Option<i64>,
    pub last_success_us: Option<i64>,
    pub failures: i64,
    pub unrecovered: i64,
    pub rework: i64,
    /// The recovery-time samples, sorted, as little-endian `f64`s.
    pub recovery_seconds: Vec<u8>,
    /// The lead-time samples, sorted, as little-endian `f64`s.
    pub lead_seconds: Vec<u8>,
}

impl ActiveModelBehavior for ActiveModel {}
