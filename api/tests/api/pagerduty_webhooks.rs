//! PagerDuty V3 webhooks: the secret PagerDuty generates (set after the integration exists,
//! write-only, 401 until then), signatures as PagerDuty signs them (several during its own
//! rotation), and incidents that follow trigger, acknowledge, resolve and reopen whatever the
//! redeliveries and the order.

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, problem, spawn_app},
    webhook_helpers::{admin, fixture, incidents, integration, pagerduty, pagerduty_signature},
};

/// PagerDuty's secrets are 64 characters.
const SECRET: &str = "pd7Yq2Lm9Xv4Rt8Kb3Nw6Hs1Jc5Fg0Dz2Aq7We4Ty9Ui3Op6As1Df8Gh5Jk0Lz3";
const NEXT_SECRET: &str = "pdB8n3Vc6Xz1Lk4Jh7Gf0Ds2Aq5Wr8Ey1Tu4Io7Pa0Sd3Fg6Hj9Kl2Zx5Cv8Bn1M";

struct Pd {
    id: String,
    body: Value,
}

async fn create(app: &TestApp, org: &str, body: Value) -> Pd {
    let resp = app
        .post_json("/api/v1/integrations", &admin(app, org), &body)
        .await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    Pd {
        id: body["id"].as_str().unwrap().to_owned(),
        body,
    }
}

async fn patch(app: &TestApp, org: &str, id: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/api/v1/integrations/{id}")))
        .bearer_auth(admin(app, org))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get_integration(app: &TestApp, org: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/integrations/{id}"), &admin(app, org))
        .await
        .json()
        .await
        .unwrap()
}

/// `event_type` at `occurred_at`, from the fixtures (the incident's data as PagerDuty shows it).
fn event(name: &str, occurred_at: &str) -> Value {
    let mut e = fixture(&format!("pagerduty/{name}.json"));
    e["event"]["occurred_at"] = json!(occurred_at);
    e
}

/// Delivers `payload` signed with `secret` under a fresh `X-Webhook-Id`; answers status and
/// body.
async fn deliver(app: &TestApp, pd: &Pd, secret: &str, payload: &Value) -> (u16, Value) {
    let webhook_id = uuid::Uuid::new_v4().to_string();
    deliver_as(app, pd, secret, &webhook_id, payload).await
}

async fn deliver_as(
    app: &TestApp,
    pd: &Pd,
    secret: &str,
    webhook_id: &str,
    payload: &Value,
) -> (u16, Value) {
    let body = serde_json::to_vec(payload).unwrap();
    let signature = pagerduty_signature(secret, &body);
    let resp = pagerduty(app, &pd.id, Some(&signature), webhook_id, &body).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn the_secret_is_pagerdutys_set_after_creation_and_never_shown() {
    let app = spawn_app().await;
    let pd = create(
        &app,
        "acme",
        json!({"kind": "pagerduty", "name": "PagerDuty"}),
    )
    .await;
    // No secret of ours: PagerDuty generates it once the subscription (which needs the URL)
    // exists.
    assert!(pd.body.get("secret").is_none(), "{}", pd.body);
    assert_eq!(pd.body["secret_set"], false);
    assert!(
        pd.body["webhook_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/webhooks/pagerduty/{}", pd.id))
    );
    let trigger = event("incident.triggered", "2026-10-02T10:00:05Z");
    // Until it is set, every delivery is refused, signed with anything (an empty secret too).
    for secret in [SECRET, ""] {
        let (status, _) = deliver(&app, &pd, secret, &trigger).await;
        assert_eq!(status, 401);
    }
    assert!(incidents(&app, "acme", "").await.is_empty());
    // Our rotation would make a secret PagerDuty does not know.
    let resp = app
        .post_json(
            &format!("/api/v1/integrations/{}/rotate-secret", pd.id),
            &admin(&app, "acme"),
            &json!({}),
        )
        .await;
    let (status, body) = problem(resp).await;
    assert_eq!(status, 409, "{body}");
    // A secret that cannot be PagerDuty's is refused.
    let resp = patch(&app, "acme", &pd.id, &json!({"secret": "short"})).await;
    let (status, body) = problem(resp).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "secret");

    let resp = patch(&app, "acme", &pd.id, &json!({"secret": SECRET})).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["secret_set"], true);
    assert!(!body.to_string().contains(SECRET));
    let shown = get_integration(&app, "acme", &pd.id).await;
    assert!(!shown.to_string().contains(SECRET));
    let (status, body) = deliver(&app, &pd, SECRET, &trigger).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "recorded");
    assert_eq!(incidents(&app, "acme", "").await.len(), 1);

    // Other kinds' secrets are ours: neither given at creation nor set by PATCH.
    let resp = app
        .post_json(
            "/api/v1/integrations",
            &admin(&app, "acme"),
            &json!({"kind": "github", "name": "gh", "secret": SECRET}),
        )
        .await;
    let (status, body) = problem(resp).await;
    assert_eq!(status, 422, "{body}");
    let gh = integration(&app, "acme", "github", json!({})).await;
    let resp = patch(&app, "acme", &gh.id, &json!({"secret": SECRET})).await;
    assert_eq!(resp.status(), 422);

    // Given at creation (the subscription existed already), it works at once.
    let other = create(
        &app,
        "globex",
        json!({"kind": "pagerduty", "name": "PagerDuty", "secret": NEXT_SECRET}),
    )
    .await;
    assert!(other.body.get("secret").is_none());
    assert_eq!(other.body["secret_set"], true);
    let (status, _) = deliver(&app, &other, NEXT_SECRET, &trigger).await;
    assert_eq!(status, 200);
    assert_eq!(incidents(&app, "globex", "").await.len(), 1);
}

