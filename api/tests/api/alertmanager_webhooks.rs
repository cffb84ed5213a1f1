//! Alertmanager notifications (and Grafana Alerting's webhook contact point): the bearer
//! secret, each alert of a grouped notification one incident by fingerprint and start,
//! repeated notifications and late ones changing nothing, the `match` filter and the labels
//! that place an incident.

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, problem, spawn_app},
    webhook_helpers::{TestIntegration, admin, alertmanager, fixture, incidents, integration},
};

async fn notify(app: &TestApp, hook: &TestIntegration, payload: &Value) -> Value {
    let resp = alertmanager(
        app,
        &hook.id,
        Some(&format!("Bearer {}", hook.secret)),
        payload,
    )
    .await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The fixture's notification with only alert `i`, `status` (and `endsAt` when resolved).
fn only(i: usize, status: &str, ends_at: Option<&str>) -> Value {
    let mut n = fixture("alertmanager/firing.json");
    let mut alert = n["alerts"][i].clone();
    alert["status"] = json!(status);
    if let Some(at) = ends_at {
        alert["endsAt"] = json!(at);
    }
    n["alerts"] = json!([alert]);
    n["status"] = json!(status);
    n
}

#[tokio::test]
async fn each_alert_is_an_incident_by_fingerprint_and_start() {
    let app = spawn_app().await;
    let hook = integration(
        &app,
        "acme",
        "alertmanager",
        json!({"match": {"dora_incident": "true"}}),
    )
    .await;
    assert_eq!(
        hook.body["options"]["match"],
        json!({"dora_incident": "true"})
    );
    assert_eq!(hook.body["options"]["repository_label"], "repository");
    assert_eq!(hook.body["options"]["title_annotation"], "summary");

    // A grouped notification: two alerts, two incidents.
    let firing = fixture("alertmanager/firing.json");
    let body = notify(&app, &hook, &firing).await;
    assert_eq!(body["result"], "recorded", "{body}");
    let listed = incidents(&app, "acme", "?source=alertmanager").await;
    assert_eq!(listed.len(), 2);
    let first = listed
        .iter()
        .find(|i| {
            i["source_id"]
                .as_str()
                .unwrap()
                .starts_with("a1b2c3d4e5f60718@")
        })
        .unwrap();
    assert_eq!(
        first["source_id"],
        "a1b2c3d4e5f60718@2026-10-02T10:00:00.123456Z"
    );
    assert_eq!(first["title"], "Checkout error rate above 5%");
    assert_eq!(first["severity"], "critical");
    assert_eq!(first["environment"], "production");
    assert_eq!(first["started_at"], "2026-10-02T10:00:00.123456+00:00");
    assert_eq!(first["resolved_at"], Value::Null);
    assert!(
        first["source_url"]
            .as_str()
            .unwrap()
            .starts_with("http://prometheus.acme.internal:9090/graph")
    );
    // The repository label (a URL) places it: the repository exists now.
    assert_ne!(first["repository_id"], Value::Null);

    // Alertmanager repeats the notification every `repeat_interval`: nothing changes.
    let body = notify(&app, &hook, &firing).await;
    assert_eq!(body["result"], "duplicate");
    assert_eq!(incidents(&app, "acme", "").await.len(), 2);

    // The first alert resolves (Alertmanager sends the group with it resolved).
    let mut group = firing.clone();
    group["alerts"][0]["status"] = json!("resolved");
    group["alerts"][0]["endsAt"] = json!("2026-10-02T10:20:00.5Z");
    let body = notify(&app, &hook, &group).await;
    assert_eq!(body["result"], "recorded");
    let resolved = incidents(&app, "acme", "?open=false").await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["id"], first["id"]);
    assert_eq!(resolved[0]["resolved_at"], "2026-10-02T10:20:00.500+00:00");
    // A firing notification of it sent before the resolve, delivered after: no reopening.
    let body = notify(&app, &hook, &only(0, "firing", None)).await;
    assert_eq!(body["result"], "duplicate");
    assert_eq!(incidents(&app, "acme", "?open=false").await.len(), 1);
    // The resolved notification again: nothing.
    let body = notify(&app, &hook, &group).await;
    assert_eq!(body["result"], "duplicate");

    // The same alert firing again later is a new incident.
    let mut again = only(0, "firing", None);
    again["alerts"][0]["startsAt"] = json!("2026-10-02T12:00:00Z");
    let body = notify(&app, &hook, &again).await;
    assert_eq!(body["result"], "recorded");
    assert_eq!(incidents(&app, "acme", "").await.len(), 3);
    assert_eq!(incidents(&app, "acme", "?open=true").await.len(), 2);

    // An alert without the `match` label is not an incident; Alertmanager's truncation is
    // said in the answer.
    let mut other = only(1, "firing", None);
    other["alerts"][0]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("dora_incident");
    other["alerts"][0]["fingerprint"] = json!("ffffffffffffffff");
    other["truncatedAlerts"] = json!(3);
    let body = notify(&app, &hook, &other).await;
    assert_eq!(body["result"], "ignored", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("left 3 alerts"),
        "{body}"
    );
    assert_eq!(incidents(&app, "acme", "").await.len(), 3);

    let shown: Value = app
        .get(
            &format!("/api/v1/integrations/{}", hook.id),
            &admin(&app, "acme"),
        )
        .await
        .json()
        .await
        .unwrap();
    let counts = &shown["deliveries"];
    assert_eq!(counts["total"], 7, "{counts}");
    assert_eq!(counts["recorded"], 3, "{counts}");
    assert_eq!(counts["duplicates"], 3, "{counts}");
    assert_eq!(counts["ignored"], 1, "{counts}");

    // Time to restore: the resolved one, 20 minutes; two still open.
    let metrics: Value = app
        .get(
            "/api/v1/metrics/dora?from=2026-10-01T00:00:00Z&to=2026-10-03T00:00:00Z",
            &app.rw_token("acme"),
        )
        .await
        .json()
        .await
        .unwrap();
    let ttr = &metrics["time_to_restore"];
    assert_eq!(ttr["samples"], 1, "{metrics}");
    assert_eq!(ttr["open"], 2, "{metrics}");
    let median = ttr["median_seconds"].as_f64().unwrap();
    assert!((median - 1_200.376_544).abs() < 0.01, "{median}");
}

