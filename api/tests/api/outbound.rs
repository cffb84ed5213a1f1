//! Outbound webhooks: subscriptions, the events and their payloads, signatures (checked here
//! with an HMAC of our own, as any GitHub webhook library does), retries, failure, redelivery,
//! a crash between commit and delivery, and the target rules.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use api::auth::Scope;
use hmac::{Hmac, Mac};
use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::{Data, Path},
};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{
    helpers::{TestApp, deployment, spawn_app_with, test_database},
    process::ServiceProcess,
};

/// What the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    RetryAfter(u64),
    /// Never answers.
    Hang,
}

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub event: String,
    pub delivery: String,
    pub hook: String,
    pub attempt: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct ReceiverState {
    seen: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Answer>>,
    default: Mutex<Option<Answer>>,
    notify: tokio::sync::Notify,
}

/// A webhook receiver on a free loopback port: records every delivery and answers as
/// scripted (then `default`, 200 unless set).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

#[handler]
async fn receive(
    req: &Request,
    body: Vec<u8>,
    state: Data<&Arc<ReceiverState>>,
    _p: Path<String>,
) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let received = Received {
        event: header("x-dora-event"),
        delivery: header("x-dora-delivery"),
        hook: header("x-dora-hook-id"),
        attempt: header("x-dora-attempt"),
        signature: header("x-hub-signature-256"),
        body,
        at: Instant::now(),
    };
    let answer = {
        let scripted = state.script.lock().unwrap().pop_front();
        scripted.unwrap_or_else(|| state.default.lock().unwrap().unwrap_or(Answer::Status(200)))
    };
    state.seen.lock().unwrap().push(received);
    state.notify.notify_waiters();
    match answer {
        Answer::Status(code) => Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .body("thanks"),
        Answer::RetryAfter(seconds) => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("Retry-After", seconds.to_string())
            .body("slow down"),
        Answer::Hang => {
            std::future::pending::<()>().await;
            Response::builder().body("")
        }
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        let state = Arc::new(ReceiverState::default());
        let app = Route::new()
            .at("/hooks/:name", poem::post(receive))
            .data(state.clone());
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(app).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks/dora"),
            state,
        }
    }

    pub fn script(&self, answers: &[Answer]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(answers.iter().copied());
    }

    pub fn answer_by_default(&self, answer: Answer) {
        *self.state.default.lock().unwrap() = Some(answer);
    }

    pub fn seen(&self) -> Vec<Received> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Waits (up to `within`) until the deliveries received satisfy `done`.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.state.notify.notified();
            let seen = self.seen();
            if done(&seen) {
                return seen;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; received: {:?}",
                seen.iter()
                    .map(|r| (&r.event, &r.attempt))
                    .collect::<Vec<_>>()
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(500)), notified).await;
        }
    }

    /// Waits for the first delivery of `event` whose body satisfies `matches`.
    pub async fn wait_event(&self, event: &str, matches: impl Fn(&Value) -> bool) -> Received {
        let seen = self
            .wait_for(Duration::from_secs(30), event, |seen| {
                seen.iter().any(|r| r.event == event && matches(&r.json()))
            })
            .await;
        seen.into_iter()
            .find(|r| r.event == event && matches(&r.json()))
            .unwrap()
    }
}

/// GitHub's check: `sha256=` + hex HMAC-SHA256 of the raw body under the secret.
pub fn signature_is_valid(secret: &str, r: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&r.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    expected == r.signature
}

/// Polls `check` (every 100 ms, up to `within`) until it answers something.
pub async fn poll_until<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A service that may deliver to loopback, retrying quickly.
async fn spawn(timeout: u64, retry_period: &str) -> TestApp {
    let retry_period = retry_period.to_owned();
    spawn_app_with(move |args| {
        args.webhooks.webhook_allow_private_targets = "true".to_owned();
        args.webhooks.webhook_first_retry_seconds = 0.2;
        args.webhooks.webhook_timeout_seconds = timeout;
        args.webhooks.webhook_retry_period = retry_period;
    })
    .await
}

