//! `import`: the rate of `POST /api/v1/deployments/import` (streamed NDJSON) beside the raw
//! bulk floor of the same rows, measured in one run, with the process's peak RSS.
//!
//! ```text
//! cargo run --release -p bench --bin import -- --database sqlite --lines 1000000
//! cargo run --release -p bench --bin import -- --database postgres --lines 1000000
//! ```
//!
//! 1. API: a fresh database (SQLite file or PostgreSQL database) with the real migrations,
//!    the real service (`Application::build`) in-process on its own Tokio runtime, and one
//!    HTTP client on loopback that streams `--lines` NDJSON lines (a chronological history:
//!    `--repositories` repositories, `--members` members, `--commits` commits per line, an
//!    `external_id` per line, one line in twelve a failure) without holding the body, and
//!    reads the streamed results. Any line not `created` fails the run, and so do stored
//!    counts other than the lines (deployments, commits, derived outcomes).
//! 2. Raw floor: a fresh database with the same migrations, the same organization,
//!    repositories and members, then the same deployment and commit rows with multi-row
//!    INSERTs, 1,000 deployments per transaction, on one connection (SQLite with the
//!    service's pragmas: WAL, `synchronous=FULL`, foreign keys), no service, no outcomes.
//!
//! The service runs as a child process (the `dora-tracker` binary next to this one, or
//! `--server`; configured by `DATABASE_URL` and `DORA_*` variables): its peak RSS is its own
//! (`VmHWM` of /proc/<pid>/status before it is stopped, and the highest `VmRSS` sampled every
//! 100 ms). With `--in-process` (or without the binary) it runs in this process, and the peak
//! RSS printed is the whole benchmark process's (service and client together).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use api::{
    Application,
    auth::{JwtKeys, Scope},
    domain::Secret,
    settings::{ServeArgs, Settings},
};
use chrono::{DateTime, TimeDelta, Utc};
use clap::{Parser, ValueEnum};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait, Value,
};
use serde_json::json;
use uuid::Uuid;

