pub use super::deployment_commits::Entity as DeploymentCommits;
pub use super::deployments::Entity as Deployments;
pub use super::idempotency_keys::Entity as IdempotencyKeys;
pub use super::incidents::Entity as Incidents;
pub use super::members::Entity as Members;
pub use super::organizations::Entity as Organizations;
pub use super::repositories::Entity as Repositories;
