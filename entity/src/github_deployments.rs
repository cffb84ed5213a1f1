use sea_orm::entity::prelude::*;

/// GitHub deployment fields with no column in `deployments`, for deployments created
/// through the GitHub-compatible API. (`ref` is `deployments.branch`, `sha` is
/// `deployments.commit_id`, `production_environment` is `deployments.is_production`.)
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "github_deployments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deployment_id: Uuid,
    pub task: String,
    /// JSON text: an object, or a string as the client sent it.
    pub payload: String,
    pub description: Option<String>,
    pub transient_environment: bool,
    pub original_environment: String,
    /// The `sub` of the token that created it.
    pub creator: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::deployments::Entity",
        from = "Column::DeploymentId",
        to = "super::deployments::Column::Id"
    )]
    Deployment,
}

impl Related<super::deployments::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Deployment.def()
    }
}

impl Related<Entity> for super::deployments::Entity {
    fn to() -> RelationDef {
        Relation::Deployment.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
