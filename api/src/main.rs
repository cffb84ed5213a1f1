//! `dora-tracker`: serve (default), migrate, token issue/list/revoke, record. CLI dispatch
//! only.

use std::process::ExitCode;

use api::{
    Application,
    core::tokens::TokenRecord,
    domain::{NewToken, RawToken, validate_slug},
    settings::{
        Cli, Command, DbArgs, ExportArgs, ImportArgs, ServeArgs, Settings, TokenCommand,
        TokenIssueArgs, TokenListArgs, TokenRevokeArgs, database_options,
        existing_database_options, jwt_settings,
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
        Some(Command::Token(TokenCommand::Issue(args))) => issue_token(*args).await,
        Some(Command::Token(TokenCommand::List(args))) => list_tokens(args).await,
        Some(Command::Token(TokenCommand::Revoke(args))) => revoke_token(args).await,
        Some(Command::Record(args)) => api::client::record(*args).await,
        Some(Command::Export(args)) => export(args).await,
        Some(Command::Import(args)) => import(*args).await,
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

/// Applies pending migrations to an existing database (a SQLite file must exist: only
/// `serve` creates one; an empty PostgreSQL database is set up).
async fn migrate(args: DbArgs) -> Result<(), String> {
    let _ = api::init_tracing("warn");
    let options = existing_database_options(&args, "migrate", None).map_err(|e| e.to_string())?;
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
    let input = NewToken::parse(RawToken {
        name: args.name.as_deref().unwrap_or(&args.sub),
        subject: Some(&args.sub),
        scopes: args.scope.split([' ', ',']).collect(),
        ttl: Some(&args.ttl),
        repositories: (!args.repositories.is_empty())
            .then(|| args.repositories.iter().map(String::as_str).collect()),
    })
    .map_err(|errors| {
        errors
            .iter()
            .map(|e| {
                let flag = match e.field.as_str() {
                    "scopes" => "--scope".to_owned(),
                    "sub" => "--sub".to_owned(),
                    f if f.starts_with("repositories") => "--repository".to_owned(),
                    f => format!("--{f}"),
                };
                format!("{flag}: {}", e.message)
            })
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let command = "token issue";
    let options =
        existing_database_options(&args.db, command, Some(&args.jwt)).map_err(|e| e.to_string())?;
    let jwt = jwt_settings(&args.jwt, &options).map_err(|e| e.to_string())?;
    let keys = api::existing_jwt_keys(&jwt, command).map_err(|e| e.to_string())?;
    let db = open(&args.db, command).await?;
    let issued = api::core::tokens::issue_on_host(&db, &keys, &args.org, input)
        .await
        .map_err(|e| e.to_string());
    db.close().await;
    println!("{}", issued?.token);
    Ok(())
}

async fn list_tokens(args: TokenListArgs) -> Result<(), String> {
    let _ = api::init_tracing("warn");
    validate_slug(&args.org).map_err(|e| format!("--org: {e}"))?;
    let db = open(&args.db, "token list").await?;
    let records = api::core::tokens::list_on_host(&db, &args.org)
        .await
        .map_err(|e| e.to_string());
    db.close().await;
    println!("id\tname\tscopes\trepositories\texpires_at\tlast_used_at\trevoked_at");
    for record in records? {
        println!("{}", token_line(&record));
    }
    Ok(())
}

async fn revoke_token(args: TokenRevokeArgs) -> Result<(), String> {
    let _ = api::init_tracing("warn");
    let id = uuid::Uuid::parse_str(args.id.trim())
        .map_err(|_| format!("`{}` is not a token id (see `token list`)", args.id))?;
    let db = open(&args.db, "token revoke").await?;
    let revoked = api::core::tokens::revoke_on_host(&db, id)
        .await
        .map_err(|e| e.to_string());
    db.close().await;
    let record = revoked?;
    println!("{}", token_line(&record));
    eprintln!(
        "revoked; running services refuse it within DORA_TOKEN_CACHE_SECONDS (10 s by default)"
    );
    Ok(())
}

async fn export(args: ExportArgs) -> Result<(), String> {
    let _ = api::init_tracing("warn");
    let db = open(&args.db, "export").await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut report = Progress::new("exported");
    let exported =
        api::core::transfer::export_on_host(&db, args.org.as_deref(), &mut out, &mut |counts| {
            report.tick(counts)
        })
        .await
        .map_err(|e| e.to_string());
    db.close().await;
    report.done(&exported?);
    Ok(())
}

async fn import(mut args: ImportArgs) -> Result<(), String> {
    let _ = api::init_tracing("warn");
    if let Some(to) = args.to.take() {
        args.db.database_url = to;
    }
    let mut input: Box<dyn std::io::BufRead> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file =
            std::fs::File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, file))
    };
    let db = open_to_import(&args.db).await?;
    let mut report = Progress::new("imported");
    let imported = api::core::transfer::import_on_host(
        &db,
        &mut input,
        api::core::transfer::ImportOptions {
            replace: args.replace,
        },
        &mut |counts| report.tick(counts),
    )
    .await
    .map_err(|e| e.to_string());
    db.close().await;
    let (organization, counts) = imported?;
    report.done(&counts);
    eprintln!(
        "organization `{organization}` imported; issue its tokens anew (`token issue`), rotate \
         its integrations' secrets and create its deploy hooks anew (README: Moving from SQLite \
         to PostgreSQL)"
    );
    Ok(())
}

/// Progress of an export or import on stderr: a line redrawn in place on a terminal, a line
/// every few seconds otherwise; the counts at the end.
struct Progress {
    verb: &'static str,
    terminal: bool,
    started: std::time::Instant,
    last: std::time::Instant,
}

impl Progress {
    fn new(verb: &'static str) -> Self {
        use std::io::IsTerminal;
        let now = std::time::Instant::now();
        Progress {
            verb,
            terminal: std::io::stderr().is_terminal(),
            started: now,
            last: now,
        }
    }

    fn tick(&mut self, counts: &api::store::transfer::Counts) {
        let every = if self.terminal { 0.2 } else { 5.0 };
        if self.last.elapsed().as_secs_f64() < every {
            return;
        }
        self.last = std::time::Instant::now();
        let total: u64 = counts.values().sum();
        let deployments = counts.get("deployment").copied().unwrap_or(0);
        let line = format!(
            "{}: {total} records, {deployments} deployments ({:.0} s)",
            self.verb,
            self.started.elapsed().as_secs_f64()
        );
        if self.terminal {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }

    fn done(&self, counts: &api::store::transfer::Counts) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
        let total: u64 = counts.values().sum();
        let each: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        eprintln!(
            "{}: {total} records in {:.1} s: {}",
            self.verb,
            self.started.elapsed().as_secs_f64(),
            each.join(", ")
        );
    }
}

/// Opens the database an import writes into: it must exist (a SQLite file a `serve` created,
/// or a PostgreSQL database, which may be empty), unless its SQLite URL asks for creation
/// itself with `mode=rwc`; its schema is brought up to date.
async fn open_to_import(args: &DbArgs) -> Result<Db, String> {
    let url = args.database_url.expose();
    let explicit_create = url.starts_with("sqlite:") && url.contains("mode=rwc");
    let options = if explicit_create {
        database_options(args)
    } else {
        existing_database_options(args, "import", None)
    }
    .map_err(|e| e.to_string())?;
    let db = Db::connect(&options).await.map_err(|e| e.to_string())?;
    db.migrate()
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    Ok(db)
}

/// Opens the database of a service for `command`: it must exist and be up to date. Nothing
/// is created or migrated here (a token written to a database no service reads would be
/// refused by the service).
async fn open(args: &DbArgs, command: &str) -> Result<Db, String> {
    let options = existing_database_options(args, command, None).map_err(|e| e.to_string())?;
    let db = Db::connect(&options).await.map_err(|e| e.to_string())?;
    let database = redact_url(options.url.expose());
    let refused = match db.pending_migrations().await {
        Ok(Some(0)) => return Ok(db),
        Ok(None) => format!(
            "{}: the database {database} has no dora-tracker tables, so it is not a \
             service's database. `{command}` never sets one up: point {} at the database the \
             service uses (start `serve` on a new one first)",
            api::settings::names::DATABASE_URL,
            api::settings::names::DATABASE_URL,
        ),
        Ok(Some(pending)) => format!(
            "{}: the database {database} lacks {pending} migration(s) of this version: run \
             `dora-tracker migrate` (or restart the service, which applies them) first",
            api::settings::names::DATABASE_URL,
        ),
        Err(e) => format!("cannot read the schema of {database}: {e}"),
    };
    db.close().await;
    Err(refused)
}

fn token_line(record: &TokenRecord) -> String {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        record.id,
        record.name,
        api::domain::scope_string(&record.scopes),
        record
            .repositories
            .as_ref()
            .map_or_else(|| "*".to_owned(), |r| r.join(",")),
        record.expires_at.to_rfc3339(),
        time(record.last_used_at),
        time(record.revoked_at),
    )
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