#[tokio::test]
async fn the_bearer_secret_is_required() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "alertmanager", json!({})).await;
    let firing = fixture("alertmanager/firing.json");
    for authorization in [
        None,
        Some("Bearer wrong-secret".to_owned()),
        Some(format!("Basic {}", hook.secret)),
        Some(hook.secret.clone()),
        Some(format!("Bearer {}x", hook.secret)),
    ] {
        let resp = alertmanager(&app, &hook.id, authorization.as_deref(), &firing).await;
        let (status, body) = problem(resp).await;
        assert_eq!(status, 401, "{authorization:?}: {body}");
    }
    // Another organization's integration, another integration's secret: refused.
    let other = integration(&app, "globex", "alertmanager", json!({})).await;
    let resp = alertmanager(
        &app,
        &hook.id,
        Some(&format!("Bearer {}", other.secret)),
        &firing,
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert!(incidents(&app, "acme", "").await.is_empty());
    // The right one, any case of the scheme.
    let resp = alertmanager(
        &app,
        &hook.id,
        Some(&format!("bearer {}", hook.secret)),
        &firing,
    )
    .await;
    assert_eq!(resp.status(), 200);
    // Without `match`, every alert counts.
    assert_eq!(incidents(&app, "acme", "").await.len(), 2);
    // After a rotation the previous secret keeps working for its overlap, the new one too.
    let rotated: Value = app
        .post_json(
            &format!("/api/v1/integrations/{}/rotate-secret", hook.id),
            &admin(&app, "acme"),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    for secret in [new_secret, hook.secret.as_str()] {
        let resp = alertmanager(&app, &hook.id, Some(&format!("Bearer {secret}")), &firing).await;
        assert_eq!(resp.status(), 200);
    }
}

#[tokio::test]
async fn grafana_alerting_notifications_work_and_labels_place_incidents() {
    let app = spawn_app().await;
    let hook = integration(
        &app,
        "acme",
        "alertmanager",
        json!({"repository_label": "repo", "environment_label": "env", "severity_label": "priority", "title_annotation": "headline"}),
    )
    .await;
    // Grafana's contact point: version "1", a resolved alert; the repository label as a
    // repository key (no scheme).
    let mut grafana = fixture("alertmanager/grafana.json");
    {
        let alert = &mut grafana["alerts"][0];
        alert["labels"]["repo"] = alert["labels"]["repository"].clone();
        alert["labels"]["env"] = json!("Staging");
        alert["labels"]["priority"] = json!("sev2");
        alert["annotations"]["headline"] = json!("API slow");
    }
    let body = notify(&app, &hook, &grafana).await;
    assert_eq!(body["result"], "recorded", "{body}");
    let listed = incidents(&app, "acme", "").await;
    assert_eq!(listed.len(), 1);
    let incident = &listed[0];
    assert_eq!(incident["title"], "API slow");
    assert_eq!(incident["severity"], "sev2");
    assert_eq!(incident["environment"], "staging");
    assert_eq!(incident["started_at"], "2026-10-03T06:00:00+00:00");
    assert_eq!(incident["resolved_at"], "2026-10-03T06:20:00+00:00");
    assert_eq!(incident["duration_seconds"], 1200);
    let repository = incident["repository_id"].as_str().unwrap().to_owned();
    // The repository is the one its URL names: listing by URL finds the incident.
    assert_eq!(
        incidents(&app, "acme", "?repository=https://github.com/acme/api")
            .await
            .len(),
        1
    );
    // A repository label that is our id places it too; one that is nothing is said.
    let mut by_id = grafana.clone();
    by_id["alerts"][0]["fingerprint"] = json!("1111111111111111");
    by_id["alerts"][0]["labels"]["repo"] = json!(repository);
    let mut junk = grafana.clone();
    junk["alerts"][0]["fingerprint"] = json!("2222222222222222");
    junk["alerts"][0]["labels"]["repo"] = json!("not a repository");
    notify(&app, &hook, &by_id).await;
    let body = notify(&app, &hook, &junk).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("is not a repository URL or id"),
        "{body}"
    );
    let all = incidents(&app, "acme", "").await;
    let placed: Vec<&Value> = all.iter().map(|i| &i["repository_id"]).collect();
    assert_eq!(
        placed.iter().filter(|r| **r == &json!(repository)).count(),
        2
    );
    assert_eq!(placed.iter().filter(|r| r.is_null()).count(), 1);
}

