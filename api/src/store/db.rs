//! Database connections. PostgreSQL gets one pool. SQLite gets a pool of readers and a
//! single writer connection: with WAL, readers never block the writer, and because every
//! write goes through the one writer (in `BEGIN IMMEDIATE` transactions) concurrent
//! requests queue for it instead of failing with "database is locked".
//!
//! An unreachable PostgreSQL fails fast: at start, one direct connection attempt reports the
//! real cause ("Connection refused") within seconds; while the service runs, a request waits
//! at most [`PG_ACQUIRE_TIMEOUT`] for a connection, and every error that means the database
//! could not be reached or the connection was lost ([`is_unavailable`]) becomes a 503 that
//! tells the client to retry. The pool reconnects by itself when the server is back.
//!
//! A pool that is only busy is not an outage: when a write transaction cannot get a
//! connection within [`PG_ACQUIRE_TIMEOUT`], one direct connection attempt asks the server
//! whether it answers; if it does, the request keeps waiting (up to [`PG_BUSY_WAIT`] in all),
//! so a burst of writes queues instead of failing. The probe's answer is shared by every
//! waiter for a second ([`PG_PROBE_FRESH`]), so many waiters do not add many connections
//! (which could reach the server's `max_connections` and turn a busy pool into 503s).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    AccessMode, ConnAcquireErr, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, IsolationLevel, RuntimeErr, SqliteTransactionMode,
    SqlxPostgresConnector, Statement, TransactionOptions, TransactionTrait,
    sqlx::{
        self, Connection,
        postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
        sqlite::{SqliteJournalMode, SqliteSynchronous},
    },
};

use crate::domain::Secret;

/// The longest a request waits for a PostgreSQL connection. While the server is down, every
/// attempt to open one is refused and sqlx keeps retrying until this deadline, so it is what
/// bounds the time to a 503; in normal operation a connection is free in microseconds.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

/// The longest a write waits for a connection of a busy pool while the server answers.
pub const PG_BUSY_WAIT: Duration = Duration::from_secs(30);

/// The longest the "does the server answer?" probe of a busy pool waits.
const PG_BUSY_PROBE: Duration = Duration::from_millis(500);

/// How long one answer of that probe serves every waiter.
const PG_PROBE_FRESH: Duration = Duration::from_secs(1);

/// The longest the start-up probe waits for PostgreSQL to answer.
const PG_CONNECT_PROBE: Duration = Duration::from_secs(5);

/// The advisory lock key every instance takes around migrations (`dora-tracker`).
const MIGRATION_LOCK: i64 = 0x646f_7261_2d6d_6967;

/// How to connect (checked by `settings`).
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `sqlite:…` or `postgres://…`; may hold a password.
    pub url: Secret,
    pub max_connections: u32,
    pub synchronous: Synchronous,
}

/// SQLite's `synchronous` pragma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// Nothing acknowledged is lost on power failure.
    Full,
    /// Faster; a power cut may lose the last commits.
    Normal,
}

#[derive(Clone, Debug)]
pub struct Db {
    read: DatabaseConnection,
    write: DatabaseConnection,
    /// The last answer of the busy-pool probe and when it was taken, shared by every
    /// request (and clone) that waits, so a burst of waiters makes one probe connection per
    /// [`PG_PROBE_FRESH`], not one each.
    probe: Arc<tokio::sync::Mutex<Option<(Instant, bool)>>>,
}

impl Db {
    fn of(read: DatabaseConnection, write: DatabaseConnection) -> Self {
        Db {
            read,
            write,
            probe: Arc::default(),
        }
    }

