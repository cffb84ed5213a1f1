//! `ingest`: the sustained rate of `POST /api/v1/deployments` beside the raw insert rate of
//! the same rows into the same kind of database, measured in one run.
//!
//! ```text
//! cargo run --release -p bench --bin ingest -- --database sqlite
//! cargo run --release -p bench --bin ingest -- --database postgres
//! ```
//!
//! 1. API: starts the real service (`Application::build`, fresh SQLite file or fresh
//!    PostgreSQL database, real migrations) on its own Tokio runtime, mints an `ingest`
//!    token, and runs `--clients` concurrent HTTP clients on loopback, each posting
//!    `--per-client` iftrue bodies one after another (a few repositories with teams, a few
//!    members, `--commits` commits each). Any answer but 201 fails the run; so does a row
//!    count other than clients × per-client.
//! 2. Raw: a fresh database with the same migrations, then the same rows without the
//!    service. SQLite: one connection with the service's pragmas (WAL, synchronous=FULL,
//!    busy_timeout, foreign keys) in a prepared-statement loop. PostgreSQL: `pgbench -n -M
//!    prepared -c <clients> -j 2 -t <per-client>` with a custom script. Two raw figures:
//!    `row` (one deployments row per autocommit INSERT: the issue's definition) and
//!    `txn` (the deployment and its commits in one transaction: the writes a request does).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command as Process,
    sync::Arc,
    time::{Duration, Instant},
};

use api::{
    Application,
    auth::{JwtKeys, Scope},
    domain::Secret,
    settings::{ServeArgs, Settings},
};
use chrono::{DateTime, Utc};
use clap::{Parser, ValueEnum};
use entity::{deployment_commits, deployments};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    sqlx::{
        self, Connection,
        sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous},
    },
};
use serde_json::json;
use uuid::Uuid;

const SECRET: &str = "ingest-benchmark-secret-0123456789abcdef";
const ORG: &str = "bench";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Measures `POST /api/v1/deployments` against the raw insert rate of the same rows.
#[derive(Debug, Parser)]
#[command(name = "ingest")]
struct Args {
    #[arg(long, value_enum, default_value = "sqlite")]
    database: Backend,
    /// Concurrent clients (HTTP connections; pgbench clients).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Deployments each client posts, one after another.
    #[arg(long, default_value_t = 1000)]
    per_client: usize,
    /// PostgreSQL server (a database name, if given, is ignored): the benchmark creates
    /// and drops its own databases there.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres_url: String,
    /// Distinct repositories the deployments are spread over.
    #[arg(long, default_value_t = 8)]
    repositories: usize,
    /// Distinct members (`member_id`) who deploy.
    #[arg(long, default_value_t = 24)]
    members: usize,
    /// Commits each deployment ships.
    #[arg(long, default_value_t = 3)]
    commits: usize,
    /// The service's database pool size (`DORA_DB_MAX_CONNECTIONS`).
    #[arg(long, default_value_t = 10)]
    db_max_connections: u32,
    /// Directory for the SQLite files (default: a fresh one under the system temp dir,
    /// removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Only the API part.
    #[arg(long)]
    skip_raw: bool,
    /// Only the raw part.
    #[arg(long)]
    skip_api: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("ingest benchmark failed: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), BoxError> {
    if args.clients == 0 || args.per_client == 0 || args.repositories == 0 || args.members == 0 {
        return Err(
            "--clients, --per-client, --repositories and --members must be positive".into(),
        );
    }
    let _ = api::init_tracing("warn");
    let workspace = Workspace::new(args)?;
    let load = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "ingest benchmark: {:?}, {} clients x {} deployments, {} repositories, {} members, {} commits each",
        args.database, args.clients, args.per_client, args.repositories, args.members, args.commits
    );
    println!(
        "machine: {} cores; {}; load average before: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        load_average()
    );
    let result = (|| -> Result<(), BoxError> {
        let api = if args.skip_api {
            None
        } else {
            Some(run_api(args, &workspace, &load)?)
        };
        let raw = if args.skip_raw {
            None
        } else {
            Some(load.block_on(run_raw(args, &workspace))?)
        };
        summarize(api.as_ref(), raw.as_ref());
        Ok(())
    })();
    load.block_on(workspace.cleanup());
    result
}