const SECRET: &str = "import-benchmark-secret-0123456789abcdef";
const ORG: &str = "bench";
/// Lines per chunk the client sends.
const CHUNK_LINES: u64 = 1000;
/// Seconds between two deployments of the history.
const STEP_SECONDS: i64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Measures `POST /api/v1/deployments/import` against the raw bulk insert of the same rows.
#[derive(Debug, Parser)]
#[command(name = "import")]
struct Args {
    #[arg(long, value_enum, default_value = "sqlite")]
    database: Backend,
    /// NDJSON lines (deployments) to import.
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,
    /// Commits each deployment ships.
    #[arg(long, default_value_t = 3)]
    commits: u64,
    #[arg(long, default_value_t = 20)]
    repositories: u64,
    #[arg(long, default_value_t = 24)]
    members: u64,
    /// PostgreSQL server; the benchmark creates and drops its own databases there.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres_url: String,
    /// Directory for the SQLite files.
    #[arg(long, default_value = "/tmp")]
    dir: String,
    /// Only the API part.
    #[arg(long)]
    skip_raw: bool,
    /// Run the service in this process (its own Tokio runtime) instead of as a child process
    /// (the `dora-tracker` binary next to this one, whose RSS is sampled).
    #[arg(long)]
    in_process: bool,
    /// The service binary run as a child process (default: `dora-tracker` next to this one).
    #[arg(long)]
    server: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let _ = api::init_tracing("warn");
    if args.lines == 0 || args.repositories == 0 || args.members == 0 {
        bail!("--lines, --repositories and --members must be positive");
    }
    let run_id = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    println!(
        "import benchmark: {:?}, {} lines, {} commits each, {} repositories, {} members",
        args.database, args.lines, args.commits, args.repositories, args.members
    );
    println!(
        "machine: {} cores; {}; load average before: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        load_average()
    );
    let history = History::new(&args);
    let result = (|| -> Result<()> {
        let api_url = client.block_on(fresh(&args, &run_id, "api"))?;
        let (api, rss) = run_api(&args, &history, &api_url, &client)?;
        let rate = args.lines as f64 / api.as_secs_f64();
        let rss = match rss {
            Some(rss) => format!(
                "server (child process) peak RSS {} MiB (VmHWM; highest VmRSS sampled {} MiB)",
                rss.hwm_kib / 1024,
                rss.max_rss_kib / 1024
            ),
            None => format!(
                "peak RSS of the process (service and client) {} MiB",
                peak_rss_kib() / 1024
            ),
        };
        println!(
            "\nAPI: {} lines in {:.2} s = {:.0} deployments/s; {rss}",
            args.lines,
            api.as_secs_f64(),
            rate,
        );
        if !args.skip_raw {
            let raw_url = client.block_on(fresh(&args, &run_id, "raw"))?;
            let raw = client.block_on(run_raw(&history, &raw_url))?;
            let raw_rate = args.lines as f64 / raw.as_secs_f64();
            println!(
                "raw floor: {} deployments in {:.2} s = {:.0} deployments/s",
                args.lines,
                raw.as_secs_f64(),
                raw_rate
            );
            println!("API / raw = {:.2}", rate / raw_rate);
        }
        println!("load average after: {}", load_average());
        Ok(())
    })();
    client.block_on(cleanup(&args, &run_id));
    result
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// `VmHWM` of this process, in KiB.
fn peak_rss_kib() -> u64 {
    status_kib("self", "VmHWM:").unwrap_or(0)
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib(pid: &str, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
}

/// The memory of the service run as a child process.
#[derive(Debug, Clone, Copy, Default)]
struct ChildRss {
    /// `VmHWM` just before it was stopped.
    hwm_kib: u64,
    /// The highest `VmRSS` sampled (every 100 ms) during the run.
    max_rss_kib: u64,
}

/// The service as a child process: the `dora-tracker` binary, configured by environment.
struct Child {
    process: std::process::Child,
    address: String,
    sampling: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: Option<std::thread::JoinHandle<u64>>,
}

impl Child {
    fn start(binary: &std::path::Path, database_url: &str) -> Result<Self> {
        use std::io::BufRead;
        let mut process = std::process::Command::new(binary)
            .env("DATABASE_URL", database_url)
            .env("DORA_LISTEN", "127.0.0.1:0")
            .env("DORA_JWT_SECRET", SECRET)
            .env("DORA_METRICS_TOKEN", "import-benchmark-metrics")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = process.stderr.take().context("no stderr")?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Reads its log to the end (a full pipe would stall it), handing over the address.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let address = rest.split_whitespace().next().unwrap_or("").to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(address);
                    }
                } else if !line.contains("DORA_") {
                    eprintln!("service: {line}");
                }
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(300))
            .context("the service did not say where it listens")?;
        let pid = process.id().to_string();
        let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = sampling.clone();
        let sampler = std::thread::spawn(move || {
            let mut max = 0;
            while flag.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(status_kib(&pid, "VmRSS:").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(100));
            }
            max
        });
        Ok(Self {
            process,
            address,
            sampling,
            sampler: Some(sampler),
        })
    }

    /// Stops it (SIGTERM, then SIGKILL after 30 s) and answers its memory.
    fn stop(mut self) -> ChildRss {
        let pid = self.process.id().to_string();
        self.sampling
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let max_rss_kib = self.sampler.take().and_then(|s| s.join().ok()).unwrap_or(0);
        let hwm_kib = status_kib(&pid, "VmHWM:").unwrap_or(0);
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                return ChildRss {
                    hwm_kib,
                    max_rss_kib,
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
        ChildRss {
            hwm_kib,
            max_rss_kib,
        }
    }
}

