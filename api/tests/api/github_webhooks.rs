//! GitHub webhooks: what each event records, redelivery and out-of-order delivery, pushes and
//! the commits inferred from them (late pushes included), the repository allow-list, issues as
//! incidents, and the same metrics whichever way a history came in.

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app},
    webhook_helpers::{
        TestIntegration, commit_shas, deployments, fixture, gh_deployment, gh_issue, gh_push,
        gh_status, github, github_ok, incidents, integration, sha,
    },
};

const REPO: &str = "acme/web";

async fn statuses(app: &TestApp, org: &str, id: &str) -> Vec<Value> {
    let body: Value = app
        .get(
            &format!("/api/v1/deployments/{id}/statuses"),
            &app.rw_token(org),
        )
        .await
        .json()
        .await
        .unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn deployment_and_statuses_record_a_deployment_and_its_history() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "github", json!({})).await;
    let mut d = gh_deployment(REPO, 1001, &sha(1), "Production", "2026-10-02T09:00:00Z");
    d["deployment"]["payload"] = json!({"is_hotfix": true});
    // Without the payload's own flag, `production_environments` decides (case-insensitive).
    d["deployment"]
        .as_object_mut()
        .unwrap()
        .remove("production_environment");
    let body = github_ok(&app, &hook, "deployment", &d).await;
    assert_eq!(body["result"], "recorded");
    let all = deployments(&app, "acme").await;
    assert_eq!(all.len(), 1);
    let dep = &all[0];
    assert_eq!(dep["status"], "queued");
    assert_eq!(dep["triggered_by"], "github_webhook");
    assert_eq!(dep["commit_id"], sha(1));
    assert_eq!(dep["branch"], "main");
    assert_eq!(dep["environment"], "production");
    assert_eq!(dep["is_production"], true);
    assert_eq!(dep["is_hotfix"], true);
    assert_eq!(dep["member_id"], "octocat");
    assert_eq!(dep["repository"], "acme/web");
    assert_eq!(dep["created_at"], "2026-10-02T09:00:00+00:00");

    github_ok(
        &app,
        &hook,
        "deployment_status",
        &gh_status(&d, 1, "in_progress", "2026-10-02T09:01:00Z"),
    )
    .await;
    github_ok(
        &app,
        &hook,
        "deployment_status",
        &gh_status(&d, 2, "success", "2026-10-02T09:10:00Z"),
    )
    .await;
    let dep = &deployments(&app, "acme").await[0];
    assert_eq!(dep["status"], "success");
    assert_eq!(dep["started_at"], "2026-10-02T09:01:00+00:00");
    assert_eq!(dep["finished_at"], "2026-10-02T09:10:00+00:00");
    let history = statuses(&app, "acme", dep["id"].as_str().unwrap()).await;
    let states: Vec<&str> = history
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["success", "in_progress"]);
    assert_eq!(history[0]["created_at"], "2026-10-02T09:10:00+00:00");

    // The GitHub-compatible API shows the same deployment, task and all, in one repository.
    let token = app.rw_token("acme");
    let listed: Value = app
        .client
        .get(app.url("/api/v3/repos/acme/web/deployments"))
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["task"], "deploy");
    assert_eq!(listed[0]["sha"], sha(1));

    // A failure, GitHub's `inactive` on an older deployment, nothing regresses.
    let d2 = gh_deployment(REPO, 1002, &sha(2), "production", "2026-10-03T09:00:00Z");
    github_ok(
        &app,
        &hook,
        "deployment_status",
        &gh_status(&d2, 3, "failure", "2026-10-03T09:05:00Z"),
    )
    .await;
    github_ok(
        &app,
        &hook,
        "deployment_status",
        &gh_status(&d, 4, "inactive", "2026-10-03T09:06:00Z"),
    )
    .await;
    let all = deployments(&app, "acme").await;
    assert_eq!(all[0]["status"], "failure");
    assert_eq!(all[0]["finished_at"], "2026-10-03T09:05:00+00:00");
    assert_eq!(all[1]["status"], "inactive");
    assert_eq!(all[1]["finished_at"], "2026-10-02T09:10:00+00:00");
}

