//! `/api/v1/incidents`: recording, attribution rules, listing, resolving, isolation.

use serde_json::{Value, json};

use crate::helpers::{TestApp, deployment, problem, spawn_app};

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let resp = app.post_json("/api/v1/incidents", token, &body).await;
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    let incident: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        location.unwrap(),
        format!("/api/v1/incidents/{}", incident["id"].as_str().unwrap())
    );
    incident
}

#[tokio::test]
async fn an_incident_is_recorded_with_defaults_and_read_back() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let before = chrono::Utc::now();
    let incident = create(&app, &token, json!({"title": "Checkout is down"})).await;
    assert_eq!(incident["environment"], "production");
    assert_eq!(incident["is_production"], true);
    assert_eq!(incident["repository_id"], Value::Null);
    assert_eq!(incident["deployment_id"], Value::Null);
    assert_eq!(incident["resolved_at"], Value::Null);
    assert_eq!(incident["severity"], Value::Null);
    let started: chrono::DateTime<chrono::Utc> =
        incident["started_at"].as_str().unwrap().parse().unwrap();
    assert!((started - before).num_seconds().abs() < 60);

    let id = incident["id"].as_str().unwrap();
    let resp = app.get(&format!("/api/v1/incidents/{id}"), &token).await;
    assert_eq!(resp.status(), 200);
    let read: Value = resp.json().await.unwrap();
    assert_eq!(read, incident);
}