/// The service binary to run as a child: `--server`, else `dora-tracker` next to this binary.
fn server_binary(args: &Args) -> Option<std::path::PathBuf> {
    if args.in_process {
        return None;
    }
    if let Some(path) = &args.server {
        return Some(path.clone());
    }
    let path = std::env::current_exe().ok()?.with_file_name("dora-tracker");
    if path.exists() {
        Some(path)
    } else {
        println!(
            "(no {}: the service runs in this process; build it with \
             `cargo build --release -p api --bin dora-tracker` to measure its RSS alone)",
            path.display()
        );
        None
    }
}

fn server(args: &Args) -> String {
    args.postgres_url
        .split('?')
        .next()
        .unwrap_or(&args.postgres_url)
        .trim_end_matches('/')
        .to_owned()
}

/// A fresh, empty database; its URL.
async fn fresh(args: &Args, run_id: &str, name: &str) -> Result<String> {
    match args.database {
        Backend::Sqlite => {
            let path = format!("{}/dora-bench-import-{run_id}-{name}.db", args.dir);
            Ok(format!("sqlite://{path}?mode=rwc"))
        }
        Backend::Postgres => {
            let admin = connect(&format!("{}/postgres", server(args))).await?;
            let db = format!("dora_bench_import_{name}_{run_id}");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{db}\""))
                .await?;
            admin.close().await?;
            Ok(format!("{}/{db}", server(args)))
        }
    }
}

async fn cleanup(args: &Args, run_id: &str) {
    for name in ["api", "raw"] {
        match args.database {
            Backend::Sqlite => {
                for suffix in ["", "-wal", "-shm", ".jwt-secret", ".secret-key"] {
                    let _ = std::fs::remove_file(format!(
                        "{}/dora-bench-import-{run_id}-{name}.db{suffix}",
                        args.dir
                    ));
                }
            }
            Backend::Postgres => {
                if let Ok(admin) = connect(&format!("{}/postgres", server(args))).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"dora_bench_import_{name}_{run_id}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            }
        }
    }
}

async fn connect(url: &str) -> Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    Ok(Database::connect(options).await?)
}

/// The history both parts write.
struct History {
    lines: u64,
    commits: u64,
    repositories: u64,
    members: u64,
    start: DateTime<Utc>,
}

impl History {
    fn new(args: &Args) -> Self {
        let span = TimeDelta::seconds(STEP_SECONDS * args.lines as i64);
        let start = Utc::now() - span - TimeDelta::days(1);
        Self {
            lines: args.lines,
            commits: args.commits,
            repositories: args.repositories,
            members: args.members,
            start: DateTime::from_timestamp(start.timestamp(), 0).unwrap_or(start),
        }
    }

    fn sha(seq: u64, k: u64) -> String {
        let a = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        let b = a.rotate_left(29).wrapping_mul(0x1656_67B1_9E37_79F9);
        format!("{a:016x}{b:016x}{:08x}", (a ^ b) as u32)
    }

    fn at(&self, seq: u64) -> DateTime<Utc> {
        self.start + TimeDelta::seconds(STEP_SECONDS * seq as i64)
    }

    fn committed_at(&self, seq: u64, k: u64) -> DateTime<Utc> {
        self.at(seq) - TimeDelta::minutes(30 + 17 * k as i64)
    }

    fn repository(&self, seq: u64) -> u64 {
        (seq * 7) % self.repositories
    }

    fn member(&self, seq: u64) -> u64 {
        (seq * 13) % self.members
    }

    fn failed(seq: u64) -> bool {
        seq.is_multiple_of(12)
    }

