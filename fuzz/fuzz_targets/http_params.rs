//! The query and path parameters whose parsers are private to their handlers, reached
//! through the whole application in-process (no socket): the deploy-hook trigger parameters
//! (`commit`, `branch`, `status`, `force`, the preview form's `pr_number`/`commit_sha`:
//! `TriggerParams::validate`), the list cursors (deployments: an integer; incidents:
//! `decode_cursor`, `RFC3339_uuid`; the audit log) and the `since`/`until`/`from`/`to`
//! filters. One SQLite in-memory database with real migrations, one hook, one admin token.
//! Property: no input yields a 5xx (or a panic).
//!
//! Input: fields separated by 0xFF bytes (invalid UTF-8, so a field never contains one),
//! percent-encoded into the URLs as they come.
#![no_main]

use std::{sync::OnceLock, time::Duration};

use api::{
    AppSettings,
    auth::{JwtKeys, Scope},
    compat::hooks::HookRuntime,
    config::{DbArgs, HookArgs},
    openapi_service,
    snapshot::DoraSnapshot,
    state::AppState,
    store::Db,
    telemetry::ServiceMetrics,
};
use libfuzzer_sys::fuzz_target;
use poem::{Body, Endpoint, EndpointExt, Request, endpoint::BoxEndpoint, http::Method};

struct Harness {
    runtime: tokio::runtime::Runtime,
    app: BoxEndpoint<'static>,
    token: String,
    secret: String,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (app, token, secret) = runtime.block_on(async {
            let db = Db::connect(&DbArgs {
                database_url: "sqlite::memory:".to_owned(),
                db_max_connections: 1,
                sqlite_synchronous: "normal".to_owned(),
            })
            .await
            .expect("database");
            db.migrate().await.expect("migrations");
            let jwt = JwtKeys::new(&[7u8; 32], "dora-tracker", "dora-tracker").expect("keys");
            let token = jwt
                .issue("acme", &[Scope::Admin], "fuzz", Duration::from_secs(7 * 86400))
                .expect("token");
            let hooks = HookRuntime::new(&HookArgs {
                hook_rate_per_minute: 1_000_000,
                hook_burst: 1_000_000,
                hook_org_rate_per_minute: 1_000_000,
                hook_org_burst: 1_000_000,
                hook_dedupe_seconds: 60,
            })
            .expect("hook settings");
            let state =
                AppState::new(db, jwt, chrono::Duration::hours(24)).with_hook_runtime(hooks);
            let settings = AppSettings {
                max_body_bytes: 1024 * 1024,
                metrics_token: None,
                metrics: ServiceMetrics::new(&openapi_service().spec()).expect("metrics"),
                snapshot: DoraSnapshot::default(),
                snapshot_windows: vec![30],
                snapshot_interval: Duration::from_secs(3600),
            };
            let app = api::app(state, settings).map_to_response().boxed();
            let created = app
                .get_response(
                    Request::builder()
                        .method(Method::POST)
                        .uri_str("/api/v1/deploy-hooks")
                        .header("Authorization", format!("Bearer {token}"))
                        .header("Content-Type", "application/json")
                        .body(Body::from_string(
                            r#"{"name":"fuzz","repository_url":"https://github.com/acme/web","branch":"main"}"#
                                .to_owned(),
                        )),
                )
                .await;
            assert_eq!(created.status().as_u16(), 201, "creating the hook");
            let body: serde_json::Value =
                serde_json::from_slice(&created.into_body().into_vec().await.expect("body"))
                    .expect("hook JSON");
            let secret = body["secret"].as_str().expect("secret").to_owned();
            (app, token, secret)
        });
        Harness {
            runtime,
            app,
            token,
            secret,
        }
    })
}

/// Percent-encodes every byte that is not unreserved, so the field arrives as sent.
fn enc(field: &[u8]) -> String {
    let mut out = String::with_capacity(field.len() * 3);
    for &b in field {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let mut fields = data.split(|&b| b == 0xFF).map(enc);
    let mut next = || fields.next().unwrap_or_default();
    let (f0, f1, f2, f3, f4) = (next(), next(), next(), next(), next());
    let s = &h.secret;
    let requests = [
        (
            Method::GET,
            format!("/hooks/{s}?commit={f0}&branch={f1}&status={f2}&force={f3}"),
            false,
        ),
        (
            Method::POST,
            format!("/hooks/{s}?commit={f0}&branch={f1}&status={f2}&force={f3}"),
            false,
        ),
        (
            Method::GET,
            format!("/hooks/{s}/{f4}/{f0}?branch={f1}&status={f2}&force={f3}"),
            false,
        ),
        (
            Method::GET,
            format!("/api/v1/deployments?cursor={f0}&since={f3}&until={f4}"),
            true,
        ),
        (Method::GET, format!("/api/v1/incidents?cursor={f1}"), true),
        (
            Method::GET,
            format!("/api/v1/admin/audit-log?cursor={f2}"),
            true,
        ),
        (
            Method::GET,
            format!("/api/v1/metrics/dora?from={f3}&to={f4}"),
            true,
        ),
    ];
    h.runtime.block_on(async {
        for (method, uri, auth) in requests {
            let mut req = Request::builder().method(method.clone()).uri_str(&uri);
            if auth {
                req = req.header("Authorization", format!("Bearer {}", h.token));
            }
            let resp = h.app.get_response(req.finish()).await;
            let status = resp.status();
            if status.is_server_error() {
                let body = resp.into_body().into_string().await.unwrap_or_default();
                panic!("{method} {uri} answered {status}: {body}");
            }
        }
    });
});
