use sea_orm::entity::prelude::*;

/// An organization's connection to an outside system (GitHub, GitLab, …) that sends webhooks.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integrations")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    /// `github`, `gitlab`, …
    pub kind: String,
    pub name: String,
    /// The validated options, as JSON text.
    pub options: String,
    /// The delivery secret, sealed under `DORA_SECRET_KEY` (never in clear).
    pub secret: String,
    /// The secret before the last rotation, sealed; accepted until `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    pub secret_rotated_at: Option<DateTimeUtc>,
    /// Verified deliveries, and how each ended.
    pub deliveries: i64,
    pub recorded: i64,
    pub duplicates: i64,
    pub ignored: i64,
    pub unhandled: i64,
    pub last_delivery_at: Option<DateTimeUtc>,
    pub last_event: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
    #[sea_orm(has_many)]
    pub deliveries_seen: HasMany<super::integration_deliveries::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
