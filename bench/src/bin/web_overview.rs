//! The web page's overview over an organization with 10,000 deployments on SQLite
//! (BENCHMARKS.md, "The web page"): server time and page weight.
//!
//! Starts the real service (`api::Application`) on a fresh SQLite file, records a history
//! through the public API (`POST /api/v1/deployments` and `/incidents`, 16 clients: 20
//! repositories in 5 teams, production and staging, failures, hotfixes, rollbacks, two commits
//! each, one incident per 40 deployments, spread over `--days` up to now), signs in through
//! the page's own form, then times `GET /` (and a drill-down) on loopback: 3 warm-ups, then
//! `--runs` timed requests each, median and p90 of the time to the last byte. It reports the
//! page weight: the HTML (with its inline SVG charts), the stylesheet and the icon; the page
//! has no script.
//!
//! ```text
//! cargo run --release -p bench --bin web_overview
//! ```
//!
//! Options: `--deployments N` (10,000), `--days N` (365), `--runs N` (30), `--sqlite-file PATH`,
//! `--skip-load` (reuse the file of a previous run).
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use api::{
    Application,
    auth::{JwtKeys, Scope},
    domain::Secret,
    settings::{ServeArgs, Settings},
};
use chrono::{TimeDelta, Utc};
use clap::Parser;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";
const ORG: &str = "bench";
const CLIENTS: usize = 16;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    deployments: usize,
    /// Days of history, up to now.
    #[arg(long, default_value_t = 365)]
    days: i64,
    #[arg(long, default_value_t = 30)]
    runs: usize,
    #[arg(long, default_value = "/tmp/dora-bench-web.db")]
    sqlite_file: String,
    #[arg(long)]
    skip_load: bool,
}

