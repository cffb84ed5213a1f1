use sea_orm::entity::prelude::*;

/// A commit a push brought, in the order of the push (oldest first).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_commits")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub push_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    /// The push's repository (for the lookup by sha).
    pub repository_id: Uuid,
    pub sha: String,
    pub committed_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "push_id", to = "id", on_delete = "Cascade")]
    pub push: BelongsTo<super::pushes::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
