//! Derived outcomes (DESIGN.md §12): one `deployment_outcomes` row per finished deployment,
//! holding what the DORA definitions decide about it (`dora_metrics::derive`): change failure
//! and its causes, recovery and how, its lead-time samples and the shas they come from,
//! rework, and its stream neighbours. The application keeps the rows up to date in the same
//! transaction as every write that can change them (`api::store::outcomes`); metric reads add
//! them up over an index range (`api::store::facts`).
//!
//! Columns the reads aggregate, carried by three covering indexes (PostgreSQL `INCLUDE`,
//! SQLite trailing key columns): the production scope `(organization_id, is_production,
//! deployed_us)`, an environment `(organization_id, environment, deployed_us)` and a stream or
//! repository `(repository_id, environment, deployed_us)`. `deployed_us` is `deployed_at` in
//! microseconds since the epoch and `deployed_day` its UTC day, so both backends bucket and
//! compare integers.
//!
//! `up` computes the rows of an existing database in one pass ([`compute_outcomes`]): the
//! facts are read a batch of repositories at a time (a stream never leaves its repository),
//! derived by the engine, and written with multi-row inserts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use dora_metrics::{CommitFact, DeploymentFact, DeploymentOutcome, Facts, IncidentFact, Outcome};
use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, DbBackend, Statement, Value},
};
use uuid::Uuid;

use crate::m20261123_000005_metric_reads::covering;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum DeploymentOutcomes {
    Table,
    DeploymentId,
    OrganizationId,
    RepositoryId,
    Environment,
    IsProduction,
    DeployedAt,
    DeployedUs,
    DeployedDay,
    Number,
    IsSuccess,
    ChangeFailure,
    RecoverySeconds,
    Rework,
    LeadSeconds,
    LeadShas,
    Causes,
    Recovery,
    PreviousId,
    NextId,
    NextSuccessId,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
}

/// The columns every covering index carries: what a metrics read adds up.
const CARRIED: [DeploymentOutcomes; 7] = [
    DeploymentOutcomes::DeployedDay,
    DeploymentOutcomes::IsSuccess,
    DeploymentOutcomes::ChangeFailure,
    DeploymentOutcomes::Rework,
    DeploymentOutcomes::RecoverySeconds,
    DeploymentOutcomes::LeadSeconds,
    DeploymentOutcomes::RepositoryId,
];

// The trait's signature elides the manager's lifetime.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use DeploymentOutcomes as O;
        manager
            .create_table(
                Table::create()
                    .table(O::Table)
                    .if_not_exists()
                    .col(uuid(O::DeploymentId).primary_key())
                    .col(uuid(O::OrganizationId))
                    .col(uuid(O::RepositoryId))
                    .col(text(O::Environment))
                    .col(boolean(O::IsProduction))
                    .col(timestamp_with_time_zone(O::DeployedAt))
                    .col(big_integer(O::DeployedUs))
                    .col(big_integer(O::DeployedDay))
                    .col(big_integer(O::Number))
                    .col(boolean(O::IsSuccess))
                    .col(boolean(O::ChangeFailure))
                    .col(double_null(O::RecoverySeconds))
                    .col(boolean(O::Rework))
                    .col(text_null(O::LeadSeconds))
                    .col(text_null(O::LeadShas))
                    .col(text(O::Causes))
                    .col(text_null(O::Recovery))
                    .col(uuid_null(O::PreviousId))
                    .col(uuid_null(O::NextId))
                    .col(uuid_null(O::NextSuccessId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(O::Table, O::DeploymentId)
                            .to(Deployments::Table, Deployments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let backend = manager.get_database_backend();
        let mut with_production = CARRIED.to_vec();
        with_production.push(O::IsProduction);
        let mut with_environment = CARRIED.to_vec();
        with_environment.push(O::Environment);
        for (name, key, carried) in [
            (
                "ix_outcomes_production",
                [O::OrganizationId, O::IsProduction, O::DeployedUs],
                &with_environment,
            ),
            (
                "ix_outcomes_environment",
                [O::OrganizationId, O::Environment, O::DeployedUs],
                &with_production,
            ),
            (
                "ix_outcomes_stream",
                [O::RepositoryId, O::Environment, O::DeployedUs],
                &with_production,
            ),
        ] {
            manager
                .create_index(covering(backend, name, O::Table, &key, carried))
                .await?;
        }
        compute_outcomes(manager.get_connection()).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeploymentOutcomes::Table).to_owned())
            .await
    }
}

