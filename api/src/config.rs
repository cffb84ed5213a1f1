//! Command line and configuration. Every setting of `serve` is also an environment
//! variable; values are checked once at start and a bad one names the setting.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

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
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Mint tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a signed token (and only the token) on stdout.
    Issue(TokenIssueArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://dora-tracker.db?mode=rwc"
    )]
    pub database_url: String,
    /// Largest number of pooled database connections.
    #[arg(long, env = "DORA_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// SQLite `synchronous` pragma: full (default, nothing acknowledged is lost on power
    /// failure) or normal (faster; a power cut may lose the last commits).
    #[arg(long, env = "DORA_SQLITE_SYNCHRONOUS", default_value = "full")]
    pub sqlite_synchronous: String,
}

#[derive(Debug, Clone, Args)]
pub struct JwtArgs {
    /// HS256 signing secret, at least 32 bytes. Unset: generated on first start and kept
    /// next to the SQLite database (`<db file>.jwt-secret`, mode 0600).
    #[arg(long, env = "DORA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Required `iss` claim.
    #[arg(long, env = "DORA_JWT_ISSUER", default_value = "dora-tracker")]
    pub jwt_issuer: String,
    /// Required `aud` claim.
    #[arg(long, env = "DORA_JWT_AUDIENCE", default_value = "dora-tracker")]
    pub jwt_audience: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// Address to listen on.
    #[arg(long, env = "DORA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long = "log", env = "RUST_LOG", default_value = "info")]
    pub rust_log: String,
    /// Largest accepted request body in bytes; larger ones answer 413.
    #[arg(long, env = "DORA_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Bearer token required to scrape `/metrics`; unset: `/metrics` is open.
    #[arg(long, env = "DORA_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Seconds between recomputations of the DORA values served on `/metrics`.
    #[arg(long, env = "DORA_METRICS_REFRESH_SECONDS", default_value_t = 30)]
    pub metrics_refresh_seconds: u64,
    /// Windows of the DORA values on `/metrics`: comma-separated days, e.g. `7d,30d,90d`.
    #[arg(long, env = "DORA_METRICS_WINDOWS", default_value = "30d")]
    pub metrics_windows: String,
    /// How long `Idempotency-Key`s are remembered, in hours.
    #[arg(long, env = "DORA_IDEMPOTENCY_TTL_HOURS", default_value_t = 24)]
    pub idempotency_ttl_hours: u32,
    #[command(flatten)]
    pub hooks: HookArgs,
}

/// Deploy-hook trigger limits. Rate limits are kept in memory, so with several instances
/// behind a load balancer each instance applies them on its own.
#[derive(Debug, Clone, Args)]
pub struct HookArgs {
    /// Triggers per minute allowed for one deploy hook (sustained rate).
    #[arg(long, env = "DORA_HOOK_RATE_PER_MINUTE", default_value_t = 10)]
    pub hook_rate_per_minute: u32,
    /// Triggers one deploy hook may send at once before the per-minute rate applies.
    #[arg(long, env = "DORA_HOOK_BURST", default_value_t = 10)]
    pub hook_burst: u32,
    /// Triggers per minute allowed for all deploy hooks of one organization together.
    #[arg(long, env = "DORA_HOOK_ORG_RATE_PER_MINUTE", default_value_t = 60)]
    pub hook_org_rate_per_minute: u32,
    /// Triggers all hooks of one organization may send at once.
    #[arg(long, env = "DORA_HOOK_ORG_BURST", default_value_t = 60)]
    pub hook_org_burst: u32,
    /// A repeat trigger of one hook for the same commit within this many seconds returns
    /// the earlier deployment (`already_exists: true`); 0 keeps only the queued/in-progress
    /// rule.
    #[arg(long, env = "DORA_HOOK_DEDUPE_SECONDS", default_value_t = 60)]
    pub hook_dedupe_seconds: u32,
}

impl Default for HookArgs {
    fn default() -> Self {
        Self {
            hook_rate_per_minute: 10,
            hook_burst: 10,
            hook_org_rate_per_minute: 60,
            hook_org_burst: 60,
            hook_dedupe_seconds: 60,
        }
    }
}

impl ServeArgs {
    /// `serve` with no flags: defaults and the environment (for `dora-tracker` alone).
    pub fn default_from_env() -> Self {
        Cli::parse_from(["dora-tracker", "serve"])
            .command
            .and_then(|c| match c {
                Command::Serve(args) => Some(args),
                _ => None,
            })
            .unwrap_or_else(|| unreachable!("`serve` parses to Command::Serve"))
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
}

/// A configuration error: names the setting and says what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            setting,
            message: message.into(),
        }
    }
}

pub fn parse_listen(value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        ConfigError::new(
            "DORA_LISTEN (--listen)",
            format!("`{value}` is not a socket address such as 127.0.0.1:8080"),
        )
    })
}

/// Parses `90d`, `12h`, `30m`, `45s`, `2w`.
pub fn parse_ttl(value: &str) -> Result<Duration, ConfigError> {
    let bad = || {
        ConfigError::new(
            "--ttl",
            format!("`{value}` is not a duration such as 90d, 12h or 30m"),
        )
    };
    let value = value.trim();
    let split = value.len().checked_sub(1).ok_or_else(bad)?;
    let (digits, unit) = value.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        "w" => n.checked_mul(7 * 86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if seconds == 0 || seconds > 10 * 366 * 86_400 {
        return Err(ConfigError::new("--ttl", "must be between 1s and 10 years"));
    }
    Ok(Duration::from_secs(seconds))
}

/// Where a generated JWT secret is kept: next to the SQLite file, else the working directory.
pub fn secret_file(database_url: &str) -> PathBuf {
    if let Some(rest) = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
    {
        let path = rest.split('?').next().unwrap_or_default();
        if !path.is_empty() && path != ":memory:" {
            return PathBuf::from(format!("{path}.jwt-secret"));
        }
    }
    PathBuf::from("dora-tracker.jwt-secret")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(
            parse_ttl("90d").ok(),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(parse_ttl("30m").ok(), Some(Duration::from_secs(1800)));
        assert!(parse_ttl("").is_err());
        assert!(parse_ttl("d").is_err());
        assert!(parse_ttl("0d").is_err());
        assert!(parse_ttl("5y").is_err());
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
    fn defaults_parse() {
        let Some(Command::Serve(args)) = Cli::parse_from(["dora-tracker", "serve"]).command else {
            panic!("serve parses");
        };
        assert!(parse_listen(&args.listen).is_ok());
        let hooks = HookArgs::default();
        assert_eq!(
            (
                args.hooks.hook_rate_per_minute,
                args.hooks.hook_burst,
                args.hooks.hook_org_rate_per_minute,
                args.hooks.hook_org_burst,
                args.hooks.hook_dedupe_seconds
            ),
            (
                hooks.hook_rate_per_minute,
                hooks.hook_burst,
                hooks.hook_org_rate_per_minute,
                hooks.hook_org_burst,
                hooks.hook_dedupe_seconds
            )
        );
        assert!(parse_listen("nope").is_err());
    }
}
