//! Integrations and signed webhook deliveries for the tests: the fixtures are shaped as
//! GitHub's and GitLab's documented payloads, and deliveries are signed as GitHub signs them
//! (HMAC-SHA256 of the exact body bytes, `X-Hub-Signature-256: sha256=<hex>`) or carry the
//! token as GitLab sends it (`X-Gitlab-Token`).

use api::auth::Scope;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::TestApp;

pub struct TestIntegration {
    pub id: String,
    pub secret: String,
    pub body: Value,
}

pub fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn admin(app: &TestApp, org: &str) -> String {
    app.token(org, &[Scope::Admin])
}

/// Creates an integration of `kind` for `org` with `options`.
pub async fn integration(app: &TestApp, org: &str, kind: &str, options: Value) -> TestIntegration {
    let resp = app
        .post_json(
            "/api/v1/integrations",
            &admin(app, org),
            &json!({"kind": kind, "name": format!("{kind} {org}"), "options": options}),
        )
        .await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    TestIntegration {
        id: body["id"].as_str().unwrap().to_owned(),
        secret: body["secret"].as_str().unwrap().to_owned(),
        body,
    }
}

pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts `payload` as GitHub delivers `event`, signed with `secret`.
pub async fn github(
    app: &TestApp,
    id: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    payload: &Value,
) -> reqwest::Response {
    let body = serde_json::to_vec(payload).unwrap();
    app.client
        .post(app.url(&format!("/webhooks/github/{id}")))
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitHub-Hookshot/044aadd")
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("X-GitHub-Hook-ID", "292430182")
        .header("X-Hub-Signature-256", github_signature(secret, &body))
        .body(body)
        .send()
        .await
        .unwrap()
}

/// [`github`] with a fresh delivery id, expecting `status`; answers the body.
pub async fn github_ok(
    app: &TestApp,
    hook: &TestIntegration,
    event: &str,
    payload: &Value,
) -> Value {
    let delivery = uuid::Uuid::new_v4().to_string();
    let resp = github(app, &hook.id, &hook.secret, event, &delivery, payload).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "{event}: {status} {body}");
    body
}

/// Posts `payload` as GitLab delivers `event` with `token`.
pub async fn gitlab(
    app: &TestApp,
    id: &str,
    token: &str,
    event: &str,
    idempotency_key: &str,
    payload: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/webhooks/gitlab/{id}")))
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitLab/18.5.0")
        .header("X-Gitlab-Event", event)
        .header("X-Gitlab-Token", token)
        .header("X-Gitlab-Event-UUID", uuid::Uuid::new_v4().to_string())
        .header(
            "X-Gitlab-Webhook-UUID",
            "3c5c0404-c866-44bc-a5f6-452bb1bfc76e",
        )
        .header("Idempotency-Key", idempotency_key)
        .json(payload)
        .send()
        .await
        .unwrap()
}

pub fn sha(n: u32) -> String {
    format!("{n:040x}")
}

/// A GitHub push of `commits` (sha, RFC 3339 time) to `branch` of `repo`, from `before`.
pub fn gh_push(repo: &str, branch: &str, before: &str, commits: &[(String, &str)]) -> Value {
    let mut p = fixture("github/push.json");
    let template = p["commits"][0].clone();
    let list: Vec<Value> = commits
        .iter()
        .map(|(sha, at)| {
            let mut c = template.clone();
            c["id"] = json!(sha);
            c["timestamp"] = json!(at);
            c
        })
        .collect();
    p["ref"] = json!(format!("refs/heads/{branch}"));
    p["before"] = json!(before);
    p["after"] = json!(commits.last().map(|c| c.0.clone()).unwrap_or_default());
    p["head_commit"] = list.last().cloned().unwrap_or(Value::Null);
    p["commits"] = json!(list);
    p["repository"]["html_url"] = json!(format!("https://github.com/{repo}"));
    p["repository"]["full_name"] = json!(repo);
    p
}

/// A GitHub `deployment` of `sha` (GitHub id `id`) to `environment` created at `at`.
pub fn gh_deployment(repo: &str, id: i64, sha: &str, environment: &str, at: &str) -> Value {
    let mut d = fixture("github/deployment.json");
    let dep = &mut d["deployment"];
    dep["id"] = json!(id);
    dep["sha"] = json!(sha);
    dep["environment"] = json!(environment);
    dep["original_environment"] = json!(environment);
    dep["production_environment"] = json!(environment == "production");
    dep["created_at"] = json!(at);
    dep["updated_at"] = json!(at);
    d["repository"]["html_url"] = json!(format!("https://github.com/{repo}"));
    d
}