/// Repositories whose facts one step of [`compute_outcomes`] reads and derives together.
const REPOSITORIES_PER_STEP: usize = 100;

/// Rows per `INSERT` (20 values each; within both backends' parameter limits).
const ROWS_PER_INSERT: usize = 1000;

/// Recomputes every `deployment_outcomes` row from the facts, in one pass: deletes the rows,
/// then reads the deployments, commits and incidents of a batch of repositories at a time,
/// derives them with `dora_metrics::derive` over all time and inserts the rows. Answers how
/// many rows it wrote. The migration runs it once; bulk loaders that write facts directly
/// (the benchmarks) run it after loading.
pub async fn compute_outcomes<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    let backend = conn.get_database_backend();
    conn.execute_unprepared("DELETE FROM deployment_outcomes")
        .await?;
    let repositories: Vec<Uuid> = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id FROM repositories ORDER BY id",
        ))
        .await?
        .iter()
        .map(|row| row.try_get("", "id"))
        .collect::<Result<_, _>>()?;
    let mut written = 0;
    for chunk in repositories.chunks(REPOSITORIES_PER_STEP) {
        written += compute_chunk(conn, backend, chunk).await?;
    }
    Ok(written)
}

/// `count` placeholders numbered from `first` (`$n` on PostgreSQL, `?` on SQLite),
/// comma-separated.
fn placeholders(backend: DbBackend, first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| match backend {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The metrics' reading of a stored status (`api::domain::Status::outcome`, as of this
/// migration).
fn outcome(status: &str, has_finished: bool) -> Outcome {
    match status {
        "success" => Outcome::Success,
        "inactive" if has_finished => Outcome::Success,
        "failure" | "error" => Outcome::Failure,
        _ => Outcome::Pending,
    }
}

async fn compute_chunk<C: ConnectionTrait>(
    conn: &C,
    backend: DbBackend,
    repositories: &[Uuid],
) -> Result<u64, DbErr> {
    let ids: Vec<Value> = repositories.iter().map(|id| (*id).into()).collect();
    let list = placeholders(backend, 1, ids.len());
    let query = |sql: String| Statement::from_sql_and_values(backend, sql, ids.clone());

    let mut deployments: Vec<DeploymentFact> = Vec::new();
    // Deployment id → (organization, is_production).
    let mut placed: HashMap<Uuid, (Uuid, bool)> = HashMap::new();
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    for row in conn
        .query_all_raw(query(format!(
            "SELECT id, number, organization_id, repository_id, environment, is_production, \
             deployed_at, status, finished_at IS NOT NULL AS has_finished, is_fix, is_hotfix, \
             is_rollback FROM deployments WHERE repository_id IN ({list})"
        )))
        .await?
    {
        let status: String = row.try_get("", "status")?;
        let id: Uuid = row.try_get("", "id")?;
        placed.insert(
            id,
            (
                row.try_get("", "organization_id")?,
                row.try_get("", "is_production")?,
            ),
        );
        index.insert(id, deployments.len());
        deployments.push(DeploymentFact {
            id,
            number: row.try_get("", "number")?,
            repository: row.try_get("", "repository_id")?,
            environment: row.try_get("", "environment")?,
            deployed_at: row.try_get("", "deployed_at")?,
            outcome: outcome(&status, row.try_get("", "has_finished")?),
            is_fix: row.try_get("", "is_fix")?,
            is_hotfix: row.try_get("", "is_hotfix")?,
            is_rollback: row.try_get("", "is_rollback")?,
            commits: Vec::new(),
        });
    }
    if deployments.is_empty() {
        return Ok(0);
    }
    for row in conn
        .query_all_raw(query(format!(
            "SELECT c.deployment_id, c.sha, c.committed_at FROM deployments d \
             JOIN deployment_commits c ON c.deployment_id = d.id \
             WHERE d.repository_id IN ({list}) ORDER BY c.deployment_id, c.sha"
        )))
        .await?
    {
        let id: Uuid = row.try_get("", "deployment_id")?;
        if let Some(deployment) = index.get(&id).and_then(|&i| deployments.get_mut(i)) {
            deployment.commits.push(CommitFact {
                sha: row.try_get("", "sha")?,
                committed_at: row.try_get("", "committed_at")?,
            });
        }
    }
    let twice: Vec<Value> = ids.iter().chain(&ids).cloned().collect();
    let incidents: Vec<IncidentFact> = conn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT i.id, i.repository_id, i.environment, i.deployment_id, i.started_at, \
                 i.resolved_at FROM incidents i WHERE i.repository_id IN ({list}) \
                 OR i.deployment_id IN (SELECT d.id FROM deployments d \
                 WHERE d.repository_id IN ({}))",
                placeholders(backend, ids.len() + 1, ids.len())
            ),
            twice,
        ))
        .await?
        .iter()
        .map(|row| {
            Ok(IncidentFact {
                id: row.try_get("", "id")?,
                repository: row.try_get("", "repository_id")?,
                environment: row.try_get("", "environment")?,
                deployment: row.try_get("", "deployment_id")?,
                started_at: row.try_get("", "started_at")?,
                resolved_at: row.try_get("", "resolved_at")?,
            })
        })
        .collect::<Result<_, DbErr>>()?;

    let all_time = dora_metrics::Window {
        from: DateTime::<Utc>::MIN_UTC,
        to: DateTime::<Utc>::MAX_UTC,
    };
    let outcomes = dora_metrics::derive(
        &Facts {
            deployments: &deployments,
            incidents: &incidents,
        },
        &all_time,
    );
    let mut written = 0;
    for batch in outcomes.chunks(ROWS_PER_INSERT) {
        let mut values = Vec::with_capacity(batch.len() * COLUMNS.len());
        for outcome in batch {
            let Some(&(organization_id, is_production)) = placed.get(&outcome.deployment.id) else {
                continue;
            };
            values.extend(row_values(outcome, organization_id, is_production)?);
        }
        let rows = values.len() / COLUMNS.len();
        if rows == 0 {
            continue;
        }
        let mut sql = format!(
            "INSERT INTO deployment_outcomes ({}) VALUES ",
            COLUMNS.join(", ")
        );
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&placeholders(backend, r * COLUMNS.len() + 1, COLUMNS.len()));
            sql.push(')');
        }
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        written += rows as u64;
    }
    Ok(written)
}

