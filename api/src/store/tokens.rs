//! API token records and trust policies.

use chrono::{DateTime, Duration, Utc};
use entity::{api_tokens, organizations, trust_policies};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder, sea_query::Expr,
};
use uuid::Uuid;

pub async fn insert_token<C: ConnectionTrait>(
    conn: &C,
    token: api_tokens::Model,
) -> Result<api_tokens::Model, DbErr> {
    api_tokens::ActiveModel {
        id: Set(token.id),
        organization_id: Set(token.organization_id),
        name: Set(token.name),
        subject: Set(token.subject),
        scopes: Set(token.scopes),
        repositories: Set(token.repositories),
        created_by: Set(token.created_by),
        created_at: Set(token.created_at),
        expires_at: Set(token.expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(conn)
    .await
}

/// The organization's tokens, oldest first.
pub async fn list_tokens<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
) -> Result<Vec<api_tokens::Model>, DbErr> {
    api_tokens::Entity::find()
        .filter(api_tokens::Column::OrganizationId.eq(organization_id))
        .order_by_asc(api_tokens::Column::CreatedAt)
        .order_by_asc(api_tokens::Column::Id)
        .all(conn)
        .await
}

pub async fn find_token<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<api_tokens::Model>, DbErr> {
    api_tokens::Entity::find_by_id(id)
        .filter(api_tokens::Column::OrganizationId.eq(organization_id))
        .one(conn)
        .await
}

/// A token with its organization's slug, whatever the organization (verification and the
/// operator's `token revoke` know the id only).
pub async fn find_token_anywhere<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<(api_tokens::Model, String)>, DbErr> {
    let Some(token) = api_tokens::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    let slug = organizations::Entity::find_by_id(token.organization_id)
        .one(conn)
        .await?
        .map(|o| o.slug)
        .ok_or_else(|| DbErr::RecordNotFound("organization of token".to_owned()))?;
    Ok(Some((token, slug)))
}

/// Sets `revoked_at` unless the token is revoked already; answers the token as it is now.
pub async fn revoke_token<C: ConnectionTrait>(
    conn: &C,
    token: api_tokens::Model,
    now: DateTime<Utc>,
) -> Result<api_tokens::Model, DbErr> {
    if token.revoked_at.is_some() {
        return Ok(token);
    }
    let mut active: api_tokens::ActiveModel = token.into();
    active.revoked_at = Set(Some(now));
    active.update(conn).await
}

/// Records a use of the token, unless one was recorded less than `interval` ago (by any
/// instance): a read stays a read most of the time.
pub async fn touch_token<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
    interval: Duration,
) -> Result<(), DbErr> {
    api_tokens::Entity::update_many()
        .col_expr(api_tokens::Column::LastUsedAt, Expr::value(now))
        .filter(api_tokens::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(api_tokens::Column::LastUsedAt.is_null())
                .add(api_tokens::Column::LastUsedAt.lt(now - interval)),
        )
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn insert_policy<C: ConnectionTrait>(
    conn: &C,
    policy: trust_policies::Model,
) -> Result<trust_policies::Model, DbErr> {
    // Every column is written: `reset_all` marks the model's values as set.
    trust_policies::ActiveModel::from(policy)
        .reset_all()
        .insert(conn)
        .await
}

/// The organization's trust policies, oldest first.
pub async fn list_policies<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
) -> Result<Vec<trust_policies::Model>, DbErr> {
    trust_policies::Entity::find()
        .filter(trust_policies::Column::OrganizationId.eq(organization_id))
        .order_by_asc(trust_policies::Column::CreatedAt)
        .order_by_asc(trust_policies::Column::Id)
        .all(conn)
        .await
}

pub async fn find_policy<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<trust_policies::Model>, DbErr> {
    trust_policies::Entity::find_by_id(id)
        .filter(trust_policies::Column::OrganizationId.eq(organization_id))
        .one(conn)
        .await
}

pub async fn find_policy_by_name<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    name: &str,
) -> Result<Option<trust_policies::Model>, DbErr> {
    trust_policies::Entity::find()
        .filter(trust_policies::Column::OrganizationId.eq(organization_id))
        .filter(trust_policies::Column::Name.eq(name))
        .one(conn)
        .await
}

pub async fn delete_policy<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    trust_policies::Entity::delete_by_id(id).exec(conn).await?;
    Ok(())
}

/// Every organization's policies for tokens of `issuer`, with the organization's slug (an
/// identity token names its issuer, not an organization).
pub async fn policies_of_issuer<C: ConnectionTrait>(
    conn: &C,
    issuer: &str,
) -> Result<Vec<(trust_policies::Model, String)>, DbErr> {
    let policies = trust_policies::Entity::find()
        .filter(trust_policies::Column::Issuer.eq(issuer))
        .order_by_asc(trust_policies::Column::CreatedAt)
        .all(conn)
        .await?;
    let mut org_ids: Vec<Uuid> = policies.iter().map(|p| p.organization_id).collect();
    org_ids.sort_unstable();
    org_ids.dedup();
    let slugs: std::collections::HashMap<Uuid, String> = if org_ids.is_empty() {
        Default::default()
    } else {
        organizations::Entity::find()
            .filter(organizations::Column::Id.is_in(org_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|o| (o.id, o.slug))
            .collect()
    };
    Ok(policies
        .into_iter()
        .filter_map(|p| {
            let slug = slugs.get(&p.organization_id)?.clone();
            Some((p, slug))
        })
        .collect())
}
