//! The first run of the real binary, as a newcomer makes it: only `serve` creates a database
//! and its secrets; the other commands refuse to work on a database that is not there and
//! say where they looked; every wrong setting is reported as what it is before anything is
//! written, created or migrated.

use std::{
    path::Path,
    process::{Command, Output},
};

use crate::{helpers::on_postgres, process::ServiceProcess};

/// The binary run in `dir` with nothing but `PATH` and `env`: the quick start's settings.
fn bare(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dora-tracker"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn");
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    bare(dir, args, env).output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The names of the files in `dir`.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn serve_in(dir: &Path, env: &[(&str, &str)]) -> ServiceProcess {
    let mut all = vec![("DORA_LISTEN", "127.0.0.1:0")];
    all.extend_from_slice(env);
    ServiceProcess::spawn(bare(dir, &["serve"], &all))
}

#[tokio::test]
async fn only_serve_creates_the_database_and_the_token_commands_use_the_services() {
    if on_postgres() {
        eprintln!("skipped: the quick start's database is a SQLite file (see the next test)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let db = std::path::absolute(dir.path().join("dora-tracker.db")).unwrap();
    let secret = std::path::absolute(dir.path().join("dora-tracker.db.jwt-secret")).unwrap();
    let revoke_id = uuid::Uuid::now_v7().to_string();

    // Before any service ran: every command but `serve` refuses, and writes nothing.
    let commands: [&[&str]; 4] = [
        &["token", "issue", "--org", "acme"],
        &["token", "list", "--org", "acme"],
        &["token", "revoke", &revoke_id],
        &["migrate"],
    ];
    for args in commands {
        let out = run(dir.path(), args, &[]);
        let message = stderr(&out);
        assert!(!out.status.success(), "{args:?} refused");
        assert!(out.stdout.is_empty(), "{args:?} printed nothing on stdout");
        assert!(
            message.contains(&format!("there is no database at {}", db.display())),
            "{args:?} names the database it looked for: {message}"
        );
        assert!(message.contains("only `serve`"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
        assert_eq!(files(dir.path()), Vec::<String>::new(), "{args:?}");
    }
    let out = run(dir.path(), &["token", "issue", "--org", "acme"], &[]);
    assert!(
        stderr(&out).contains(&secret.display().to_string()),
        "`token issue` names the secret it looked for too: {}",
        stderr(&out)
    );

    // The quick start: `serve` creates both; `token issue` from the same directory mints a
    // token the service accepts.
    let service = serve_in(dir.path(), &[]);
    assert!(db.is_file() && secret.is_file(), "{:?}", files(dir.path()));
    let out = run(dir.path(), &["token", "issue", "--org", "acme"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/deployments", service.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let out = run(dir.path(), &["token", "list", "--org", "acme"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // From another directory: refused (it used to mint a token from a new empty database
    // and a new secret, which the service then refused), naming where it looked.
    let out = run(elsewhere.path(), &["token", "issue", "--org", "acme"], &[]);
    assert!(!out.status.success());
    let elsewhere_db = std::path::absolute(elsewhere.path().join("dora-tracker.db")).unwrap();
    assert!(
        stderr(&out).contains(&elsewhere_db.display().to_string()),
        "{}",
        stderr(&out)
    );
    assert_eq!(files(elsewhere.path()), Vec::<String>::new());
    // Pointed at the service's database, it works from anywhere.
    let url = format!("sqlite://{}", db.display());
    let out = run(
        elsewhere.path(),
        &["token", "issue", "--org", "acme"],
        &[("DATABASE_URL", &url)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(files(elsewhere.path()), Vec::<String>::new());

    // The database without its secret: `token issue` names the secret file and makes none.
    std::fs::remove_file(&secret).unwrap();
    let out = run(dir.path(), &["token", "issue", "--org", "acme"], &[]);
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(message.contains("DORA_JWT_SECRET"), "{message}");
    assert!(
        message.contains(&format!("no kept secret at {}", secret.display())),
        "{message}"
    );
    assert!(!secret.exists());
    drop(service);
}

#[tokio::test]
async fn the_token_commands_refuse_a_database_no_service_set_up() {
    let (url, _guard) = crate::helpers::test_database().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("DORA_JWT_SECRET", crate::helpers::SECRET),
    ];
    let out = run(dir.path(), &["token", "issue", "--org", "acme"], &env);
    assert!(!out.status.success());
    let message = stderr(&out);
    if on_postgres() {
        // The server has the (empty) database: it has no tables of ours.
        assert!(message.contains("no dora-tracker tables"), "{message}");
        // `migrate` sets an existing empty PostgreSQL database up; then the token works.
        let out = run(dir.path(), &["migrate"], &env);
        assert!(out.status.success(), "{}", stderr(&out));
    } else {
        assert!(message.contains("there is no database at"), "{message}");
        // `migrate` refuses to create the file too; `serve` creates it.
        let out = run(dir.path(), &["migrate"], &env);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("only `serve`"), "{}", stderr(&out));
        // An empty file is a database without our tables.
        let path = url
            .strip_prefix("sqlite://")
            .and_then(|p| p.split('?').next())
            .unwrap();
        std::fs::write(path, b"").unwrap();
        let out = run(dir.path(), &["token", "issue", "--org", "acme"], &env);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("no dora-tracker tables"),
            "{}",
            stderr(&out)
        );
        let out = run(dir.path(), &["migrate"], &env);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = run(dir.path(), &["token", "issue", "--org", "acme"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        files(dir.path()),
        Vec::<String>::new(),
        "nothing written here"
    );
}

#[tokio::test]
async fn wrong_settings_are_reported_as_what_they_are_before_anything_is_written() {
    if on_postgres() {
        eprintln!("skipped: these settings are about SQLite files and the port");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let listen = [("DORA_LISTEN", "127.0.0.1:0")];

    // Garbage: refused, naming the setting, with no secret file written.
    let out = run(
        dir.path(),
        &["serve"],
        &[("DATABASE_URL", "garbage"), listen[0]],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("DATABASE_URL"), "{}", stderr(&out));
    assert_eq!(files(dir.path()), Vec::<String>::new());

    // A missing directory is a missing directory, not a JWT-secret error.
    let out = run(
        dir.path(),
        &["serve"],
        &[("DATABASE_URL", "sqlite:///missing/dir/x.db"), listen[0]],
    );
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(
        message.contains("DATABASE_URL") && message.contains("/missing/dir"),
        "{message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(!message.contains("JWT"), "{message}");
    assert_eq!(files(dir.path()), Vec::<String>::new());

    // A port in use: reported as that, before the database is created or migrated.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(dir.path(), &["serve"], &[("DORA_LISTEN", &addr)]);
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(
        message.contains("DORA_LISTEN") && message.contains(&addr),
        "{message}"
    );
    assert!(message.to_lowercase().contains("in use"), "{message}");
    assert_eq!(files(dir.path()), Vec::<String>::new());
    drop(taken);

    // A hostname listens.
    let service = serve_in(dir.path(), &[("DORA_LISTEN", "localhost:0")]);
    drop(service);

    // `sqlite://x.db` without `?mode=rwc`: `serve` creates it (SQLite alone would answer
    // "unable to open database file").
    let other = tempfile::tempdir().unwrap();
    let service = serve_in(other.path(), &[("DATABASE_URL", "sqlite://x.db")]);
    assert!(
        other.path().join("x.db").is_file(),
        "{:?}",
        files(other.path())
    );
    assert!(other.path().join("x.db.jwt-secret").is_file());
    drop(service);
}
