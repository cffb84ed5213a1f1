use sea_orm::entity::prelude::*;

/// One deployment of one repository to one environment.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
pub struct Model {
    /// Increasing integer key: GitHub-style integer ids and cursor pagination.
    #[sea_orm(primary_key)]
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
