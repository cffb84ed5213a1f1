//! Recording, reading, listing and finishing deployments.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{deployment, fixture, problem, spawn_app};

#[tokio::test]
async fn the_iftrue_fixture_is_recorded_and_read_back() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let resp = app
        .post_json("/api/v1/deployments", &token, &fixture())
        .await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = resp.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/deployments/{}", created["id"].as_str().unwrap())
    );
    assert_eq!(created["title"], "New Deployment");
    assert_eq!(created["status"], "success");
    assert_eq!(
        created["deployment_duration"],
        12 * 60,
        "minutes in, seconds out"
    );
    assert_eq!(created["is_fix"], true);
    assert_eq!(created["is_forced"], true);
    assert_eq!(created["commits_count"], 5);
    assert_eq!(created["pull_request_number"], 241);
    assert_eq!(created["node_id"], "sw52f5ff5ddf66=");
    assert_eq!(created["triggered_by"], "api");
    assert_eq!(created["environment"], "production");
    assert_eq!(created["is_production"], true);
    assert_eq!(created["repository"], "example/repo");
    assert_eq!(created["member_id"], "aef23f76-9e33-679d-a92c-ff7321f61bb8");
    assert!(created["number"].as_i64().unwrap() >= 1);
    for field in [
        "organization_id",
        "repository_id",
        "pusher_id",
        "created_at",
        "updated_at",
    ] {
        assert!(!created[field].is_null(), "{field}");
    }

    let read: Value = app.get(&location, &token).await.json().await.unwrap();
    assert_eq!(read, created);
}

#[tokio::test]
async fn the_iftrue_path_answers_in_iftrue_words() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let resp = app
        .post_json("/v1/organization/deployment", &token, &fixture())
        .await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["status"], "succes");

    let mut failed = deployment("https://github.com/acme/web", 2);
    failed["status"] = json!("fail");
    let created: Value = app
        .post_json("/v1/organization/deployment", &token, &failed)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["status"], "fail");
    // The canonical API speaks canonical words about the same record.
    let read: Value = app
        .get(
            &format!("/api/v1/deployments/{}", created["id"].as_str().unwrap()),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "failure");

    let mut running = deployment("https://github.com/acme/web", 3);
    running["status"] = json!("in_progress");
    let created: Value = app
        .post_json("/v1/organization/deployment", &token, &running)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["status"], "in_progress");
}

#[tokio::test]
async fn status_words_are_accepted() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    for (i, (word, canonical)) in [
        ("succes", "success"),
        ("success", "success"),
        ("in_progress", "in_progress"),
        ("fail", "failure"),
        ("failure", "failure"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = deployment("https://github.com/acme/web", i as u32 + 1);
        body["status"] = json!(word);
        let created = app.create_deployment(&token, &body).await;
        assert_eq!(created["status"], canonical, "{word}");
    }
}

#[tokio::test]
async fn spellings_of_a_repository_are_one_repository_and_members_are_reused() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let a = app
        .create_deployment(&token, &deployment("https://github.com/Acme/Web.git", 1))
        .await;
    let b = app
        .create_deployment(&token, &deployment("https://github.com/acme/web", 2))
        .await;
    let c = app
        .create_deployment(&token, &deployment("git@github.com:acme/web.git", 3))
        .await;
    let other = app
        .create_deployment(&token, &deployment("https://github.com/acme/api", 4))
        .await;
    assert_eq!(a["repository_id"], b["repository_id"]);
    assert_eq!(a["repository_id"], c["repository_id"]);
    assert_ne!(a["repository_id"], other["repository_id"]);
    assert_eq!(a["repository"], "acme/web");
    assert_eq!(a["pusher_id"], b["pusher_id"]);
    assert!(
        a["number"].as_i64() < b["number"].as_i64(),
        "numbers increase"
    );

    // Another organization gets its own repository for the same URL.
    let theirs = app
        .create_deployment(
            &app.rw_token("globex"),
            &deployment("https://github.com/acme/web", 5),
        )
        .await;
    assert_ne!(theirs["repository_id"], a["repository_id"]);
    assert_ne!(theirs["pusher_id"], a["pusher_id"]);
}

