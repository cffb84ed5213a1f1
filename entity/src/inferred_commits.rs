use sea_orm::entity::prelude::*;

/// A deployment whose commits were inferred from recorded pushes (it had no explicit ones).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inferred_commits")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deployment_id: Uuid,
    pub organization_id: Uuid,
    pub repository_id: Uuid,
    /// The sha whose push was not recorded when the chain was followed: a push bringing it
    /// completes the deployment's commits.
    pub waiting_for_sha: Option<String>,
    pub updated_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "deployment_id", to = "id", on_delete = "Cascade")]
    pub deployment: BelongsTo<super::deployments::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
