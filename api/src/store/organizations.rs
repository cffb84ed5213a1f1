//! Organizations (tenants), repositories and members: created on first use.

use chrono::{DateTime, Utc};
use entity::{members, organizations, repositories};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use crate::domain::RepositoryRef;

pub async fn find_organization<C: ConnectionTrait>(
    conn: &C,
    slug: &str,
) -> Result<Option<Uuid>, DbErr> {
    Ok(organizations::Entity::find()
        .filter(organizations::Column::Slug.eq(slug))
        .one(conn)
        .await?
        .map(|o| o.id))
}

/// The organization's id, creating it when it does not exist yet.
pub async fn ensure_organization<C: ConnectionTrait>(
    conn: &C,
    slug: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, DbErr> {
    if let Some(id) = find_organization(conn, slug).await? {
        return Ok(id);
    }
    organizations::Entity::insert(organizations::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(slug.to_owned()),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(organizations::Column::Slug)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    find_organization(conn, slug)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("organization {slug}")))
}

pub async fn find_repository_by_key<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    key: &str,
) -> Result<Option<repositories::Model>, DbErr> {
    repositories::Entity::find()
        .filter(repositories::Column::OrganizationId.eq(organization_id))
        .filter(repositories::Column::Key.eq(key))
        .one(conn)
        .await
}

/// The repository with this id (whatever its organization: the caller knows it is right).
pub async fn find_repository<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<repositories::Model>, DbErr> {
    repositories::Entity::find_by_id(id).one(conn).await
}

/// The ids of the organization's repositories of `team`.
pub async fn team_repositories<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    team: &str,
) -> Result<Vec<Uuid>, DbErr> {
    repositories::Entity::find()
        .select_only()
        .column(repositories::Column::Id)
        .filter(repositories::Column::OrganizationId.eq(organization_id))
        .filter(repositories::Column::Team.eq(team))
        .into_tuple()
        .all(conn)
        .await
}

/// The names and teams of the repositories with these ids, by id.
pub async fn repositories_by_id<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, super::inventory::RepositoryLabels>, DbErr> {
    let mut found = std::collections::HashMap::new();
    for chunk in ids.chunks(1000) {
        for r in repositories::Entity::find()
            .filter(repositories::Column::Id.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            found.insert(
                r.id,
                super::inventory::RepositoryLabels {
                    name: r.name,
                    team: r.team,
                },
            );
        }
    }
    Ok(found)
}

/// Resolves a repository named by its id or by any spelling of its URL.
pub async fn resolve_repository<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    reference: &str,
) -> Result<Option<repositories::Model>, DbErr> {
    if let Ok(id) = Uuid::parse_str(reference) {
        return repositories::Entity::find_by_id(id)
            .filter(repositories::Column::OrganizationId.eq(organization_id))
            .one(conn)
            .await;
    }
    match RepositoryRef::parse(reference) {
        Ok(r) => find_repository_by_key(conn, organization_id, &r.key).await,
        Err(_) => Ok(None),
    }
}

/// The repository for `reference`, created on first use; a given `team` is recorded.
pub async fn ensure_repository<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    reference: &RepositoryRef,
    team: Option<&str>,
    now: DateTime<Utc>,
) -> Result<repositories::Model, DbErr> {
    if let Some(existing) = find_repository_by_key(conn, organization_id, &reference.key).await? {
        return match team {
            Some(team) if existing.team.as_deref() != Some(team) => {
                let mut active: repositories::ActiveModel = existing.into();
                active.team = Set(Some(team.to_owned()));
                active.update(conn).await
            }
            _ => Ok(existing),
        };
    }
    repositories::Entity::insert(repositories::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id),
        url: Set(reference.url.clone()),
        key: Set(reference.key.clone()),
        name: Set(reference.name.clone()),
        team: Set(team.map(str::to_owned)),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            repositories::Column::OrganizationId,
            repositories::Column::Key,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    find_repository_by_key(conn, organization_id, &reference.key)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("repository {}", reference.key)))
}

/// Records `team` as the repository's team unless it is already (one statement: no read).
pub async fn set_team<C: ConnectionTrait>(
    conn: &C,
    repository_id: Uuid,
    team: &str,
) -> Result<(), DbErr> {
    repositories::Entity::update_many()
        .col_expr(repositories::Column::Team, Expr::value(team))
        .filter(repositories::Column::Id.eq(repository_id))
        .filter(
            Condition::any()
                .add(repositories::Column::Team.is_null())
                .add(repositories::Column::Team.ne(team)),
        )
        .exec(conn)
        .await?;
    Ok(())
}

/// The member with this external id, created on first use.
pub async fn ensure_member<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    external_id: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, DbErr> {
    let find = || {
        members::Entity::find()
            .filter(members::Column::OrganizationId.eq(organization_id))
            .filter(members::Column::ExternalId.eq(external_id))
            .one(conn)
    };
    if let Some(member) = find().await? {
        return Ok(member.id);
    }
    members::Entity::insert(members::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id),
        external_id: Set(external_id.to_owned()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([members::Column::OrganizationId, members::Column::ExternalId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    find()
        .await?
        .map(|m| m.id)
        .ok_or_else(|| DbErr::RecordNotFound(format!("member {external_id}")))
}
