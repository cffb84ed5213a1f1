use sea_orm::entity::prelude::*;

/// One entry of a deployment's append-only status history (GitHub's deployment statuses).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployment_statuses")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    /// Integer id, as GitHub's status ids are.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub deployment_id: Uuid,
    pub organization_id: Uuid,
    /// queued, pending, in_progress, success, failure, error, inactive.
    pub state: String,
    pub description: String,
    pub log_url: Option<String>,
    pub environment_url: Option<String>,
    pub environment: String,
    /// The `sub` of the token that posted it.
    pub creator: Option<String>,
    pub created_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "deployment_id", to = "id", on_delete = "Cascade")]
    pub deployment: BelongsTo<super::deployments::Entity>,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
