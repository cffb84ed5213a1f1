//! The web page at `/` over real HTTP: sign-in and its cookie, CSRF and Origin checks, the
//! security headers of every answer, escaping, and the numbers against the JSON API. (The
//! browser-level checks, scripts and screenshots are in `ci/web/`.)

use std::time::Duration;

use api::auth::Scope;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, deployment, spawn_app, spawn_app_with};

/// A browser without a cookie store of its own: cookies are kept here by name.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, resp: &reqwest::Response) -> Vec<String> {
        let set: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for line in &set {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            let removed = line.to_ascii_lowercase().contains("max-age=0");
            if !removed {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        set
    }

    async fn get(&mut self, path: &str) -> (reqwest::Response, Vec<String>) {
        let resp = self
            .client
            .get(self.app.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        let set = self.keep(&resp);
        (resp, set)
    }

    async fn text(&mut self, path: &str) -> (u16, String) {
        let (resp, _) = self.get(path).await;
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    async fn post(
        &mut self,
        path: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> (reqwest::Response, Vec<String>) {
        let mut req = self
            .client
            .post(self.app.url(path))
            .header("cookie", self.cookie_header())
            .form(form);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        let resp = req.send().await.unwrap();
        let set = self.keep(&resp);
        (resp, set)
    }

    fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(k, _)| k == "dora_csrf")
            .map(|(_, v)| v.clone())
            .expect("a csrf cookie")
    }

    /// Opens the sign-in form and signs in with `token`.
    async fn sign_in(&mut self, token: &str) -> (reqwest::Response, Vec<String>) {
        let (status, _) = self.text("/").await;
        assert_eq!(status, 200);
        let csrf = self.csrf();
        let origin = self.app.address.clone();
        self.post(
            "/ui/sign-in",
            Some(&origin),
            &[("token", token), ("csrf", &csrf), ("next", "/")],
        )
        .await
    }
}

/// Every `data-metric="…" data-value="…"` pair of `html`, in order.
fn data_values(html: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("data-metric=\"") {
        rest = &rest[start + 13..];
        let end = rest.find('"').unwrap();
        let metric = rest[..end].to_owned();
        let after = &rest[end..];
        let value = after
            .strip_prefix("\" data-value=\"")
            .map(|v| v[..v.find('"').unwrap()].to_owned());
        if let Some(value) = value {
            found.push((metric, value));
        }
    }
    found
}

fn field<'v>(summary: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(summary, |v, key| &v[key])
}

