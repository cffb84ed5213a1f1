//! `/metrics`: text exposition, route templates as labels, optional bearer protection.

use crate::helpers::{deployment, spawn_app, spawn_app_with};

#[tokio::test]
async fn request_metrics_use_route_templates() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let created = app
        .create_deployment(&token, &deployment("https://github.com/acme/web", 1))
        .await;
    let id = created["id"].as_str().unwrap();
    app.get(&format!("/api/v1/deployments/{id}"), &token).await;
    app.get("/no/such/page/123", &token).await;

    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = resp.text().await.unwrap();
    assert!(body.ends_with('\n'));
    assert!(
        body.contains(
            r#"http_requests_total{method="POST",route="/api/v1/deployments",status="201"} 1"#
        ),
        "{body}"
    );
    assert!(
        body.contains(r#"route="/api/v1/deployments/{id}",status="200""#),
        "{body}"
    );
    assert!(body.contains(r#"route="unmatched",status="404""#), "{body}");
    assert!(!body.contains(id), "ids never become label values");
    assert!(
        !body.contains("/no/such/page"),
        "raw paths never become label values"
    );
    assert!(body.contains("http_request_duration_seconds_bucket"));
    assert!(body.contains("dora_build_info{version="));
    assert!(body.contains("dora_db_pool_connections{"));
}

#[tokio::test]
async fn a_metrics_token_protects_the_scrape() {
    let app = spawn_app_with(|args| {
        args.metrics_token = Some(api::domain::Secret::new("scrape-token-0123456789"))
    })
    .await;
    let open = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(open.status(), 401);
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-token-wrong-0000")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
}

/// Scrapes until the background refresh has produced a snapshot that satisfies `ready`.
async fn scrape_until(app: &crate::helpers::TestApp, ready: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        let body = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if ready(&body) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no DORA snapshot within 20 s");
}

fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn dora_gauges_equal_the_json_api_and_vanish_with_their_data() {
    use chrono::{Duration, Utc};
    use serde_json::{Value, json};

    let app = spawn_app_with(|args| args.metrics_refresh_seconds = 1).await;
    let token = app.rw_token("acme");
    let now = Utc::now();
    let mut n = 0;
    for (repo, env) in [
        ("https://github.com/acme/web", "production"),
        ("https://github.com/acme/web", "staging"),
        ("https://github.com/acme/api", "production"),
    ] {
        for day in 1..=6i64 {
            n += 1;
            let mut body = deployment(repo, n);
            let at = now - Duration::days(day);
            body["environment"] = json!(env);
            body["team"] = json!("core");
            body["finished_at"] = json!(at.to_rfc3339());
            body["status"] = json!(if day == 3 { "failure" } else { "success" });
            body["is_hotfix"] = json!(day == 2);
            body["commits"] = json!([{"sha": format!("{n:08x}"), "committed_at": (at - Duration::hours(day)).to_rfc3339()}]);
            app.create_deployment(&token, &body).await;
        }
    }
    // A repository with one deployment, deleted below.
    let gh = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header("Authorization", format!("token {token}"))
    };
    let created: Value = gh(reqwest::Method::POST, "/api/v3/repos/acme/tmp/deployments")
        .json(&json!({"ref": "abcdef1234567", "environment": "canary"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let body = scrape_until(&app, |b| b.contains(r#"repository="acme/tmp""#)).await;
    // Counts that follow current statuses can go down: gauges, named without `_total`.
    assert!(body.contains("# TYPE dora_deployments gauge"));
    assert!(!body.contains("dora_deployments_total"));
    assert!(body.contains("dora_snapshot_age_seconds"));

    for (query, labels) in [
        ("", vec![("repository", "*"), ("environment", "*")]),
        (
            "?environment=staging",
            vec![("repository", "*"), ("environment", "staging")],
        ),
        (
            "?repository=https://github.com/acme/web&environment=production",
            vec![("repository", "acme/web"), ("environment", "production")],
        ),
    ] {
        let json: Value = app
            .get(&format!("/api/v1/metrics/dora{query}"), &token)
            .await
            .json()
            .await
            .unwrap();
        let mut labels = labels.clone();
        labels.push(("organization", "acme"));
        labels.push(("window", "30d"));
        let gauge = |name: &str, extra: &[(&str, &str)]| {
            let mut all = labels.clone();
            all.extend_from_slice(extra);
            sample(&body, name, &all)
        };
        let close = |a: Option<f64>, b: &Value| match (a, b.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            (None, None) => true,
            _ => false,
        };
        assert!(
            close(
                gauge("dora_window_deployments", &[]),
                &json["deployment_frequency"]["deployments"]
            ),
            "{query}"
        );
        assert!(
            close(
                gauge("dora_deployment_frequency_per_day", &[]),
                &json["deployment_frequency"]["per_day"]
            ),
            "{query}"
        );
        assert!(
            close(
                gauge("dora_change_failure_rate", &[]),
                &json["change_failure_rate"]["rate"]
            ),
            "{query}"
        );
        assert!(
            close(
                gauge("dora_change_lead_time_median_seconds", &[]),
                &json["change_lead_time"]["median_seconds"]
            ),
            "{query}"
        );
        assert!(
            close(
                gauge("dora_change_lead_time_p90_seconds", &[]),
                &json["change_lead_time"]["p90_seconds"]
            ),
            "{query}"
        );
        assert!(
            close(
                gauge("dora_failed_deployment_recovery_time_median_seconds", &[]),
                &json["failed_deployment_recovery_time"]["median_seconds"]
            ),
            "{query}"
        );
        assert!(
            close(
                gauge("dora_deployment_rework_rate", &[]),
                &json["deployment_rework_rate"]["rate"]
            ),
            "{query}"
        );
        let tier = json["change_failure_rate"]["tier"].as_str().unwrap();
        assert!(
            gauge(
                "dora_tier",
                &[("metric", "change_failure_rate"), ("tier", tier)]
            )
            .is_some(),
            "{query}"
        );
    }

    // The lone canary deployment can be deleted; its series go with it.
    let deleted = gh(
        reqwest::Method::DELETE,
        &format!("/api/v3/repos/acme/tmp/deployments/{}", created["id"]),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(deleted.status(), 204);
    let body = scrape_until(&app, |b| !b.contains(r#"environment="canary""#)).await;
    assert!(!body.contains(r#"repository="acme/tmp",team"#));
    assert!(body.contains(r#"repository="acme/web""#));
}
