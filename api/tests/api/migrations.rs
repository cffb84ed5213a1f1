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
    // 000009 (outcomes) and 000006 (commit copies).
    Migrator::down(conn, Some(2)).await.unwrap();
    Migrator::up(conn, None).await.unwrap();
    assert_eq!(copied().await, 1);
}

/// Migration 000009 computes, over an existing history, exactly the outcome rows the writes
/// maintained: rolled back (the table is dropped) and applied again, every row is the same.
#[tokio::test]
async fn the_outcomes_migration_recomputes_what_the_writes_kept() {
    use entity::deployment_outcomes;
    use sea_orm::EntityTrait;

    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let at = |h: u32| format!("2026-03-01T{h:02}:00:00Z");
    for n in 1..=12u32 {
        let mut body = deployment(
            ["https://github.com/acme/web", "https://github.com/acme/api"][n as usize % 2],
            n,
        );
        body["status"] = json!(if n % 4 == 0 { "failure" } else { "success" });
        // Out of order, with ties.
        body["finished_at"] = json!(at((n * 7) % 10 + 1));
        body["is_hotfix"] = json!(n % 5 == 0);
        body["environment"] = json!(if n % 3 == 0 { "staging" } else { "production" });
        body["commits"] = json!([
            {"sha": format!("{:040x}", n % 4), "committed_at": "2026-02-28T09:00:00Z"},
            {"sha": format!("{:040x}", 100 + n), "committed_at": "2026-02-28T10:00:00Z"},
        ]);
        app.create_deployment(&token, &body).await;
    }
    for (started, repository) in [(3, Some("https://github.com/acme/web")), (6, None)] {
        let mut incident = json!({
            "title": "Down",
            "started_at": format!("2026-03-01T{started:02}:30:00Z"),
            "resolved_at": format!("2026-03-01T{started:02}:45:00Z"),
        });
        if let Some(url) = repository {
            incident["repository_url"] = json!(url);
        }
        let resp = app.post_json("/api/v1/incidents", &token, &incident).await;
        assert_eq!(resp.status(), 201);
    }
    let conn = app.state.core.db.read();
    let rows = || async {
        let mut rows = deployment_outcomes::Entity::find().all(conn).await.unwrap();
        rows.sort_by_key(|r| r.deployment_id);
        rows
    };
    let kept = rows().await;
    assert_eq!(kept.len(), 12);
    assert!(
        kept.iter()
            .any(|r| r.change_failure && r.recovery_seconds.is_some())
    );
    assert!(kept.iter().any(|r| r.lead_seconds.is_some()));
    // 000009 (outcomes) and every later one.
    Migrator::down(
        conn,
        Some(crate::helpers::migrations_since(
            "m20261201_000009_outcomes",
        )),
    )
    .await
    .unwrap();
    let gone = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM deployment_outcomes",
        ))
        .await;
    assert!(gone.is_err(), "the table is dropped");
    Migrator::up(conn, None).await.unwrap();
    assert_eq!(rows().await, kept);
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

