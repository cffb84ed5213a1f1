//! `/api/v1/metrics/dora…` against the engine run over the full history.
//!
//! A seeded random history is posted through the public API; every metric the service answers
//! (summary, breakdown rows, series buckets) must equal `dora_metrics::compute` run here over
//! everything the test posted, filtered to the scope by the rules of docs/metrics-api.md. The
//! service reads only a sufficient subset of the facts, so this checks that subset end to end.

use chrono::{DateTime, Datelike, Duration, SecondsFormat, TimeZone, Utc};
use dora_metrics::{
    Benchmark, CommitFact, DeploymentFact, Facts, IncidentFact, Interval, Outcome, Window, compute,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, deployment, problem, spawn_app};

pub(crate) const METRIC_KEYS: [&str; 6] = [
    "deployment_frequency",
    "change_lead_time",
    "change_failure_rate",
    "failed_deployment_recovery_time",
    "deployment_rework_rate",
    "time_to_restore",
];

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

pub(crate) fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(crate) struct Repo {
    pub url: &'static str,
    /// Another spelling of the same repository, used in filters.
    pub alias: &'static str,
    pub team: Option<&'static str>,
    pub id: Uuid,
}

/// Everything posted for one organization, as the engine sees it, plus what scoping needs.
#[derive(Default)]
pub(crate) struct History {
    deployments: Vec<(DeploymentFact, bool)>,
    /// Incident and its `is_production`.
    incidents: Vec<(IncidentFact, bool)>,
}

#[derive(Clone, Default)]
struct ScopeFilter {
    repository: Option<Uuid>,
    team: Option<Vec<Uuid>>,
    environment: Option<String>,
}

impl History {
    fn facts(&self, scope: &ScopeFilter) -> (Vec<DeploymentFact>, Vec<IncidentFact>) {
        let repo_ok = |r: Option<Uuid>| {
            scope.repository.is_none_or(|id| r == Some(id))
                && scope
                    .team
                    .as_ref()
                    .is_none_or(|ids| r.is_some_and(|r| ids.contains(&r)))
        };
        let env_ok = |env: &str, production: bool| match &scope.environment {
            Some(e) => e == env,
            None => production,
        };
        let deployments = self
            .deployments
            .iter()
            .filter(|(d, production)| {
                repo_ok(Some(d.repository)) && env_ok(&d.environment, *production)
            })
            .map(|(d, _)| d.clone())
            .collect();
        let incidents = self
            .incidents
            .iter()
            .filter(|(i, production)| repo_ok(i.repository) && env_ok(&i.environment, *production))
            .map(|(i, _)| i.clone())
            .collect();
        (deployments, incidents)
    }

    fn expected(&self, scope: &ScopeFilter, window: &Window, benchmark: Benchmark) -> Value {
        let (deployments, incidents) = self.facts(scope);
        let summary = compute(
            &Facts {
                deployments: &deployments,
                incidents: &incidents,
            },
            window,
            benchmark,
        );
        serde_json::to_value(summary).unwrap()
    }
}

/// Numbers compare as f64 with a relative tolerance; everything else exactly.
fn assert_same(actual: &Value, expected: &Value, context: &str) {
    match (actual, expected) {
        (Value::Number(a), Value::Number(e)) => {
            let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
            assert!(
                (a - e).abs() <= 1e-9 * e.abs().max(1.0),
                "{context}: {a} != expected {e}"
            );
        }
        (Value::Object(a), Value::Object(e)) => {
            for (key, e) in e {
                let a = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{context}: missing `{key}`"));
                assert_same(a, e, &format!("{context}.{key}"));
            }
            assert_eq!(a.len(), e.len(), "{context}: fields {a:?} vs {e:?}");
        }
        (a, e) => assert_eq!(a, e, "{context}"),
    }
}

fn assert_metrics(actual: &Value, expected: &Value, context: &str) {
    for key in METRIC_KEYS {
        assert_same(&actual[key], &expected[key], &format!("{context} {key}"));
    }
}

