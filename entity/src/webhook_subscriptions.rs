use sea_orm::entity::prelude::*;

/// Where an organization's outbound webhook events are sent, and which.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_subscriptions")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub url: String,
    /// The event names, as a JSON array.
    pub events: String,
    pub description: Option<String>,
    pub active: bool,
    /// The signing secret, sealed under `DORA_SECRET_KEY` (never in clear).
    pub secret: String,
    /// Why the service disabled it (null when an admin did, or when it is active).
    pub disabled_reason: Option<String>,
    /// Deliveries that failed for good since the last success.
    pub failed_in_a_row: i32,
    pub last_success_at: Option<DateTimeUtc>,
    pub last_failure_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
    #[sea_orm(has_many)]
    pub deliveries: HasMany<super::webhook_deliveries::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
