//! Deploy hooks and the deployments they recorded.

use chrono::{DateTime, Utc};
use entity::{deploy_hook_triggers, deploy_hooks, deployments, repositories};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

/// A hook with what its API representation needs.
#[derive(Debug, Clone)]
pub struct HookRecord {
    pub hook: deploy_hooks::Model,
    pub repository: repositories::Model,
    pub last_deployment: Option<deployments::Model>,
}

/// The fields of a hook that create and replace set.
#[derive(Debug, Clone)]
pub struct HookFields {
    pub repository_id: Uuid,
    pub name: String,
    pub branch: String,
    pub environment: String,
}

pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    fields: &HookFields,
    secret_hash: &str,
    now: DateTime<Utc>,
) -> Result<deploy_hooks::Model, DbErr> {
    deploy_hooks::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id),
        repository_id: Set(fields.repository_id),
        name: Set(fields.name.clone()),
        branch: Set(fields.branch.clone()),
        environment: Set(fields.environment.clone()),
        secret_hash: Set(secret_hash.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        last_triggered_at: Set(None),
        last_deployment_id: Set(None),
    }
    .insert(conn)
    .await
}

/// Another hook of the organization with this repository and name, if any.
pub async fn find_by_name<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    repository_id: Uuid,
    name: &str,
) -> Result<Option<deploy_hooks::Model>, DbErr> {
    deploy_hooks::Entity::find()
        .filter(deploy_hooks::Column::OrganizationId.eq(organization_id))
        .filter(deploy_hooks::Column::RepositoryId.eq(repository_id))
        .filter(deploy_hooks::Column::Name.eq(name))
        .one(conn)
        .await
}

pub async fn find<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<deploy_hooks::Model>, DbErr> {
    deploy_hooks::Entity::find_by_id(id)
        .filter(deploy_hooks::Column::OrganizationId.eq(organization_id))
        .one(conn)
        .await
}

/// The hook whose secret hashes to `secret_hash` (any organization: the secret is the
/// credential).
pub async fn find_by_secret_hash<C: ConnectionTrait>(
    conn: &C,
    secret_hash: &str,
) -> Result<Option<deploy_hooks::Model>, DbErr> {
    deploy_hooks::Entity::find()
        .filter(deploy_hooks::Column::SecretHash.eq(secret_hash))
        .one(conn)
        .await
}

/// Reads the hook inside a write transaction, locked so that concurrent triggers of one hook
/// run one after the other (see [`super::one_for_update`]).
pub async fn lock<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
) -> Result<Option<deploy_hooks::Model>, DbErr> {
    super::one_for_update(txn, deploy_hooks::Entity::find_by_id(id)).await
}

pub async fn replace<C: ConnectionTrait>(
    conn: &C,
    current: deploy_hooks::Model,
    fields: &HookFields,
    now: DateTime<Utc>,
) -> Result<deploy_hooks::Model, DbErr> {
    let mut active: deploy_hooks::ActiveModel = current.into();
    active.repository_id = Set(fields.repository_id);
    active.name = Set(fields.name.clone());
    active.branch = Set(fields.branch.clone());
    active.environment = Set(fields.environment.clone());
    active.updated_at = Set(now);
    active.update(conn).await
}

pub async fn delete<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    deploy_hooks::Entity::delete_by_id(id).exec(conn).await?;
    Ok(())
}

/// All hooks of the organization, oldest first.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
) -> Result<Vec<deploy_hooks::Model>, DbErr> {
    deploy_hooks::Entity::find()
        .filter(deploy_hooks::Column::OrganizationId.eq(organization_id))
        .order_by_asc(deploy_hooks::Column::CreatedAt)
        .order_by_asc(deploy_hooks::Column::Id)
        .all(conn)
        .await
}

/// Loads the repositories and latest deployments of hooks in two queries.
pub async fn hydrate<C: ConnectionTrait>(
    conn: &C,
    hooks: Vec<deploy_hooks::Model>,
) -> Result<Vec<HookRecord>, DbErr> {
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    let repositories: std::collections::HashMap<Uuid, repositories::Model> =
        repositories::Entity::find()
            .filter(repositories::Column::Id.is_in(hooks.iter().map(|h| h.repository_id)))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
    let deployment_ids: Vec<Uuid> = hooks.iter().filter_map(|h| h.last_deployment_id).collect();
    let deployments: std::collections::HashMap<Uuid, deployments::Model> =
        if deployment_ids.is_empty() {
            Default::default()
        } else {
            deployments::Entity::find()
                .filter(deployments::Column::Id.is_in(deployment_ids))
                .all(conn)
                .await?
                .into_iter()
                .map(|d| (d.id, d))
                .collect()
        };
    hooks
        .into_iter()
        .map(|hook| {
            let repository = repositories
                .get(&hook.repository_id)
                .cloned()
                .ok_or_else(|| DbErr::RecordNotFound("repository of deploy hook".to_owned()))?;
            Ok(HookRecord {
                last_deployment: hook
                    .last_deployment_id
                    .and_then(|d| deployments.get(&d).cloned()),
                repository,
                hook,
            })
        })
        .collect()
}

/// The latest deployment this hook recorded for `dedupe_key`, with when it was triggered.
pub async fn latest_for_key<C: ConnectionTrait>(
    conn: &C,
    hook_id: Uuid,
    dedupe_key: &str,
) -> Result<Option<(deploy_hook_triggers::Model, deployments::Model)>, DbErr> {
    let Some(trigger) = deploy_hook_triggers::Entity::find()
        .filter(deploy_hook_triggers::Column::DeployHookId.eq(hook_id))
        .filter(deploy_hook_triggers::Column::DedupeKey.eq(dedupe_key))
        .order_by_desc(deploy_hook_triggers::Column::CreatedAt)
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let deployment = deployments::Entity::find()
        .filter(deployments::Column::Id.eq(trigger.deployment_id))
        .one(conn)
        .await?;
    Ok(deployment.map(|d| (trigger, d)))
}

/// Remembers that the hook recorded `deployment_id`.
pub async fn record_trigger<C: ConnectionTrait>(
    conn: &C,
    hook_id: Uuid,
    deployment_id: Uuid,
    dedupe_key: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    deploy_hook_triggers::Entity::insert(deploy_hook_triggers::ActiveModel {
        deployment_id: Set(deployment_id),
        deploy_hook_id: Set(hook_id),
        dedupe_key: Set(dedupe_key.to_owned()),
        created_at: Set(now),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Sets the hook's latest trigger time and latest deployment.
pub async fn touch<C: ConnectionTrait>(
    conn: &C,
    hook: deploy_hooks::Model,
    deployment_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut active: deploy_hooks::ActiveModel = hook.into();
    active.last_triggered_at = Set(Some(now));
    active.last_deployment_id = Set(Some(deployment_id));
    active.update(conn).await?;
    Ok(())
}
