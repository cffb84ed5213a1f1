//! GitLab webhooks: the token, Deployment Hooks through their statuses, pushes and the commits
//! they give, incident issues, and redelivery by `Idempotency-Key`.

use serde_json::{Value, json};

use crate::{
    helpers::{problem, spawn_app},
    webhook_helpers::{commit_shas, deployments, fixture, gitlab, incidents, integration},
};

const SHA: &str = "279484c09fbe69ededfced8c1bb6e6d24616b468";

fn deployment_hook(status: &str, at: &str) -> Value {
    let mut d = fixture("gitlab/deployment.json");
    d["status"] = json!(status);
    d["status_changed_at"] = json!(at);
    d
}

#[tokio::test]
async fn deployment_hooks_record_a_deployment_through_its_statuses() {
    let app = spawn_app().await;
    let hook = integration(
        &app,
        "acme",
        "gitlab",
        json!({"production_environments": ["prod"]}),
    )
    .await;
    let send = |status: &'static str, at: &'static str, key: &'static str| {
        let (app, hook) = (&app, &hook);
        async move {
            let payload = deployment_hook(status, at);
            gitlab(
                app,
                &hook.id,
                &hook.secret,
                "Deployment Hook",
                key,
                &payload,
            )
            .await
        }
    };
    assert_eq!(
        send("created", "2026-10-02 11:00:00 +0200", "k1")
            .await
            .status(),
        200
    );
    let dep = &deployments(&app, "acme").await[0];
    assert_eq!(dep["status"], "queued");
    assert_eq!(dep["triggered_by"], "gitlab_webhook");
    assert_eq!(dep["commit_id"], SHA);
    assert_eq!(dep["repository"], "mike/diaspora");
    assert_eq!(
        dep["repository_url"],
        "https://gitlab.example.com/mike/diaspora"
    );
    // `environment_tier: production` wins over `production_environments`.
    assert_eq!(dep["is_production"], true);
    assert_eq!(dep["created_at"], "2026-10-02T09:00:00+00:00");
    assert_eq!(
        send("running", "2026-10-02 09:01:00 UTC", "k2")
            .await
            .status(),
        200
    );
    assert_eq!(
        send("success", "2026-10-02T09:10:00Z", "k3").await.status(),
        200
    );
    // Redelivered (same Idempotency-Key), and a late `running` (a new key): nothing changes.
    let again: Value = send("success", "2026-10-02T09:10:00Z", "k3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["result"], "duplicate");
    send("running", "2026-10-02 09:01:00 UTC", "k4").await;
    let all = deployments(&app, "acme").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "success");
    assert_eq!(all[0]["started_at"], "2026-10-02T09:01:00+00:00");
    assert_eq!(all[0]["finished_at"], "2026-10-02T09:10:00+00:00");

    // A canceled one, in a staging tier.
    let mut staging = deployment_hook("canceled", "2026-10-03 09:00:00 UTC");
    staging["deployment_id"] = json!(16);
    staging["environment"] = json!("Staging EU");
    staging["environment_tier"] = json!("staging");
    gitlab(
        &app,
        &hook.id,
        &hook.secret,
        "Deployment Hook",
        "k5",
        &staging,
    )
    .await;
    let dep = &deployments(&app, "acme").await[0];
    assert_eq!(dep["status"], "canceled");
    assert_eq!(dep["environment"], "staging-eu");
    assert_eq!(dep["is_production"], false);
}

#[tokio::test]
async fn the_token_must_match() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "gitlab", json!({})).await;
    let payload = deployment_hook("success", "2026-10-02T09:10:00Z");
    for token in ["", "wrong", &hook.secret[1..]] {
        let (status, _) =
            problem(gitlab(&app, &hook.id, token, "Deployment Hook", "k", &payload).await).await;
        assert_eq!(status, 401, "{token}");
    }
    let resp = app
        .client
        .post(app.url(&format!("/webhooks/gitlab/{}", hook.id)))
        .header("X-Gitlab-Event", "Deployment Hook")
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(app.deployment_rows().await, 0);
    let resp = gitlab(
        &app,
        &hook.id,
        &hook.secret,
        "Pipeline Hook",
        "p",
        &json!({"object_kind": "pipeline"}),
    )
    .await;
    assert_eq!(resp.status(), 202);
}

#[tokio::test]
async fn pushes_give_gitlab_deployments_their_commits() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "gitlab", json!({})).await;
    assert_eq!(
        gitlab(
            &app,
            &hook.id,
            &hook.secret,
            "Push Hook",
            "p1",
            &fixture("gitlab/push.json")
        )
        .await
        .status(),
        200
    );
    gitlab(
        &app,
        &hook.id,
        &hook.secret,
        "Deployment Hook",
        "d1",
        &deployment_hook("success", "2026-10-02T09:10:00Z"),
    )
    .await;
    let dep = &deployments(&app, "acme").await[0];
    assert_eq!(
        commit_shas(dep),
        [
            "279484c09fbe69ededfced8c1bb6e6d24616b468",
            "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"
        ]
    );
    let first = dep["commits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sha"] == "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327")
        .unwrap()
        .clone();
    assert_eq!(first["committed_at"], "2026-10-02T08:27:31+00:00");
}

#[tokio::test]
async fn incident_issues_open_and_close() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "gitlab", json!({})).await;
    let opened = fixture("gitlab/issue.json");
    gitlab(&app, &hook.id, &hook.secret, "Issue Hook", "i1", &opened).await;
    let list = incidents(&app, "acme", "?source=gitlab").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["source_id"], "mike/diaspora#23");
    assert_eq!(list[0]["severity"], "high");
    assert_eq!(list[0]["started_at"], "2026-10-02T12:00:00+00:00");
    let mut closed = opened.clone();
    closed["object_attributes"]["state"] = json!("closed");
    closed["object_attributes"]["action"] = json!("close");
    closed["object_attributes"]["updated_at"] = json!("2026-10-02 13:00:00 UTC");
    closed["object_attributes"]["closed_at"] = json!("2026-10-02 13:00:00 UTC");
    gitlab(&app, &hook.id, &hook.secret, "Issue Hook", "i2", &closed).await;
    let list = incidents(&app, "acme", "").await;
    assert_eq!(list[0]["resolved_at"], "2026-10-02T13:00:00+00:00");
    // A plain issue with the incident label is one too; without it, it is not.
    let mut plain = opened.clone();
    plain["object_attributes"]["id"] = json!(302);
    plain["object_attributes"]["iid"] = json!(24);
    plain["object_attributes"]["type"] = json!("Issue");
    let ignored: Value = gitlab(&app, &hook.id, &hook.secret, "Issue Hook", "i3", &plain)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ignored["result"], "ignored");
    plain["labels"] =
        json!([{"id": 206, "title": "Incident", "color": "#ff0000", "type": "ProjectLabel"}]);
    plain["object_attributes"]["updated_at"] = json!("2026-10-02 12:05:00 UTC");
    gitlab(&app, &hook.id, &hook.secret, "Issue Hook", "i4", &plain).await;
    assert_eq!(incidents(&app, "acme", "").await.len(), 2);
}
