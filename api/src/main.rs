//! `dora-tracker`: serve (default), migrate, token issue. CLI dispatch only.

use std::process::ExitCode;

use api::{
    Application,
    auth::parse_scopes,
    domain::validate_slug,
    settings::{
        Cli, Command, ConfigError, DbArgs, ServeArgs, Settings, TokenCommand, TokenIssueArgs,
        database_options, jwt_settings, names, parse_ttl,
    },
    store::Db,
};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(ServeArgs::from_env()).await,
        Some(Command::Serve(args)) => serve(*args).await,
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
    let settings = Settings::from_serve_args(args).map_err(|e| e.to_string())?;
    api::init_tracing(&settings.log)?;
    let database = redact_url(settings.database.url.expose());
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    let addr = app
        .local_addr()
        .map_or_else(|| "?".to_owned(), |a| a.to_string());
    tracing::info!(%addr, %database, "dora-tracker listening");
    eprintln!(
        "dora-tracker listening on http://{addr} (API explorer: http://{addr}/docs)\n\
         mint a token with: cargo run --release -- token issue --org ORG --scope \"ingest read\""
    );
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn migrate(args: DbArgs) -> Result<(), String> {
    let _ = api::init_tracing("warn");
    let options = database_options(&args).map_err(|e| e.to_string())?;
    let db = Db::connect(&options).await.map_err(|e| e.to_string())?;
    db.migrate()
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    db.close().await;
    eprintln!("migrations applied");
    Ok(())
}

async fn issue_token(args: TokenIssueArgs) -> Result<(), String> {
    let _ = api::init_tracing("warn");
    validate_slug(&args.org).map_err(|e| format!("--org: {e}"))?;
    let scopes = parse_scopes(&args.scope).map_err(|e| format!("--scope: {e}"))?;
    let ttl = parse_ttl(&args.ttl).map_err(|e| e.to_string())?;
    let options = database_options(&args.db).map_err(|e| e.to_string())?;
    let jwt = jwt_settings(&args.jwt, &options).map_err(|e| e.to_string())?;
    let keys = api::jwt_keys(&jwt).map_err(|e| e.to_string())?;
    let db = Db::connect(&options).await.map_err(|e| e.to_string())?;
    db.migrate()
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    api::core::tenants::ensure(&db, &args.org)
        .await
        .map_err(|e| e.to_string())?;
    db.close().await;
    let token = keys
        .issue(&args.org, &scopes, &args.sub, ttl)
        .map_err(|e| ConfigError::new(names::JWT_SECRET, e.to_string()).to_string())?;
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
