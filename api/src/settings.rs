//! Command line and settings. Every setting of `serve` is an environment variable and a flag,
//! named once in [`names`]. [`Settings::from_serve_args`] checks every value before anything
//! connects, migrates, writes a file or binds, and an error names the variable and the flag.
//! Secrets are held in [`Secret`], which never prints.

use std::{
    fmt,
    net::{SocketAddr, ToSocketAddrs},
    num::NonZeroU32,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{Args, Parser, Subcommand};
use url::Url;

pub use crate::domain::Secret;
use crate::{
    core::{
        group_commit::GroupCommitMode, hooks::HookLimitSettings, limits::ApiLimitSettings,
        outbound_delivery::OutboundSettings, secrets::SecretKey, tokens::CredentialSettings,
    },
    http::{HttpSettings, server::ServerSettings},
    store::db::{DbOptions, Synchronous},
};

/// The environment variable and flag of each setting: the only place their names are spelled.
pub mod names {
    /// A setting's environment variable and its flag (without the leading dashes).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Name {
        pub env: &'static str,
        pub flag: &'static str,
    }

    impl std::fmt::Display for Name {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{} (--{})", self.env, self.flag)
        }
    }

    macro_rules! names {
        ($($id:ident = $env:literal, $flag:literal;)*) => {
            $(pub const $id: Name = Name { env: $env, flag: $flag };)*
            /// Every setting, for documentation checks.
            pub const ALL: &[Name] = &[$($id),*];
        };
    }

    names! {
        DATABASE_URL = "DATABASE_URL", "database-url";
        DB_MAX_CONNECTIONS = "DORA_DB_MAX_CONNECTIONS", "db-max-connections";
        SQLITE_SYNCHRONOUS = "DORA_SQLITE_SYNCHRONOUS", "sqlite-synchronous";
        JWT_SECRET = "DORA_JWT_SECRET", "jwt-secret";
        JWT_ISSUER = "DORA_JWT_ISSUER", "jwt-issuer";
        JWT_AUDIENCE = "DORA_JWT_AUDIENCE", "jwt-audience";
        LISTEN = "DORA_LISTEN", "listen";
        LOG = "RUST_LOG", "log";
        PUBLIC_URL = "DORA_PUBLIC_URL", "public-url";
        TRUST_FORWARDED_HEADERS = "DORA_TRUST_FORWARDED_HEADERS", "trust-forwarded-headers";
        MAX_BODY_BYTES = "DORA_MAX_BODY_BYTES", "max-body-bytes";
        METRICS_TOKEN = "DORA_METRICS_TOKEN", "metrics-token";
        METRICS_REFRESH_SECONDS = "DORA_METRICS_REFRESH_SECONDS", "metrics-refresh-seconds";
        METRICS_WINDOWS = "DORA_METRICS_WINDOWS", "metrics-windows";
        ROLLUP_INTERVAL = "DORA_ROLLUP_INTERVAL_SECONDS", "rollup-interval-seconds";
        IDEMPOTENCY_TTL_HOURS = "DORA_IDEMPOTENCY_TTL_HOURS", "idempotency-ttl-hours";
        GROUP_COMMIT = "DORA_GROUP_COMMIT", "group-commit";
        HOOK_RATE_PER_MINUTE = "DORA_HOOK_RATE_PER_MINUTE", "hook-rate-per-minute";
        HOOK_BURST = "DORA_HOOK_BURST", "hook-burst";
        HOOK_ORG_RATE_PER_MINUTE = "DORA_HOOK_ORG_RATE_PER_MINUTE", "hook-org-rate-per-minute";
        HOOK_ORG_BURST = "DORA_HOOK_ORG_BURST", "hook-org-burst";
        HOOK_DEDUPE_SECONDS = "DORA_HOOK_DEDUPE_SECONDS", "hook-dedupe-seconds";
        SECRET_KEY = "DORA_SECRET_KEY", "secret-key";
        TOKEN_CACHE_SECONDS = "DORA_TOKEN_CACHE_SECONDS", "token-cache-seconds";
        OIDC_ALLOW_HTTP_LOOPBACK = "DORA_OIDC_ALLOW_HTTP_LOOPBACK", "oidc-allow-http-loopback";
        // The server's protections and the API rate limits (`ServerArgs`).
        HEADER_READ_TIMEOUT = "DORA_HEADER_READ_TIMEOUT_SECONDS", "header-read-timeout-seconds";
        BODY_READ_TIMEOUT = "DORA_BODY_READ_TIMEOUT_SECONDS", "body-read-timeout-seconds";
        KEEP_ALIVE_TIMEOUT = "DORA_KEEP_ALIVE_TIMEOUT_SECONDS", "keep-alive-timeout-seconds";
        MAX_CONNECTIONS = "DORA_MAX_CONNECTIONS", "max-connections";
        SHUTDOWN_GRACE = "DORA_SHUTDOWN_GRACE_SECONDS", "shutdown-grace-seconds";
        API_RATE_PER_MINUTE = "DORA_API_RATE_PER_MINUTE", "api-rate-per-minute";
        API_BURST = "DORA_API_BURST", "api-burst";
        // Outbound webhooks (`WebhookArgs`).
        WEBHOOK_TIMEOUT = "DORA_WEBHOOK_TIMEOUT_SECONDS", "webhook-timeout-seconds";
        WEBHOOK_RETRY_PERIOD = "DORA_WEBHOOK_RETRY_PERIOD", "webhook-retry-period";
        WEBHOOK_FIRST_RETRY = "DORA_WEBHOOK_FIRST_RETRY_SECONDS", "webhook-first-retry-seconds";
        WEBHOOK_ALLOW_PRIVATE_TARGETS = "DORA_WEBHOOK_ALLOW_PRIVATE_TARGETS", "webhook-allow-private-targets";
    }
}

