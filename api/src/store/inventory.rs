//! What the `/metrics` snapshot enumerates: every organization, the repositories' label
//! values, the environments with deployments in a window, and the deployment and incident
//! counts of a window by label. Read across organizations on purpose: the snapshot exports them all, each
//! series labelled with its organization.

use std::collections::HashMap;

use dora_metrics::{Window, exposition::Count};
use sea_orm::{ConnectionTrait, DbErr, Statement};
use uuid::Uuid;

use super::sql::Sql;

/// A repository's label values.
#[derive(Debug, Clone)]
pub struct RepositoryLabels {
    pub name: String,
    pub team: Option<String>,
}

/// (id, slug) of every organization, by slug.
pub async fn organizations<C: ConnectionTrait>(conn: &C) -> Result<Vec<(Uuid, String)>, DbErr> {
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        "SELECT id, slug FROM organizations ORDER BY slug",
    ))
    .await?
    .iter()
    .map(|r| Ok((r.try_get("", "id")?, r.try_get("", "slug")?)))
    .collect()
}

/// Every repository's label values, by id.
pub async fn repositories<C: ConnectionTrait>(
    conn: &C,
) -> Result<HashMap<Uuid, RepositoryLabels>, DbErr> {
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        "SELECT id, name, team FROM repositories",
    ))
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("", "id")?,
            RepositoryLabels {
                name: r.try_get("", "name")?,
                team: r.try_get("", "team")?,
            },
        ))
    })
    .collect()
}

/// The environments of `organization_id` with a deployment (any status) in `window`.
pub async fn environments<C: ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
    window: &Window,
) -> Result<Vec<String>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT DISTINCT environment FROM deployments WHERE organization_id = ")
        .bind(organization_id)
        .push(" AND deployed_at >= ")
        .bind(window.from)
        .push(" AND deployed_at < ")
        .bind(window.to)
        .push(" ORDER BY environment");
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|r| r.try_get("", "environment"))
        .collect()
}

/// The deployments of organization (`organization_id`, `slug`) deployed in `window`, by
/// (organization slug, repository name, environment, status, window label): one range scan
/// of `ix_deployments_org_deployed_at`.
pub async fn deployment_counts<C: ConnectionTrait>(
    conn: &C,
    (organization_id, slug): (Uuid, &str),
    window: &Window,
    label: &str,
) -> Result<Vec<Count>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(
        "SELECT r.name, d.environment, d.status, COUNT(*) AS n FROM deployments d \
         JOIN repositories r ON r.id = d.repository_id WHERE d.organization_id = ",
    )
    .bind(organization_id)
    .push(" AND d.deployed_at >= ")
    .bind(window.from)
    .push(" AND d.deployed_at < ")
    .bind(window.to)
    .push(" GROUP BY r.name, d.environment, d.status");
    counts(conn, sql.statement(), slug, 3, label).await
}

/// The incidents of organization (`organization_id`, `slug`) started in `window`, by
/// (organization slug, repository name or "", environment, window label).
pub async fn incident_counts<C: ConnectionTrait>(
    conn: &C,
    (organization_id, slug): (Uuid, &str),
    window: &Window,
    label: &str,
) -> Result<Vec<Count>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(
        "SELECT COALESCE(r.name, '') AS name, i.environment, COUNT(*) AS n FROM incidents i \
         LEFT JOIN repositories r ON r.id = i.repository_id WHERE i.organization_id = ",
    )
    .bind(organization_id)
    .push(" AND i.started_at >= ")
    .bind(window.from)
    .push(" AND i.started_at < ")
    .bind(window.to)
    .push(" GROUP BY r.name, i.environment");
    counts(conn, sql.statement(), slug, 2, label).await
}

/// Rows of (labels…, n) from a GROUP BY with `labels` text columns then a count, each
/// labelled (`slug`, the row's labels…, `window`).
async fn counts<C: ConnectionTrait>(
    conn: &C,
    statement: Statement,
    slug: &str,
    labels: usize,
    window: &str,
) -> Result<Vec<Count>, DbErr> {
    let rows = conn.query_all_raw(statement).await?;
    rows.iter()
        .map(|r| {
            let mut values = vec![slug.to_owned()];
            for i in 0..labels {
                values.push(r.try_get_by_index::<String>(i)?);
            }
            values.push(window.to_owned());
            let n: i64 = r.try_get_by_index(labels)?;
            Ok(Count {
                labels: values,
                value: u64::try_from(n).unwrap_or(0),
            })
        })
        .collect()
}
