//! Daily rollups of the derived outcomes (BENCHMARKS.md, "Stored outcomes"): a metrics read
//! of a long window reads one row per day instead of one per deployment.
//!
//! `outcome_days` holds, per (organization, environment, `is_production`, UTC day), what that
//! day's `deployment_outcomes` rows add up to (`dora_metrics::OutcomeSlot`): finished,
//! successes, the first and last success (microseconds), change failures, unrecovered ones,
//! rework, and the recovery and lead-time samples, sorted, as BLOBs of little-endian `f64`s
//! (exact, and a read copies them instead of parsing text).
//!
//! `outcome_day_marks` lists the days whose rollup may be stale. Triggers on
//! `deployment_outcomes` mark the day of every row inserted or deleted, and both the old and
//! the new day of a row whose counted columns change, in the writer's transaction, so no
//! write path can forget one. PostgreSQL: one statement-level trigger per event appends the
//! distinct days of the statement's rows (transition tables; no unique key, so concurrent
//! writers never wait for each other on a mark); an update marks only the rows it really
//! changed (a re-derivation rewrites many rows unchanged). SQLite: row triggers, one mark per
//! day (unique; a day already marked is not marked again). The application's compactor (`api::store::rollups`) rebuilds
//! marked days and deletes the marks it read.
//!
//! `up` computes the rollups of an existing database ([`compute_rollups`]).

use std::collections::BTreeMap;

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, DbBackend, Statement, Value},
};
use uuid::Uuid;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum OutcomeDays {
    Table,
    OrganizationId,
    Environment,
    IsProduction,
    Day,
    Finished,
    Successes,
    FirstSuccessUs,
    LastSuccessUs,
    Failures,
    Unrecovered,
    Rework,
    RecoverySeconds,
    LeadSeconds,
}

