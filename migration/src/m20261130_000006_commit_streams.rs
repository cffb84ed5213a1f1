//! Each commit row carries its deployment's stream, window and outcome, so the commits of a
//! metrics window are one range scan instead of a primary-key probe per deployment, and the
//! lead-time question "did an earlier success of this stream ship this sha?" is one descent of
//! one index (BENCHMARKS.md, "Metrics queries").
//!
//! `deployment_commits` gains `organization_id`, `repository_id`, `environment`,
//! `is_production`, `deployed_at` and `is_success` (`status = 'success'`, or `inactive` with a
//! finish time: what the metrics count as a success). They are copies of the deployment's, kept
//! by the database itself, so no writer can forget them:
//! - a trigger fills them when a commit row is inserted;
//! - a trigger on `deployments` rewrites them when any of those columns (or `status`,
//!   `finished_at`) changes.
//!
//! The application never writes them; the entity does not list them.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

use crate::m20261123_000005_metric_reads::covering;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum DeploymentCommits {
    Table,
    DeploymentId,
    Sha,
    CommittedAt,
    Shared,
    OrganizationId,
    RepositoryId,
    Environment,
    IsProduction,
    DeployedAt,
    IsSuccess,
}

/// The copied columns, in the order of [`copied_from`].
const COPIED: [&str; 6] = [
    "organization_id",
    "repository_id",
    "environment",
    "is_production",
    "deployed_at",
    "is_success",
];

/// `prefix` + each copied column, comma-separated.
fn copied_columns(prefix: &str) -> String {
    COPIED.map(|column| format!("{prefix}{column}")).join(", ")
}

/// The copied values of the deployment row `d` (`d`, or `NEW` in a trigger on `deployments`).
fn copied_from(d: &str) -> String {
    format!(
        "{d}.organization_id, {d}.repository_id, {d}.environment, {d}.is_production, \
         {d}.deployed_at, ({d}.status = 'success' OR ({d}.status = 'inactive' AND \
         {d}.finished_at IS NOT NULL))"
    )
}

fn backfill(backend: DbBackend) -> String {
    let (columns, values) = (copied_columns(""), copied_from("d"));
    match backend {
        DbBackend::Postgres => format!(
            "UPDATE deployment_commits c SET ({columns}) = ({values}) \
             FROM deployments d WHERE d.id = c.deployment_id"
        ),
        _ => format!(
            "UPDATE deployment_commits SET ({columns}) = (SELECT {values} FROM deployments d \
             WHERE d.id = deployment_commits.deployment_id)"
        ),
    }
}

/// The statements that create the two triggers (and, on PostgreSQL, their functions).
fn triggers(backend: DbBackend) -> Vec<String> {
    let changed = |distinct: &str| {
        format!(
            "OLD.repository_id {distinct} NEW.repository_id \
             OR OLD.environment {distinct} NEW.environment \
             OR OLD.is_production {distinct} NEW.is_production \
             OR OLD.deployed_at {distinct} NEW.deployed_at \
             OR OLD.status {distinct} NEW.status \
             OR (OLD.finished_at IS NULL) {distinct} (NEW.finished_at IS NULL)"
        )
    };
    let columns = copied_columns("");
    let follow = format!(
        "UPDATE deployment_commits SET ({columns}) = ({}) WHERE deployment_id = NEW.id;",
        copied_from("NEW")
    );
    let mut statements = fill_trigger(backend, None);
    match backend {
        DbBackend::Postgres => statements.extend([
            format!(
                "CREATE OR REPLACE FUNCTION dora_deployments_commit_stream() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN {follow} RETURN NULL; END $$"
            ),
            format!(
                "CREATE TRIGGER tr_deployments_commit_stream AFTER UPDATE ON deployments \
                 FOR EACH ROW WHEN ({}) EXECUTE FUNCTION dora_deployments_commit_stream()",
                changed("IS DISTINCT FROM")
            ),
        ]),
        _ => statements.push(format!(
            "CREATE TRIGGER tr_deployments_commit_stream AFTER UPDATE ON deployments \
             WHEN {} BEGIN {follow} END",
            changed("IS NOT")
        )),
    }
    statements
}

/// The statements that create the trigger filling a new commit row's copies (and, on
/// PostgreSQL, its function): for every row, or only the rows matching `when` (migration
/// 000015: the rows whose writer did not give the copies).
pub(crate) fn fill_trigger(backend: DbBackend, when: Option<&str>) -> Vec<String> {
    let columns = copied_columns("");
    let of_parent = copied_from("d");
    match backend {
        DbBackend::Postgres => vec![
            format!(
                "CREATE OR REPLACE FUNCTION dora_deployment_commits_fill() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN SELECT {of_parent} INTO {} \
                 FROM deployments d WHERE d.id = NEW.deployment_id; RETURN NEW; END $$",
                copied_columns("NEW.")
            ),
            format!(
                "CREATE TRIGGER tr_deployment_commits_fill BEFORE INSERT ON deployment_commits \
                 FOR EACH ROW {}EXECUTE FUNCTION dora_deployment_commits_fill()",
                when.map(|w| format!("WHEN ({w}) ")).unwrap_or_default()
            ),
        ],
        _ => vec![format!(
            "CREATE TRIGGER tr_deployment_commits_fill AFTER INSERT ON deployment_commits \
             {}BEGIN UPDATE deployment_commits SET ({columns}) = (SELECT {of_parent} \
             FROM deployments d WHERE d.id = NEW.deployment_id) \
             WHERE deployment_id = NEW.deployment_id AND sha = NEW.sha; END",
            when.map(|w| format!("WHEN {w} ")).unwrap_or_default()
        )],
    }
}

