//! `PUT /api/v1/admin/deployments/{id}` and the audit log.

use api::auth::Scope;
use serde_json::{Value, json};

use crate::helpers::{TestApp, deployment, problem, spawn_app};

fn replacement() -> Value {
    json!({
        "repository_url": "https://github.com/acme/api",
        "environment": "production",
        "is_production": true,
        "title": "Repaired",
        "changelog": null,
        "branch": "release",
        "commit_id": "abcdef0123456789abcdef0123456789abcdef01",
        "member_id": "bob",
        "pull_request_number": 7,
        "commits_count": 1,
        "deployment_duration": 120,
        "is_fix": false,
        "is_hotfix": true,
        "is_forced": false,
        "is_rollback": false,
        "status": "failure",
        "started_at": "2026-01-01T10:00:00Z",
        "finished_at": "2026-01-01T10:02:00Z",
        "commits": [{"sha": "abcdef0", "committed_at": "2026-01-01T09:00:00Z"}]
    })
}

async fn put(app: &TestApp, token: Option<&str>, id: &str, body: &Value) -> reqwest::Response {
    let mut req = app
        .client
        .put(app.url(&format!("/api/v1/admin/deployments/{id}")))
        .json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn admin_replaces_a_whole_record_and_audits_it() {
    let app = spawn_app().await;
    let rw = app.rw_token("acme");
    let admin = app.token("acme", &[Scope::Admin]);
    let d = app
        .create_deployment(&rw, &deployment("https://github.com/acme/web", 1))
        .await;
    let id = d["id"].as_str().unwrap();

    let resp = put(&app, Some(&admin), id, &replacement()).await;
    assert_eq!(resp.status(), 200);
    let after: Value = resp.json().await.unwrap();
    assert_eq!(after["id"], d["id"]);
    assert_eq!(after["number"], d["number"]);
    assert_eq!(after["created_at"], d["created_at"]);
    assert_eq!(after["triggered_by"], "api");
    assert_eq!(after["repository"], "acme/api");
    assert_eq!(after["title"], "Repaired");
    assert_eq!(after["status"], "failure");
    assert_eq!(after["member_id"], "bob");
    assert_eq!(after["deployment_duration"], 120);
    assert_eq!(after["deployed_at"], "2026-01-01T10:02:00+00:00");
    assert_eq!(after["commits"][0]["sha"], "abcdef0");
    assert!(after["changelog"].is_null());
    let got: Value = app
        .get(&format!("/api/v1/deployments/{id}"), &rw)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, after);
    // The history says so too: the latest status is the deployment's current one.
    let statuses: Value = app
        .get(&format!("/api/v1/deployments/{id}/statuses"), &rw)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses["items"][0]["state"], "failure", "{statuses}");
    assert_eq!(
        statuses["items"][0]["description"],
        "Status set by an admin replace"
    );

    let log: Value = app
        .get("/api/v1/admin/audit-log", &admin)
        .await
        .json()
        .await
        .unwrap();
    let entry = &log["items"][0];
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    assert_eq!(entry["actor"], "test");
    assert_eq!(entry["action"], "replace");
    assert_eq!(entry["entity"], "deployment");
    assert_eq!(entry["entity_id"], id);
    assert_eq!(entry["before"]["title"], "Deploy 1");
    assert_eq!(entry["before"]["status"], "success");
    assert_eq!(entry["after"], after);
    assert!(entry["created_at"].is_string());
    // Another organization's admin sees nothing.
    let other = app.token("other", &[Scope::Admin]);
    let log: Value = app
        .get("/api/v1/admin/audit-log", &other)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["items"], json!([]));
}

#[tokio::test]
async fn admin_replace_is_guarded() {
    let app = spawn_app().await;
    let rw = app.rw_token("acme");
    let admin = app.token("acme", &[Scope::Admin]);
    let d = app
        .create_deployment(&rw, &deployment("https://github.com/acme/web", 1))
        .await;
    let id = d["id"].as_str().unwrap();

    assert_eq!(
        problem(put(&app, None, id, &replacement()).await).await.0,
        401
    );
    assert_eq!(
        problem(put(&app, Some(&rw), id, &replacement()).await)
            .await
            .0,
        403
    );
    let (status, _) = problem(app.get("/api/v1/admin/audit-log", &rw).await).await;
    assert_eq!(status, 403);
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        problem(put(&app, Some(&admin), &unknown, &replacement()).await)
            .await
            .0,
        404
    );
    // Another organization's deployment is unknown too.
    let other_admin = app.token("other", &[Scope::Admin]);
    assert_eq!(
        problem(put(&app, Some(&other_admin), id, &replacement()).await)
            .await
            .0,
        404
    );
    for field in [
        "title",
        "commit_id",
        "status",
        "is_production",
        "environment",
    ] {
        let mut body = replacement();
        body.as_object_mut().unwrap().remove(field);
        let (status, problem_body) = problem(put(&app, Some(&admin), id, &body).await).await;
        assert_eq!(status, 422, "{field}");
        assert_eq!(problem_body["errors"][0]["field"], field);
    }
    // A read-only field that differs from the stored value, and a field no record has.
    let mut body = replacement();
    body["id"] = json!(uuid::Uuid::now_v7());
    let (status, problem_body) = problem(put(&app, Some(&admin), id, &body).await).await;
    assert_eq!(status, 422);
    assert_eq!(problem_body["errors"][0]["field"], "id");
    let mut body = replacement();
    body["colour"] = json!("blue");
    assert_eq!(
        problem(put(&app, Some(&admin), id, &body).await).await.0,
        422
    );
    let mut body = replacement();
    body["status"] = json!("in_progress");
    assert_eq!(
        problem(put(&app, Some(&admin), id, &body).await).await.0,
        422
    );

    // Nothing was inserted or changed, and nothing was audited.
    assert_eq!(app.deployment_rows().await, 1);
    let got: Value = app
        .get(&format!("/api/v1/deployments/{id}"), &rw)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, d);
    let log: Value = app
        .get("/api/v1/admin/audit-log", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["items"], json!([]));
}

