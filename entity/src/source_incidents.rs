use sea_orm::entity::prelude::*;

/// An incident of an alerting source (PagerDuty, Alertmanager) by the source's id, and the
/// version of the source's state last applied to it.
#[sea_orm::model]
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "source_incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// `pagerduty`, `alertmanager`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    /// PagerDuty's incident id; an alert's `fingerprint@startsAt`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub source_id: String,
    pub incident_id: Option<Uuid>,
    /// When the source made the change last applied.
    pub version_at: Option<DateTimeUtc>,
    /// What that change was (0 opened, 1 reopened, 2 resolved): orders changes of one instant.
    pub version_rank: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
    #[sea_orm(belongs_to, from = "incident_id", to = "id", on_delete = "SetNull")]
    pub incident: BelongsTo<Option<super::incidents::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
