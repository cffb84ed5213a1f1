//! Several instances on one PostgreSQL database (DESIGN §2: the service is stateless apart
//! from the database). PostgreSQL only: several instances on one SQLite file is not a
//! deployment the service supports (SQLite is the single-instance backend), so on SQLite
//! these tests return at once, saying so.

use std::{collections::HashSet, time::Duration};

use api::Application;
use serde_json::Value;

use crate::helpers::{TestApp, deployment, on_postgres, run_app, test_database, test_settings};

const REPO: &str = "https://github.com/acme/web";

/// Two services built at the same moment on one fresh database.
async fn two_instances() -> Option<(TestApp, TestApp, crate::helpers::TestDatabase)> {
    if !on_postgres() {
        eprintln!("skipped: several instances share a PostgreSQL database, not SQLite");
        return None;
    }
    let (url, database) = test_database().await;
    let settings = |_: ()| {
        test_settings(&url, |args| {
            args.metrics_refresh_seconds = 1;
        })
    };
    // Both run every migration at once: the advisory lock makes them take turns.
    let (a, b) = tokio::join!(
        Application::build(settings(())),
        Application::build(settings(()))
    );
    let a = a.expect("the first instance starts");
    let b = b.expect("the second instance starts");
    Some((run_app(a, &url), run_app(b, &url), database))
}

/// Both come up on a fresh database; the same `Idempotency-Key` sent to both at once
/// records one deployment and both answer it; concurrent creates on both get distinct
/// numbers; after a refresh, both `/metrics` report the same DORA values.
#[tokio::test]
async fn two_instances_on_one_postgresql_database() {
    let Some((a, b, _database)) = two_instances().await else {
        return;
    };
    let token = a.rw_token("acme");
    let body = deployment(REPO, 1);
    let send = |app: &TestApp| {
        app.client
            .post(app.url("/api/v1/deployments"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "same-key")
            .json(&body)
            .send()
    };
    let (ra, rb) = tokio::join!(send(&a), send(&b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!((ra.status().as_u16(), rb.status().as_u16()), (201, 201));
    let replayed = [&ra, &rb]
        .iter()
        .filter(|r| r.headers().get("idempotent-replayed").is_some())
        .count();
    assert_eq!(replayed, 1, "one of them replays the other's answer");
    let (ja, jb): (Value, Value) = (ra.json().await.unwrap(), rb.json().await.unwrap());
    assert_eq!(ja["id"], jb["id"]);
    assert_eq!(a.deployment_rows().await, 1);

    // Concurrent creates of one organization on both instances: distinct numbers, after the
    // first one's (the replayed request reserved one it did not use).
    let mut tasks = tokio::task::JoinSet::new();
    for n in 2..=21u32 {
        let app = if n % 2 == 0 { &a } else { &b };
        let (client, url, token) = (
            app.client.clone(),
            app.url("/api/v1/deployments"),
            token.clone(),
        );
        let body = deployment(REPO, n);
        tasks.spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            resp.json::<Value>().await.unwrap()["number"]
                .as_i64()
                .unwrap()
        });
    }
    let mut numbers = HashSet::new();
    while let Some(number) = tasks.join_next().await {
        assert!(numbers.insert(number.unwrap()), "numbers are unique");
    }
    assert_eq!(numbers.len(), 20);
    let first = ja["number"].as_i64().unwrap();
    assert!(numbers.iter().all(|n| *n > first), "{numbers:?}");

    // Both snapshots come from the database: once both have refreshed, they agree.
    let dora_lines = |text: &str| -> Vec<String> {
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("dora_"))
            .filter(|l| {
                !["dora_snapshot_", "dora_db_pool", "dora_build_info"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let scrape = |app: &TestApp| {
        let (client, url) = (app.client.clone(), app.url("/metrics"));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let mut agreed = None;
    for _ in 0..100 {
        let (ta, tb) = tokio::join!(scrape(&a), scrape(&b));
        let (la, lb) = (dora_lines(&ta), dora_lines(&tb));
        let complete = la
            .iter()
            .any(|l| l.starts_with("dora_deployments{") && l.ends_with(" 21"));
        if complete && la == lb {
            agreed = Some(la);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let agreed = agreed.expect("both instances' /metrics agree after a refresh");
    assert!(
        agreed
            .iter()
            .any(|l| l.starts_with("dora_window_deployments{"))
    );
}