/// The columns [`row_values`] gives, in order.
const COLUMNS: [&str; 20] = [
    "deployment_id",
    "organization_id",
    "repository_id",
    "environment",
    "is_production",
    "deployed_at",
    "deployed_us",
    "deployed_day",
    "number",
    "is_success",
    "change_failure",
    "recovery_seconds",
    "rework",
    "lead_seconds",
    "lead_shas",
    "causes",
    "recovery",
    "previous_id",
    "next_id",
    "next_success_id",
];

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The stored row of one outcome (`api::store::outcomes` writes the same).
fn row_values(
    outcome: &DeploymentOutcome,
    organization_id: Uuid,
    is_production: bool,
) -> Result<Vec<Value>, DbErr> {
    let json = |e: serde_json::Error| DbErr::Custom(e.to_string());
    let deployed_us = outcome.deployment.deployed_at.timestamp_micros();
    let samples: Vec<(&str, f64)> = outcome
        .commits
        .iter()
        .filter_map(|c| c.lead_time.sample().map(|s| (c.sha.as_str(), s)))
        .collect();
    let (lead_seconds, lead_shas) = if samples.is_empty() {
        (None, None)
    } else {
        (
            Some(
                samples
                    .iter()
                    .map(|(_, s)| s.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Some(
                samples
                    .iter()
                    .map(|(sha, _)| *sha)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        )
    };
    let recovery = match &outcome.recovery {
        Some(recovery) => Some(serde_json::to_string(recovery).map_err(json)?),
        None => None,
    };
    Ok(vec![
        outcome.deployment.id.into(),
        organization_id.into(),
        outcome.deployment.repository.into(),
        outcome.deployment.environment.clone().into(),
        is_production.into(),
        outcome.deployment.deployed_at.into(),
        deployed_us.into(),
        deployed_us.div_euclid(MICROS_PER_DAY).into(),
        outcome.deployment.number.into(),
        (outcome.outcome == Outcome::Success).into(),
        outcome.change_failure.into(),
        outcome
            .recovery
            .as_ref()
            .and_then(dora_metrics::Recovery::seconds)
            .into(),
        outcome.rework.into(),
        lead_seconds.into(),
        lead_shas.into(),
        serde_json::to_string(&outcome.causes).map_err(json)?.into(),
        recovery.into(),
        outcome.neighbours.previous.into(),
        outcome.neighbours.next.into(),
        outcome.neighbours.next_success.into(),
    ])
}