use names::Name;

#[derive(Debug, Parser)]
#[command(
    name = "dora-tracker",
    version,
    about = "Records deployments and serves DORA metrics"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default when no command is given).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Mint, list and revoke tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Record a deployment from a CI job's git checkout (a client of a running service).
    Record(Box<crate::client::RecordArgs>),
    /// Write everything of an organization (without secrets) as NDJSON on stdout.
    Export(ExportArgs),
    /// Read an export into a database (migrating it first), e.g. from SQLite into PostgreSQL.
    Import(Box<ImportArgs>),
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Organization slug (may be left out when the database has only one).
    #[arg(long)]
    pub org: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The export to read (`-`: standard input).
    pub file: std::path::PathBuf,
    /// The database to import into, instead of DATABASE_URL (`postgres://…`).
    #[arg(long, hide_env_values = true)]
    pub to: Option<Secret>,
    /// Delete the organization's data (not its tokens) in the target before importing; without
    /// it, an organization that already has data is refused.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token record and print its signed token (and only the token) on stdout.
    Issue(Box<TokenIssueArgs>),
    /// List an organization's tokens (never the tokens themselves).
    List(TokenListArgs),
    /// Revoke a token by its id: it is refused from then on (by running services within
    /// DORA_TOKEN_CACHE_SECONDS).
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(
        long = names::DATABASE_URL.flag,
        env = names::DATABASE_URL.env,
        default_value = "sqlite://dora-tracker.db?mode=rwc",
        hide_env_values = true
    )]
    pub database_url: Secret,
    /// Largest number of pooled database connections.
    #[arg(long = names::DB_MAX_CONNECTIONS.flag, env = names::DB_MAX_CONNECTIONS.env, default_value_t = 10)]
    pub db_max_connections: u32,
    /// SQLite `synchronous` pragma: full (default, nothing acknowledged is lost on power
    /// failure) or normal (faster; a power cut may lose the last commits).
    #[arg(long = names::SQLITE_SYNCHRONOUS.flag, env = names::SQLITE_SYNCHRONOUS.env, default_value = "full")]
    pub sqlite_synchronous: String,
}

#[derive(Debug, Clone, Args)]
pub struct JwtArgs {
    /// HS256 signing secret, at least 32 bytes. Unset: generated on first start and kept
    /// next to the SQLite database (`<db file>.jwt-secret`, mode 0600).
    #[arg(long = names::JWT_SECRET.flag, env = names::JWT_SECRET.env, hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    /// Required `iss` claim.
    #[arg(long = names::JWT_ISSUER.flag, env = names::JWT_ISSUER.env, default_value = "dora-tracker")]
    pub jwt_issuer: String,
    /// Required `aud` claim.
    #[arg(long = names::JWT_AUDIENCE.flag, env = names::JWT_AUDIENCE.env, default_value = "dora-tracker")]
    pub jwt_audience: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// Address to listen on: `host:port` (a name such as `localhost:8080`, or an IP address).
    #[arg(long = names::LISTEN.flag, env = names::LISTEN.env, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long = names::LOG.flag, env = names::LOG.env, default_value = "info")]
    pub rust_log: String,
    /// The externally visible base URL (e.g. `https://dora.example.com`), used in the URLs the
    /// service hands out (GitHub `url` fields, hook URLs). Unset: the request's `Host`.
    #[arg(long = names::PUBLIC_URL.flag, env = names::PUBLIC_URL.env)]
    pub public_url: Option<String>,
    /// Honour `X-Forwarded-Host` and `X-Forwarded-Proto` (only behind a proxy that sets them).
    #[arg(long = names::TRUST_FORWARDED_HEADERS.flag, env = names::TRUST_FORWARDED_HEADERS.env, default_value = "false")]
    pub trust_forwarded_headers: String,
    /// Largest accepted request body in bytes; larger ones answer 413.
    #[arg(long = names::MAX_BODY_BYTES.flag, env = names::MAX_BODY_BYTES.env, default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Bearer token required to scrape `/metrics`; unset: `/metrics` is open.
    #[arg(long = names::METRICS_TOKEN.flag, env = names::METRICS_TOKEN.env, hide_env_values = true)]
    pub metrics_token: Option<Secret>,
    /// Seconds between recomputations of the DORA values served on `/metrics`.
    #[arg(long = names::METRICS_REFRESH_SECONDS.flag, env = names::METRICS_REFRESH_SECONDS.env, default_value_t = 30)]
    pub metrics_refresh_seconds: u64,
    /// Windows of the DORA values on `/metrics`: comma-separated days, e.g. `7d,30d,90d`.
    #[arg(long = names::METRICS_WINDOWS.flag, env = names::METRICS_WINDOWS.env, default_value = "30d")]
    pub metrics_windows: String,
    /// Seconds between rounds of the daily outcome rollups' compactor (0.05-3600); 0: this
    /// instance does not compact (metric reads stay exact, but read dirty days row by row).
    #[arg(long = names::ROLLUP_INTERVAL.flag, env = names::ROLLUP_INTERVAL.env, default_value_t = 1.0)]
    pub rollup_interval_seconds: f64,
    /// How long `Idempotency-Key`s are remembered, in hours.
    #[arg(long = names::IDEMPOTENCY_TTL_HOURS.flag, env = names::IDEMPOTENCY_TTL_HOURS.env, default_value_t = 24)]
    pub idempotency_ttl_hours: u32,
    /// Concurrent creates share one transaction (answered after the shared COMMIT): `auto`
    /// (on, for both databases), `on` or `off`.
    #[arg(long = names::GROUP_COMMIT.flag, env = names::GROUP_COMMIT.env, default_value = "auto")]
    pub group_commit: String,
    #[command(flatten)]
    pub hooks: HookArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

/// The key that seals stored secrets (integration webhook secrets).
#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// 32 bytes (64 hex digits or base64) that seal the integrations' webhook secrets in the
    /// database. Unset: generated on first start and kept next to the SQLite database
    /// (`<db file>.secret-key`, mode 0600).
    #[arg(long = names::SECRET_KEY.flag, env = names::SECRET_KEY.env, hide_env_values = true)]
    pub secret_key: Option<Secret>,
}

