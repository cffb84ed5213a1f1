//! Deployment numbers (the GitHub-style integer ids, `/api/v1` `number`, the listing cursor)
//! count per organization: one tenant's numbers say nothing of another's volume.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, deployment, spawn_app, spawn_app_at};

const REPO: &str = "https://github.com/acme/web";

async fn numbers(app: &TestApp, token: &str, query: &str) -> (Vec<i64>, Option<String>) {
    let page: Value = app
        .get(&format!("/api/v1/deployments{query}"), token)
        .await
        .json()
        .await
        .unwrap();
    let numbers = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_i64().unwrap())
        .collect();
    (numbers, page["next_cursor"].as_str().map(str::to_owned))
}

/// Interleaved creates of two organizations: each counts 1, 2, 3… on its own, through the
/// canonical API, the GitHub-compatible one (whose `id` is the number) and the cursor.
#[tokio::test]
async fn numbers_count_per_organization() {
    let app = spawn_app().await;
    let (acme, globex) = (app.rw_token("acme"), app.rw_token("globex"));
    let mut seen = Vec::new();
    for n in 1..=5 {
        let (token, org) = if n % 2 == 1 {
            (&acme, "acme")
        } else {
            (&globex, "globex")
        };
        let created = app.create_deployment(token, &deployment(REPO, n)).await;
        seen.push((org, created["number"].as_i64().unwrap()));
    }
    assert_eq!(
        seen,
        [
            ("acme", 1),
            ("globex", 1),
            ("acme", 2),
            ("globex", 2),
            ("acme", 3)
        ]
    );

    // GitHub's `id` is the next number of the organization, and addresses the deployment.
    let gh = |method: reqwest::Method, path: &str, token: &str| {
        app.client
            .request(method, app.url(path))
            .header("Authorization", format!("token {token}"))
    };
    let created: Value = gh(
        reqwest::Method::POST,
        "/api/v3/repos/acme/web/deployments",
        &acme,
    )
    .json(&json!({"ref": "abcdef1234567", "environment": "production"}))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(created["id"], 4, "{created}");
    let read = gh(
        reqwest::Method::GET,
        "/api/v3/repos/acme/web/deployments/4",
        &acme,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(read.status(), 200);
    let theirs = gh(
        reqwest::Method::GET,
        "/api/v3/repos/acme/web/deployments/2",
        &globex,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(theirs.status(), 200, "globex has its own number 2");
    let read: Value = theirs.json().await.unwrap();
    assert_eq!(read["id"], 2);

    // The cursor pages through the organization's own numbers.
    let (first, cursor) = numbers(&app, &acme, "?limit=2").await;
    assert_eq!(first, [4, 3]);
    let (second, cursor) =
        numbers(&app, &acme, &format!("?limit=2&cursor={}", cursor.unwrap())).await;
    assert_eq!(second, [2, 1]);
    assert!(cursor.is_none());
    assert_eq!(numbers(&app, &globex, "").await.0, [2, 1]);
}

/// Migration 000010 over existing data: before it, numbers are one sequence across
/// organizations; after it, each organization's deployments are numbered 1, 2, … in their
/// old order, and the next create continues from there. Down and up again.
#[tokio::test]
async fn the_migration_renumbers_existing_deployments_per_organization() {
    let app = spawn_app().await;
    let (acme, globex) = (app.rw_token("acme"), app.rw_token("globex"));
    let mut ids = Vec::new();
    for n in 1..=5 {
        let token = if n % 2 == 1 { &acme } else { &globex };
        let created = app.create_deployment(token, &deployment(REPO, n)).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let conn = app.state.core.db.read();
    let backend = conn.get_database_backend();
    // id → number, in creation order.
    let numbered = || async {
        let rows = conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, number FROM deployments",
            ))
            .await
            .unwrap();
        let by_id: std::collections::HashMap<String, i64> = rows
            .iter()
            .map(|r| {
                let id: uuid::Uuid = r.try_get("", "id").unwrap();
                (id.to_string(), r.try_get::<i64>("", "number").unwrap())
            })
            .collect();
        ids.iter().map(|id| by_id[id]).collect::<Vec<i64>>()
    };
    assert_eq!(numbered().await, [1, 1, 2, 2, 3]);

    // 000010 and every migration after it, newest first.
    let all = Migrator::migrations();
    let renumbering = all
        .iter()
        .position(|m| m.name() == "m20261201_000010_hardening")
        .unwrap();
    let steps = u32::try_from(all.len() - renumbering).unwrap();
    Migrator::down(conn, Some(steps)).await.unwrap();
    // The old schema: one key for every organization, in creation order.
    assert_eq!(numbered().await, [1, 2, 3, 4, 5]);

    Migrator::up(conn, None).await.unwrap();
    assert_eq!(numbered().await, [1, 1, 2, 2, 3]);
    let counters = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT slug, last_deployment_number FROM organizations ORDER BY slug",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "slug").unwrap(),
                r.try_get::<i64>("", "last_deployment_number").unwrap(),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(counters, [("acme".to_owned(), 3), ("globex".to_owned(), 2)]);

    // A service started on the migrated database continues each organization's numbers.
    let again = spawn_app_at(&app.database_url, |_| {}).await;
    let created = again.create_deployment(&acme, &deployment(REPO, 6)).await;
    assert_eq!(created["number"], 4);
    let created = again.create_deployment(&globex, &deployment(REPO, 7)).await;
    assert_eq!(created["number"], 3);
}