async fn subscribe(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let admin = app.token("acme", &[Scope::Admin]);
    let resp = app
        .post_json(
            "/api/v1/webhook-subscriptions",
            &admin,
            &json!({"url": url, "events": events, "description": "test receiver"}),
        )
        .await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

async fn deliveries(app: &TestApp, subscription: &str) -> Vec<Value> {
    let admin = app.token("acme", &[Scope::Admin]);
    let page: Value = app
        .get(
            &format!("/api/v1/webhook-subscriptions/{subscription}/deliveries"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().clone()
}

const REPO: &str = "https://github.com/acme/web";

#[tokio::test]
async fn every_event_arrives_signed_with_its_documented_payload() {
    let app = spawn(5, "1h").await;
    let receiver = Receiver::start().await;
    let created = subscribe(&app, &receiver.url, &["*"]).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["active"], true);
    assert_eq!(created["events"].as_array().unwrap().len(), 5);

    let ping = receiver.wait_event("ping", |_| true).await;
    let body = ping.json();
    assert_eq!(body["hook_id"], id.as_str());
    assert_eq!(body["hook"]["url"], receiver.url.as_str());
    assert_eq!(body["organization"]["slug"], "acme");
    assert_eq!(ping.hook, id);

    let token = app.rw_token("acme");
    let mut new = deployment(REPO, 1);
    new["status"] = json!("in_progress");
    let d = app.create_deployment(&token, &new).await;
    let deployment_id = d["id"].as_str().unwrap().to_owned();
    let created_event = receiver
        .wait_event("deployment", |b| {
            b["deployment"]["id"] == deployment_id.as_str()
        })
        .await
        .json();
    assert_eq!(created_event["action"], "created");
    assert_eq!(created_event["deployment"]["status"], "in_progress");
    assert_eq!(created_event["deployment"]["environment"], "production");
    assert_eq!(created_event["repository"]["url"], REPO);
    assert_eq!(created_event["organization"]["slug"], "acme");

    let resp = app
        .post_json(
            &format!("/api/v1/deployments/{deployment_id}/statuses"),
            &token,
            &json!({"state": "success"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let status_event = receiver
        .wait_event("deployment_status", |b| {
            b["deployment"]["id"] == deployment_id.as_str()
        })
        .await
        .json();
    assert_eq!(status_event["action"], "changed");
    assert_eq!(status_event["previous_status"], "in_progress");
    assert_eq!(status_event["status"], "success");

    let resp = app
        .post_json(
            "/api/v1/incidents",
            &token,
            &json!({"title": "checkout is down", "deployment_id": deployment_id}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let incident: Value = resp.json().await.unwrap();
    let incident_id = incident["id"].as_str().unwrap().to_owned();
    let opened = receiver
        .wait_event("incident", |b| b["action"] == "opened")
        .await
        .json();
    assert_eq!(opened["incident"]["id"], incident_id.as_str());
    assert_eq!(opened["incident"]["deployment_id"], deployment_id.as_str());
    assert_eq!(opened["incident"]["resolved_at"], Value::Null);
    assert_eq!(opened["repository"]["url"], REPO);
    let resp = app
        .post_json(
            &format!("/api/v1/incidents/{incident_id}/resolve"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resolved = receiver
        .wait_event("incident", |b| b["action"] == "resolved")
        .await
        .json();
    assert!(resolved["incident"]["resolved_at"].is_string());

    let resp = app
        .post_json(
            "/api/v3/repos/acme/web/dispatches",
            &token,
            &json!({"event_type": "deploy-finished", "client_payload": {"unit": false, "n": 2}}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert!(resp.text().await.unwrap().is_empty());
    let dispatch = receiver
        .wait_event("repository_dispatch", |_| true)
        .await
        .json();
    assert_eq!(dispatch["action"], "deploy-finished");
    assert_eq!(dispatch["branch"], "main");
    assert_eq!(dispatch["client_payload"], json!({"unit": false, "n": 2}));
    assert_eq!(dispatch["repository"]["full_name"], "acme/web");
    assert_eq!(dispatch["repository"]["owner"]["login"], "acme");
    assert_eq!(dispatch["sender"]["login"], "test");

    // Every delivery is signed with the subscription's secret, and its headers say what it is.
    let seen = receiver.seen();
    assert!(seen.len() >= 6);
    for r in &seen {
        assert!(
            signature_is_valid(&secret, r),
            "bad signature on {}",
            r.event
        );
        assert!(uuid::Uuid::parse_str(&r.delivery).is_ok());
        assert_eq!(r.hook, id);
        let body = r.json();
        assert_eq!(body["organization"]["slug"], "acme", "{}", r.event);
    }
    let ids: std::collections::HashSet<&str> = seen.iter().map(|r| r.delivery.as_str()).collect();
    assert_eq!(ids.len(), seen.len(), "each event has its own delivery id");

    // Each delivery is recorded (the record is written just after the receiver answers).
    let listed = poll_until(
        Duration::from_secs(10),
        "every delivery recorded",
        || async {
            let listed = deliveries(&app, &id).await;
            listed
                .iter()
                .all(|d| d["state"] != "pending")
                .then_some(listed)
        },
    )
    .await;
    assert_eq!(listed.len(), seen.len());
    for d in &listed {
        assert_eq!(d["state"], "delivered", "{d}");
        assert_eq!(d["status_code"], 200);
        assert_eq!(d["attempts"], 1);
        assert!(d["duration_ms"].is_number());
    }

    // A subscription to other events gets none of these; another organization's gets nothing.
    let other = app.token("globex", &[Scope::Admin]);
    let resp = app
        .get(&format!("/api/v1/webhook-subscriptions/{id}"), &other)
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn only_the_subscribed_events_are_sent() {
    let app = spawn(5, "1h").await;
    let receiver = Receiver::start().await;
    let created = subscribe(&app, &receiver.url, &["incident"]).await;
    receiver.wait_event("ping", |_| true).await;
    let token = app.rw_token("acme");
    app.create_deployment(&token, &deployment(REPO, 1)).await;
    let resp = app
        .post_json(
            "/api/v1/incidents",
            &token,
            &json!({"title": "down", "repository_url": REPO}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    receiver.wait_event("incident", |_| true).await;
    let events: Vec<String> = receiver.seen().iter().map(|r| r.event.clone()).collect();
    assert_eq!(events, ["ping", "incident"]);
    assert_eq!(
        deliveries(&app, created["id"].as_str().unwrap())
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_receiver_answering_500_twice_gets_the_event_three_times_with_one_id() {
    let app = spawn(5, "1h").await;
    let receiver = Receiver::start().await;
    let created = subscribe(&app, &receiver.url, &["deployment"]).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    receiver.wait_event("ping", |_| true).await;
    receiver.script(&[Answer::Status(500), Answer::Status(503)]);
    let token = app.rw_token("acme");
    app.create_deployment(&token, &deployment(REPO, 1)).await;
    let seen = receiver
        .wait_for(Duration::from_secs(30), "three attempts", |seen| {
            seen.iter().filter(|r| r.event == "deployment").count() >= 3
        })
        .await;
    let attempts: Vec<&Received> = seen.iter().filter(|r| r.event == "deployment").collect();
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(|r| r.delivery == attempts[0].delivery));
    assert_eq!(
        attempts
            .iter()
            .map(|r| r.attempt.as_str())
            .collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    assert!(attempts.iter().all(|r| signature_is_valid(&secret, r)));
    assert!(attempts.iter().all(|r| r.body == attempts[0].body));
    // The record shows the three attempts and the success.
    let id = created["id"].as_str().unwrap();
    let listed = poll_until(Duration::from_secs(30), "the delivered record", || async {
        let listed = deliveries(&app, id).await;
        listed
            .iter()
            .any(|d| d["event"] == "deployment" && d["state"] == "delivered")
            .then_some(listed)
    })
    .await;
    let record = listed.iter().find(|d| d["event"] == "deployment").unwrap();
    assert_eq!(record["attempts"], 3);
    assert_eq!(record["status_code"], 200);
    assert_eq!(record["guid"], attempts[0].delivery.as_str());
}

#[tokio::test]
async fn retry_after_of_a_429_is_honoured() {
    let app = spawn(5, "1h").await;
    let receiver = Receiver::start().await;
    receiver.script(&[Answer::RetryAfter(2)]);
    subscribe(&app, &receiver.url, &["deployment"]).await;
    let seen = receiver
        .wait_for(Duration::from_secs(30), "the ping twice", |seen| {
            seen.iter().filter(|r| r.event == "ping").count() >= 2
        })
        .await;
    // Without Retry-After the first retry would come after 0.1-0.2 s.
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}"
    );
    assert_eq!(seen[0].delivery, seen[1].delivery);
}

#[tokio::test]
async fn a_receiver_that_never_answers_is_retried_then_failed_and_the_subscription_disabled() {
    let app = spawn(1, "3s").await;
    let receiver = Receiver::start().await;
    receiver.answer_by_default(Answer::Hang);
    let created = subscribe(&app, &receiver.url, &["deployment"]).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let admin = app.token("acme", &[Scope::Admin]);
    let ping = poll_until(Duration::from_secs(30), "the ping to fail", || async {
        let listed = deliveries(&app, &id).await;
        (listed[0]["state"] == "failed").then(|| listed[0].clone())
    })
    .await;
    assert!(ping["attempts"].as_i64().unwrap() >= 2, "{ping}");
    assert_eq!(ping["status_code"], Value::Null);
    let error = ping["error"].as_str().unwrap();
    assert!(error.contains("timed out"), "{error}");
    assert!(error.contains("retry period"), "{error}");
    let seen = receiver.seen();
    assert!(seen.len() >= 2 && seen.iter().all(|r| r.delivery == seen[0].delivery));
    let subscription: Value = app
        .get(&format!("/api/v1/webhook-subscriptions/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(subscription["active"], false, "{subscription}");
    assert!(
        subscription["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("failed")
    );
    // A disabled subscription gets no new events; re-enabling clears the reason.
    let token = app.rw_token("acme");
    app.create_deployment(&token, &deployment(REPO, 1)).await;
    assert_eq!(deliveries(&app, &id).await.len(), 1);
    let resp = app
        .client
        .patch(app.url(&format!("/api/v1/webhook-subscriptions/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"active": true}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["disabled_reason"], Value::Null);
}

#[tokio::test]
async fn redeliver_sends_the_same_delivery_again() {
    let app = spawn(5, "1h").await;
    let receiver = Receiver::start().await;
    let created = subscribe(&app, &receiver.url, &["deployment"]).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let first = receiver.wait_event("ping", |_| true).await;
    let listed = deliveries(&app, &id).await;
    let delivery_id = listed[0]["id"].as_str().unwrap().to_owned();
    let admin = app.token("acme", &[Scope::Admin]);
    let resp = app
        .post_json(
            &format!("/api/v1/webhook-subscriptions/{id}/deliveries/{delivery_id}/redeliver"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let queued: Value = resp.json().await.unwrap();
    assert_eq!(queued["redelivery"], true);
    assert_eq!(queued["guid"], first.delivery.as_str());
    let seen = receiver
        .wait_for(Duration::from_secs(30), "the redelivery", |seen| {
            seen.len() >= 2
        })
        .await;
    assert_eq!(seen[1].delivery, first.delivery);
    assert_eq!(seen[1].body, first.body);
    assert!(signature_is_valid(
        created["secret"].as_str().unwrap(),
        &seen[1]
    ));
    // An explicit ping is a new delivery; pings, secrets and 404s.
    let resp = app
        .post_json(
            &format!("/api/v1/webhook-subscriptions/{id}/pings"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let seen = receiver
        .wait_for(Duration::from_secs(30), "the second ping", |seen| {
            seen.len() >= 3
        })
        .await;
    assert_ne!(seen[2].delivery, first.delivery);
    let resp = app
        .post_json(
            &format!("/api/v1/webhook-subscriptions/{id}/rotate-secret"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let rotated: Value = resp.json().await.unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, created["secret"].as_str().unwrap());
    app.post_json(
        &format!("/api/v1/webhook-subscriptions/{id}/pings"),
        &admin,
        &json!({}),
    )
    .await;
    let seen = receiver
        .wait_for(Duration::from_secs(30), "the third ping", |seen| {
            seen.len() >= 4
        })
        .await;
    assert!(signature_is_valid(new_secret, &seen[3]));
    assert!(!signature_is_valid(
        created["secret"].as_str().unwrap(),
        &seen[3]
    ));
    let listed: Value = app
        .get("/api/v1/webhook-subscriptions", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !listed.to_string().contains(new_secret),
        "secrets are shown once"
    );
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/webhook-subscriptions/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .get(
            &format!("/api/v1/webhook-subscriptions/{id}/deliveries"),
            &admin,
        )
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn private_addresses_and_plain_http_are_refused_at_creation() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.token("acme", &[Scope::Admin]);
    for url in [
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/hook",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/",
        "http://example.com/hook",
        "ftp://example.com/hook",
        "https://user:pass@example.com/hook",
    ] {
        let resp = app
            .post_json(
                "/api/v1/webhook-subscriptions",
                &admin,
                &json!({"url": url, "events": ["deployment"]}),
            )
            .await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 422, "{url}: {body}");
        assert!(body.to_string().contains("url"), "{url}: {body}");
    }
    let resp = app
        .post_json(
            "/api/v1/webhook-subscriptions",
            &admin,
            &json!({"url": "https://example.com/", "events": ["nope"]}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    // Scope admin.
    let resp = app
        .post_json(
            "/api/v1/webhook-subscriptions",
            &app.rw_token("acme"),
            &json!({"url": "https://example.com/", "events": ["deployment"]}),
        )
        .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn repository_dispatch_follows_githubs_rules() {
    let app = spawn(5, "1h").await;
    let token = app.rw_token("acme");
    let path = "/api/v3/repos/acme/web/dispatches";
    for (body, field) in [
        (json!({}), "event_type"),
        (json!({"event_type": ""}), "event_type"),
        (json!({"event_type": "x".repeat(101)}), "event_type"),
        (
            json!({"event_type": "a", "client_payload": [1]}),
            "client_payload",
        ),
        (
            json!({"event_type": "a", "client_payload": (0..11).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<_, _>>()}),
            "client_payload",
        ),
    ] {
        let resp = app.post_json(path, &token, &body).await;
        assert_eq!(resp.status(), 422, "{body}");
        let error: Value = resp.json().await.unwrap();
        assert_eq!(error["message"], "Validation Failed", "{error}");
        assert_eq!(error["errors"][0]["field"], field, "{error}");
    }
    let read_only = app.token("acme", &[Scope::Read]);
    let resp = app
        .post_json(path, &read_only, &json!({"event_type": "go"}))
        .await;
    assert_eq!(resp.status(), 403);
    let resp = app
        .post_json(
            path,
            &token,
            &json!({"event_type": "go", "client_payload": {"a": 1}}),
        )
        .await;
    assert_eq!(resp.status(), 204);
}

/// A refresh that sees a 30-day tier change emits `dora.tier_changed` once.
#[tokio::test]
async fn a_tier_change_at_a_refresh_is_emitted() {
    let app = spawn_app_with(|args| {
        args.webhooks.webhook_allow_private_targets = "true".to_owned();
        args.webhooks.webhook_first_retry_seconds = 0.2;
        args.metrics_refresh_seconds = 1;
    })
    .await;
    let receiver = Receiver::start().await;
    subscribe(&app, &receiver.url, &["dora.tier_changed"]).await;
    receiver.wait_event("ping", |_| true).await;
    // A first deployment: the refresh records the tiers it sees (nothing to compare with).
    let token = app.rw_token("acme");
    app.create_deployment(&token, &deployment(REPO, 1)).await;
    let db = app.state.core.db.read().clone();
    use sea_orm::EntityTrait;
    let baseline = poll_until(
        Duration::from_secs(30),
        "a refresh to record the tier",
        || async {
            entity::dora_tiers::Entity::find()
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .find(|t| t.scope == "organization" && t.metric == "change_failure_rate")
                .and_then(|t| t.tier)
        },
    )
    .await;
    // A failed deployment's incident: the change failure rate's tier changes.
    let failed = app.create_deployment(&token, &deployment(REPO, 2)).await;
    let resp = app
        .post_json(
            "/api/v1/incidents",
            &token,
            &json!({"title": "broke", "deployment_id": failed["id"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let event = receiver
        .wait_event("dora.tier_changed", |b| {
            b["metric"] == "change_failure_rate"
                && b["scope"] == "organization"
                && b["previous_tier"] == baseline.as_str()
        })
        .await
        .json();
    assert_eq!(event["action"], "changed");
    assert_eq!(event["window"], "30d");
    assert_ne!(event["previous_tier"], event["tier"]);
    assert_eq!(event["direction"], "declined", "{event}");
    // Later refreshes do not repeat it.
    let count = |seen: &[Received]| {
        seen.iter()
            .filter(|r| {
                let b = r.json();
                r.event == "dora.tier_changed"
                    && b["metric"] == "change_failure_rate"
                    && b["scope"] == "organization"
            })
            .count()
    };
    // Three more refreshes (one a second) send nothing new: the change is sent once.
    let before = count(&receiver.seen());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(count(&receiver.seen()), before);
}

/// The service killed (`kill -9`) after a change committed and before its event was sent
/// delivers it after a restart.
#[tokio::test]
async fn killed_between_commit_and_delivery_it_delivers_after_restart() {
    let (database_url, _guard) = test_database().await;
    let receiver = Receiver::start().await;
    // The ping hangs, so the worker is busy with it when the deployment commits.
    receiver.answer_by_default(Answer::Hang);
    let env = vec![
        ("DATABASE_URL", database_url.clone()),
        ("DORA_SECRET_KEY", "ab".repeat(32)),
        ("DORA_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true".to_owned()),
        ("DORA_WEBHOOK_TIMEOUT_SECONDS", "20".to_owned()),
        ("DORA_WEBHOOK_FIRST_RETRY_SECONDS", "0.2".to_owned()),
        ("RUST_LOG", "debug".to_owned()),
    ];
    let keys = api::auth::JwtKeys::new(
        &api::domain::Secret::new(crate::helpers::SECRET),
        crate::helpers::ISSUER,
        crate::helpers::AUDIENCE,
    )
    .unwrap();
    let admin = keys
        .issue(
            "acme",
            &[Scope::Admin, Scope::Ingest],
            "test",
            Duration::from_secs(600),
        )
        .unwrap();
    let client = reqwest::Client::new();
    let mut first = ServiceProcess::start(&env);
    let resp = client
        .post(format!("{}/api/v1/webhook-subscriptions", first.base))
        .bearer_auth(&admin)
        .json(&json!({"url": receiver.url, "events": ["deployment"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let subscription: Value = resp.json().await.unwrap();
    let secret = subscription["secret"].as_str().unwrap().to_owned();
    receiver.wait_event("ping", |_| true).await;
    let resp = client
        .post(format!("{}/api/v1/deployments", first.base))
        .bearer_auth(&admin)
        .json(&deployment(REPO, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    first.kill();
    // Secrets are never logged, even at debug level.
    assert!(
        !first.log().contains(&secret),
        "the subscription secret was logged"
    );
    assert!(
        !receiver.seen().iter().any(|r| r.event == "deployment"),
        "delivered before the kill: the test did not test the crash"
    );
    receiver.answer_by_default(Answer::Status(200));
    let _second = ServiceProcess::start(&env);
    let event = receiver
        .wait_event("deployment", |b| b["deployment"]["id"] == created["id"])
        .await
        .json();
    assert_eq!(event["action"], "created");
}

/// What a write changes besides its own record is told too: a deployment whose derived
/// outcome an incident changed, earlier deployments GitHub's `auto_inactive` marked inactive,
/// a deployment deleted, an incident its source withdrew.
#[tokio::test]
async fn indirect_changes_are_told_too() {
    let app = spawn(5, "1h").await;
    let receiver = Receiver::start().await;
    subscribe(&app, &receiver.url, &["*"]).await;
    receiver.wait_event("ping", |_| true).await;
    let token = app.rw_token("acme");

    // An incident attributed to a successful deployment makes it a change failure.
    let mut new = deployment(REPO, 1);
    new["status"] = json!("success");
    let d = app.create_deployment(&token, &new).await;
    let id = d["id"].as_str().unwrap().to_owned();
    let resp = app
        .post_json(
            "/api/v1/incidents",
            &token,
            &json!({"title": "checkout is down", "deployment_id": id}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let changed = receiver
        .wait_event("deployment_status", |b| {
            b["action"] == "outcome_changed" && b["deployment"]["id"] == id.as_str()
        })
        .await
        .json();
    assert_eq!(changed["status"], "success");
    assert_eq!(changed["previous_outcome"]["change_failure"], false);
    assert_eq!(changed["previous_outcome"]["causes"], json!([]));
    assert_eq!(changed["outcome"]["change_failure"], true);
    let causes = changed["outcome"]["causes"].to_string();
    assert!(causes.contains("incident"), "{causes}");
    assert_eq!(changed["repository"]["url"], REPO);

    // auto_inactive (the GitHub-compatible API): d2's success marks d1 inactive.
    let repos = "/api/v3/repos/acme/web/deployments";
    let mut created = Vec::new();
    for n in [2u32, 3] {
        let resp = app
            .post_json(
                repos,
                &token,
                &json!({"ref": format!("{n:040x}"), "environment": "staging"}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        created.push(body["id"].as_i64().unwrap());
    }
    for number in &created {
        let resp = app
            .post_json(
                &format!("{repos}/{number}/statuses"),
                &token,
                &json!({"state": "success"}),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    let inactivated = receiver
        .wait_event("deployment_status", |b| {
            b["action"] == "changed" && b["status"] == "inactive"
        })
        .await
        .json();
    assert_eq!(inactivated["previous_status"], "success");
    assert_eq!(inactivated["deployment"]["number"], created[0]);
    assert_eq!(inactivated["deployment"]["environment"], "staging");

    // The inactive one deleted.
    let resp = app
        .client
        .delete(app.url(&format!("{repos}/{}", created[0])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let deleted = receiver
        .wait_event("deployment", |b| b["action"] == "deleted")
        .await
        .json();
    assert_eq!(deleted["deployment"]["number"], created[0]);
    assert_eq!(deleted["repository"]["url"], REPO);

    // An incident its source withdraws (a GitHub issue whose incident label is removed).
    let hook = crate::webhook_helpers::integration(
        &app,
        "acme",
        "github",
        json!({"incident_label": "Outage"}),
    )
    .await;
    let at = "2026-10-02T11:00:00Z";
    let issue = |action: &str, labels: &[&str]| {
        crate::webhook_helpers::gh_issue(
            "acme/web",
            action,
            42,
            labels,
            at,
            at,
            None,
            "Checkout fails",
        )
    };
    crate::webhook_helpers::github_ok(&app, &hook, "issues", &issue("opened", &["Outage"])).await;
    receiver
        .wait_event("incident", |b| {
            b["action"] == "opened" && b["incident"]["source"] == "github"
        })
        .await;
    let mut unlabeled = issue("unlabeled", &[]);
    unlabeled["label"] = json!({"name": "Outage", "color": "d73a4a"});
    crate::webhook_helpers::github_ok(&app, &hook, "issues", &unlabeled).await;
    let withdrawn = receiver
        .wait_event("incident", |b| b["action"] == "withdrawn")
        .await
        .json();
    assert_eq!(withdrawn["incident"]["source"], "github");
    assert_eq!(withdrawn["repository"]["url"], REPO);
}
