//! The query and path parameters whose parsers are private to their handlers, reached
//! through the whole application in-process (no socket): the deploy-hook trigger parameters
//! (`commit`, `branch`, `status`, `force`, the preview form's `pr_number`/`commit_sha`:
//! `TriggerParams::validate`), the list cursors (deployments: an integer; incidents:
//! `decode_cursor`, `RFC3339_uuid`; the audit log) and the `since`/`until`/`from`/`to`
//! filters, and the text rule on every query string. One SQLite database (a temporary file)
//! with the real migrations, built by `Application::build` as `serve` builds it; one hook,
//! one admin token. Property: no input yields a 5xx (or a panic).
//!
//! Input: fields separated by 0xFF bytes (invalid UTF-8, so a field never contains one),
//! percent-encoded into the URLs as they come.
#![no_main]

use std::{sync::OnceLock, time::Duration};

use api::{
    Application,
    auth::{JwtKeys, Scope},
    domain::Secret,
    settings::{ServeArgs, Settings},
};
use libfuzzer_sys::fuzz_target;
use poem::{Body, Endpoint, EndpointExt, Request, endpoint::BoxEndpoint, http::Method};

struct Harness {
    runtime: tokio::runtime::Runtime,
    app: BoxEndpoint<'static>,
    token: String,
    secret: String,
    // Keeps the database file and the application (its pools, its workers) alive.
    _keep: (tempfile_dir::Dir, Application),
}

/// A directory removed when the process ends normally (libFuzzer exits through `exit`, so
/// this is best effort; it lives under the system temporary directory).
mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

const KEY: &str = "fuzz-secret-fuzz-secret-fuzz-secret-0123";

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = std::env::temp_dir().join(format!("dora-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (app, token, secret, application) = runtime.block_on(async {
            let mut args = ServeArgs::from_env();
            args.db.database_url =
                Secret::new(format!("sqlite://{}/dora.db?mode=rwc", dir.display()));
            // The parsers are the target, not durability: without an fsync per commit
            // (WAL + `normal`) the harness runs many more inputs in its bounded time.
            args.db.sqlite_synchronous = "normal".to_owned();
            args.listen = "127.0.0.1:0".to_owned();
            args.jwt.jwt_secret = Some(Secret::new(KEY));
            args.hooks.hook_rate_per_minute = 1_000_000;
            args.hooks.hook_burst = 1_000_000;
            args.hooks.hook_org_rate_per_minute = 1_000_000;
            args.hooks.hook_org_burst = 1_000_000;
            let settings = Settings::from_serve_args(args).expect("settings");
            let application = Application::build(settings).await.expect("application");
            let keys = JwtKeys::new(&Secret::new(KEY), "dora-tracker", "dora-tracker")
                .expect("keys");
            let token = keys
                .issue("acme", &[Scope::Admin], "fuzz", Duration::from_secs(7 * 86400))
                .expect("token");
            // The application in-process: no socket between the fuzzer and the handlers.
            let app = api::http::app(application.state().clone())
                .map_to_response()
                .boxed();
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
            (app, token, secret, application)
        });
        Harness {
            runtime,
            app,
            token,
            secret,
            _keep: (tempfile_dir::Dir(dir), application),
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
