//! `GET /api/v1/metrics/dora/explain`: the whole listing of each metric, read page by page,
//! adds up exactly to `GET /api/v1/metrics/dora` for the same filters and window.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};
use dora_metrics::{Benchmark, Window, percentile, tiers};
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, spawn_app};
use crate::metrics::{encode, get_json, post_history, repos, rfc, t0};

/// Every item of a listing, following `next_cursor` with pages of `limit`.
async fn listing(app: &TestApp, token: &str, path: &str, limit: u64) -> (Vec<Value>, u64) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = None;
    loop {
        let page_path = match &cursor {
            Some(c) => format!("{path}&limit={limit}&cursor={}", encode(c)),
            None => format!("{path}&limit={limit}"),
        };
        let page = get_json(app, token, &page_path).await;
        let page_items = page["items"].as_array().unwrap();
        assert!(page_items.len() as u64 <= limit, "{page_path}");
        // Every page reports the same total.
        let page_total = page["total"].as_u64().unwrap();
        assert_eq!(*total.get_or_insert(page_total), page_total, "{page_path}");
        items.extend(page_items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(page_items.len() as u64, limit, "a short page has no next");
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    (items, total.unwrap_or_default())
}

fn sorted(mut samples: Vec<f64>) -> Vec<f64> {
    samples.sort_by(f64::total_cmp);
    samples
}

fn median_p90(samples: &[f64]) -> (Option<f64>, Option<f64>) {
    let samples = sorted(samples.to_vec());
    (percentile(&samples, 0.5), percentile(&samples, 0.9))
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// How many whole spans of `days` the window has (a shorter window is one span).
fn spans(window: &Window, days: i64) -> usize {
    let (length, span) = (window.to - window.from, Duration::days(days));
    if length < span {
        1
    } else {
        let length = length.num_nanoseconds().unwrap();
        (length / span.num_nanoseconds().unwrap()) as usize
    }
}

/// Median over the window's spans of the distinct deploy dates per span, from the listing's
/// `week_bucket`/`month_bucket`.
fn median_deploy_days(items: &[Value], field: &str, count: usize) -> f64 {
    let mut dates: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for item in items {
        if let Some(bucket) = item[field].as_u64() {
            assert!((bucket as usize) < count, "{item}");
            dates
                .entry(bucket)
                .or_default()
                .insert(item["deploy_date"].as_str().unwrap().to_owned());
        }
    }
    let per_bucket: Vec<f64> = (0..count as u64)
        .map(|k| dates.get(&k).map_or(0, BTreeSet::len) as f64)
        .collect();
    percentile(&sorted(per_bucket), 0.5).unwrap()
}

fn tier<T: serde::Serialize>(tier: Option<T>) -> Value {
    serde_json::to_value(tier).unwrap()
}

/// The summary's object for `metric`, recomputed from its whole listing.
fn recompute(metric: &str, items: &[Value], window: &Window, benchmark: Benchmark) -> Value {
    let kind = |expected: &str| {
        for item in items {
            assert_eq!(item["kind"], expected, "{item}");
            assert!(!item["reason"].as_str().unwrap().is_empty(), "{item}");
        }
    };
    match metric {
        "deployment_frequency" => {
            kind("deployment");
            let deployments = items.len() as u64;
            for item in items {
                let deployed_at = time(&item["deployment"]["deployed_at"]);
                assert!(window.contains(deployed_at));
                assert_eq!(
                    item["deploy_date"],
                    deployed_at.date_naive().to_string(),
                    "{item}"
                );
            }
            let week = median_deploy_days(items, "week_bucket", spans(window, 7));
            let month = median_deploy_days(items, "month_bucket", spans(window, 30));
            json!({
                "deployments": deployments,
                "per_day": deployments as f64 / window.days(),
                "median_deploy_days_per_week": week,
                "median_deploy_days_per_month": month,
                "tier": tiers::deployment_frequency(benchmark, week, month),
            })
        }
        "change_lead_time" => {
            kind("commit");
            let mut samples = Vec::new();
            for item in items {
                let deployed_at = time(&item["deployment"]["deployed_at"]);
                let committed_at = time(&item["committed_at"]);
                let difference = (deployed_at - committed_at).as_seconds_f64();
                match item["verdict"].as_str().unwrap() {
                    "sample" => {
                        let seconds = item["seconds"].as_f64().unwrap();
                        assert_eq!(seconds, difference, "{item}");
                        assert!(seconds >= 0.0);
                        samples.push(seconds);
                    }
                    "committed_after_deployment" => {
                        assert!(item["seconds"].as_f64().unwrap() < 0.0, "{item}");
                        assert!(item["reason"].as_str().unwrap().contains("committed after"));
                    }
                    "shipped_earlier" => {
                        let reason = item["reason"].as_str().unwrap();
                        assert!(reason.contains("shipped earlier"), "{item}");
                        match item["shipped_by"].as_str() {
                            Some(by) => assert!(reason.contains(by), "{item}"),
                            None => assert!(reason.contains("before the window"), "{item}"),
                        }
                    }
                    "listed_twice" => {}
                    other => panic!("verdict {other}"),
                }
            }
            let (median, p90) = median_p90(&samples);
            json!({
                "median_seconds": median,
                "p90_seconds": p90,
                "samples": samples.len(),
                "tier": tier(median.map(|m| tiers::lead_time(benchmark, m))),
            })
        }
        "change_failure_rate" => {
            kind("change_failure");
            let deployments = items.len() as u64;
            let mut failures = 0u64;
            for item in items {
                let change_failure = item["change_failure"].as_bool().unwrap();
                let causes = item["causes"].as_array().unwrap();
                assert_eq!(change_failure, !causes.is_empty(), "{item}");
                let failed = causes.iter().any(|c| c["cause"] == "status_failure");
                assert_eq!(failed, item["outcome"] == "failure", "{item}");
                failures += u64::from(change_failure);
            }
            let rate = ratio(failures, deployments);
            json!({
                "failures": failures,
                "deployments": deployments,
                "rate": rate,
                "tier": tier(rate.map(|r| tiers::change_failure_rate(benchmark, r))),
            })
        }
        "failed_deployment_recovery_time" => {
            kind("recovery");
            let mut samples = Vec::new();
            let mut unrecovered = 0u64;
            for item in items {
                assert!(!item["causes"].as_array().unwrap().is_empty(), "{item}");
                let recovery = &item["recovery"];
                if recovery["recovered"].as_bool().unwrap() {
                    let seconds = recovery["seconds"].as_f64().unwrap();
                    let recovered_at = time(&recovery["recovered_at"]);
                    let deployed_at = time(&item["deployment"]["deployed_at"]);
                    assert_eq!(
                        seconds,
                        (recovered_at - deployed_at).as_seconds_f64(),
                        "{item}"
                    );
                    samples.push(seconds);
                } else {
                    assert!(recovery["seconds"].is_null(), "{item}");
                    unrecovered += 1;
                }
            }
            let (median, p90) = median_p90(&samples);
            json!({
                "median_seconds": median,
                "p90_seconds": p90,
                "samples": samples.len(),
                "unrecovered": unrecovered,
                "tier": tier(median.map(|m| tiers::recovery_time(benchmark, m))),
            })
        }
        "deployment_rework_rate" => {
            kind("rework");
            let deployments = items.len() as u64;
            let rework = items
                .iter()
                .filter(|item| item["rework"].as_bool().unwrap())
                .count() as u64;
            json!({
                "rework_deployments": rework,
                "deployments": deployments,
                "rate": ratio(rework, deployments),
            })
        }
        "time_to_restore" => {
            kind("incident");
            let mut samples = Vec::new();
            let mut open = 0u64;
            for item in items {
                assert!(window.contains(time(&item["started_at"])), "{item}");
                match item["seconds"].as_f64() {
                    Some(seconds) => samples.push(seconds),
                    None => open += 1,
                }
            }
            let (median, p90) = median_p90(&samples);
            json!({
                "median_seconds": median,
                "p90_seconds": p90,
                "samples": samples.len(),
                "open": open,
            })
        }
        other => panic!("metric {other}"),
    }
}

const METRICS: [&str; 6] = [
    "deployment_frequency",
    "change_lead_time",
    "change_failure_rate",
    "failed_deployment_recovery_time",
    "deployment_rework_rate",
    "time_to_restore",
];

#[tokio::test]
async fn every_listing_adds_up_to_the_summary() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let mut other_repos = repos();
    let mut repos = repos();
    post_history(&app, &token, &mut repos, 11, 240).await;
    // Another organization: nothing of it may appear.
    let other = app.rw_token("globex");
    post_history(&app, &other, &mut other_repos, 12, 40).await;

    let day = |d: i64| t0() + Duration::days(d);
    let cases: Vec<(DateTime<Utc>, DateTime<Utc>, String, Benchmark)> = vec![
        (day(0), day(100), String::new(), Benchmark::Y2023),
        (day(10), day(40), String::new(), Benchmark::Y2021),
        (
            day(5) + Duration::hours(7),
            day(64),
            "&environment=staging".to_owned(),
            Benchmark::Y2023,
        ),
        (
            day(20),
            day(90),
            format!("&repository={}", encode(repos[0].alias)),
            Benchmark::Y2023,
        ),
        (day(30), day(34), "&team=alpha".to_owned(), Benchmark::Y2023),
    ];
    let mut seen_ids = HashSet::new();
    let mut nonempty = 0;
    for (from, to, filters, benchmark) in &cases {
        let window = Window::new(*from, *to).unwrap();
        let params = format!(
            "from={}&to={}&benchmark={benchmark}{filters}",
            encode(&rfc(*from)),
            encode(&rfc(*to))
        );
        let summary = get_json(&app, &token, &format!("/api/v1/metrics/dora?{params}")).await;
        for metric in METRICS {
            let path = format!("/api/v1/metrics/dora/explain?metric={metric}&{params}");
            let (items, total) = listing(&app, &token, &path, 17).await;
            assert_eq!(items.len() as u64, total, "{path}");
            nonempty += usize::from(!items.is_empty());
            for item in &items {
                if let Some(id) = item["deployment"]["id"].as_str() {
                    seen_ids.insert(id.to_owned());
                }
            }
            let recomputed = recompute(metric, &items, &window, *benchmark);
            assert_eq!(recomputed, summary[metric], "{path}");
            // One page with everything says the same.
            let (whole, _) = listing(&app, &token, &path, 1000).await;
            assert_eq!(whole, items, "{path}");
        }
    }
    assert!(nonempty >= 25, "the history exercises the listings");

    // No deployment of the other organization is listed.
    let globex = get_json(&app, &other, "/api/v1/deployments?limit=200").await;
    for record in globex["items"].as_array().unwrap() {
        assert!(!seen_ids.contains(record["id"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn explain_refuses_bad_parameters() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    for (query, field) in [
        ("metric=happiness", "metric"),
        ("", "metric"),
        ("metric=change_lead_time&cursor=nope", "cursor"),
        ("metric=change_lead_time&benchmark=2019", "benchmark"),
        ("metric=change_lead_time&team=ghosts", "team"),
    ] {
        let (status, body) = problem(
            app.get(&format!("/api/v1/metrics/dora/explain?{query}"), &token)
                .await,
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    let ingest = app.token("acme", &[api::auth::Scope::Ingest]);
    let (status, _) = problem(
        app.get(
            "/api/v1/metrics/dora/explain?metric=change_lead_time",
            &ingest,
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    let empty = get_json(
        &app,
        &token,
        "/api/v1/metrics/dora/explain?metric=change_failure_rate",
    )
    .await;
    assert_eq!(empty["items"], json!([]));
    assert_eq!(empty["total"], 0);
    assert_eq!(empty["next_cursor"], Value::Null);
    assert_eq!(empty["metric"], "change_failure_rate");
}
