//! `POST /api/v1/deployments/import`: NDJSON in, one result line per line out; idempotent
//! lines by `external_id`; per-line errors; the repository restriction per line; and derived
//! outcomes that equal the engine's (and the metrics of the same history created one by one)
//! after shuffled imports into the middle of streams.

use std::time::Duration as StdDuration;

use api::auth::Scope;
use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, deployment, spawn_app, spawn_app_with},
    outcomes::{assert_outcomes_match, organization_id},
};

const WEB: &str = "https://github.com/acme/web";
const API: &str = "https://github.com/acme/api";

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `lines` joined into an NDJSON body.
fn ndjson(lines: &[Value]) -> String {
    let mut body = String::new();
    for line in lines {
        body.push_str(&line.to_string());
        body.push('\n');
    }
    body
}

async fn post_import(
    app: &TestApp,
    token: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/deployments/import"))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Imports `body` and returns the result lines (the summary last).
async fn import(app: &TestApp, token: &str, body: impl Into<reqwest::Body>) -> Vec<Value> {
    let resp = post_import(app, token, body).await;
    let status = resp.status();
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("application/x-ndjson"),
        "{content_type}"
    );
    assert!(text.ends_with('\n'), "{text}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn summary(results: &[Value]) -> &Value {
    let last = results.last().expect("a summary line");
    assert_eq!(last["result"], "summary", "{last}");
    last
}

fn fields(result: &Value) -> Vec<String> {
    result["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {result}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// `deployment(repo, n)` with explicit commits.
fn with_commits(repo: &str, n: u32) -> Value {
    let mut body = deployment(repo, n);
    body["commits"] = json!([
        {"sha": format!("{:040x}", 1_000_000 + n), "committed_at": "2026-01-01T00:00:00Z"},
        {"sha": format!("{:040x}", 2_000_000 + n), "committed_at": "2026-01-02T00:00:00Z"},
    ]);
    body["finished_at"] = json!("2026-02-01T00:00:00Z");
    body
}

#[tokio::test]
async fn lines_are_recorded_or_refused_one_by_one() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut missing_title = with_commits(WEB, 2);
    missing_title.as_object_mut().unwrap().remove("title");
    let mut bad_sha = with_commits(WEB, 3);
    bad_sha["commits"][1]["sha"] = json!("not-a-sha");
    let mut unknown = with_commits(WEB, 4);
    unknown["colour"] = json!("blue");
    let mut with_id = with_commits(API, 5);
    with_id["external_id"] = json!("ci-run-5");
    let mut bad_id = with_commits(API, 6);
    bad_id["external_id"] = json!(6);
    let mut body = String::new();
    body.push_str(&format!("{}\n", with_commits(WEB, 1))); // 1
    body.push_str(&format!("{missing_title}\n")); // 2
    body.push_str("\n   \n"); // 3, 4: blank, skipped
    body.push_str("{\"title\": \n"); // 5: not JSON
    body.push_str("[1, 2]\n"); // 6: not an object
    body.push_str(&format!("{bad_sha}\n")); // 7
    body.push_str(&format!("{unknown}\r\n")); // 8
    body.push_str(&format!("{with_id}\n")); // 9
    body.push_str(&format!("{bad_id}\n")); // 10
    body.push_str(&deployment(WEB, 11).to_string()); // 11: no commits, no newline at the end
    let results = import(&app, &token, body).await;
    let lines: Vec<(u64, &str)> = results[..results.len() - 1]
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines,
        [
            (1, "created"),
            (2, "error"),
            (5, "error"),
            (6, "error"),
            (7, "error"),
            (8, "error"),
            (9, "created"),
            (10, "error"),
            (11, "created"),
        ],
        "{results:?}"
    );
    // The same field errors `POST /api/v1/deployments` answers.
    assert_eq!(fields(&results[1]), ["title"]);
    assert_eq!(results[1]["errors"][0]["message"], "is required");
    assert_eq!(fields(&results[2]), ["$"]);
    assert_eq!(
        results[3]["errors"][0]["message"],
        "the line must be a JSON object"
    );
    assert_eq!(fields(&results[4]), ["commits[1].sha"]);
    let resp = app.post_json("/api/v1/deployments", &token, &bad_sha).await;
    let (status, problem) = crate::helpers::problem(resp).await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"], results[4]["errors"]);
    assert_eq!(fields(&results[5]), ["colour"]);
    assert_eq!(fields(&results[7]), ["external_id"]);
    assert_eq!(
        summary(&results),
        &json!({"result": "summary", "lines": 9, "created": 3, "exists": 0, "error": 6})
    );
    assert_eq!(app.deployment_rows().await, 3);

    // What was recorded is what a create records, with its external id.
    let id = results[0]["id"].as_str().unwrap();
    let got: Value = app
        .get(&format!("/api/v1/deployments/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["title"], "Deploy 1");
    assert_eq!(got["commits"].as_array().unwrap().len(), 2);
    assert_eq!(got["triggered_by"], "api");
    assert_eq!(got["external_id"], Value::Null);
    let id = results[6]["id"].as_str().unwrap();
    let got: Value = app
        .get(&format!("/api/v1/deployments/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["external_id"], "ci-run-5");
    assert_eq!(got["repository"], "acme/api");
    // Numbers stay unique.
    let page: Value = app
        .get("/api/v1/deployments", &token)
        .await
        .json()
        .await
        .unwrap();
    let mut numbers: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_i64().unwrap())
        .collect();
    numbers.dedup();
    assert_eq!(numbers.len(), 3);
}

#[tokio::test]
async fn a_repeated_external_id_exists_and_records_nothing() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut first = with_commits(WEB, 1);
    first["external_id"] = json!("build-1");
    let mut second = with_commits(WEB, 2);
    second["external_id"] = json!("build-2");
    // The same id twice in one body: the second line exists.
    let results = import(
        &app,
        &token,
        ndjson(&[first.clone(), second.clone(), first.clone()]),
    )
    .await;
    assert_eq!(results[0]["result"], "created");
    assert_eq!(results[2]["result"], "exists");
    assert_eq!(results[2]["id"], results[0]["id"]);
    assert_eq!(app.deployment_rows().await, 2);
    // Again, in another import: both exist, nothing is recorded.
    let again = import(&app, &token, ndjson(&[second, first])).await;
    assert_eq!(again[0]["result"], "exists");
    assert_eq!(again[0]["id"], results[1]["id"]);
    assert_eq!(again[1]["result"], "exists");
    assert_eq!(again[1]["id"], results[0]["id"]);
    assert_eq!(
        summary(&again),
        &json!({"result": "summary", "lines": 2, "created": 0, "exists": 2, "error": 0})
    );
    assert_eq!(app.deployment_rows().await, 2);
    // Another organization's external ids are its own.
    let other = app.rw_token("globex");
    let mut line = with_commits(WEB, 1);
    line["external_id"] = json!("build-1");
    let theirs = import(&app, &other, ndjson(&[line])).await;
    assert_eq!(theirs[0]["result"], "created");
    assert_eq!(app.deployment_rows().await, 3);
}

#[tokio::test]
async fn an_over_long_line_is_an_error_line_and_the_next_is_read() {
    let app = spawn_app_with(|a| a.max_body_bytes = 4096).await;
    let token = app.rw_token("acme");
    let mut long = with_commits(WEB, 2);
    long["changelog"] = json!("x".repeat(10_000));
    // The whole body is larger than the limit: only lines are capped.
    let mut lines = vec![with_commits(WEB, 1), long];
    lines.extend((3..40).map(|n| with_commits(WEB, n)));
    let body = ndjson(&lines);
    assert!(body.len() > 4096);
    let results = import(&app, &token, body).await;
    assert_eq!(results[0]["result"], "created");
    assert_eq!(results[1]["result"], "error");
    assert_eq!(
        results[1]["errors"][0]["message"],
        "the line is longer than 4096 bytes"
    );
    assert_eq!(results[2]["result"], "created");
    assert_eq!(results[2]["line"], 3);
    assert_eq!(summary(&results)["created"], 38);
    assert_eq!(app.deployment_rows().await, 38);
}

#[tokio::test]
async fn a_line_that_is_not_utf8_is_an_error_line() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut body: Vec<u8> = Vec::new();
    body.extend_from_slice(b"{\"title\": \"\xff\xfe\"}\n");
    body.extend_from_slice(format!("{}\n", with_commits(WEB, 1)).as_bytes());
    let results = import(&app, &token, body).await;
    assert_eq!(results[0]["result"], "error");
    assert_eq!(results[0]["errors"][0]["message"], "the line is not UTF-8");
    assert_eq!(results[1]["result"], "created");
    assert_eq!(app.deployment_rows().await, 1);
}

#[tokio::test]
async fn an_empty_body_imports_nothing() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let results = import(&app, &token, "").await;
    assert_eq!(
        results,
        [json!({"result": "summary", "lines": 0, "created": 0, "exists": 0, "error": 0})]
    );
    let results = import(&app, &token, "\n\n").await;
    assert_eq!(summary(&results)["lines"], 0);
    assert_eq!(app.deployment_rows().await, 0);
}

#[tokio::test]
async fn the_scope_credential_and_media_type_are_checked_first() {
    let app = spawn_app().await;
    let body = ndjson(&[with_commits(WEB, 1)]);
    let read = app.token("acme", &[Scope::Read]);
    let (status, problem) =
        crate::helpers::problem(post_import(&app, &read, body.clone()).await).await;
    assert_eq!(status, 403, "{problem}");
    let resp = app
        .client
        .post(app.url("/api/v1/deployments/import"))
        .header("content-type", "application/x-ndjson")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let token = app.rw_token("acme");
    let resp = app
        .client
        .post(app.url("/api/v1/deployments/import"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(app.deployment_rows().await, 0);
}

#[tokio::test]
async fn a_restricted_token_imports_only_for_its_repositories() {
    let app = spawn_app().await;
    let admin = app.token("acme", &[Scope::Admin]);
    let resp = app
        .post_json(
            "/api/v1/tokens",
            &admin,
            &json!({"name": "web-importer", "scopes": ["ingest"],
                    "repositories": ["https://github.com/acme/web"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let token = created["token"].as_str().unwrap();
    let results = import(
        &app,
        token,
        ndjson(&[
            with_commits(WEB, 1),
            with_commits(API, 2),
            with_commits(WEB, 3),
        ]),
    )
    .await;
    assert_eq!(results[0]["result"], "created");
    assert_eq!(results[1]["result"], "error");
    assert_eq!(fields(&results[1]), ["repository_url"]);
    assert!(
        results[1]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("github.com/acme/api"),
        "{}",
        results[1]
    );
    assert_eq!(results[2]["result"], "created");
    assert_eq!(app.deployment_rows().await, 2);
}

#[tokio::test]
async fn results_stream_while_the_body_is_still_being_sent() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    // A full batch, then the body stays open.
    let first: Vec<Value> = (1..=api::core::bulk_import::BATCH_LINES as u32)
        .map(|n| with_commits(WEB, n))
        .collect();
    tx.send(Ok(ndjson(&first).into_bytes())).await.unwrap();
    let mut resp = post_import(&app, &token, body).await;
    assert_eq!(resp.status(), 200);
    let chunk = tokio::time::timeout(StdDuration::from_secs(60), resp.chunk())
        .await
        .expect("results before the body ended")
        .unwrap()
        .expect("a chunk");
    let text = String::from_utf8(chunk.to_vec()).unwrap();
    let first_line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first_line["line"], 1);
    assert_eq!(first_line["result"], "created");
    // Now the rest, and the end.
    tx.send(Ok(ndjson(&[with_commits(WEB, 5000)]).into_bytes()))
        .await
        .unwrap();
    drop(tx);
    let mut rest = text;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        rest.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let last: Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["created"],
        api::core::bulk_import::BATCH_LINES as u64 + 1
    );
}

/// One deployment of a random history: distinct times when `ties` is false.
fn history_line(rng: &mut StdRng, n: u32, at: DateTime<Utc>) -> Value {
    let repository = [WEB, API][rng.random_range(0..2)];
    let environment = ["production", "staging"][rng.random_range(0..2)];
    let status =
        ["success", "success", "success", "failure", "in_progress"][rng.random_range(0..5)];
    let pool = ["a", "b", "c", "d", "e", "f", "1", "2"];
    let commits: Vec<Value> = (0..rng.random_range(0..4))
        .map(|_| {
            let sha = pool[rng.random_range(0..pool.len())].repeat(40);
            json!({"sha": sha, "committed_at": rfc(at - Duration::hours(rng.random_range(1..72)))})
        })
        .collect::<Vec<_>>();
    let mut unique: Vec<Value> = Vec::new();
    for c in commits {
        if !unique.iter().any(|u| u["sha"] == c["sha"]) {
            unique.push(c);
        }
    }
    let member = ["alice", "bob"][rng.random_range(0..2)];
    let mut line = json!({
        "title": format!("Deploy {n}"),
        "branch": "main",
        "commit_id": format!("{n:040x}"),
        "repository_url": repository,
        "member_id": member,
        "pull_request_number": n,
        "environment": environment,
        "status": status,
        "is_fix": rng.random_bool(0.15),
        "is_hotfix": rng.random_bool(0.1),
        "is_rollback": rng.random_bool(0.1),
        "external_id": format!("run-{n}"),
    });
    // Now and then none (commits inferred from pushes: none recorded here).
    if !unique.is_empty() || rng.random_bool(0.5) {
        line["commits"] = json!(unique);
    }
    if status != "in_progress" {
        line["finished_at"] = json!(rfc(at));
    }
    line
}

fn incident(rng: &mut StdRng, base: DateTime<Utc>, span_minutes: i64) -> Value {
    let started = base + Duration::minutes(rng.random_range(0..span_minutes));
    let repository = [WEB, API][rng.random_range(0..2)];
    let environment = ["production", "staging"][rng.random_range(0..2)];
    let mut incident = json!({
        "title": "Down",
        "started_at": rfc(started),
        "repository_url": repository,
        "environment": environment,
    });
    if rng.random_bool(0.6) {
        incident["resolved_at"] = json!(rfc(started + Duration::minutes(rng.random_range(1..300))));
    }
    incident
}

async fn create_incident(app: &TestApp, token: &str, body: &Value) {
    let resp = app.post_json("/api/v1/incidents", token, body).await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

/// Imports `lines` shuffled, in a few requests, with `incidents` created after the first.
async fn import_shuffled(
    app: &TestApp,
    token: &str,
    rng: &mut StdRng,
    lines: &[Value],
    incidents: &[Value],
) {
    let mut shuffled = lines.to_vec();
    shuffled.shuffle(rng);
    let mut parts = shuffled.chunks(shuffled.len().div_ceil(4));
    if let Some(part) = parts.next() {
        let results = import(app, token, ndjson(part)).await;
        assert_eq!(
            summary(&results)["created"],
            part.len() as u64,
            "{results:?}"
        );
    }
    for incident in incidents {
        create_incident(app, token, incident).await;
    }
    for part in parts {
        let results = import(app, token, ndjson(part)).await;
        assert_eq!(
            summary(&results)["created"],
            part.len() as u64,
            "{results:?}"
        );
    }
}

#[tokio::test]
async fn a_shuffled_import_derives_what_the_engine_and_one_by_one_creates_do() {
    let app = spawn_app().await;
    let base = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    for seed in 0..3u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        // Distinct times: one history, two organizations (one by one, imported shuffled).
        let count = 120u32;
        let mut minutes: Vec<i64> = (0..i64::from(count)).map(|m| m * 37).collect();
        minutes.shuffle(&mut rng);
        let lines: Vec<Value> = (1..=count)
            .map(|n| {
                history_line(
                    &mut rng,
                    n,
                    base + Duration::minutes(minutes[n as usize - 1]),
                )
            })
            .collect();
        let incidents: Vec<Value> = (0..12)
            .map(|_| incident(&mut rng, base, 37 * i64::from(count)))
            .collect();
        let one = format!("one-{seed}");
        let bulk = format!("bulk-{seed}");
        let one_token = app.rw_token(&one);
        let bulk_token = app.rw_token(&bulk);
        for line in &lines {
            let mut body = line.clone();
            body.as_object_mut().unwrap().remove("external_id");
            app.create_deployment(&one_token, &body).await;
        }
        for incident in &incidents {
            create_incident(&app, &one_token, incident).await;
        }
        import_shuffled(&app, &bulk_token, &mut rng, &lines, &incidents).await;
        // Importing it all again records nothing.
        let again = import(&app, &bulk_token, ndjson(&lines)).await;
        assert_eq!(summary(&again)["exists"], u64::from(count));

        let log = vec![format!("seed {seed}")];
        let one_id = organization_id(&app, &one).await;
        let bulk_id = organization_id(&app, &bulk).await;
        assert_outcomes_match(&app, one_id, &log).await;
        let derived = assert_outcomes_match(&app, bulk_id, &log).await;
        assert!(derived > 60, "{derived}");
        for environment in ["", "&environment=staging"] {
            let path = format!(
                "/api/v1/metrics/dora?from={}&to={}{environment}",
                rfc(base - Duration::days(1)).replace('+', "%2B"),
                rfc(base + Duration::days(10)).replace('+', "%2B")
            );
            let mut a: Value = app.get(&path, &one_token).await.json().await.unwrap();
            let mut b: Value = app.get(&path, &bulk_token).await.json().await.unwrap();
            assert!(
                a["change_lead_time"]["samples"].as_u64().unwrap() > 0,
                "{a}"
            );
            assert!(
                a["change_failure_rate"]["failures"].as_u64().unwrap() > 0,
                "{a}"
            );
            // Everything but the organization's name.
            a["organization"] = Value::Null;
            b["organization"] = Value::Null;
            assert_eq!(a, b, "seed {seed}{environment}");
        }

        // Ties everywhere: a few instants only, imported shuffled; the stored outcomes are
        // still the engine's.
        let ties = format!("ties-{seed}");
        let ties_token = app.rw_token(&ties);
        let lines: Vec<Value> = (1..=80u32)
            .map(|n| {
                let at = base + Duration::minutes(30 * rng.random_range(0..8));
                history_line(&mut rng, n, at)
            })
            .collect();
        let incidents: Vec<Value> = (0..8).map(|_| incident(&mut rng, base, 240)).collect();
        import_shuffled(&app, &ties_token, &mut rng, &lines, &incidents).await;
        let ties_id = organization_id(&app, &ties).await;
        assert_outcomes_match(&app, ties_id, &log).await;
    }
}

/// Batches that touch many streams at once, with deploy times out of order within each (and
/// ties), imported into streams that already hold history: every stored outcome is the
/// engine's, and importing it all again records nothing.
#[tokio::test]
async fn batches_touching_many_streams_out_of_order_derive_the_engines_outcomes() {
    let app = spawn_app().await;
    let base = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
    let token = app.rw_token("many");
    let mut rng = StdRng::seed_from_u64(14);
    let repositories: Vec<String> = (0..12)
        .map(|r| format!("https://github.com/acme/service-{r}"))
        .collect();
    let environments = ["production", "staging", "qa"];
    let shas: Vec<String> = (0..30).map(|i| format!("{i:040x}")).collect();
    let line = |rng: &mut StdRng, n: u32| {
        let at = base + Duration::minutes(10 * rng.random_range(0..400));
        let status =
            ["success", "success", "failure", "error", "in_progress"][rng.random_range(0..5)];
        let commits: Vec<Value> = {
            let mut picked: Vec<&String> = (0..rng.random_range(1..4))
                .map(|_| &shas[rng.random_range(0..shas.len())])
                .collect();
            picked.sort();
            picked.dedup();
            picked
                .into_iter()
                .map(|sha| json!({"sha": sha, "committed_at": rfc(at - Duration::hours(2))}))
                .collect()
        };
        let mut line = json!({
            "title": format!("Deploy {n}"),
            "branch": "main",
            "commit_id": format!("{n:040x}"),
            "repository_url": repositories[rng.random_range(0..repositories.len())],
            "member_id": format!("member-{}", rng.random_range(0..5)),
            "pull_request_number": n,
            "environment": environments[rng.random_range(0..environments.len())],
            "status": status,
            "is_fix": rng.random_bool(0.2),
            "is_rollback": rng.random_bool(0.05),
            "commits": commits,
            "external_id": format!("many-{n}"),
        });
        if status != "in_progress" {
            line["finished_at"] = json!(rfc(at));
        }
        line
    };
    // History first (one request), then a request of more than one batch into its middle.
    let first: Vec<Value> = (1..=300).map(|n| line(&mut rng, n)).collect();
    let results = import(&app, &token, ndjson(&first)).await;
    assert_eq!(summary(&results)["created"], 300, "{results:?}");
    for i in 0..10 {
        let mut body = incident(&mut rng, base, 4000);
        body["repository_url"] = json!(repositories[i % 3]);
        create_incident(&app, &token, &body).await;
    }
    let count = api::core::bulk_import::BATCH_LINES as u32 + 200;
    let second: Vec<Value> = (301..301 + count).map(|n| line(&mut rng, n)).collect();
    let results = import(&app, &token, ndjson(&second)).await;
    assert_eq!(
        summary(&results)["created"],
        u64::from(count),
        "{results:?}"
    );
    let again = import(&app, &token, ndjson(&second)).await;
    assert_eq!(summary(&again)["exists"], u64::from(count));

    let id = organization_id(&app, "many").await;
    let derived = assert_outcomes_match(&app, id, &[String::from("many streams")]).await;
    assert!(derived > 1000, "{derived}");
}
