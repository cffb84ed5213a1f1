//! Daily rollups of the stored outcomes (migration `m20261207_000014_outcome_days`): what the
//! `deployment_outcomes` rows of one (organization, environment, `is_production`, UTC day) add
//! up to — a `dora_metrics::OutcomeSlot`: counts, the first and last success, and the
//! recovery and lead-time samples, sorted, as little-endian `f64`s — so that a metrics read of
//! the production scope or of one environment reads a row per day, not a row per deployment.
//! Repository and team scopes, breakdowns by repository and the `/metrics` snapshot read the
//! outcome rows (`store::facts::slots`).
//!
//! # Clean and dirty days
//!
//! Triggers on `deployment_outcomes` (the migration's) mark the day of every row inserted,
//! deleted, or changed in what a rollup counts (its old and its new day) in
//! `outcome_day_marks`, in the writer's own transaction, so no write path can forget one. A
//! day with a mark is *dirty*: its rollup may be stale. [`compact`] rebuilds the rollup of a
//! dirty day and deletes exactly the marks it read, in one transaction: it reads the marks
//! before the rows, so every change a mark it deletes stands for is among the rows it adds
//! up; a mark written by a transaction that commits later is not among them, survives, and
//! the day is compacted again.
//!
//! In every committed state, then, a day without marks has the rollup of its rows. [`slots`]
//! reads in one statement (one snapshot) the rollups of the window's clean whole days and
//! adds up the outcome rows themselves for the rest: the partial days at the window's ends
//! and the dirty days. Whatever has or has not been compacted, it answers exactly what adding
//! up every row answers.
//!
//! # Writers and compactors
//!
//! On PostgreSQL a statement-level trigger appends the distinct days of a statement's rows
//! (no unique key, no upsert): concurrent writers of one organization never wait for each
//! other on a mark. A compactor takes a transaction-scoped advisory lock per day and skips a
//! day another holds, so two instances never rebuild one day at once (which could commit an
//! older rollup last). On SQLite (one writer) marks are unique per day and compaction runs on
//! the writer connection.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};
use uuid::Uuid;

use super::{
    facts::{
        MICROS_PER_DAY, MetricsScope, SlotGroup, SlotRow, aggregate_columns, group_keys,
        micros_ceil, null_types, push_slots, query_slots, slot_columns, slot_of,
    },
    sql::Sql,
};
use dora_metrics::Window;

/// The day of one (organization, environment, `is_production`): what a rollup and a mark are
/// of.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DayKey {
    pub organization_id: Uuid,
    pub environment: String,
    pub is_production: bool,
    /// Days since the epoch (UTC).
    pub day: i64,
}

/// Whether [`slots`] reads `scope` grouped by `group`: the production scope or one
/// environment, without repository or team filter, per day (and environment).
pub fn covers(scope: &MetricsScope, group: SlotGroup) -> bool {
    scope.repository_id.is_none()
        && scope.team_repositories.is_none()
        && matches!(group, SlotGroup::Scope | SlotGroup::Environment)
}

/// The scope's stored outcomes deployed in `window`, per UTC day (and environment with
/// [`SlotGroup::Environment`]): the rollups of the clean whole days, the outcome rows added up
/// for the partial days at the ends and the dirty days (see the module's documentation). The
/// scope must be one [`covers`] (the caller reads `store::facts::slots` otherwise).
pub async fn slots<C: ConnectionTrait>(
    conn: &C,
    scope: &MetricsScope,
    window: &Window,
    group: SlotGroup,
) -> Result<Vec<SlotRow>, DbErr> {
    if !covers(scope, group) {
        return Err(DbErr::Custom(
            "rollups are read for the production scope or one environment, per day".to_owned(),
        ));
    }
    let backend = conn.get_database_backend();
    let (from_us, to_us) = (micros_ceil(window.from), micros_ceil(window.to));
    // The whole days of the window: [first_day, end_day).
    let first_day = from_us.div_euclid(MICROS_PER_DAY) + i64::from(from_us % MICROS_PER_DAY != 0);
    let end_day = to_us.div_euclid(MICROS_PER_DAY);
    let mut sql = Sql::new(backend);
    let live = |sql: &mut Sql, range| {
        push_slots(sql, scope.organization_id, Some(scope), group, range);
    };
    if first_day >= end_day {
        live(&mut sql, (from_us, to_us));
    } else {
        rollup_branch(&mut sql, scope, group, first_day, end_day);
        let (whole_from, whole_to) = (first_day * MICROS_PER_DAY, end_day * MICROS_PER_DAY);
        if from_us < whole_from {
            sql.push(" UNION ALL ");
            live(&mut sql, (from_us, whole_from));
        }
        if whole_to < to_us {
            sql.push(" UNION ALL ");
            live(&mut sql, (whole_to, to_us));
        }
        sql.push(" UNION ALL ");
        dirty_branch(&mut sql, scope, group, first_day, end_day);
    }
    query_slots(conn, sql, group).await
}

