use sea_orm::entity::prelude::*;

/// A change a deployment shipped; the source of lead-time samples.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployment_commits")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deployment_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sha: String,
    pub committed_at: DateTimeUtc,
    /// Another deployment of the same stream (repository, environment) lists this sha too.
    /// Possibly set when it need not be; never unset when it should be.
    pub shared: bool,
    #[sea_orm(belongs_to, from = "deployment_id", to = "id", on_delete = "Cascade")]
    pub deployment: BelongsTo<super::deployments::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
