use sea_orm::entity::prelude::*;

/// A deployment recorded by a deploy hook, keyed for the repeat-trigger dedupe rule.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deploy_hook_triggers")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deployment_id: Uuid,
    pub deploy_hook_id: Uuid,
    /// Environment, PR number, branch and commit of the trigger.
    pub dedupe_key: String,
    pub created_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "deployment_id", to = "id", on_delete = "Cascade")]
    pub deployment: BelongsTo<super::deployments::Entity>,
    #[sea_orm(belongs_to, from = "deploy_hook_id", to = "id", on_delete = "Cascade")]
    pub deploy_hook: BelongsTo<super::deploy_hooks::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
