use sea_orm::entity::prelude::*;

/// A delivery id an integration has received (redeliveries of it change nothing).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integration_deliveries")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub integration_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    pub event: String,
    /// What the first delivery did: recorded, ignored, unhandled.
    pub result: String,
    pub received_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "integration_id", to = "id", on_delete = "Cascade")]
    pub integration: BelongsTo<super::integrations::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