#[tokio::test]
async fn redeliveries_and_second_events_change_nothing() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "github", json!({})).await;
    let d = gh_deployment(REPO, 1001, &sha(1), "production", "2026-10-02T09:00:00Z");
    let first = github(&app, &hook.id, &hook.secret, "deployment", "delivery-1", &d).await;
    assert_eq!(first.status(), 200);
    let again = github(&app, &hook.id, &hook.secret, "deployment", "delivery-1", &d).await;
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["result"], "duplicate", "{again}");
    // The same deployment by another delivery (GitHub's "redeliver" keeps the id; a second
    // webhook of the same organization does not).
    let other = github_ok(&app, &hook, "deployment", &d).await;
    assert_eq!(other["result"], "duplicate", "{other}");
    let status = gh_status(&d, 7, "success", "2026-10-02T09:10:00Z");
    github_ok(&app, &hook, "deployment_status", &status).await;
    let twice = github_ok(&app, &hook, "deployment_status", &status).await;
    assert_eq!(twice["result"], "duplicate");
    assert_eq!(app.deployment_rows().await, 1);
    let dep = &deployments(&app, "acme").await[0];
    assert_eq!(
        statuses(&app, "acme", dep["id"].as_str().unwrap())
            .await
            .len(),
        1
    );
    let read: Value = app
        .get(
            &format!("/api/v1/integrations/{}", hook.id),
            &app.token("acme", &[api::auth::Scope::Admin]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["deliveries"]["total"], 5);
    assert_eq!(read["deliveries"]["duplicates"], 3);
    assert_eq!(read["deliveries"]["recorded"], 2);
}

#[tokio::test]
async fn out_of_order_deliveries_lose_nothing_and_never_regress() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "github", json!({})).await;
    let d = gh_deployment(REPO, 1001, &sha(1), "production", "2026-10-02T09:00:00Z");
    // The success first: the deployment is created from the status's payload.
    github_ok(
        &app,
        &hook,
        "deployment_status",
        &gh_status(&d, 3, "success", "2026-10-02T09:10:00Z"),
    )
    .await;
    let dep = &deployments(&app, "acme").await[0];
    assert_eq!(dep["status"], "success");
    assert_eq!(dep["finished_at"], "2026-10-02T09:10:00+00:00");
    // Then its deployment event and an older in_progress status.
    let late = github_ok(&app, &hook, "deployment", &d).await;
    assert_eq!(late["result"], "duplicate");
    github_ok(
        &app,
        &hook,
        "deployment_status",
        &gh_status(&d, 2, "in_progress", "2026-10-02T09:01:00Z"),
    )
    .await;
    let all = deployments(&app, "acme").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "success");
    assert_eq!(all[0]["finished_at"], "2026-10-02T09:10:00+00:00");
    // The late status is kept in the history.
    let history = statuses(&app, "acme", all[0]["id"].as_str().unwrap()).await;
    assert_eq!(history.len(), 2);
}

