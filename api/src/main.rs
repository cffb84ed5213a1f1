//! `dora-tracker`: serve (default), migrate, token issue.

use std::process::ExitCode;

use api::{
    Application,
    auth::{JwtKeys, parse_scopes},
    config::{
        Cli, Command, ConfigError, DbArgs, ServeArgs, TokenCommand, TokenIssueArgs, parse_ttl,
    },
    domain::validate_slug,
    shutdown_signal,
    store::{Db, organizations::ensure_organization},
};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(ServeArgs::default_from_env()).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Migrate(args)) => migrate(args).await,
        Some(Command::Token(TokenCommand::Issue(args))) => issue_token(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dora-tracker: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    api::telemetry::init(&args.rust_log)?;
    let app = Application::build(&args).await.map_err(|e| e.to_string())?;
    let addr = app
        .local_addr()
        .map_or_else(|| args.listen.clone(), |a| a.to_string());
    tracing::info!(%addr, database = %redact_url(&args.db.database_url), "dora-tracker listening");
    eprintln!(
        "dora-tracker listening on http://{addr} (API explorer: http://{addr}/docs)\n\
         mint a token with: cargo run --release -- token issue --org ORG --scope \"ingest read\""
    );
    app.run_until(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn migrate(args: DbArgs) -> Result<(), String> {
    let _ = api::telemetry::init("warn");
    let db = Db::connect(&args).await.map_err(|e| e.to_string())?;
    db.migrate()
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    db.close().await;
    eprintln!("migrations applied");
    Ok(())
}

async fn issue_token(args: TokenIssueArgs) -> Result<(), String> {
    let _ = api::telemetry::init("warn");
    validate_slug(&args.org).map_err(|e| format!("--org: {e}"))?;
    let scopes = parse_scopes(&args.scope).map_err(|e| format!("--scope: {e}"))?;
    let ttl = parse_ttl(&args.ttl).map_err(|e| e.to_string())?;
    let keys = JwtKeys::from_args(&args.jwt, &args.db.database_url).map_err(|e| e.to_string())?;
    let db = Db::connect(&args.db).await.map_err(|e| e.to_string())?;
    db.migrate()
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    let txn = db.begin_write().await.map_err(|e| e.to_string())?;
    ensure_organization(&txn, &args.org, chrono::Utc::now())
        .await
        .map_err(|e| e.to_string())?;
    txn.commit().await.map_err(|e| e.to_string())?;
    db.close().await;
    let token = keys
        .issue(&args.org, &scopes, &args.sub, ttl)
        .map_err(|e| ConfigError::new("DORA_JWT_SECRET", e.to_string()).to_string())?;
    println!("{token}");
    Ok(())
}

/// Hides a password in a database URL.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
