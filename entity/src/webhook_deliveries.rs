use sea_orm::entity::prelude::*;

/// One event for one subscription: the outbox row, written with the change that caused it,
/// and the record of its delivery attempts.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The id receivers see (`X-Dora-Delivery`); a redelivery keeps it.
    pub guid: Uuid,
    pub organization_id: Uuid,
    pub subscription_id: Uuid,
    pub event: String,
    pub action: Option<String>,
    /// The JSON body, exactly as sent and signed.
    pub payload: String,
    pub redelivery: bool,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// The instance sending it now, until `claimed_until`.
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTimeUtc>,
    pub status_code: Option<i32>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    #[sea_orm(belongs_to, from = "subscription_id", to = "id", on_delete = "Cascade")]
    pub subscription: BelongsTo<super::webhook_subscriptions::Entity>,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
