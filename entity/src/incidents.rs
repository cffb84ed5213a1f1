use sea_orm::entity::prelude::*;

/// An incident: something went wrong in an environment, possibly caused by a deployment.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub repository_id: Option<Uuid>,
    pub environment: String,
    /// Whether the incident counts in the default (production) metrics scope.
    pub is_production: bool,
    /// The deployment it is attributed to, when known.
    pub deployment_id: Option<Uuid>,
    pub title: String,
    pub severity: Option<String>,
    pub started_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Where it came from: `api`, `github`, `gitlab`, …
    pub source: String,
    /// The source's id of it (an issue id), unique per organization and source.
    pub source_id: Option<String>,
    /// The source's page for it.
    pub source_url: Option<String>,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
    #[sea_orm(belongs_to, from = "repository_id", to = "id", on_delete = "Cascade")]
    pub repository: BelongsTo<Option<super::repositories::Entity>>,
    #[sea_orm(belongs_to, from = "deployment_id", to = "id", on_delete = "SetNull")]
    pub deployment: BelongsTo<Option<super::deployments::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