#[tokio::test]
async fn workflow_runs_of_deployment_workflows_are_deployments() {
    let app = spawn_app().await;
    let hook = integration(
        &app,
        "acme",
        "github",
        json!({"deployment_workflows": [".github/workflows/deploy.yml"], "production_environments": ["live"]}),
    )
    .await;
    let mut run = fixture("github/workflow_run.json");
    run["workflow_run"]["conclusion"] = json!("failure");
    github_ok(&app, &hook, "workflow_run", &run).await;
    let dep = &deployments(&app, "acme").await[0];
    assert_eq!(dep["status"], "failure");
    assert_eq!(dep["environment"], "live");
    assert_eq!(dep["is_production"], true);
    assert_eq!(dep["started_at"], "2026-10-02T09:00:30+00:00");
    assert_eq!(dep["finished_at"], "2026-10-02T09:12:00+00:00");
    assert_eq!(dep["commit_id"], "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678");
    // A re-run replaces the outcome; the first attempt delivered again changes nothing.
    let mut rerun = run.clone();
    rerun["workflow_run"]["run_attempt"] = json!(2);
    rerun["workflow_run"]["conclusion"] = json!("success");
    rerun["workflow_run"]["run_started_at"] = json!("2026-10-02T10:00:00Z");
    rerun["workflow_run"]["updated_at"] = json!("2026-10-02T10:09:00Z");
    github_ok(&app, &hook, "workflow_run", &rerun).await;
    let old = github_ok(&app, &hook, "workflow_run", &run).await;
    assert_eq!(old["result"], "ignored", "{old}");
    let all = deployments(&app, "acme").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "success");
    assert_eq!(all[0]["finished_at"], "2026-10-02T10:09:00+00:00");
    // Other workflows, other actions and non-outcomes record nothing.
    let mut other = run.clone();
    other["workflow_run"]["id"] = json!(99);
    other["workflow_run"]["path"] = json!(".github/workflows/test.yml");
    other["workflow"]["path"] = json!(".github/workflows/test.yml");
    other["workflow"]["name"] = json!("test");
    other["workflow_run"]["name"] = json!("test");
    assert_eq!(
        github_ok(&app, &hook, "workflow_run", &other).await["result"],
        "ignored"
    );
    let mut skipped = run.clone();
    skipped["workflow_run"]["id"] = json!(100);
    skipped["workflow_run"]["conclusion"] = json!("skipped");
    assert_eq!(
        github_ok(&app, &hook, "workflow_run", &skipped).await["result"],
        "ignored"
    );
    let mut requested = run.clone();
    requested["action"] = json!("requested");
    requested["workflow_run"]["id"] = json!(101);
    assert_eq!(
        github_ok(&app, &hook, "workflow_run", &requested).await["result"],
        "ignored"
    );
    assert_eq!(app.deployment_rows().await, 1);
}

#[tokio::test]
async fn pushes_give_deployments_their_commits() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "github", json!({})).await;
    let token = app.rw_token("acme");
    let zero = "0".repeat(40);
    // Branch created with c1, then c2, c3 pushed.
    github_ok(
        &app,
        &hook,
        "push",
        &gh_push(REPO, "main", &zero, &[(sha(1), "2026-10-02T08:00:00Z")]),
    )
    .await;
    github_ok(
        &app,
        &hook,
        "push",
        &gh_push(
            REPO,
            "main",
            &sha(1),
            &[
                (sha(2), "2026-10-02T08:10:00+02:00"),
                (sha(3), "2026-10-02T08:20:00Z"),
            ],
        ),
    )
    .await;
    // A deployment of c3 recorded through the iftrue body without commits.
    let mut body = crate::helpers::deployment("https://github.com/acme/web", 1);
    body["commit_id"] = json!(sha(3));
    body["status"] = json!("success");
    body["finished_at"] = json!("2026-10-02T09:00:00Z");
    let first = app.create_deployment(&token, &body).await;
    assert_eq!(commit_shas(&first), [sha(1), sha(2), sha(3)]);
    let c2 = first["commits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sha"] == sha(2))
        .unwrap()
        .clone();
    assert_eq!(c2["committed_at"], "2026-10-02T06:10:00+00:00");
    // The next push and a webhook deployment: only what the stream has not shipped yet.
    github_ok(
        &app,
        &hook,
        "push",
        &gh_push(REPO, "main", &sha(3), &[(sha(4), "2026-10-03T08:00:00Z")]),
    )
    .await;
    github_ok(
        &app,
        &hook,
        "deployment",
        &gh_deployment(REPO, 1, &sha(4), "production", "2026-10-03T09:00:00Z"),
    )
    .await;
    let all = deployments(&app, "acme").await;
    assert_eq!(commit_shas(&all[0]), [sha(4)]);
    // A staging stream has shipped nothing: all four.
    github_ok(
        &app,
        &hook,
        "deployment",
        &gh_deployment(REPO, 2, &sha(4), "staging", "2026-10-03T09:30:00Z"),
    )
    .await;
    assert_eq!(
        commit_shas(&deployments(&app, "acme").await[0]),
        [sha(1), sha(2), sha(3), sha(4)]
    );
    // Explicit commits win.
    let mut explicit = crate::helpers::deployment("https://github.com/acme/web", 2);
    explicit["commit_id"] = json!(sha(4));
    explicit["environment"] = json!("qa");
    explicit["commits"] = json!([{"sha": sha(4), "committed_at": "2026-10-03T07:00:00Z"}]);
    let created = app.create_deployment(&token, &explicit).await;
    assert_eq!(commit_shas(&created), [sha(4)]);
    assert_eq!(
        created["commits"][0]["committed_at"],
        "2026-10-03T07:00:00+00:00"
    );
}

