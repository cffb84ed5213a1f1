use sea_orm::entity::prelude::*;

/// A tenant: every other row belongs to exactly one organization.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub slug: String,
    pub created_at: DateTimeUtc,
    /// The last deployment `number` handed out in this organization (numbers are per
    /// organization).
    pub last_deployment_number: i64,
    #[sea_orm(has_many)]
    pub repositories: HasMany<super::repositories::Entity>,
    #[sea_orm(has_many)]
    pub members: HasMany<super::members::Entity>,
    #[sea_orm(has_many)]
    pub deployments: HasMany<super::deployments::Entity>,
    #[sea_orm(has_many)]
    pub deployment_statuses: HasMany<super::deployment_statuses::Entity>,
    #[sea_orm(has_many)]
    pub incidents: HasMany<super::incidents::Entity>,
    #[sea_orm(has_many)]
    pub deploy_hooks: HasMany<super::deploy_hooks::Entity>,
    #[sea_orm(has_many)]
    pub idempotency_keys: HasMany<super::idempotency_keys::Entity>,
    #[sea_orm(has_many)]
    pub audit_log: HasMany<super::audit_log::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
