//! Group commit (`DORA_GROUP_COMMIT=on`, on both databases): concurrent creates share
//! transactions, and each still gets its own answer, its own failure and its own replay.

use std::collections::HashSet;

use chrono::TimeZone;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, deployment, problem, spawn_app_with};

async fn grouped_app() -> TestApp {
    spawn_app_with(|args| args.group_commit = "on".to_owned()).await
}

/// `POST /api/v1/deployments` with an optional idempotency key: (status, replayed, body).
async fn post(app: &TestApp, token: &str, key: Option<&str>, body: &Value) -> (u16, bool, Value) {
    let mut request = app
        .client
        .post(app.url("/api/v1/deployments"))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let replayed = resp.headers().get("idempotent-replayed").is_some();
    (status, replayed, resp.json().await.unwrap())
}

fn body(n: u32) -> Value {
    let mut body = deployment(&format!("https://github.com/acme/svc-{}", n % 5), n + 1);
    body["environment"] = json!(["production", "staging"][(n % 2) as usize]);
    body["member_id"] = json!(format!("member-{}", n % 7));
    body["commits"] = json!([{
        "sha": format!("{:040x}", 0x5000 + n),
        "committed_at": "2026-01-01T00:00:00Z",
    }]);
    body
}

#[tokio::test]
async fn concurrent_creates_each_get_their_own_answer_and_all_are_stored() {
    let app = grouped_app().await;
    let token = app.rw_token("acme");
    let n = 96u32;
    let answers = join_all((0..n).map(|i| {
        let (app, token) = (&app, &token);
        async move { (i, post(app, token, None, &body(i)).await) }
    }))
    .await;
    let mut ids = HashSet::new();
    for (i, (status, replayed, answer)) in answers {
        assert_eq!(status, 201, "{answer}");
        assert!(!replayed);
        let sent = body(i);
        assert_eq!(answer["title"], sent["title"]);
        assert_eq!(answer["commit_id"], sent["commit_id"]);
        assert_eq!(answer["environment"], sent["environment"]);
        assert_eq!(answer["member_id"], sent["member_id"]);
        assert_eq!(answer["repository_url"], sent["repository_url"]);
        // What was answered is what is stored.
        let id = answer["id"].as_str().unwrap().to_owned();
        let stored: Value = app
            .get(&format!("/api/v1/deployments/{id}"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(stored, answer);
        assert!(ids.insert(id));
    }
    assert_eq!(app.deployment_rows().await, u64::from(n));
    // Numbers stay unique within the organization.
    let listed: Value = app
        .get("/api/v1/deployments?limit=100", &token)
        .await
        .json()
        .await
        .unwrap();
    let numbers: HashSet<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers.len(), n as usize);
}

#[tokio::test]
async fn a_create_that_fails_in_the_shared_transaction_fails_alone() {
    let app = grouped_app().await;
    let token = app.rw_token("acme");
    let (status, _, _) = post(&app, &token, Some("release-1"), &body(1000)).await;
    assert_eq!(status, 201);
    // Among concurrent good creates, several reuse the key with another body: refused inside
    // the transaction, after the claim (422), while the others commit.
    let answers = join_all((0..40u32).map(|i| {
        let (app, token) = (&app, &token);
        async move {
            if i % 10 == 3 {
                (
                    false,
                    post(app, token, Some("release-1"), &body(2000 + i)).await,
                )
            } else {
                (true, post(app, token, None, &body(i)).await)
            }
        }
    }))
    .await;
    for (good, (status, _, answer)) in answers {
        if good {
            assert_eq!(status, 201, "{answer}");
        } else {
            assert_eq!(status, 422, "{answer}");
            assert!(
                answer["type"]
                    .as_str()
                    .unwrap()
                    .ends_with("idempotency-key-reused")
            );
        }
    }
    assert_eq!(app.deployment_rows().await, 1 + 36);
}

#[tokio::test]
async fn the_same_idempotency_key_sent_concurrently_creates_once() {
    let app = grouped_app().await;
    let token = app.rw_token("acme");
    let same = body(7);
    let answers = join_all((0..48u32).map(|i| {
        let (app, token, same) = (&app, &token, &same);
        async move {
            if i % 2 == 0 {
                (true, post(app, token, Some("deploy-7"), same).await)
            } else {
                (false, post(app, token, None, &body(100 + i)).await)
            }
        }
    }))
    .await;
    let mut keyed = Vec::new();
    for (with_key, (status, replayed, answer)) in answers {
        assert_eq!(status, 201, "{answer}");
        if with_key {
            keyed.push((replayed, answer));
        } else {
            assert!(!replayed);
        }
    }
    let created: Vec<&Value> = keyed.iter().filter(|(r, _)| !r).map(|(_, a)| a).collect();
    assert_eq!(created.len(), 1, "exactly one request with the key creates");
    for (_, answer) in &keyed {
        assert_eq!(
            answer, created[0],
            "every other one replays the same answer"
        );
    }
    assert_eq!(app.deployment_rows().await, 1 + 24);
}

/// Concurrent deployments of one commit in one stream, batched together: each sees the other
/// (only the first ships the commit), as they do when committed one by one.
#[tokio::test]
async fn batched_deployments_of_one_commit_see_each_other() {
    let app = grouped_app().await;
    let token = app.rw_token("acme");
    let now = chrono::Utc::now();
    let posts = (0..24u32).flat_map(|i| {
        let sha = format!("{:040x}", 0xabc0_0000u32 + i);
        [40, 10].map(|days_ago: i64| {
            let mut b = deployment("https://github.com/acme/web", 0xabc0_0000u32 + i);
            b["finished_at"] = json!((now - chrono::Duration::days(days_ago)).to_rfc3339());
            b["commits"] = json!([{"sha": sha, "committed_at": (now - chrono::Duration::days(60)).to_rfc3339()}]);
            let (app, token) = (&app, &token);
            async move { app.create_deployment(token, &b).await }
        })
    });
    join_all(posts).await;
    let summary: Value = app
        .get("/api/v1/metrics/dora", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(summary["deployment_frequency"]["deployments"], 24);
    assert_eq!(summary["change_lead_time"]["samples"], 0);
}

#[tokio::test]
async fn an_unknown_group_commit_mode_is_refused_at_start() {
    let mut args = api::settings::ServeArgs::from_env();
    args.group_commit = "sometimes".to_owned();
    let err = api::settings::Settings::from_serve_args(args).unwrap_err();
    assert!(err.to_string().contains("DORA_GROUP_COMMIT"), "{err}");
}

#[tokio::test]
async fn a_bad_create_is_refused_before_it_joins_a_batch() {
    // Validation happens before the create is queued: its 422 names the field.
    let app = grouped_app().await;
    let token = app.rw_token("acme");
    let mut bad = body(1);
    bad["commit_id"] = json!("not-a-sha!");
    let answers = join_all((0..8u32).map(|i| {
        let (app, token, bad) = (&app, &token, &bad);
        async move {
            if i == 4 {
                let resp = app.post_json("/api/v1/deployments", token, bad).await;
                problem(resp).await.0
            } else {
                post(app, token, None, &body(i)).await.0
            }
        }
    }))
    .await;
    assert_eq!(answers.iter().filter(|s| **s == 201).count(), 7);
    assert_eq!(answers[4], 422);
    assert_eq!(app.deployment_rows().await, 7);
}

/// A mixed batch: fresh keys, a replay and a reuse of a stored key, an invalid body, teams,
/// several creates of one stream (one commit listed twice, deploy times out of order).
fn mixed(i: u32) -> (Option<String>, Value) {
    let base = chrono::Utc
        .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .unwrap();
    let mut b = deployment(
        &format!("https://github.com/acme/mixed-{}", i % 3),
        0x7000 + i,
    );
    b["environment"] = json!(["production", "staging"][(i % 2) as usize]);
    b["member_id"] = json!(format!("member-{}", i % 4));
    // Out of order: later requests deploy earlier, and some share an instant.
    let at = base - chrono::Duration::hours(i64::from((i * 7) % 11) * 6);
    b["finished_at"] = json!(at.to_rfc3339());
    b["status"] = json!(["success", "failure", "success", "error"][(i % 4) as usize]);
    if i.is_multiple_of(5) {
        b["team"] = json!(format!("team-{}", i % 3));
    }
    // Streams list some commits twice (a redeploy), one commit per stream.
    let sha = format!("{:040x}", 0xc000 + i % 6);
    b["commits"] = json!([
        {"sha": sha, "committed_at": (at - chrono::Duration::days(2)).to_rfc3339()},
        {"sha": format!("{:040x}", 0xd000 + i), "committed_at": (at - chrono::Duration::days(1)).to_rfc3339()},
    ]);
    let key = (i % 3 == 1).then(|| format!("mixed-{i}"));
    (key, b)
}

/// What differs between two runs of the same request: ids, numbers and the times of the
/// request.
fn comparable(mut answer: Value) -> Value {
    if let Some(map) = answer.as_object_mut() {
        for field in [
            "id",
            "number",
            "created_at",
            "updated_at",
            "organization_id",
            "repository_id",
            "pusher_id",
        ] {
            map.remove(field);
        }
    }
    answer
}

#[tokio::test]
async fn a_mixed_batch_is_answered_as_alone_and_its_outcomes_are_the_engines() {
    use crate::outcomes::{assert_outcomes_match, organization_id};

    let grouped = grouped_app().await;
    let alone = spawn_app_with(|args| args.group_commit = "off".to_owned()).await;
    let tokens = (grouped.rw_token("acme"), alone.rw_token("acme"));
    // A stored answer to replay, and a key to reuse with another body.
    let (_, first) = mixed(1000);
    let mut stored = Vec::new();
    for (app, token) in [(&grouped, &tokens.0), (&alone, &tokens.1)] {
        // Each repository's team, set before (the answers show it).
        for r in 0..3u32 {
            let (_, mut b) = mixed(3000 + r);
            b["team"] = json!(format!("team-{}", r));
            b["finished_at"] = json!("2025-01-01T00:00:00Z");
            app.create_deployment(token, &b).await;
        }
        let (status, replayed, answer) = post(app, token, Some("stored"), &first).await;
        assert_eq!((status, replayed), (201, false), "{answer}");
        stored.push(answer);
    }
    let n = 40u32;
    let request = |i: u32| -> (Option<String>, Value) {
        match i {
            7 => (Some("stored".to_owned()), first.clone()),
            13 => (Some("stored".to_owned()), mixed(2000).1),
            21 => {
                let (key, mut b) = mixed(i);
                b["commit_id"] = json!("not-a-sha!");
                (key, b)
            }
            _ => mixed(i),
        }
    };
    let answers = join_all((0..n).map(|i| {
        let (app, token) = (&grouped, &tokens.0);
        async move {
            let (key, b) = request(i);
            post(app, token, key.as_deref(), &b).await
        }
    }))
    .await;
    let mut log = Vec::new();
    for (i, (status, replayed, answer)) in answers.into_iter().enumerate() {
        let i = i as u32;
        let (key, b) = request(i);
        log.push(format!("{i}: {key:?} {b}"));
        // The same request alone, one after another, on the other instance.
        let (alone_status, alone_replayed, alone_answer) =
            post(&alone, &tokens.1, key.as_deref(), &b).await;
        assert_eq!(
            (status, replayed),
            (alone_status, alone_replayed),
            "{i}: {answer} / {alone_answer}"
        );
        match i {
            7 => {
                assert!(replayed);
                assert_eq!(answer, stored[0]);
            }
            13 | 21 => {
                assert_eq!(status, 422, "{answer}");
                assert_eq!(answer["type"], alone_answer["type"]);
            }
            _ => {
                assert_eq!(status, 201, "{i}: {answer}");
                assert!(!replayed);
                assert_eq!(comparable(answer.clone()), comparable(alone_answer));
                let id = answer["id"].as_str().unwrap();
                let got: Value = grouped
                    .get(&format!("/api/v1/deployments/{id}"), &tokens.0)
                    .await
                    .json()
                    .await
                    .unwrap();
                assert_eq!(got, answer, "{i}: answered is stored");
                if let Some(key) = key {
                    let (status, replayed, again) = post(&grouped, &tokens.0, Some(&key), &b).await;
                    assert_eq!((status, replayed), (201, true));
                    assert_eq!(again, answer, "{i}: the replay is the answer");
                }
            }
        }
    }
    assert_eq!(grouped.deployment_rows().await, 4 + u64::from(n) - 3);
    assert_eq!(alone.deployment_rows().await, 4 + u64::from(n) - 3);
    let org = organization_id(&grouped, "acme").await;
    assert!(assert_outcomes_match(&grouped, org, &log).await > 20);
}
