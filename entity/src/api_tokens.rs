use sea_orm::entity::prelude::*;

/// An API token: the `jti` of a JWT we signed. The token itself is never stored.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    /// The JWT's `jti`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    /// The JWT's `sub`.
    pub subject: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// JSON array of repository keys; `None`: every repository of the organization.
    pub repositories: Option<String>,
    /// The `sub` of whoever created it (`None`: the `token issue` command).
    pub created_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// Written at most about once a minute (see `core::tokens`).
    pub last_used_at: Option<DateTimeUtc>,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