#[derive(DeriveIden, Clone, Copy)]
enum OutcomeDayMarks {
    Table,
    Id,
    OrganizationId,
    Day,
    Environment,
    IsProduction,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

/// The columns of `deployment_outcomes` a rollup counts: a change to any of them marks the
/// row's old and new day.
const COUNTED: [&str; 11] = [
    "deployment_id",
    "organization_id",
    "environment",
    "is_production",
    "deployed_us",
    "deployed_day",
    "is_success",
    "change_failure",
    "recovery_seconds",
    "rework",
    "lead_seconds",
];

/// The statements that index the marks and create the triggers that write them.
fn marks(backend: DbBackend) -> Vec<String> {
    let key = "organization_id, day, environment, is_production";
    match backend {
        DbBackend::Postgres => {
            let counted = COUNTED.join(", ");
            let days = |rows: &str| {
                format!(
                    "INSERT INTO outcome_day_marks ({key}) SELECT DISTINCT organization_id, \
                     deployed_day, environment, is_production FROM {rows};"
                )
            };
            vec![
                format!("CREATE INDEX ix_outcome_day_marks_day ON outcome_day_marks ({key})"),
                format!(
                    "CREATE FUNCTION dora_outcome_days_mark() RETURNS trigger LANGUAGE plpgsql \
                     AS $$ BEGIN \
                     IF TG_OP = 'INSERT' THEN {} \
                     ELSIF TG_OP = 'DELETE' THEN {} \
                     ELSE {} END IF; RETURN NULL; END $$",
                    days("new_rows"),
                    days("old_rows"),
                    days(&format!(
                        "((SELECT {counted} FROM old_rows EXCEPT ALL \
                         SELECT {counted} FROM new_rows) UNION ALL \
                         (SELECT {counted} FROM new_rows EXCEPT ALL \
                         SELECT {counted} FROM old_rows)) AS changed"
                    )),
                ),
                "CREATE TRIGGER tr_outcome_days_insert AFTER INSERT ON deployment_outcomes \
                 REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT \
                 EXECUTE FUNCTION dora_outcome_days_mark()"
                    .to_owned(),
                "CREATE TRIGGER tr_outcome_days_update AFTER UPDATE ON deployment_outcomes \
                 REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT \
                 EXECUTE FUNCTION dora_outcome_days_mark()"
                    .to_owned(),
                "CREATE TRIGGER tr_outcome_days_delete AFTER DELETE ON deployment_outcomes \
                 REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT \
                 EXECUTE FUNCTION dora_outcome_days_mark()"
                    .to_owned(),
            ]
        }
        _ => {
            // Not `INSERT OR IGNORE`: the upsert that rewrites outcome rows (`ON CONFLICT DO
            // UPDATE`) runs its update triggers with its own conflict policy (abort), which
            // overrides theirs. SQLite has one writer, so checking first is enough.
            let mark = |row: &str| {
                format!(
                    "INSERT INTO outcome_day_marks ({key}) SELECT {row}.organization_id, \
                     {row}.deployed_day, {row}.environment, {row}.is_production \
                     WHERE NOT EXISTS (SELECT 1 FROM outcome_day_marks m \
                     WHERE m.organization_id = {row}.organization_id \
                     AND m.day = {row}.deployed_day AND m.environment = {row}.environment \
                     AND m.is_production = {row}.is_production);"
                )
            };
            let changed = COUNTED
                .map(|column| format!("OLD.{column} IS NOT NEW.{column}"))
                .join(" OR ");
            vec![
                format!(
                    "CREATE UNIQUE INDEX ux_outcome_day_marks_day ON outcome_day_marks ({key})"
                ),
                format!(
                    "CREATE TRIGGER tr_outcome_days_insert AFTER INSERT ON deployment_outcomes \
                     BEGIN {} END",
                    mark("NEW")
                ),
                format!(
                    "CREATE TRIGGER tr_outcome_days_update AFTER UPDATE ON deployment_outcomes \
                     WHEN {changed} BEGIN {} {} END",
                    mark("OLD"),
                    mark("NEW")
                ),
                format!(
                    "CREATE TRIGGER tr_outcome_days_delete AFTER DELETE ON deployment_outcomes \
                     BEGIN {} END",
                    mark("OLD")
                ),
            ]
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
        use OutcomeDays as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(uuid(R::OrganizationId))
                    .col(text(R::Environment))
                    .col(big_integer(R::Day))
                    .col(boolean(R::IsProduction))
                    .col(big_integer(R::Finished))
                    .col(big_integer(R::Successes))
                    .col(big_integer_null(R::FirstSuccessUs))
                    .col(big_integer_null(R::LastSuccessUs))
                    .col(big_integer(R::Failures))
                    .col(big_integer(R::Unrecovered))
                    .col(big_integer(R::Rework))
                    .col(blob(R::RecoverySeconds))
                    .col(blob(R::LeadSeconds))
                    // An environment's days (and the compactor's key).
                    .primary_key(
                        Index::create()
                            .col(R::OrganizationId)
                            .col(R::Environment)
                            .col(R::Day)
                            .col(R::IsProduction),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(R::Table, R::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The production scope's days.
        manager
            .create_index(
                Index::create()
                    .name("ix_outcome_days_production")
                    .table(R::Table)
                    .col(R::OrganizationId)
                    .col(R::IsProduction)
                    .col(R::Day)
                    .to_owned(),
            )
            .await?;
        // Marks: appended with an increasing id (the compactor takes the oldest first).
        use OutcomeDayMarks as M;
        let backend = manager.get_database_backend();
        let id = match backend {
            DbBackend::Postgres => big_integer(M::Id).auto_increment().primary_key().to_owned(),
            // The rowid.
            _ => ColumnDef::new(M::Id)
                .integer()
                .not_null()
                .primary_key()
                .to_owned(),
        };
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    .col(id)
                    .col(uuid(M::OrganizationId))
                    .col(big_integer(M::Day))
                    .col(text(M::Environment))
                    .col(boolean(M::IsProduction))
                    .to_owned(),
            )
            .await?;
        let conn = manager.get_connection();
        for statement in marks(backend) {
            conn.execute_unprepared(&statement).await?;
        }
        compute_rollups(conn).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let statements: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &[
                "DROP TRIGGER IF EXISTS tr_outcome_days_insert ON deployment_outcomes",
                "DROP TRIGGER IF EXISTS tr_outcome_days_update ON deployment_outcomes",
                "DROP TRIGGER IF EXISTS tr_outcome_days_delete ON deployment_outcomes",
                "DROP FUNCTION IF EXISTS dora_outcome_days_mark()",
            ],
            _ => &[
                "DROP TRIGGER IF EXISTS tr_outcome_days_insert",
                "DROP TRIGGER IF EXISTS tr_outcome_days_update",
                "DROP TRIGGER IF EXISTS tr_outcome_days_delete",
            ],
        };
        for statement in statements {
            conn.execute_unprepared(statement).await?;
        }
        manager
            .drop_table(Table::drop().table(OutcomeDayMarks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OutcomeDays::Table).to_owned())
            .await
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days of one organization read and written per step of [`compute_rollups`].
const DAYS_PER_STEP: i64 = 64;

/// Rows per `INSERT` (13 values each; within both backends' parameter limits).
const ROWS_PER_INSERT: usize = 1000;

/// Recomputes every `outcome_days` row from `deployment_outcomes` and clears every mark:
/// per organization, production and not, `DAYS_PER_STEP` days at a time, the rows are added
/// up per (environment, day) in SQL (an index range of `ix_outcomes_production`), their
/// samples sorted here. Answers how many rollups it wrote. The migration runs it once; bulk
/// loaders that write outcomes directly (the benchmarks) run it after
/// [`compute_outcomes`](crate::compute_outcomes).
pub async fn compute_rollups<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    let backend = conn.get_database_backend();
    conn.execute_unprepared("DELETE FROM outcome_days").await?;
    conn.execute_unprepared("DELETE FROM outcome_day_marks")
        .await?;
    let spans: Vec<(Uuid, bool, i64, i64)> = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT organization_id, is_production, MIN(deployed_day) AS first_day, \
             MAX(deployed_day) AS last_day FROM deployment_outcomes \
             GROUP BY organization_id, is_production",
        ))
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("", "organization_id")?,
                row.try_get("", "is_production")?,
                row.try_get("", "first_day")?,
                row.try_get("", "last_day")?,
            ))
        })
        .collect::<Result<_, DbErr>>()?;
    let (concat, recovery) = match backend {
        DbBackend::Postgres => ("string_agg", "recovery_seconds::text"),
        // 17 significant digits: every double prints and parses back exactly.
        _ => ("group_concat", "printf('%!.17g', recovery_seconds)"),
    };
    let mut written = 0;
    for (organization_id, is_production, first_day, last_day) in spans {
        let mut day = first_day;
        while day <= last_day {
            let end = day + DAYS_PER_STEP;
            let rows = conn
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    format!(
                        "SELECT environment, deployed_day, COUNT(*) AS finished, \
                         SUM(CASE WHEN is_success THEN 1 ELSE 0 END) AS successes, \
                         MIN(CASE WHEN is_success THEN deployed_us END) AS first_us, \
                         MAX(CASE WHEN is_success THEN deployed_us END) AS last_us, \
                         SUM(CASE WHEN change_failure THEN 1 ELSE 0 END) AS failures, \
                         SUM(CASE WHEN change_failure AND recovery_seconds IS NULL \
                         THEN 1 ELSE 0 END) AS unrecovered, \
                         SUM(CASE WHEN rework THEN 1 ELSE 0 END) AS rework, \
                         {concat}(CASE WHEN recovery_seconds IS NOT NULL THEN {recovery} END, \
                         ',') AS recovery, {concat}(lead_seconds, ',') AS lead \
                         FROM deployment_outcomes WHERE organization_id = {} \
                         AND is_production = {} AND deployed_us >= {} AND deployed_us < {} \
                         GROUP BY environment, deployed_day",
                        placeholder(backend, 1),
                        placeholder(backend, 2),
                        placeholder(backend, 3),
                        placeholder(backend, 4),
                    ),
                    [
                        organization_id.into(),
                        is_production.into(),
                        (day * MICROS_PER_DAY).into(),
                        (end * MICROS_PER_DAY).into(),
                    ],
                ))
                .await?;
            let mut rollups: BTreeMap<(String, i64), Vec<Value>> = BTreeMap::new();
            for row in rows {
                let environment: String = row.try_get("", "environment")?;
                let deployed_day: i64 = row.try_get("", "deployed_day")?;
                let number = |column: &str| -> Result<i64, DbErr> {
                    Ok(row.try_get::<Option<i64>>("", column)?.unwrap_or(0))
                };
                let samples = |column: &str| -> Result<Vec<u8>, DbErr> {
                    let text: Option<String> = row.try_get("", column)?;
                    let mut samples = text
                        .as_deref()
                        .unwrap_or_default()
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| {
                            s.parse::<f64>()
                                .map_err(|e| DbErr::Custom(format!("stored sample `{s}`: {e}")))
                        })
                        .collect::<Result<Vec<f64>, DbErr>>()?;
                    samples.sort_by(f64::total_cmp);
                    Ok(samples.iter().flat_map(|s| s.to_le_bytes()).collect())
                };
                let values = vec![
                    organization_id.into(),
                    environment.clone().into(),
                    is_production.into(),
                    deployed_day.into(),
                    number("finished")?.into(),
                    number("successes")?.into(),
                    row.try_get::<Option<i64>>("", "first_us")?.into(),
                    row.try_get::<Option<i64>>("", "last_us")?.into(),
                    number("failures")?.into(),
                    number("unrecovered")?.into(),
                    number("rework")?.into(),
                    samples("recovery")?.into(),
                    samples("lead")?.into(),
                ];
                rollups.insert((environment, deployed_day), values);
            }
            let rollups: Vec<Vec<Value>> = rollups.into_values().collect();
            for batch in rollups.chunks(ROWS_PER_INSERT) {
                insert(conn, backend, batch).await?;
                written += batch.len() as u64;
            }
            day = end;
        }
    }
    Ok(written)
}

/// `$n` on PostgreSQL, `?` on SQLite.
fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// One multi-row `INSERT` of rollups (the values in the order of the columns below).
async fn insert<C: ConnectionTrait>(
    conn: &C,
    backend: DbBackend,
    rows: &[Vec<Value>],
) -> Result<(), DbErr> {
    let mut sql = "INSERT INTO outcome_days (organization_id, environment, is_production, day, \
                   finished, successes, first_success_us, last_success_us, failures, \
                   unrecovered, rework, recovery_seconds, lead_seconds) VALUES "
        .to_owned();
    let mut values = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (c, value) in row.iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            values.push(value.clone());
            sql.push_str(&placeholder(backend, values.len()));
        }
        sql.push(')');
    }
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}
