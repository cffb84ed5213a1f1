//! Metrics queries over a large history (BENCHMARKS.md, "Metrics queries over 1,000,000
//! deployments").
//!
//! For SQLite and PostgreSQL: creates a fresh database, runs the real migrations, bulk-loads a
//! synthetic history straight into the tables (multi-row INSERTs in large transactions: 500
//! repositories, 3 environments, 3 years up to now, commits with promotions from staging to
//! production, and incidents), then starts the real service (`api::Application`) on it and
//! times `GET /api/v1/metrics/dora` over HTTP, beside the "floor": a plain
//! `SELECT count(*), min(deployed_at), max(deployed_at)` over the same index range.
//!
//! ```text
//! cargo run --release -p bench --bin metrics_query
//! ```
//!
//! After the load it computes the derived outcomes and the daily rollups as migrations 000009
//! and 000014 do (each timed), and times everything twice: with every day's rollup compacted
//! (the compactor has nothing dirty), then with nothing compacted (every day marked dirty, so
//! each read adds up the outcome rows), each number beside its floor, its goal and the load
//! average; then the compactor rebuilding every day, the first `/metrics` refresh and scrapes.
//!
//! Options: `--deployments N` (default 1,000,000), `--days N` (history length, default 3 years),
//! `--runs N` (timed runs per query, 30), `--cover-statuses` (see `Args`),
//! `--only sqlite|postgres`, `--postgres-url URL` (a server; the `dora_bench_metrics` database
//! is dropped and created there), `--sqlite-file PATH`, `--skip-load` (reuse the databases of a
//! previous run made with `--keep`), `--keep` (leave the databases; removed otherwise).
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use api::{
    Application,
    auth::{JwtKeys, Scope},
    domain::Secret,
    settings::{ServeArgs, Settings},
};
use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use migration::{Migrator, MigratorTrait};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait, Value,
};
use uuid::Uuid;

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";
const ORG: &str = "bench";
const ENVIRONMENTS: [(&str, bool); 3] = [("production", true), ("staging", false), ("qa", false)];
const STATUSES: [&str; 4] = ["success", "failure", "error", "canceled"];

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    deployments: usize,
    #[arg(long, default_value_t = 500)]
    repositories: usize,
    /// Days of history, up to now.
    #[arg(long, default_value_t = 3 * 365)]
    days: i64,
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// `sqlite` or `postgres`; both by default.
    #[arg(long)]
    only: Option<String>,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres_url: String,
    #[arg(long, default_value = "/tmp/dora-bench-metrics.db")]
    sqlite_file: String,
    #[arg(long)]
    skip_load: bool,
    /// Leave the databases when done (for `--skip-load`); without it they are removed.
    #[arg(long)]
    keep: bool,
    /// Start with one deployment of every (repository, environment, status), so that a small
    /// history exports the series of a large one (the scrape comparison).
    #[arg(long)]
    cover_statuses: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    // `RUST_LOG=api::store::facts=debug` shows where a query's time goes.
    if let Ok(filter) = std::env::var("RUST_LOG") {
        api::init_tracing(&filter).map_err(anyhow::Error::msg)?;
    }
    let mut targets = Vec::new();
    if args.only.as_deref().is_none_or(|o| o == "sqlite") {
        targets.push(format!("sqlite://{}?mode=rwc", args.sqlite_file));
    }
    if args.only.as_deref().is_none_or(|o| o == "postgres") {
        targets.push(format!(
            "{}/dora_bench_metrics",
            args.postgres_url.trim_end_matches('/')
        ));
    }
    for url in targets {
        run(&args, &url).await?;
    }
    Ok(())
}

