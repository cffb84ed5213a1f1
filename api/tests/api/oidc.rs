//! CI identity tokens through trust policies, against a local issuer started by each test
//! (discovery + JWKS on loopback, generated RSA and EC keys): what is admitted, as whom,
//! and every refusal (401, 403, 503), key rotation and the HS256-with-public-key attack.

use api::auth::Scope;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, deployment, problem, spawn_app_with},
    issuer::{Issuer, dead_url, keys, now},
};

async fn oidc_app() -> TestApp {
    spawn_app_with(|args| {
        args.credentials.oidc_allow_http_loopback = "true".to_owned();
    })
    .await
}

/// A GitHub-style policy of `org` for `issuer`: owner `acme`, branch main.
fn github_policy(issuer: &str, scopes: &[&str]) -> Value {
    json!({
        "name": "github-main", "issuer": issuer, "audience": "dora-tracker",
        "conditions": {"repository_owner": "acme", "ref": "refs/heads/*"},
        "scopes": scopes, "repository_claim": "repository", "repository_host": "github.com",
    })
}

async fn add_policy(app: &TestApp, org: &str, policy: &Value) -> Value {
    let admin = app.token(org, &[Scope::Admin]);
    let resp = app
        .post_json("/api/v1/trust-policies", &admin, policy)
        .await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn status_of(app: &TestApp, token: &str) -> (u16, Value) {
    let resp = app
        .post_json(
            "/api/v1/deployments",
            token,
            &deployment("https://github.com/acme/web", 1),
        )
        .await;
    let status = resp.status().as_u16();
    if status == 201 {
        (status, resp.json().await.unwrap())
    } else {
        problem(resp).await
    }
}

#[tokio::test]
async fn a_github_job_records_for_its_own_repository_only() {
    let app = oidc_app().await;
    let (rsa, _, _) = keys();
    let issuer = Issuer::start(&[rsa]).await;
    add_policy(&app, "acme", &github_policy(&issuer.url, &["ingest"])).await;
    let token = rsa.sign(&issuer.github_claims("acme/web", "refs/heads/main"));

    let (status, created) = status_of(&app, &token).await;
    assert_eq!(status, 201, "{created}");
    let admin = app.token("acme", &[Scope::Admin]);
    let stored: Value = app
        .get(
            &format!("/api/v1/deployments/{}", created["id"].as_str().unwrap()),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["organization_id"], created["organization_id"]);

    // A job of acme/web cannot record for acme/api.
    let (status, body) = problem(
        app.post_json(
            "/api/v1/deployments",
            &token,
            &deployment("https://github.com/acme/api", 2),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // The policy grants `ingest` only: a read is 403.
    let (status, _) = problem(app.get("/api/v1/deployments", &token).await).await;
    assert_eq!(status, 403);
    // But it may ask for its own stream's last success (what `record` needs).
    let resp = app
        .get(
            "/api/v1/streams/last-success?repository=https://github.com/acme/web",
            &token,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let last: Value = resp.json().await.unwrap();
    assert_eq!(last["deployment"]["commit_id"], format!("{:040x}", 1));
    let (status, _) = problem(
        app.get(
            "/api/v1/streams/last-success?repository=https://github.com/acme/api",
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    // One key fetch served every request.
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn an_ec_key_and_a_gitlab_policy_work_too() {
    let app = oidc_app().await;
    let (_, _, ec) = keys();
    let issuer = Issuer::start(&[ec]).await;
    add_policy(
        &app,
        "acme",
        &json!({"name": "gitlab", "issuer": issuer.url, "audience": "dora-tracker",
                "conditions": {"namespace_path": "acme", "ref_protected": "true"},
                "scopes": ["ingest", "read"], "repository_claim": "project_path",
                "repository_host": "gitlab.com"}),
    )
    .await;
    let token = ec.sign(&issuer.gitlab_claims("acme/web", "main"));
    let resp = app
        .post_json(
            "/api/v1/deployments",
            &token,
            &deployment("https://gitlab.com/acme/web", 1),
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    assert_eq!(app.get("/api/v1/deployments", &token).await.status(), 200);
    let (status, _) = problem(
        app.post_json(
            "/api/v1/deployments",
            &token,
            &deployment("https://github.com/acme/web", 2),
        )
        .await,
    )
    .await;
    assert_eq!(
        status, 403,
        "github.com/acme/web is another repository than gitlab.com's"
    );
}

#[tokio::test]
async fn every_bad_token_is_401() {
    let app = oidc_app().await;
    let (rsa, other_rsa, _) = keys();
    let issuer = Issuer::start(&[rsa]).await;
    add_policy(&app, "acme", &github_policy(&issuer.url, &["ingest"])).await;
    let good = issuer.github_claims("acme/web", "refs/heads/main");
    assert_eq!(status_of(&app, &rsa.sign(&good)).await.0, 201);

    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "wrong audience",
            Box::new(|c| c["aud"] = json!("someone-else")),
        ),
        ("expired", Box::new(|c| c["exp"] = json!(now() - 3600))),
        (
            "not yet valid",
            Box::new(|c| c["nbf"] = json!(now() + 3600)),
        ),
        (
            "issued in the future",
            Box::new(|c| c["iat"] = json!(now() + 3600)),
        ),
        (
            "no iat",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("iat"))),
        ),
        (
            "no exp",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "another owner",
            Box::new(|c| c["repository_owner"] = json!("evil")),
        ),
        (
            "a tag, not a branch",
            Box::new(|c| c["ref"] = json!("refs/tags/v1")),
        ),
        (
            "no repository claim",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("repository"))),
        ),
        (
            "unknown issuer",
            Box::new(|c| c["iss"] = json!("https://issuer.invalid")),
        ),
    ];
    for (why, mutate) in cases {
        let mut claims = good.clone();
        mutate(&mut claims);
        let (status, body) = status_of(&app, &rsa.sign(&claims)).await;
        assert_eq!(status, 401, "{why}: {body}");
        assert_eq!(body["type"], "unauthorized", "{why}");
    }
    // Signed by a key the issuer never published, naming the published key's id.
    let (status, body) = status_of(&app, &other_rsa.sign_as(&good, &rsa.kid)).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("signature"),
        "{body}"
    );
    // A tampered payload.
    let real = rsa.sign(&good);
    let parts: Vec<&str> = real.split('.').collect();
    let mut evil = good.clone();
    evil["repository"] = json!("acme/api");
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(evil.to_string()),
        parts[2]
    );
    assert_eq!(status_of(&app, &tampered).await.0, 401);
    // alg none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, rsa.kid)),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    assert_eq!(status_of(&app, &none).await.0, 401);
}

