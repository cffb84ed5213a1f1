use sea_orm::entity::prelude::*;

/// A managed deploy hook: its secret URL records a deployment of one repository, branch
/// and environment.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deploy_hooks")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub repository_id: Uuid,
    /// 1-58 characters, unique per (organization, repository).
    pub name: String,
    pub branch: String,
    pub environment: String,
    /// SHA-256 (hex) of the secret in the trigger URL. The secret itself is never stored.
    #[sea_orm(unique)]
    pub secret_hash: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_triggered_at: Option<DateTimeUtc>,
    pub last_deployment_id: Option<Uuid>,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
    #[sea_orm(belongs_to, from = "repository_id", to = "id", on_delete = "Cascade")]
    pub repository: BelongsTo<super::repositories::Entity>,
    #[sea_orm(
        belongs_to,
        from = "last_deployment_id",
        to = "id",
        on_delete = "SetNull"
    )]
    pub last_deployment: BelongsTo<Option<super::deployments::Entity>>,
    #[sea_orm(has_many)]
    pub triggers: HasMany<super::deploy_hook_triggers::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
