//! The relations declared on the dense models join on the foreign keys of the migrations.

use entity::{
    deploy_hook_triggers, deploy_hooks, deployment_commits, deployments, github_deployments,
    incidents, members, organizations, repositories,
};
use sea_orm::{DbBackend, EntityName, EntityTrait, QueryTrait, Related, RelationTrait};

fn join_sql<E, R>() -> String
where
    E: EntityTrait + Related<R>,
    R: EntityTrait,
{
    E::find()
        .find_also_related(R::default())
        .build(DbBackend::Sqlite)
        .to_string()
}

fn assert_joins<E, R>(on: &str)
where
    E: EntityTrait + Related<R>,
    R: EntityTrait,
{
    let sql = join_sql::<E, R>();
    assert!(sql.contains(on), "{sql}\ndoes not join on {on}");
}

#[test]
fn belongs_to_joins_on_the_foreign_key() {
    assert_joins::<github_deployments::Entity, deployments::Entity>(
        r#"ON "github_deployments"."deployment_id" = "deployments"."id""#,
    );
    assert_joins::<deployments::Entity, members::Entity>(
        r#"ON "deployments"."pusher_id" = "members"."id""#,
    );
    assert_joins::<incidents::Entity, deployments::Entity>(
        r#"ON "incidents"."deployment_id" = "deployments"."id""#,
    );
    assert_joins::<deploy_hooks::Entity, deployments::Entity>(
        r#"ON "deploy_hooks"."last_deployment_id" = "deployments"."id""#,
    );
    assert_joins::<deploy_hook_triggers::Entity, deploy_hooks::Entity>(
        r#"ON "deploy_hook_triggers"."deploy_hook_id" = "deploy_hooks"."id""#,
    );
    assert_joins::<repositories::Entity, organizations::Entity>(
        r#"ON "repositories"."organization_id" = "organizations"."id""#,
    );
}

#[test]
fn has_one_and_has_many_reverse_the_foreign_key() {
    // The store's GitHub reads: `deployments.id`, not the integer primary key.
    assert_joins::<deployments::Entity, github_deployments::Entity>(
        r#"ON "deployments"."id" = "github_deployments"."deployment_id""#,
    );
    assert_joins::<deployments::Entity, deployment_commits::Entity>(
        r#"ON "deployments"."id" = "deployment_commits"."deployment_id""#,
    );
    assert_joins::<organizations::Entity, deployments::Entity>(
        r#"ON "organizations"."id" = "deployments"."organization_id""#,
    );
    // The generated variant is named after the related module; reversed, it joins from
    // `deployments` (the store's status reads).
    assert_eq!(
        github_deployments::Relation::Deployments
            .def()
            .rev()
            .from_tbl,
        deployments::Entity.table_ref(),
    );
}

#[test]
fn relation_fields_live_on_model_ex_only() {
    let model = github_deployments::Model {
        deployment_id: Default::default(),
        task: "deploy".to_owned(),
        payload: "{}".to_owned(),
        description: None,
        transient_environment: false,
        original_environment: "production".to_owned(),
        creator: None,
    };
    let ex = model.clone().into_ex();
    assert!(ex.deployment.is_unloaded());
    assert_eq!(github_deployments::Model::from(ex), model);
}