#[tokio::test]
async fn alertmanager_options_are_checked() {
    let app = spawn_app().await;
    for (options, field) in [
        (
            json!({"repository_label": "9repo"}),
            "options.repository_label",
        ),
        (
            json!({"match": {"bad-name": "x"}}),
            "options.match.bad-name",
        ),
        (json!({"match": {"ok": "a\u{7}"}}), "options.match.ok"),
        (json!({"services": {}}), "options.services"),
        (json!({"repositories": ["acme/*"]}), "options.repositories"),
    ] {
        let resp = app
            .post_json(
                "/api/v1/integrations",
                &admin(&app, "acme"),
                &json!({"kind": "alertmanager", "name": "am", "options": options}),
            )
            .await;
        let (status, body) = problem(resp).await;
        assert_eq!(status, 422, "{options}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    // GitHub integrations take none of these.
    let resp = app
        .post_json(
            "/api/v1/integrations",
            &admin(&app, "acme"),
            &json!({"kind": "github", "name": "gh", "options": {"match": {"a": "b"}}}),
        )
        .await;
    let (status, body) = problem(resp).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "options.match");
    // A payload that is not a notification, once verified, is a 400.
    let hook = integration(&app, "acme", "alertmanager", json!({})).await;
    let resp = alertmanager(
        &app,
        &hook.id,
        Some(&format!("Bearer {}", hook.secret)),
        &json!({"alerts": [{"status": "firing"}]}),
    )
    .await;
    assert_eq!(resp.status(), 400);
}