    /// The NDJSON line of deployment `seq`.
    fn line(&self, seq: u64) -> String {
        let r = self.repository(seq);
        let pr = 1000 + seq;
        let commits: Vec<serde_json::Value> = (0..self.commits)
            .map(|k| {
                json!({"sha": Self::sha(seq, k + 1), "committed_at": self.committed_at(seq, k).to_rfc3339()})
            })
            .collect();
        json!({
            "title": format!("Deploy #{pr}: service-{r} to production"),
            "url": format!("https://github.com/acme/service-{r}/actions/runs/{}", 7_000_000 + seq),
            "branch": "main",
            "commit_id": Self::sha(seq, 0),
            "is_fix": seq.is_multiple_of(10),
            "commits_count": self.commits,
            "member_id": format!("member-{}", self.member(seq)),
            "pull_request_number": pr,
            "repository_url": format!("https://github.com/acme/service-{r}"),
            "status": if Self::failed(seq) { "failure" } else { "success" },
            "environment": "production",
            "finished_at": self.at(seq).to_rfc3339(),
            "commits": commits,
            "external_id": format!("run-{seq}"),
        })
        .to_string()
    }
}

fn run_api(
    args: &Args,
    history: &History,
    database_url: &str,
    client: &tokio::runtime::Runtime,
) -> Result<(Duration, Option<ChildRss>)> {
    let mut serve = ServeArgs::from_env();
    let keys = JwtKeys::new(
        &Secret::new(SECRET),
        &serve.jwt.jwt_issuer,
        &serve.jwt.jwt_audience,
    )
    .map_err(anyhow::Error::msg)?;
    let token = keys
        .issue(
            ORG,
            &[Scope::Ingest],
            "import-benchmark",
            Duration::from_secs(24 * 3600),
        )
        .map_err(anyhow::Error::msg)?;
    let (elapsed, rss) = match server_binary(args) {
        Some(binary) => {
            println!("\n== service: {} (child process)", binary.display());
            let child = Child::start(&binary, database_url)?;
            let url = format!("http://{}/api/v1/deployments/import", child.address);
            println!("== API: POST {url}");
            let result = client.block_on(post(history, &url, &token));
            let rss = child.stop();
            (result?, Some(rss))
        }
        None => {
            serve.db.database_url = Secret::new(database_url.to_owned());
            serve.listen = "127.0.0.1:0".to_owned();
            serve.jwt.jwt_secret = Some(Secret::new(SECRET));
            (in_process(serve, history, &token, client)?, None)
        }
    };
    check_stored(history, database_url, client)?;
    Ok((elapsed, rss))
}

/// The service in this process, on its own Tokio runtime.
fn in_process(
    serve: ServeArgs,
    history: &History,
    token: &str,
    client: &tokio::runtime::Runtime,
) -> Result<Duration> {
    let service = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("service")
        .build()?;
    let app = service.block_on(Application::build(Settings::from_serve_args(
        serve.clone(),
    )?))?;
    let address = app
        .local_addr()
        .context("the service has no local address")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = service.spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let url = format!("http://{address}/api/v1/deployments/import");
    println!("\n== API: POST {url} (service in this process)");
    let result = client.block_on(post(history, &url, token));
    let _ = stop.send(());
    let _ = service.block_on(server);
    drop(service);
    result
}

/// Fails unless the stored deployments, commits and outcomes are the history's.
fn check_stored(
    history: &History,
    database_url: &str,
    client: &tokio::runtime::Runtime,
) -> Result<()> {
    client.block_on(async {
        let db = connect(database_url).await?;
        let count = |sql: &str| {
            let db = &db;
            let sql = sql.to_owned();
            async move {
                let row = db
                    .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                    .await?
                    .context("no row")?;
                Ok::<i64, anyhow::Error>(row.try_get("", "n")?)
            }
        };
        let deployments = count("SELECT COUNT(*) AS n FROM deployments").await?;
        let commits = count("SELECT COUNT(*) AS n FROM deployment_commits").await?;
        let outcomes = count("SELECT COUNT(*) AS n FROM deployment_outcomes").await?;
        let lead = count(
            "SELECT COUNT(*) AS n FROM deployment_outcomes WHERE lead_shas IS NOT NULL",
        )
        .await?;
        db.close().await?;
        println!(
            "stored: {deployments} deployments, {commits} commits, {outcomes} outcomes ({lead} with lead-time samples)"
        );
        let lines = history.lines as i64;
        if deployments != lines || commits != lines * history.commits as i64 || outcomes != lines {
            bail!("stored counts differ from the {lines} lines");
        }
        Ok(())
    })
}