#[tokio::test]
async fn a_replace_into_a_stream_that_already_shipped_the_commit_adds_no_lead_time_sample() {
    use chrono::{Duration, SecondsFormat, Utc};
    let app = spawn_app().await;
    let rw = app.rw_token("acme");
    let admin = app.token("acme", &[Scope::Admin]);
    let at =
        |days: i64| (Utc::now() - Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let record = |environment: &str, days: i64| {
        let mut body = replacement();
        body["environment"] = environment.into();
        body["is_production"] = (environment == "production").into();
        body["status"] = "success".into();
        body["is_hotfix"] = false.into();
        body["started_at"] = at(days).into();
        body["finished_at"] = at(days).into();
        body["commits"] = json!([{
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "committed_at": at(days + 1),
        }]);
        body
    };
    // Shipped to production 40 days ago, before the default 30-day window.
    app.create_deployment(&rw, &record("production", 40)).await;
    // The same commit deployed to staging 10 days ago: not in the production scope.
    let staged = app.create_deployment(&rw, &record("staging", 10)).await;
    async fn summary(app: &TestApp, token: &str) -> Value {
        let resp = app.get("/api/v1/metrics/dora", token).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }
    let before = summary(&app, &rw).await;
    assert_eq!(before["deployment_frequency"]["deployments"], 0);

    // An admin repairs it: it was a production deployment. The commit is then a redeploy in
    // the production stream, not a change reaching production for the first time.
    let id = staged["id"].as_str().unwrap();
    let resp = put(&app, Some(&admin), id, &record("production", 10)).await;
    assert_eq!(resp.status(), 200);
    let after = summary(&app, &rw).await;
    assert_eq!(after["deployment_frequency"]["deployments"], 1);
    assert_eq!(after["change_lead_time"]["samples"], 0);
    assert_eq!(after["change_lead_time"]["median_seconds"], Value::Null);
}

/// The body of a GET, changed and sent back as it is: its read-only fields are accepted when
/// they equal the stored values and refused, each named, when they differ.
#[tokio::test]
async fn a_get_body_changed_and_put_back_round_trips() {
    let app = spawn_app().await;
    let rw = app.rw_token("acme");
    let admin = app.token("acme", &[Scope::Admin]);
    let mut body = deployment("https://github.com/acme/web", 1);
    body["team"] = json!("payments");
    body["finished_at"] = json!("2026-01-01T10:00:00Z");
    body["commits"] = json!([{"sha": "abcdef0", "committed_at": "2026-01-01T09:00:00Z"}]);
    let created = app.create_deployment(&rw, &body).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/deployments/{id}");
    let read = |token: String| {
        let app = &app;
        let path = path.clone();
        async move {
            let resp = app.get(&path, &token).await;
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };

    let mut record = read(admin.clone()).await;
    for field in [
        "id",
        "number",
        "organization_id",
        "repository_id",
        "repository",
        "team",
        "pusher_id",
        "triggered_by",
        "deployed_at",
        "created_at",
        "updated_at",
    ] {
        assert!(record.get(field).is_some(), "a GET shows {field}");
    }
    record["title"] = json!("Renamed");
    let resp = put(&app, Some(&admin), id, &record).await;
    let status = resp.status();
    let replaced: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["title"], "Renamed");
    for same in [
        "id",
        "number",
        "repository",
        "team",
        "commit_id",
        "commits",
        "deployed_at",
        "created_at",
        "finished_at",
        "status",
        "deployment_duration",
    ] {
        assert_eq!(replaced[same], created[same], "{same} is kept");
    }

    // The same body again: its `updated_at` is now stale, and it names what else differs.
    let mut stale = record.clone();
    stale["number"] = json!(99);
    stale["team"] = json!(null);
    stale["created_at"] = json!("2020-01-01T00:00:00Z");
    stale["title"] = json!("Renamed again");
    let (status, problem_body) = problem(put(&app, Some(&admin), id, &stale).await).await;
    assert_eq!(status, 422, "{problem_body}");
    let mut fields: Vec<&str> = problem_body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["created_at", "number", "team", "updated_at"]);
    assert!(
        problem_body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{problem_body}"
    );
    // Refused means nothing written: the record is the one the first PUT answered.
    assert_eq!(read(rw.clone()).await, replaced);

    // A fresh read round-trips again, and an empty change changes nothing but `updated_at`.
    let fresh = read(admin.clone()).await;
    let resp = put(&app, Some(&admin), id, &fresh).await;
    assert_eq!(resp.status(), 200);
    let again: Value = resp.json().await.unwrap();
    assert_eq!(again["title"], "Renamed");
    assert_eq!(again["commits"], fresh["commits"]);
}