fn rfc(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Records `count` deployments (client `client` of `CLIENTS` takes every CLIENTS-th one).
async fn record(
    http: reqwest::Client,
    base: String,
    token: String,
    client: usize,
    count: usize,
    days: i64,
) -> Result<usize> {
    let mut rng = StdRng::seed_from_u64(client as u64);
    let now = Utc::now();
    let mut incidents = 0;
    for n in (client..count).step_by(CLIENTS) {
        let repository = n % 20;
        let at = now - TimeDelta::seconds(rng.random_range(60..days * 86_400));
        let failed = rng.random_bool(0.1);
        let environment = if rng.random_bool(0.7) {
            "production"
        } else {
            "staging"
        };
        let body = json!({
            "title": format!("Release {n}"),
            "branch": "main",
            "commit_id": format!("{:040x}", n * 4 + 1),
            "repository_url": format!("https://github.com/bench/service-{repository}"),
            "member_id": format!("member-{}", n % 37),
            "pull_request_number": n,
            "environment": environment,
            "team": format!("team-{}", repository % 5),
            "status": if failed { "failure" } else { "success" },
            "started_at": rfc(at - TimeDelta::minutes(8)),
            "finished_at": rfc(at),
            "is_hotfix": !failed && rng.random_bool(0.05),
            "is_rollback": !failed && rng.random_bool(0.03),
            "commits": [
                {"sha": format!("{:040x}", n * 4 + 1), "committed_at": rfc(at - TimeDelta::minutes(rng.random_range(30..5_000)))},
                {"sha": format!("{:040x}", n * 4 + 2), "committed_at": rfc(at - TimeDelta::minutes(rng.random_range(30..5_000)))},
            ],
        });
        let resp = http
            .post(format!("{base}/api/v1/deployments"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        if resp.status() != 201 {
            bail!("deployment {n}: {} {}", resp.status(), resp.text().await?);
        }
        if n % 40 == 0 {
            let incident = json!({
                "title": format!("Incident after release {n}"),
                "repository_url": format!("https://github.com/bench/service-{repository}"),
                "environment": environment,
                "started_at": rfc(at + TimeDelta::minutes(20)),
                "resolved_at": if n % 120 == 0 { None } else { Some(rfc(at + TimeDelta::hours(3))) },
            });
            let resp = http
                .post(format!("{base}/api/v1/incidents"))
                .bearer_auth(&token)
                .json(&incident)
                .send()
                .await?;
            if resp.status() != 201 {
                bail!("incident {n}: {} {}", resp.status(), resp.text().await?);
            }
            incidents += 1;
        }
    }
    Ok(incidents)
}

/// The value of cookie `name` among a response's `Set-Cookie` headers.
fn cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| {
            let pair = line.split(';').next()?;
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    dora_metrics::percentile(sorted, p).unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !args.skip_load {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", args.sqlite_file));
        }
    }
    let mut serve = ServeArgs::from_env();
    serve.db.database_url = Secret::new(format!("sqlite://{}?mode=rwc", args.sqlite_file));
    serve.listen = "127.0.0.1:0".to_owned();
    serve.jwt.jwt_secret = Some(Secret::new(SECRET));
    serve.rust_log = "warn".to_owned();
    // No /metrics refresh during the timings.
    serve.metrics_refresh_seconds = 86_400;
    let settings = Settings::from_serve_args(serve).map_err(anyhow::Error::msg)?;
    let app = Application::build(settings).await?;
    let base = format!("http://{}", app.local_addr().context("bound address")?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let keys = JwtKeys::new(&Secret::new(SECRET), "dora-tracker", "dora-tracker")
        .map_err(anyhow::Error::msg)?;
    let ingest = keys.issue(ORG, &[Scope::Ingest], "bench", Duration::from_secs(7200))?;
    let read = keys.issue(ORG, &[Scope::Read], "manager", Duration::from_secs(7200))?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(CLIENTS)
        .build()?;

    if !args.skip_load {
        let started = Instant::now();
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|client| {
                tokio::spawn(record(
                    http.clone(),
                    base.clone(),
                    ingest.clone(),
                    client,
                    args.deployments,
                    args.days,
                ))
            })
            .collect();
        let mut incidents = 0;
        for task in tasks {
            incidents += task.await??;
        }
        println!(
            "recorded {} deployments and {incidents} incidents through the API in {:.1} s",
            args.deployments,
            started.elapsed().as_secs_f64()
        );
    }

    // Sign in through the page's own form.
    let form = http.get(format!("{base}/")).send().await?;
    let csrf = cookie(&form, "dora_csrf").context("no csrf cookie")?;
    let signed_in = http
        .post(format!("{base}/ui/sign-in"))
        .header("origin", &base)
        .header("cookie", format!("dora_csrf={csrf}"))
        .form(&[("token", read.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await?;
    let session = cookie(&signed_in, "dora_session").context("sign-in failed")?;
    let cookies = format!("dora_csrf={csrf}; dora_session={session}");

    let css = http
        .get(format!("{base}/ui/app.css"))
        .send()
        .await?
        .bytes()
        .await?
        .len();
    let icon = http
        .get(format!("{base}/ui/icon.svg"))
        .send()
        .await?
        .bytes()
        .await?
        .len();
    println!("stylesheet {css} bytes, icon {icon} bytes, script 0 bytes\n");
    println!("| page | median | p90 | HTML bytes | page weight (HTML + CSS + icon) |");
    println!("|---|---:|---:|---:|---:|");
    for path in [
        "/?window=30d",
        "/?window=90d",
        "/?window=365d",
        "/?window=30d&by=team",
        "/?window=90d&team=team-1",
        "/ui/explain?metric=change_failure_rate&window=30d",
        "/ui/explain?metric=change_lead_time&window=365d",
    ] {
        let mut times = Vec::with_capacity(args.runs);
        let mut bytes = 0;
        for run in 0..args.runs + 3 {
            let started = Instant::now();
            let resp = http
                .get(format!("{base}{path}"))
                .header("cookie", &cookies)
                .send()
                .await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            let elapsed = started.elapsed().as_secs_f64() * 1e3;
            if status != 200 || !body.starts_with(b"<!DOCTYPE html>") {
                bail!("{path}: {status}");
            }
            bytes = body.len();
            if run >= 3 {
                times.push(elapsed);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| `{path}` | {:.1} ms | {:.1} ms | {bytes} | {:.1} KB |",
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            (bytes + css + icon) as f64 / 1024.0
        );
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}