/// Streams the body and reads the streamed results; the time until the summary arrived.
async fn post(history: &History, url: &str, token: &str) -> Result<Duration> {
    let total = history.lines;
    let history_lines = HistoryLines {
        next: 0,
        total,
        commits: history.commits,
        repositories: history.repositories,
        members: history.members,
        start: history.start,
    };
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(history_lines, |mut h| {
        std::future::ready(h.chunk().map(|c| (Ok::<_, std::io::Error>(c), h)))
    }));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(24 * 3600))
        .build()?;
    let started = Instant::now();
    let mut resp = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await?;
    if resp.status() != 200 {
        bail!("import answered {}: {}", resp.status(), resp.text().await?);
    }
    let mut carry: Vec<u8> = Vec::new();
    let mut created = 0u64;
    let mut last = String::new();
    while let Some(chunk) = resp.chunk().await? {
        carry.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = carry[start..].iter().position(|b| *b == b'\n') {
            let line = &carry[start..start + end];
            if line.windows(17).any(|w| w == b"\"result\":\"created") {
                created += 1;
            } else {
                last = String::from_utf8_lossy(line).into_owned();
            }
            start += end + 1;
        }
        carry.drain(..start);
    }
    let elapsed = started.elapsed();
    if created != total {
        bail!("{created} of {total} lines created; last other line: {last}");
    }
    println!("summary: {last}");
    Ok(elapsed)
}

/// The history's lines, owned by the body stream.
struct HistoryLines {
    next: u64,
    total: u64,
    commits: u64,
    repositories: u64,
    members: u64,
    start: DateTime<Utc>,
}

impl HistoryLines {
    fn chunk(&mut self) -> Option<Vec<u8>> {
        if self.next >= self.total {
            return None;
        }
        let history = History {
            lines: self.total,
            commits: self.commits,
            repositories: self.repositories,
            members: self.members,
            start: self.start,
        };
        let to = (self.next + CHUNK_LINES).min(self.total);
        let mut chunk = String::with_capacity(1200 * CHUNK_LINES as usize);
        for seq in self.next..to {
            chunk.push_str(&history.line(seq));
            chunk.push('\n');
        }
        self.next = to;
        Some(chunk.into_bytes())
    }
}

/// Multi-row INSERTs of one table.
struct Rows {
    backend: DbBackend,
    head: String,
    sql: String,
    values: Vec<Value>,
}

impl Rows {
    fn new(backend: DbBackend, table: &str, columns: &[&str]) -> Self {
        Self {
            backend,
            head: format!("INSERT INTO {table} ({}) VALUES ", columns.join(", ")),
            sql: String::new(),
            values: Vec::new(),
        }
    }

    fn row(&mut self, row: Vec<Value>) {
        self.sql.push_str(if self.values.is_empty() {
            &self.head
        } else {
            ", "
        });
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
    }

    /// Executes what is pending when it holds `at_least` values (0: whatever is pending).
    async fn flush<C: ConnectionTrait>(&mut self, conn: &C, at_least: usize) -> Result<()> {
        if self.values.is_empty() || self.values.len() < at_least {
            return Ok(());
        }
        let statement = Statement::from_sql_and_values(
            self.backend,
            std::mem::take(&mut self.sql),
            std::mem::take(&mut self.values),
        );
        conn.execute_raw(statement).await?;
        Ok(())
    }
}

