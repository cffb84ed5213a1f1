//! dora-tracker: records deployments and serves DORA metrics. See ARCHITECTURE.md for the
//! layers: `http → core → {domain, store, auth} → entity`, with `settings` read once at the
//! top and `dora_metrics` (the pure DORA engine) below everything.

pub mod auth;
pub mod client;
pub mod core;
pub mod domain;
pub mod http;
pub mod settings;
pub mod store;

use std::{future::Future, net::SocketAddr, time::Duration};

use tokio::net::TcpListener;

use crate::{
    auth::JwtKeys,
    core::{Core, snapshot::DoraSnapshot},
    http::{server::ServerSettings, state::AppState, telemetry::ServiceMetrics},
    settings::{ConfigError, Settings, names},
    store::Db,
};

pub use http::openapi_service;

/// A configured, bound, migrated service, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    server: ServerSettings,
    metrics_windows: Vec<i64>,
    metrics_refresh: Duration,
    rollup_interval: Option<Duration>,
    /// The outbound webhooks' delivery worker's client.
    outbound: std::sync::Arc<core::outbound_delivery::Sender>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Connect(#[from] store::db::ConnectError),
    #[error("migrations failed: {0}")]
    Migrate(sea_orm::DbErr),
    #[error("{0}")]
    Credentials(String),
    #[error("outbound webhooks: cannot build the HTTP client: {0}")]
    Outbound(String),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{setting}: cannot listen on {addr}: {source}")]
    Bind {
        setting: names::Name,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl Application {
    /// Binds the port (a port in use is reported before anything is written), then loads or
    /// makes the signing secret, connects and migrates.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let addr = settings.listen.1;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind {
                setting: names::LISTEN,
                addr,
                source,
            })?;
        let jwt = jwt_keys(&settings.jwt)?;
        let secret_key = secret_key(&settings.secrets)?;
        let db = Db::connect(&settings.database).await?;
        db.migrate().await.map_err(StartError::Migrate)?;
        let credentials = core::tokens::Credentials::new(jwt.clone(), settings.credentials)
            .map_err(StartError::Credentials)?;
        if settings.metrics.token.is_none() {
            tracing::warn!(
                "{} is unset: /metrics shows every organization's DORA values to anyone who \
                 can reach it",
                names::METRICS_TOKEN
            );
        }
        let state = AppState {
            core: Core::new(
                db,
                settings.idempotency_ttl,
                &settings.hooks,
                secret_key,
                credentials,
                &settings.api_limits,
            )
            .with_outbound(settings.outbound.clone())
            .with_group_commit(settings.group_commit, settings.database.max_connections),
            jwt,
            http: settings.http,
            metrics_token: settings.metrics.token,
            service_metrics: ServiceMetrics::new(&openapi_service().spec())?,
            snapshot: DoraSnapshot::default(),
        };
        let outbound = core::outbound_delivery::Sender::new(settings.outbound)
            .map_err(StartError::Outbound)?;
        Ok(Self {
            outbound: std::sync::Arc::new(outbound),
            listener,
            state,
            server: settings.server,
            metrics_windows: settings.metrics.windows,
            metrics_refresh: settings.metrics.refresh,
            rollup_interval: settings.metrics.rollup_interval,
        })
    }

    /// The bound address (port 0 in settings gives a free one).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The bound port.
    pub fn port(&self) -> Option<u16> {
        self.local_addr().map(|a| a.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (within the
    /// shutdown grace, `DORA_SHUTDOWN_GRACE_SECONDS`) and closes the database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let core = self.state.core.clone();
        let purge = tokio::spawn(purge_idempotency_keys(core.clone()));
        let refresh = tokio::spawn(core::snapshot::refresh_forever(
            core.clone(),
            self.state.snapshot.clone(),
            self.metrics_windows,
            self.metrics_refresh,
        ));
        let deliveries = tokio::spawn(core::outbound_delivery::run_forever(
            core.clone(),
            self.outbound.clone(),
        ));
        let compactor = self
            .rollup_interval
            .map(|interval| tokio::spawn(core::rollups::compact_forever(core.clone(), interval)));
        let app = http::app(self.state);
        http::server::serve(self.listener, app, self.server, shutdown).await;
        purge.abort();
        refresh.abort();
        if let Some(compactor) = compactor {
            compactor.abort();
            // Dropped mid-round, its transaction rolls back: the days stay dirty.
            let _ = compactor.await;
        }
        deliveries.abort();
        let _ = deliveries.await;
        // What was in flight is sent again by the next instance to look.
        core::outbound_delivery::release(&core, &self.outbound).await;
        core.db.close().await;
        Ok(())
    }
}

/// The signing keys: the configured secret, else the one kept in the secret file (made on
/// first start).
pub fn jwt_keys(settings: &settings::JwtSettings) -> Result<JwtKeys, ConfigError> {
    let secret = match &settings.secret {
        Some(secret) => secret.clone(),
        None => auth::load_or_create_secret(&settings.secret_file)
            .map_err(|e| ConfigError::new(names::JWT_SECRET, e))?,
    };
    JwtKeys::new(&secret, &settings.issuer, &settings.audience)
        .map_err(|e| ConfigError::new(names::JWT_SECRET, e))
}

/// The signing keys of a command other than `serve` (`token issue`): the configured secret,
/// else the one the service keeps in the secret file, which must exist (it is never made
/// here: a new secret would sign tokens the service refuses).
pub fn existing_jwt_keys(
    settings: &settings::JwtSettings,
    command: &str,
) -> Result<JwtKeys, ConfigError> {
    let secret = match &settings.secret {
        Some(secret) => secret.clone(),
        None => auth::load_secret(&settings.secret_file)
            .map_err(|e| ConfigError::new(names::JWT_SECRET, e))?
            .ok_or_else(|| {
                let path = std::path::absolute(&settings.secret_file)
                    .unwrap_or_else(|_| settings.secret_file.clone());
                ConfigError::new(
                    names::JWT_SECRET,
                    format!(
                        "unset, and there is no kept secret at {} (the service writes it on \
                         its first start, next to its SQLite database; with PostgreSQL in \
                         its working directory). `{command}` never makes one (its tokens \
                         would not verify): run it from the directory the service runs in, \
                         or set {} to the service's secret",
                        path.display(),
                        names::JWT_SECRET,
                    ),
                )
            })?,
    };
    JwtKeys::new(&secret, &settings.issuer, &settings.audience)
        .map_err(|e| ConfigError::new(names::JWT_SECRET, e))
}

/// The key that seals stored secrets: the configured one, else the one kept in the key file
/// (made on first start).
pub fn secret_key(
    settings: &settings::SecretSettings,
) -> Result<core::secrets::SecretKey, ConfigError> {
    match &settings.key {
        Some(key) => Ok(key.clone()),
        None => core::secrets::load_or_create_key(&settings.key_file)
            .map_err(|e| ConfigError::new(names::SECRET_KEY, e)),
    }
}

/// Installs the global log subscriber; `filter` uses `RUST_LOG` syntax.
pub fn init_tracing(filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("{}: {e}", names::LOG))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| e.to_string())
}

/// Forgets expired idempotency keys once an hour.
async fn purge_idempotency_keys(core: Core) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let before = chrono::Utc::now() - core.idempotency_ttl;
        match store::idempotency::purge_expired(&core.db, before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired idempotency keys removed"),
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
        }
        match core::integrations::purge_delivery_ids(&core).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "old webhook delivery ids forgotten"),
            Err(e) => tracing::warn!(error = %e, "could not purge webhook delivery ids"),
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
