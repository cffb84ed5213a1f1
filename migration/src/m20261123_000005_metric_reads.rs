//! What makes a metrics window cheap to read (BENCHMARKS.md, "Metrics queries"):
//!
//! - `deployment_commits.shared`: set when another deployment of the same stream (repository,
//!   environment) lists the same sha. Lead time only has to ask "was this commit shipped
//!   earlier in its stream?" for shared commits; the rest, nearly all of them, are first
//!   deployments by construction. The flag may be set when it need not be (a stream change, a
//!   deletion), never the other way round.
//! - Covering indexes, so the window's production deployments and their commits are read from
//!   the index alone: on PostgreSQL the extra columns are `INCLUDE`d, on SQLite they are
//!   trailing key columns. The window index replaces `ix_deployments_org_prod_deployed_at`
//!   (same leading columns), and `(sha, deployment_id)` replaces `(sha)`.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum DeploymentCommits {
    Table,
    DeploymentId,
    Sha,
    CommittedAt,
    Shared,
}

#[derive(DeriveIden, Clone, Copy)]
enum Deployments {
    Table,
    Id,
    Number,
    OrganizationId,
    RepositoryId,
    Environment,
    IsProduction,
    DeployedAt,
    Status,
    FinishedAt,
    IsFix,
    IsHotfix,
    IsRollback,
}

/// An index over `key` that also carries `carried`, for index-only reads.
pub(crate) fn covering<T: IntoIden + Copy>(
    backend: DbBackend,
    name: &str,
    table: T,
    key: &[T],
    carried: &[T],
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.if_not_exists().name(name).table(table);
    for col in key {
        index.col(*col);
    }
    for col in carried {
        match backend {
            DbBackend::Postgres => index.include(*col),
            _ => index.col(*col),
        };
    }
    index.to_owned()
}

/// Sets the flag on every commit whose sha another deployment of its stream also lists. The
/// migration runs it once over existing rows; bulk loaders that write rows directly (the
/// benchmarks) run it after loading. Each backend gets the statement its planner runs in one
/// pass over the commits, whatever the statistics say: hash joins and one aggregate on
/// PostgreSQL, a probe of the sha index per commit (join order fixed by `CROSS JOIN`) on SQLite.
pub fn flag_shared_commits(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "UPDATE deployment_commits SET shared = TRUE \
             WHERE (deployment_id, sha) IN (\
             SELECT c.deployment_id, c.sha FROM deployment_commits c \
             JOIN deployments d ON d.id = c.deployment_id \
             JOIN (SELECT c2.sha, d2.repository_id, d2.environment FROM deployment_commits c2 \
             JOIN deployments d2 ON d2.id = c2.deployment_id \
             GROUP BY c2.sha, d2.repository_id, d2.environment HAVING COUNT(*) > 1) g \
             ON g.sha = c.sha AND g.repository_id = d.repository_id \
             AND g.environment = d.environment)"
        }
        _ => {
            "UPDATE deployment_commits SET shared = TRUE WHERE EXISTS (\
             SELECT 1 FROM deployment_commits o CROSS JOIN deployments od \
             CROSS JOIN deployments d \
             WHERE o.sha = deployment_commits.sha \
             AND o.deployment_id <> deployment_commits.deployment_id \
             AND od.id = o.deployment_id AND d.id = deployment_commits.deployment_id \
             AND od.repository_id = d.repository_id AND od.environment = d.environment)"
        }
    }
}

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DeploymentCommits::Table)
                    .add_column(boolean(DeploymentCommits::Shared).default(false))
                    .to_owned(),
            )
            .await?;
        let backend = manager.get_database_backend();
        // After the (sha, deployment_id) index below exists: SQLite's statement probes it.
        let flag_after_indexes = flag_shared_commits(backend);
        use Deployments as D;
        manager
            .create_index(covering(
                backend,
                "ix_deployments_window",
                D::Table,
                &[D::OrganizationId, D::IsProduction, D::DeployedAt],
                &[
                    D::Number,
                    D::Id,
                    D::RepositoryId,
                    D::Environment,
                    D::Status,
                    D::FinishedAt,
                    D::IsFix,
                    D::IsHotfix,
                    D::IsRollback,
                ],
            ))
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deployments_org_prod_deployed_at")
                    .table(D::Table)
                    .to_owned(),
            )
            .await?;
        use DeploymentCommits as C;
        manager
            .create_index(covering(
                backend,
                "ix_deployment_commits_lead",
                C::Table,
                &[C::DeploymentId],
                &[C::Sha, C::CommittedAt, C::Shared],
            ))
            .await?;
        // The shipped-before probe finds a sha's deployments without reading the table.
        manager
            .create_index(covering(
                backend,
                "ix_deployment_commits_sha_deployment",
                C::Table,
                &[C::Sha, C::DeploymentId],
                &[],
            ))
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deployment_commits_sha")
                    .table(C::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(flag_after_indexes)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_deployment_commits_sha")
                    .table(DeploymentCommits::Table)
                    .col(DeploymentCommits::Sha)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deployment_commits_sha_deployment")
                    .table(DeploymentCommits::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deployment_commits_lead")
                    .table(DeploymentCommits::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_deployments_org_prod_deployed_at")
                    .table(Deployments::Table)
                    .col(Deployments::OrganizationId)
                    .col(Deployments::IsProduction)
                    .col(Deployments::DeployedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deployments_window")
                    .table(Deployments::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DeploymentCommits::Table)
                    .drop_column(DeploymentCommits::Shared)
                    .to_owned(),
            )
            .await
    }
}