/// Drops the trigger [`fill_trigger`] creates (its function stays).
pub(crate) fn drop_fill_trigger(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "DROP TRIGGER IF EXISTS tr_deployment_commits_fill ON deployment_commits"
        }
        _ => "DROP TRIGGER IF EXISTS tr_deployment_commits_fill",
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
        use DeploymentCommits as C;
        let backend = manager.get_database_backend();
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            uuid_null(C::OrganizationId),
            uuid_null(C::RepositoryId),
            string_null(C::Environment),
            boolean_null(C::IsProduction),
            timestamp_with_time_zone_null(C::DeployedAt),
            boolean_null(C::IsSuccess),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(C::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        let conn = manager.get_connection();
        conn.execute_unprepared(&backfill(backend)).await?;
        for statement in triggers(backend) {
            conn.execute_unprepared(&statement).await?;
        }
        // The window's commits, read like the window's deployments (`ix_deployments_window`).
        manager
            .create_index(covering(
                backend,
                "ix_deployment_commits_window",
                C::Table,
                &[C::OrganizationId, C::IsProduction, C::DeployedAt],
                &[
                    C::IsSuccess,
                    C::RepositoryId,
                    C::Environment,
                    C::DeploymentId,
                    C::Sha,
                    C::CommittedAt,
                    C::Shared,
                ],
            ))
            .await?;
        // A sha's deployments by stream and time: the shipped-before probe and the shared-flag
        // maintenance at ingest.
        manager
            .create_index(covering(
                backend,
                "ix_deployment_commits_sha_stream",
                C::Table,
                &[C::Sha, C::RepositoryId, C::Environment, C::DeployedAt],
                &[C::IsSuccess, C::IsProduction, C::DeploymentId],
            ))
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deployment_commits_sha_deployment")
                    .table(C::Table)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use DeploymentCommits as C;
        let backend = manager.get_database_backend();
        manager
            .create_index(covering(
                backend,
                "ix_deployment_commits_sha_deployment",
                C::Table,
                &[C::Sha, C::DeploymentId],
                &[],
            ))
            .await?;
        for name in [
            "ix_deployment_commits_sha_stream",
            "ix_deployment_commits_window",
        ] {
            manager
                .drop_index(Index::drop().name(name).table(C::Table).to_owned())
                .await?;
        }
        let conn = manager.get_connection();
        match backend {
            DbBackend::Postgres => {
                for statement in [
                    "DROP TRIGGER IF EXISTS tr_deployments_commit_stream ON deployments",
                    "DROP TRIGGER IF EXISTS tr_deployment_commits_fill ON deployment_commits",
                    "DROP FUNCTION IF EXISTS dora_deployments_commit_stream()",
                    "DROP FUNCTION IF EXISTS dora_deployment_commits_fill()",
                ] {
                    conn.execute_unprepared(statement).await?;
                }
            }
            _ => {
                for statement in [
                    "DROP TRIGGER IF EXISTS tr_deployments_commit_stream",
                    "DROP TRIGGER IF EXISTS tr_deployment_commits_fill",
                ] {
                    conn.execute_unprepared(statement).await?;
                }
            }
        }
        for column in [
            C::IsSuccess,
            C::DeployedAt,
            C::IsProduction,
            C::Environment,
            C::RepositoryId,
            C::OrganizationId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(C::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared builder keeps this migration's statements what they were.
    #[test]
    fn the_fill_trigger_is_unchanged() {
        let pg = triggers(DbBackend::Postgres);
        assert_eq!(
            pg[1],
            "CREATE TRIGGER tr_deployment_commits_fill BEFORE INSERT ON deployment_commits \
             FOR EACH ROW EXECUTE FUNCTION dora_deployment_commits_fill()"
        );
        assert_eq!(pg.len(), 4);
        assert!(pg[0].starts_with("CREATE OR REPLACE FUNCTION dora_deployment_commits_fill()"));
        assert!(pg[2].starts_with("CREATE OR REPLACE FUNCTION dora_deployments_commit_stream()"));
        let sqlite = triggers(DbBackend::Sqlite);
        assert_eq!(sqlite.len(), 2);
        assert!(sqlite[0].starts_with(
            "CREATE TRIGGER tr_deployment_commits_fill AFTER INSERT ON deployment_commits BEGIN UPDATE"
        ));
    }
}