/// The 1-, 5- and 15-minute load averages: other work on the machine skews the numbers.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Where the databases live and how they are named.
struct Workspace {
    backend: Backend,
    dir: PathBuf,
    remove_dir: bool,
    /// `postgres://user@host:port` without a database.
    server: String,
    run_id: String,
}

impl Workspace {
    fn new(args: &Args) -> Result<Self, BoxError> {
        let run_id = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let (dir, remove_dir) = match &args.dir {
            Some(dir) => (dir.clone(), false),
            None => (
                std::env::temp_dir().join(format!("dora-ingest-{run_id}")),
                true,
            ),
        };
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            backend: args.database,
            dir,
            remove_dir,
            server: server_url(&args.postgres_url),
            run_id,
        })
    }

    /// A fresh, empty database (`api` or `raw_*`); returns its URL.
    async fn fresh(&self, name: &str) -> Result<String, BoxError> {
        match self.backend {
            Backend::Sqlite => {
                let path = self.dir.join(format!("{name}.db"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                Ok(format!("sqlite://{}?mode=rwc", path.display()))
            }
            Backend::Postgres => {
                let db = self.pg_name(name);
                let admin = self.pg_admin().await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                    .await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{db}\""))
                    .await?;
                admin.close().await?;
                Ok(format!("{}/{db}", self.server))
            }
        }
    }

    fn pg_name(&self, name: &str) -> String {
        format!("dora_bench_{name}_{}", self.run_id)
    }

    async fn pg_admin(&self) -> Result<DatabaseConnection, BoxError> {
        let url = format!("{}/postgres", self.server);
        connect(&url)
            .await
            .map_err(|e| format!("PostgreSQL at {url} is unreachable: {e}").into())
    }

    async fn cleanup(&self) {
        match self.backend {
            Backend::Sqlite => {
                if self.remove_dir {
                    let _ = std::fs::remove_dir_all(&self.dir);
                }
            }
            Backend::Postgres => {
                if let Ok(admin) = self.pg_admin().await {
                    for name in ["api", "raw_row", "raw_txn"] {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                                self.pg_name(name)
                            ))
                            .await;
                    }
                    let _ = admin.close().await;
                }
                if self.remove_dir {
                    let _ = std::fs::remove_dir_all(&self.dir);
                }
            }
        }
    }
}

/// A sea-orm connection without statement logging.
async fn connect(url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = sea_orm::ConnectOptions::new(url);
    options.sqlx_logging(false).max_connections(1);
    Database::connect(options).await
}

