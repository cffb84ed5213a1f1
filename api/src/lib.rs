//! dora-tracker's HTTP service: records deployments and serves DORA metrics.

pub mod auth;
pub mod body;
pub mod compat;
pub mod config;
pub mod domain;
pub mod error;
pub mod ingest;
pub mod routes;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod telemetry;

use std::{future::Future, net::SocketAddr, time::Duration};

use poem::{
    Endpoint, EndpointExt, Route, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use poem_openapi::OpenApiService;

use crate::{
    auth::JwtKeys,
    body::BodyLimit,
    compat::{
        github::GithubApi,
        hooks::{HookRuntime, HooksApi},
        iftrue::IftrueApi,
    },
    config::{ConfigError, ServeArgs, parse_listen},
    routes::{
        admin::AdminApi, deploy_hooks::DeployHooksApi, deployments::DeploymentsApi,
        health::HealthApi, incidents::IncidentsApi, metrics::MetricsApi, prometheus::MetricsToken,
        statuses::StatusesApi,
    },
    snapshot::DoraSnapshot,
    state::AppState,
    store::Db,
    telemetry::ServiceMetrics,
};

pub type Apis = (
    HealthApi,
    DeploymentsApi,
    StatusesApi,
    IncidentsApi,
    MetricsApi,
    IftrueApi,
    GithubApi,
    AdminApi,
    DeployHooksApi,
    HooksApi,
);

/// The OpenAPI service: the source of `openapi.yaml`.
pub fn openapi_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            HealthApi,
            DeploymentsApi,
            StatusesApi,
            IncidentsApi,
            MetricsApi,
            IftrueApi,
            GithubApi,
            AdminApi,
            DeployHooksApi,
            HooksApi,
        ),
        "dora-tracker",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Records deployment events and computes the DORA metrics. Authenticate with \
         `Authorization: Bearer <JWT>` (mint one with `dora-tracker token issue`). Errors are \
         `application/problem+json`.",
    )
}

/// The whole HTTP application.
pub fn app(state: AppState, settings: AppSettings) -> impl Endpoint {
    let api = openapi_service();
    let ui = api.swagger_ui();
    let spec_json = api.spec_endpoint();
    let spec_yaml = api.spec_endpoint_yaml();
    Route::new()
        .nest("/docs", ui)
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .at("/metrics", routes::prometheus::scrape)
        .nest("/", api)
        .around(body::reject_large_bodies)
        .around(error::render_errors)
        .around(compat::github::github_errors)
        .around(telemetry::access_log)
        // Outermost, so every layer above sees them.
        .data(BodyLimit(settings.max_body_bytes))
        .data(MetricsToken(settings.metrics_token))
        .data(settings.metrics)
        .data(settings.snapshot)
        .data(state)
}

/// Settings of the HTTP layer.
#[derive(Clone)]
pub struct AppSettings {
    pub max_body_bytes: usize,
    pub metrics_token: Option<String>,
    pub metrics: ServiceMetrics,
    pub snapshot: DoraSnapshot,
    /// Window lengths (days) of the DORA snapshot.
    pub snapshot_windows: Vec<i64>,
    pub snapshot_interval: Duration,
}

/// A configured, bound, migrated service, ready to run.
pub struct Application {
    acceptor: TcpAcceptor,
    state: AppState,
    settings: AppSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Connect(#[from] store::db::ConnectError),
    #[error("migrations failed: {0}")]
    Migrate(sea_orm::DbErr),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("DORA_LISTEN (--listen): cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl Application {
    pub async fn build(args: &ServeArgs) -> Result<Self, StartError> {
        let listen = parse_listen(&args.listen)?;
        if args.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "DORA_MAX_BODY_BYTES (--max-body-bytes)",
                "must be at least 1024",
            )
            .into());
        }
        if args.idempotency_ttl_hours == 0 {
            return Err(ConfigError::new(
                "DORA_IDEMPOTENCY_TTL_HOURS (--idempotency-ttl-hours)",
                "must be at least 1",
            )
            .into());
        }
        let hooks = HookRuntime::new(&args.hooks)?;
        let jwt = JwtKeys::from_args(&args.jwt, &args.db.database_url)?;
        let db = Db::connect(&args.db).await?;
        db.migrate().await.map_err(StartError::Migrate)?;
        let acceptor = TcpListener::bind(listen)
            .into_acceptor()
            .await
            .map_err(|source| StartError::Bind {
                addr: listen,
                source,
            })?;
        let state = AppState::new(
            db,
            jwt,
            chrono::Duration::hours(i64::from(args.idempotency_ttl_hours)),
        )
        .with_hook_runtime(hooks);
        if args.metrics_token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::new(
                "DORA_METRICS_TOKEN (--metrics-token)",
                "must be at least 16 characters",
            )
            .into());
        }
        let snapshot_windows = snapshot::parse_windows(&args.metrics_windows)
            .map_err(|e| ConfigError::new("DORA_METRICS_WINDOWS (--metrics-windows)", e))?;
        if args.metrics_refresh_seconds == 0 {
            return Err(ConfigError::new(
                "DORA_METRICS_REFRESH_SECONDS (--metrics-refresh-seconds)",
                "must be at least 1",
            )
            .into());
        }
        Ok(Self {
            acceptor,
            state,
            settings: AppSettings {
                snapshot: DoraSnapshot::default(),
                snapshot_windows,
                snapshot_interval: Duration::from_secs(args.metrics_refresh_seconds),
                max_body_bytes: args.max_body_bytes,
                metrics_token: args.metrics_token.clone(),
                metrics: ServiceMetrics::new(&openapi_service().spec())?,
            },
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (up to 30 s)
    /// and closes the database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let state = self.state.clone();
        let purge = tokio::spawn(purge_idempotency_keys(state.clone()));
        let refresh = tokio::spawn(snapshot::refresh_forever(
            state.db.clone(),
            self.settings.snapshot.clone(),
            self.settings.snapshot_windows.clone(),
            self.settings.snapshot_interval,
        ));
        let app = app(self.state, self.settings);
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(30)))
            .await;
        purge.abort();
        refresh.abort();
        state.db.close().await;
        result
    }
}

/// Forgets expired idempotency keys once an hour.
async fn purge_idempotency_keys(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let before = chrono::Utc::now() - state.idempotency_ttl;
        match store::idempotency::purge_expired(&state.db, before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired idempotency keys removed"),
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
