//! What reading a create body costs, stage by stage (BENCHMARKS.md, "Ingest": the body read
//! twice). Times `JsonBody::<DeploymentIn>::parse` on the `ingest` bench's body (iftrue fields,
//! `environment`, `team`, 3 commits) and each of its stages: the JSON text to a value
//! (refusing duplicate keys), the text rule over every string, serde's typed read, and
//! poem-openapi's typed read (for the declared validators).
//!
//! ```text
//! cargo run --release -p bench --bin body_parse [-- --iterations N]
//! ```
//!
//! The numbers are CPU time per body on one core; under `valgrind --tool=callgrind` (with a
//! small `--iterations`) the instruction counts of the stages are independent of the load.
#![allow(clippy::print_stdout)]

use std::{hint::black_box, time::Instant};

use anyhow::Result;
use api::{
    domain::check_json_text,
    http::{
        body::{JsonBody, parse_unique_keys},
        shapes::deployment::DeploymentIn,
    },
};
use clap::Parser;
use poem_openapi::types::ParseFromJSON;

#[derive(Parser, Debug)]
struct Args {
    /// Bodies parsed per stage.
    #[arg(long, default_value_t = 200_000)]
    iterations: u32,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let body = serde_json::to_vec(&serde_json::json!({
        "title": "Deploy 1234",
        "changelog": "#1234 merged",
        "url": "https://ci.example.com/runs/1234",
        "branch": "main",
        "commit_id": "0123456789abcdef0123456789abcdef01234567",
        "deployment_duration": 3.5,
        "is_fix": false,
        "is_hotfix": false,
        "is_forced": false,
        "commits_count": 3,
        "member_id": "member-7",
        "pull_request_number": 1234,
        "repository_url": "https://github.com/acme/service-3",
        "deployment_node_id": "node-1234",
        "status": "success",
        "environment": "production",
        "team": "team-0",
        "commits": [
            {"sha": "1111111111111111111111111111111111111111", "committed_at": "2026-12-01T10:00:00Z"},
            {"sha": "2222222222222222222222222222222222222222", "committed_at": "2026-12-01T11:00:00Z"},
            {"sha": "3333333333333333333333333333333333333333", "committed_at": "2026-12-01T12:00:00Z"}
        ]
    }))?;
    let value = parse_unique_keys(&body).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!(
        "body of {} bytes, {} iterations per stage (load average {})",
        body.len(),
        args.iterations,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let n = args.iterations;
    let stage = |name: &str, f: &dyn Fn()| {
        let started = Instant::now();
        for _ in 0..n {
            f();
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        println!("| {name} | {per:.2} µs |");
        per
    };
    println!("| stage | CPU per body |\n|---|---:|");
    let whole = stage("JsonBody::<DeploymentIn>::parse (all below)", &|| {
        black_box(JsonBody::<DeploymentIn>::parse(black_box(&body)).is_ok());
    });
    stage("JSON text → value, duplicate keys refused", &|| {
        black_box(parse_unique_keys(black_box(&body)).is_ok());
    });
    stage("text rule over every string", &|| {
        black_box(check_json_text(black_box(&value)));
    });
    stage("serde: value → DeploymentIn (path errors)", &|| {
        black_box(serde_path_to_error::deserialize::<_, DeploymentIn>(black_box(&value)).is_ok());
    });
    let second = stage(
        "poem-openapi: value clone → DeploymentIn (validators)",
        &|| {
            black_box(DeploymentIn::parse_from_json(Some(black_box(&value).clone())).is_ok());
        },
    );
    println!(
        "the second typed read is {:.0} % of the whole parse",
        100.0 * second / whole
    );
    Ok(())
}
