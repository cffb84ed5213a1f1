use sea_orm::entity::prelude::*;

/// A source repository, created on first use and keyed by its normalized URL.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repositories")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    /// The URL as first given.
    pub url: String,
    /// Normalized key, unique per organization, e.g. `github.com/acme/web`.
    pub key: String,
    /// Display name, e.g. `acme/web`.
    pub name: String,
    pub team: Option<String>,
    pub created_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
    #[sea_orm(has_many)]
    pub deployments: HasMany<super::deployments::Entity>,
    #[sea_orm(has_many)]
    pub incidents: HasMany<super::incidents::Entity>,
    #[sea_orm(has_many)]
    pub deploy_hooks: HasMany<super::deploy_hooks::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