/// `postgres://u@h:p/db?x` → `postgres://u@h:p`.
fn server_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url).trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, _db)) => format!("{scheme}://{authority}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// The workload: what one deployment looks like.

struct Workload {
    repositories: usize,
    members: usize,
    commits: usize,
}

impl Workload {
    fn new(args: &Args) -> Self {
        Self {
            repositories: args.repositories,
            members: args.members,
            commits: args.commits,
        }
    }

    /// Deterministic 40-hex-digit sha for (deployment, k).
    fn sha(seq: u64, k: u64) -> String {
        let a = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        let b = a.rotate_left(29).wrapping_mul(0x1656_67B1_9E37_79F9);
        format!("{a:016x}{b:016x}{:08x}", (a ^ b) as u32)
    }

    /// The iftrue body a CI job would send for deployment number `seq`.
    fn body(&self, seq: u64, now: DateTime<Utc>) -> serde_json::Value {
        let r = (seq as usize * 7) % self.repositories;
        let m = (seq as usize * 13) % self.members;
        let pr = 1000 + seq;
        let commits: Vec<serde_json::Value> = (0..self.commits as u64)
            .map(|k| {
                json!({
                    "sha": Self::sha(seq, k + 1),
                    "committed_at": (now - chrono::Duration::minutes(30 + 17 * k as i64)).to_rfc3339(),
                })
            })
            .collect();
        json!({
            "title": format!("Deploy #{pr}: service-{r} to production"),
            "changelog": format!("#{pr} Merged: improve request handling of service-{r} and update dependencies"),
            "url": format!("https://github.com/acme/service-{r}/actions/runs/{}", 7_000_000 + seq),
            "branch": "main",
            "commit_id": Self::sha(seq, 0),
            "deployment_duration": 4.5,
            "is_fix": seq.is_multiple_of(10),
            "is_hotfix": seq.is_multiple_of(40),
            "is_forced": false,
            "commits_count": self.commits,
            "member_id": format!("member-{m}"),
            "pull_request_number": pr,
            "repository_url": format!("https://github.com/acme/service-{r}"),
            "deployment_node_id": format!("DE_kwDO{seq:010}"),
            "status": if seq.is_multiple_of(12) { "fail" } else { "succes" },
            "environment": "production",
            "team": format!("team-{}", r % 3),
            "commits": commits,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Part 1: the API.

struct ApiResult {
    requests: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    statuses: BTreeMap<String, usize>,
    rows: u64,
    commit_rows: u64,
}

fn run_api(
    args: &Args,
    workspace: &Workspace,
    load: &tokio::runtime::Runtime,
) -> Result<ApiResult, BoxError> {
    let database_url = load.block_on(workspace.fresh("api"))?;
    let mut serve = ServeArgs::from_env();
    serve.db.database_url = Secret::new(database_url.clone());
    serve.db.db_max_connections = args.db_max_connections;
    serve.listen = "127.0.0.1:0".to_owned();
    serve.jwt.jwt_secret = Some(Secret::new(SECRET));

    // The service gets a runtime of its own (as it would in its own process); the load
    // generator runs on `load`. Both share the machine's cores.
    let service = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("service")
        .build()?;
    let app = service.block_on(Application::build(Settings::from_serve_args(
        serve.clone(),
    )?))?;
    let address = app.local_addr().ok_or("the service has no local address")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = service.spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let keys = JwtKeys::new(
        &Secret::new(SECRET),
        &serve.jwt.jwt_issuer,
        &serve.jwt.jwt_audience,
    )?;
    let token = keys.issue(
        ORG,
        &[Scope::Ingest],
        "ingest-benchmark",
        Duration::from_secs(3600),
    )?;
    let url = format!("http://{address}/api/v1/deployments");
    println!("\n== API: POST {url} ({})", redact(&database_url));

    let result = load.block_on(post_all(args, url, token));
    let _ = stop.send(());
    let _ = service.block_on(server);
    drop(service);
    let mut result = result?;

    // Count what was stored, after the service closed its connections.
    let (rows, commit_rows) = load.block_on(async {
        let db = connect(&database_url).await?;
        let rows = deployments::Entity::find().count(&db).await?;
        let commit_rows = deployment_commits::Entity::find().count(&db).await?;
        db.close().await?;
        Ok::<_, BoxError>((rows, commit_rows))
    })?;
    result.rows = rows;
    result.commit_rows = commit_rows;
    report_api(args, &result);
    let expected = (args.clients * args.per_client) as u64;
    let non_201: usize = result
        .statuses
        .iter()
        .filter(|(s, _)| s.as_str() != "201")
        .map(|(_, n)| n)
        .sum();
    if non_201 > 0 {
        return Err(format!(
            "{non_201} requests did not answer 201: {:?}",
            result.statuses
        )
        .into());
    }
    if rows != expected || commit_rows != expected * args.commits as u64 {
        return Err(format!(
            "stored {rows} deployments and {commit_rows} commits, expected {expected} and {}",
            expected * args.commits as u64
        )
        .into());
    }
    Ok(result)
}

async fn post_all(args: &Args, url: String, token: String) -> Result<ApiResult, BoxError> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .timeout(Duration::from_secs(120))
        .build()?;
    let workload = Arc::new(Workload::new(args));
    let url = Arc::new(url);
    let auth = Arc::new(format!("Bearer {token}"));
    let per_client = args.per_client;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.clients);
    for c in 0..args.clients {
        let (client, workload, url, auth) =
            (client.clone(), workload.clone(), url.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
            let mut first_error: Option<String> = None;
            for i in 0..per_client {
                let seq = (c * per_client + i) as u64;
                let body = serde_json::to_vec(&workload.body(seq, Utc::now())).unwrap_or_default();
                let sent = Instant::now();
                let response = client
                    .post(url.as_str())
                    .header("authorization", auth.as_str())
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let status = match response {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let text = resp.text().await.unwrap_or_default();
                        if status != 201 && first_error.is_none() {
                            first_error = Some(format!("{status}: {text}"));
                        }
                        status.to_string()
                    }
                    Err(e) => {
                        if first_error.is_none() {
                            first_error = Some(format!("transport: {e}"));
                        }
                        "transport error".to_owned()
                    }
                };
                latencies.push(sent.elapsed().as_micros() as u64);
                *statuses.entry(status).or_default() += 1;
            }
            (latencies, statuses, first_error)
        }));
    }
    let mut result = ApiResult {
        requests: args.clients * per_client,
        elapsed: Duration::ZERO,
        latencies_us: Vec::with_capacity(args.clients * per_client),
        statuses: BTreeMap::new(),
        rows: 0,
        commit_rows: 0,
    };
    for task in tasks {
        let (latencies, statuses, first_error) = task.await?;
        result.latencies_us.extend(latencies);
        for (status, n) in statuses {
            *result.statuses.entry(status).or_default() += n;
        }
        if let Some(e) = first_error {
            eprintln!("a client got: {e}");
        }
    }
    result.elapsed = started.elapsed();
    result.latencies_us.sort_unstable();
    Ok(result)
}