/// `SELECT` the rollups of the scope's clean days in `[first_day, end_day)`.
fn rollup_branch(
    sql: &mut Sql,
    scope: &MetricsScope,
    group: SlotGroup,
    first_day: i64,
    end_day: i64,
) {
    let (text, _) = null_types(sql.backend());
    let environment = if group == SlotGroup::Environment {
        "r.environment AS environment, "
    } else {
        ""
    };
    sql.push(&format!(
        "SELECT r.day AS day, {environment}r.finished AS finished, r.successes AS successes, \
         r.first_success_us AS first_us, r.last_success_us AS last_us, r.failures AS failures, \
         r.unrecovered AS unrecovered, r.rework AS rework, CAST(NULL AS {text}) AS recovery, \
         CAST(NULL AS {text}) AS lead, CAST(NULL AS {text}) AS success_us, \
         r.recovery_seconds AS recovery_blob, r.lead_seconds AS lead_blob \
         FROM outcome_days r WHERE r.organization_id = "
    ))
    .bind(scope.organization_id);
    sql.environment_filter("r", scope);
    sql.push(" AND r.day >= ")
        .bind(first_day)
        .push(" AND r.day < ")
        .bind(end_day);
    // A mark of any of the scope's keys of that day makes the whole day read from the rows.
    sql.push(
        " AND NOT EXISTS (SELECT 1 FROM outcome_day_marks m \
         WHERE m.organization_id = r.organization_id AND m.day = r.day",
    );
    sql.environment_filter("m", scope);
    sql.push(")");
}

/// `SELECT` the scope's outcome rows of its dirty days in `[first_day, end_day)`, added up.
fn dirty_branch(
    sql: &mut Sql,
    scope: &MetricsScope,
    group: SlotGroup,
    first_day: i64,
    end_day: i64,
) {
    sql.push(&format!(
        "SELECT {} FROM (SELECT DISTINCT m.day AS day FROM outcome_day_marks m \
         WHERE m.organization_id = ",
        slot_columns(sql.backend(), group)
    ))
    .bind(scope.organization_id);
    sql.environment_filter("m", scope);
    sql.push(" AND m.day >= ")
        .bind(first_day)
        .push(" AND m.day < ")
        .bind(end_day);
    sql.push(") d JOIN deployment_outcomes o ON o.organization_id = ")
        .bind(scope.organization_id);
    sql.environment_filter("o", scope);
    sql.push(&format!(
        " AND o.deployed_us >= d.day * {MICROS_PER_DAY} \
         AND o.deployed_us < (d.day + 1) * {MICROS_PER_DAY} GROUP BY {}",
        group_keys(group).join(", ")
    ));
}

/// Up to `limit` dirty days, those marked first first.
pub async fn dirty<C: ConnectionTrait>(conn: &C, limit: u64) -> Result<Vec<DayKey>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(&format!(
        "SELECT organization_id, environment, is_production, day FROM outcome_day_marks \
         GROUP BY organization_id, environment, is_production, day ORDER BY MIN(id) LIMIT {limit}"
    ));
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|row| {
            Ok(DayKey {
                organization_id: row.try_get("", "organization_id")?,
                environment: row.try_get("", "environment")?,
                is_production: row.try_get("", "is_production")?,
                day: row.try_get("", "day")?,
            })
        })
        .collect()
}

/// How many marks there are (a day may have several on PostgreSQL).
pub async fn marks<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT COUNT(*) AS n FROM outcome_day_marks");
    let n: i64 = match conn.query_one_raw(sql.statement()).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// ` organization_id = … AND environment = … AND is_production = … AND day = …` of `key`,
/// for the marks and rollups tables.
fn key_filter(sql: &mut Sql, key: &DayKey) {
    sql.push(" organization_id = ")
        .bind(key.organization_id)
        .push(" AND environment = ")
        .bind(key.environment.clone())
        .push(" AND is_production = ")
        .bind(key.is_production)
        .push(" AND day = ")
        .bind(key.day);
}

