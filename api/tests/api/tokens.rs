//! Tokens as records: minted, listed (never the token), revoked (401 at once here, soon on
//! other instances), limited to repositories (403 on writes for others; reads unaffected),
//! and the same from the host with `dora-tracker token issue/list/revoke`.

use std::time::{Duration, Instant};

use api::auth::Scope;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{
    AUDIENCE, ISSUER, SECRET, TestApp, deployment, problem, spawn_app, spawn_app_with,
    spawn_instance,
};

async fn create_token(app: &TestApp, admin: &str, body: Value) -> Value {
    let resp = app.post_json("/api/v1/tokens", admin, &body).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    assert_eq!(headers["cache-control"], "no-store");
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        headers["location"],
        format!("/api/v1/tokens/{}", created["id"].as_str().unwrap()).as_str()
    );
    created
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The claims of a token, unverified (to read its `jti`).
fn claims(token: &str) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_token_is_a_record_listed_without_the_token_and_revocable() {
    let app = spawn_app().await;
    let admin = app.token("acme", &[Scope::Admin]);
    let created = create_token(
        &app,
        &admin,
        json!({"name": "ci-web", "scopes": ["ingest", "read"], "ttl": "30d"}),
    )
    .await;
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["jti"], id);
    assert_eq!(claims(&token)["org"], "acme");
    assert_eq!(created["name"], "ci-web");
    assert_eq!(created["scopes"], json!(["ingest", "read"]));
    assert_eq!(created["repositories"], Value::Null);
    assert_eq!(created["last_used_at"], Value::Null);
    let expires =
        chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.9..=30.1).contains(&days), "{days}");

    // It works, and its use is recorded.
    app.create_deployment(&token, &deployment("https://github.com/acme/web", 1))
        .await;
    assert_eq!(app.get("/api/v1/deployments", &token).await.status(), 200);

    let list: Value = app
        .get("/api/v1/tokens", &admin)
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert!(
        items[0].get("token").is_none(),
        "a listing never shows a token"
    );
    assert!(!list.to_string().contains(&token));
    assert!(items[0]["last_used_at"].is_string(), "{list}");
    let one: Value = app
        .get(&format!("/api/v1/tokens/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "ci-web");

    // Revoked: 401 on this instance at once; revoking again changes nothing.
    let revoked: Value = delete(&app, &format!("/api/v1/tokens/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(revoked["revoked_at"].is_string());
    let (status, body) = problem(app.get("/api/v1/deployments", &token).await).await;
    assert_eq!(status, 401);
    assert!(
        body["detail"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    let again: Value = delete(&app, &format!("/api/v1/tokens/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
}

#[tokio::test]
async fn last_use_writes_are_throttled() {
    let app = spawn_app().await;
    let admin = app.token("acme", &[Scope::Admin]);
    let created = create_token(&app, &admin, json!({"name": "reader", "scopes": ["read"]})).await;
    let token = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    let last_used = || async {
        let one: Value = app
            .get(&format!("/api/v1/tokens/{id}"), &admin)
            .await
            .json()
            .await
            .unwrap();
        one["last_used_at"].clone()
    };
    assert_eq!(app.get("/api/v1/deployments", token).await.status(), 200);
    let first = last_used().await;
    assert!(first.is_string());
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/deployments", token).await.status(), 200);
    }
    assert_eq!(
        last_used().await,
        first,
        "reads within a minute do not write again"
    );
}

#[tokio::test]
async fn another_instance_notices_a_revocation_within_the_cache_time() {
    let configure = |args: &mut api::settings::ServeArgs| {
        args.credentials.token_cache_seconds = 1;
    };
    let a = spawn_app_with(configure).await;
    let b = spawn_instance(&a, configure).await;
    let admin = a.token("acme", &[Scope::Admin]);
    let created = create_token(&a, &admin, json!({"name": "ci", "scopes": ["read"]})).await;
    let token = created["token"].as_str().unwrap();
    // B caches the record as valid.
    assert_eq!(b.get("/api/v1/deployments", token).await.status(), 200);
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        delete(&a, &format!("/api/v1/tokens/{id}"), &admin)
            .await
            .status(),
        200
    );
    assert_eq!(a.get("/api/v1/deployments", token).await.status(), 401);
    let started = Instant::now();
    loop {
        let status = b.get("/api/v1/deployments", token).await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "instance B still accepts a token revoked on A"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tokens_without_a_record_keep_working_and_unknown_records_are_refused() {
    let app = spawn_app().await;
    // Minted before records existed: no jti.
    let legacy = app.rw_token("acme");
    assert!(claims(&legacy).get("jti").is_none());
    assert_eq!(app.get("/api/v1/deployments", &legacy).await.status(), 200);

    // Signed with our secret but naming no record (e.g. a database restored from before).
    let now = crate::issuer::now();
    let sign = |jti: &str| {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &json!({"org": "acme", "scope": "read", "sub": "x", "exp": now + 600, "iat": now,
                    "iss": ISSUER, "aud": AUDIENCE, "jti": jti}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let (status, _) = problem(
        app.get(
            "/api/v1/deployments",
            &sign(&uuid::Uuid::new_v4().to_string()),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = problem(app.get("/api/v1/deployments", &sign("not-a-uuid")).await).await;
    assert_eq!(status, 401);

    // A record of another organization than the token claims.
    let admin = app.token("acme", &[Scope::Admin]);
    let created = create_token(&app, &admin, json!({"name": "ci", "scopes": ["read"]})).await;
    let id = created["id"].as_str().unwrap();
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"org": "globex", "scope": "read", "exp": now + 600, "iss": ISSUER,
                "aud": AUDIENCE, "jti": id}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let (status, _) = problem(app.get("/api/v1/deployments", &forged).await).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn token_management_needs_admin_and_validates_every_field() {
    let app = spawn_app().await;
    let rw = app.rw_token("acme");
    let (status, _) = problem(
        app.post_json(
            "/api/v1/tokens",
            &rw,
            &json!({"name": "x", "scopes": ["read"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = problem(app.get("/api/v1/tokens", &rw).await).await;
    assert_eq!(status, 403);

    let admin = app.token("acme", &[Scope::Admin]);
    let (status, body) = problem(
        app.post_json(
            "/api/v1/tokens",
            &admin,
            &json!({"name": "x", "scopes": ["root"], "ttl": "forever",
                    "repositories": ["https://github.com/acme/web", "not a repository"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["scopes", "ttl", "repositories[1]"], "{body}");
    let (status, _) = problem(
        app.post_json(
            "/api/v1/tokens",
            &admin,
            &json!({"name": "x", "scopes": ["read"], "extra": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        app.get("/api/v1/tokens", &admin)
            .await
            .json::<Value>()
            .await
            .unwrap()["items"],
        json!([]),
        "a refused request writes nothing"
    );

    // Another organization's token answers as an unknown one.
    let created = create_token(&app, &admin, json!({"name": "ci", "scopes": ["read"]})).await;
    let id = created["id"].as_str().unwrap();
    let globex = app.token("globex", &[Scope::Admin]);
    let theirs = problem(app.get(&format!("/api/v1/tokens/{id}"), &globex).await).await;
    let unknown = problem(
        app.get(&format!("/api/v1/tokens/{}", uuid::Uuid::new_v4()), &globex)
            .await,
    )
    .await;
    assert_eq!(theirs.0, 404);
    assert_eq!(theirs, unknown);
    assert_eq!(
        delete(&app, &format!("/api/v1/tokens/{id}"), &globex)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get("/api/v1/deployments", created["token"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

/// Every write path refuses a repository-restricted token for another repository, and
/// writes nothing; reads are unaffected.
#[tokio::test]
async fn a_token_limited_to_repositories_writes_only_for_them() {
    let app = spawn_app().await;
    let admin = app.token("acme", &[Scope::Admin]);
    let web = "https://github.com/acme/web";
    let api = "https://github.com/acme/api";
    // Deployments of both, recorded by an unrestricted token.
    let web_deployment = app.create_deployment(&admin, &deployment(web, 1)).await;
    let api_deployment = app.create_deployment(&admin, &deployment(api, 2)).await;
    let api_id = api_deployment["id"].as_str().unwrap();
    let created = create_token(
        &app,
        &admin,
        json!({"name": "web-deployer", "scopes": ["admin"],
               "repositories": ["git@github.com:Acme/Web.git"]}),
    )
    .await;
    assert_eq!(created["repositories"], json!(["github.com/acme/web"]));
    let token = created["token"].as_str().unwrap();

    // Its own repository: every write works.
    app.create_deployment(token, &deployment(web, 3)).await;
    let web_id = web_deployment["id"].as_str().unwrap();
    let resp = app
        .post_json(
            &format!("/api/v1/deployments/{web_id}/statuses"),
            token,
            &json!({"state": "inactive"}),
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let resp = app
        .post_json(
            "/api/v1/incidents",
            token,
            &json!({"title": "down", "repository_url": web}),
        )
        .await;
    assert_eq!(resp.status(), 201);

    let rows = app.deployment_rows().await;
    let forbidden = |resp: reqwest::Response, what: &'static str| async move {
        let (status, body) = problem(resp).await;
        assert_eq!(status, 403, "{what}: {body}");
        assert_eq!(body["type"], "forbidden", "{what}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("github.com/acme/web"),
            "{what}: {body}"
        );
    };
    forbidden(
        app.post_json("/api/v1/deployments", token, &deployment(api, 4))
            .await,
        "create",
    )
    .await;
    forbidden(
        app.post_json("/v1/organization/deployment", token, &deployment(api, 5))
            .await,
        "iftrue create",
    )
    .await;
    forbidden(
        app.post_json(
            &format!("/api/v1/deployments/{api_id}/statuses"),
            token,
            &json!({"state": "failure"}),
        )
        .await,
        "status",
    )
    .await;
    forbidden(
        app.client
            .patch(app.url(&format!("/api/v1/deployments/{api_id}")))
            .bearer_auth(token)
            .json(&json!({"status": "failure"}))
            .send()
            .await
            .unwrap(),
        "patch",
    )
    .await;
    forbidden(
        app.post_json(
            "/api/v1/incidents",
            token,
            &json!({"title": "down", "repository_url": api}),
        )
        .await,
        "incident of another repository",
    )
    .await;
    forbidden(
        app.post_json(
            "/api/v1/incidents",
            token,
            &json!({"title": "down", "deployment_id": api_id}),
        )
        .await,
        "incident of another repository's deployment",
    )
    .await;
    forbidden(
        app.post_json("/api/v1/incidents", token, &json!({"title": "down"}))
            .await,
        "incident of no repository",
    )
    .await;
    let api_incident: Value = app
        .post_json(
            "/api/v1/incidents",
            &admin,
            &json!({"title": "api down", "repository_url": api}),
        )
        .await
        .json()
        .await
        .unwrap();
    forbidden(
        app.post_json(
            &format!(
                "/api/v1/incidents/{}/resolve",
                api_incident["id"].as_str().unwrap()
            ),
            token,
            &json!({}),
        )
        .await,
        "resolve",
    )
    .await;
    let replacement = json!({
        "repository_url": api, "environment": "production", "is_production": true,
        "title": "Repaired", "branch": "main", "commit_id": format!("{:040x}", 6),
        "member_id": "bob", "pull_request_number": 7, "commits_count": 0,
        "is_fix": false, "is_hotfix": false, "is_forced": false, "is_rollback": false,
        "status": "success"
    });
    forbidden(
        app.client
            .put(app.url(&format!("/api/v1/admin/deployments/{api_id}")))
            .bearer_auth(token)
            .json(&replacement)
            .send()
            .await
            .unwrap(),
        "admin replace",
    )
    .await;
    // Moving its own deployment to another repository is a write for that one too.
    forbidden(
        app.client
            .put(app.url(&format!("/api/v1/admin/deployments/{web_id}")))
            .bearer_auth(token)
            .json(&replacement)
            .send()
            .await
            .unwrap(),
        "admin replace into another repository",
    )
    .await;
    // The GitHub-compatible API answers in GitHub's shape.
    let github_forbidden = |resp: reqwest::Response, what: &'static str| async move {
        assert_eq!(resp.status(), 403, "{what}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("github.com/acme/web"),
            "{what}: {body}"
        );
    };
    github_forbidden(
        app.post_json(
            "/api/v3/repos/acme/api/deployments",
            token,
            &json!({"ref": format!("{:040x}", 7)}),
        )
        .await,
        "GitHub create",
    )
    .await;
    github_forbidden(
        app.client
            .delete(app.url(&format!(
                "/api/v3/repos/acme/api/deployments/{}",
                api_deployment["number"]
            )))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
        "GitHub delete",
    )
    .await;
    forbidden(
        app.post_json(
            "/api/v1/deploy-hooks",
            token,
            &json!({"name": "h", "repository_url": api, "branch": "main"}),
        )
        .await,
        "deploy hook",
    )
    .await;
    assert_eq!(
        app.deployment_rows().await,
        rows,
        "a refused write writes nothing"
    );

    // Reads are not limited.
    let list: Value = app
        .get("/api/v1/deployments", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        app.get(&format!("/api/v1/deployments/{api_id}"), token)
            .await
            .status(),
        200
    );
    assert_eq!(app.get("/api/v1/metrics/dora", token).await.status(), 200);

    // It cannot widen itself: no unrestricted tokens, none for other repositories, no
    // trust policies.
    for body in [
        json!({"name": "wider", "scopes": ["ingest"]}),
        json!({"name": "other", "scopes": ["ingest"], "repositories": [api]}),
    ] {
        forbidden(
            app.post_json("/api/v1/tokens", token, &body).await,
            "widening token",
        )
        .await;
    }
    create_token(
        &app,
        token,
        json!({"name": "narrower", "scopes": ["ingest"], "repositories": [web]}),
    )
    .await;
    let (status, _) = problem(
        app.post_json(
            "/api/v1/trust-policies",
            token,
            &json!({"name": "p", "issuer": "https://token.actions.githubusercontent.com",
                    "audience": "dora-tracker", "conditions": {"repository_owner": "acme"},
                    "scopes": ["ingest"], "repository_claim": "repository"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_dora-tracker")
}

fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary())
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("DORA_JWT_SECRET", SECRET)
        .env("DORA_JWT_ISSUER", ISSUER)
        .env("DORA_JWT_AUDIENCE", AUDIENCE)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// `token issue` prints only the token and creates a record the API lists; `token list`
/// shows it; `token revoke` makes it 401.
#[tokio::test]
async fn the_cli_creates_lists_and_revokes_the_same_records() {
    let app = spawn_app_with(|args| args.credentials.token_cache_seconds = 0).await;
    let out = cli(
        &app,
        &[
            "token",
            "issue",
            "--org",
            "acme",
            "--scope",
            "ingest read",
            "--ttl",
            "7d",
            "--name",
            "deployer",
            "--repository",
            "https://github.com/acme/web",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "only the token: {stdout:?}");
    assert_eq!(token.split('.').count(), 3);
    let id = claims(token)["jti"].as_str().unwrap().to_owned();

    app.create_deployment(token, &deployment("https://github.com/acme/web", 1))
        .await;
    let (status, _) = problem(
        app.post_json(
            "/api/v1/deployments",
            token,
            &deployment("https://github.com/acme/api", 2),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);

    let admin = app.token("acme", &[Scope::Admin]);
    let list: Value = app
        .get("/api/v1/tokens", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["name"], "deployer");
    assert_eq!(list["items"][0]["subject"], "cli");
    assert_eq!(list["items"][0]["created_by"], Value::Null);
    assert_eq!(
        list["items"][0]["repositories"],
        json!(["github.com/acme/web"])
    );

    let out = cli(&app, &["token", "list", "--org", "acme"]);
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(
        listing.contains(&id) && listing.contains("deployer"),
        "{listing}"
    );
    assert!(!listing.contains(token));

    let out = cli(&app, &["token", "revoke", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.get("/api/v1/deployments", token).await.status(), 401);

    let out = cli(
        &app,
        &["token", "revoke", &uuid::Uuid::new_v4().to_string()],
    );
    assert!(!out.status.success());
    let out = cli(
        &app,
        &["token", "issue", "--org", "acme", "--scope", "root"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--scope"));
}