/// The same rows, straight into a fresh database: the floor.
async fn run_raw(history: &History, url: &str) -> Result<Duration> {
    let db = connect(url).await?;
    Migrator::up(&db, None).await?;
    let backend = db.get_database_backend();
    if backend == DbBackend::Sqlite {
        for pragma in [
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA cache_size=-32768",
        ] {
            db.execute_unprepared(pragma).await?;
        }
    }
    println!("\n== raw floor ({backend:?})");
    let now = Utc::now();
    let organization = Uuid::now_v7();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        if backend == DbBackend::Postgres {
            "INSERT INTO organizations (id, slug, created_at) VALUES ($1, $2, $3)"
        } else {
            "INSERT INTO organizations (id, slug, created_at) VALUES (?, ?, ?)"
        },
        [organization.into(), ORG.into(), now.into()],
    ))
    .await?;
    let repositories: Vec<Uuid> = (0..history.repositories).map(|_| Uuid::now_v7()).collect();
    let mut rows = Rows::new(
        backend,
        "repositories",
        &["id", "organization_id", "url", "key", "name", "created_at"],
    );
    for (r, id) in repositories.iter().enumerate() {
        rows.row(vec![
            (*id).into(),
            organization.into(),
            format!("https://github.com/acme/service-{r}").into(),
            format!("github.com/acme/service-{r}").into(),
            format!("acme/service-{r}").into(),
            now.into(),
        ]);
    }
    rows.flush(&db, 0).await?;
    let members: Vec<Uuid> = (0..history.members).map(|_| Uuid::now_v7()).collect();
    let mut rows = Rows::new(
        backend,
        "members",
        &["id", "organization_id", "external_id", "created_at"],
    );
    for (m, id) in members.iter().enumerate() {
        rows.row(vec![
            (*id).into(),
            organization.into(),
            format!("member-{m}").into(),
            now.into(),
        ]);
    }
    rows.flush(&db, 0).await?;

    const COLUMNS: [&str; 24] = [
        "id",
        "number",
        "organization_id",
        "repository_id",
        "pusher_id",
        "environment",
        "is_production",
        "title",
        "url",
        "branch",
        "commit_id",
        "pull_request_number",
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
        "external_id",
    ];
    let started = Instant::now();
    let mut deployments = Rows::new(backend, "deployments", &COLUMNS);
    let mut commits = Rows::new(
        backend,
        "deployment_commits",
        &["deployment_id", "sha", "committed_at", "shared"],
    );
    let mut seq = 0;
    while seq < history.lines {
        let to = (seq + 1000).min(history.lines);
        let txn = db.begin().await?;
        for s in seq..to {
            let id = Uuid::now_v7();
            let r = history.repository(s);
            let at = history.at(s);
            deployments.row(vec![
                id.into(),
                (s as i64 + 1).into(),
                organization.into(),
                repositories[r as usize].into(),
                members[history.member(s) as usize].into(),
                "production".into(),
                true.into(),
                format!("Deploy #{}: service-{r} to production", 1000 + s).into(),
                format!(
                    "https://github.com/acme/service-{r}/actions/runs/{}",
                    7_000_000 + s
                )
                .into(),
                "main".into(),
                History::sha(s, 0).into(),
                (1000 + s as i64).into(),
                (history.commits as i32).into(),
                s.is_multiple_of(10).into(),
                false.into(),
                false.into(),
                false.into(),
                if History::failed(s) {
                    "failure"
                } else {
                    "success"
                }
                .into(),
                "api".into(),
                Some(at).into(),
                at.into(),
                now.into(),
                now.into(),
                Some(format!("run-{s}")).into(),
            ]);
            deployments.flush(&txn, 30_000 - COLUMNS.len()).await?;
            for k in 0..history.commits {
                commits.row(vec![
                    id.into(),
                    History::sha(s, k + 1).into(),
                    history.committed_at(s, k).into(),
                    false.into(),
                ]);
            }
        }
        deployments.flush(&txn, 0).await?;
        commits.flush(&txn, 0).await?;
        txn.commit().await?;
        seq = to;
    }
    let elapsed = started.elapsed();
    db.close().await?;
    Ok(elapsed)
}
