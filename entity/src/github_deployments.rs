use sea_orm::entity::prelude::*;

/// GitHub deployment fields with no column in `deployments`, for deployments created
/// through the GitHub-compatible API. (`ref` is `deployments.branch`, `sha` is
/// `deployments.commit_id`, `production_environment` is `deployments.is_production`.)
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "github_deployments")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deployment_id: Uuid,
    pub task: String,
    /// JSON text: an object, or a string as the client sent it.
    pub payload: String,
    pub description: Option<String>,
    pub transient_environment: bool,
    pub original_environment: String,
    /// The `sub` of the token that created it.
    pub creator: Option<String>,
    #[sea_orm(belongs_to, from = "deployment_id", to = "id", on_delete = "Cascade")]
    pub deployment: BelongsTo<super::deployments::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
