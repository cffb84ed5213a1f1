use sea_orm::entity::prelude::*;

/// A trust policy: CI identity tokens (OIDC) of `issuer` for `audience` whose claims satisfy
/// `conditions` act for the organization with `scopes`, restricted to the repository named by
/// the `repository_claim` claim (on `repository_host`).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trust_policies")]
// Serde: `dora-tracker export` / `import` (api::store::transfer) write rows as they are.
#[sea_orm(model_attrs(derive(serde::Serialize, serde::Deserialize)))]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    /// Unique per organization.
    pub name: String,
    pub issuer: String,
    pub audience: String,
    /// JSON object: claim name -> exact value or glob.
    pub conditions: String,
    /// Space-separated scopes.
    pub scopes: String,
    pub repository_claim: String,
    pub repository_host: String,
    pub created_by: Option<String>,
    pub created_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "organization_id", to = "id", on_delete = "Cascade")]
    pub organization: BelongsTo<super::organizations::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
