//! Deploy hooks: the managed API (admin), secret trigger URLs in Cloudflare's (POST) and
//! Flightcontrol's (GET, preview) shapes, the dedupe rule, rate limits, deletion, and
//! that a secret never shows after creation, in responses or in the logs.

use api::auth::Scope;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, spawn_app, spawn_app_with};

const REPO: &str = "https://github.com/acme/web";

fn admin(app: &TestApp, org: &str) -> String {
    app.token(org, &[Scope::Admin])
}

fn hook_body(name: &str) -> Value {
    json!({"name": name, "repository_url": REPO, "branch": "main"})
}

/// Creates a hook and returns (its id, its secret, the creation response).
async fn create_hook(app: &TestApp, token: &str, body: &Value) -> (String, String, Value) {
    let resp = app.post_json("/api/v1/deploy-hooks", token, body).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 201, "create failed: {text}");
    let value: Value = serde_json::from_str(&text).unwrap();
    (
        value["id"].as_str().unwrap().to_owned(),
        value["secret"].as_str().unwrap().to_owned(),
        value,
    )
}

async fn post(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.post(app.url(path)).send().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

/// A trigger that must succeed; returns its JSON.
async fn ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "trigger failed: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn deployment(app: &TestApp, token: &str, id: &str) -> Value {
    let resp = app.get(&format!("/api/v1/deployments/{id}"), token).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn managed_hooks_need_admin_and_validate() {
    let app = spawn_app().await;
    let rw = app.rw_token("acme");
    let (status, body) = problem(
        app.post_json("/api/v1/deploy-hooks", &rw, &hook_body("prod"))
            .await,
    )
    .await;
    assert_eq!((status, body["type"].as_str()), (403, Some("forbidden")));
    let resp = app.get("/api/v1/deploy-hooks", &rw).await;
    assert_eq!(resp.status(), 403);
    let resp = app
        .client
        .get(app.url("/api/v1/deploy-hooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let token = admin(&app, "acme");
    for (body, field) in [
        (
            json!({"name": "x".repeat(59), "repository_url": REPO, "branch": "main"}),
            "name",
        ),
        (
            json!({"name": "  ", "repository_url": REPO, "branch": "main"}),
            "name",
        ),
        (
            json!({"name": "a", "repository_url": "not a url", "branch": "main"}),
            "repository_url",
        ),
        (json!({"name": "a", "repository_url": REPO}), "branch"),
        (
            json!({"name": "a", "repository_url": REPO, "branch": "main", "environment": "prod uction"}),
            "environment",
        ),
        (
            json!({"name": "a", "repository_url": REPO, "branch": "main", "secret": "mine"}),
            "secret",
        ),
    ] {
        let (status, problem_body) =
            problem(app.post_json("/api/v1/deploy-hooks", &token, &body).await).await;
        assert_eq!(status, 422, "{body}: {problem_body}");
        assert!(
            problem_body.to_string().contains(field),
            "{field} not named in {problem_body}"
        );
    }
    // 58 characters (multi-byte ones count as one) are fine.
    let (_, _, created) = create_hook(
        &app,
        &token,
        &json!({"name": "é".repeat(58), "repository_url": REPO, "branch": "main"}),
    )
    .await;
    assert_eq!(created["environment"], "production");
}

#[tokio::test]
async fn hooks_crud_conflicts_and_tenancy() {
    let app = spawn_app().await;
    let token = admin(&app, "acme");
    let (id, secret, created) = create_hook(
        &app,
        &token,
        &json!({"name": "prod", "repository_url": REPO, "branch": "main", "environment": "production"}),
    )
    .await;
    assert_eq!(secret.len(), 43, "32 bytes, URL-safe base64");
    assert_eq!(created["path"], format!("/hooks/{secret}"));
    assert_eq!(created["url"], app.url(&format!("/hooks/{secret}")));
    assert_eq!(created["repository"], "acme/web");
    assert_eq!(created["branch"], "main");
    assert!(created["last_triggered_at"].is_null());
    assert!(created["last_deployment"].is_null());

    // Same name, same repository (another spelling): 409. Same name, other repository: fine.
    let dup =
        json!({"name": "prod", "repository_url": "git@github.com:Acme/Web.git", "branch": "x"});
    let (status, body) = problem(app.post_json("/api/v1/deploy-hooks", &token, &dup).await).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (409, Some("deploy-hook-name-taken"))
    );
    let other =
        json!({"name": "prod", "repository_url": "https://github.com/acme/api", "branch": "main"});
    let (other_id, _, _) = create_hook(&app, &token, &other).await;

    // Read back: no secret anywhere.
    let list = app
        .get("/api/v1/deploy-hooks", &token)
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&secret));
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(list["items"][0].get("secret").is_none());
    let one: Value = app
        .get(&format!("/api/v1/deploy-hooks/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "prod");
    assert!(one.get("secret").is_none() && one.get("url").is_none());

    // PUT is a full replace: the same required fields; environment defaults again.
    let put = |body: Value, id: String| {
        let app = &app;
        let token = token.clone();
        async move {
            app.client
                .put(app.url(&format!("/api/v1/deploy-hooks/{id}")))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let resp = put(json!({"name": "prod"}), id.clone()).await;
    assert_eq!(problem(resp).await.0, 422);
    let resp = put(
        json!({"name": "renamed", "repository_url": REPO, "branch": "release", "environment": "staging"}),
        id.clone(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let replaced: Value = resp.json().await.unwrap();
    assert_eq!(replaced["name"], "renamed");
    assert_eq!(replaced["branch"], "release");
    assert_eq!(replaced["environment"], "staging");
    assert!(!replaced.to_string().contains(&secret));
    let resp = put(
        json!({"name": "x", "repository_url": REPO, "branch": "main"}),
        id.clone(),
    )
    .await;
    let replaced: Value = resp.json().await.unwrap();
    assert_eq!(replaced["environment"], "production");
    // Renaming onto another hook of the same repository: 409.
    let resp = put(
        json!({"name": "prod", "repository_url": "https://github.com/acme/api", "branch": "main"}),
        id.clone(),
    )
    .await;
    assert_eq!(problem(resp).await.0, 409);
    // The secret survives a replace.
    ok(post(&app, &format!("/hooks/{secret}")).await).await;

    // Another organization sees nothing: 404 like an unknown id.
    let other_org = admin(&app, "globex");
    for path in [
        format!("/api/v1/deploy-hooks/{id}"),
        "/api/v1/deploy-hooks/0196d1d4-0000-7000-8000-000000000000".to_owned(),
        "/api/v1/deploy-hooks/not-a-uuid".to_owned(),
    ] {
        let (status, body) = problem(app.get(&path, &other_org).await).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (404, Some("deploy hook not found"))
        );
    }
    let list: Value = app
        .get("/api/v1/deploy-hooks", &other_org)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]));
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/deploy-hooks/{id}")))
        .bearer_auth(&other_org)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // DELETE answers with the deleted hook; then it is gone and its URL is dead.
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/deploy-hooks/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let deleted: Value = resp.json().await.unwrap();
    assert_eq!(deleted["id"], id.as_str());
    assert!(deleted["last_deployment"]["id"].is_string());
    assert!(!deleted.to_string().contains(&secret));
    assert_eq!(
        app.get(&format!("/api/v1/deploy-hooks/{id}"), &token)
            .await
            .status(),
        404
    );
    let list: Value = app
        .get("/api/v1/deploy-hooks", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], other_id.as_str());
    // The deployment it recorded stays.
    assert_eq!(app.deployment_rows().await, 1);
}

#[tokio::test]
async fn unknown_and_deleted_secrets_answer_404_alike() {
    let app = spawn_app().await;
    let token = admin(&app, "acme");
    let (id, secret, _) = create_hook(&app, &token, &hook_body("prod")).await;
    let unknown = "A".repeat(43);

    let bodies = |secret: String| {
        let app = &app;
        async move {
            let mut out = Vec::new();
            for resp in [
                post(app, &format!("/hooks/{secret}")).await,
                get(app, &format!("/hooks/{secret}")).await,
                get(app, &format!("/hooks/{secret}?commit=abcdef1&branch=main")).await,
                get(app, &format!("/hooks/{secret}/12/abcdef1")).await,
                post(app, &format!("/hooks/{secret}/12/abcdef1")).await,
            ] {
                let (status, body) = problem(resp).await;
                out.push((status, body));
            }
            out
        }
    };
    let unknown_answers = bodies(unknown).await;
    for (status, body) in &unknown_answers {
        assert_eq!(*status, 404);
        assert_eq!(body["success"], false);
        assert_eq!(body["detail"], "deploy hook not found");
    }
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/deploy-hooks/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(bodies(secret).await, unknown_answers);
    assert_eq!(app.deployment_rows().await, 0);
}

#[tokio::test]
async fn post_trigger_records_a_deployment_and_dedupes_repeats() {
    let app = spawn_app().await;
    let token = admin(&app, "acme");
    let (id, secret, _) = create_hook(
        &app,
        &token,
        &json!({"name": "prod", "repository_url": REPO, "branch": "main"}),
    )
    .await;
    let url = format!("/hooks/{secret}");

    // Cloudflare calls it with an empty POST.
    let resp = post(&app, &url).await;
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let first = ok(resp).await;
    assert_eq!(first["success"], true);
    assert_eq!(first["errors"], json!([]));
    assert_eq!(first["result"]["already_exists"], false);
    assert_eq!(first["already_exists"], false);
    assert_eq!(first["result"]["status"], "success");
    assert_eq!(first["result"]["deployment_id"], first["deployment_id"]);
    let deployment_id = first["result"]["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = deployment(&app, &token, &deployment_id).await;
    assert_eq!(record["triggered_by"], "deploy_hook");
    assert_eq!(record["repository"], "acme/web");
    assert_eq!(record["environment"], "production");
    assert_eq!(record["is_production"], true);
    assert_eq!(record["branch"], "main");
    assert_eq!(record["commit_id"], "");
    assert_eq!(record["status"], "success");
    assert_eq!(record["title"], "Deploy hook prod");
    assert!(record["member_id"].is_null());
    assert_eq!(record["created_at"], first["result"]["created_on"]);

    // A repeat within the dedupe window (60 s by default) is the same deployment.
    let again = ok(post(&app, &url).await).await;
    assert_eq!(again["result"]["already_exists"], true);
    assert_eq!(again["result"]["deployment_id"], deployment_id.as_str());
    assert_eq!(app.deployment_rows().await, 1);

    // Another commit is another deployment; its repeat is deduped too.
    let with_commit = ok(post(&app, &format!("{url}?commit=ABCDEF1234567")).await).await;
    assert_eq!(with_commit["result"]["already_exists"], false);
    let repeat = ok(post(&app, &format!("{url}?commit=abcdef1234567")).await).await;
    assert_eq!(repeat["result"]["already_exists"], true);
    assert_eq!(
        repeat["result"]["deployment_id"],
        with_commit["result"]["deployment_id"]
    );
    let record = deployment(
        &app,
        &token,
        with_commit["result"]["deployment_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(record["commit_id"], "abcdef1234567");
    assert_eq!(record["branch"], "main");
    assert_eq!(app.deployment_rows().await, 2);

    // status=failure is recorded as such.
    let failed = ok(post(&app, &format!("{url}?commit=1234567&status=failure")).await).await;
    assert_eq!(failed["result"]["status"], "failure");
    let (status, body) = problem(post(&app, &format!("{url}?status=done")).await).await;
    assert_eq!((status, body["success"].as_bool()), (400, Some(false)));
    let (status, _) = problem(post(&app, &format!("{url}?commit=xyz")).await).await;
    assert_eq!(status, 400);
    assert_eq!(app.deployment_rows().await, 3);

    // The hook shows its latest trigger and deployment.
    let hook: Value = app
        .get(&format!("/api/v1/deploy-hooks/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(hook["last_triggered_at"].is_string());
    assert_eq!(
        hook["last_deployment"]["id"],
        failed["result"]["deployment_id"]
    );
    assert_eq!(hook["last_deployment"]["status"], "failure");
    assert_eq!(hook["last_deployment"]["commit_id"], "1234567");
    let list: Value = app
        .get("/api/v1/deploy-hooks", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["last_deployment"], hook["last_deployment"]);
}

#[tokio::test]
async fn repeats_while_in_progress_return_the_earlier_deployment() {
    // No time window: only the queued/in-progress rule dedupes.
    let app = spawn_app_with(|args| {
        args.hooks.hook_dedupe_seconds = 0;
        args.hooks.hook_burst = 1000;
        args.hooks.hook_org_burst = 1000;
    })
    .await;
    let token = admin(&app, "acme");
    let (_, secret, _) = create_hook(&app, &token, &hook_body("prod")).await;
    let url = format!("/hooks/{secret}?commit=abcdef1");

    // Concurrent triggers of one hook and commit serialize: one deployment.
    let in_progress = format!("{url}&status=in_progress");
    let sends = (0..6).map(|_| post(&app, &in_progress));
    let answers = futures_util::future::join_all(sends).await;
    let mut ids = Vec::new();
    let mut fresh = 0;
    for resp in answers {
        let value = ok(resp).await;
        if value["result"]["already_exists"] == false {
            fresh += 1;
        }
        ids.push(value["result"]["deployment_id"].clone());
    }
    assert_eq!(fresh, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.deployment_rows().await, 1);
    let id = ids[0].as_str().unwrap().to_owned();
    assert_eq!(deployment(&app, &token, &id).await["status"], "in_progress");

    // A repeat reporting the outcome finishes the deployment instead of adding one.
    let done = ok(post(&app, &format!("{url}&status=success")).await).await;
    assert_eq!(done["result"]["already_exists"], true);
    assert_eq!(done["result"]["deployment_id"], id.as_str());
    assert_eq!(done["result"]["status"], "success");
    let record = deployment(&app, &token, &id).await;
    assert_eq!(record["status"], "success");
    assert!(record["finished_at"].is_string());
    assert!(record["started_at"].is_string());

    // Finished and outside the (zero) window: a new deployment.
    let next = ok(post(&app, &url).await).await;
    assert_eq!(next["result"]["already_exists"], false);
    assert_ne!(next["result"]["deployment_id"], id.as_str());
    assert_eq!(app.deployment_rows().await, 2);
}

#[tokio::test]
async fn get_trigger_in_flightcontrol_style() {
    let app = spawn_app().await;
    let token = admin(&app, "acme");
    let (_, secret, _) = create_hook(&app, &token, &hook_body("prod")).await;

    // `branch` is required when `commit` is given; nothing is recorded.
    let resp = get(&app, &format!("/hooks/{secret}?commit=abcdef1")).await;
    let (status, body) = problem(resp).await;
    assert_eq!(status, 400);
    assert_eq!(body["success"], false);
    assert_eq!(body["type"], "branch-required");
    assert!(body["error"].as_str().unwrap().contains("branch"));
    for bad in [
        "commit=nothex!&branch=main",
        "force=maybe",
        "status=succes",
        "branch=",
    ] {
        let (status, body) = problem(get(&app, &format!("/hooks/{secret}?{bad}")).await).await;
        assert_eq!(
            (status, body["success"].as_bool()),
            (400, Some(false)),
            "{bad}"
        );
    }
    assert_eq!(app.deployment_rows().await, 0);

    let resp = get(
        &app,
        &format!("/hooks/{secret}?commit=abcdef1&branch=release/1.2&force=true"),
    )
    .await;
    let body = ok(resp).await;
    assert_eq!(body["success"], true);
    assert_eq!(body["alreadyExists"], false);
    let id = body["deploymentId"].as_str().unwrap().to_owned();
    let record = deployment(&app, &token, &id).await;
    assert_eq!(record["branch"], "release/1.2");
    assert_eq!(record["commit_id"], "abcdef1");
    assert_eq!(record["is_forced"], true);
    assert_eq!(record["triggered_by"], "deploy_hook");

    // Without parameters: the hook's branch, no commit; status in_progress is kept.
    let body = ok(get(&app, &format!("/hooks/{secret}?status=in_progress")).await).await;
    let record = deployment(&app, &token, body["deploymentId"].as_str().unwrap()).await;
    assert_eq!(record["branch"], "main");
    assert_eq!(record["status"], "in_progress");
    assert_eq!(record["is_forced"], false);
    assert_eq!(app.deployment_rows().await, 2);
}

#[tokio::test]
async fn preview_form_records_a_non_production_deployment() {
    let app = spawn_app().await;
    let token = admin(&app, "acme");
    let rw = app.rw_token("acme");
    let (_, secret, _) = create_hook(&app, &token, &hook_body("prod")).await;

    let body = ok(get(&app, &format!("/hooks/{secret}/42/ABCDEF1234")).await).await;
    assert_eq!(body["success"], true);
    let id = body["deploymentId"].as_str().unwrap().to_owned();
    let record = deployment(&app, &token, &id).await;
    assert_eq!(record["environment"], "preview");
    assert_eq!(record["is_production"], false);
    assert_eq!(record["pull_request_number"], 42);
    assert_eq!(record["commit_id"], "abcdef1234");
    assert_eq!(record["title"], "Deploy hook prod (PR #42)");

    // The same PR and commit again is deduped; the POST form answers Cloudflare-style.
    let again = ok(post(&app, &format!("/hooks/{secret}/42/abcdef1234")).await).await;
    assert_eq!(again["result"]["already_exists"], true);
    assert_eq!(again["result"]["deployment_id"], id.as_str());
    // Another PR with the same commit is another preview.
    let other = ok(get(
        &app,
        &format!("/hooks/{secret}/43/abcdef1234?status=failure"),
    )
    .await)
    .await;
    assert_ne!(other["deploymentId"], id.as_str());

    for bad in ["x/abcdef1", "-1/abcdef1", "42/nothex"] {
        let (status, body) = problem(get(&app, &format!("/hooks/{secret}/{bad}")).await).await;
        assert_eq!(
            (status, body["success"].as_bool()),
            (400, Some(false)),
            "{bad}"
        );
    }

    // Previews are not production: production listings (and the metrics, which count
    // `is_production` deployments only) do not see them.
    let production: Value = app
        .get("/api/v1/deployments?environment=production", &rw)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(production["items"], json!([]));
    let previews: Value = app
        .get("/api/v1/deployments?environment=preview", &rw)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(previews["items"].as_array().unwrap().len(), 2);
    assert!(
        previews["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["is_production"] == false)
    );
}

#[tokio::test]
async fn triggers_over_the_hook_limit_answer_429_and_record_nothing() {
    let app = spawn_app_with(|args| {
        args.hooks.hook_rate_per_minute = 3;
        args.hooks.hook_burst = 3;
    })
    .await;
    let token = admin(&app, "acme");
    let (_, secret, _) = create_hook(&app, &token, &hook_body("prod")).await;
    for n in 0..3 {
        ok(post(&app, &format!("/hooks/{secret}?commit={n:07x}")).await).await;
    }
    for path in [
        format!("/hooks/{secret}?commit=fffffff"),
        format!("/hooks/{secret}/7/fffffff"),
    ] {
        let resp = post(&app, &path).await;
        let retry_after: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let (status, body) = problem(resp).await;
        assert_eq!((status, body["type"].as_str()), (429, Some("rate-limited")));
        assert_eq!(body["success"], false);
    }
    let resp = get(&app, &format!("/hooks/{secret}?commit=fffffff&branch=main")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(app.deployment_rows().await, 3);
    // Invalid triggers are refused before they count.
    // (Another hook is not limited by this one.)
    let (_, other, _) = create_hook(&app, &token, &hook_body("staging")).await;
    ok(post(&app, &format!("/hooks/{other}")).await).await;
    assert_eq!(app.deployment_rows().await, 4);
}

#[tokio::test]
async fn triggers_over_the_organization_limit_answer_429() {
    let app = spawn_app_with(|args| {
        args.hooks.hook_org_rate_per_minute = 4;
        args.hooks.hook_org_burst = 4;
    })
    .await;
    let token = admin(&app, "acme");
    let (_, a, _) = create_hook(&app, &token, &hook_body("a")).await;
    let (_, b, _) = create_hook(&app, &token, &hook_body("b")).await;
    for (n, secret) in [&a, &b, &a, &b].into_iter().enumerate() {
        ok(post(&app, &format!("/hooks/{secret}?commit={n:07x}")).await).await;
    }
    let resp = post(&app, &format!("/hooks/{b}?commit=fffffff")).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(app.deployment_rows().await, 4);
    // Another organization has its own allowance.
    let globex = admin(&app, "globex");
    let (_, c, _) = create_hook(&app, &globex, &hook_body("c")).await;
    ok(post(&app, &format!("/hooks/{c}")).await).await;
}

#[test]
fn zero_limits_are_refused_at_start() {
    let mut args = api::settings::ServeArgs::from_env();
    args.hooks.hook_burst = 0;
    let err = api::settings::Settings::from_serve_args(args)
        .err()
        .unwrap();
    assert!(err.to_string().contains("DORA_HOOK_BURST"));
}

#[tokio::test]
async fn the_secret_never_shows_after_creation() {
    let app = spawn_app_with(|args| {
        args.hooks.hook_rate_per_minute = 5;
        args.hooks.hook_burst = 5;
    })
    .await;
    let token = admin(&app, "acme");
    let (id, secret, _) = create_hook(&app, &token, &hook_body("prod")).await;
    let mut answers = Vec::new();
    for resp in exercise(&app.client, &app.address, &token, &id, &secret).await {
        let status = resp.status().as_u16();
        let headers = format!("{:?}", resp.headers());
        let body = resp.text().await.unwrap();
        assert!(!headers.contains(&secret), "{status}: {headers}");
        assert!(!body.contains(&secret), "{status}: {body}");
        answers.push(status);
    }
    assert_eq!(answers, EXERCISE_STATUSES);
    let deployments = app
        .get("/api/v1/deployments", &app.rw_token("acme"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!deployments.contains(&secret));
}

/// What `exercise` answers with a hook limit of 5 per minute.
const EXERCISE_STATUSES: [u16; 16] = [
    200, 200, 400, 200, 200, 400, 404, 405, 200, 429, 429, 200, 200, 200, 200, 404,
];

/// Every trigger form, good and bad, over the limit, then the managed API, deletion, and a
/// trigger of the deleted hook.
async fn exercise(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    secret: &str,
) -> Vec<reqwest::Response> {
    let url = |path: String| format!("{base}{path}");
    let hook = |suffix: &str| url(format!("/hooks/{secret}{suffix}"));
    let managed = url(format!("/api/v1/deploy-hooks/{id}"));
    let mut out = Vec::new();
    for request in [
        client.post(hook("")),
        client.post(hook("")),
        client.get(hook("?commit=abcdef1")),
        client.get(hook("?commit=abcdef1&branch=main&force=true")),
        client.get(hook("/9/abcdef1")),
        client.get(hook("/x/abcdef1")),
        client.get(hook("/9/abcdef1/extra")),
        client.delete(hook("")),
        client.post(hook("?commit=1111111")),
        client.post(hook("?commit=2222222")),
        client.post(hook("?commit=3333333")),
        client
            .get(url("/api/v1/deploy-hooks".to_owned()))
            .bearer_auth(token),
        client.get(&managed).bearer_auth(token),
        client
            .put(&managed)
            .bearer_auth(token)
            .json(&hook_body("renamed")),
        client.delete(&managed).bearer_auth(token),
        client.post(hook("")),
    ] {
        out.push(request.send().await.unwrap());
    }
    out
}

/// Runs the real binary with `RUST_LOG=trace` (everything any crate logs), exercises every
/// hook endpoint, and searches its whole log for the secret.
#[tokio::test]
async fn the_secret_never_shows_in_the_logs() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dora-tracker"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/dora.db?mode=rwc", dir.path().display()),
        )
        .env("DORA_LISTEN", "127.0.0.1:0")
        .env("DORA_JWT_SECRET", crate::helpers::SECRET)
        .env("DORA_HOOK_RATE_PER_MINUTE", "5")
        .env("DORA_HOOK_BURST", "5")
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<String>();
    // Reads the log to its end (the process exits), announcing the address on the way.
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("dora-tracker listening on ") {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = addr_tx.send(addr);
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let base = addr_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the server announces its address");

    let client = reqwest::Client::new();
    let keys = api::auth::JwtKeys::new(
        &api::domain::Secret::new(crate::helpers::SECRET),
        crate::helpers::ISSUER,
        crate::helpers::AUDIENCE,
    )
    .unwrap();
    let token = keys
        .issue(
            "acme",
            &[Scope::Admin],
            "test",
            std::time::Duration::from_secs(600),
        )
        .unwrap();
    let resp = client
        .post(format!("{base}/api/v1/deploy-hooks"))
        .bearer_auth(&token)
        .json(&hook_body("prod"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let (id, secret) = (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    );
    let statuses: Vec<u16> = exercise(&client, &base, &token, &id, &secret)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(statuses, EXERCISE_STATUSES);

    child.kill().unwrap();
    let _ = child.wait();
    let log = reader.join().unwrap();
    // The capture works (the access log names the redacted path) …
    assert!(log.contains("/hooks/[redacted]"), "no access log: {log}");
    assert!(log.contains("deploy hook recorded a deployment"));
    // … and neither the secret nor its hash is in it.
    assert!(!log.contains(&secret), "the secret was logged:\n{log}");
    assert!(!log.contains(&api::core::hooks::hash_secret(&secret)));
}