#[tokio::test]
async fn a_late_push_completes_the_commits_and_the_metrics() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "github", json!({})).await;
    let token = app.rw_token("acme");
    let d = gh_deployment(REPO, 1, &sha(2), "production", "2026-10-02T09:00:00Z");
    github_ok(&app, &hook, "deployment", &d).await;
    github_ok(
        &app,
        &hook,
        "deployment_status",
        &gh_status(&d, 1, "success", "2026-10-02T10:00:00Z"),
    )
    .await;
    assert_eq!(
        commit_shas(&deployments(&app, "acme").await[0]),
        Vec::<String>::new()
    );
    let window = "/api/v1/metrics/dora?from=2026-10-01T00:00:00Z&to=2026-10-08T00:00:00Z";
    let before: Value = app.get(window, &token).await.json().await.unwrap();
    assert_eq!(before["change_lead_time"]["samples"], 0);
    // The push, delivered late, arrives in two parts: the second first.
    github_ok(
        &app,
        &hook,
        "push",
        &gh_push(REPO, "main", &sha(1), &[(sha(2), "2026-10-02T08:00:00Z")]),
    )
    .await;
    assert_eq!(commit_shas(&deployments(&app, "acme").await[0]), [sha(2)]);
    github_ok(
        &app,
        &hook,
        "push",
        &gh_push(
            REPO,
            "main",
            &"0".repeat(40),
            &[(sha(1), "2026-10-02T07:00:00Z")],
        ),
    )
    .await;
    assert_eq!(
        commit_shas(&deployments(&app, "acme").await[0]),
        [sha(1), sha(2)]
    );
    let after: Value = app.get(window, &token).await.json().await.unwrap();
    assert_eq!(after["change_lead_time"]["samples"], 2, "{after}");
    // Deployed at 10:00: c2 (08:00) and c1 (07:00).
    assert_eq!(after["change_lead_time"]["median_seconds"], 9000.0);
    // A redelivered push changes nothing.
    let again = github_ok(
        &app,
        &hook,
        "push",
        &gh_push(REPO, "main", &sha(1), &[(sha(2), "2026-10-02T08:00:00Z")]),
    )
    .await;
    assert_eq!(again["result"], "duplicate");
}

#[tokio::test]
async fn a_forced_push_cuts_the_chain() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "github", json!({})).await;
    github_ok(
        &app,
        &hook,
        "push",
        &gh_push(
            REPO,
            "main",
            &"0".repeat(40),
            &[(sha(1), "2026-10-02T07:00:00Z")],
        ),
    )
    .await;
    let mut forced = gh_push(REPO, "main", &sha(1), &[(sha(5), "2026-10-02T08:00:00Z")]);
    forced["forced"] = json!(true);
    github_ok(&app, &hook, "push", &forced).await;
    github_ok(
        &app,
        &hook,
        "deployment",
        &gh_deployment(REPO, 1, &sha(5), "production", "2026-10-02T09:00:00Z"),
    )
    .await;
    assert_eq!(commit_shas(&deployments(&app, "acme").await[0]), [sha(5)]);
}

