//! `Idempotency-Key`: one row per key, replays, mismatches and keys in flight.

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

#[tokio::test]
async fn a_key_in_flight_is_409() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let body = deployment("https://github.com/acme/web", 1);
    // Another request holds the key: claim it the way the service does mid-request.
    let core = &app.state.core;
    let org = core.tenants.organization_id(core, "acme").await.unwrap();
    let fingerprint = api::core::idempotency::fingerprint("POST /api/v1/deployments", &body);
    let held = claim(
        &app.state.core.db,
        org,
        "busy",
        &fingerprint,
        chrono::Duration::hours(24),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(matches!(held, Claim::Acquired));

    let resp = app
        .client
        .post(app.url("/api/v1/deployments"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "busy")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, problem_body) = problem(resp).await;
    assert_eq!(status, 409);
    assert_eq!(problem_body["type"], "idempotency-key-in-flight");
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
    let mut ids = std::collections::HashSet::new();
    while let Some(r) = tasks.join_next().await {
        let (status, json) = r.unwrap();
        assert!(status == 201 || status == 409, "status {status}: {json}");
        if status == 201 {
            ids.insert(json["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(ids.len(), 1, "every success names the same deployment");
    assert_eq!(app.deployment_rows().await, 1);
}
