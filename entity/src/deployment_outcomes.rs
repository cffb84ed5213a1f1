use sea_orm::entity::prelude::*;

/// What the DORA definitions decide about one finished deployment (DESIGN.md §12), kept up to
/// date by `api::store::outcomes` in the transaction of every write that changes it.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "deployment_outcomes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deployment_id: Uuid,
    pub organization_id: Uuid,
    pub repository_id: Uuid,
    pub environment: String,
    pub is_production: bool,
    pub deployed_at: DateTimeUtc,
    /// `deployed_at` in microseconds since the epoch (the indexed time).
    pub deployed_us: i64,
    /// The UTC day of `deployed_at`, in days since the epoch.
    pub deployed_day: i64,
    pub number: i64,
    /// Success; otherwise a failure (pending deployments have no row).
    pub is_success: bool,
    pub change_failure: bool,
    /// Seconds from deployment to recovery, for a recovered change failure.
    pub recovery_seconds: Option<f64>,
    pub rework: bool,
    /// The lead-time samples of its commits, comma-separated, and their shas in the same order.
    pub lead_seconds: Option<String>,
    pub lead_shas: Option<String>,
    /// `dora_metrics::FailureCause`s, JSON.
    pub causes: String,
    /// `dora_metrics::Recovery`, JSON, for a change failure.
    pub recovery: Option<String>,
    pub previous_id: Option<Uuid>,
    pub next_id: Option<Uuid>,
    pub next_success_id: Option<Uuid>,
}

impl ActiveModelBehavior for ActiveModel {}