#[tokio::test]
async fn events_of_other_repositories_are_ignored() {
    let app = spawn_app().await;
    let hook = integration(
        &app,
        "acme",
        "github",
        json!({"repositories": ["acme/*"], "team": "shop"}),
    )
    .await;
    let other = gh_deployment(
        "globex/api",
        1,
        &sha(1),
        "production",
        "2026-10-02T09:00:00Z",
    );
    let body = github_ok(&app, &hook, "deployment", &other).await;
    assert_eq!(body["result"], "ignored");
    assert!(body["detail"].as_str().unwrap().contains("globex/api"));
    let push = gh_push(
        "globex/api",
        "main",
        &"0".repeat(40),
        &[(sha(1), "2026-10-02T07:00:00Z")],
    );
    assert_eq!(
        github_ok(&app, &hook, "push", &push).await["result"],
        "ignored"
    );
    assert_eq!(app.deployment_rows().await, 0);
    let ours = gh_deployment("Acme/Web", 2, &sha(2), "production", "2026-10-02T09:00:00Z");
    assert_eq!(
        github_ok(&app, &hook, "deployment", &ours).await["result"],
        "recorded"
    );
    // The integration's team goes to repositories it sees first.
    assert_eq!(deployments(&app, "acme").await[0]["team"], "shop");
}

#[tokio::test]
async fn incident_issues_open_resolve_reopen_and_withdraw() {
    let app = spawn_app().await;
    let hook = integration(&app, "acme", "github", json!({"incident_label": "Outage"})).await;
    let d = gh_deployment(REPO, 1, &sha(1), "production", "2026-10-02T09:00:00Z");
    github_ok(
        &app,
        &hook,
        "deployment_status",
        &gh_status(&d, 1, "success", "2026-10-02T10:00:00Z"),
    )
    .await;
    let created = "2026-10-02T11:00:00Z";
    // An ordinary issue is not an incident.
    let plain = gh_issue(REPO, "opened", 7, &["bug"], created, created, None, "");
    assert_eq!(
        github_ok(&app, &hook, "issues", &plain).await["result"],
        "ignored"
    );
    let opened = gh_issue(
        REPO,
        "opened",
        42,
        &["OUTAGE"],
        created,
        created,
        None,
        "Checkout fails",
    );
    github_ok(&app, &hook, "issues", &opened).await;
    let list = incidents(&app, "acme", "?source=github").await;
    assert_eq!(list.len(), 1);
    let incident = &list[0];
    assert_eq!(incident["source"], "github");
    assert_eq!(incident["source_id"], "acme/web#42");
    assert_eq!(
        incident["source_url"],
        "https://github.com/acme/web/issues/42"
    );
    assert_eq!(incident["title"], "Checkout returns 500");
    assert_eq!(incident["started_at"], "2026-10-02T11:00:00+00:00");
    assert_eq!(incident["resolved_at"], Value::Null);
    assert_eq!(incident["deployment_id"], Value::Null);
    assert!(incidents(&app, "acme", "?source=api").await.is_empty());
    let closed = gh_issue(
        REPO,
        "closed",
        42,
        &["Outage"],
        created,
        "2026-10-02T12:30:00Z",
        Some("2026-10-02T12:30:00Z"),
        "Checkout fails",
    );
    github_ok(&app, &hook, "issues", &closed).await;
    let list = incidents(&app, "acme", "").await;
    assert_eq!(list[0]["resolved_at"], "2026-10-02T12:30:00+00:00");
    assert_eq!(list[0]["duration_seconds"], 5400);
    assert_eq!(list[0]["id"], incident["id"]);
    // Delivered late, the `opened` event changes nothing.
    assert_eq!(
        github_ok(&app, &hook, "issues", &opened).await["result"],
        "ignored"
    );
    assert!(incidents(&app, "acme", "?open=false").await.len() == 1);
    // Reopened, with a root cause line: open again, attributed to the deployment.
    let reopened = gh_issue(
        REPO,
        "reopened",
        42,
        &["outage"],
        created,
        "2026-10-02T13:00:00Z",
        None,
        &format!("Checkout fails\n\nRoot cause: {}", sha(1)),
    );
    github_ok(&app, &hook, "issues", &reopened).await;
    let list = incidents(&app, "acme", "?open=true").await;
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0]["deployment_id"],
        deployments(&app, "acme").await[0]["id"]
    );
    // The label removed: withdrawn.
    let mut unlabeled = gh_issue(
        REPO,
        "unlabeled",
        42,
        &[],
        created,
        "2026-10-02T14:00:00Z",
        None,
        "",
    );
    unlabeled["label"] = json!({"name": "Outage", "color": "d73a4a"});
    github_ok(&app, &hook, "issues", &unlabeled).await;
    assert!(incidents(&app, "acme", "").await.is_empty());
    let (status, p) = crate::helpers::problem(
        app.get("/api/v1/incidents?source=jira", &app.rw_token("acme"))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(p["errors"][0]["field"], "source");
}