/// Outbound webhooks (subscriptions' deliveries).
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Seconds one delivery attempt may take, connecting included (1-60).
    #[arg(long = names::WEBHOOK_TIMEOUT.flag, env = names::WEBHOOK_TIMEOUT.env, default_value_t = 10)]
    pub webhook_timeout_seconds: u64,
    /// How long a delivery is retried before it is marked failed, e.g. 24h, 30m.
    #[arg(long = names::WEBHOOK_RETRY_PERIOD.flag, env = names::WEBHOOK_RETRY_PERIOD.env, default_value = "24h")]
    pub webhook_retry_period: String,
    /// Seconds before the first retry (doubling each time, at most an hour, with jitter).
    #[arg(long = names::WEBHOOK_FIRST_RETRY.flag, env = names::WEBHOOK_FIRST_RETRY.env, default_value_t = 10.0)]
    pub webhook_first_retry_seconds: f64,
    /// Allow plain http and loopback, private and link-local targets (tests, internal
    /// deployments). Off: https to public addresses only, checked again at connect time.
    #[arg(long = names::WEBHOOK_ALLOW_PRIVATE_TARGETS.flag, env = names::WEBHOOK_ALLOW_PRIVATE_TARGETS.env, default_value = "false")]
    pub webhook_allow_private_targets: String,
}

/// Token records and CI identity tokens.
#[derive(Debug, Clone, Args)]
pub struct CredentialArgs {
    /// Seconds a token's record (so its revocation) and an issuer's trust policies are cached
    /// per instance; other instances notice a revocation within this time. 0: no cache.
    #[arg(long = names::TOKEN_CACHE_SECONDS.flag, env = names::TOKEN_CACHE_SECONDS.env, default_value_t = 10)]
    pub token_cache_seconds: u64,
    /// For tests only: also accept trust policies whose issuer is `http://127.0.0.1:<port>`.
    #[arg(long = names::OIDC_ALLOW_HTTP_LOOPBACK.flag, env = names::OIDC_ALLOW_HTTP_LOOPBACK.env, default_value = "false")]
    pub oidc_allow_http_loopback: String,
}

/// The server's protections against slow clients, its shutdown grace, and the
/// per-organization rate limit of the authenticated API. Rate limits are kept in memory:
/// with N instances behind a load balancer, an organization may reach N times the limit.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Seconds a connection may take to send a request head (from the connection's start, or
    /// the first byte of a later request); then it is closed.
    #[arg(long = names::HEADER_READ_TIMEOUT.flag, env = names::HEADER_READ_TIMEOUT.env, default_value_t = 10)]
    pub header_read_timeout_seconds: u64,
    /// Seconds a request body may take to arrive once its head is in; then 408.
    #[arg(long = names::BODY_READ_TIMEOUT.flag, env = names::BODY_READ_TIMEOUT.env, default_value_t = 30)]
    pub body_read_timeout_seconds: u64,
    /// Seconds an idle kept-alive connection stays open waiting for its next request.
    #[arg(long = names::KEEP_ALIVE_TIMEOUT.flag, env = names::KEEP_ALIVE_TIMEOUT.env, default_value_t = 30)]
    pub keep_alive_timeout_seconds: u64,
    /// Most connections served at once; more wait in the accept queue.
    #[arg(long = names::MAX_CONNECTIONS.flag, env = names::MAX_CONNECTIONS.env, default_value_t = 512)]
    pub max_connections: usize,
    /// Seconds requests in flight get to finish after SIGTERM or Ctrl-C; then the process
    /// exits whatever is left.
    #[arg(long = names::SHUTDOWN_GRACE.flag, env = names::SHUTDOWN_GRACE.env, default_value_t = 10)]
    pub shutdown_grace_seconds: u64,
    /// Authenticated API requests per minute one organization may make (sustained).
    #[arg(long = names::API_RATE_PER_MINUTE.flag, env = names::API_RATE_PER_MINUTE.env, default_value_t = crate::core::limits::DEFAULT_PER_MINUTE)]
    pub api_rate_per_minute: u32,
    /// Authenticated API requests one organization may make at once.
    #[arg(long = names::API_BURST.flag, env = names::API_BURST.env, default_value_t = crate::core::limits::DEFAULT_BURST)]
    pub api_burst: u32,
}