async fn run(args: &Args, url: &str) -> Result<()> {
    let backend = if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    println!("\n== {backend} ({url})");
    // Timestamps are whole seconds: the end of the history is "now" at load time.
    let (org, end) = if args.skip_load {
        let db = connect(url).await?;
        existing(&db).await?
    } else {
        fresh_database(args, url).await?;
        let db = connect(url).await?;
        Migrator::up(&db, None).await?;
        let started = Instant::now();
        let loaded = load(&db, args).await?;
        println!(
            "loaded {} deployments, {} commits, {} incidents in {:.1} s",
            args.deployments,
            loaded.commits,
            loaded.incidents,
            started.elapsed().as_secs_f64()
        );
        // What migration 000009 does to an existing database: every outcome, in one pass.
        let started = Instant::now();
        // In one transaction, as the migration runs.
        let txn = db.begin().await?;
        let outcomes = migration::compute_outcomes(&txn).await?;
        txn.commit().await?;
        println!(
            "computed {outcomes} outcomes in {:.1} s (migration 000009's pass; load average {})",
            started.elapsed().as_secs_f64(),
            load_average()
        );
        // What migration 000014 does: every daily rollup, in one pass (and no day left dirty).
        let started = Instant::now();
        let txn = db.begin().await?;
        let rollups = migration::compute_rollups(&txn).await?;
        txn.commit().await?;
        println!(
            "computed {rollups} daily rollups in {:.1} s (migration 000014's pass; load average {})",
            started.elapsed().as_secs_f64(),
            load_average()
        );
        let started = Instant::now();
        match db.get_database_backend() {
            DbBackend::Postgres => db.execute_unprepared("VACUUM ANALYZE").await?,
            _ => db.execute_unprepared("ANALYZE").await?,
        };
        println!("analyzed in {:.1} s", started.elapsed().as_secs_f64());
        db.close().await?;
        (loaded.organization, loaded.end)
    };

    // The real service on this database.
    let mut serve = ServeArgs::from_env();
    serve.db.database_url = Secret::new(url);
    serve.listen = "127.0.0.1:0".to_owned();
    serve.jwt.jwt_secret = Some(Secret::new(SECRET));
    serve.rust_log = "warn".to_owned();
    // One DORA snapshot, computed at start-up and awaited below: no refresh runs while the
    // queries and scrapes are timed.
    serve.metrics_refresh_seconds = 24 * 3600;
    // The rollups' compactor runs when the bench says (below), not in the background: the
    // "nothing compacted" timings need every day dirty.
    serve.rollup_interval_seconds = 0.0;
    let app = Application::build(Settings::from_serve_args(serve.clone())?).await?;
    let core = app.state().core.clone();
    let base = format!(
        "http://{}",
        app.local_addr().context("the service has no address")?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let keys = JwtKeys::new(
        &Secret::new(SECRET),
        &serve.jwt.jwt_issuer,
        &serve.jwt.jwt_audience,
    )
    .map_err(anyhow::Error::msg)?;
    let token = keys.issue(ORG, &[Scope::Read], "bench", Duration::from_secs(3600))?;
    let client = reqwest::Client::new();
    let db = connect(url).await?;
    let repository = first_repository(&db).await?;

    // `/metrics`: wait for the first background DORA snapshot (timed scrapes come last).
    let started = Instant::now();
    let metrics_url = format!("{base}/metrics");
    loop {
        let text = client.get(&metrics_url).send().await?.text().await?;
        if text.contains("dora_window_deployments{") {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("no DORA snapshot after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_snapshot = started.elapsed();
    println!(
        "first DORA snapshot (a full /metrics refresh) ready {:.2} s after start-up \
         (load average {})",
        first_snapshot.as_secs_f64(),
        load_average()
    );
    // Compacted: whatever a load or an earlier run left dirty is rebuilt first.
    let started = Instant::now();
    let rounds = api::core::rollups::compact_all(&core).await?;
    let marks = api::store::rollups::marks(&db).await?;
    println!(
        "\n### Rollups compacted: nothing dirty ({marks} marks; the compactor took {rounds} \
         rounds, {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let targets = Targets {
        base: &base,
        token: &token,
        client: &client,
        db: &db,
        org,
        end,
        repository,
        runs: args.runs,
    };
    time_queries(&targets).await?;
    // Nothing compacted: every day dirty, so every read adds up the outcome rows themselves
    // (the reads before the rollups, in the same run).
    let marked = api::store::rollups::mark_all(&db).await?;
    println!("\n### Nothing compacted: every day dirty ({marked} marks)");
    time_queries(&targets).await?;
    let started = Instant::now();
    let rounds = api::core::rollups::compact_all(&core).await?;
    println!(
        "\ncompactor: rebuilt every dirty day in {:.1} s ({rounds} rounds; load average {})",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    db.close().await?;

    let (client, metrics_url) = (&client, &metrics_url);
    let (scrape, body) = time(args.runs, move || async move {
        Ok(client.get(metrics_url).send().await?.text().await?)
    })
    .await?;
    let series = body
        .lines()
        .filter(|l| l.starts_with("dora_") && !l.starts_with('#'))
        .count();
    println!(
        "\n/metrics scrape: median {:.2} ms, p90 {:.2} ms, {} bytes, {series} dora_ series",
        ms(scrape.median),
        ms(scrape.p90),
        body.len(),
    );
    let _ = stop.send(());
    server.await??;
    if !args.keep {
        remove_database(args, url).await?;
        println!("(database removed; --keep leaves it)");
    }
    Ok(())
}

/// Drops the benchmark's database (PostgreSQL) or deletes its files (SQLite).
async fn remove_database(args: &Args, url: &str) -> Result<()> {
    if url.starts_with("sqlite") {
        for suffix in ["", "-wal", "-shm", ".jwt-secret", ".secret-key"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", args.sqlite_file));
        }
        return Ok(());
    }
    on_server(
        args,
        "DROP DATABASE IF EXISTS dora_bench_metrics WITH (FORCE)",
    )
    .await
}

/// Runs `statement` on the PostgreSQL server's `postgres` database.
async fn on_server(args: &Args, statement: &str) -> Result<()> {
    let admin = Database::connect(format!(
        "{}/postgres",
        args.postgres_url.trim_end_matches('/')
    ))
    .await?;
    admin.execute_unprepared(statement).await?;
    admin.close().await?;
    Ok(())
}

/// What [`time_queries`] needs.
struct Targets<'a> {
    base: &'a str,
    token: &'a str,
    client: &'a reqwest::Client,
    db: &'a DatabaseConnection,
    org: Uuid,
    end: DateTime<Utc>,
    repository: Uuid,
    runs: usize,
}

/// "met" or "NOT met".
fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// Times the summaries against their floors, the 365-day series and the 30-day breakdowns,
/// each with its goal (issue 14) and the load average.
async fn time_queries(t: &Targets<'_>) -> Result<()> {
    let Targets {
        base,
        token,
        client,
        db,
        org,
        end,
        repository,
        runs,
    } = *t;
    let day = |d: i64| end - TimeDelta::days(d);
    // (name, from, to, repository, goal: at most this many times the floor, under this many ms)
    let queries = [
        (
            "30 days, organization",
            day(30),
            end,
            None,
            Some(3.0),
            Some(20.0),
        ),
        (
            "365 days, organization",
            day(365),
            end,
            None,
            Some(3.0),
            Some(100.0),
        ),
        (
            "30 days, one repository",
            day(30),
            end,
            Some(repository),
            None,
            None,
        ),
        (
            "30 days a year ago, organization",
            day(395),
            day(365),
            None,
            Some(3.0),
            None,
        ),
    ];
    println!(
        "| query | deployments in scope | HTTP median | HTTP p90 | floor median | ratio | goal | load |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|");
    for (name, from, to, repository, max_ratio, max_ms) in queries {
        let mut path = format!(
            "{base}/api/v1/metrics/dora?from={}&to={}",
            from.format("%Y-%m-%dT%H:%M:%SZ"),
            to.format("%Y-%m-%dT%H:%M:%SZ")
        );
        if let Some(r) = repository {
            path.push_str(&format!("&repository={r}"));
        }
        let path = &path;
        let (http, body) = time(runs, move || get_json(client, path, token)).await?;
        let (floor, _) = time(runs, move || async move {
            floor_query(db, org, repository, from, to).await
        })
        .await?;
        let in_scope = floor_query(db, org, repository, from, to).await?;
        let ratio = http.median.as_secs_f64() / floor.median.as_secs_f64();
        let mut goal = Vec::new();
        if let Some(max) = max_ratio {
            goal.push(format!("≤ {max}× {}", verdict(ratio <= max)));
        }
        if let Some(max) = max_ms {
            goal.push(format!("< {max} ms {}", verdict(ms(http.median) < max)));
        }
        println!(
            "| {name} | {in_scope} ({} successful) | {:.1} ms | {:.1} ms | {:.1} ms | {ratio:.1}× | {} | {} |",
            body["deployment_frequency"]["deployments"],
            ms(http.median),
            ms(http.p90),
            ms(floor.median),
            goal.join(", "),
            load_average(),
        );
    }
    // Series: one query, every bucket of the window computed in one pass.
    for (name, interval, max_ms) in [
        ("365 days by day", "day", Some(150.0)),
        ("365 days by week", "week", None),
    ] {
        let path = format!(
            "{base}/api/v1/metrics/dora/series?interval={interval}&from={}&to={}",
            day(365).format("%Y-%m-%dT%H:%M:%SZ"),
            end.format("%Y-%m-%dT%H:%M:%SZ")
        );
        let path = &path;
        let (http, body) = time(runs.div_ceil(5), move || get_json(client, path, token)).await?;
        let goal = max_ms.map_or_else(String::new, |max: f64| {
            format!("; goal < {max} ms {}", verdict(ms(http.median) < max))
        });
        println!(
            "series, {name}: {} buckets, median {:.1} ms, p90 {:.1} ms{goal} (load average {})",
            body["buckets"].as_array().map_or(0, Vec::len),
            ms(http.median),
            ms(http.p90),
            load_average(),
        );
    }
    // Breakdowns: one row per group, 30 days.
    for (by, max_ms) in [
        ("repository", Some(50.0)),
        ("team", None),
        ("environment", None),
    ] {
        let path = format!(
            "{base}/api/v1/metrics/dora/breakdown?by={by}&from={}&to={}",
            day(30).format("%Y-%m-%dT%H:%M:%SZ"),
            end.format("%Y-%m-%dT%H:%M:%SZ")
        );
        let path = &path;
        let (http, body) = time(runs, move || get_json(client, path, token)).await?;
        let goal = max_ms.map_or_else(String::new, |max: f64| {
            format!("; goal < {max} ms {}", verdict(ms(http.median) < max))
        });
        println!(
            "breakdown by {by}, 30 days: {} rows, median {:.1} ms, p90 {:.1} ms{goal} (load average {})",
            body["rows"].as_array().map_or(0, Vec::len),
            ms(http.median),
            ms(http.p90),
            load_average(),
        );
    }
    Ok(())
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_owned())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Timing {
    median: Duration,
    p90: Duration,
}

/// A `GET` of the service's JSON API; a non-2xx answer is an error.
async fn get_json(client: &reqwest::Client, path: &str, token: &str) -> Result<serde_json::Value> {
    let resp = client.get(path).bearer_auth(token).send().await?;
    if !resp.status().is_success() {
        bail!("{path}: {}", resp.text().await?);
    }
    Ok(resp.json().await?)
}

/// Three warm-up runs, then `runs` timed ones; also the last answer.
async fn time<T, F, Fut>(runs: usize, mut f: F) -> Result<(Timing, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut last = f().await?;
    for _ in 0..2 {
        last = f().await?;
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        last = f().await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    Ok((
        Timing {
            median: at(0.5),
            p90: at(0.9),
        },
        last,
    ))
}

/// The floor: counting the scope's deployments over the same index range.
async fn floor_query(
    db: &DatabaseConnection,
    org: Uuid,
    repository: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64> {
    let backend = db.get_database_backend();
    let p = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let (column, key): (&str, Value) = match repository {
        Some(r) => ("repository_id", r.into()),
        None => ("organization_id", org.into()),
    };
    let sql = format!(
        "SELECT count(*) AS n, min(deployed_at) AS first, max(deployed_at) AS last \
         FROM deployments WHERE {column} = {} AND is_production = {} \
         AND deployed_at >= {} AND deployed_at < {}",
        p(1),
        p(2),
        p(3),
        p(4)
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [key, true.into(), from.into(), to.into()],
        ))
        .await?
        .context("no row")?;
    Ok(row.try_get("", "n")?)
}

async fn connect(url: &str) -> Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(1).sqlx_logging(false);
    Ok(Database::connect(opts).await?)
}

async fn fresh_database(args: &Args, url: &str) -> Result<()> {
    remove_database(args, url).await?;
    if url.starts_with("sqlite") {
        return Ok(());
    }
    on_server(args, "CREATE DATABASE dora_bench_metrics").await
}

async fn existing(db: &DatabaseConnection) -> Result<(Uuid, DateTime<Utc>)> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT o.id AS id, (SELECT max(deployed_at) FROM deployments) AS last \
             FROM organizations o WHERE o.slug = 'bench'",
        ))
        .await?
        .context("no bench organization: run without --skip-load first")?;
    let last: DateTime<Utc> = row.try_get("", "last")?;
    Ok((row.try_get("", "id")?, last + TimeDelta::seconds(1)))
}

async fn first_repository(db: &DatabaseConnection) -> Result<Uuid> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM repositories ORDER BY key LIMIT 1",
        ))
        .await?
        .context("no repository")?;
    Ok(row.try_get("", "id")?)
}