#[tokio::test]
async fn extensions_backfill_environments_commits_and_team() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut body = deployment("https://github.com/acme/web", 1);
    body["environment"] = json!("staging");
    body["is_rollback"] = json!(true);
    body["started_at"] = json!("2026-01-10T10:00:00Z");
    body["finished_at"] = json!("2026-01-10T10:05:30Z");
    body["team"] = json!("payments");
    body["commits"] = json!([
        {"sha": "ABCDEF1234567", "committed_at": "2026-01-09T08:00:00Z"},
        {"sha": "1234567abcdef", "committed_at": "2026-01-10T09:00:00Z"},
    ]);
    let created = app.create_deployment(&token, &body).await;
    assert_eq!(created["environment"], "staging");
    assert_eq!(
        created["is_production"], false,
        "only production is production by default"
    );
    assert_eq!(created["is_rollback"], true);
    assert_eq!(created["team"], "payments");
    assert_eq!(
        created["deployment_duration"], 330,
        "from started_at/finished_at"
    );
    let deployed_at =
        chrono::DateTime::parse_from_rfc3339(created["deployed_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        deployed_at,
        chrono::DateTime::parse_from_rfc3339("2026-01-10T10:05:30Z").unwrap()
    );
    let shas: Vec<&str> = created["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sha"].as_str().unwrap())
        .collect();
    assert_eq!(
        shas,
        ["abcdef1234567", "1234567abcdef"],
        "stored lower-case, oldest first"
    );

    let mut prod = deployment("https://github.com/acme/web", 2);
    prod["environment"] = json!("prod-eu");
    prod["is_production"] = json!(true);
    let created = app.create_deployment(&token, &prod).await;
    assert_eq!(created["is_production"], true);
}

