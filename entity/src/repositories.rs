use sea_orm::entity::prelude::*;

/// A source repository, created on first use and keyed by its normalized URL.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repositories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    /// The URL as first given.
    pub url: String,
    /// Normalized key, unique per organization, e.g. `github.com/acme/web`.
    pub key: String,
    /// Display name, e.g. `acme/web`.
    pub name: String,
    pub team: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