/// Migration 000013 (`deployments.external_id`) rolls back over data that has external ids and
/// applies again: the column and its per-organization uniqueness come back.
#[tokio::test]
async fn the_external_id_migration_rolls_back_and_forward() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut body = deployment("https://github.com/acme/web", 1);
    body["commits"] = json!([{"sha": "b".repeat(40), "committed_at": "2026-03-01T09:00:00Z"}]);
    body["external_id"] = json!("run-1");
    let import = |body: serde_json::Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.client
                .post(app.url("/api/v1/deployments/import"))
                .bearer_auth(token)
                .header("content-type", "application/x-ndjson")
                .body(format!("{body}\n"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(import(body.clone()).await.contains("\"created\""));
    let conn = app.state.core.db.read();
    let steps = crate::helpers::migrations_since("m20261202_000013_external_ids");
    Migrator::down(conn, Some(steps)).await.unwrap();
    let gone = conn
        .execute_unprepared("SELECT external_id FROM deployments")
        .await;
    assert!(gone.is_err(), "the column is dropped");
    Migrator::up(conn, None).await.unwrap();
    // The old row has none now; the unique index is back.
    assert!(import(body.clone()).await.contains("\"created\""));
    assert!(import(body).await.contains("\"exists\""));
    let duplicate = conn
        .execute_unprepared(
            "UPDATE deployments SET external_id = 'run-1' WHERE external_id IS NULL",
        )
        .await;
    assert!(
        duplicate.is_err(),
        "external ids are unique per organization"
    );
    assert_eq!(app.deployment_rows().await, 2);
}

/// Migration 000014 computes, over an existing history, exactly the daily rollups the
/// compactor keeps: rolled back (tables, triggers and functions dropped; writes still work)
/// and applied again, every rollup is the same and no day is dirty.
#[tokio::test]
async fn the_rollups_migration_computes_what_the_compactor_kept() {
    use entity::outcome_days;
    use sea_orm::EntityTrait;

    let app = crate::helpers::spawn_app_with(|args| args.rollup_interval_seconds = 0.0).await;
    let mut sequence = crate::outcomes::Sequence::new(&app, "acme", 11).spread_over(4);
    for _ in 0..40 {
        sequence.step().await;
    }
    let core = &app.state.core;
    let conn = core.db.read();
    assert!(api::store::rollups::marks(conn).await.unwrap() > 0);
    api::core::rollups::compact_all(core).await.unwrap();
    let rows = || async {
        let mut rows = outcome_days::Entity::find().all(conn).await.unwrap();
        rows.sort_by(|a, b| {
            (a.organization_id, &a.environment, a.day, a.is_production).cmp(&(
                b.organization_id,
                &b.environment,
                b.day,
                b.is_production,
            ))
        });
        rows
    };
    let kept = rows().await;
    assert!(kept.len() > 2, "{} rollups", kept.len());
    assert!(kept.iter().any(|r| !r.lead_seconds.is_empty()));
    assert!(kept.iter().any(|r| !r.recovery_seconds.is_empty()));
    Migrator::down(
        conn,
        Some(crate::helpers::migrations_since(
            "m20261207_000014_outcome_days",
        )),
    )
    .await
    .unwrap();
    for table in ["outcome_days", "outcome_day_marks"] {
        let gone = conn
            .execute_unprepared(&format!("SELECT COUNT(*) FROM {table}"))
            .await;
        assert!(gone.is_err(), "{table} is dropped");
    }
    // Without the triggers, outcome rows change freely (a no-op rewrite here).
    conn.execute_unprepared("UPDATE deployment_outcomes SET rework = rework")
        .await
        .unwrap();
    Migrator::up(conn, None).await.unwrap();
    assert_eq!(rows().await, kept);
    assert_eq!(api::store::rollups::marks(conn).await.unwrap(), 0);
}

/// Migration 000015: the bulk import writes the commit rows' copies of their deployment's
/// columns itself (the trigger fills only rows given none), and they are what the trigger of
/// migration 000006 writes, for every status; rolled back (000006's trigger, filling every
/// row) and applied again, imports and single creates still get the right copies.
#[tokio::test]
async fn the_import_writes_the_copies_the_trigger_would() {
    use api::domain::Status;

    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let conn = app.state.core.db.read();
    // Commit rows whose copies differ from their deployment's (or are missing).
    let wrong = || async {
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT COUNT(*) AS n FROM deployment_commits c \
                 JOIN deployments d ON d.id = c.deployment_id \
                 WHERE c.organization_id IS NULL OR c.repository_id IS NULL \
                 OR c.environment IS NULL OR c.is_production IS NULL OR c.deployed_at IS NULL \
                 OR c.is_success IS NULL OR NOT (c.organization_id = d.organization_id \
                 AND c.repository_id = d.repository_id AND c.environment = d.environment \
                 AND c.is_production = d.is_production AND c.deployed_at = d.deployed_at \
                 AND c.is_success = (d.status = 'success' \
                 OR (d.status = 'inactive' AND d.finished_at IS NOT NULL)))",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    let commit_rows = || async {
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT COUNT(*) AS n FROM deployment_commits",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    let mut n = 0u32;
    let mut lines = |round: &str| {
        let mut body = String::new();
        // (`inactive` is not a create status: only later status updates set it.)
        for status in Status::ALL.into_iter().filter(|s| *s != Status::Inactive) {
            for finished in [false, true] {
                if finished && !status.is_final() {
                    continue;
                }
                n += 1;
                let repository = ["web", "api"][n as usize % 2];
                let mut line = deployment(&format!("https://github.com/acme/{repository}"), n);
                line["status"] = json!(status.as_str());
                line["environment"] = json!(["production", "staging"][n as usize % 3 / 2]);
                if finished {
                    line["finished_at"] = json!(format!("2026-03-01T10:{:02}:00.123456789Z", n));
                } else {
                    line.as_object_mut().unwrap().remove("finished_at");
                }
                line["commits"] = json!([
                    {"sha": format!("{n:040x}"), "committed_at": "2026-03-01T09:00:00Z"},
                    {"sha": "c".repeat(40), "committed_at": "2026-03-01T08:00:00Z"},
                ]);
                line["external_id"] = json!(format!("{round}-{n}"));
                body.push_str(&format!("{line}\n"));
            }
        }
        body
    };
    let import = |body: String| {
        let app = &app;
        let token = token.clone();
        async move {
            let text = app
                .client
                .post(app.url("/api/v1/deployments/import"))
                .bearer_auth(token)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(!text.contains("\"result\":\"error\""), "{text}");
            assert!(text.contains("\"created\""), "{text}");
        }
    };
    let mut single = deployment("https://github.com/acme/web", 900);
    single["commits"] = json!([{"sha": "d".repeat(40), "committed_at": "2026-03-01T09:00:00Z"}]);

    import(lines("first")).await;
    app.create_deployment(&token, &single).await;
    let before = commit_rows().await;
    assert!(before > 20, "{before}");
    assert_eq!(wrong().await, 0);

    let steps = crate::helpers::migrations_since("m20261207_000015_import_copies");
    Migrator::down(conn, Some(steps)).await.unwrap();
    import(lines("down")).await;
    single["pull_request_number"] = json!(901);
    app.create_deployment(&token, &single).await;
    assert!(commit_rows().await > before);
    assert_eq!(wrong().await, 0);

    Migrator::up(conn, None).await.unwrap();
    import(lines("up")).await;
    single["pull_request_number"] = json!(902);
    app.create_deployment(&token, &single).await;
    assert_eq!(wrong().await, 0);
    // A row written without the copies still gets them from the trigger.
    let id = app.create_deployment(&token, &single).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        match conn.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "INSERT INTO deployment_commits (deployment_id, sha, committed_at, shared) \
                 VALUES ($1, 'eeee', '2026-03-01T09:00:00Z', FALSE)"
            }
            _ => {
                "INSERT INTO deployment_commits (deployment_id, sha, committed_at, shared) \
                 VALUES (?, 'eeee', '2026-03-01T09:00:00Z', FALSE)"
            }
        },
        [uuid::Uuid::parse_str(&id).unwrap().into()],
    ))
    .await
    .unwrap();
    assert_eq!(wrong().await, 0);
}
