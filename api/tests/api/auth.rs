//! Tokens: every malformed, forged or foreign one is refused as DESIGN.md section 3 says.

use std::time::{SystemTime, UNIX_EPOCH};

use api::auth::Scope;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{AUDIENCE, ISSUER, SECRET, TestApp, deployment, problem, spawn_app};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn good_claims() -> Value {
    json!({
        "org": "acme", "scope": "ingest read", "sub": "ci",
        "exp": now() + 600, "iat": now(), "nbf": now() - 10,
        "iss": ISSUER, "aud": AUDIENCE,
    })
}

fn sign(claims: &Value, alg: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn assert_401(app: &TestApp, token: &str, why: &str) {
    let resp = app.get("/api/v1/deployments", token).await;
    assert_eq!(resp.status(), 401, "{why}");
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "{why}: WWW-Authenticate {challenge:?}"
    );
    let (_, body) = problem(resp).await;
    assert_eq!(body["type"], "unauthorized", "{why}");
}

#[tokio::test]
async fn a_valid_token_is_accepted() {
    let app = spawn_app().await;
    let token = sign(&good_claims(), Algorithm::HS256, SECRET);
    let resp = app.get("/api/v1/deployments", &token).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn missing_and_malformed_tokens_are_401() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/api/v1/deployments"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    assert_401(&app, "not-a-jwt", "garbage").await;
    assert_401(&app, "a.b.c", "three garbage parts").await;
    let basic = app
        .client
        .get(app.url("/api/v1/deployments"))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
}

#[tokio::test]
async fn forged_tokens_are_401() {
    let app = spawn_app().await;
    let claims = good_claims();
    // alg: none, no signature
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_401(&app, &format!("{header}.{payload}."), "alg none").await;
    // right claims, another secret
    assert_401(
        &app,
        &sign(
            &claims,
            Algorithm::HS256,
            "another-secret-another-secret-another",
        ),
        "wrong signature",
    )
    .await;
    // right secret, another algorithm than the configured one
    assert_401(&app, &sign(&claims, Algorithm::HS512, SECRET), "HS512").await;
    assert_401(&app, &sign(&claims, Algorithm::HS384, SECRET), "HS384").await;
    // a tampered payload keeps the old signature
    let good = sign(&claims, Algorithm::HS256, SECRET);
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = claims.clone();
    evil["org"] = json!("evil");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(evil.to_string()),
        parts[2]
    );
    assert_401(&app, &tampered, "tampered payload").await;
}

#[tokio::test]
async fn wrong_or_missing_claims_are_401() {
    let app = spawn_app().await;
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("expired", Box::new(|c| c["exp"] = json!(now() - 3600))),
        (
            "not yet valid",
            Box::new(|c| c["nbf"] = json!(now() + 3600)),
        ),
        (
            "missing exp",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "missing aud",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("aud"))),
        ),
        ("wrong aud", Box::new(|c| c["aud"] = json!("someone-else"))),
        (
            "missing iss",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("iss"))),
        ),
        (
            "wrong iss",
            Box::new(|c| c["iss"] = json!("https://evil.example")),
        ),
        (
            "missing org",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("org"))),
        ),
        ("bad org", Box::new(|c| c["org"] = json!("Not A Slug"))),
        (
            "missing scope",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("scope"))),
        ),
        (
            "unknown scope",
            Box::new(|c| c["scope"] = json!("superuser")),
        ),
    ];
    for (why, mutate) in cases {
        let mut claims = good_claims();
        mutate(&mut claims);
        assert_401(&app, &sign(&claims, Algorithm::HS256, SECRET), why).await;
    }
    // An audience list that contains ours is fine.
    let mut claims = good_claims();
    claims["aud"] = json!(["other", AUDIENCE]);
    let resp = app
        .get(
            "/api/v1/deployments",
            &sign(&claims, Algorithm::HS256, SECRET),
        )
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn missing_scope_is_403() {
    let app = spawn_app().await;
    let read_only = app.token("acme", &[Scope::Read]);
    let (status, body) = problem(
        app.post_json(
            "/api/v1/deployments",
            &read_only,
            &deployment("https://github.com/acme/web", 1),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["type"], "forbidden");

    let ingest_only = app.token("acme", &[Scope::Ingest]);
    let (status, _) = problem(app.get("/api/v1/deployments", &ingest_only).await).await;
    assert_eq!(status, 403);
    assert_eq!(
        app.deployment_rows().await,
        0,
        "a refused request writes nothing"
    );

    // admin implies the others
    let admin = app.token("acme", &[Scope::Admin]);
    app.create_deployment(&admin, &deployment("https://github.com/acme/web", 2))
        .await;
    assert_eq!(app.get("/api/v1/deployments", &admin).await.status(), 200);
}

#[tokio::test]
async fn another_organizations_objects_are_404() {
    let app = spawn_app().await;
    let acme = app.rw_token("acme");
    let globex = app.rw_token("globex");
    let created = app
        .create_deployment(&acme, &deployment("https://github.com/acme/web", 1))
        .await;
    let id = created["id"].as_str().unwrap();

    let theirs = app.get(&format!("/api/v1/deployments/{id}"), &globex).await;
    let unknown = app
        .get(
            &format!("/api/v1/deployments/{}", uuid::Uuid::new_v4()),
            &globex,
        )
        .await;
    let (s1, b1) = problem(theirs).await;
    let (s2, b2) = problem(unknown).await;
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(
        b1, b2,
        "another organization's id answers exactly as an unknown one"
    );

    let patch = app
        .client
        .patch(app.url(&format!("/api/v1/deployments/{id}")))
        .bearer_auth(&globex)
        .json(&json!({"status": "failure"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 404);

    let list: Value = app
        .get("/api/v1/deployments", &globex)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]));
    let by_repo: Value = app
        .get(
            &format!(
                "/api/v1/deployments?repository={}",
                created["repository_id"].as_str().unwrap()
            ),
            &globex,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_repo["items"], json!([]));

    // The organization comes from the token, never from the body.
    let mut body = deployment("https://github.com/acme/web", 2);
    body["organization_id"] = created["organization_id"].clone();
    let (status, _) = problem(app.post_json("/api/v1/deployments", &globex, &body).await).await;
    assert_eq!(status, 422);
}