    pub async fn connect(options: &DbOptions) -> Result<Self, ConnectError> {
        let url = options.url.expose();
        if url.starts_with("sqlite:") {
            let synchronous = match options.synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            };
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let sqlite = |max: u32| {
                let mut opts = ConnectOptions::new(url);
                opts.max_connections(max)
                    .min_connections(1)
                    .sqlx_logging(false)
                    .map_sqlx_sqlite_opts(move |o| {
                        o.journal_mode(SqliteJournalMode::Wal)
                            .busy_timeout(Duration::from_secs(10))
                            .foreign_keys(true)
                            .synchronous(synchronous)
                            // 32 MiB of page cache per connection (the default is 2 MiB):
                            // metric queries probe indexes all over a large database.
                            .pragma("cache_size", "-32768")
                    });
                opts
            };
            let write = Database::connect(sqlite(1))
                .await
                .map_err(ConnectError::Db)?;
            // An in-memory database exists once per connection: share the writer.
            let read = if in_memory {
                write.clone()
            } else {
                Database::connect(sqlite(options.max_connections.max(1)))
                    .await
                    .map_err(ConnectError::Db)?
            };
            Ok(Self::of(read, write))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            probe_postgres(url).await?;
            let mut opts = ConnectOptions::new(url);
            // (sea-orm's `connect_timeout` sets the same sqlx deadline: the acquire timeout.)
            opts.max_connections(options.max_connections.max(1))
                .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                .sqlx_logging(false)
                // Short OLTP queries over large tables cross the JIT's cost threshold, and
                // compiling costs more (tens of ms) than it saves. Statements are prepared and
                // cached: after five runs PostgreSQL may switch to a generic plan that ignores
                // the window's bounds (seen at +100 ms on a one-repository metrics query).
                // Random page reads are priced as on SSDs (or cached data), not spinning disks:
                // with the default 4.0 a metrics window's commits (8,000 primary-key probes)
                // were read with a parallel sequential scan of all of them (300 ms against
                // 30 ms over 2,000,000 commits).
                .map_sqlx_postgres_opts(|o| {
                    o.options([
                        ("jit", "off"),
                        ("plan_cache_mode", "force_custom_plan"),
                        ("random_page_cost", "1.1"),
                    ])
                });
            let pool = Database::connect(opts).await.map_err(ConnectError::Db)?;
            Ok(Self::of(pool.clone(), pool))
        } else {
            Err(ConnectError::Scheme)
        }
    }

    /// Applies pending migrations (a no-op when there are none). On PostgreSQL, instances
    /// started together take turns: each runs the migrator while holding a session advisory
    /// lock, on a connection of its own, so the second finds the work done.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        if self.backend() != DbBackend::Postgres {
            return Migrator::up(&self.write, None).await;
        }
        let shared = self.write.get_postgres_connection_pool();
        // One connection: the lock belongs to the session that took it.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(120))
            .connect_with((*shared.connect_options()).clone())
            .await
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(e.into())))?;
        let conn = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        conn.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .await?;
        let result = Migrator::up(&conn, None).await;
        // Closing the session releases the lock too; unlocking first is only tidier.
        let _ = conn
            .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .await;
        let _ = conn.close().await;
        result
    }

    /// How far this database's schema is, read without changing anything (the migrator's
    /// own status calls would create its table): `None` when it has no dora-tracker schema
    /// (no migration table), else how many migrations are not applied yet.
    pub async fn pending_migrations(&self) -> Result<Option<usize>, DbErr> {
        let backend = self.backend();
        let exists = match backend {
            DbBackend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'seaql_migrations'"
            }
            _ => {
                "SELECT COUNT(*) AS n FROM sqlite_master \
                 WHERE type = 'table' AND name = 'seaql_migrations'"
            }
        };
        let row = self
            .read
            .query_one_raw(Statement::from_string(backend, exists))
            .await?;
        let tables: i64 = match row {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        if tables == 0 {
            return Ok(None);
        }
        let rows = self
            .read
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT version FROM seaql_migrations",
            ))
            .await?;
        let applied = rows
            .iter()
            .map(|r| r.try_get::<String>("", "version"))
            .collect::<Result<std::collections::HashSet<_>, _>>()?;
        Ok(Some(
            Migrator::migrations()
                .iter()
                .filter(|m| !applied.contains(m.name()))
                .count(),
        ))
    }

    /// Connection for reads.
    pub fn read(&self) -> &DatabaseConnection {
        &self.read
    }

    /// Starts a write transaction; on SQLite it takes the write lock at once.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        self.patiently(|| {
            self.write.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
        })
        .await
    }

    /// Runs `begin` again while it fails only because the PostgreSQL pool had no free
    /// connection in time and the server itself still answers (see the module's comment).
    async fn patiently<F, Fut>(&self, begin: F) -> Result<DatabaseTransaction, DbErr>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<DatabaseTransaction, DbErr>>,
    {
        let started = std::time::Instant::now();
        loop {
            match begin().await {
                Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))
                    if self.backend() == DbBackend::Postgres
                        && started.elapsed() < PG_BUSY_WAIT
                        && self.server_answers().await => {}
                other => return other,
            }
        }
    }

    /// Whether the server answers a direct connection attempt with the pool's options,
    /// outside the pool: the shared answer when it is younger than [`PG_PROBE_FRESH`], else
    /// a new attempt (one at a time: the other waiters take its answer).
    async fn server_answers(&self) -> bool {
        let mut last = self.probe.lock().await;
        if let Some((at, answers)) = *last
            && at.elapsed() < PG_PROBE_FRESH
        {
            return answers;
        }
        let options = self.write.get_postgres_connection_pool().connect_options();
        let answers =
            match tokio::time::timeout(PG_BUSY_PROBE, PgConnection::connect_with(&options)).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    true
                }
                _ => false,
            };
        *last = Some((Instant::now(), answers));
        answers
    }

    /// PostgreSQL only: a short write transaction that does not wait for its commit to reach
    /// the disk (`synchronous_commit = off`), for counters handed out like sequence values.
    /// Losing it in a crash is harmless: any later commit that waits for the disk (such as
    /// the write that used the value) flushes it first, as it comes earlier in the log.
    pub async fn begin_async_commit(&self) -> Result<DatabaseTransaction, DbErr> {
        let txn = self.patiently(|| self.write.begin()).await?;
        txn.execute_unprepared("SET LOCAL synchronous_commit = off")
            .await?;
        Ok(txn)
    }

    /// Starts a read-only transaction whose reads all see one state of the database: on
    /// PostgreSQL `REPEATABLE READ READ ONLY`; on SQLite (WAL) a deferred transaction on a
    /// reader, whose snapshot is taken at its first read.
    pub async fn begin_snapshot(&self) -> Result<DatabaseTransaction, DbErr> {
        let options = match self.backend() {
            DbBackend::Postgres => TransactionOptions {
                isolation_level: Some(IsolationLevel::RepeatableRead),
                access_mode: Some(AccessMode::ReadOnly),
                ..Default::default()
            },
            _ => TransactionOptions::default(),
        };
        self.read.begin_with_options(options).await
    }

    pub fn backend(&self) -> DbBackend {
        self.write.get_database_backend()
    }

    /// (pool name, stats) of the connection pools: `read` and `write` on SQLite, one
    /// `main` pool on PostgreSQL.
    pub fn pool_stats(&self) -> Vec<(&'static str, PoolStats)> {
        let stats = |conn: &DatabaseConnection| match conn.get_database_backend() {
            DbBackend::Sqlite => {
                let pool = conn.get_sqlite_connection_pool();
                PoolStats {
                    size: i64::from(pool.size()),
                    idle: pool.num_idle() as i64,
                }
            }
            DbBackend::Postgres => {
                let pool = conn.get_postgres_connection_pool();
                PoolStats {
                    size: i64::from(pool.size()),
                    idle: pool.num_idle() as i64,
                }
            }
            _ => PoolStats { size: 0, idle: 0 },
        };
        match self.backend() {
            DbBackend::Sqlite => vec![("read", stats(&self.read)), ("write", stats(&self.write))],
            _ => vec![("main", stats(&self.write))],
        }
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.read.ping().await
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub size: i64,
    pub idle: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL: must start with sqlite:// or postgres://")]
    Scheme,
    #[error("DATABASE_URL: cannot connect: {0}")]
    Db(DbErr),
    /// The start-up probe's own error (e.g. "Connection refused"), not a pool timeout.
    #[error("DATABASE_URL: cannot connect to PostgreSQL: {0}")]
    Postgres(String),
}

/// One direct connection attempt, so that an unreachable server is reported at start with
/// its real cause within seconds (the pool would retry a refused connection until its
/// deadline and then say only that it timed out).
async fn probe_postgres(url: &str) -> Result<(), ConnectError> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| ConnectError::Postgres(e.to_string()))?;
    match tokio::time::timeout(PG_CONNECT_PROBE, PgConnection::connect_with(&options)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(ConnectError::Postgres(e.to_string())),
        Err(_) => Err(ConnectError::Postgres(format!(
            "no answer within {} s",
            PG_CONNECT_PROBE.as_secs()
        ))),
    }
}

/// Whether `err` means the database could not be reached or the connection was lost, so
/// that nothing was committed and a retry may succeed: no connection within the acquire
/// timeout, a closed pool, an I/O or TLS failure on the socket, the server going away
/// mid-statement (SQLSTATE class 08, `57P01`–`57P03` shutdown and recovery), or too many
/// connections (`53300`).
pub fn is_unavailable(err: &DbErr) -> bool {
    let runtime = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(e) | DbErr::Query(e) => e,
        _ => return false,
    };
    let RuntimeErr::SqlxError(e) = runtime else {
        return false;
    };
    match e.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}