fn deployment_fact(record: &Value) -> DeploymentFact {
    let outcome = match record["status"].as_str().unwrap() {
        "success" => Outcome::Success,
        "failure" | "error" => Outcome::Failure,
        _ => Outcome::Pending,
    };
    DeploymentFact {
        id: record["id"].as_str().unwrap().parse().unwrap(),
        number: record["number"].as_i64().unwrap(),
        repository: record["repository_id"].as_str().unwrap().parse().unwrap(),
        environment: record["environment"].as_str().unwrap().to_owned(),
        deployed_at: record["deployed_at"].as_str().unwrap().parse().unwrap(),
        outcome,
        is_fix: record["is_fix"].as_bool().unwrap(),
        is_hotfix: record["is_hotfix"].as_bool().unwrap(),
        is_rollback: record["is_rollback"].as_bool().unwrap(),
        commits: record["commits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| CommitFact {
                sha: c["sha"].as_str().unwrap().to_owned(),
                committed_at: c["committed_at"].as_str().unwrap().parse().unwrap(),
            })
            .collect(),
    }
}

fn sha(rng: &mut StdRng) -> String {
    (0..40)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
        .collect()
}

/// Posts a random history of about `n` deployments and `n / 4` incidents for `org`.
pub(crate) async fn post_history(
    app: &TestApp,
    token: &str,
    repos: &mut [Repo],
    seed: u64,
    n: usize,
) -> History {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut history = History::default();
    // (environment, is_production)
    let environments = [("production", true), ("staging", false), ("prod-eu", true)];
    let mut shipped: Vec<Vec<String>> = vec![Vec::new(); repos.len()];
    let mut finished: Vec<usize> = Vec::new();
    // In-progress deployments and the time they may finish at.
    let mut unfinished: Vec<(usize, DateTime<Utc>)> = Vec::new();
    let mut last_time: Option<DateTime<Utc>> = None;
    for k in 0..n {
        let r = rng.random_range(0..repos.len());
        let (environment, production) = environments[match rng.random_range(0..10) {
            0..=5 => 0,
            6..=7 => 1,
            _ => 2,
        }];
        // Backfilled, out of order, over ~100 days; now and then at the very same second as
        // the previous one (stream order then falls back to `number`).
        let finished_at = match last_time {
            Some(t) if rng.random_bool(0.04) => t,
            _ => t0() + Duration::seconds(rng.random_range(0..100 * 86_400)),
        };
        last_time = Some(finished_at);
        let status = match rng.random_range(0..100) {
            0..=71 => "success",
            72..=86 => "failure",
            87..=91 => "error",
            _ => "in_progress",
        };
        let mut body = deployment(repos[r].url, k as u32 + 1);
        body["environment"] = json!(environment);
        if environment == "prod-eu" {
            body["is_production"] = json!(true);
        }
        if let Some(team) = repos[r].team {
            body["team"] = json!(team);
        }
        body["status"] = json!(status);
        if status != "in_progress" {
            body["finished_at"] = json!(rfc(finished_at));
        }
        body["is_hotfix"] = json!(rng.random_bool(0.08));
        body["is_fix"] = json!(rng.random_bool(0.08));
        body["is_rollback"] = json!(rng.random_bool(0.05));
        let mut commits: Vec<Value> = Vec::new();
        let mut shas: Vec<String> = Vec::new();
        // Redeploys: shas shipped before (in any environment of the repository).
        if !shipped[r].is_empty() && rng.random_bool(0.3) {
            for _ in 0..rng.random_range(1..=2) {
                let s = shipped[r][rng.random_range(0..shipped[r].len())].clone();
                if !shas.contains(&s) {
                    shas.push(s);
                }
            }
        }
        for _ in 0..rng.random_range(0..=3) {
            shas.push(sha(&mut rng));
        }
        for s in &shas {
            // Mostly before the deployment, sometimes after it (clock skew: dropped).
            let committed_at =
                finished_at - Duration::seconds(rng.random_range(-3_600..5 * 86_400));
            commits.push(json!({"sha": s, "committed_at": rfc(committed_at)}));
        }
        shipped[r].extend(shas);
        body["commits"] = json!(commits);
        let record = app.create_deployment(token, &body).await;
        repos[r].id = record["repository_id"].as_str().unwrap().parse().unwrap();
        if status != "in_progress" {
            finished.push(history.deployments.len());
        } else {
            unfinished.push((history.deployments.len(), finished_at));
        }
        history
            .deployments
            .push((deployment_fact(&record), production));
    }

    // Deployments that change after their commits were recorded: in-progress ones finished
    // by PATCH (backfilled time) or by a failure status (now), and finished production ones
    // that a status moves to the other production environment. The history is re-read from
    // the API.
    let mut changed: Vec<usize> = Vec::new();
    for (index, finished_at) in unfinished {
        let id = history.deployments[index].0.id;
        match rng.random_range(0..10) {
            0..=4 => {
                let resp = app
                    .client
                    .patch(app.url(&format!("/api/v1/deployments/{id}")))
                    .bearer_auth(token)
                    .json(&json!({"status": "success", "finished_at": rfc(finished_at)}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
            }
            5..=6 => {
                let resp = app
                    .post_json(
                        &format!("/api/v1/deployments/{id}/statuses"),
                        token,
                        &json!({"state": "failure"}),
                    )
                    .await;
                assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
            }
            _ => continue,
        }
        finished.push(index);
        changed.push(index);
    }
    for &index in &finished.clone() {
        // Between the two production environments (a production deployment moved to staging
        // would make staging a production environment for incidents).
        let (fact, production) = &history.deployments[index];
        if !*production || !rng.random_bool(0.08) {
            continue;
        }
        let id = fact.id;
        let environment = if fact.environment == "production" {
            "prod-eu"
        } else {
            "production"
        };
        let resp = app
            .post_json(
                &format!("/api/v1/deployments/{id}/statuses"),
                token,
                &json!({"state": "success", "environment": environment}),
            )
            .await;
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
        changed.push(index);
    }
    for index in changed {
        let id = history.deployments[index].0.id;
        let record = get_json(app, token, &format!("/api/v1/deployments/{id}")).await;
        history.deployments[index].0 = deployment_fact(&record);
    }

    for k in 0..n / 4 {
        let started_at = t0() + Duration::seconds(rng.random_range(0..105 * 86_400));
        let mut body = json!({"title": format!("Incident {k}"), "severity": "sev2"});
        let kind = rng.random_range(0..10);
        let (repository, environment, production, deployment) = if kind < 4 {
            // By deployment id: its repository and environment.
            let (d, production) =
                &history.deployments[finished[rng.random_range(0..finished.len())]];
            body["deployment_id"] = json!(d.id);
            (
                Some(d.repository),
                d.environment.clone(),
                *production,
                Some(d.id),
            )
        } else if kind < 8 {
            let r = rng.random_range(0..repos.len());
            let (environment, _) = environments[rng.random_range(0..3)];
            body["repository_url"] = json!(repos[r].alias);
            body["environment"] = json!(environment);
            let production = environment == "production"
                || history.deployments.iter().any(|(d, p)| {
                    *p && d.repository == repos[r].id && d.environment == environment
                });
            (Some(repos[r].id), environment.to_owned(), production, None)
        } else {
            let environment = if rng.random_bool(0.8) {
                "production"
            } else {
                "staging"
            };
            body["environment"] = json!(environment);
            (
                None,
                environment.to_owned(),
                environment == "production",
                None,
            )
        };
        let resolution = rng.random_range(0..10);
        let resolved_at = started_at + Duration::seconds(rng.random_range(60..3 * 86_400));
        body["started_at"] = json!(rfc(started_at));
        if resolution < 4 {
            body["resolved_at"] = json!(rfc(resolved_at));
        }
        let resp = app.post_json("/api/v1/incidents", token, &body).await;
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
        let incident: Value = resp.json().await.unwrap();
        let id: Uuid = incident["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(incident["is_production"], json!(production), "{incident}");
        let resolved = if resolution < 4 {
            Some(resolved_at)
        } else if resolution < 8 {
            let resp = app
                .post_json(
                    &format!("/api/v1/incidents/{id}/resolve"),
                    token,
                    &json!({"resolved_at": rfc(resolved_at)}),
                )
                .await;
            assert_eq!(resp.status(), 200);
            Some(resolved_at)
        } else {
            None
        };
        history.incidents.push((
            IncidentFact {
                id,
                repository,
                environment,
                deployment,
                started_at,
                resolved_at: resolved,
            },
            production,
        ));
    }
    history
}

pub(crate) fn repos() -> Vec<Repo> {
    vec![
        Repo {
            url: "https://github.com/acme/web",
            alias: "git@github.com:Acme/Web.git",
            team: Some("alpha"),
            id: Uuid::nil(),
        },
        Repo {
            url: "https://github.com/acme/api",
            alias: "https://github.com/acme/api.git",
            team: Some("alpha"),
            id: Uuid::nil(),
        },
        Repo {
            url: "https://gitlab.com/acme/billing",
            alias: "https://gitlab.com/acme/billing/",
            team: Some("beta"),
            id: Uuid::nil(),
        },
        Repo {
            url: "https://github.com/acme/tools",
            alias: "https://github.com/acme/tools",
            team: None,
            id: Uuid::nil(),
        },
    ]
}

async fn organization_id(app: &TestApp, slug: &str) -> Uuid {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.state.core.db.read();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "SELECT id FROM organizations WHERE slug = $1",
        _ => "SELECT id FROM organizations WHERE slug = ?",
    };
    db.query_one_raw(Statement::from_sql_and_values(backend, sql, [slug.into()]))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap()
}

pub(crate) async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let resp = app.get(path, token).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

pub(crate) fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn metrics_match_the_engine_over_the_full_history() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut repos = repos();
    let history = post_history(&app, &token, &mut repos, 7, 320).await;
    // Another organization with the same repositories: must change nothing for acme.
    let other = app.rw_token("globex");
    let mut other_repos = repos_for_other();
    post_history(&app, &other, &mut other_repos, 8, 60).await;

    let day = |d: i64| t0() + Duration::days(d);
    let windows = [
        (day(0), day(30)),
        (day(20), day(50)),
        (day(45), day(51)),
        (day(60), day(100)),
        (day(-10), day(110)),
        (
            day(10) + Duration::hours(7),
            day(80) + Duration::minutes(13),
        ),
    ];
    let alpha: Vec<Uuid> = repos
        .iter()
        .filter(|r| r.team == Some("alpha"))
        .map(|r| r.id)
        .collect();
    let scopes: Vec<(String, ScopeFilter)> = vec![
        (String::new(), ScopeFilter::default()),
        (
            "&environment=staging".into(),
            ScopeFilter {
                environment: Some("staging".into()),
                ..Default::default()
            },
        ),
        (
            "&environment=production".into(),
            ScopeFilter {
                environment: Some("production".into()),
                ..Default::default()
            },
        ),
        (
            format!("&repository={}", encode(repos[0].alias)),
            ScopeFilter {
                repository: Some(repos[0].id),
                ..Default::default()
            },
        ),
        (
            format!("&repository={}&environment=prod-eu", repos[2].id),
            ScopeFilter {
                repository: Some(repos[2].id),
                environment: Some("prod-eu".into()),
                ..Default::default()
            },
        ),
        (
            "&team=alpha".into(),
            ScopeFilter {
                team: Some(alpha.clone()),
                ..Default::default()
            },
        ),
    ];
    for (from, to) in windows {
        let window = Window::new(from, to).unwrap();
        for (params, scope) in &scopes {
            for benchmark in [Benchmark::Y2023, Benchmark::Y2021] {
                let path = format!(
                    "/api/v1/metrics/dora?from={}&to={}&benchmark={benchmark}{params}",
                    encode(&rfc(from)),
                    encode(&rfc(to)),
                );
                let actual = get_json(&app, &token, &path).await;
                assert_eq!(actual["organization"], "acme");
                assert_eq!(actual["from"], rfc(from));
                assert_eq!(actual["to"], rfc(to));
                assert_eq!(actual["benchmark"], benchmark.to_string());
                let expected = history.expected(scope, &window, benchmark);
                assert_metrics(&actual, &expected, &path);
            }
        }
    }

    // The loader's other path: per-stream probes for what follows the window, taken when many
    // deployments or incidents follow it (a scan limit of 0 forces it here).
    let organization_id = organization_id(&app, "acme").await;
    for (from, to) in windows {
        let window = Window::new(from, to).unwrap();
        for (params, scope) in &scopes {
            let metrics_scope = api::store::facts::MetricsScope {
                organization_id,
                repository_id: scope.repository,
                team_repositories: scope.team.clone(),
                environment: scope.environment.clone(),
            };
            let facts =
                api::store::facts::load_with(app.state.core.db.read(), &metrics_scope, &window, 0)
                    .await
                    .unwrap();
            let summary = compute(&facts.as_facts(), &window, Benchmark::Y2023);
            let actual = serde_json::to_value(summary).unwrap();
            let expected = history.expected(scope, &window, Benchmark::Y2023);
            assert_metrics(
                &actual,
                &expected,
                &format!("per-stream path {from}..{to}{params}"),
            );
        }
    }

    // The history really exercises the metrics (guards against a vacuous comparison).
    let all = get_json(
        &app,
        &token,
        &format!(
            "/api/v1/metrics/dora?from={}&to={}",
            encode(&rfc(day(-10))),
            encode(&rfc(day(110)))
        ),
    )
    .await;
    assert!(all["change_lead_time"]["samples"].as_u64().unwrap() > 50);
    assert!(all["change_failure_rate"]["failures"].as_u64().unwrap() > 20);
    assert!(
        all["failed_deployment_recovery_time"]["samples"]
            .as_u64()
            .unwrap()
            > 10
    );
    assert!(all["time_to_restore"]["open"].as_u64().unwrap() > 0);

    // Breakdowns: each row is the summary with that group's filter.
    let (from, to) = (day(15), day(75));
    let window = Window::new(from, to).unwrap();
    let range = format!("from={}&to={}", encode(&rfc(from)), encode(&rfc(to)));
    let by_repo = get_json(
        &app,
        &token,
        &format!("/api/v1/metrics/dora/breakdown?by=repository&{range}"),
    )
    .await;
    let rows = by_repo["rows"].as_array().unwrap();
    assert_eq!(rows.len(), repos.len());
    for row in rows {
        let id: Uuid = row["repository_id"].as_str().unwrap().parse().unwrap();
        let scope = ScopeFilter {
            repository: Some(id),
            ..Default::default()
        };
        assert_metrics(
            row,
            &history.expected(&scope, &window, Benchmark::Y2023),
            &format!("breakdown {}", row["group"]),
        );
    }
    let by_env = get_json(
        &app,
        &token,
        &format!("/api/v1/metrics/dora/breakdown?by=environment&{range}"),
    )
    .await;
    let groups: Vec<&str> = by_env["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["prod-eu", "production"]);
    for row in by_env["rows"].as_array().unwrap() {
        let environment = row["group"].as_str().unwrap().to_owned();
        // Within the production scope, one environment's deployments and incidents.
        let (deployments, incidents) = history.facts(&ScopeFilter::default());
        let deployments: Vec<_> = deployments
            .into_iter()
            .filter(|d| d.environment == environment)
            .collect();
        let incidents: Vec<_> = incidents
            .into_iter()
            .filter(|i| i.environment == environment)
            .collect();
        let expected = compute(
            &Facts {
                deployments: &deployments,
                incidents: &incidents,
            },
            &window,
            Benchmark::Y2023,
        );
        assert_metrics(
            row,
            &serde_json::to_value(expected).unwrap(),
            &format!("breakdown {environment}"),
        );
    }
    let by_team = get_json(
        &app,
        &token,
        &format!("/api/v1/metrics/dora/breakdown?by=team&{range}"),
    )
    .await;
    let teams: Vec<Value> = by_team["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["group"].clone())
        .collect();
    assert_eq!(teams, [Value::Null, json!("alpha"), json!("beta")]);
    for row in by_team["rows"].as_array().unwrap() {
        let team = row["group"].as_str();
        let ids = repos
            .iter()
            .filter(|r| r.team == team)
            .map(|r| r.id)
            .collect();
        let scope = ScopeFilter {
            team: Some(ids),
            ..Default::default()
        };
        assert_metrics(
            row,
            &history.expected(&scope, &window, Benchmark::Y2023),
            &format!("breakdown team {team:?}"),
        );
    }

    // Series: calendar buckets (UTC days, ISO weeks, calendar months), every bucket the
    // summary of that bucket, no tier on the partial ones at the ends.
    let scope = ScopeFilter {
        team: Some(alpha.clone()),
        ..Default::default()
    };
    for (interval, name) in [
        (Interval::Day, "day"),
        (Interval::Week, "week"),
        (Interval::Month, "month"),
    ] {
        let series = get_json(
            &app,
            &token,
            &format!("/api/v1/metrics/dora/series?interval={name}&{range}&team=alpha"),
        )
        .await;
        assert_eq!(series["interval"], name);
        let buckets = series["buckets"].as_array().unwrap();
        let expected = window.calendar_buckets(interval);
        assert_eq!(buckets.len(), expected.len());
        for (bucket, calendar) in buckets.iter().zip(&expected) {
            let context = format!("series {name} {}", bucket["from"]);
            assert_eq!(bucket["from"], rfc(calendar.window.from));
            assert_eq!(bucket["to"], rfc(calendar.window.to));
            assert_eq!(bucket["partial"], json!(calendar.partial), "{context}");
            let mut expected = history.expected(&scope, &calendar.window, Benchmark::Y2023);
            if calendar.partial {
                for key in [
                    "deployment_frequency",
                    "change_lead_time",
                    "change_failure_rate",
                    "failed_deployment_recovery_time",
                ] {
                    expected[key]["tier"] = Value::Null;
                }
            }
            assert_metrics(bucket, &expected, &context);
        }
    }
    // 2026-01-16 (a Friday) to 2026-03-17: partial first and last weeks and months, whole
    // days; every whole week starts on a Monday at midnight.
    let weeks = window.calendar_buckets(Interval::Week);
    assert!(weeks.first().unwrap().partial && weeks.last().unwrap().partial);
    assert!(weeks[1..weeks.len() - 1].iter().all(|b| {
        !b.partial
            && b.window.from.weekday() == chrono::Weekday::Mon
            && b.window.from.time() == chrono::NaiveTime::MIN
    }));
    assert!(
        window
            .calendar_buckets(Interval::Day)
            .iter()
            .all(|b| !b.partial)
    );
    let months = get_json(
        &app,
        &token,
        &format!("/api/v1/metrics/dora/series?interval=month&{range}"),
    )
    .await;
    let months: Vec<(&str, bool)> = months["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["from"].as_str().unwrap(), b["partial"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        months,
        [
            ("2026-01-16T00:00:00Z", true),
            ("2026-02-01T00:00:00Z", false),
            ("2026-03-01T00:00:00Z", true),
        ]
    );
}

fn repos_for_other() -> Vec<Repo> {
    repos()
}

#[tokio::test]
async fn summary_shape_and_defaults() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let resp = app.get("/api/v1/metrics/dora", &token).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let from: DateTime<Utc> = body["from"].as_str().unwrap().parse().unwrap();
    let to: DateTime<Utc> = body["to"].as_str().unwrap().parse().unwrap();
    assert_eq!(to - from, Duration::days(30));
    assert!((Utc::now() - to).num_seconds().abs() < 60);
    assert_eq!(body["benchmark"], "2023");
    assert_eq!(
        body["filters"],
        json!({"repository": null, "environment": null, "team": null})
    );
    assert_eq!(
        body["deployment_frequency"],
        json!({"deployments": 0, "per_day": 0.0, "median_deploy_days_per_week": 0.0,
               "median_deploy_days_per_month": 0.0, "tier": "low"})
    );
    assert_eq!(
        body["change_lead_time"],
        json!({"median_seconds": null, "p90_seconds": null, "samples": 0, "tier": null})
    );
    assert_eq!(
        body["change_failure_rate"],
        json!({"failures": 0, "deployments": 0, "rate": null, "tier": null})
    );
    assert_eq!(
        body["time_to_restore"],
        json!({"median_seconds": null, "p90_seconds": null, "samples": 0, "open": 0})
    );
}

#[tokio::test]
async fn bad_parameters_are_400s_with_a_clear_message() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    app.create_deployment(&token, &deployment("https://github.com/acme/web", 1))
        .await;
    for (query, field, needle) in [
        (
            "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "from",
            "before",
        ),
        (
            "from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "from",
            "before",
        ),
        (
            "from=2023-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "to",
            "731",
        ),
        ("benchmark=2019", "benchmark", "2019"),
        (
            "repository=https://github.com/acme/nope",
            "repository",
            "acme/nope",
        ),
        ("repository=not a url", "repository", "not a url"),
        ("team=ghosts", "team", "ghosts"),
        ("environment=bad env", "environment", "letters"),
        ("from=yesterday", "from", "RFC 3339"),
    ] {
        for path in [
            "/api/v1/metrics/dora",
            "/api/v1/metrics/dora/series",
            "/api/v1/metrics/dora/breakdown?by=team",
        ] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let (status, body) =
                problem(app.get(&format!("{path}{sep}{query}"), &token).await).await;
            assert_eq!(status, 400, "{path} {query}: {body}");
            assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
            assert!(
                body["detail"].as_str().unwrap().contains(needle),
                "{query}: {body}"
            );
        }
    }
    let (status, body) = problem(
        app.get("/api/v1/metrics/dora/series?interval=year", &token)
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "interval");
    let (status, _) = problem(
        app.get("/api/v1/metrics/dora/breakdown?by=member", &token)
            .await,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = problem(app.get("/api/v1/metrics/dora/breakdown", &token).await).await;
    assert_eq!(status, 400);
    // Exactly 731 days is allowed.
    let resp = app
        .get(
            "/api/v1/metrics/dora?from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            &token,
        )
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn metrics_need_the_read_scope_and_a_token() {
    let app = spawn_app().await;
    let ingest = app.token("acme", &[api::auth::Scope::Ingest]);
    let (status, _) = problem(app.get("/api/v1/metrics/dora", &ingest).await).await;
    assert_eq!(status, 403);
    let resp = app
        .client
        .get(app.url("/api/v1/metrics/dora"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn another_organizations_repository_is_unknown() {
    let app = spawn_app().await;
    let acme = app.rw_token("acme");
    let globex = app.rw_token("globex");
    let record = app
        .create_deployment(&globex, &deployment("https://github.com/globex/secret", 1))
        .await;
    let id = record["repository_id"].as_str().unwrap();
    for reference in [id, "https://github.com/globex/secret"] {
        let (status, _) = problem(
            app.get(
                &format!("/api/v1/metrics/dora?repository={}", encode(reference)),
                &acme,
            )
            .await,
        )
        .await;
        assert_eq!(status, 400);
    }
    let body = get_json(&app, &acme, "/api/v1/metrics/dora").await;
    assert_eq!(body["deployment_frequency"]["deployments"], 0);
    let body = get_json(&app, &globex, "/api/v1/metrics/dora").await;
    assert_eq!(body["deployment_frequency"]["deployments"], 1);
}

/// A successful deployment of `acme/web` to `environment` finished at `at`, shipping the one
/// commit `sha`, committed an hour before.
fn one_commit(sha: &str, environment: &str, at: DateTime<Utc>) -> Value {
    json!({
        "title": "Deploy",
        "branch": "main",
        "commit_id": sha,
        "repository_url": "https://github.com/acme/web",
        "member_id": "alice",
        "pull_request_number": 1,
        "environment": environment,
        "status": "success",
        "started_at": rfc(at - Duration::minutes(5)),
        "finished_at": rfc(at),
        "commits": [{"sha": sha, "committed_at": rfc(at - Duration::hours(1))}],
    })
}

/// Two deployments of one commit to one stream, recorded at the same moment: each must see the
/// other (on PostgreSQL through the per-(stream, sha) lock), or the later one would count as
/// the commit's first deployment when the earlier one is before the window.
#[tokio::test]
async fn concurrent_deployments_of_one_commit_see_each_other() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let now = Utc::now();
    let body =
        |sha: &str, days_ago: i64| one_commit(sha, "production", now - Duration::days(days_ago));
    let shas: Vec<String> = (0..16u32)
        .map(|i| format!("{:040x}", 0xabc0_0000 + i))
        .collect();
    // Each commit: shipped 40 days ago (before the default 30-day window) and redeployed 10
    // days ago, both posted at once.
    let posts = shas.iter().flat_map(|sha| {
        [body(sha, 40), body(sha, 10)]
            .into_iter()
            .map(|b| {
                let app = &app;
                let token = &token;
                async move { app.create_deployment(token, &b).await }
            })
            .collect::<Vec<_>>()
    });
    futures_util::future::join_all(posts).await;

    let summary = get_json(&app, &token, "/api/v1/metrics/dora").await;
    assert_eq!(summary["deployment_frequency"]["deployments"], 16);
    assert_eq!(summary["change_lead_time"]["samples"], 0);
}

/// A status that moves a deployment to another environment moves it to another stream: a
/// commit it shipped there before the window is no longer a first deployment when a later
/// deployment of that stream ships it again.
#[tokio::test]
async fn a_status_that_changes_the_environment_moves_the_commits_to_the_new_stream() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let now = Utc::now();
    let sha = format!("{:040x}", 0xfeed_u32);
    let body = |environment: &str, days_ago: i64| {
        one_commit(&sha, environment, now - Duration::days(days_ago))
    };
    // Shipped to production 10 days ago; the same commit had gone to `canary` 40 days ago.
    app.create_deployment(&token, &body("production", 10)).await;
    let canary = app.create_deployment(&token, &body("canary", 40)).await;
    let path = "/api/v1/metrics/dora?environment=production";
    assert_eq!(
        get_json(&app, &token, path).await["change_lead_time"]["samples"],
        1
    );

    // The canary deployment was production's all along: its status says so.
    let moved = app
        .post_json(
            &format!(
                "/api/v1/deployments/{}/statuses",
                canary["id"].as_str().unwrap()
            ),
            &token,
            &json!({"state": "success", "environment": "production"}),
        )
        .await;
    assert_eq!(moved.status(), 201);
    let summary = get_json(&app, &token, path).await;
    assert_eq!(summary["deployment_frequency"]["deployments"], 1);
    assert_eq!(summary["change_lead_time"]["samples"], 0);
}
