//! The migrations roll back and forward on a database that holds data.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{deployment, spawn_app};

/// Every migration's `down` undoes its `up` (000006's triggers, functions and copied columns
/// and 000010's renumbering included), and `up` again backfills the commit rows' copies from
/// their deployments.
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
    Migrator::down(conn, Some(2)).await.unwrap();
    Migrator::up(conn, None).await.unwrap();
    assert_eq!(copied().await, 1);
}

/// The commit rows' `is_success` copy, kept by the triggers of migration 000006, says what the
/// one Rust rule (`Status::outcome`) says, for every status, finished or not, whether the
/// status was set when the commits were written (insert trigger) or changed afterwards by any
/// tool (update trigger).
#[tokio::test]
async fn the_commit_triggers_follow_the_status_rule() {
    use api::domain::Status;
    use dora_metrics::Outcome;

    let app = spawn_app().await;
    let admin = app.token("acme", &[api::auth::Scope::Admin]);
    let conn = app.state.core.db.read();
    let backend = conn.get_database_backend();
    let is_success = |id: String| async move {
        let row = conn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                match backend {
                    sea_orm::DbBackend::Postgres => {
                        "SELECT is_success FROM deployment_commits WHERE deployment_id = $1"
                    }
                    _ => "SELECT is_success FROM deployment_commits WHERE deployment_id = ?",
                },
                [uuid::Uuid::parse_str(&id).unwrap().into()],
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<bool>("", "is_success").unwrap()
    };
    let mut n = 0;
    for status in Status::ALL {
        for finished in [false, true] {
            if finished && !status.is_final() {
                continue;
            }
            n += 1;
            let expected = status.outcome(finished) == Outcome::Success;
            let created = app
                .create_deployment(&admin, &deployment("https://github.com/acme/web", n))
                .await;
            let id = created["id"].as_str().unwrap().to_owned();
            // Insert trigger: an admin replace rewrites the commits under the new status.
            let replacement = json!({
                "repository_url": "https://github.com/acme/web",
                "environment": "production",
                "is_production": true,
                "title": "Deploy",
                "branch": "main",
                "commit_id": format!("{n:040x}"),
                "commits_count": 1,
                "is_fix": false, "is_hotfix": false, "is_forced": false, "is_rollback": false,
                "status": status.as_str(),
                "finished_at": finished.then_some("2026-03-01T10:00:00Z"),
                "commits": [{"sha": format!("{n:040x}"), "committed_at": "2026-03-01T09:00:00Z"}],
            });
            let resp = app
                .client
                .put(app.url(&format!("/api/v1/admin/deployments/{id}")))
                .bearer_auth(&admin)
                .json(&replacement)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{status} {finished}");
            assert_eq!(
                is_success(id.clone()).await,
                expected,
                "insert: {status} {finished}"
            );

            // Update trigger: any tool changing the deployment row.
            conn.execute_unprepared("UPDATE deployments SET status = 'queued', finished_at = NULL")
                .await
                .unwrap();
            assert!(!is_success(id.clone()).await, "update to queued");
            let finished_at = if finished {
                "'2026-03-01T10:00:00Z'"
            } else {
                "NULL"
            };
            let placeholder = match backend {
                sea_orm::DbBackend::Postgres => "$1",
                _ => "?",
            };
            conn.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE deployments SET status = '{}', finished_at = {finished_at} \
                     WHERE id = {placeholder}",
                    status.as_str()
                ),
                [uuid::Uuid::parse_str(&id).unwrap().into()],
            ))
            .await
            .unwrap();
            assert_eq!(
                is_success(id).await,
                expected,
                "update: {status} {finished}"
            );
        }
    }
}