#[tokio::test]
async fn signatures_are_checked_as_pagerduty_signs_and_rotates() {
    let app = spawn_app().await;
    let pd = create(
        &app,
        "acme",
        json!({"kind": "pagerduty", "name": "PagerDuty", "secret": SECRET}),
    )
    .await;
    let body = serde_json::to_vec(&event("incident.triggered", "2026-10-02T10:00:05Z")).unwrap();
    let good = pagerduty_signature(SECRET, &body);
    let wrong = pagerduty_signature(NEXT_SECRET, &body);
    let other_body = pagerduty_signature(SECRET, b"{}");
    let refused = [
        None,
        Some(wrong.clone()),
        Some(other_body),
        Some(good.replace("v1=", "v0=")),
        Some(good.replace("v1=", "")),
        Some(format!("{}0", good)),
    ];
    for signature in &refused {
        let resp = pagerduty(&app, &pd.id, signature.as_deref(), "w-1", &body).await;
        let (status, problem_body) = problem(resp).await;
        assert_eq!(status, 401, "{signature:?}: {problem_body}");
    }
    assert!(incidents(&app, "acme", "").await.is_empty());
    // The integration counted nothing: refused deliveries are not deliveries.
    let shown = get_integration(&app, "acme", &pd.id).await;
    assert_eq!(shown["deliveries"]["total"], 0);

    // PagerDuty rotating its secret signs with both, comma-separated: any valid one passes,
    // whichever comes first.
    let both = format!("{wrong},{good}");
    let resp = pagerduty(&app, &pd.id, Some(&both), "w-2", &body).await;
    assert_eq!(resp.status(), 200);
    // The new secret set here: the old one stops, the new one (alone or first) passes.
    assert_eq!(
        patch(&app, "acme", &pd.id, &json!({"secret": NEXT_SECRET}))
            .await
            .status(),
        200
    );
    let resp = pagerduty(&app, &pd.id, Some(&good), "w-3", &body).await;
    assert_eq!(resp.status(), 401);
    let resp = pagerduty(&app, &pd.id, Some(&both), "w-4", &body).await;
    assert_eq!(resp.status(), 200);
    let resp = pagerduty(&app, &pd.id, Some(&wrong), "w-5", &body).await;
    assert_eq!(resp.status(), 200);
    // Another kind's URL with this integration's id is refused too.
    let resp = app
        .client
        .post(app.url(&format!("/webhooks/alertmanager/{}", pd.id)))
        .header("Authorization", format!("Bearer {NEXT_SECRET}"))
        .json(&fixture("alertmanager/firing.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(incidents(&app, "acme", "").await.len(), 1);
}

#[tokio::test]
async fn incidents_follow_trigger_acknowledge_resolve_and_reopen() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    // The deployment the incident is attributed to (the latest success before it started).
    let resp = app
        .post_json(
            "/api/v1/deployments",
            &token,
            &json!({
                "title": "release 42", "branch": "main", "commit_id": "a".repeat(40),
                "repository_url": "https://github.com/acme/web", "status": "success",
                "member_id": "alice", "pull_request_number": 42,
                "started_at": "2026-10-02T09:00:00Z", "finished_at": "2026-10-02T09:30:00Z",
            }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let deployment: Value = resp.json().await.unwrap();
    let pd = create(
        &app,
        "acme",
        json!({
            "kind": "pagerduty", "name": "PagerDuty", "secret": SECRET,
            "options": {"services": {"PWEB123": {"repository_url": "git@github.com:acme/web.git"}}},
        }),
    )
    .await;
    assert_eq!(
        pd.body["options"]["services"]["PWEB123"],
        json!({"repository_url": "git@github.com:acme/web.git", "environment": "production"})
    );

    let (status, body) = deliver(
        &app,
        &pd,
        SECRET,
        &event("incident.triggered", "2026-10-02T10:00:05Z"),
    )
    .await;
    assert_eq!((status, body["result"].as_str()), (200, Some("recorded")));
    let listed = incidents(&app, "acme", "?source=pagerduty").await;
    assert_eq!(listed.len(), 1);
    let incident = &listed[0];
    assert_eq!(incident["source"], "pagerduty");
    assert_eq!(incident["source_id"], "Q2K7Z8XYQ1ABCD");
    assert_eq!(
        incident["source_url"],
        "https://acme.pagerduty.com/incidents/Q2K7Z8XYQ1ABCD"
    );
    assert_eq!(incident["title"], "#4711 Checkout error rate above 5%");
    assert_eq!(incident["severity"], "P1");
    // Started when PagerDuty created the incident.
    assert_eq!(incident["started_at"], "2026-10-02T10:00:00+00:00");
    assert_eq!(incident["resolved_at"], Value::Null);
    assert_eq!(incident["environment"], "production");
    assert_eq!(incident["is_production"], true);
    assert_eq!(incident["repository_id"], deployment["repository_id"]);
    assert!(incidents(&app, "acme", "?source=api").await.is_empty());
    let id = incident["id"].clone();

    // Acknowledged, annotated, PagerDuty's test event: acknowledged and ignored, counted.
    for (name, at) in [
        ("incident.acknowledged", "2026-10-02T10:03:00Z"),
        ("incident.annotated", "2026-10-02T10:05:00Z"),
        ("pagey.ping", "2026-10-02T10:06:00Z"),
    ] {
        let (status, body) = deliver(&app, &pd, SECRET, &event(name, at)).await;
        assert_eq!(
            (status, body["result"].as_str()),
            (200, Some("ignored")),
            "{name}: {body}"
        );
    }
    let open = &incidents(&app, "acme", "").await[0];
    assert_eq!(open["resolved_at"], Value::Null);

    // Resolved; PagerDuty's retry of it (same X-Webhook-Id) and the same event delivered again
    // under another id change nothing.
    let resolve = event("incident.resolved", "2026-10-02T10:45:00Z");
    let (status, body) = deliver_as(&app, &pd, SECRET, "resolve-1", &resolve).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("recorded")));
    let (_, body) = deliver_as(&app, &pd, SECRET, "resolve-1", &resolve).await;
    assert_eq!(body["result"], "duplicate");
    let (_, body) = deliver(&app, &pd, SECRET, &resolve).await;
    assert_eq!(body["result"], "duplicate");
    let resolved = &incidents(&app, "acme", "").await[0];
    assert_eq!(resolved["id"], id);
    assert_eq!(resolved["resolved_at"], "2026-10-02T10:45:00+00:00");
    assert_eq!(resolved["duration_seconds"], 45 * 60);

    // A late trigger (delivered after the resolve) does not reopen it.
    let (_, body) = deliver(
        &app,
        &pd,
        SECRET,
        &event("incident.triggered", "2026-10-02T10:00:05Z"),
    )
    .await;
    assert_eq!(body["result"], "duplicate");
    assert_eq!(
        incidents(&app, "acme", "").await[0]["resolved_at"],
        "2026-10-02T10:45:00+00:00"
    );

    // Reopened, then resolved again: one incident, from its first start to the last resolve.
    let (_, body) = deliver(
        &app,
        &pd,
        SECRET,
        &event("incident.reopened", "2026-10-02T11:00:00Z"),
    )
    .await;
    assert_eq!(body["result"], "recorded");
    let reopened = incidents(&app, "acme", "?open=true").await;
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0]["id"], id);
    // The first resolve, delivered late again, changes nothing now either.
    let (_, body) = deliver(&app, &pd, SECRET, &resolve).await;
    assert_eq!(body["result"], "duplicate");
    assert_eq!(incidents(&app, "acme", "?open=true").await.len(), 1);
    let (_, body) = deliver(
        &app,
        &pd,
        SECRET,
        &event("incident.resolved", "2026-10-02T11:30:00Z"),
    )
    .await;
    assert_eq!(body["result"], "recorded");
    let all = incidents(&app, "acme", "").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["resolved_at"], "2026-10-02T11:30:00+00:00");
    assert_eq!(all[0]["duration_seconds"], 90 * 60);

    let shown = get_integration(&app, "acme", &pd.id).await;
    let counts = &shown["deliveries"];
    assert_eq!(counts["total"], 11, "{counts}");
    assert_eq!(counts["recorded"], 4, "{counts}");
    assert_eq!(counts["ignored"], 3, "{counts}");
    assert_eq!(counts["duplicates"], 4, "{counts}");
    assert_eq!(counts["last_event"], "incident.resolved");

    // Time to restore: 90 minutes, from PagerDuty alone.
    let metrics: Value = app
        .get(
            "/api/v1/metrics/dora?from=2026-10-01T00:00:00Z&to=2026-10-03T00:00:00Z",
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(metrics["time_to_restore"]["samples"], 1, "{metrics}");
    assert_eq!(metrics["time_to_restore"]["median_seconds"], 5400.0);
    assert_eq!(metrics["time_to_restore"]["open"], 0);
    // The incident is the deployment's: its change failed.
    assert_eq!(metrics["change_failure_rate"]["failures"], 1, "{metrics}");
}