/// A GitHub `deployment_status` (id `status_id`, `state` at `at`) of `deployment` (a
/// [`gh_deployment`] payload).
pub fn gh_status(deployment: &Value, status_id: i64, state: &str, at: &str) -> Value {
    let mut s = fixture("github/deployment_status.json");
    s["deployment"] = deployment["deployment"].clone();
    s["repository"] = deployment["repository"].clone();
    let st = &mut s["deployment_status"];
    st["id"] = json!(status_id);
    st["state"] = json!(state);
    st["created_at"] = json!(at);
    st["updated_at"] = json!(at);
    st["environment"] = deployment["deployment"]["environment"].clone();
    s
}

/// A GitHub `issues` event.
#[allow(clippy::too_many_arguments)]
pub fn gh_issue(
    repo: &str,
    action: &str,
    number: i64,
    labels: &[&str],
    created_at: &str,
    updated_at: &str,
    closed_at: Option<&str>,
    body: &str,
) -> Value {
    let mut e = fixture("github/issues.json");
    e["action"] = json!(action);
    e["repository"]["html_url"] = json!(format!("https://github.com/{repo}"));
    let issue = &mut e["issue"];
    issue["id"] = json!(2_000_000 + number);
    issue["number"] = json!(number);
    issue["html_url"] = json!(format!("https://github.com/{repo}/issues/{number}"));
    let template = issue["labels"][0].clone();
    issue["labels"] = json!(
        labels
            .iter()
            .map(|l| {
                let mut t = template.clone();
                t["name"] = json!(l);
                t
            })
            .collect::<Vec<_>>()
    );
    issue["created_at"] = json!(created_at);
    issue["updated_at"] = json!(updated_at);
    issue["closed_at"] = json!(closed_at);
    issue["state"] = json!(if closed_at.is_some() {
        "closed"
    } else {
        "open"
    });
    issue["body"] = json!(body);
    e
}

/// The organization's deployments, newest first.
pub async fn deployments(app: &TestApp, org: &str) -> Vec<Value> {
    let body: Value = app
        .get("/api/v1/deployments?limit=200", &app.rw_token(org))
        .await
        .json()
        .await
        .unwrap();
    body["items"].as_array().unwrap().clone()
}

/// The organization's incidents (optionally with a query string).
pub async fn incidents(app: &TestApp, org: &str, query: &str) -> Vec<Value> {
    let body: Value = app
        .get(&format!("/api/v1/incidents{query}"), &app.rw_token(org))
        .await
        .json()
        .await
        .unwrap();
    body["items"].as_array().unwrap().clone()
}

/// The shas of a deployment's commits, as its record lists them (sorted).
pub fn commit_shas(deployment: &Value) -> Vec<String> {
    let mut shas: Vec<String> = deployment["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sha"].as_str().unwrap().to_owned())
        .collect();
    shas.sort();
    shas
}

/// `v1=<hex>` of HMAC-SHA256(`secret`, `body`), as PagerDuty signs a V3 webhook.
pub fn pagerduty_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts `payload` as PagerDuty delivers a V3 webhook: `X-PagerDuty-Signature` as given,
/// `X-Webhook-Id` the delivery's id.
pub async fn pagerduty(
    app: &TestApp,
    id: &str,
    signature: Option<&str>,
    webhook_id: &str,
    body: &[u8],
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(&format!("/webhooks/pagerduty/{id}")))
        .header("Content-Type", "application/json")
        .header("User-Agent", "PagerDuty-Webhook/V3.0")
        .header("X-Webhook-Id", webhook_id)
        .header("X-Webhook-Subscription", "PSUB123");
    if let Some(signature) = signature {
        req = req.header("X-PagerDuty-Signature", signature);
    }
    req.body(body.to_vec()).send().await.unwrap()
}

/// Posts `payload` as Alertmanager delivers a notification, with `Authorization` as given.
pub async fn alertmanager(
    app: &TestApp,
    id: &str,
    authorization: Option<&str>,
    payload: &Value,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(&format!("/webhooks/alertmanager/{id}")))
        .header("User-Agent", "Alertmanager/0.25.0");
    if let Some(authorization) = authorization {
        req = req.header("Authorization", authorization);
    }
    req.json(payload).send().await.unwrap()
}
