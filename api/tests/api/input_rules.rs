//! The input rules (README, "Input rules"), on every surface, identical on SQLite and
//! PostgreSQL: the text rule (NUL always refused, other control characters refused except
//! tab/newlines in free text: 422 naming the body field, 400 naming the query parameter), the
//! time rule (1970 … now + 5 min), duplicate JSON keys (422), a charset other than UTF-8 (415),
//! `null` for an optional field, and `Allow` on 405.

use api::auth::Scope;
use serde_json::{Value, json};

use crate::helpers::{TestApp, deployment, problem, spawn_app};

const REPO: &str = "https://github.com/acme/web";

/// `body` with the field at `path` (`a.b`, `commits[0].sha`) set to `value`.
fn set(mut body: Value, path: &str, value: Value) -> Value {
    let mut at = &mut body;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, i)) => (name, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        at = &mut at[name];
        if let Some(i) = index {
            at = &mut at[i];
        }
    }
    *at = value;
    body
}

struct Fixture {
    admin: String,
    deployment_id: String,
    incident_id: String,
    hook_id: String,
    hook_secret: String,
    github_id: i64,
}

async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.token("acme", &[Scope::Ingest, Scope::Read, Scope::Admin]);
    let d = app.create_deployment(&admin, &deployment(REPO, 1)).await;
    let resp = app
        .post_json(
            "/api/v1/incidents",
            &admin,
            &json!({"title": "Checkout down"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let incident: Value = resp.json().await.unwrap();
    let resp = app
        .post_json(
            "/api/v1/deploy-hooks",
            &admin,
            &json!({"name": "prod", "repository_url": REPO, "branch": "main"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let hook: Value = resp.json().await.unwrap();
    let resp = app
        .client
        .get(app.url("/api/v3/repos/acme/web/deployments"))
        .header("Authorization", format!("token {admin}"))
        .send()
        .await
        .unwrap();
    let listed: Value = resp.json().await.unwrap();
    Fixture {
        deployment_id: d["id"].as_str().unwrap().to_owned(),
        incident_id: incident["id"].as_str().unwrap().to_owned(),
        hook_id: hook["id"].as_str().unwrap().to_owned(),
        hook_secret: hook["secret"].as_str().unwrap().to_owned(),
        github_id: listed[0]["id"].as_i64().unwrap(),
        admin,
    }
}

async fn send(app: &TestApp, method: &str, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let resp = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every body field of every JSON route, canonical and adapters: NUL and ESC are refused with
/// 422 naming the field; nothing is written.
#[tokio::test]
async fn control_characters_in_bodies_are_422_naming_the_field() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let d = &f.deployment_id;
    let deployment_body = deployment(REPO, 2);
    let with_commits = set(
        deployment(REPO, 3),
        "commits",
        json!([{"sha": "ab12cd34", "committed_at": "2026-01-01T00:00:00Z"}]),
    );
    let replacement = json!({
        "repository_url": REPO, "environment": "production", "is_production": true,
        "title": "Deploy", "branch": "main", "commit_id": "ab12cd34ef", "commits_count": 1,
        "is_fix": false, "is_hotfix": false, "is_forced": false, "is_rollback": false,
        "status": "success", "member_id": "alice", "url": "https://ci.example.com/1",
        "changelog": "ok"
    });
    let cases: Vec<(&str, String, Value, Vec<&str>)> = vec![
        (
            "POST",
            "/api/v1/deployments".into(),
            deployment_body.clone(),
            vec![
                "title",
                "branch",
                "commit_id",
                "repository_url",
                "member_id",
                "url",
                "changelog",
                "team",
                "environment",
                "deployment_node_id",
            ],
        ),
        (
            "POST",
            "/api/v1/deployments".into(),
            with_commits.clone(),
            vec!["commits[0].sha"],
        ),
        (
            "POST",
            "/v1/organization/deployment".into(),
            deployment_body.clone(),
            vec!["title", "url", "repository_url", "changelog"],
        ),
        (
            "PATCH",
            format!("/api/v1/deployments/{d}"),
            json!({"status": "success"}),
            vec!["status"],
        ),
        (
            "POST",
            format!("/api/v1/deployments/{d}/statuses"),
            json!({"state": "success", "description": "ok", "log_url": "https://ci.example.com/1",
                   "environment_url": "https://example.com", "environment": "production"}),
            vec![
                "state",
                "description",
                "log_url",
                "environment_url",
                "environment",
            ],
        ),
        (
            "POST",
            "/api/v1/incidents".into(),
            json!({"title": "Down", "severity": "sev1", "repository_url": REPO,
                   "environment": "production"}),
            vec!["title", "severity", "repository_url", "environment"],
        ),
        (
            "PUT",
            format!("/api/v1/admin/deployments/{d}"),
            replacement,
            vec![
                "title",
                "url",
                "repository_url",
                "changelog",
                "member_id",
                "branch",
            ],
        ),
        (
            "POST",
            "/api/v1/deploy-hooks".into(),
            json!({"name": "hook", "repository_url": REPO, "branch": "main",
                   "environment": "production"}),
            vec!["name", "repository_url", "branch", "environment"],
        ),
        (
            "PUT",
            format!("/api/v1/deploy-hooks/{}", f.hook_id),
            json!({"name": "hook", "repository_url": REPO, "branch": "main"}),
            vec!["name", "repository_url", "branch"],
        ),
        (
            "POST",
            "/api/v3/repos/acme/web/deployments".into(),
            json!({"ref": "main", "task": "deploy", "environment": "production",
                   "description": "d", "payload": {"sha": "ab12cd34", "note": "x"}}),
            vec![
                "ref",
                "task",
                "environment",
                "description",
                "payload.sha",
                "payload.note",
            ],
        ),
        (
            "POST",
            format!(
                "/api/v3/repos/acme/web/deployments/{}/statuses",
                f.github_id
            ),
            json!({"state": "success", "description": "d", "target_url": "https://ci.example.com/1",
                   "log_url": "https://ci.example.com/1", "environment_url": "https://example.com"}),
            vec![
                "state",
                "description",
                "target_url",
                "log_url",
                "environment_url",
            ],
        ),
        (
            "POST",
            "/api/v1/tokens".into(),
            json!({"name": "ci", "scopes": ["ingest"]}),
            vec!["name", "scopes[0]"],
        ),
        (
            "POST",
            "/api/v1/trust-policies".into(),
            json!({"name": "gh", "issuer": "https://token.actions.githubusercontent.com",
                   "audience": "dora", "conditions": {"repository": "acme/web"},
                   "scopes": ["ingest"], "repository_claim": "repository"}),
            vec!["name", "issuer", "audience", "conditions.repository"],
        ),
        (
            "POST",
            "/api/v1/integrations".into(),
            json!({"kind": "github", "name": "gh"}),
            vec!["kind", "name"],
        ),
    ];
    let rows = app.deployment_rows().await;
    for (method, path, base, fields) in &cases {
        for field in fields {
            for bad in ["a\u{0}b", "a\u{1b}[31mb"] {
                let body = set(base.clone(), field, json!(bad));
                let (status, problem) = send(&app, method, path, &f.admin, &body).await;
                assert_eq!(status, 422, "{method} {path} {field}={bad:?}: {problem}");
                let named = problem["errors"]
                    .as_array()
                    .map(|errors| errors.iter().any(|e| e["field"] == *field))
                    .unwrap_or(false);
                assert!(named, "{method} {path}: {field} not named: {problem}");
            }
        }
    }
    // A key with a NUL is refused too.
    let body = set(deployment(REPO, 9), "payload", json!({"k\u{0}": 1}));
    let (status, _) = send(&app, "POST", "/api/v1/deployments", &f.admin, &body).await;
    assert_eq!(status, 422);
    assert_eq!(app.deployment_rows().await, rows, "nothing was written");

    // Free text keeps tab and newlines; other text does not.
    let body = set(deployment(REPO, 4), "changelog", json!("fix:\n\t- one\r\n"));
    let created = app.create_deployment(&f.admin, &body).await;
    assert_eq!(created["changelog"], "fix:\n\t- one\r\n");
    let body = set(deployment(REPO, 5), "title", json!("a\nb"));
    let (status, problem) = send(&app, "POST", "/api/v1/deployments", &f.admin, &body).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("title"))
    );
    // Non-ASCII is not a control character.
    let body = set(deployment(REPO, 6), "title", json!("Déploiement ✓"));
    app.create_deployment(&f.admin, &body).await;
}

/// Every text query parameter of every route (canonical, GitHub-shaped, hooks, the web page):
/// 400 `invalid-parameter` naming the parameter.
#[tokio::test]
async fn control_characters_in_query_parameters_are_400_naming_them() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let hook = format!("/hooks/{}", f.hook_secret);
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "/api/v1/deployments".into(),
            vec!["repository", "environment", "branch", "status", "cursor"],
        ),
        (
            format!("/api/v1/deployments/{}/statuses", f.deployment_id),
            vec!["cursor"],
        ),
        (
            "/api/v1/incidents".into(),
            vec!["repository", "environment", "source", "cursor"],
        ),
        (
            "/api/v1/metrics/dora".into(),
            vec!["team", "environment", "repository", "benchmark"],
        ),
        (
            "/api/v1/metrics/dora/series".into(),
            vec!["team", "interval"],
        ),
        (
            "/api/v1/metrics/dora/breakdown?by=team".into(),
            vec!["team", "by"],
        ),
        (
            "/api/v1/metrics/dora/explain".into(),
            vec!["metric", "team"],
        ),
        (
            "/api/v1/admin/audit-log".into(),
            vec!["entity_id", "cursor"],
        ),
        (
            "/api/v3/repos/acme/web/deployments".into(),
            vec!["sha", "ref", "task", "environment"],
        ),
        (
            "/api/v1/streams/last-success".into(),
            vec!["repository", "environment", "except_commit"],
        ),
        (hook.clone(), vec!["commit", "branch", "status", "force"]),
        ("/ui".into(), vec!["team", "repository"]),
    ];
    for (path, params) in &cases {
        for param in params {
            for bad in ["a%00b", "%1B", "a%09b"] {
                let sep = if path.contains('?') { '&' } else { '?' };
                let url = app.url(&format!("{path}{sep}{param}={bad}"));
                let method = if path.starts_with("/hooks/") {
                    reqwest::Method::POST
                } else {
                    reqwest::Method::GET
                };
                let resp = app
                    .client
                    .request(method, url.clone())
                    .bearer_auth(&f.admin)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                assert_eq!(status, 400, "{url}: {body}");
                let text = if path.starts_with("/api/v3/") {
                    // GitHub's shape: `{message, documentation_url, status}`.
                    body["message"].as_str().unwrap_or_default().to_owned()
                } else {
                    assert_eq!(body["type"], "invalid-parameter", "{url}: {body}");
                    body["detail"].as_str().unwrap_or_default().to_owned()
                };
                assert!(text.contains(&format!("`{param}`")), "{url}: {body}");
                if path.starts_with("/hooks/") {
                    // The hooks' own shape (Cloudflare/Flightcontrol readers).
                    assert_eq!(body["success"], false, "{url}: {body}");
                } else if !path.starts_with("/api/v3/") {
                    assert_eq!(body["errors"][0]["field"], *param, "{url}: {body}");
                }
            }
        }
    }
    // The hook did not fire.
    assert_eq!(app.deployment_rows().await, 1);
}

