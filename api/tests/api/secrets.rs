//! Secrets hygiene: the service, run as the binary with `RUST_LOG=trace` (every target, every
//! level), never logs a token or a CI identity token, accepted or refused, nor does
//! `dora-tracker record`.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use api::auth::Scope;
use serde_json::{Value, json};

use crate::{
    helpers::{AUDIENCE, ISSUER, SECRET, spawn_app},
    issuer::{Issuer, keys},
    record::{Checkout, binary},
};

/// The service as a child process, its stderr collected.
struct Service {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(database_url: &str) -> Service {
    let mut child = Command::new(binary())
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("DORA_LISTEN", "127.0.0.1:0")
        .env("DORA_JWT_SECRET", SECRET)
        .env("DORA_JWT_ISSUER", ISSUER)
        .env("DORA_JWT_AUDIENCE", AUDIENCE)
        .env("DORA_OIDC_ALLOW_HTTP_LOOPBACK", "true")
        .env("DORA_TOKEN_CACHE_SECONDS", "0")
        .env("RUST_LOG", "trace")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let collected = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("dora-tracker listening on ") {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            let mut log = collected.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the service starts");
    Service { child, url, log }
}

/// The token and its parts long enough to be telling (payload and signature).
fn fragments(token: &str) -> Vec<String> {
    let mut parts = vec![token.to_owned()];
    parts.extend(
        token
            .split('.')
            .skip(1)
            .filter(|p| p.len() >= 16)
            .map(str::to_owned),
    );
    parts
}

#[tokio::test]
async fn tokens_never_reach_the_logs_at_any_level() {
    // A database with the real migrations, then the binary on it.
    let app = spawn_app().await;
    let service = serve(&app.database_url).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", service.url);
    let mut secrets: Vec<String> = Vec::new();

    let admin = app.token("acme", &[Scope::Admin]);
    secrets.push(admin.clone());
    let created: Value = client
        .post(url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"name": "ci", "scopes": ["ingest", "read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    secrets.push(token.clone());
    let get = |t: String| {
        let client = client.clone();
        let u = url("/api/v1/deployments");
        async move { client.get(u).bearer_auth(t).send().await.unwrap().status() }
    };
    assert_eq!(get(token.clone()).await, 200);
    // Refused ones: tampered, and revoked.
    let tampered = format!("{}x", &token[..token.len() - 1]);
    secrets.push(tampered.clone());
    assert_eq!(get(tampered).await, 401);

    // A CI identity token, accepted and refused (another owner).
    let (rsa, _, _) = keys();
    let issuer = Issuer::start(&[rsa]).await;
    let resp = client
        .post(url("/api/v1/trust-policies"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "gha", "issuer": issuer.url, "audience": "dora-tracker",
                      "conditions": {"repository_owner": "acme"}, "scopes": ["ingest", "read"],
                      "repository_claim": "repository", "repository_host": "github.com"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let id_token = rsa.sign(&issuer.github_claims("acme/web", "refs/heads/main"));
    secrets.push(id_token.clone());
    assert_eq!(get(id_token).await, 200);
    let foreign = rsa.sign(&issuer.github_claims("evil/web", "refs/heads/main"));
    secrets.push(foreign.clone());
    assert_eq!(get(foreign).await, 401);

    // `record`, with the token and with GitHub's identity token.
    let checkout = Checkout::new(
        "https://github.com/acme/web",
        &["2026-03-01T10:00:00+00:00"],
    );
    let env = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let with_token = checkout
        .bash(
            "dora-tracker record --environment staging",
            &env(&[
                ("DORA_URL", &service.url),
                ("DORA_TOKEN", &token),
                ("RUST_LOG", "trace"),
            ]),
        )
        .await;
    assert!(
        with_token.status.success(),
        "{}",
        String::from_utf8_lossy(&with_token.stderr)
    );
    {
        let mut state = issuer.state.lock().unwrap();
        state.runner_bearer = "runner-request-token-0123456789".to_owned();
        state.runner_claims = issuer.github_claims("acme/web", "refs/heads/main");
    }
    secrets.push("runner-request-token-0123456789".to_owned());
    let with_oidc = checkout
        .bash(
            "dora-tracker record --oidc --environment production",
            &env(&[
                ("DORA_URL", &service.url),
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_RUN_ID", "1"),
                ("GITHUB_REPOSITORY", "acme/web"),
                ("ACTIONS_ID_TOKEN_REQUEST_URL", &issuer.runner_url()),
                (
                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                    "runner-request-token-0123456789",
                ),
                ("RUST_LOG", "trace"),
            ]),
        )
        .await;
    assert!(
        with_oidc.status.success(),
        "{}",
        String::from_utf8_lossy(&with_oidc.stderr)
    );

    // Revoke, then use it again.
    let id = created["id"].as_str().unwrap();
    let resp = client
        .delete(url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(get(token.clone()).await, 401);

    // Let the last lines reach the collector (a request's log line follows its answer).
    let started = Instant::now();
    while !service.log.lock().unwrap().contains("revoked")
        && started.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = service.log.lock().unwrap().clone();
    assert!(
        log.contains("TRACE") || log.contains("trace"),
        "trace logging is on"
    );
    assert!(
        log.contains("token rejected"),
        "refusals are logged, without the token"
    );
    let mut outputs = vec![("service log", log)];
    for (name, out) in [
        ("record --token", &with_token),
        ("record --oidc", &with_oidc),
    ] {
        outputs.push((
            name,
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ));
    }
    for (name, text) in &outputs {
        for secret in &secrets {
            for fragment in fragments(secret) {
                assert!(
                    !text.contains(&fragment),
                    "{name} contains a token (or part of one)"
                );
            }
        }
    }
    // The JWT signing secret neither.
    assert!(!outputs.iter().any(|(_, t)| t.contains(SECRET)));
}