/// Deploy-hook trigger limits. Rate limits are kept in memory, so with several instances
/// behind a load balancer each instance applies them on its own.
#[derive(Debug, Clone, Args)]
pub struct HookArgs {
    /// Triggers per minute allowed for one deploy hook (sustained rate).
    #[arg(long = names::HOOK_RATE_PER_MINUTE.flag, env = names::HOOK_RATE_PER_MINUTE.env, default_value_t = 10)]
    pub hook_rate_per_minute: u32,
    /// Triggers one deploy hook may send at once before the per-minute rate applies.
    #[arg(long = names::HOOK_BURST.flag, env = names::HOOK_BURST.env, default_value_t = 10)]
    pub hook_burst: u32,
    /// Triggers per minute allowed for all deploy hooks of one organization together.
    #[arg(long = names::HOOK_ORG_RATE_PER_MINUTE.flag, env = names::HOOK_ORG_RATE_PER_MINUTE.env, default_value_t = 60)]
    pub hook_org_rate_per_minute: u32,
    /// Triggers all hooks of one organization may send at once.
    #[arg(long = names::HOOK_ORG_BURST.flag, env = names::HOOK_ORG_BURST.env, default_value_t = 60)]
    pub hook_org_burst: u32,
    /// A repeat trigger of one hook for the same commit within this many seconds returns
    /// the earlier deployment (`already_exists: true`); 0 keeps only the queued/in-progress
    /// rule.
    #[arg(long = names::HOOK_DEDUPE_SECONDS.flag, env = names::HOOK_DEDUPE_SECONDS.env, default_value_t = 60)]
    pub hook_dedupe_seconds: u32,
}

impl ServeArgs {
    /// `serve` with no flags: defaults and the environment (for `dora-tracker` alone).
    pub fn from_env() -> Self {
        match Cli::parse_from(["dora-tracker", "serve"]).command {
            Some(Command::Serve(args)) => *args,
            _ => unreachable!("`serve` parses to Command::Serve"),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct TokenIssueArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// Organization slug (the tenant); created if it does not exist.
    #[arg(long)]
    pub org: String,
    /// Space- or comma-separated scopes: ingest, read, admin.
    #[arg(long, default_value = "ingest read")]
    pub scope: String,
    /// Lifetime, e.g. 90d, 12h, 30m, 2w.
    #[arg(long, default_value = "90d")]
    pub ttl: String,
    /// `sub` claim (who the token is for).
    #[arg(long, default_value = "cli")]
    pub sub: String,
    /// The token's name in listings; default: the `--sub` value.
    #[arg(long)]
    pub name: Option<String>,
    /// Limit writes to this repository (repeat for several); default: every repository.
    #[arg(long = "repository")]
    pub repositories: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct TokenListArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Organization slug.
    #[arg(long)]
    pub org: String,
}

#[derive(Debug, Clone, Args)]
pub struct TokenRevokeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The token's id (its `jti`), as `token list` shows it.
    pub id: String,
}

/// A setting with a wrong value: names the setting and says what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(setting: impl fmt::Display, message: impl Into<String>) -> Self {
        Self {
            setting: setting.to_string(),
            message: message.into(),
        }
    }
}

/// Where the JWT signing secret comes from.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The configured secret; `None`: the one kept in `secret_file` (made on first start).
    pub secret: Option<Secret>,
    pub secret_file: PathBuf,
    pub issuer: String,
    pub audience: String,
}

/// Settings of the DORA values on `/metrics`.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    pub token: Option<Secret>,
    pub refresh: Duration,
    /// Window lengths in days.
    pub windows: Vec<i64>,
    /// How often the daily outcome rollups are compacted; `None`: not by this instance.
    pub rollup_interval: Option<Duration>,
}

/// Everything `serve` needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DbOptions,
    pub jwt: JwtSettings,
    /// The address as given (for messages) and what it resolved to.
    pub listen: (String, SocketAddr),
    pub log: String,
    pub http: HttpSettings,
    pub metrics: MetricsSettings,
    pub idempotency_ttl: chrono::Duration,
    pub group_commit: GroupCommitMode,
    pub hooks: HookLimitSettings,
    pub secrets: SecretSettings,
    pub credentials: CredentialSettings,
    pub server: ServerSettings,
    pub api_limits: ApiLimitSettings,
    pub outbound: OutboundSettings,
}

/// Where the key that seals stored secrets comes from.
#[derive(Debug, Clone)]
pub struct SecretSettings {
    /// The configured key; `None`: the one kept in `key_file` (made on first start).
    pub key: Option<SecretKey>,
    pub key_file: PathBuf,
}

