//! `dora-tracker export` and `import` through the real binary: an organization filled through
//! the HTTP API on SQLite is exported, imported into the backend under test (PostgreSQL when
//! `DORA_TEST_DATABASE_URL` is set, as CI runs it; another SQLite database otherwise), and
//! the metrics, the stored outcomes and the records answer the same there; no secret leaves.

use std::process::{Command, Output};

use api::auth::Scope;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app_at, test_database},
    outcomes::{Sequence, assert_outcomes_match, organization_id},
    webhook_helpers::{github, integration},
};

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_dora-tracker")
}

fn run(args: &[&str], database_url: &str) -> Output {
    Command::new(binary())
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("DORA_LOG")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The metric answers a manager's page asks for, over the sequences' month.
async fn answers(app: &TestApp, token: &str) -> Vec<(String, Value)> {
    let window = "from=2026-02-28T00:00:00Z&to=2026-03-02T00:00:00Z";
    let mut paths = vec![
        format!("/api/v1/metrics/dora?{window}"),
        format!("/api/v1/metrics/dora?{window}&environment=staging"),
        format!("/api/v1/metrics/dora/series?{window}&interval=day"),
        format!("/api/v1/metrics/dora/series?{window}&interval=week&environment=production"),
    ];
    for by in ["repository", "team", "environment"] {
        paths.push(format!("/api/v1/metrics/dora/breakdown?{window}&by={by}"));
    }
    paths.push("/api/v1/deployments?limit=100".to_owned());
    paths.push("/api/v1/incidents?limit=100".to_owned());
    let mut out = Vec::new();
    for path in paths {
        let resp = app.get(&path, token).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        out.push((path, body));
    }
    out
}

#[tokio::test]
async fn an_organization_moves_from_sqlite_to_the_backend_under_test() {
    // The source: SQLite, always.
    let dir = tempfile::tempdir().unwrap();
    let source_url = format!("sqlite://{}/source.db?mode=rwc", dir.path().display());
    let source = spawn_app_at(&source_url, |args| {
        args.webhooks.webhook_allow_private_targets = "true".to_owned();
    })
    .await;
    let mut sequence = Sequence::new(&source, "acme", 7);
    for _ in 0..150 {
        sequence.step().await;
    }
    // Another organization, which must not travel.
    let mut other = Sequence::new(&source, "globex", 8);
    for _ in 0..20 {
        other.step().await;
    }
    // A team, a deploy hook and an integration (with secrets).
    let token = source.rw_token("acme");
    let mut body = crate::helpers::deployment("https://github.com/acme/web", 9000);
    body["team"] = json!("platform");
    source.create_deployment(&token, &body).await;
    let admin = source.token("acme", &[Scope::Admin]);
    let resp = source
        .post_json(
            "/api/v1/deploy-hooks",
            &admin,
            &json!({"name": "prod", "repository_url": "https://github.com/acme/web", "branch": "main"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let hook: Value = resp.json().await.unwrap();
    let hook_secret = hook["secret"].as_str().unwrap().to_owned();
    let resp = source
        .client
        .post(source.url(&format!("/hooks/{hook_secret}")))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let github_integration = integration(&source, "acme", "github", json!({})).await;
    // A webhook subscription (its signing secret sealed under the source's key).
    let resp = source
        .post_json(
            "/api/v1/webhook-subscriptions",
            &admin,
            &json!({"url": "http://127.0.0.1:9/dora", "events": ["incident"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let subscription: Value = resp.json().await.unwrap();
    let subscription_id = subscription["id"].as_str().unwrap().to_owned();
    let subscription_secret = subscription["secret"].as_str().unwrap().to_owned();
    let before = answers(&source, &token).await;

    // Export (while the service runs).
    let exported = run(&["export", "--org", "acme"], &source_url);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let backup = text(&exported.stdout);
    let stderr = text(&exported.stderr);
    assert!(stderr.contains("exported:"), "{stderr}");
    assert!(!backup.contains(&hook_secret));
    assert!(!backup.contains(&github_integration.secret));
    assert!(!backup.contains(&subscription_secret));
    assert!(!backup.contains("globex"));
    let hook_hash = api::core::hooks::hash_secret(&hook_secret);
    assert!(
        !backup.contains(&hook_hash),
        "the hook's secret hash is exported"
    );
    let lines: Vec<Value> = backup
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["kind"], "header");
    assert_eq!(lines.last().unwrap()["kind"], "end");
    let file = dir.path().join("backup.ndjson");
    std::fs::write(&file, &backup).unwrap();
    let file = file.to_str().unwrap();

    // Import into a fresh database of the backend under test.
    let (target_url, _target_db) = test_database().await;
    let imported = run(&["import", file, "--to", &target_url], "sqlite://unused.db");
    let stderr = text(&imported.stderr);
    assert!(imported.status.success(), "{stderr}");
    assert!(stderr.contains("imported:"), "{stderr}");
    assert!(stderr.contains("deployment "), "{stderr}");

    let target = spawn_app_at(&target_url, |_| {}).await;
    let after = answers(&target, &target.rw_token("acme")).await;
    for ((path, expected), (_, actual)) in before.iter().zip(&after) {
        assert_eq!(actual, expected, "{path}");
    }
    // The outcomes were derived on import, exactly as the engine derives them.
    let id = organization_id(&target, "acme").await;
    assert!(assert_outcomes_match(&target, id, &["after import".to_owned()]).await > 30);
    // Numbering goes on where it stopped.
    let next = target
        .create_deployment(
            &target.rw_token("acme"),
            &crate::helpers::deployment("https://github.com/acme/web", 9001),
        )
        .await;
    let last = before
        .iter()
        .find(|(p, _)| p.starts_with("/api/v1/deployments"))
        .unwrap()
        .1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(next["number"].as_i64().unwrap() > last);

    // Secrets did not travel: the hook's URL and the integration's secret do nothing there.
    let resp = target
        .client
        .post(target.url(&format!("/hooks/{hook_secret}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let payload = json!({"zen": "Keep it logically awesome.", "hook_id": 1});
    let resp = github(
        &target,
        &github_integration.id,
        &github_integration.secret,
        "ping",
        "d-1",
        &payload,
    )
    .await;
    assert_eq!(resp.status(), 401);
    // Rotating gives the integration a working secret.
    let resp = target
        .client
        .post(target.url(&format!(
            "/api/v1/integrations/{}/rotate-secret",
            github_integration.id
        )))
        .bearer_auth(target.token("acme", &[Scope::Admin]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rotated: Value = resp.json().await.unwrap();
    let resp = github(
        &target,
        &github_integration.id,
        rotated["secret"].as_str().unwrap(),
        "ping",
        "d-2",
        &payload,
    )
    .await;
    assert!(resp.status().is_success(), "{}", resp.status());

    // The subscription came back inactive and without a secret: re-enabling it needs a new
    // secret first.
    let target_admin = target.token("acme", &[Scope::Admin]);
    let path = format!("/api/v1/webhook-subscriptions/{subscription_id}");
    let got: Value = target.get(&path, &target_admin).await.json().await.unwrap();
    assert_eq!(got["active"], false);
    assert_eq!(got["events"], json!(["incident"]));
    assert!(
        got["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("exported without its signing secret"),
        "{got}"
    );
    let enable = || {
        target
            .client
            .patch(target.url(&path))
            .bearer_auth(&target_admin)
            .json(&json!({"active": true}))
            .send()
    };
    let resp = enable().await.unwrap();
    assert_eq!(resp.status(), 409);
    let resp = target
        .post_json(&format!("{path}/rotate-secret"), &target_admin, &json!({}))
        .await;
    assert_eq!(resp.status(), 200);
    let resp = enable().await.unwrap();
    assert_eq!(resp.status(), 200);
    let enabled: Value = resp.json().await.unwrap();
    assert_eq!(enabled["active"], true);
    assert_eq!(enabled["disabled_reason"], Value::Null);

    // A second import into an organization with data is refused, unless told to replace it.
    let again = run(&["import", file, "--to", &target_url], "sqlite://unused.db");
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already has data"),
        "{}",
        text(&again.stderr)
    );
    let replaced = run(
        &["import", file, "--to", &target_url, "--replace"],
        "sqlite://unused.db",
    );
    assert!(replaced.status.success(), "{}", text(&replaced.stderr));
    let after = answers(&target, &target.rw_token("acme")).await;
    for ((path, expected), (_, actual)) in before.iter().zip(&after) {
        assert_eq!(actual, expected, "{path} after --replace");
    }
}

#[tokio::test]
async fn a_truncated_or_foreign_file_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source_url = format!("sqlite://{}/source.db?mode=rwc", dir.path().display());
    let source = spawn_app_at(&source_url, |_| {}).await;
    let token = source.rw_token("acme");
    for n in 0..3 {
        source
            .create_deployment(
                &token,
                &crate::helpers::deployment("https://github.com/acme/web", n),
            )
            .await;
    }
    let exported = run(&["export"], &source_url);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let backup = text(&exported.stdout);
    let (target_url, _target_db) = test_database().await;
    let cases = [
        (
            "truncated",
            backup
                .lines()
                .take(backup.lines().count() - 1)
                .collect::<Vec<_>>()
                .join("\n"),
            "truncated",
        ),
        (
            "foreign",
            "{\"hello\": 1}\n".to_owned(),
            "not a dora-tracker export",
        ),
        (
            "recounted",
            backup.replace("\"deployment\":3", "\"deployment\":4"),
            "end line counts",
        ),
    ];
    for (name, content, message) in cases {
        let file = dir.path().join(format!("{name}.ndjson"));
        std::fs::write(&file, content).unwrap();
        let out = run(
            &["import", file.to_str().unwrap(), "--to", &target_url],
            "sqlite://unused.db",
        );
        assert!(!out.status.success(), "{name}");
        assert!(
            text(&out.stderr).contains(message),
            "{name}: {}",
            text(&out.stderr)
        );
    }
    // Nothing of the failed imports stayed.
    let target = spawn_app_at(&target_url, |_| {}).await;
    assert_eq!(target.deployment_rows().await, 0);
}
