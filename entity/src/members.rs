use sea_orm::entity::prelude::*;

/// Who pushed a deployment: `member_id` of a request, unique per organization.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "members")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub external_id: String,
    pub created_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
    /// The deployments this member pushed.
    #[sea_orm(has_many)]
    pub deployments: HasMany<super::deployments::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