#[tokio::test]
async fn an_incident_naming_a_deployment_takes_its_repository_and_environment() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut body = deployment("https://github.com/acme/web", 1);
    body["environment"] = json!("staging");
    let d = app.create_deployment(&token, &body).await;
    let incident = create(
        &app,
        &token,
        json!({"title": "Errors", "deployment_id": d["id"], "severity": "sev1",
               "started_at": "2026-03-01T10:00:00Z", "resolved_at": "2026-03-01T11:30:00Z"}),
    )
    .await;
    assert_eq!(incident["repository_id"], d["repository_id"]);
    assert_eq!(incident["environment"], "staging");
    assert_eq!(incident["is_production"], false);
    assert_eq!(incident["severity"], "sev1");
    assert_eq!(incident["duration_seconds"], 5400);

    // Naming a different repository or environment than the deployment's is refused.
    for extra in [
        json!({"environment": "production"}),
        json!({"repository_url": "https://github.com/acme/other"}),
    ] {
        let mut body = json!({"title": "x", "deployment_id": d["id"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, _) = problem(app.post_json("/api/v1/incidents", &token, &body).await).await;
        assert_eq!(status, 422, "{body}");
    }
}

#[tokio::test]
async fn an_incident_names_only_known_repositories_and_own_deployments() {
    let app = spawn_app().await;
    let acme = app.rw_token("acme");
    let globex = app.rw_token("globex");
    let theirs = app
        .create_deployment(&globex, &deployment("https://github.com/globex/app", 1))
        .await;
    app.create_deployment(&acme, &deployment("https://github.com/acme/web", 2))
        .await;

    // Another organization's deployment looks exactly like one that does not exist.
    let mut answers = Vec::new();
    for id in [
        theirs["id"].clone(),
        json!("0190a0a0-0000-7000-8000-000000000000"),
    ] {
        let (status, body) = problem(
            app.post_json(
                "/api/v1/incidents",
                &acme,
                &json!({"title": "x", "deployment_id": id}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(body["errors"][0]["field"], "deployment_id");
        answers.push(body["detail"].clone());
    }
    assert_eq!(answers[0], answers[1]);

    // A repository the organization has never deployed.
    for url in [
        "https://github.com/globex/app",
        "https://github.com/acme/unknown",
    ] {
        let (status, body) = problem(
            app.post_json(
                "/api/v1/incidents",
                &acme,
                &json!({"title": "x", "repository_url": url}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(body["errors"][0]["field"], "repository_url");
    }
    // Any spelling of a known one works.
    let incident = create(
        &app,
        &acme,
        json!({"title": "x", "repository_url": "git@github.com:Acme/Web.git", "environment": "staging"}),
    )
    .await;
    assert_eq!(incident["environment"], "staging");
    assert_eq!(incident["is_production"], false);
}

#[tokio::test]
async fn invalid_incidents_are_422s() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    for body in [
        json!({}),
        json!({"title": ""}),
        json!({"title": "x".repeat(501)}),
        json!({"title": "x", "severity": "s".repeat(65)}),
        json!({"title": "x", "environment": "bad env"}),
        json!({"title": "x", "started_at": "yesterday"}),
        json!({"title": "x", "deployment_id": "not-a-uuid"}),
        json!({"title": "x", "unknown": 1}),
        json!({"title": "x", "started_at": "2026-03-01T10:00:00Z", "resolved_at": "2026-03-01T09:00:00Z"}),
    ] {
        let (status, _) = problem(app.post_json("/api/v1/incidents", &token, &body).await).await;
        assert_eq!(status, 422, "{body}");
    }
    assert_eq!(
        app.get("/api/v1/incidents", &token)
            .await
            .json::<Value>()
            .await
            .unwrap()["items"],
        json!([])
    );
}

#[tokio::test]
async fn resolving_twice_or_before_the_start_is_refused() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let incident = create(
        &app,
        &token,
        json!({"title": "x", "started_at": "2026-03-01T10:00:00Z"}),
    )
    .await;
    let path = format!(
        "/api/v1/incidents/{}/resolve",
        incident["id"].as_str().unwrap()
    );
    let (status, body) = problem(
        app.post_json(
            &path,
            &token,
            &json!({"resolved_at": "2026-03-01T09:59:59Z"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "resolved_at");

    let resp = app.post_json(&path, &token, &json!({})).await;
    assert_eq!(resp.status(), 200);
    let resolved: Value = resp.json().await.unwrap();
    assert!(resolved["resolved_at"].is_string());

    let (status, body) = problem(app.post_json(&path, &token, &json!({})).await).await;
    assert_eq!(status, 409);
    assert_eq!(body["type"], "incident-resolved");

    // Another organization cannot see or resolve it.
    let other = app.rw_token("globex");
    let (status, _) = problem(app.post_json(&path, &other, &json!({})).await).await;
    assert_eq!(status, 404);
    let (status, _) = problem(
        app.get(
            &format!("/api/v1/incidents/{}", incident["id"].as_str().unwrap()),
            &other,
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = problem(app.get("/api/v1/incidents/nope", &token).await).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn incidents_are_listed_with_filters_and_pages() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let d = app
        .create_deployment(&token, &deployment("https://github.com/acme/web", 1))
        .await;
    for k in 0..7 {
        let mut body = json!({
            "title": format!("Incident {k}"),
            "started_at": format!("2026-03-0{}T10:00:00Z", k + 1),
        });
        if k % 2 == 0 {
            body["deployment_id"] = d["id"].clone();
        }
        if k % 3 == 0 {
            body["resolved_at"] = json!(format!("2026-03-0{}T12:00:00Z", k + 1));
        }
        create(&app, &token, body).await;
    }
    create(&app, &app.rw_token("globex"), json!({"title": "theirs"})).await;

    let mut titles = Vec::new();
    let mut path = "/api/v1/incidents?limit=3".to_owned();
    loop {
        let page: Value = app.get(&path, &token).await.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            titles.push(item["title"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/incidents?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).rev().map(|k| format!("Incident {k}")).collect();
    assert_eq!(titles, expected);

    let count = |query: &'static str| {
        let app = &app;
        let token = &token;
        async move {
            let page: Value = app
                .get(&format!("/api/v1/incidents?{query}"), token)
                .await
                .json()
                .await
                .unwrap();
            page["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("open=true").await, 4);
    assert_eq!(count("open=false").await, 3);
    assert_eq!(count("repository=https://github.com/acme/web").await, 4);
    assert_eq!(count("environment=production").await, 7);
    assert_eq!(count("environment=staging").await, 0);
    assert_eq!(
        count("since=2026-03-02T00:00:00Z&until=2026-03-04T00:00:00Z").await,
        2
    );
    let (status, _) = problem(app.get("/api/v1/incidents?cursor=zzz", &token).await).await;
    assert_eq!(status, 400);
    let (status, _) = problem(app.get("/api/v1/incidents?limit=0", &token).await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn incident_writes_need_ingest_and_reads_need_read() {
    let app = spawn_app().await;
    let read = app.token("acme", &[api::auth::Scope::Read]);
    let ingest = app.token("acme", &[api::auth::Scope::Ingest]);
    let (status, _) = problem(
        app.post_json("/api/v1/incidents", &read, &json!({"title": "x"}))
            .await,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = problem(app.get("/api/v1/incidents", &ingest).await).await;
    assert_eq!(status, 403);
}

/// Resolving one incident twice at the same moment: exactly one succeeds, the other is told it
/// was resolved already (on PostgreSQL the row is locked between the check and the write).
#[tokio::test]
async fn concurrent_resolves_resolve_once() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    for k in 0..8 {
        let incident = create(
            &app,
            &token,
            json!({"title": format!("x{k}"), "started_at": "2026-03-01T10:00:00Z"}),
        )
        .await;
        let path = format!(
            "/api/v1/incidents/{}/resolve",
            incident["id"].as_str().unwrap()
        );
        let (first, second) = (
            json!({"resolved_at": "2026-03-01T11:00:00Z"}),
            json!({"resolved_at": "2026-03-01T12:00:00Z"}),
        );
        let (a, b) = tokio::join!(
            app.post_json(&path, &token, &first),
            app.post_json(&path, &token, &second)
        );
        let mut codes = [a.status().as_u16(), b.status().as_u16()];
        codes.sort_unstable();
        assert_eq!(codes, [200, 409], "incident {k}");
    }
}