/// The classic confusion attack: sign HS256 using the issuer's public key (as PEM, as the
/// JWK, as its modulus) as the HMAC secret, naming the real key id.
#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let app = oidc_app().await;
    let (rsa, _, ec) = keys();
    let issuer = Issuer::start(&[rsa, ec]).await;
    add_policy(&app, "acme", &github_policy(&issuer.url, &["ingest"])).await;
    let claims = issuer.github_claims("acme/web", "refs/heads/main");
    for key in [rsa, ec] {
        for secret in [
            key.public_pem.clone(),
            key.public_pem.trim().to_owned(),
            key.jwk.to_string(),
            key.jwk["n"].as_str().unwrap_or_default().to_owned(),
        ] {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let mut header = Header::new(alg);
                header.kid = Some(key.kid.clone());
                let token = jsonwebtoken::encode(
                    &header,
                    &claims,
                    &EncodingKey::from_secret(secret.as_bytes()),
                )
                .unwrap();
                let (status, body) = status_of(&app, &token).await;
                assert_eq!(status, 401, "{alg:?} with {}: {body}", key.kid);
            }
        }
    }
    assert_eq!(app.deployment_rows().await, 0);
}

#[tokio::test]
async fn keys_rotate_and_unknown_key_ids_cannot_hammer_the_issuer() {
    let app = oidc_app().await;
    let (old, new, _) = keys();
    let issuer = Issuer::start(&[old]).await;
    add_policy(&app, "acme", &github_policy(&issuer.url, &["ingest"])).await;
    let claims = issuer.github_claims("acme/web", "refs/heads/main");
    assert_eq!(status_of(&app, &old.sign(&claims)).await.0, 201);
    assert_eq!(issuer.jwks_requests(), 1);

    // The issuer rotates: the new key replaces the old one. A token with the new kid makes
    // the service fetch the keys again, at once.
    issuer.publish(&[new]);
    let mut second = claims.clone();
    second["jti"] = json!("2");
    let (status, body) = status_of(&app, &new.sign(&second)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(issuer.jwks_requests(), 2);

    // The retired key is gone from the refreshed set.
    assert_eq!(status_of(&app, &old.sign(&claims)).await.0, 401);
    // Made-up key ids do not make the service fetch again (rate limited per issuer).
    for kid in ["a", "b", "c", "d"] {
        assert_eq!(status_of(&app, &new.sign_as(&claims, kid)).await.0, 401);
    }
    assert!(
        issuer.jwks_requests() <= 3,
        "{} fetches",
        issuer.jwks_requests()
    );
}

#[tokio::test]
async fn an_unreachable_issuer_with_nothing_cached_is_503() {
    let app = oidc_app().await;
    let (rsa, _, _) = keys();
    let url = dead_url().await;
    add_policy(&app, "acme", &github_policy(&url, &["ingest"])).await;
    let mut claims = json!({
        "aud": "dora-tracker", "repository": "acme/web", "repository_owner": "acme",
        "ref": "refs/heads/main", "iat": now(), "exp": now() + 300,
    });
    claims["iss"] = json!(url);
    let (status, body) = status_of(&app, &rsa.sign(&claims)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "identity-provider-unavailable");
    assert!(body["detail"].as_str().unwrap().contains(&url), "{body}");
    assert_eq!(app.deployment_rows().await, 0);
}

#[tokio::test]
async fn trust_policies_are_managed_by_admins_and_validated() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.token("acme", &[Scope::Admin]);
    let gha = "https://token.actions.githubusercontent.com";
    let created = {
        let resp = app
            .post_json(
                "/api/v1/trust-policies",
                &admin,
                &json!({"name": "web", "issuer": gha, "audience": "dora-tracker",
                        "conditions": {"repository": "acme/web", "ref": "refs/heads/main"},
                        "scopes": ["ingest"], "repository_claim": "repository"}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            location,
            format!("/api/v1/trust-policies/{}", body["id"].as_str().unwrap())
        );
        body
    };
    assert_eq!(created["repository_host"], "github.com");
    assert_eq!(created["scopes"], json!(["ingest"]));
    let id = created["id"].as_str().unwrap();
    let list: Value = app
        .get("/api/v1/trust-policies", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get(&format!("/api/v1/trust-policies/{id}"), &admin)
            .await
            .status(),
        200
    );
    // Same name: 409.
    let (status, _) = problem(
        app.post_json(
            "/api/v1/trust-policies",
            &admin,
            &json!({"name": "web", "issuer": gha, "audience": "dora-tracker",
                    "conditions": {"repository_owner": "acme"},
                    "scopes": ["ingest"], "repository_claim": "repository"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);

    for (why, body, field) in [
        (
            "http issuer",
            json!({"issuer": "http://127.0.0.1:9"}),
            "issuer",
        ),
        (
            "plain http",
            json!({"issuer": "http://token.actions.githubusercontent.com"}),
            "issuer",
        ),
        ("no conditions", json!({"conditions": {}}), "conditions"),
        (
            "only wildcards",
            json!({"conditions": {"repository": "*"}}),
            "conditions",
        ),
        (
            "reserved claim",
            json!({"conditions": {"aud": "x"}}),
            "conditions.aud",
        ),
        ("unknown scope", json!({"scopes": ["root"]}), "scopes"),
        (
            "bad claim name",
            json!({"repository_claim": "no spaces"}),
            "repository_claim",
        ),
    ] {
        let mut policy = json!({"name": why, "issuer": gha, "audience": "dora-tracker",
                                "conditions": {"repository_owner": "acme"},
                                "scopes": ["ingest"], "repository_claim": "repository"});
        for (k, v) in body.as_object().unwrap() {
            policy[k] = v.clone();
        }
        let (status, problem) = problem(
            app.post_json("/api/v1/trust-policies", &admin, &policy)
                .await,
        )
        .await;
        assert_eq!(status, 422, "{why}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{why}: {problem}");
    }

    // Admin only; another organization's policy is not found.
    let rw = app.rw_token("acme");
    assert_eq!(app.get("/api/v1/trust-policies", &rw).await.status(), 403);
    let globex = app.token("globex", &[Scope::Admin]);
    assert_eq!(
        app.get(&format!("/api/v1/trust-policies/{id}"), &globex)
            .await
            .status(),
        404
    );
    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/trust-policies/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        app.get(&format!("/api/v1/trust-policies/{id}"), &admin)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn deleting_a_policy_refuses_its_tokens_and_two_organizations_cannot_share_one() {
    let app = oidc_app().await;
    let (rsa, _, _) = keys();
    let issuer = Issuer::start(&[rsa]).await;
    let policy = add_policy(&app, "acme", &github_policy(&issuer.url, &["ingest"])).await;
    let token = rsa.sign(&issuer.github_claims("acme/web", "refs/heads/main"));
    assert_eq!(status_of(&app, &token).await.0, 201);

    // Another organization trusting the same jobs makes the token ambiguous: refused.
    add_policy(&app, "globex", &github_policy(&issuer.url, &["ingest"])).await;
    let (status, body) = status_of(&app, &token).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("several organizations")
    );

    let admin = app.token("acme", &[Scope::Admin]);
    let resp = app
        .client
        .delete(app.url(&format!(
            "/api/v1/trust-policies/{}",
            policy["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Now only globex admits it.
    let (status, created) = status_of(&app, &token).await;
    assert_eq!(status, 201);
    let globex_admin = app.token("globex", &[Scope::Admin]);
    let (status, _) = problem(
        app.get(
            &format!("/api/v1/deployments/{}", created["id"].as_str().unwrap()),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(status, 404, "recorded for globex, not acme");
    assert_eq!(
        app.get(
            &format!("/api/v1/deployments/{}", created["id"].as_str().unwrap()),
            &globex_admin,
        )
        .await
        .status(),
        200
    );
}