#[tokio::test]
async fn listing_filters_and_pages_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut ids = Vec::new();
    for n in 1..=7u32 {
        let repo = if n % 2 == 0 {
            "https://github.com/acme/web"
        } else {
            "https://github.com/acme/api"
        };
        let mut body = deployment(repo, n);
        if n == 3 {
            body["status"] = json!("fail");
            body["branch"] = json!("hotfix");
        }
        if n == 5 {
            body["environment"] = json!("staging");
        }
        body["finished_at"] = json!(format!("2026-02-0{n}T12:00:00Z"));
        if n == 3 {
            body["finished_at"] = json!("2026-02-03T12:00:00Z");
        }
        ids.push(
            app.create_deployment(&token, &body).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/deployments?limit=3&cursor={c}"),
            None => "/api/v1/deployments?limit=3".to_owned(),
        };
        let page: Value = app.get(&path, &token).await.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "newest first, every deployment once");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);

    let count = |v: Value| v["items"].as_array().unwrap().len();
    let get = |q: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            app.get(&format!("/api/v1/deployments?{q}"), &token)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(count(get("status=failure").await), 1);
    assert_eq!(count(get("branch=hotfix").await), 1);
    assert_eq!(count(get("environment=staging").await), 1);
    assert_eq!(
        count(get("repository=https://github.com/Acme/Web.git").await),
        3
    );
    assert_eq!(
        count(get("since=2026-02-02T00:00:00Z&until=2026-02-04T00:00:00Z").await),
        2
    );
    assert_eq!(
        count(get("repository=https://github.com/acme/unknown").await),
        0
    );

    let (status, body) = problem(app.get("/api/v1/deployments?limit=0", &token).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "limit");
    let (status, _) = problem(app.get("/api/v1/deployments?limit=201", &token).await).await;
    assert_eq!(status, 400);
    let (status, _) = problem(app.get("/api/v1/deployments?cursor=abc", &token).await).await;
    assert_eq!(status, 400);
    let (status, _) = problem(app.get("/api/v1/deployments?status=done", &token).await).await;
    assert_eq!(status, 400);
    let (status, _) = problem(app.get("/api/v1/deployments?since=yesterday", &token).await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_in_progress_deployment_is_finished_by_patch() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut body = deployment("https://github.com/acme/web", 1);
    body["status"] = json!("in_progress");
    body["started_at"] = json!("2026-03-01T10:00:00Z");
    let created = app.create_deployment(&token, &body).await;
    assert!(created["finished_at"].is_null());
    let path = format!("/api/v1/deployments/{}", created["id"].as_str().unwrap());

    let patch = |body: Value| {
        let app = &app;
        let token = token.clone();
        let path = path.clone();
        async move {
            app.client
                .patch(app.url(&path))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // finishing before it started is refused
    let (status, _) =
        problem(patch(json!({"status": "success", "finished_at": "2026-03-01T09:00:00Z"})).await)
            .await;
    assert_eq!(status, 422);

    let resp = patch(json!({"status": "success", "finished_at": "2026-03-01T10:12:00Z"})).await;
    assert_eq!(resp.status(), 200);
    let done: Value = resp.json().await.unwrap();
    assert_eq!(done["status"], "success");
    assert_eq!(done["deployment_duration"], 720);
    let finished =
        chrono::DateTime::parse_from_rfc3339(done["finished_at"].as_str().unwrap()).unwrap();
    let deployed =
        chrono::DateTime::parse_from_rfc3339(done["deployed_at"].as_str().unwrap()).unwrap();
    assert_eq!(finished, deployed);
    // The status history records it: its latest status is the deployment's current one.
    let statuses: Value = app
        .get(&format!("{path}/statuses"), &token)
        .await
        .json()
        .await
        .unwrap();
    let states: Vec<&str> = statuses["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["success"], "{statuses}");

    let (status, body) = problem(patch(json!({"status": "failure"})).await).await;
    assert_eq!(status, 409);
    assert_eq!(body["type"], "invalid-transition");
    let (status, _) = problem(patch(json!({"status": "success", "title": "x"})).await).await;
    assert_eq!(status, 422, "a PATCH changes status and timing only");

    // Finishing without a time means now.
    let mut body = deployment("https://github.com/acme/web", 2);
    body["status"] = json!("in_progress");
    let created = app.create_deployment(&token, &body).await;
    let resp = app
        .client
        .patch(app.url(&format!(
            "/api/v1/deployments/{}",
            created["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .json(&json!({"status": "failure"}))
        .send()
        .await
        .unwrap();
    let done: Value = resp.json().await.unwrap();
    assert_eq!(done["status"], "failure");
    assert!(!done["finished_at"].is_null());

    let unknown = app
        .client
        .patch(app.url(&format!("/api/v1/deployments/{}", uuid::Uuid::new_v4())))
        .bearer_auth(&token)
        .json(&json!({"status": "success"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn concurrent_clients_lose_nothing() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let clients = 32u32;
    let each = 25u32;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let client = app.client.clone();
        let url = app.url("/api/v1/deployments");
        let token = token.clone();
        tasks.spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..each {
                let body = deployment(
                    &format!("https://github.com/acme/svc-{}", c % 4),
                    c * 1000 + i + 1,
                );
                let resp = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                statuses.push(resp.status().as_u16());
            }
            statuses
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    assert!(
        all.iter().all(|s| *s == 201),
        "every request succeeds: {:?}",
        all.iter().filter(|s| **s != 201).collect::<Vec<_>>()
    );
    assert_eq!(app.deployment_rows().await, u64::from(clients * each));
}

#[tokio::test]
async fn probes_and_docs_are_served() {
    let app = spawn_app().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/api/v1/deployments"].is_object());
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let (status, _) = problem(
        app.client
            .get(app.url("/no/such/route"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
}

/// Repositories and members already seen are not looked up again (`store::known`): the
/// team a request names must still be written, even when the stored team was changed
/// behind this instance's back (by another instance), and a request without a team must
/// still show the stored one.
#[tokio::test]
async fn a_known_repository_still_records_and_shows_its_team() {
    use sea_orm::{EntityTrait, sea_query::Expr};
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let repo = "https://github.com/acme/web";
    let first = app.create_deployment(&token, &deployment(repo, 1)).await;
    assert_eq!(first["team"], Value::Null);

    let mut body = deployment(repo, 2);
    body["team"] = json!("payments");
    let second = app.create_deployment(&token, &body).await;
    assert_eq!(second["team"], "payments");
    assert_eq!(second["repository_id"], first["repository_id"]);
    assert_eq!(second["repository_url"], first["repository_url"]);
    assert_eq!(second["repository"], "acme/web");
    assert_eq!(second["pusher_id"], first["pusher_id"]);

    let third = app.create_deployment(&token, &deployment(repo, 3)).await;
    assert_eq!(third["team"], "payments", "the stored team is shown");

    // Another instance sets another team.
    let txn = app.state.core.db.begin_write().await.unwrap();
    entity::repositories::Entity::update_many()
        .col_expr(entity::repositories::Column::Team, Expr::value("elsewhere"))
        .exec(&txn)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let fourth = app.create_deployment(&token, &deployment(repo, 4)).await;
    assert_eq!(fourth["team"], "elsewhere", "read, not remembered");

    // Naming the team this instance saw last still writes it.
    let mut body = deployment(repo, 5);
    body["team"] = json!("payments");
    let fifth = app.create_deployment(&token, &body).await;
    assert_eq!(fifth["team"], "payments");
    let read: Value = app
        .get(
            &format!("/api/v1/deployments/{}", first["id"].as_str().unwrap()),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["team"], "payments", "written to the repository");
    assert_eq!(fifth["pusher_id"], first["pusher_id"]);
}