fn secret_settings(args: &SecretArgs, database: &DbOptions) -> Result<SecretSettings, ConfigError> {
    let key = args
        .secret_key
        .as_ref()
        .map(|k| SecretKey::parse(k.expose()))
        .transpose()
        .map_err(|e| ConfigError::new(names::SECRET_KEY, e))?;
    Ok(SecretSettings {
        key,
        key_file: kept_file(database.url.expose(), "secret-key"),
    })
}

impl Settings {
    /// Checks every value of `serve`; nothing is connected, written or bound here.
    pub fn from_serve_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let database = serve_database_options(&args.db)?;
        let jwt = jwt_settings(&args.jwt, &database)?;
        let secrets = secret_settings(&args.secrets, &database)?;
        let listen = parse_listen(&args.listen)?;
        tracing_subscriber::EnvFilter::try_new(&args.rust_log)
            .map_err(|e| ConfigError::new(names::LOG, e.to_string()))?;
        if args.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                names::MAX_BODY_BYTES,
                "must be at least 1024",
            ));
        }
        let public_url = args
            .public_url
            .as_deref()
            .map(parse_public_url)
            .transpose()?;
        let trust_forwarded_headers = parse_bool(
            names::TRUST_FORWARDED_HEADERS,
            &args.trust_forwarded_headers,
        )?;
        if args
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return Err(ConfigError::new(
                names::METRICS_TOKEN,
                "must be at least 16 characters",
            ));
        }
        let windows = parse_windows(&args.metrics_windows)
            .map_err(|e| ConfigError::new(names::METRICS_WINDOWS, e))?;
        if args.metrics_refresh_seconds == 0 {
            return Err(ConfigError::new(
                names::METRICS_REFRESH_SECONDS,
                "must be at least 1",
            ));
        }
        let rollup_interval = match args.rollup_interval_seconds {
            0.0 => None,
            seconds if (0.05..=3600.0).contains(&seconds) => Some(Duration::from_secs_f64(seconds)),
            _ => {
                return Err(ConfigError::new(
                    names::ROLLUP_INTERVAL,
                    "must be 0 (off) or between 0.05 and 3600",
                ));
            }
        };
        if args.idempotency_ttl_hours == 0 {
            return Err(ConfigError::new(
                names::IDEMPOTENCY_TTL_HOURS,
                "must be at least 1",
            ));
        }
        let group_commit = GroupCommitMode::parse(&args.group_commit).ok_or_else(|| {
            ConfigError::new(
                names::GROUP_COMMIT,
                format!("`{}` is not one of auto, on, off", args.group_commit),
            )
        })?;
        Ok(Self {
            database,
            jwt,
            listen,
            group_commit,
            log: args.rust_log,
            http: HttpSettings {
                max_body_bytes: args.max_body_bytes,
                public_url,
                trust_forwarded_headers,
            },
            metrics: MetricsSettings {
                token: args.metrics_token,
                refresh: Duration::from_secs(args.metrics_refresh_seconds),
                windows,
                rollup_interval,
            },
            idempotency_ttl: chrono::Duration::hours(i64::from(args.idempotency_ttl_hours)),
            hooks: hook_limits(&args.hooks)?,
            secrets,
            credentials: credential_settings(&args.credentials)?,
            server: server_settings(&args.server)?,
            api_limits: api_limits(&args.server)?,
            outbound: outbound_settings(&args.webhooks)?,
        })
    }
}

fn server_settings(args: &ServerArgs) -> Result<ServerSettings, ConfigError> {
    let seconds = |name: Name, value: u64| {
        if (1..=3600).contains(&value) {
            Ok(Duration::from_secs(value))
        } else {
            Err(ConfigError::new(name, "must be between 1 and 3600"))
        }
    };
    if args.max_connections == 0 {
        return Err(ConfigError::new(
            names::MAX_CONNECTIONS,
            "must be at least 1",
        ));
    }
    Ok(ServerSettings {
        header_read_timeout: seconds(names::HEADER_READ_TIMEOUT, args.header_read_timeout_seconds)?,
        body_read_timeout: seconds(names::BODY_READ_TIMEOUT, args.body_read_timeout_seconds)?,
        keep_alive_timeout: seconds(names::KEEP_ALIVE_TIMEOUT, args.keep_alive_timeout_seconds)?,
        max_connections: args.max_connections,
        shutdown_grace: seconds(names::SHUTDOWN_GRACE, args.shutdown_grace_seconds)?,
    })
}

fn api_limits(args: &ServerArgs) -> Result<ApiLimitSettings, ConfigError> {
    let nonzero = |name: Name, value: u32| {
        NonZeroU32::new(value).ok_or_else(|| ConfigError::new(name, "must be at least 1"))
    };
    Ok(ApiLimitSettings {
        per_minute: nonzero(names::API_RATE_PER_MINUTE, args.api_rate_per_minute)?,
        burst: nonzero(names::API_BURST, args.api_burst)?,
    })
}

