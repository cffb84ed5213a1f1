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
    let app =
        spawn_app_with(|args| args.metrics_token = Some("scrape-token-0123456789".to_owned()))
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
