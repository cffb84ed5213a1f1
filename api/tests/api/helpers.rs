//! `spawn_app`: a fresh database and a running service per test.

use std::time::Duration;

use api::{
    Application,
    auth::{JwtKeys, Scope},
    domain::Secret,
    http::state::AppState,
    settings::{ServeArgs, Settings},
};
use entity::deployments;
use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const ISSUER: &str = "dora-tracker";
pub const AUDIENCE: &str = "dora-tracker";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub keys: JwtKeys,
    pub state: AppState,
    /// The database URL the service uses.
    pub database_url: String,
    _database: Option<TestDatabase>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A database that exists for one test.
pub enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside async; use a runtime of our own on a plain thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(db) = Database::connect(admin_url.as_str()).await {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                        let _ = db.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Whether the tests run against PostgreSQL (`DORA_TEST_DATABASE_URL` is set).
pub fn on_postgres() -> bool {
    std::env::var("DORA_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

/// A fresh database of the backend under test: its URL and the guard that drops it.
pub async fn test_database() -> (String, TestDatabase) {
    match std::env::var("DORA_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let base = base.trim_end_matches('/');
            // Strip a database name if one was given: we connect to `postgres` to create ours.
            let server = match base.rsplit_once('/') {
                Some((server, db))
                    if !server.ends_with('/') && !db.contains(':') && !db.contains('@') =>
                {
                    server.to_owned()
                }
                _ => base.to_owned(),
            };
            let admin_url = format!("{server}/postgres");
            let name = format!("dora_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(admin_url.as_str())
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is unreachable: {e}"));
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            admin.close().await.ok();
            (
                format!("{server}/{name}"),
                TestDatabase::Postgres { admin_url, name },
            )
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/dora.db?mode=rwc", dir.path().display());
            (url, TestDatabase::Sqlite(dir))
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let (database_url, database) = test_database().await;
    let mut app = spawn_app_at(&database_url, configure).await;
    app._database = Some(database);
    app
}

/// Another instance of the service on the database of `first` (as behind a load balancer);
/// `first` drops the database.
pub async fn spawn_instance(first: &TestApp, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    spawn_app_at(&first.database_url, configure).await
}

/// The settings `spawn_app_at` starts a service with: `database_url`, a free port, the test
/// signing key, then `configure`.
pub fn test_settings(database_url: &str, configure: impl FnOnce(&mut ServeArgs)) -> Settings {
    let mut args = ServeArgs::from_env();
    args.db.database_url = Secret::new(database_url);
    args.listen = "127.0.0.1:0".to_owned();
    args.jwt.jwt_secret = Some(Secret::new(SECRET));
    args.jwt.jwt_issuer = ISSUER.to_owned();
    args.jwt.jwt_audience = AUDIENCE.to_owned();
    configure(&mut args);
    Settings::from_serve_args(args).expect("valid settings")
}

/// A running service on an existing database (which the caller owns).
pub async fn spawn_app_at(database_url: &str, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let settings = test_settings(database_url, configure);
    let app = Application::build(settings)
        .await
        .expect("application starts");
    run_app(app, database_url)
}

/// Runs a built application in the background.
pub fn run_app(app: Application, database_url: &str) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = api::init_tracing("info");
    }
    let address = format!("http://{}", app.local_addr().expect("bound address"));
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        keys: JwtKeys::new(&Secret::new(SECRET), ISSUER, AUDIENCE).unwrap(),
        state,
        database_url: database_url.to_owned(),
        _database: None,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// Starts the graceful shutdown and waits until the service has stopped; returns how
    /// long that took.
    pub async fn shut_down(&mut self) -> Duration {
        let started = std::time::Instant::now();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
        started.elapsed()
    }

    /// The `host:port` the service listens on.
    pub fn socket_addr(&self) -> String {
        self.address.trim_start_matches("http://").to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn token(&self, org: &str, scopes: &[Scope]) -> String {
        self.keys
            .issue(org, scopes, "test", Duration::from_secs(3600))
            .unwrap()
    }

    /// A token with `ingest` and `read` for `org`.
    pub fn rw_token(&self, org: &str) -> String {
        self.token(org, &[Scope::Ingest, Scope::Read])
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Posts a deployment and returns the created record.
    pub async fn create_deployment(&self, token: &str, body: &Value) -> Value {
        let resp = self.post_json("/api/v1/deployments", token, body).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 201, "create failed: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Rows in the deployments table, all organizations.
    pub async fn deployment_rows(&self) -> u64 {
        deployments::Entity::find()
            .count(self.state.core.db.read())
            .await
            .unwrap()
    }
}

/// Rows in the deployments table of `database_url`, through a connection of its own (for
/// after a service has stopped and closed its pool).
pub async fn count_deployments(database_url: &str) -> u64 {
    let db = Database::connect(database_url).await.expect("connects");
    let n = deployments::Entity::find()
        .count(&db)
        .await
        .expect("counts");
    db.close().await.ok();
    n
}

/// iftrue's documented example body (a copy of shared/fixtures/iftrue-create-deployment.json).
pub fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/iftrue-create-deployment.json")).unwrap()
}

/// A minimal valid body with a unique commit.
pub fn deployment(repo: &str, n: u32) -> Value {
    json!({
        "title": format!("Deploy {n}"),
        "branch": "main",
        "commit_id": format!("{n:040x}"),
        "repository_url": repo,
        "member_id": "alice",
        "pull_request_number": n,
    })
}

pub async fn problem(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "expected problem+json, got {content_type}"
    );
    (status, resp.json().await.unwrap())
}

/// How many steps `Migrator::down` takes to undo migration `name` and every later one (so a
/// test of one migration's `down` keeps working when newer migrations are added).
pub fn migrations_since(name: &str) -> u32 {
    use migration::MigratorTrait;
    let all = migration::Migrator::migrations();
    let at = all
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no migration {name}"));
    u32::try_from(all.len() - at).unwrap()
}
