//! `/api/v1/integrations`: created with an admin token, the secret shown once and stored
//! sealed, options validated per kind, secrets rotated with an overlap; and the webhook URLs'
//! refusals (bad or missing signatures, unknown or deleted integrations) record nothing.

use api::auth::Scope;
use entity::integrations;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};

use crate::{
    helpers::{problem, spawn_app, spawn_app_with},
    webhook_helpers::{admin, fixture, github, github_signature, gitlab, integration},
};

#[tokio::test]
async fn an_integration_is_created_read_changed_and_deleted() {
    let app = spawn_app_with(|a| a.public_url = Some("https://dora.example.com".to_owned())).await;
    let token = admin(&app, "acme");
    let created = integration(&app, "acme", "github", json!({"repositories": ["acme/*"]})).await;
    let body = &created.body;
    assert_eq!(body["kind"], "github");
    assert_eq!(
        body["webhook_url"],
        format!("https://dora.example.com/webhooks/github/{}", created.id)
    );
    assert!(created.secret.len() >= 43, "{}", created.secret);
    assert!(
        created
            .secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(
        body["options"]["production_environments"],
        json!(["production"])
    );
    assert_eq!(body["options"]["incident_label"], "incident");
    assert_eq!(body["options"]["repositories"], json!(["acme/*"]));
    assert_eq!(body["deliveries"]["total"], 0);

    // Never shown again, and not in the database in clear.
    let path = format!("/api/v1/integrations/{}", created.id);
    let read: Value = app.get(&path, &token).await.json().await.unwrap();
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(read["webhook_url"], body["webhook_url"]);
    let list: Value = app
        .get("/api/v1/integrations", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&created.secret));
    let row = integrations::Entity::find()
        .all(app.state.core.db.read())
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(!format!("{row:?}").contains(&created.secret));

    let resp = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&token)
        .json(&json!({"name": "GitHub acme", "options": {"production_environments": ["Prod", "live"], "deployment_workflows": ["deploy*"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let changed: Value = resp.json().await.unwrap();
    assert_eq!(changed["name"], "GitHub acme");
    assert_eq!(
        changed["options"]["production_environments"],
        json!(["prod", "live"])
    );
    assert_eq!(changed["options"]["repositories"], Value::Null);

    let resp = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(app.get(&path, &token).await.status(), 404);
    // Its URL now answers like an unknown one.
    let payload = fixture("github/ping.json");
    let resp = github(&app, &created.id, &created.secret, "ping", "d-1", &payload).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn integrations_need_admin_and_stay_in_their_organization() {
    let app = spawn_app().await;
    let created = integration(&app, "acme", "gitlab", json!({})).await;
    let path = format!("/api/v1/integrations/{}", created.id);
    let ingest = app.token("acme", &[Scope::Ingest, Scope::Read]);
    assert_eq!(app.get(&path, &ingest).await.status(), 403);
    let other = admin(&app, "globex");
    assert_eq!(app.get(&path, &other).await.status(), 404);
    let resp = app
        .client
        .post(app.url(&format!("{path}/rotate-secret")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = app
        .get("/api/v1/integrations", &other)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["items"], json!([]));
}

#[tokio::test]
async fn options_are_validated_for_the_kind() {
    let app = spawn_app().await;
    let token = admin(&app, "acme");
    let cases = [
        (json!({"kind": "jira", "name": "x"}), "kind"),
        (json!({"kind": "github", "name": " "}), "name"),
        (
            json!({"kind": "gitlab", "name": "x", "options": {"deployment_workflows": ["deploy"]}}),
            "options.deployment_workflows",
        ),
        (
            json!({"kind": "github", "name": "x", "options": {"production_environments": ["prod uction"]}}),
            "options.production_environments[0]",
        ),
        (
            json!({"kind": "github", "name": "x", "options": {"repositories": ["web"]}}),
            "options.repositories[0]",
        ),
        (
            json!({"kind": "github", "name": "x", "options": {"deployment_workflows": ["[unclosed"]}}),
            "options.deployment_workflows[0]",
        ),
        (
            json!({"kind": "github", "name": "x", "options": {"colour": "red"}}),
            "options.colour",
        ),
    ];
    for (body, field) in cases {
        let (status, p) = problem(app.post_json("/api/v1/integrations", &token, &body).await).await;
        assert_eq!(status, 422, "{body}: {p}");
        assert_eq!(p["errors"][0]["field"], field, "{body}: {p}");
    }
    integration(&app, "acme", "github", json!({})).await;
    let (status, p) = problem(
        app.post_json(
            "/api/v1/integrations",
            &token,
            &json!({"kind": "github", "name": "github acme"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "{p}");
    assert_eq!(app.deployment_rows().await, 0);
}

#[tokio::test]
async fn deliveries_that_cannot_be_verified_record_nothing() {
    let app = spawn_app_with(|a| a.max_body_bytes = 4096).await;
    let hook = integration(&app, "acme", "github", json!({})).await;
    let payload = fixture("github/deployment.json");
    let body = serde_json::to_vec(&payload).unwrap();
    let send = |id: String, signature: Option<String>, body: Vec<u8>| {
        let mut req = app
            .client
            .post(app.url(&format!("/webhooks/github/{id}")))
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", "deployment")
            .header("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string());
        if let Some(signature) = signature {
            req = req.header("X-Hub-Signature-256", signature);
        }
        req.body(body).send()
    };
    let good = github_signature(&hook.secret, &body);
    for (id, signature) in [
        (hook.id.clone(), None),
        (hook.id.clone(), Some("sha256=00".to_owned())),
        (
            hook.id.clone(),
            Some(github_signature("another secret", &body)),
        ),
        (hook.id.clone(), Some(good.replace("sha256=", "sha1="))),
        (uuid::Uuid::now_v7().to_string(), Some(good.clone())),
        ("not-an-id".to_owned(), Some(good.clone())),
    ] {
        let (status, p) = problem(send(id, signature, body.clone()).await.unwrap()).await;
        assert_eq!(status, 401, "{p}");
    }
    // A body altered after signing.
    let mut altered = body.clone();
    altered.push(b' ');
    let resp = send(hook.id.clone(), Some(good.clone()), altered)
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A GitLab token at the GitHub URL, a GitHub integration at the GitLab URL.
    let resp = gitlab(
        &app,
        &hook.id,
        &hook.secret,
        "Push Hook",
        "k",
        &fixture("gitlab/push.json"),
    )
    .await;
    assert_eq!(resp.status(), 401);
    // Too large (with and without Content-Length).
    let big = vec![b' '; 5000];
    let resp = send(
        hook.id.clone(),
        Some(github_signature(&hook.secret, &big)),
        big.clone(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 413);
    let stream = futures_util::stream::iter(
        big.chunks(1000)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let resp = app
        .client
        .post(app.url(&format!("/webhooks/github/{}", hook.id)))
        .header("X-GitHub-Event", "deployment")
        .header("X-Hub-Signature-256", github_signature(&hook.secret, &big))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // Signed but malformed: a 400 naming the field, nothing recorded.
    let mut bad = payload.clone();
    bad["deployment"]["created_at"] = json!("yesterday");
    let bad = serde_json::to_vec(&bad).unwrap();
    let (status, p) = problem(
        send(
            hook.id.clone(),
            Some(github_signature(&hook.secret, &bad)),
            bad,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("deployment.created_at"),
        "{p}"
    );
    let not_json = b"{not json".to_vec();
    let resp = send(
        hook.id.clone(),
        Some(github_signature(&hook.secret, &not_json)),
        not_json,
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);

    assert_eq!(app.deployment_rows().await, 0);
    let read: Value = app
        .get(
            &format!("/api/v1/integrations/{}", hook.id),
            &admin(&app, "acme"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["deliveries"]["total"], 0, "{read}");
    // Then the same delivery, signed right, is recorded.
    let resp = send(hook.id.clone(), Some(good), body).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(app.deployment_rows().await, 1);
}

#[tokio::test]
async fn ping_and_unhandled_events_are_acknowledged_and_counted() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "github", json!({})).await;
    let resp = github(
        &app,
        &hook.id,
        &hook.secret,
        "ping",
        "p-1",
        &fixture("github/ping.json"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let star = json!({"action": "created", "starred_at": "2026-10-02T09:00:00Z",
                      "repository": fixture("github/ping.json")["organization"].clone()});
    let resp = github(&app, &hook.id, &hook.secret, "star", "s-1", &star).await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"], "unhandled");
    assert_eq!(app.deployment_rows().await, 0);

    let read: Value = app
        .get(
            &format!("/api/v1/integrations/{}", hook.id),
            &admin(&app, "acme"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["deliveries"]["total"], 2, "{read}");
    assert_eq!(read["deliveries"]["unhandled"], 1, "{read}");
    assert_eq!(read["deliveries"]["ignored"], 1, "{read}");
    assert_eq!(read["deliveries"]["last_event"], "star");
    assert!(read["deliveries"]["last_delivery_at"].is_string());

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"dora_webhook_deliveries_total{event="other",result="unhandled",source="github"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"dora_webhook_deliveries_total{event="ping",result="ignored",source="github"} 1"#
    ));
}

#[tokio::test]
async fn a_rotated_secret_keeps_working_for_the_overlap() {
    let app = spawn_app().await;
    let token = admin(&app, "acme");
    let hook = integration(&app, "acme", "github", json!({})).await;
    let ping = fixture("github/ping.json");
    let rotate = || async {
        let resp = app
            .client
            .post(app.url(&format!("/api/v1/integrations/{}/rotate-secret", hook.id)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        resp.json::<Value>().await.unwrap()
    };
    let rotated = rotate().await;
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(second, hook.secret);
    let expires: chrono::DateTime<chrono::Utc> = rotated["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let overlap = expires - chrono::Utc::now();
    assert!(overlap > chrono::Duration::hours(23) && overlap <= chrono::Duration::hours(24));
    for (secret, delivery) in [(&hook.secret, "a"), (&second, "b")] {
        let resp = github(&app, &hook.id, secret, "ping", delivery, &ping).await;
        assert_eq!(resp.status(), 200, "{delivery}");
    }
    // A second rotation drops the first secret at once.
    let third = rotate().await["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        github(&app, &hook.id, &hook.secret, "ping", "c", &ping)
            .await
            .status(),
        401
    );
    assert_eq!(
        github(&app, &hook.id, &second, "ping", "d", &ping)
            .await
            .status(),
        200
    );
    assert_eq!(
        github(&app, &hook.id, &third, "ping", "e", &ping)
            .await
            .status(),
        200
    );
    // Past the overlap the previous one stops.
    let row = integrations::Entity::find_by_id(uuid::Uuid::parse_str(&hook.id).unwrap())
        .one(app.state.core.db.read())
        .await
        .unwrap()
        .unwrap();
    let mut active: integrations::ActiveModel = row.into();
    active.previous_secret_expires_at =
        Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    let txn = app.state.core.db.begin_write().await.unwrap();
    active.update(&txn).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        github(&app, &hook.id, &second, "ping", "f", &ping)
            .await
            .status(),
        401
    );
    assert_eq!(
        github(&app, &hook.id, &third, "ping", "g", &ping)
            .await
            .status(),
        200
    );
    let read: Value = app
        .get(&format!("/api/v1/integrations/{}", hook.id), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["previous_secret_expires_at"], Value::Null);
}

#[tokio::test]
async fn a_deploy_hook_refuses_github_and_gitlab_webhooks() {
    let app = spawn_app().await;
    let token = admin(&app, "acme");
    let created: Value = app
        .post_json(
            "/api/v1/deploy-hooks",
            &token,
            &json!({"name": "prod", "repository_url": "https://github.com/acme/web", "branch": "main"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let url = created["url"].as_str().unwrap();
    for (header, value) in [("X-GitHub-Event", "ping"), ("X-Gitlab-Event", "Push Hook")] {
        let resp = app
            .client
            .post(url)
            .header(header, value)
            .json(&fixture("github/ping.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{header}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("/api/v1/integrations"),
            "{body}"
        );
    }
    assert_eq!(app.deployment_rows().await, 0);
    // Without those headers it still records.
    assert_eq!(app.client.post(url).send().await.unwrap().status(), 200);
    assert_eq!(app.deployment_rows().await, 1);
}