/// The database settings of any command.
pub fn database_options(args: &DbArgs) -> Result<DbOptions, ConfigError> {
    let url = args.database_url.expose();
    let synchronous = match args.sqlite_synchronous.to_ascii_lowercase().as_str() {
        "full" => Synchronous::Full,
        "normal" => Synchronous::Normal,
        other => {
            return Err(ConfigError::new(
                names::SQLITE_SYNCHRONOUS,
                format!("`{other}` is not one of full, normal"),
            ));
        }
    };
    if args.db_max_connections == 0 {
        return Err(ConfigError::new(
            names::DB_MAX_CONNECTIONS,
            "must be at least 1",
        ));
    }
    if let Some(path) = sqlite_path(url) {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(ConfigError::new(
                names::DATABASE_URL,
                format!(
                    "the directory {} of the SQLite file does not exist",
                    dir.display()
                ),
            ));
        }
    } else if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        return Err(ConfigError::new(
            names::DATABASE_URL,
            "must start with sqlite:// or postgres://",
        ));
    }
    Ok(DbOptions {
        url: args.database_url.clone(),
        max_connections: args.db_max_connections,
        synchronous,
    })
}

/// The database of `serve`, the one command that creates a database: a `sqlite:` URL that
/// names no `mode` gets `mode=rwc` (without it SQLite would not create the file).
pub fn serve_database_options(args: &DbArgs) -> Result<DbOptions, ConfigError> {
    let mut options = database_options(args)?;
    if let Some(url) = sqlite_with_mode(options.url.expose(), "rwc", false) {
        options.url = Secret::new(url);
    }
    Ok(options)
}

/// The database of a command other than `serve` (`migrate`, `token …`), which works on the
/// database a service created and never creates one: a SQLite file must exist (it is
/// opened with `mode=rw`, whatever the URL says). The error names the file it looked for
/// (and, with `secret`, the JWT secret file that goes with it) and how to point the command
/// at the service's database.
pub fn existing_database_options(
    args: &DbArgs,
    command: &str,
    secret: Option<&JwtArgs>,
) -> Result<DbOptions, ConfigError> {
    let mut options = database_options(args)?;
    let url = options.url.expose();
    let Some(path) = sqlite_path(url) else {
        return Ok(options);
    };
    if !path.is_file() {
        let secret_note = match secret {
            Some(jwt) if jwt.jwt_secret.is_none() => format!(
                " (nor, next to it, the JWT secret {})",
                absolute(&secret_file(url)).display()
            ),
            _ => String::new(),
        };
        let settings = match secret {
            Some(_) => format!("{} and {}", names::DATABASE_URL, names::JWT_SECRET),
            None => names::DATABASE_URL.to_string(),
        };
        return Err(ConfigError::new(
            names::DATABASE_URL,
            format!(
                "there is no database at {}{secret_note}. `{command}` works on the database \
                 of a service and never creates one (only `serve` does): run it from the \
                 directory the service runs in, or set {settings} to the service's",
                absolute(&path).display(),
            ),
        ));
    }
    if let Some(url) = sqlite_with_mode(url, "rw", true) {
        options.url = Secret::new(url);
    }
    Ok(options)
}

/// `path` from the working directory, for messages.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A `sqlite:` file URL with `mode=<mode>`: `None` when it is not a SQLite file, or (unless
/// `force`) when it names a mode already.
fn sqlite_with_mode(url: &str, mode: &str, force: bool) -> Option<String> {
    sqlite_path(url)?;
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let named = params.iter().any(|p| p.starts_with("mode="));
    if named && !force {
        return None;
    }
    let mut kept: Vec<String> = params
        .into_iter()
        .filter(|p| !p.starts_with("mode="))
        .map(str::to_owned)
        .collect();
    kept.push(format!("mode={mode}"));
    Some(format!("{base}?{}", kept.join("&")))
}

/// The JWT settings of any command that signs or verifies tokens.
pub fn jwt_settings(args: &JwtArgs, database: &DbOptions) -> Result<JwtSettings, ConfigError> {
    if let Some(secret) = &args.jwt_secret {
        crate::auth::check_secret(secret.expose().as_bytes())
            .map_err(|e| ConfigError::new(names::JWT_SECRET, e))?;
    }
    if args.jwt_issuer.trim().is_empty() {
        return Err(ConfigError::new(names::JWT_ISSUER, "must not be empty"));
    }
    if args.jwt_audience.trim().is_empty() {
        return Err(ConfigError::new(names::JWT_AUDIENCE, "must not be empty"));
    }
    Ok(JwtSettings {
        secret: args.jwt_secret.clone(),
        secret_file: secret_file(database.url.expose()),
        issuer: args.jwt_issuer.clone(),
        audience: args.jwt_audience.clone(),
    })
}

/// `host:port`, where host is a name or an IP address; the first address it resolves to.
pub fn parse_listen(value: &str) -> Result<(String, SocketAddr), ConfigError> {
    let bad = |why: String| ConfigError::new(names::LISTEN, why);
    let resolved = value
        .to_socket_addrs()
        .map_err(|e| {
            bad(format!(
                "`{value}` is not a host:port such as 127.0.0.1:8080 ({e})"
            ))
        })?
        .next()
        .ok_or_else(|| bad(format!("`{value}` resolves to no address")))?;
    Ok((value.to_owned(), resolved))
}