/// The web page's forms (urlencoded bodies) are held to the same rule.
#[tokio::test]
async fn control_characters_in_forms_are_refused() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/ui/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("token=abc%00def&csrf=x")
        .send()
        .await
        .unwrap();
    let (status, body) = problem(resp).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("token"))
    );
}

/// One time rule for every recorded timestamp: not before 1970, not more than 5 minutes
/// ahead of the server's clock.
#[tokio::test]
async fn timestamps_outside_the_time_rule_are_422() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339();
    for bad in [
        json!("-0001-01-01T00:00:00Z"),
        json!("0000-01-01T00:00:00Z"),
        json!("1969-12-31T23:59:59Z"),
        json!("9999-01-01T00:00:00Z"),
        json!(future),
    ] {
        let cases: Vec<(&str, String, Value, &str)> = vec![
            (
                "POST",
                "/api/v1/deployments".into(),
                set(
                    set(deployment(REPO, 7), "status", json!("success")),
                    "finished_at",
                    bad.clone(),
                ),
                "finished_at",
            ),
            (
                "POST",
                "/api/v1/deployments".into(),
                set(deployment(REPO, 7), "started_at", bad.clone()),
                "started_at",
            ),
            (
                "POST",
                "/api/v1/deployments".into(),
                set(
                    deployment(REPO, 7),
                    "commits",
                    json!([{"sha": "ab12cd34", "committed_at": bad}]),
                ),
                "commits[0].committed_at",
            ),
            (
                "POST",
                "/api/v1/incidents".into(),
                json!({"title": "Down", "started_at": bad}),
                "started_at",
            ),
            (
                "POST",
                "/api/v1/incidents".into(),
                json!({"title": "Down", "started_at": "2026-01-01T00:00:00Z", "resolved_at": bad}),
                "resolved_at",
            ),
            (
                "POST",
                format!("/api/v1/incidents/{}/resolve", f.incident_id),
                json!({"resolved_at": bad}),
                "resolved_at",
            ),
        ];
        for (method, path, body, field) in cases {
            let (status, problem) = send(&app, method, &path, &f.admin, &body).await;
            // A year outside what RFC 3339 parsers read is refused as unreadable, also 422.
            assert_eq!(status, 422, "{path} {field}={bad}: {problem}");
            let named = problem["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["field"] == field));
            assert!(named, "{path}: {field} not named: {problem}");
        }
    }
    // The bounds themselves are accepted.
    let body = set(
        deployment(REPO, 8),
        "started_at",
        json!("1970-01-01T00:00:00Z"),
    );
    app.create_deployment(&f.admin, &body).await;
    let (status, _) = send(
        &app,
        "POST",
        "/api/v1/incidents",
        &f.admin,
        &json!({"title": "Soon", "started_at": soon}),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn duplicate_keys_charsets_and_nulls() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let raw = |path: &str, content_type: &str, body: String| {
        app.client
            .post(app.url(path))
            .bearer_auth(&f.admin)
            .header("Content-Type", content_type)
            .body(body)
    };
    // Duplicate keys: 422 naming the key, at any depth, on every JSON surface.
    let body = deployment(REPO, 20).to_string();
    let dup = body.replacen('{', r#"{"title": "first","#, 1);
    for path in ["/api/v1/deployments", "/v1/organization/deployment"] {
        let (status, problem) = problem(
            raw(path, "application/json", dup.clone())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, problem["errors"][0]["field"].as_str()),
            (422, Some("title")),
            "{problem}"
        );
    }
    let nested = r#"{"ref": "main", "payload": {"sha": "ab12cd34", "sha": "ab12cd35"}}"#;
    let resp = raw(
        "/api/v3/repos/acme/web/deployments",
        "application/json",
        nested.into(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 422);
    let github: Value = resp.json().await.unwrap();
    assert!(github.to_string().contains("payload.sha"), "{github}");
    assert_eq!(app.deployment_rows().await, 1);

    // A charset other than UTF-8 is 415; UTF-8 (any case) is read.
    let (status, problem) = problem(
        raw(
            "/api/v1/deployments",
            "application/json; charset=latin1",
            body.clone(),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (415, Some("unsupported-media-type"))
    );
    let resp = raw(
        "/api/v1/deployments",
        "application/json; charset=UTF-8",
        body,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 201);

    // `null` for an optional field means "not given", as the spec now says (nullable).
    let (status, incident) = send(
        &app,
        "POST",
        &format!("/api/v1/incidents/{}/resolve", f.incident_id),
        &f.admin,
        &json!({"resolved_at": null}),
    )
    .await;
    assert_eq!(status, 200, "{incident}");
    assert!(incident["resolved_at"].is_string());
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &spec["components"]["schemas"];
    assert_eq!(
        schemas["ResolveIn"]["properties"]["resolved_at"]["nullable"],
        true
    );
    assert_eq!(
        schemas["Incident"]["properties"]["resolved_at"]["nullable"],
        true
    );
    assert_eq!(schemas["ResolveIn"]["additionalProperties"], false);
    let required = schemas["Problem"]["required"].as_array().unwrap();
    assert!(!required.contains(&json!("errors")), "{required:?}");
}

/// An undeclared method is 405 with `Allow` listing the declared ones, on every surface.
#[tokio::test]
async fn method_not_allowed_lists_the_allowed_methods() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    for (method, path, allowed) in [
        (
            "DELETE",
            "/api/v1/deployments".to_owned(),
            vec!["GET", "POST"],
        ),
        (
            "PUT",
            format!("/api/v1/deployments/{}", f.deployment_id),
            vec!["GET", "PATCH"],
        ),
        (
            "PATCH",
            "/api/v3/repos/acme/web/deployments".to_owned(),
            vec!["GET", "POST"],
        ),
        (
            "PUT",
            "/v1/organization/deployment".to_owned(),
            vec!["POST"],
        ),
        (
            "DELETE",
            format!("/hooks/{}", f.hook_secret),
            vec!["GET", "POST"],
        ),
    ] {
        let resp = app
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&path),
            )
            .bearer_auth(&f.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        let allow = resp.headers()["allow"].to_str().unwrap().to_owned();
        let mut listed: Vec<&str> = allow.split(", ").collect();
        listed.sort();
        assert_eq!(listed, allowed, "{method} {path}");
    }
}
