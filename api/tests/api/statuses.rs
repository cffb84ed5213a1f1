//! `/api/v1/deployments/{id}/statuses`: history, the deployment's status and timing, and
//! auto_inactive.

use serde_json::{Value, json};

use crate::helpers::{deployment, problem, spawn_app};

const REPO: &str = "https://github.com/acme/web";

async fn post_status(
    app: &crate::helpers::TestApp,
    token: &str,
    id: &str,
    body: Value,
) -> reqwest::Response {
    app.post_json(&format!("/api/v1/deployments/{id}/statuses"), token, &body)
        .await
}

async fn created(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn get_deployment(app: &crate::helpers::TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/deployments/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

async fn states(app: &crate::helpers::TestApp, token: &str, id: &str) -> Vec<String> {
    let page: Value = app
        .get(&format!("/api/v1/deployments/{id}/statuses"), token)
        .await
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect()
}

fn unfinished(n: u32, environment: &str) -> Value {
    let mut body = deployment(REPO, n);
    body["status"] = json!("in_progress");
    body["environment"] = json!(environment);
    body
}

#[tokio::test]
async fn statuses_move_the_deployment() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let d = app
        .create_deployment(&token, &unfinished(1, "production"))
        .await;
    let id = d["id"].as_str().unwrap();

    let s = created(post_status(&app, &token, id, json!({"state": "pending"})).await).await;
    assert_eq!(s["state"], "pending");
    assert_eq!(s["environment"], "production");
    assert_eq!(s["creator"], "test");
    assert_eq!(get_deployment(&app, &token, id).await["status"], "queued");

    created(post_status(&app, &token, id, json!({"state": "in_progress"})).await).await;
    let now = get_deployment(&app, &token, id).await;
    assert_eq!(now["status"], "in_progress");
    assert!(now["started_at"].is_string());
    assert!(now["finished_at"].is_null());

    let s = created(
        post_status(
            &app,
            &token,
            id,
            json!({"state": "success", "log_url": "https://ci.example.com/1",
                   "description": "done", "environment_url": "https://example.com"}),
        )
        .await,
    )
    .await;
    assert_eq!(s["target_url"], "https://ci.example.com/1");
    assert_eq!(s["log_url"], "https://ci.example.com/1");
    let one: Value = app
        .get(
            &format!("/api/v1/deployments/{id}/statuses/{}", s["id"]),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one, s);
    let now = get_deployment(&app, &token, id).await;
    assert_eq!(now["status"], "success");
    assert_eq!(now["finished_at"], s["created_at"]);
    assert_eq!(now["deployed_at"], s["created_at"]);

    // A second success does not move the deploy time.
    created(post_status(&app, &token, id, json!({"state": "success"})).await).await;
    assert_eq!(
        get_deployment(&app, &token, id).await["finished_at"],
        s["created_at"]
    );
    assert_eq!(
        states(&app, &token, id).await,
        ["success", "success", "in_progress", "pending"]
    );
}

#[tokio::test]
async fn a_given_finished_at_stands_and_failures_finish() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut body = deployment(REPO, 1);
    body["finished_at"] = json!("2026-01-02T03:04:05Z");
    let d = app.create_deployment(&token, &body).await;
    let id = d["id"].as_str().unwrap();
    created(post_status(&app, &token, id, json!({"state": "success"})).await).await;
    assert_eq!(
        get_deployment(&app, &token, id).await["deployed_at"],
        "2026-01-02T03:04:05+00:00"
    );

    let d = app
        .create_deployment(&token, &unfinished(2, "production"))
        .await;
    let id = d["id"].as_str().unwrap();
    let f = created(post_status(&app, &token, id, json!({"state": "error"})).await).await;
    let now = get_deployment(&app, &token, id).await;
    assert_eq!(now["status"], "error");
    assert_eq!(now["finished_at"], f["created_at"]);
    // inactive never hides a failure from the metrics.
    created(post_status(&app, &token, id, json!({"state": "inactive"})).await).await;
    assert_eq!(get_deployment(&app, &token, id).await["status"], "error");
    assert_eq!(states(&app, &token, id).await, ["inactive", "error"]);
}

#[tokio::test]
async fn environment_is_inherited_and_can_change() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let d = app
        .create_deployment(&token, &unfinished(1, "staging"))
        .await;
    let id = d["id"].as_str().unwrap();
    let s = created(post_status(&app, &token, id, json!({"state": "queued"})).await).await;
    assert_eq!(s["environment"], "staging");
    let s = created(
        post_status(
            &app,
            &token,
            id,
            json!({"state": "in_progress", "environment": "qa"}),
        )
        .await,
    )
    .await;
    assert_eq!(s["environment"], "qa");
    let s = created(post_status(&app, &token, id, json!({"state": "success"})).await).await;
    assert_eq!(s["environment"], "qa");
    assert_eq!(get_deployment(&app, &token, id).await["environment"], "qa");
}