struct Loaded {
    organization: Uuid,
    end: DateTime<Utc>,
    commits: usize,
    incidents: usize,
}

/// Multi-row INSERT statements, `rows_per_statement` rows each.
struct Batch {
    backend: DbBackend,
    head: String,
    columns: usize,
    rows_per_statement: usize,
    sql: String,
    values: Vec<Value>,
    pending: Vec<Statement>,
}

impl Batch {
    fn new(backend: DbBackend, table: &str, columns: &[&str]) -> Self {
        // Within both backends' parameter limits (SQLite 32766, PostgreSQL 65535).
        let rows_per_statement = 30_000 / columns.len();
        Self {
            backend,
            head: format!("INSERT INTO {table} ({}) VALUES ", columns.join(", ")),
            columns: columns.len(),
            rows_per_statement,
            sql: String::new(),
            values: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn row(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns);
        if self.values.is_empty() {
            self.sql.push_str(&self.head);
        } else {
            self.sql.push_str(", ");
        }
        self.sql.push('(');
        for (i, value) in row.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.values.push(value);
            match self.backend {
                DbBackend::Postgres => {
                    self.sql.push('$');
                    self.sql.push_str(&self.values.len().to_string());
                }
                _ => self.sql.push('?'),
            }
        }
        self.sql.push(')');
        if self.values.len() >= self.rows_per_statement * self.columns {
            self.cut();
        }
    }

