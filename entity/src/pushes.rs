use sea_orm::entity::prelude::*;

/// A push to a branch of a repository: it moved the branch from `before_sha` to `after_sha`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pushes")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub repository_id: Uuid,
    pub branch: String,
    /// 40 zeros for a new branch.
    pub before_sha: String,
    pub after_sha: String,
    /// The push rewrote history: `before_sha` is not an ancestor of `after_sha`.
    pub forced: bool,
    pub pushed_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
    #[sea_orm(belongs_to, from = "repository_id", to = "id", on_delete = "Cascade")]
    pub repository: BelongsTo<super::repositories::Entity>,
    #[sea_orm(has_many)]
    pub commits: HasMany<super::push_commits::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
