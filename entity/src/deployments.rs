use sea_orm::entity::prelude::*;

/// One deployment of one repository to one environment.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    /// Internal auto-increment key, never shown (it counts every organization's rows).
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Unique and increasing within the organization: GitHub-style integer ids, cursor
    /// pagination, and the tie-break of equal deploy times in a stream.
    pub number: i64,
    #[sea_orm(unique)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub repository_id: Uuid,
    pub pusher_id: Option<Uuid>,
    pub environment: String,
    pub is_production: bool,
    pub title: String,
    pub changelog: Option<String>,
    pub url: Option<String>,
    pub branch: String,
    pub commit_id: String,
    pub node_id: Option<String>,
    pub pull_request_number: Option<i64>,
    pub commits_count: i32,
    pub duration_seconds: Option<i64>,
    pub is_fix: bool,
    pub is_hotfix: bool,
    pub is_forced: bool,
    pub is_rollback: bool,
    /// Canonical status: queued, in_progress, success, failure, error, canceled, inactive.
    pub status: String,
    pub triggered_by: String,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// `finished_at` when set, else `created_at`.
    pub deployed_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The caller's own id of an imported deployment (`POST /api/v1/deployments/import`):
    /// unique within the organization where given.
    pub external_id: Option<String>,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
    #[sea_orm(belongs_to, from = "repository_id", to = "id", on_delete = "Cascade")]
    pub repository: BelongsTo<super::repositories::Entity>,
    #[sea_orm(belongs_to, from = "pusher_id", to = "id", on_delete = "SetNull")]
    pub pusher: BelongsTo<Option<super::members::Entity>>,
    #[sea_orm(has_many)]
    pub commits: HasMany<super::deployment_commits::Entity>,
    #[sea_orm(has_many)]
    pub statuses: HasMany<super::deployment_statuses::Entity>,
    /// Set for deployments created through the GitHub-compatible API.
    #[sea_orm(has_one)]
    pub github_deployment: HasOne<super::github_deployments::Entity>,
    /// Set for deployments recorded by a deploy hook.
    #[sea_orm(has_one)]
    pub deploy_hook_trigger: HasOne<super::deploy_hook_triggers::Entity>,
    /// The hooks whose last deployment this is.
    #[sea_orm(has_many)]
    pub deploy_hooks: HasMany<super::deploy_hooks::Entity>,
    #[sea_orm(has_many)]
    pub incidents: HasMany<super::incidents::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