#[tokio::test]
async fn unmapped_services_count_unattributed_and_urgencies_can_be_filtered() {
    let app = spawn_app().await;
    let pd = create(
        &app,
        "acme",
        json!({
            "kind": "pagerduty", "name": "PagerDuty", "secret": SECRET,
            "options": {
                "services": {"api gateway": {"repository_url": "https://github.com/acme/api", "environment": "Staging"}},
                "match_urgency": ["HIGH"],
            },
        }),
    )
    .await;
    assert_eq!(pd.body["options"]["match_urgency"], json!(["high"]));
    // A low-urgency incident is not recorded.
    let mut low = event("incident.triggered", "2026-10-02T10:00:05Z");
    low["event"]["data"]["urgency"] = json!("low");
    low["event"]["data"]["priority"] = Value::Null;
    let (status, body) = deliver(&app, &pd, SECRET, &low).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
    assert!(incidents(&app, "acme", "").await.is_empty());
    // Its resolve records nothing either.
    let mut low_resolve = event("incident.resolved", "2026-10-02T10:30:00Z");
    low_resolve["event"]["data"]["urgency"] = json!("low");
    let (_, body) = deliver(&app, &pd, SECRET, &low_resolve).await;
    assert_eq!(body["result"], "ignored");
    assert!(incidents(&app, "acme", "").await.is_empty());

    // An unmapped service: recorded without a repository, in production, counting in time to
    // restore.
    let mut unmapped = event("incident.triggered", "2026-10-02T12:00:05Z");
    unmapped["event"]["data"]["id"] = json!("QUNMAPPED1");
    unmapped["event"]["data"]["priority"] = Value::Null;
    let (_, body) = deliver(&app, &pd, SECRET, &unmapped).await;
    assert_eq!(body["result"], "recorded");
    let listed = incidents(&app, "acme", "").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["repository_id"], Value::Null);
    assert_eq!(listed[0]["environment"], "production");
    assert_eq!(listed[0]["is_production"], true);
    assert_eq!(listed[0]["severity"], "high");

    // A service mapped by its name (any case), to its environment.
    let mut named = event("incident.triggered", "2026-10-02T13:00:05Z");
    named["event"]["data"]["id"] = json!("QNAMED1");
    named["event"]["data"]["service"]["id"] = json!("POTHER9");
    named["event"]["data"]["service"]["summary"] = json!("API Gateway");
    let (_, body) = deliver(&app, &pd, SECRET, &named).await;
    assert_eq!(body["result"], "recorded");
    let api = &incidents(&app, "acme", "?environment=staging").await;
    assert_eq!(api.len(), 1);
    assert_eq!(api[0]["source_id"], "QNAMED1");
    assert_ne!(api[0]["repository_id"], Value::Null);
    assert_eq!(api[0]["is_production"], false);
}