/// Rebuilds the rollup of dirty day `key` from its outcome rows and deletes the marks it read
/// (see the module's documentation), in the caller's write transaction. Answers `false`
/// without doing anything when another compactor holds the day (PostgreSQL) or nothing
/// marks it any more.
pub async fn compact<C: ConnectionTrait>(txn: &C, key: &DayKey) -> Result<bool, DbErr> {
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        let mut sql = Sql::new(backend);
        sql.push("SELECT pg_try_advisory_xact_lock(hashtextextended(")
            .bind(format!(
                "dora-day/{}/{}/{}/{}",
                key.organization_id, key.environment, key.is_production, key.day
            ))
            .push(", 0)) AS locked");
        let locked = match txn.query_one_raw(sql.statement()).await? {
            Some(row) => row.try_get::<bool>("", "locked")?,
            None => false,
        };
        if !locked {
            return Ok(false);
        }
    }
    // The marks this compaction answers for, read before the rows they stand for.
    let mut sql = Sql::new(backend);
    sql.push("SELECT id FROM outcome_day_marks WHERE");
    key_filter(&mut sql, key);
    let marks: Vec<i64> = txn
        .query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|row| row.try_get("", "id"))
        .collect::<Result<_, _>>()?;
    if marks.is_empty() {
        return Ok(false);
    }

    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT {} FROM deployment_outcomes o WHERE o.organization_id = ",
        aggregate_columns(backend, false)
    ))
    .bind(key.organization_id)
    .push(" AND o.environment = ")
    .bind(key.environment.clone())
    .push(" AND o.is_production = ")
    .bind(key.is_production)
    .push(" AND o.deployed_us >= ")
    .bind(key.day * MICROS_PER_DAY)
    .push(" AND o.deployed_us < ")
    .bind((key.day + 1) * MICROS_PER_DAY);
    let row = txn
        .query_one_raw(sql.statement())
        .await?
        .ok_or_else(|| DbErr::Custom("an aggregate without a row".to_owned()))?;
    write_rollup(txn, key, &row).await?;

    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM outcome_day_marks WHERE id IN (")
        .bind_list(marks)
        .push(")");
    txn.execute_raw(sql.statement()).await?;
    Ok(true)
}

/// Writes the rollup of `key` from `row` (the columns of `aggregate_columns`), or deletes it
/// when the day has no outcome row left.
async fn write_rollup<C: ConnectionTrait>(
    txn: &C,
    key: &DayKey,
    row: &QueryResult,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let mut slot = slot_of(row)?;
    let mut sql = Sql::new(backend);
    if slot.finished == 0 {
        sql.push("DELETE FROM outcome_days WHERE");
        key_filter(&mut sql, key);
        txn.execute_raw(sql.statement()).await?;
        return Ok(());
    }
    let first_us: Option<i64> = row.try_get("", "first_us")?;
    let last_us: Option<i64> = row.try_get("", "last_us")?;
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    sql.push(
        "INSERT INTO outcome_days (organization_id, environment, is_production, day, finished, \
         successes, first_success_us, last_success_us, failures, unrecovered, rework, \
         recovery_seconds, lead_seconds) VALUES (",
    )
    .bind(key.organization_id)
    .push(", ")
    .bind(key.environment.clone())
    .push(", ")
    .bind(key.is_production)
    .push(", ")
    .bind(key.day)
    .push(", ")
    .bind(count(slot.finished))
    .push(", ")
    .bind(count(slot.successes))
    .push(", ")
    .bind(first_us)
    .push(", ")
    .bind(last_us)
    .push(", ")
    .bind(count(slot.failures))
    .push(", ")
    .bind(count(slot.unrecovered))
    .push(", ")
    .bind(count(slot.rework))
    .push(", ")
    .bind(sorted_bytes(&mut slot.recovery_seconds))
    .push(", ")
    .bind(sorted_bytes(&mut slot.lead_seconds))
    .push(
        ") ON CONFLICT (organization_id, environment, day, is_production) DO UPDATE SET \
         finished = excluded.finished, successes = excluded.successes, \
         first_success_us = excluded.first_success_us, \
         last_success_us = excluded.last_success_us, failures = excluded.failures, \
         unrecovered = excluded.unrecovered, rework = excluded.rework, \
         recovery_seconds = excluded.recovery_seconds, lead_seconds = excluded.lead_seconds",
    );
    txn.execute_raw(sql.statement()).await?;
    Ok(())
}

/// Samples as a rollup keeps them: sorted, little-endian `f64`s.
fn sorted_bytes(samples: &mut [f64]) -> Vec<u8> {
    samples.sort_by(f64::total_cmp);
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Marks every day that has outcome rows or a rollup dirty, as if nothing had been compacted
/// (maintenance, tests, and the benchmark's comparison with the row-by-row reads). Answers
/// how many marks it wrote.
pub async fn mark_all<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    let insert = match conn.get_database_backend() {
        DbBackend::Postgres => "INSERT INTO",
        // One mark per day there.
        _ => "INSERT OR IGNORE INTO",
    };
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(&format!(
        "{insert} outcome_day_marks (organization_id, day, environment, is_production) \
         SELECT DISTINCT k.organization_id, k.day, k.environment, k.is_production FROM \
         (SELECT organization_id, deployed_day AS day, environment, is_production \
         FROM deployment_outcomes UNION SELECT organization_id, day, environment, is_production \
         FROM outcome_days) k"
    ));
    Ok(conn.execute_raw(sql.statement()).await?.rows_affected())
}
