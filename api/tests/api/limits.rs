//! Per-organization rate limits on the authenticated API (`core::limits`): over the limit a
//! request is refused with 429, `Retry-After` and the IETF `RateLimit`/`RateLimit-Policy`
//! fields, in the shape of its surface; other organizations and deploy hooks are not
//! affected.

use serde_json::{Value, json};

use crate::helpers::{deployment, problem, spawn_app, spawn_app_with};

const REPO: &str = "https://github.com/acme/web";

#[tokio::test]
async fn an_organization_over_its_limit_gets_429_with_rate_limit_headers() {
    let app = spawn_app_with(|args| {
        args.server.api_rate_per_minute = 60;
        args.server.api_burst = 3;
    })
    .await;
    let acme = app.rw_token("acme");
    for n in 1..=3 {
        app.create_deployment(&acme, &deployment(REPO, n)).await;
    }
    let resp = app
        .post_json("/api/v1/deployments", &acme, &deployment(REPO, 4))
        .await;
    let headers = resp.headers().clone();
    let (status, body) = problem(resp).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["type"], "rate-limited");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        headers["ratelimit"].to_str().unwrap(),
        format!("\"organization\";r=0;t={retry_after}")
    );
    assert_eq!(
        headers["ratelimit-policy"].to_str().unwrap(),
        "\"organization\";q=60;w=60"
    );
    // Reads count too; nothing was recorded by the refused request.
    assert_eq!(app.get("/api/v1/deployments", &acme).await.status(), 429);
    assert_eq!(app.deployment_rows().await, 3);

    // Another organization has its own allowance.
    app.create_deployment(&app.rw_token("globex"), &deployment(REPO, 5))
        .await;

    // The GitHub-compatible API answers in GitHub's shape, with the same headers.
    let resp = app
        .client
        .post(app.url("/api/v3/repos/acme/web/deployments"))
        .header("Authorization", format!("token {acme}"))
        .json(&json!({"ref": "abcdef1234567"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(resp.headers().contains_key("ratelimit-policy"));
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("rate limit"),
        "{body}"
    );
    assert!(body["documentation_url"].is_string());

    // Deploy hooks keep their own limits: globex's API allowance used up (its create above,
    // the hook's creation, one read), its hook still triggers.
    let admin = app.token("globex", &[api::auth::Scope::Admin]);
    let hook: Value = app
        .post_json(
            "/api/v1/deploy-hooks",
            &admin,
            &json!({"name": "prod", "repository_url": REPO, "branch": "main"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = hook["secret"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/deployments", &admin).await.status(), 200);
    assert_eq!(app.get("/api/v1/deployments", &admin).await.status(), 429);
    let trigger = app
        .client
        .post(app.url(&format!("/hooks/{secret}")))
        .send()
        .await
        .unwrap();
    assert_eq!(trigger.status(), 200, "hooks are limited on their own");
}

/// The defaults are generous: a burst of 300 creates from one token (20 clients at once)
/// all pass.
#[tokio::test]
async fn the_default_limits_let_a_burst_through() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..20u32 {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/api/v1/deployments"),
            token.clone(),
        );
        tasks.spawn(async move {
            for n in 0..15 {
                let resp = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&deployment(REPO, c * 100 + n))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}