#[tokio::test]
async fn invalid_statuses_are_rejected() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let d = app
        .create_deployment(&token, &unfinished(1, "production"))
        .await;
    let id = d["id"].as_str().unwrap();

    let long = "x".repeat(141);
    let (status, body) = problem(
        post_status(
            &app,
            &token,
            id,
            json!({"state": "success", "description": long}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "description");
    created(
        post_status(
            &app,
            &token,
            id,
            json!({"state": "queued", "description": "é".repeat(140)}),
        )
        .await,
    )
    .await;
    for bad in [
        json!({"state": "done"}),
        json!({"state": "canceled"}),
        json!({"state": "success", "log_url": "ftp://x"}),
        json!({"state": "success", "environment": "bad env"}),
        json!({"state": "success", "extra": 1}),
        json!({}),
    ] {
        let (status, _) = problem(post_status(&app, &token, id, bad.clone()).await).await;
        assert_eq!(status, 422, "{bad}");
    }
    assert_eq!(states(&app, &token, id).await, ["queued"]);

    let unknown = uuid::Uuid::now_v7();
    let (status, _) = problem(
        post_status(
            &app,
            &token,
            &unknown.to_string(),
            json!({"state": "success"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    let other = app.rw_token("other");
    let (status, _) =
        problem(post_status(&app, &other, id, json!({"state": "success"})).await).await;
    assert_eq!(status, 404);
    let (status, _) = problem(
        app.get(&format!("/api/v1/deployments/{id}/statuses"), &other)
            .await,
    )
    .await;
    assert_eq!(status, 404);
    let read_only = app.token("acme", &[api::auth::Scope::Read]);
    let (status, _) =
        problem(post_status(&app, &read_only, id, json!({"state": "success"})).await).await;
    assert_eq!(status, 403);
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/deployments/{id}/statuses")))
        .json(&json!({"state": "success"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, 401);
}

#[tokio::test]
async fn auto_inactive_marks_prior_non_production_successes() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut ids = Vec::new();
    for n in 1..=3 {
        let d = app
            .create_deployment(&token, &unfinished(n, "staging"))
            .await;
        ids.push(d["id"].as_str().unwrap().to_owned());
    }
    // A failed one and a production one are never marked.
    let failed = app
        .create_deployment(&token, &unfinished(4, "staging"))
        .await;
    let failed = failed["id"].as_str().unwrap().to_owned();
    let prod = app
        .create_deployment(&token, &unfinished(5, "production"))
        .await;
    let prod = prod["id"].as_str().unwrap().to_owned();
    created(post_status(&app, &token, &prod, json!({"state": "success"})).await).await;
    created(post_status(&app, &token, &ids[0], json!({"state": "success"})).await).await;
    created(post_status(&app, &token, &failed, json!({"state": "failure"})).await).await;
    // auto_inactive false: the first stays success.
    created(
        post_status(
            &app,
            &token,
            &ids[1],
            json!({"state": "success", "auto_inactive": false}),
        )
        .await,
    )
    .await;
    assert_eq!(states(&app, &token, &ids[0]).await, ["success"]);
    // Default: the earlier successes of staging get an inactive status.
    created(post_status(&app, &token, &ids[2], json!({"state": "success"})).await).await;
    assert_eq!(states(&app, &token, &ids[0]).await, ["inactive", "success"]);
    assert_eq!(states(&app, &token, &ids[1]).await, ["inactive", "success"]);
    assert_eq!(states(&app, &token, &ids[2]).await, ["success"]);
    assert_eq!(states(&app, &token, &failed).await, ["failure"]);
    assert_eq!(states(&app, &token, &prod).await, ["success"]);
    // The record keeps its deploy time, so the metrics still count the success.
    let first = get_deployment(&app, &token, &ids[0]).await;
    assert_eq!(first["status"], "inactive");
    assert!(first["finished_at"].is_string());
    assert_eq!(first["deployed_at"], first["finished_at"]);
}

#[tokio::test]
async fn auto_inactive_keeps_a_success_recorded_without_finished_at_finished() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut body = deployment(REPO, 1);
    body["environment"] = json!("staging");
    let old = app.create_deployment(&token, &body).await;
    let old_id = old["id"].as_str().unwrap();
    assert!(old["finished_at"].is_null());
    let new = app
        .create_deployment(&token, &unfinished(2, "staging"))
        .await;
    created(
        post_status(
            &app,
            &token,
            new["id"].as_str().unwrap(),
            json!({"state": "success"}),
        )
        .await,
    )
    .await;
    let now = get_deployment(&app, &token, old_id).await;
    assert_eq!(now["status"], "inactive");
    assert_eq!(now["finished_at"], old["deployed_at"]);
    assert_eq!(now["deployed_at"], old["deployed_at"]);
}

/// Two statuses posted to one deployment at the same moment both land on its row: the second
/// writer waits for the first (a row lock on PostgreSQL; SQLite has one writer), instead of
/// writing back what it read before the first committed (which loses `started_at`).
#[tokio::test]
async fn concurrent_statuses_of_one_deployment_lose_nothing() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut ids = Vec::new();
    for n in 1..=12 {
        let mut body = deployment(REPO, n);
        body["status"] = json!("queued");
        ids.push(
            app.create_deployment(&token, &body).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let posts = ids.iter().flat_map(|id| {
        ["in_progress", "success"].map(|state| {
            let (app, token) = (&app, &token);
            async move { created(post_status(app, token, id, json!({"state": state})).await).await }
        })
    });
    futures_util::future::join_all(posts).await;
    for id in &ids {
        let d = get_deployment(&app, &token, id).await;
        // The later of the two is the current state, whichever it was.
        let last = states(&app, &token, id).await;
        assert_eq!(last.len(), 2, "{last:?}");
        assert_eq!(d["status"], json!(last[0]), "{d} {last:?}");
        assert!(d["started_at"].is_string(), "in_progress was lost: {d}");
        assert!(d["finished_at"].is_string(), "success was lost: {d}");
    }
}
