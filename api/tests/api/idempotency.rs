//! `Idempotency-Key`: one row per key, replays, mismatches, keys whose request died, and
//! the rule on the key's bytes.

use api::store::idempotency::{Claim, claim};
use serde_json::{Value, json};

use crate::helpers::{deployment, problem, spawn_app};

#[tokio::test]
async fn same_key_same_body_replays_the_stored_response() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let body = deployment("https://github.com/acme/web", 1);
    let send = |body: Value, key: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            app.client
                .post(app.url("/api/v1/deployments"))
                .bearer_auth(&token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = send(body.clone(), "key-1").await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();

    // The same JSON with another key order is the same request.
    let reordered: Value = serde_json::from_str(
        &serde_json::to_string(&json!({
            "pull_request_number": body["pull_request_number"],
            "member_id": body["member_id"],
            "repository_url": body["repository_url"],
            "commit_id": body["commit_id"],
            "branch": body["branch"],
            "title": body["title"],
        }))
        .unwrap(),
    )
    .unwrap();
    let second = send(reordered, "key-1").await;
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["location"], first_location);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second, first);
    assert_eq!(app.deployment_rows().await, 1);

    // Same key, different body.
    let mut changed = body.clone();
    changed["title"] = json!("Something else");
    let (status, problem_body) = problem(send(changed, "key-1").await).await;
    assert_eq!(status, 422);
    assert_eq!(problem_body["type"], "idempotency-key-reused");
    assert_eq!(app.deployment_rows().await, 1);

    // Keys belong to an organization: globex's key-1 is its own.
    let theirs = app
        .client
        .post(app.url("/api/v1/deployments"))
        .bearer_auth(app.rw_token("globex"))
        .header("Idempotency-Key", "key-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.deployment_rows().await, 2);

    // A rejected request leaves the key free for the corrected one.
    let mut bad = body.clone();
    bad["commit_id"] = json!("nope");
    assert_eq!(send(bad, "key-2").await.status(), 422);
    assert_eq!(
        send(deployment("https://github.com/acme/web", 2), "key-2")
            .await
            .status(),
        201
    );

    let (status, _) = problem(send(body.clone(), "").await).await;
    assert_eq!(status, 400, "an empty key is refused");
}

/// A claim belongs to the transaction of the request that made it: when that work dies
/// before committing (here the transaction is dropped, as when the process is killed or the
/// connection to the database is lost), the key is free at once. (A claim used to be
/// committed on its own and answered 409 `idempotency-key-in-flight` for five minutes.)
#[tokio::test]
async fn a_key_whose_work_died_is_free_at_once() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let body = deployment("https://github.com/acme/web", 1);
    let core = &app.state.core;
    let org = core.tenants.organization_id(core, "acme").await.unwrap();
    let fingerprint = api::core::idempotency::fingerprint("POST /api/v1/deployments", &body);
    {
        // The service's own first steps: a write transaction, the claim in it.
        let txn = core.db.begin_write().await.unwrap();
        let held = claim(
            &txn,
            org,
            "dies",
            &fingerprint,
            chrono::Duration::hours(24),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        assert!(matches!(held, Claim::Acquired));
        // … and then the work dies: the transaction ends without a commit.
        drop(txn);
    }
    let started = std::time::Instant::now();
    let send = || {
        app.client
            .post(app.url("/api/v1/deployments"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "dies")
            .json(&body)
            .send()
    };
    let retry = send().await.unwrap();
    assert_eq!(retry.status(), 201, "{}", retry.text().await.unwrap());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let again = send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.deployment_rows().await, 1);
}

/// `Idempotency-Key: café-1` (bytes outside visible ASCII) is refused with 400 by every
/// operation that takes the header, and records nothing. (poem-openapi's header extractor
/// used to drop such a value, so each retry recorded a new row.)
#[tokio::test]
async fn keys_outside_visible_ascii_are_400_everywhere() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let body = deployment("https://github.com/acme/web", 1);
    let github = json!({"ref": "abcdef1234567", "environment": "production"});
    for (path, body, github_shape) in [
        ("/api/v1/deployments", &body, false),
        ("/v1/organization/deployment", &body, false),
        ("/api/v3/repos/acme/web/deployments", &github, true),
    ] {
        let keys: [&[u8]; 3] = ["café-1".as_bytes(), b"caf\xe9-1", b"tab\tkey"];
        for key in keys {
            let Ok(value) = reqwest::header::HeaderValue::from_bytes(key) else {
                continue;
            };
            for _ in 0..2 {
                let resp = app
                    .client
                    .post(app.url(path))
                    .header("Authorization", format!("Bearer {token}"))
                    .header("Idempotency-Key", value.clone())
                    .json(body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap();
                assert_eq!(status, 400, "{path} {key:?}: {text}");
                if !github_shape {
                    assert!(text.contains("invalid-idempotency-key"), "{text}");
                }
            }
        }
    }
    assert_eq!(app.deployment_rows().await, 0);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_record_one_deployment() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let body = deployment("https://github.com/acme/web", 1);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let client = app.client.clone();
        let url = app.url("/api/v1/deployments");
        let (token, body) = (token.clone(), body.clone());
        tasks.spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "same")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let json: Value = resp.json().await.unwrap();
            (status, json)
        });
    }
    // The later ones wait for the first and replay its answer: no 409.
    let mut ids = std::collections::HashSet::new();
    while let Some(r) = tasks.join_next().await {
        let (status, json) = r.unwrap();
        assert_eq!(status, 201, "{json}");
        ids.insert(json["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every success names the same deployment");
    assert_eq!(app.deployment_rows().await, 1);
}