#[tokio::test]
async fn pagerduty_options_are_checked() {
    let app = spawn_app().await;
    for (options, field) in [
        (
            json!({"match_urgency": ["urgent"]}),
            "options.match_urgency[0]",
        ),
        (
            json!({"services": {"PWEB123": {"repository_url": "not a url"}}}),
            "options.services.PWEB123.repository_url",
        ),
        (
            json!({"services": {"PWEB123": {"repository_url": "https://github.com/acme/web", "environment": "prod uction"}}}),
            "options.services.PWEB123.environment",
        ),
        (json!({"incident_label": "sev"}), "options.incident_label"),
        (json!({"match": {"a": "b"}}), "options.match"),
    ] {
        let resp = app
            .post_json(
                "/api/v1/integrations",
                &admin(&app, "acme"),
                &json!({"kind": "pagerduty", "name": "PagerDuty", "options": options}),
            )
            .await;
        let (status, body) = problem(resp).await;
        assert_eq!(status, 422, "{options}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    // And a malformed payload, once verified, is a 400 naming the field.
    let pd = create(
        &app,
        "acme",
        json!({"kind": "pagerduty", "name": "PagerDuty", "secret": SECRET}),
    )
    .await;
    let mut bad = event("incident.triggered", "2026-10-02T10:00:05Z");
    bad["event"]["occurred_at"] = json!("yesterday");
    let (status, body) = deliver(&app, &pd, SECRET, &bad).await;
    assert_eq!(status, 400, "{body}");
    let mut no_id = event("incident.triggered", "2026-10-02T10:00:05Z");
    no_id["event"]["data"]["id"] = Value::Null;
    let (status, _) = deliver(&app, &pd, SECRET, &no_id).await;
    assert_eq!(status, 400);
}
