//! Bad input: a clear 4xx with per-field messages, never a 5xx, never a partial write.

use serde_json::{Value, json};

use crate::helpers::{deployment, problem, spawn_app};

#[tokio::test]
async fn invalid_bodies_are_422_with_the_field_named() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let base = deployment("https://github.com/acme/web", 1);
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("unknown field", with("bogus", json!(1)), "bogus"),
        (
            "organization in body",
            with("organization_id", json!("x")),
            "organization_id",
        ),
        ("missing title", without("title"), "title"),
        ("missing member", without("member_id"), "member_id"),
        (
            "missing PR number",
            without("pull_request_number"),
            "pull_request_number",
        ),
        ("empty title", with("title", json!("")), "title"),
        ("blank title", with("title", json!("   ")), "title"),
        ("long title", with("title", json!("x".repeat(501))), "title"),
        (
            "commit not hex",
            with("commit_id", json!("not-a-sha")),
            "commit_id",
        ),
        (
            "commit too short",
            with("commit_id", json!("abc")),
            "commit_id",
        ),
        (
            "repository not a URL",
            with("repository_url", json!("not a url")),
            "repository_url",
        ),
        (
            "repository file URL",
            with("repository_url", json!("file:///etc/passwd")),
            "repository_url",
        ),
        (
            "url not http",
            with("url", json!("javascript:alert(1)")),
            "url",
        ),
        ("status unknown", with("status", json!("done")), "status"),
        ("wrong type", with("is_fix", json!("yes")), "is_fix"),
        (
            "negative duration",
            with("deployment_duration", json!(-1)),
            "deployment_duration",
        ),
        (
            "negative PR",
            with("pull_request_number", json!(-5)),
            "pull_request_number",
        ),
        (
            "bad environment",
            with("environment", json!("prod uction")),
            "environment",
        ),
        (
            "bad timestamp",
            with("finished_at", json!("yesterday")),
            "finished_at",
        ),
        (
            "future finish",
            with("finished_at", json!("2999-01-01T00:00:00Z")),
            "finished_at",
        ),
        (
            "control characters",
            with("title", json!("a\u{0007}b")),
            "title",
        ),
        (
            "unknown commit field",
            with(
                "commits",
                json!([{"sha": "abcdef1", "committed_at": "2026-01-01T00:00:00Z", "x": 1}]),
            ),
            "commits[0].x",
        ),
        (
            "bad commit sha",
            with(
                "commits",
                json!([{"sha": "zz", "committed_at": "2026-01-01T00:00:00Z"}]),
            ),
            "commits[0].sha",
        ),
    ];
    for (why, body, field) in cases {
        let resp = app.post_json("/api/v1/deployments", &token, &body).await;
        let (status, problem) = problem(resp).await;
        assert_eq!(status, 422, "{why}: {problem}");
        assert_eq!(problem["type"], "validation-failed", "{why}");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&field),
            "{why}: expected {field} in {fields:?}"
        );
    }

    let mut timing = base.clone();
    timing["started_at"] = json!("2026-01-01T10:00:00Z");
    timing["finished_at"] = json!("2026-01-01T09:00:00Z");
    let (status, _) = problem(app.post_json("/api/v1/deployments", &token, &timing).await).await;
    assert_eq!(status, 422, "finished before started");
    let mut unfinished = base.clone();
    unfinished["status"] = json!("in_progress");
    unfinished["finished_at"] = json!("2026-01-01T09:00:00Z");
    let (status, _) = problem(
        app.post_json("/api/v1/deployments", &token, &unfinished)
            .await,
    )
    .await;
    assert_eq!(status, 422, "in progress yet finished");

    assert_eq!(app.deployment_rows().await, 0, "nothing was written");
}

#[tokio::test]
async fn malformed_requests_are_4xx_problems() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let post = |body: Vec<u8>, content_type: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            app.client
                .post(app.url("/api/v1/deployments"))
                .bearer_auth(&token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let (status, body) = problem(post(b"{not json".to_vec(), "application/json").await).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (400, Some("malformed-json"))
    );
    let (status, _) = problem(post(b"[1,2]".to_vec(), "application/json").await).await;
    assert_eq!(status, 422);
    let (status, _) = problem(post(b"".to_vec(), "application/json").await).await;
    assert_eq!(status, 400);
    let (status, _) =
        problem(post(b"title=x".to_vec(), "application/x-www-form-urlencoded").await).await;
    assert_eq!(status, 415);
    let big = format!("{{\"title\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let (status, _) = problem(post(big.into_bytes(), "application/json").await).await;
    assert_eq!(status, 413);
    assert_eq!(app.deployment_rows().await, 0);
}

#[tokio::test]
async fn a_body_without_length_is_capped_while_read() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let resp = app
        .client
        .post(app.url("/api/v1/deployments"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    let (status, _) = problem(resp).await;
    assert_eq!(status, 413);
}

/// A list of strings holding a non-string is refused (422 naming it), never taken as some
/// string: poem-openapi's reader alone takes `[false]` for `Vec<String>` (schemathesis found
/// it, through a debug assertion that closed the connection).
#[tokio::test]
async fn a_non_string_in_a_list_of_strings_is_422() {
    let app = crate::helpers::spawn_app().await;
    let admin = app.token("acme", &[api::auth::Scope::Admin]);
    let policy = serde_json::json!({
        "name": "ci", "issuer": "https://token.actions.githubusercontent.com",
        "audience": "dora-tracker", "conditions": {}, "repository_claim": "repository",
        "scopes": [false],
    });
    let token = serde_json::json!({"name": "ci", "scopes": [false]});
    for (path, body) in [
        ("/api/v1/trust-policies", policy),
        ("/api/v1/tokens", token),
    ] {
        let (status, problem) =
            crate::helpers::problem(app.post_json(path, &admin, &body).await).await;
        assert_eq!(status, 422, "{path}: {problem}");
        assert_eq!(
            problem["errors"][0]["field"], "scopes[0]",
            "{path}: {problem}"
        );
    }
}
