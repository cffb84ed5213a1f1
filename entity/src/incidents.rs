use sea_orm::entity::prelude::*;

/// An incident: something went wrong in an environment, possibly caused by a deployment.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
