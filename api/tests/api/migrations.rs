//! The migrations roll back and forward on a database that holds data.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{deployment, spawn_app};

/// Every migration's `down` undoes its `up` (the newest one's triggers, functions and copied
/// columns included), and `up` again backfills the commit rows' copies from their deployments.
#[tokio::test]
async fn migrations_roll_back_and_forward_over_data() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut body = deployment("https://github.com/acme/web", 1);
    body["status"] = json!("success");
    body["finished_at"] = json!("2026-03-01T10:00:00Z");
    body["commits"] = json!([{"sha": "a".repeat(40), "committed_at": "2026-03-01T09:00:00Z"}]);
    app.create_deployment(&token, &body).await;

    let conn = app.state.core.db.read();
    let backend = conn.get_database_backend();
    let copied = || async {
        let row = conn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT COUNT(*) AS n FROM deployment_commits c JOIN deployments d \
                 ON d.id = c.deployment_id WHERE c.organization_id = d.organization_id \
                 AND c.deployed_at = d.deployed_at AND c.is_success",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    assert_eq!(copied().await, 1);
    Migrator::down(conn, Some(1)).await.unwrap();
    Migrator::up(conn, None).await.unwrap();
    assert_eq!(copied().await, 1);
}