fn parse_public_url(value: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError::new(names::PUBLIC_URL, format!("`{value}`: {why}"));
    let url =
        Url::parse(value).map_err(|_| bad("is not a URL such as https://dora.example.com"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("must be an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || url.password().is_some() {
        return Err(bad("must not have credentials, a query or a fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn parse_bool(name: Name, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(ConfigError::new(
            name,
            format!("`{value}` is not true or false"),
        )),
    }
}

fn hook_limits(args: &HookArgs) -> Result<HookLimitSettings, ConfigError> {
    let nonzero = |name: Name, value: u32| {
        NonZeroU32::new(value).ok_or_else(|| ConfigError::new(name, "must be at least 1"))
    };
    Ok(HookLimitSettings {
        per_hook_per_minute: nonzero(names::HOOK_RATE_PER_MINUTE, args.hook_rate_per_minute)?,
        per_hook_burst: nonzero(names::HOOK_BURST, args.hook_burst)?,
        per_organization_per_minute: nonzero(
            names::HOOK_ORG_RATE_PER_MINUTE,
            args.hook_org_rate_per_minute,
        )?,
        per_organization_burst: nonzero(names::HOOK_ORG_BURST, args.hook_org_burst)?,
        dedupe_window: chrono::Duration::seconds(i64::from(args.hook_dedupe_seconds)),
    })
}

fn outbound_settings(args: &WebhookArgs) -> Result<OutboundSettings, ConfigError> {
    if !(1..=60).contains(&args.webhook_timeout_seconds) {
        return Err(ConfigError::new(
            names::WEBHOOK_TIMEOUT,
            "must be between 1 and 60",
        ));
    }
    let retry_period = crate::domain::parse_ttl(&args.webhook_retry_period)
        .map_err(|e| ConfigError::new(names::WEBHOOK_RETRY_PERIOD, e))?;
    if retry_period > Duration::from_secs(7 * 86_400) {
        return Err(ConfigError::new(
            names::WEBHOOK_RETRY_PERIOD,
            "must be at most 7d",
        ));
    }
    let first = args.webhook_first_retry_seconds;
    if !(first.is_finite() && (0.05..=3600.0).contains(&first)) {
        return Err(ConfigError::new(
            names::WEBHOOK_FIRST_RETRY,
            "must be between 0.05 and 3600",
        ));
    }
    Ok(OutboundSettings {
        timeout: Duration::from_secs(args.webhook_timeout_seconds),
        retry_period: chrono::Duration::from_std(retry_period)
            .map_err(|e| ConfigError::new(names::WEBHOOK_RETRY_PERIOD, e.to_string()))?,
        first_retry: Duration::from_secs_f64(first),
        allow_private_targets: parse_bool(
            names::WEBHOOK_ALLOW_PRIVATE_TARGETS,
            &args.webhook_allow_private_targets,
        )?,
    })
}

fn credential_settings(args: &CredentialArgs) -> Result<CredentialSettings, ConfigError> {
    if args.token_cache_seconds > 300 {
        return Err(ConfigError::new(
            names::TOKEN_CACHE_SECONDS,
            "must be at most 300 (a revocation must take effect soon)",
        ));
    }
    Ok(CredentialSettings {
        token_cache: Duration::from_secs(args.token_cache_seconds),
        oidc_allow_http_loopback: parse_bool(
            names::OIDC_ALLOW_HTTP_LOOPBACK,
            &args.oidc_allow_http_loopback,
        )?,
    })
}

/// Parses `DORA_METRICS_WINDOWS`: comma-separated day counts such as `7d,30d,90d`.
pub fn parse_windows(value: &str) -> Result<Vec<i64>, String> {
    let mut days = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let n: i64 = part
            .strip_suffix('d')
            .unwrap_or(part)
            .parse()
            .map_err(|_| format!("`{part}` is not a window such as 30d"))?;
        if !(1..=dora_metrics::MAX_WINDOW_DAYS).contains(&n) {
            return Err(format!(
                "`{part}`: a window is 1 to {} days",
                dora_metrics::MAX_WINDOW_DAYS
            ));
        }
        if !days.contains(&n) {
            days.push(n);
        }
    }
    if days.is_empty() {
        return Err("at least one window is needed".to_owned());
    }
    Ok(days)
}

/// Parses `90d`, `12h`, `30m`, `45s`, `2w` (the `--ttl` of `token issue`).
pub fn parse_ttl(value: &str) -> Result<Duration, ConfigError> {
    crate::domain::parse_ttl(value).map_err(|e| ConfigError::new("--ttl", e))
}

/// The file of a `sqlite:` URL, unless it is in memory.
fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:" && !rest.contains("mode=memory"))
        .then(|| PathBuf::from(path))
}

/// Where a generated JWT secret is kept: next to the SQLite file, else the working directory.
pub fn secret_file(database_url: &str) -> PathBuf {
    kept_file(database_url, "jwt-secret")
}

