use sea_orm::entity::prelude::*;

/// A key metric's 30-day tier for an organization or a repository at the last snapshot
/// refresh (a change emits `dora.tier_changed`).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dora_tiers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// `organization`, or `repository:<name>:<environment>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub metric: String,
    pub tier: Option<String>,
    pub updated_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