fn report_api(args: &Args, r: &ApiResult) {
    let ms = |p: f64| percentile(&r.latencies_us, p) / 1000.0;
    println!(
        "requests: {} in {:.2} s  =>  {:.0} requests/s",
        r.requests,
        r.elapsed.as_secs_f64(),
        r.requests as f64 / r.elapsed.as_secs_f64()
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(1.0)
    );
    println!("statuses: {:?}", r.statuses);
    println!(
        "stored: {} deployments (expected {}), {} commits (expected {})",
        r.rows,
        args.clients * args.per_client,
        r.commit_rows,
        args.clients * args.per_client * args.commits
    );
}

/// Linear-interpolated percentile of sorted samples (as DESIGN.md §5).
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = p * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = rank - lo as f64;
    sorted[lo] as f64 + frac * (sorted[hi] as f64 - sorted[lo] as f64)
}

fn redact(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

// ---------------------------------------------------------------------------------------
// Part 2: raw inserts of the same rows.

struct RawResult {
    /// One deployments row per autocommit INSERT.
    row_rate: f64,
    /// A deployment and its commits in one transaction.
    txn_rate: f64,
    how: String,
}

/// Ids the raw rows point at: the organization, its repositories and members.
struct Parents {
    organization: Uuid,
    repositories: Vec<Uuid>,
    members: Vec<Uuid>,
}

/// Applies the real migrations and creates the parent rows the API would have created.
async fn prepare_raw(url: &str, workload: &Workload) -> Result<Parents, BoxError> {
    let db = connect(url).await?;
    Migrator::up(&db, None).await?;
    let now = Utc::now();
    let parents = Parents {
        organization: Uuid::now_v7(),
        repositories: (0..workload.repositories).map(|_| Uuid::now_v7()).collect(),
        members: (0..workload.members).map(|_| Uuid::now_v7()).collect(),
    };
    use sea_orm::{ActiveValue::Set, EntityTrait as _};
    entity::organizations::Entity::insert(entity::organizations::ActiveModel {
        id: Set(parents.organization),
        slug: Set(ORG.to_owned()),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(&db)
    .await?;
    for (r, id) in parents.repositories.iter().enumerate() {
        entity::repositories::Entity::insert(entity::repositories::ActiveModel {
            id: Set(*id),
            organization_id: Set(parents.organization),
            url: Set(format!("https://github.com/acme/service-{r}")),
            key: Set(format!("github.com/acme/service-{r}")),
            name: Set(format!("acme/service-{r}")),
            team: Set(Some(format!("team-{}", r % 3))),
            created_at: Set(now),
        })
        .exec_without_returning(&db)
        .await?;
    }
    for (m, id) in parents.members.iter().enumerate() {
        entity::members::Entity::insert(entity::members::ActiveModel {
            id: Set(*id),
            organization_id: Set(parents.organization),
            external_id: Set(format!("member-{m}")),
            created_at: Set(now),
        })
        .exec_without_returning(&db)
        .await?;
    }
    db.close().await?;
    Ok(parents)
}

async fn run_raw(args: &Args, workspace: &Workspace) -> Result<RawResult, BoxError> {
    let workload = Workload::new(args);
    let total = args.clients * args.per_client;
    let result = match args.database {
        Backend::Sqlite => {
            println!("\n== raw SQLite: one connection, prepared statements, WAL, synchronous=FULL");
            let url = workspace.fresh("raw_row").await?;
            let parents = prepare_raw(&url, &workload).await?;
            let row_rate = sqlite_loop(&url, &parents, &workload, total, false).await?;
            println!("row (one deployments row per autocommit INSERT): {row_rate:.0} rows/s");
            let url = workspace.fresh("raw_txn").await?;
            let parents = prepare_raw(&url, &workload).await?;
            let txn_rate = sqlite_loop(&url, &parents, &workload, total, true).await?;
            println!(
                "txn (BEGIN IMMEDIATE; deployment; {} commits; COMMIT): {txn_rate:.0} transactions/s",
                workload.commits
            );
            RawResult {
                row_rate,
                txn_rate,
                how: format!("single-connection prepared-statement loop, {total} inserts"),
            }
        }
        Backend::Postgres => {
            println!(
                "\n== raw PostgreSQL: pgbench -n -M prepared -c {} -j 2 -t {}",
                args.clients, args.per_client
            );
            let url = workspace.fresh("raw_row").await?;
            let parents = prepare_raw(&url, &workload).await?;
            let row_rate = pgbench(args, workspace, &url, &parents, &workload, false)?;
            println!("row (one deployments row per autocommit INSERT): {row_rate:.0} rows/s");
            let url = workspace.fresh("raw_txn").await?;
            let parents = prepare_raw(&url, &workload).await?;
            let txn_rate = pgbench(args, workspace, &url, &parents, &workload, true)?;
            println!(
                "txn (BEGIN; deployment RETURNING id; {} commits; COMMIT): {txn_rate:.0} transactions/s",
                workload.commits
            );
            RawResult {
                row_rate,
                txn_rate,
                how: format!(
                    "pgbench -n -M prepared -c {} -j 2 -t {}",
                    args.clients, args.per_client
                ),
            }
        }
    };
    Ok(result)
}

const SQLITE_INSERT_DEPLOYMENT: &str = "INSERT INTO deployments (id, number, organization_id, \
    repository_id, pusher_id, environment, is_production, title, changelog, url, branch, \
    commit_id, node_id, pull_request_number, commits_count, duration_seconds, is_fix, \
    is_hotfix, is_forced, is_rollback, status, triggered_by, started_at, finished_at, \
    deployed_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
    ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Inserts `total` deployments (with their commits in one transaction when `with_commits`),
/// one after another on one connection; returns inserts (or transactions) per second.
async fn sqlite_loop(
    url: &str,
    parents: &Parents,
    workload: &Workload,
    total: usize,
    with_commits: bool,
) -> Result<f64, BoxError> {
    // The pragmas of `api::store::db::Db::connect`.
    let options: SqliteConnectOptions = url
        .parse::<SqliteConnectOptions>()?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let commits_sql = format!(
        "INSERT INTO deployment_commits (deployment_id, sha, committed_at) VALUES {}",
        vec!["(?, ?, ?)"; workload.commits].join(", ")
    );
    let started = Instant::now();
    for seq in 0..total as u64 {
        let now = api::domain::truncate_micros(Utc::now());
        let id = Uuid::now_v7();
        let row = RawRow::new(workload, parents, seq);
        if with_commits {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await?;
        }
        sqlx::query(SQLITE_INSERT_DEPLOYMENT)
            .bind(id)
            // The organization's deployment number (unique per organization, migration 000010).
            .bind(seq as i64 + 1)
            .bind(parents.organization)
            .bind(row.repository)
            .bind(Some(row.member))
            .bind("production")
            .bind(true)
            .bind(row.title)
            .bind(Some(row.changelog))
            .bind(Some(row.url))
            .bind("main")
            .bind(row.commit_id)
            .bind(Some(row.node_id))
            .bind(Some(row.pr))
            .bind(workload.commits as i32)
            .bind(Some(270_i64))
            .bind(row.is_fix)
            .bind(row.is_hotfix)
            .bind(false)
            .bind(false)
            .bind(row.status)
            .bind("api")
            .bind(None::<DateTime<Utc>>)
            .bind(None::<DateTime<Utc>>)
            .bind(now)
            .bind(now)
            .bind(now)
            .execute(&mut conn)
            .await?;
        if with_commits && workload.commits > 0 {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(commits_sql.clone()));
            for k in 0..workload.commits as u64 {
                query = query
                    .bind(id)
                    .bind(Workload::sha(seq, k + 1))
                    .bind(now - chrono::Duration::minutes(30 + 17 * k as i64));
            }
            query.execute(&mut conn).await?;
        }
        if with_commits {
            sqlx::query("COMMIT").execute(&mut conn).await?;
        }
    }
    let elapsed = started.elapsed();
    conn.close().await?;
    Ok(total as f64 / elapsed.as_secs_f64())
}

/// The values of one deployments row, as the API would store them for body `seq`.
struct RawRow {
    repository: Uuid,
    member: Uuid,
    title: String,
    changelog: String,
    url: String,
    commit_id: String,
    node_id: String,
    pr: i64,
    is_fix: bool,
    is_hotfix: bool,
    status: &'static str,
}

impl RawRow {
    fn new(workload: &Workload, parents: &Parents, seq: u64) -> Self {
        let r = (seq as usize * 7) % workload.repositories;
        let m = (seq as usize * 13) % workload.members;
        let pr = 1000 + seq as i64;
        Self {
            repository: parents.repositories[r],
            member: parents.members[m],
            title: format!("Deploy #{pr}: service-{r} to production"),
            changelog: format!(
                "#{pr} Merged: improve request handling of service-{r} and update dependencies"
            ),
            url: format!(
                "https://github.com/acme/service-{r}/actions/runs/{}",
                7_000_000 + seq
            ),
            commit_id: Workload::sha(seq, 0),
            node_id: format!("DE_kwDO{seq:010}"),
            pr,
            is_fix: seq.is_multiple_of(10),
            is_hotfix: seq.is_multiple_of(40),
            status: if seq.is_multiple_of(12) {
                "failure"
            } else {
                "success"
            },
        }
    }
}

/// Runs pgbench with a script inserting one deployment (`with_commits`: and its commits,
/// in one transaction); returns transactions per second.
fn pgbench(
    args: &Args,
    workspace: &Workspace,
    url: &str,
    parents: &Parents,
    workload: &Workload,
    with_commits: bool,
) -> Result<f64, BoxError> {
    let script = pgbench_script(parents, workload, with_commits);
    let path = workspace.dir.join(if with_commits {
        "raw_txn.sql"
    } else {
        "raw_row.sql"
    });
    std::fs::write(&path, script)?;
    pgbench_run(args, url, &path)
}

fn pgbench_script(parents: &Parents, workload: &Workload, with_commits: bool) -> String {
    // Variables pick a repository and a member like the API workload does; the row's text
    // values have the same shapes and lengths. Parent ids are spliced in as an array.
    let array = |ids: &[Uuid]| {
        format!(
            "(ARRAY[{}]::uuid[])",
            ids.iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let mut s = String::new();
    s.push_str(&format!(
        // `num`: the organization's deployment number (unique per organization, migration
        // 000010), random in a range where 32,000 draws collide with probability ~1e-10.
        "\\set seq random(1, 1000000000)\n\\set num random(1, 9000000000000000000)\n\\set r random(1, {})\n\\set m random(1, {})\n",
        workload.repositories, workload.members
    ));
    if with_commits {
        s.push_str("BEGIN;\n");
    }
    // gen_random_uuid() stands in for the service's Uuid::now_v7() (made client-side).
    s.push_str(&format!(
        "INSERT INTO deployments (id, number, organization_id, repository_id, pusher_id, environment, \
         is_production, title, changelog, url, branch, commit_id, node_id, pull_request_number, \
         commits_count, duration_seconds, is_fix, is_hotfix, is_forced, is_rollback, status, \
         triggered_by, started_at, finished_at, deployed_at, created_at, updated_at) VALUES \
         (gen_random_uuid(), :num, '{org}', {repos}[:r], {members}[:m], 'production', true, \
         'Deploy #' || :seq || ': service-' || :r || ' to production', \
         '#' || :seq || ' Merged: improve request handling of service-' || :r || ' and update dependencies', \
         'https://github.com/acme/service-' || :r || '/actions/runs/' || (7000000 + :seq), 'main', \
         lpad(to_hex(:seq * 2654435761), 40, 'f'), 'DE_kwDO' || lpad(CAST(:seq AS text), 10, '0'), :seq, \
         {commits}, 270, :seq % 10 = 0, :seq % 40 = 0, false, false, \
         CASE WHEN :seq % 12 = 0 THEN 'failure' ELSE 'success' END, 'api', NULL, NULL, \
         now(), now(), now()){returning}\n",
        org = parents.organization,
        repos = array(&parents.repositories),
        members = array(&parents.members),
        commits = workload.commits,
        // `\gset` ends its statement (no semicolon): it stores the returned id in `:id`.
        returning = if with_commits { " RETURNING id \\gset" } else { ";" },
    ));
    if with_commits {
        if workload.commits > 0 {
            let values: Vec<String> = (0..workload.commits)
                .map(|k| {
                    format!(
                        "(:id, lpad(to_hex(:seq * {}), 40, 'a'), now() - interval '{} minutes')",
                        2_654_435_761_u64 + k as u64,
                        30 + 17 * k
                    )
                })
                .collect();
            s.push_str(&format!(
                "INSERT INTO deployment_commits (deployment_id, sha, committed_at) VALUES {};\n",
                values.join(", ")
            ));
        }
        s.push_str("COMMIT;\n");
    }
    s
}

fn pgbench_run(args: &Args, url: &str, script: &Path) -> Result<f64, BoxError> {
    let output = Process::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args(["-c", &args.clients.to_string()])
        .args(["-t", &args.per_client.to_string()])
        .arg("-f")
        .arg(script)
        .arg(url)
        .output()
        .map_err(|e| {
            format!("cannot run pgbench ({e}); install it with `apt-get install postgresql-client`")
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "pgbench failed: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    // "tps = 1234.567890 (without initial connection time)"
    stdout
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        })
        .ok_or_else(|| format!("no tps in pgbench output:\n{stdout}").into())
}

fn summarize(api: Option<&ApiResult>, raw: Option<&RawResult>) {
    println!("\n== summary");
    let api_rate = api.map(|a| a.requests as f64 / a.elapsed.as_secs_f64());
    if let Some(a) = api {
        println!(
            "API:       {:>8.0} requests/s  (p50 {:.2} ms, p99 {:.2} ms)",
            a.requests as f64 / a.elapsed.as_secs_f64(),
            percentile(&a.latencies_us, 0.5) / 1000.0,
            percentile(&a.latencies_us, 0.99) / 1000.0
        );
    }
    if let Some(r) = raw {
        println!("raw row:   {:>8.0} inserts/s       ({})", r.row_rate, r.how);
        println!("raw txn:   {:>8.0} transactions/s", r.txn_rate);
        if let Some(api_rate) = api_rate {
            println!(
                "API / raw row: {:.2}   API / raw txn: {:.2}   (goal: API >= 0.5 x raw row)",
                api_rate / r.row_rate,
                api_rate / r.txn_rate
            );
        }
    }
}