/// A generated file kept next to the SQLite file (`<db file>.<suffix>`), else in the working
/// directory (`dora-tracker.<suffix>`).
fn kept_file(database_url: &str, suffix: &str) -> PathBuf {
    match sqlite_path(database_url) {
        Some(path) => {
            let mut name = path.into_os_string();
            name.push(format!(".{suffix}"));
            PathBuf::from(name)
        }
        None => Path::new(&format!("dora-tracker.{suffix}")).to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(extra: &[&str]) -> ServeArgs {
        let mut argv = vec!["dora-tracker", "serve"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).expect("parses").command {
            Some(Command::Serve(args)) => *args,
            _ => panic!("serve parses to Command::Serve"),
        }
    }

    #[test]
    fn ttl_units() {
        assert_eq!(
            parse_ttl("90d").ok(),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(parse_ttl("30m").ok(), Some(Duration::from_secs(1800)));
        for bad in ["", "d", "0d", "5y", "9é"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_next_to_sqlite_file() {
        assert_eq!(
            secret_file("sqlite://data/dora.db?mode=rwc"),
            PathBuf::from("data/dora.db.jwt-secret")
        );
        assert_eq!(
            secret_file("postgres://postgres@localhost/dora"),
            PathBuf::from("dora-tracker.jwt-secret")
        );
    }

    #[test]
    fn serve_adds_the_create_mode_and_other_commands_never_create() {
        assert_eq!(
            sqlite_with_mode("sqlite://x.db", "rwc", false).as_deref(),
            Some("sqlite://x.db?mode=rwc")
        );
        assert_eq!(
            sqlite_with_mode("sqlite://x.db?mode=ro", "rwc", false),
            None
        );
        assert_eq!(
            sqlite_with_mode("sqlite:///d/x.db?cache=shared&mode=rwc", "rw", true).as_deref(),
            Some("sqlite:///d/x.db?cache=shared&mode=rw")
        );
        assert_eq!(sqlite_with_mode("sqlite::memory:", "rwc", false), None);
        assert_eq!(sqlite_with_mode("postgres://u@h/db", "rwc", false), None);
        let settings = Settings::from_serve_args(serve_args(&["--database-url", "sqlite://x.db"]))
            .expect("valid");
        assert_eq!(settings.database.url.expose(), "sqlite://x.db?mode=rwc");
    }

    #[test]
    fn windows_parse() {
        assert_eq!(parse_windows("30d"), Ok(vec![30]));
        assert_eq!(parse_windows("7d, 30d,90,30d"), Ok(vec![7, 30, 90]));
        for bad in ["", "0d", "1000d", "month"] {
            assert!(parse_windows(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_valid() {
        let settings = Settings::from_serve_args(serve_args(&[])).expect("defaults are valid");
        assert_eq!(settings.listen.1, "127.0.0.1:8080".parse().expect("addr"));
        assert!(settings.http.public_url.is_none());
        assert!(!settings.http.trust_forwarded_headers);
        assert_eq!(settings.metrics.windows, vec![30]);
    }

    #[test]
    fn every_bad_value_names_its_setting() {
        let cases: &[(&[&str], Name)] = &[
            (&["--listen", "nope"], names::LISTEN),
            (&["--metrics-windows", "month"], names::METRICS_WINDOWS),
            (&["--database-url", "garbage"], names::DATABASE_URL),
            (
                &["--database-url", "sqlite:///no/such/dir/x.db?mode=rwc"],
                names::DATABASE_URL,
            ),
            (&["--jwt-secret", "short"], names::JWT_SECRET),
            (&["--metrics-token", "short"], names::METRICS_TOKEN),
            (&["--max-body-bytes", "10"], names::MAX_BODY_BYTES),
            (&["--public-url", "ftp://x"], names::PUBLIC_URL),
            (
                &["--trust-forwarded-headers", "maybe"],
                names::TRUST_FORWARDED_HEADERS,
            ),
            (&["--hook-burst", "0"], names::HOOK_BURST),
            (
                &["--token-cache-seconds", "3600"],
                names::TOKEN_CACHE_SECONDS,
            ),
            (
                &["--oidc-allow-http-loopback", "sometimes"],
                names::OIDC_ALLOW_HTTP_LOOPBACK,
            ),
            (&["--sqlite-synchronous", "off"], names::SQLITE_SYNCHRONOUS),
            (&["--log", "[[["], names::LOG),
            (&["--secret-key", "not-32-bytes"], names::SECRET_KEY),
            (
                &["--header-read-timeout-seconds", "0"],
                names::HEADER_READ_TIMEOUT,
            ),
            (&["--shutdown-grace-seconds", "0"], names::SHUTDOWN_GRACE),
            (&["--max-connections", "0"], names::MAX_CONNECTIONS),
            (&["--api-burst", "0"], names::API_BURST),
        ];
        for (argv, name) in cases {
            let err = Settings::from_serve_args(serve_args(argv)).expect_err("refused");
            assert_eq!(err.setting, name.to_string(), "{argv:?}");
        }
    }

    #[test]
    fn hostnames_listen() {
        let settings =
            Settings::from_serve_args(serve_args(&["--listen", "localhost:0"])).expect("valid");
        assert!(settings.listen.1.ip().is_loopback());
    }

    #[test]
    fn secrets_never_print() {
        let args = serve_args(&["--jwt-secret", "0123456789abcdef0123456789abcdef-secret"]);
        let printed = format!("{args:?}");
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
        let settings = Settings::from_serve_args(args).expect("valid");
        assert!(!format!("{settings:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn public_url_loses_its_trailing_slash() {
        let settings =
            Settings::from_serve_args(serve_args(&["--public-url", "https://dora.example.com/"]))
                .expect("valid");
        assert_eq!(
            settings.http.public_url.as_deref(),
            Some("https://dora.example.com")
        );
    }
}