/// One history through the GitHub webhook, the same through the canonical API with explicit
/// commits: `/api/v1/metrics/dora` is equal field by field.
#[tokio::test]
async fn webhook_and_api_histories_give_the_same_metrics() {
    let app = spawn_app().await;
    let hook: TestIntegration = integration(&app, "hooked", "github", json!({})).await;
    let api = app.rw_token("manual");
    let zero = "0".repeat(40);
    let repo_url = "https://github.com/acme/web";
    // Pushes: c1, c2 (day 1); c3 (day 2); c4 (day 3, a hotfix); c5 (day 5).
    let pushes = [
        (
            zero.clone(),
            vec![
                (sha(1), "2026-10-01T08:00:00Z"),
                (sha(2), "2026-10-01T09:00:00Z"),
            ],
        ),
        (sha(2), vec![(sha(3), "2026-10-02T08:00:00Z")]),
        (sha(3), vec![(sha(4), "2026-10-03T08:00:00Z")]),
        (sha(4), vec![(sha(5), "2026-10-05T08:00:00Z")]),
    ];
    for (before, commits) in &pushes {
        let commits: Vec<(String, &str)> = commits.iter().map(|(s, t)| (s.clone(), *t)).collect();
        github_ok(
            &app,
            &hook,
            "push",
            &gh_push(REPO, "main", before, &commits),
        )
        .await;
    }
    // Deployments: (GitHub id, sha, created, started, finished, state, hotfix, explicit commits)
    struct Step {
        id: i64,
        sha: String,
        created: &'static str,
        started: &'static str,
        finished: &'static str,
        state: &'static str,
        hotfix: bool,
        commits: Vec<(String, &'static str)>,
    }
    let steps = [
        Step {
            id: 1,
            sha: sha(2),
            created: "2026-10-01T10:00:00Z",
            started: "2026-10-01T10:01:00Z",
            finished: "2026-10-01T10:10:00Z",
            state: "success",
            hotfix: false,
            commits: vec![
                (sha(1), "2026-10-01T08:00:00Z"),
                (sha(2), "2026-10-01T09:00:00Z"),
            ],
        },
        Step {
            id: 2,
            sha: sha(3),
            created: "2026-10-02T10:00:00Z",
            started: "2026-10-02T10:01:00Z",
            finished: "2026-10-02T10:20:00Z",
            state: "failure",
            hotfix: false,
            commits: vec![(sha(3), "2026-10-02T08:00:00Z")],
        },
        Step {
            id: 3,
            sha: sha(4),
            created: "2026-10-03T10:00:00Z",
            started: "2026-10-03T10:01:00Z",
            finished: "2026-10-03T10:30:00Z",
            state: "success",
            hotfix: true,
            commits: vec![
                (sha(3), "2026-10-02T08:00:00Z"),
                (sha(4), "2026-10-03T08:00:00Z"),
            ],
        },
        Step {
            id: 4,
            sha: sha(5),
            created: "2026-10-05T10:00:00Z",
            started: "2026-10-05T10:01:00Z",
            finished: "2026-10-05T10:40:00Z",
            state: "success",
            hotfix: false,
            commits: vec![(sha(5), "2026-10-05T08:00:00Z")],
        },
    ];
    for (i, step) in steps.iter().enumerate() {
        let mut d = gh_deployment(REPO, step.id, &step.sha, "production", step.created);
        if step.hotfix {
            d["deployment"]["payload"] = json!({"is_hotfix": true});
        }
        github_ok(&app, &hook, "deployment", &d).await;
        github_ok(
            &app,
            &hook,
            "deployment_status",
            &gh_status(&d, step.id * 10, "in_progress", step.started),
        )
        .await;
        github_ok(
            &app,
            &hook,
            "deployment_status",
            &gh_status(&d, step.id * 10 + 1, step.state, step.finished),
        )
        .await;

        let mut body = crate::helpers::deployment(repo_url, u32::try_from(i).unwrap() + 1);
        body["commit_id"] = json!(step.sha);
        body["member_id"] = json!("octocat");
        body["status"] = json!(step.state);
        body["started_at"] = json!(step.started);
        body["finished_at"] = json!(step.finished);
        body["is_hotfix"] = json!(step.hotfix);
        body["commits"] = json!(
            step.commits
                .iter()
                .map(|(s, t)| json!({"sha": s, "committed_at": t}))
                .collect::<Vec<_>>()
        );
        app.create_deployment(&api, &body).await;
    }
    // An incident in the repository: opened on day 5 at noon, closed two hours later.
    let opened = gh_issue(
        REPO,
        "opened",
        9,
        &["incident"],
        "2026-10-05T12:00:00Z",
        "2026-10-05T12:00:00Z",
        None,
        "Slow pages",
    );
    github_ok(&app, &hook, "issues", &opened).await;
    let closed = gh_issue(
        REPO,
        "closed",
        9,
        &["incident"],
        "2026-10-05T12:00:00Z",
        "2026-10-05T14:00:00Z",
        Some("2026-10-05T14:00:00Z"),
        "Slow pages",
    );
    github_ok(&app, &hook, "issues", &closed).await;
    let resp = app
        .post_json(
            "/api/v1/incidents",
            &api,
            &json!({"title": "Slow pages", "repository_url": repo_url, "started_at": "2026-10-05T12:00:00Z"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .post_json(
            &format!("/api/v1/incidents/{id}/resolve"),
            &api,
            &json!({"resolved_at": "2026-10-05T14:00:00Z"}),
        )
        .await;
    assert_eq!(resp.status(), 200);

    // The inferred commits are the explicit ones.
    let hooked = deployments(&app, "hooked").await;
    let manual = deployments(&app, "manual").await;
    for (h, m) in hooked.iter().zip(&manual) {
        assert_eq!(
            commit_shas(h),
            commit_shas(m),
            "{} vs {}",
            h["commit_id"],
            m["commit_id"]
        );
        assert_eq!(h["deployed_at"], m["deployed_at"]);
    }
    let window = "/api/v1/metrics/dora?from=2026-10-01T00:00:00Z&to=2026-10-08T00:00:00Z";
    let mut a: Value = app
        .get(window, &app.rw_token("hooked"))
        .await
        .json()
        .await
        .unwrap();
    let mut b: Value = app.get(window, &api).await.json().await.unwrap();
    assert_eq!(a["change_lead_time"]["samples"], 5, "{a}");
    assert_eq!(a["change_failure_rate"]["failures"], 3, "{a}");
    assert_eq!(a["time_to_restore"]["samples"], 1, "{a}");
    a["organization"] = json!(null);
    b["organization"] = json!(null);
    assert_eq!(a, b);
}