fn same_number(page: &str, api: &Value, context: &str) {
    match api.as_f64() {
        None => assert_eq!(page, "", "{context}: the API says null"),
        Some(expected) => {
            let shown: f64 = page
                .parse()
                .unwrap_or_else(|_| panic!("{context}: {page:?}"));
            assert_eq!(shown, expected, "{context}");
        }
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn history(app: &TestApp, token: &str) {
    let now = Utc::now();
    for n in 1..=24u32 {
        let at = now - chrono::Duration::hours(i64::from(n) * 17);
        let repo = if n % 3 == 0 {
            "https://github.com/acme/api"
        } else {
            "https://github.com/acme/web"
        };
        let mut body = deployment(repo, n);
        body["finished_at"] = json!(rfc(at));
        body["status"] = json!(if n % 7 == 0 { "failure" } else { "success" });
        body["is_hotfix"] = json!(n % 5 == 0);
        body["team"] = json!(if n % 3 == 0 {
            "platform"
        } else {
            "web <&> \"team\""
        });
        body["commits"] = json!([{
            "sha": format!("{n:040x}"),
            "committed_at": rfc(at - chrono::Duration::minutes(i64::from(n) * 13)),
        }]);
        app.create_deployment(token, &body).await;
    }
    let resp = app
        .post_json(
            "/api/v1/incidents",
            token,
            &json!({"title": "<script>alert(2)</script> outage",
                    "repository_url": "https://github.com/acme/web",
                    "started_at": rfc(now - chrono::Duration::hours(30))}),
        )
        .await;
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn signing_in_sets_a_strict_session_cookie_that_expires_with_the_token() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let (resp, set) = browser.get("/").await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert_eq!(html.matches("name=\"token\"").count(), 1, "one token input");
    assert!(html.contains("<form method=\"post\" action=\"/ui/sign-in\">"));
    let csrf_cookie = set.iter().find(|c| c.starts_with("dora_csrf=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(csrf_cookie.contains(attribute), "{csrf_cookie}");
    }
    assert!(!csrf_cookie.contains("Secure"), "plain http: {csrf_cookie}");

    let token = app
        .keys
        .issue("acme", &[Scope::Read], "manager", Duration::from_secs(3600))
        .unwrap();
    let (resp, set) = browser.sign_in(&token).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/");
    let session = set.iter().find(|c| c.starts_with("dora_session=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Secure"), "{session}");
    let expires = session
        .split(';')
        .find_map(|a| a.trim().strip_prefix("Expires="))
        .unwrap();
    let expires = DateTime::parse_from_rfc2822(&expires.replace("GMT", "+0000")).unwrap();
    let exp = Utc::now() + chrono::Duration::seconds(3600);
    assert!(
        expires <= exp + chrono::Duration::seconds(2),
        "{expires} after {exp}"
    );
    assert!(expires > Utc::now() + chrono::Duration::seconds(3500));

    let (status, html) = browser.text("/").await;
    assert_eq!(status, 200);
    assert!(html.contains("data-organization=\"acme\""), "signed in");
    assert!(html.contains("action=\"/ui/sign-out\""));

    // Signing out ends the session.
    let csrf = browser.csrf();
    let origin = app.address.clone();
    let (resp, set) = browser
        .post("/ui/sign-out", Some(&origin), &[("csrf", &csrf)])
        .await;
    assert_eq!(resp.status(), 303);
    let cleared = set.iter().find(|c| c.starts_with("dora_session=")).unwrap();
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Path=/"),
        "{cleared}"
    );
    let (_, html) = browser.text("/").await;
    assert!(html.contains("name=\"token\""), "back to the sign-in form");
}

#[tokio::test]
async fn the_cookie_is_secure_behind_an_https_public_url() {
    let app = spawn_app_with(|args| {
        args.public_url = Some("https://dora.example.com".to_owned());
    })
    .await;
    let mut browser = Browser::new(&app);
    browser.get("/").await;
    let token = app.token("acme", &[Scope::Read]);
    let csrf = browser.csrf();
    // The Origin must be the public URL's.
    let (resp, _) = browser
        .post(
            "/ui/sign-in",
            Some(&app.address.clone()),
            &[("token", &token), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(resp.status(), 403);
    let (resp, set) = browser
        .post(
            "/ui/sign-in",
            Some("https://dora.example.com"),
            &[("token", &token), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let session = set.iter().find(|c| c.starts_with("dora_session=")).unwrap();
    assert!(session.contains("Secure"), "{session}");
}

#[tokio::test]
async fn forms_need_this_origin_and_the_csrf_token() {
    let app = spawn_app().await;
    let token = app.token("acme", &[Scope::Read]);
    let mut browser = Browser::new(&app);
    browser.get("/").await;
    let csrf = browser.csrf();
    let origin = app.address.clone();
    for (origin, csrf, why) in [
        (None, csrf.as_str(), "no Origin"),
        (Some("http://evil.example"), csrf.as_str(), "another origin"),
        (Some("null"), csrf.as_str(), "an opaque origin"),
        (Some(origin.as_str()), "", "no CSRF token"),
        (Some(origin.as_str()), &"0".repeat(64), "another CSRF token"),
    ] {
        let (resp, set) = browser
            .post("/ui/sign-in", origin, &[("token", &token), ("csrf", csrf)])
            .await;
        assert_eq!(resp.status(), 403, "{why}");
        assert!(!set.iter().any(|c| c.starts_with("dora_session=")), "{why}");
    }
    // Sign-out is checked the same way.
    browser.sign_in(&token).await;
    let (resp, _) = browser
        .post(
            "/ui/sign-out",
            Some("http://evil.example"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(resp.status(), 403);
    let (_, html) = browser.text("/").await;
    assert!(html.contains("data-organization"), "still signed in");
}

#[tokio::test]
async fn bad_tokens_show_the_form_again_with_a_message() {
    let app = spawn_app().await;
    let expired = {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let now = Utc::now().timestamp();
        encode(
            &Header::default(),
            &json!({"org": "acme", "scope": "read", "exp": now - 120, "iss": "dora-tracker",
                    "aud": "dora-tracker"}),
            &EncodingKey::from_secret(crate::helpers::SECRET.as_bytes()),
        )
        .unwrap()
    };
    let ingest = app.token("acme", &[Scope::Ingest]);
    for (token, status, needle) in [
        ("not a token", 401, "not accepted"),
        (expired.as_str(), 401, "expired"),
        (ingest.as_str(), 403, "read"),
        ("", 401, "Paste a token"),
    ] {
        let mut browser = Browser::new(&app);
        let (resp, set) = browser.sign_in(token).await;
        assert_eq!(resp.status().as_u16(), status, "{needle}");
        assert!(!set.iter().any(|c| c.starts_with("dora_session=")));
        let html = resp.text().await.unwrap();
        assert!(html.contains("role=\"alert\""), "{html}");
        assert!(html.contains(needle), "{needle}: {html}");
        assert!(html.contains("name=\"token\""));
    }
    // A session cookie whose token no longer verifies ends with a message.
    let mut browser = Browser::new(&app);
    browser.get("/").await;
    browser
        .cookies
        .push(("dora_session".to_owned(), expired.clone()));
    let (resp, set) = browser.get("/").await;
    assert_eq!(resp.status(), 401);
    assert!(set.iter().any(|c| c.starts_with("dora_session=;")));
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Your session has ended")
    );
}

#[tokio::test]
async fn every_answer_of_the_page_carries_the_security_headers() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    let record = app
        .create_deployment(&token, &deployment("https://github.com/acme/web", 1))
        .await;
    let mut browser = Browser::new(&app);
    let paths_signed_out = [
        "/",
        "/ui/app.css",
        "/ui/icon.svg",
        "/ui/nope",
        "/ui/explain",
    ];
    for path in paths_signed_out {
        let (resp, _) = browser.get(path).await;
        assert_headers(&resp, path);
    }
    browser.sign_in(&app.token("acme", &[Scope::Read])).await;
    let id = record["id"].as_str().unwrap();
    for path in [
        "/".to_owned(),
        "/?window=bogus".to_owned(),
        "/ui/explain?metric=change_failure_rate".to_owned(),
        "/ui/explain?metric=nope".to_owned(),
        format!("/ui/deployments/{id}"),
        "/ui/deployments/not-an-id".to_owned(),
    ] {
        let (resp, _) = browser.get(&path).await;
        assert_headers(&resp, &path);
        if path.contains("nope") || path.contains("bogus") {
            assert_eq!(resp.status(), 400, "{path}");
        }
        if path.contains("not-an-id") {
            assert_eq!(resp.status(), 404, "{path}");
        }
    }
    // The rest of the service is where it was.
    for (path, status) in [
        ("/healthz", 200),
        ("/openapi.json", 200),
        ("/openapi.yaml", 200),
        ("/metrics", 200),
        ("/docs", 200),
    ] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
    }
    let resp = app.get("/api/v1/nope", &token).await;
    assert_eq!(resp.status(), 404);
}

fn assert_headers(resp: &reqwest::Response, path: &str) {
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    assert!(!csp.contains("script-src"), "{path}: no script is allowed");
    assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
    assert_eq!(h["referrer-policy"], "same-origin", "{path}");
}

#[tokio::test]
async fn the_overview_shows_the_json_apis_numbers_and_escapes_everything() {
    let app = spawn_app().await;
    let token = app.rw_token("acme");
    history(&app, &token).await;
    let mut xss = deployment("https://github.com/acme/web", 99);
    xss["title"] = json!("<img src=x onerror=alert(1)>");
    xss["branch"] = json!("\"><b>branch");
    app.create_deployment(&token, &xss).await;
    // Another organization's deployments never show.
    let globex = app.rw_token("globex");
    let mut secret = deployment("https://github.com/globex/secret", 1);
    secret["title"] = json!("globex secret deploy");
    let globex_record = app.create_deployment(&globex, &secret).await;

    let mut browser = Browser::new(&app);
    browser.sign_in(&app.token("acme", &[Scope::Read])).await;
    let to = Utc::now() + chrono::Duration::minutes(1);
    let from = to - chrono::Duration::days(20);
    let window = format!("from={}&to={}", encode(&rfc(from)), encode(&rfc(to)));
    for filters in [
        "",
        "&team=platform",
        "&environment=production&benchmark=2021",
    ] {
        let (status, html) = browser.text(&format!("/?{window}{filters}")).await;
        assert_eq!(status, 200, "{filters}: {html}");
        let summary: Value = app
            .get(&format!("/api/v1/metrics/dora?{window}{filters}"), &token)
            .await
            .json()
            .await
            .unwrap();
        let values = data_values(&html);
        let cards: Vec<&(String, String)> = values.iter().take(5).collect();
        assert_eq!(
            cards.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
            [
                "deployment_frequency.per_day",
                "change_lead_time.median_seconds",
                "change_failure_rate.rate",
                "failed_deployment_recovery_time.median_seconds",
                "deployment_rework_rate.rate",
            ]
        );
        for (metric, value) in cards {
            same_number(
                value,
                field(&summary, metric),
                &format!("{filters} {metric}"),
            );
        }
        assert!(!html.contains("globex"), "{filters}");
    }

    let (_, html) = browser.text(&format!("/?{window}")).await;
    assert!(!html.contains("<img src=x"), "a title is escaped");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(
        !html.contains("<script>alert(2)"),
        "an incident title is escaped"
    );
    assert!(html.contains("&lt;script&gt;alert(2)&lt;/script&gt; outage"));
    assert!(!html.contains("web <&> \"team\""), "a team name is escaped");
    assert!(html.contains("web &lt;&amp;&gt; &quot;team&quot;"));
    assert!(
        html.contains("✗ Change failure"),
        "a recent change failure is marked"
    );

    // Breakdown rows are /breakdown's.
    for by in ["repository", "team", "environment"] {
        let (_, html) = browser.text(&format!("/?{window}&by={by}")).await;
        let api: Value = app
            .get(
                &format!("/api/v1/metrics/dora/breakdown?by={by}&{window}"),
                &token,
            )
            .await
            .json()
            .await
            .unwrap();
        let rows = api["rows"].as_array().unwrap();
        assert!(!rows.is_empty());
        let cells: Vec<(String, String)> = data_values(&html).into_iter().skip(5).collect();
        // Five cells per row, after the cards, before the incidents' line.
        for (k, row) in rows.iter().enumerate() {
            for (j, metric) in [
                "deployment_frequency.per_day",
                "change_lead_time.median_seconds",
                "change_failure_rate.rate",
                "failed_deployment_recovery_time.median_seconds",
                "deployment_rework_rate.rate",
            ]
            .iter()
            .enumerate()
            {
                let (shown_metric, shown) = &cells[k * 5 + j];
                assert_eq!(shown_metric, metric);
                same_number(shown, field(row, metric), &format!("{by} {}", row["group"]));
            }
        }
    }

    // The drill-down lists as many facts as the JSON listing, and links each deployment.
    let (status, html) = browser
        .text(&format!("/ui/explain?metric=change_failure_rate&{window}"))
        .await;
    assert_eq!(status, 200);
    let api: Value = app
        .get(
            &format!("/api/v1/metrics/dora/explain?metric=change_failure_rate&{window}"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    let total = api["total"].as_u64().unwrap();
    assert!(total > 10);
    assert!(html.contains(&format!("data-total=\"{total}\"")));
    assert_eq!(
        html.matches("<tr data-deployment=").count() as u64,
        total,
        "one row per fact"
    );
    let first = api["items"][0]["deployment"]["id"].as_str().unwrap();
    assert!(html.contains(&format!("href=\"/ui/deployments/{first}\"")));
    let (status, record) = browser.text(&format!("/ui/deployments/{first}")).await;
    assert_eq!(status, 200);
    assert!(record.contains("Deployment #"));

    // Another organization's deployment is not found, like an unknown one.
    let other = globex_record["id"].as_str().unwrap();
    let (status, html) = browser.text(&format!("/ui/deployments/{other}")).await;
    assert_eq!(status, 404);
    assert!(!html.contains("globex secret"));
}
