use sea_orm::entity::prelude::*;

/// An object of a webhook source (a GitHub deployment, status, workflow run, issue…) and the
/// record it became, with the version of it last applied.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "source_objects")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// `github`, `gitlab`, …
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    /// `deployment`, `deployment_status`, `workflow_run`, `issue`, …
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub repository_id: Uuid,
    /// The source's id of the object.
    #[sea_orm(primary_key, auto_increment = false)]
    pub external_id: String,
    pub deployment_id: Option<Uuid>,
    pub incident_id: Option<Uuid>,
    /// The version last applied (a status's time, an issue's `updated_at`).
    pub version_at: Option<DateTimeUtc>,
    /// With `version_at`: a status's id, a workflow run's attempt.
    pub version_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
    #[sea_orm(belongs_to, from = "repository_id", to = "id", on_delete = "Cascade")]
    pub repository: BelongsTo<super::repositories::Entity>,
    #[sea_orm(belongs_to, from = "deployment_id", to = "id", on_delete = "SetNull")]
    pub deployment: BelongsTo<Option<super::deployments::Entity>>,
    #[sea_orm(belongs_to, from = "incident_id", to = "id", on_delete = "SetNull")]
    pub incident: BelongsTo<Option<super::incidents::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