    fn cut(&mut self) {
        if !self.values.is_empty() {
            self.pending.push(Statement::from_sql_and_values(
                self.backend,
                std::mem::take(&mut self.sql),
                std::mem::take(&mut self.values),
            ));
        }
    }

    async fn flush<C: ConnectionTrait>(&mut self, conn: &C, all: bool) -> Result<()> {
        if all {
            self.cut();
        }
        for statement in self.pending.drain(..) {
            conn.execute_raw(statement).await?;
        }
        Ok(())
    }
}

fn sha(rng: &mut StdRng) -> String {
    format!("{:032x}{:08x}", rng.random::<u128>(), rng.random::<u32>())
}

async fn load(db: &DatabaseConnection, args: &Args) -> Result<Loaded> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        db.execute_unprepared("PRAGMA synchronous=OFF").await?;
    }
    let mut rng = StdRng::seed_from_u64(42);
    let end = DateTime::<Utc>::from_timestamp(Utc::now().timestamp(), 0).context("clock")?;
    let start = end - TimeDelta::days(args.days);
    let span = (end - start).num_seconds() as f64;

    let organization = Uuid::now_v7();
    let txn = db.begin().await?;
    let mut orgs = Batch::new(backend, "organizations", &["id", "slug", "created_at"]);
    orgs.row(vec![organization.into(), ORG.into(), start.into()]);
    orgs.flush(&txn, true).await?;
    let mut repos = Batch::new(
        backend,
        "repositories",
        &[
            "id",
            "organization_id",
            "url",
            "key",
            "name",
            "team",
            "created_at",
        ],
    );
    let mut repositories = Vec::with_capacity(args.repositories);
    for r in 0..args.repositories {
        let id = Uuid::now_v7();
        repositories.push(id);
        repos.row(vec![
            id.into(),
            organization.into(),
            format!("https://github.com/bench/repo-{r:04}").into(),
            format!("github.com/bench/repo-{r:04}").into(),
            format!("bench/repo-{r:04}").into(),
            Some(format!("team-{:02}", r % 20)).into(),
            start.into(),
        ]);
    }
    repos.flush(&txn, true).await?;
    txn.commit().await?;

    let mut deployments = Batch::new(
        backend,
        "deployments",
        &[
            "number",
            "id",
            "organization_id",
            "repository_id",
            "environment",
            "is_production",
            "title",
            "branch",
            "commit_id",
            "commits_count",
            "is_fix",
            "is_hotfix",
            "is_forced",
            "is_rollback",
            "status",
            "triggered_by",
            "finished_at",
            "deployed_at",
            "created_at",
            "updated_at",
        ],
    );
    let mut commits = Batch::new(
        backend,
        "deployment_commits",
        &["deployment_id", "sha", "committed_at"],
    );
    let mut incidents = Batch::new(
        backend,
        "incidents",
        &[
            "id",
            "organization_id",
            "repository_id",
            "environment",
            "is_production",
            "deployment_id",
            "title",
            "severity",
            "started_at",
            "resolved_at",
            "created_at",
            "updated_at",
        ],
    );
    // The shas last deployed to staging per repository: production promotes them.
    let mut staged: Vec<Vec<String>> = vec![Vec::new(); args.repositories];
    // Per stream, the last two deployments' shas and whether the last one failed: a retry
    // after a failure redeploys the same shas, a rollback redeploys the ones before.
    let mut history: Vec<(Vec<String>, Vec<String>, bool)> =
        vec![(Vec::new(), Vec::new(), false); args.repositories * ENVIRONMENTS.len()];
    let (mut commit_count, mut incident_count) = (0, 0);
    let mut txn = db.begin().await?;
    for i in 0..args.deployments {
        let at = start
            + TimeDelta::seconds(
                ((i as f64 + rng.random::<f64>()) * span / args.deployments as f64) as i64,
            );
        let mut r = rng.random_range(0..args.repositories);
        let mut e = rng.random_range(0..ENVIRONMENTS.len());
        let mut status = match rng.random_range(0..100) {
            0..=87 => "success",
            88..=95 => "failure",
            96..=97 => "error",
            _ => "canceled",
        };
        // With --cover-statuses, the first deployments go round-robin over every
        // (repository, environment, status), as a long history has them all: a small history
        // then exports the same `dora_deployments_total` series as a large one.
        if args.cover_statuses && i < args.repositories * ENVIRONMENTS.len() * STATUSES.len() {
            r = i % args.repositories;
            e = (i / args.repositories) % ENVIRONMENTS.len();
            status = STATUSES[i / (args.repositories * ENVIRONMENTS.len())];
        }
        let (environment, production) = ENVIRONMENTS[e];
        let stream = &mut history[r * ENVIRONMENTS.len() + e];
        let is_rollback = rng.random_bool(0.01);
        let id = Uuid::now_v7();
        let shas: Vec<String> = if stream.2 && rng.random_bool(0.5) {
            stream.0.clone()
        } else if is_rollback && !stream.1.is_empty() {
            stream.1.clone()
        } else if production && !staged[r].is_empty() && rng.random_bool(0.7) {
            std::mem::take(&mut staged[r])
        } else {
            (0..rng.random_range(1..=3))
                .map(|_| sha(&mut rng))
                .collect()
        };
        if environment == "staging" {
            staged[r] = shas.clone();
        }
        stream.1 = std::mem::replace(&mut stream.0, shas.clone());
        stream.2 = matches!(status, "failure" | "error");
        let number = i as i64 + 1;
        deployments.row(vec![
            number.into(),
            id.into(),
            organization.into(),
            repositories[r].into(),
            environment.into(),
            production.into(),
            format!("Deploy {number}").into(),
            "main".into(),
            shas[0].clone().into(),
            (shas.len() as i32).into(),
            rng.random_bool(0.05).into(),
            rng.random_bool(0.03).into(),
            false.into(),
            is_rollback.into(),
            status.into(),
            "api".into(),
            Some(at).into(),
            at.into(),
            at.into(),
            at.into(),
        ]);
        for s in shas {
            let committed_at = at - TimeDelta::seconds(rng.random_range(60..7 * 86_400));
            commits.row(vec![id.into(), s.into(), committed_at.into()]);
            commit_count += 1;
        }
        if i % 200 == 199 {
            let started = at + TimeDelta::seconds(rng.random_range(60..7_200));
            let resolved = rng
                .random_bool(0.95)
                .then(|| started + TimeDelta::seconds(rng.random_range(600..86_400)));
            let kind = rng.random_range(0..10);
            let (repository, environment, production, deployment): (
                Option<Uuid>,
                &str,
                bool,
                Option<Uuid>,
            ) = match kind {
                0..=3 if status != "canceled" => {
                    (Some(repositories[r]), environment, production, Some(id))
                }
                0..=7 => (Some(repositories[r]), "production", true, None),
                _ => (None, "production", true, None),
            };
            incidents.row(vec![
                Uuid::now_v7().into(),
                organization.into(),
                repository.into(),
                environment.into(),
                production.into(),
                deployment.into(),
                format!("Incident {i}").into(),
                Some("sev2".to_owned()).into(),
                started.into(),
                resolved.into(),
                started.into(),
                started.into(),
            ]);
            incident_count += 1;
        }
        if i % 50_000 == 49_999 {
            // Parents before children: the foreign keys are checked per statement.
            deployments.flush(&txn, true).await?;
            commits.flush(&txn, true).await?;
            incidents.flush(&txn, true).await?;
            txn.commit().await?;
            txn = db.begin().await?;
            print!("\r{} deployments", i + 1);
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
    }
    deployments.flush(&txn, true).await?;
    commits.flush(&txn, true).await?;
    incidents.flush(&txn, true).await?;
    txn.commit().await?;
    println!();
    // What ingest maintains row by row: the commits another deployment of the stream shares.
    db.execute_unprepared(migration::flag_shared_commits(backend))
        .await?;
    // Deployment numbers are per organization: the next create takes the one after these.
    db.execute_unprepared(
        "UPDATE organizations SET last_deployment_number = \
         (SELECT COALESCE(MAX(d.number), 0) FROM deployments d \
         WHERE d.organization_id = organizations.id)",
    )
    .await?;
    Ok(Loaded {
        organization,
        end: end + TimeDelta::seconds(1),
        commits: commit_count,
        incidents: incident_count,
    })
}
