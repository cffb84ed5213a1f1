//! The GitHub-compatible deployments API under `/api/v3`.

use api::auth::Scope;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const REPOS: &str = "/api/v3/repos/acme/web";

fn sha(n: u32) -> String {
    format!("{n:040x}")
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path));
    if let Some(token) = token {
        req = req.header("Authorization", format!("token {token}"));
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.unwrap()
}

async fn github_error(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
    assert!(
        body["documentation_url"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.github.com/rest/deployments/"),
        "{body}"
    );
    (status, body)
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let resp = send(
        app,
        reqwest::Method::POST,
        &format!("{REPOS}/deployments"),
        Some(token),
        Some(&body),
    )
    .await;
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(location.as_deref(), body["url"].as_str());
    body
}

async fn status(app: &TestApp, token: &str, number: &Value, body: Value) -> Value {
    let resp = send(
        app,
        reqwest::Method::POST,
        &format!("{REPOS}/deployments/{number}/statuses"),
        Some(token),
        Some(&body),
    )
    .await;
    let code = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(code, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> (reqwest::header::HeaderMap, Value) {
    let resp = if path.starts_with("/api/v3/") {
        send(app, reqwest::Method::GET, path, Some(token), None).await
    } else {
        app.get(path, token).await
    };
    assert_eq!(resp.status(), 200, "{path}");
    let headers = resp.headers().clone();
    (headers, resp.json().await.unwrap())
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn create_has_githubs_shape_and_defaults() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let d = create(
        &app,
        &token,
        json!({"ref": sha(1), "auto_merge": false, "required_contexts": []}),
    )
    .await;
    let n = d["id"].as_i64().unwrap();
    assert!(n > 0);
    assert_eq!(d["sha"], sha(1));
    assert_eq!(d["ref"], sha(1));
    assert_eq!(d["task"], "deploy");
    assert_eq!(d["payload"], json!({}));
    assert_eq!(d["environment"], "production");
    assert_eq!(d["original_environment"], "production");
    assert_eq!(d["production_environment"], true);
    assert_eq!(d["transient_environment"], false);
    assert_eq!(d["creator"]["login"], "test");
    assert!(d["creator"]["id"].as_i64().unwrap() > 0);
    assert!(d["node_id"].is_string());
    let url = format!("{}{REPOS}/deployments/{n}", app.address);
    assert_eq!(d["url"], url);
    assert_eq!(d["statuses_url"], format!("{url}/statuses"));
    assert_eq!(d["repository_url"], format!("{}{REPOS}", app.address));
    assert!(d["created_at"].is_string() && d["updated_at"].is_string());

    let d = create(
        &app,
        &token,
        json!({"ref": "main", "task": "deploy:migrate", "environment": "review/pr-1",
               "transient_environment": true, "payload": "{\"a\":1}", "description": "hi"}),
    )
    .await;
    assert_eq!(d["sha"], "");
    assert_eq!(d["ref"], "main");
    assert_eq!(d["task"], "deploy:migrate");
    assert_eq!(d["payload"], "{\"a\":1}");
    assert_eq!(d["production_environment"], false);
    assert_eq!(d["transient_environment"], true);
    assert_eq!(d["description"], "hi");

    // Recorded through the one core: the canonical API sees it.
    let (_, list) = get_json(&app, &token, "/api/v1/deployments").await;
    let canonical = &list["items"][0];
    assert_eq!(canonical["number"], d["id"]);
    assert_eq!(canonical["triggered_by"], "github");
    assert_eq!(canonical["status"], "queued");
    assert_eq!(canonical["branch"], "main");
    assert_eq!(canonical["repository"], "acme/web");

    let (_, got) = get_json(&app, &token, &format!("{REPOS}/deployments/{}", d["id"])).await;
    assert_eq!(got, d);
    // GitHub's timestamp format.
    let created = d["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");

    // The repository object (PyGithub reads it first), for any well-formed name.
    let (_, repository) = get_json(&app, &token, "/api/v3/repos/acme/new-one").await;
    assert_eq!(repository["full_name"], "acme/new-one");
    assert_eq!(
        repository["url"],
        format!("{}/api/v3/repos/acme/new-one", app.address)
    );
}

#[tokio::test]
async fn bad_requests_answer_in_githubs_error_shape() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let path = format!("{REPOS}/deployments");
    let (code, body) =
        github_error(send(&app, reqwest::Method::GET, &path, None, None).await).await;
    assert_eq!(
        (code, body["message"].as_str()),
        (401, Some("Requires authentication"))
    );
    let (code, body) =
        github_error(send(&app, reqwest::Method::GET, &path, Some("nope"), None).await).await;
    assert_eq!(
        (code, body["message"].as_str()),
        (401, Some("Bad credentials"))
    );
    let (code, body) =
        github_error(send(&app, reqwest::Method::GET, &path, Some(&token), None).await).await;
    assert_eq!((code, body["message"].as_str()), (404, Some("Not Found")));
    let (code, body) = github_error(
        send(
            &app,
            reqwest::Method::POST,
            &path,
            Some(&token),
            Some(&json!({"environment": "x"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (code, body["message"].as_str()),
        (422, Some("Validation Failed"))
    );
    assert_eq!(body["errors"][0]["field"], "ref");
    assert_eq!(body["errors"][0]["code"], "missing_field");
    let read_only = app.token("acme", &[Scope::Read]);
    let (code, _) = github_error(
        send(
            &app,
            reqwest::Method::POST,
            &path,
            Some(&read_only),
            Some(&json!({"ref": "main"})),
        )
        .await,
    )
    .await;
    assert_eq!(code, 403);
    let resp = app
        .client
        .post(app.url(&path))
        .header("Authorization", format!("token {token}"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    let (code, body) = github_error(resp).await;
    assert_eq!(
        (code, body["message"].as_str()),
        (400, Some("Problems parsing JSON"))
    );

    // `Bearer` is accepted as well as `token`.
    let d = create(&app, &token, json!({"ref": "main"})).await;
    let resp = app
        .client
        .get(app.url(&format!("{REPOS}/deployments/{}", d["id"])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Another organization, another repository, a non-number: 404.
    let other = app.rw_token("other");
    for (tok, p) in [
        (&other, format!("{REPOS}/deployments/{}", d["id"])),
        (
            &token,
            format!("/api/v3/repos/acme/other/deployments/{}", d["id"]),
        ),
        (&token, format!("{REPOS}/deployments/abc")),
        (
            &token,
            format!("{REPOS}/deployments/{}/statuses/999", d["id"]),
        ),
    ] {
        let (code, _) =
            github_error(send(&app, reqwest::Method::GET, &p, Some(tok), None).await).await;
        assert_eq!(code, 404, "{p}");
    }
    let long = "x".repeat(141);
    let resp = send(
        &app,
        reqwest::Method::POST,
        &format!("{REPOS}/deployments/{}/statuses", d["id"]),
        Some(&token),
        Some(&json!({"state": "success", "description": long})),
    )
    .await;
    let (code, body) = github_error(resp).await;
    assert_eq!(
        (code, body["errors"][0]["field"].as_str()),
        (422, Some("description"))
    );
}

#[tokio::test]
async fn list_filters_and_pages() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let d1 = create(
        &app,
        &token,
        json!({"ref": sha(1), "environment": "staging"}),
    )
    .await;
    let d2 = create(
        &app,
        &token,
        json!({"ref": "main", "payload": {"sha": sha(2)}}),
    )
    .await;
    let d3 = create(
        &app,
        &token,
        json!({"ref": "main", "task": "other", "environment": "staging"}),
    )
    .await;
    let n = |d: &Value| d["id"].as_i64().unwrap();
    assert_eq!(d2["sha"], sha(2));

    let (_, all) = get_json(&app, &token, &format!("{REPOS}/deployments")).await;
    assert_eq!(ids(&all), [n(&d3), n(&d2), n(&d1)]);
    for (query, expected) in [
        (format!("sha={}", sha(1)), vec![n(&d1)]),
        (format!("sha={}", sha(2).to_uppercase()), vec![n(&d2)]),
        ("ref=main".to_owned(), vec![n(&d3), n(&d2)]),
        ("task=deploy".to_owned(), vec![n(&d2), n(&d1)]),
        ("task=other".to_owned(), vec![n(&d3)]),
        ("environment=staging".to_owned(), vec![n(&d3), n(&d1)]),
        ("environment=staging&ref=main".to_owned(), vec![n(&d3)]),
        ("environment=nowhere".to_owned(), vec![]),
    ] {
        let (_, list) = get_json(&app, &token, &format!("{REPOS}/deployments?{query}")).await;
        assert_eq!(ids(&list), expected, "{query}");
    }
    let (headers, page) = get_json(&app, &token, &format!("{REPOS}/deployments?per_page=2")).await;
    assert_eq!(ids(&page), [n(&d3), n(&d2)]);
    let link = headers["link"].to_str().unwrap();
    assert!(link.contains("page=2>; rel=\"next\""), "{link}");
    assert!(link.contains("rel=\"last\""), "{link}");
    let (headers, page) = get_json(
        &app,
        &token,
        &format!("{REPOS}/deployments?per_page=2&page=2"),
    )
    .await;
    assert_eq!(ids(&page), [n(&d1)]);
    let link = headers["link"].to_str().unwrap();
    assert!(
        link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""),
        "{link}"
    );
    // per_page is capped at 100, as GitHub does.
    let (_, page) = get_json(&app, &token, &format!("{REPOS}/deployments?per_page=500")).await;
    assert_eq!(ids(&page).len(), 3);
    // A deployment recorded through the canonical API is listed too (task `deploy`).
    app.create_deployment(
        &token,
        &crate::helpers::deployment("https://github.com/acme/web", 9),
    )
    .await;
    let (_, list) = get_json(&app, &token, &format!("{REPOS}/deployments?task=deploy")).await;
    assert_eq!(ids(&list).len(), 3);
    assert_eq!(list[0]["creator"]["login"], "alice");
}

#[tokio::test]
async fn statuses_auto_inactive_and_the_delete_rule() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let d1 = create(
        &app,
        &token,
        json!({"ref": sha(1), "environment": "staging"}),
    )
    .await;
    let d2 = create(
        &app,
        &token,
        json!({"ref": sha(2), "environment": "staging"}),
    )
    .await;
    let t = create(
        &app,
        &token,
        json!({"ref": sha(3), "environment": "staging", "transient_environment": true}),
    )
    .await;

    let s = status(
        &app,
        &token,
        &d1["id"],
        json!({"state": "in_progress", "target_url": "https://ci.example.com/1"}),
    )
    .await;
    assert_eq!(s["log_url"], "https://ci.example.com/1");
    assert_eq!(s["target_url"], "https://ci.example.com/1");
    assert_eq!(s["environment"], "staging");
    assert_eq!(s["environment_url"], "");
    assert_eq!(s["deployment_url"], d1["url"]);
    assert_eq!(
        s["url"],
        format!("{}/statuses/{}", d1["url"].as_str().unwrap(), s["id"])
    );
    status(&app, &token, &d1["id"], json!({"state": "success"})).await;
    status(&app, &token, &t["id"], json!({"state": "success"})).await;
    status(&app, &token, &d2["id"], json!({"state": "success"})).await;

    let states = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["state"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, h1) = get_json(
        &app,
        &token,
        &format!("{REPOS}/deployments/{}/statuses", d1["id"]),
    )
    .await;
    assert_eq!(states(&h1), ["inactive", "success", "in_progress"]);
    let (_, one) = get_json(
        &app,
        &token,
        &format!("{REPOS}/deployments/{}/statuses/{}", d1["id"], h1[1]["id"]),
    )
    .await;
    assert_eq!(one, h1[1]);
    // The transient deployment came after d1 and was success before d2: still success
    // (transient deployments are never auto-inactivated).
    let (_, ht) = get_json(
        &app,
        &token,
        &format!("{REPOS}/deployments/{}/statuses", t["id"]),
    )
    .await;
    assert_eq!(states(&ht), ["success"]);
    let (headers, page) = get_json(
        &app,
        &token,
        &format!("{REPOS}/deployments/{}/statuses?per_page=1", d1["id"]),
    )
    .await;
    assert_eq!(states(&page), ["inactive"]);
    assert!(headers["link"].to_str().unwrap().contains("rel=\"next\""));

    let delete = |n: &Value| {
        let path = format!("{REPOS}/deployments/{n}");
        let token = token.clone();
        let app = &app;
        async move { send(app, reqwest::Method::DELETE, &path, Some(&token), None).await }
    };
    // d2 is active (success): 422. A deployment with no status is not inactive either.
    let (code, _) = github_error(delete(&d2["id"]).await).await;
    assert_eq!(code, 422);
    let fresh = create(&app, &token, json!({"ref": sha(4)})).await;
    assert_eq!(github_error(delete(&fresh["id"]).await).await.0, 422);
    // d1 is inactive: deleted.
    assert_eq!(delete(&d1["id"]).await.status(), 204);
    assert_eq!(github_error(delete(&d1["id"]).await).await.0, 404);
    let (_, list) = get_json(&app, &token, &format!("{REPOS}/deployments")).await;
    assert!(!ids(&list).contains(&d1["id"].as_i64().unwrap()));

    // The only deployment of a repository may always be deleted.
    let solo_path = "/api/v3/repos/acme/solo/deployments";
    let resp = send(
        &app,
        reqwest::Method::POST,
        solo_path,
        Some(&token),
        Some(&json!({"ref": "main"})),
    )
    .await;
    let solo: Value = resp.json().await.unwrap();
    let resp = send(
        &app,
        reqwest::Method::DELETE,
        &format!("{solo_path}/{}", solo["id"]),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn github_statuses_drive_the_canonical_record() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let d = create(&app, &token, json!({"ref": sha(1)})).await;
    status(&app, &token, &d["id"], json!({"state": "pending"})).await;
    status(&app, &token, &d["id"], json!({"state": "failure"})).await;
    status(&app, &token, &d["id"], json!({"state": "success"})).await;
    let (_, list) = get_json(&app, &token, "/api/v1/deployments").await;
    let record = &list["items"][0];
    let (_, statuses) = get_json(
        &app,
        &token,
        &format!(
            "/api/v1/deployments/{}/statuses",
            record["id"].as_str().unwrap()
        ),
    )
    .await;
    let success = &statuses["items"][0];
    assert_eq!(success["state"], "success");
    assert_eq!(record["status"], "success");
    // The success after a failed attempt is the deploy time.
    assert_eq!(record["finished_at"], success["created_at"]);
    assert_eq!(record["deployed_at"], success["created_at"]);
    assert_eq!(statuses["items"][2]["state"], "pending");
}

#[tokio::test]
async fn create_honours_idempotency_keys() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let post = || {
        app.client
            .post(app.url(&format!("{REPOS}/deployments")))
            .header("Authorization", format!("token {token}"))
            .header("Idempotency-Key", "run-42")
            .json(&json!({"ref": sha(1), "payload": {"run": 42}}))
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = post().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.headers()["location"].to_str().unwrap(),
        first["url"].as_str().unwrap()
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(app.deployment_rows().await, 1);
}
