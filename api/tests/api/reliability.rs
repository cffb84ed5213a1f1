//! Faults: the database going away under load (a private PostgreSQL cluster the test stops
//! and crashes), the service killed mid-request, a start against an unreachable database,
//! and what the log shows at debug level. Each scenario prints a `RELIABILITY …` line with
//! what it measured (RELIABILITY.md records them); bounds are asserted with a margin for a
//! loaded machine.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
use serde_json::Value;

use crate::{
    helpers::{count_deployments, deployment, on_postgres, spawn_app_at, test_database},
    pg_cluster::PgCluster,
    process::{ServiceProcess, command, raw_exchange},
};

const REPO: &str = "https://github.com/acme/web";

/// A token for `acme` signed with the test key (for services started as processes).
fn test_token(scopes: &[api::auth::Scope]) -> String {
    api::auth::JwtKeys::new(
        &api::domain::Secret::new(crate::helpers::SECRET),
        crate::helpers::ISSUER,
        crate::helpers::AUDIENCE,
    )
    .unwrap()
    .issue("acme", scopes, "test", Duration::from_secs(600))
    .unwrap()
}

/// What the load saw.
#[derive(Default)]
struct Observed {
    /// Key → the deployment id its 201 named (the acknowledged writes).
    acknowledged: HashMap<String, String>,
    /// Keys whose 201 was a replay of an earlier attempt's commit.
    replayed: usize,
    /// Slowest answer that was a 503.
    slowest_503: Duration,
    count_503: usize,
    /// Any status other than 201 and 503, with its body.
    unexpected: Vec<String>,
    /// When each 201 arrived.
    successes: Vec<Instant>,
}

/// `clients` loops posting new deployments, each retried with its key until 201 (a 503 must
/// carry `Retry-After` and problem+json), until `stop`.
fn load(
    base: String,
    token: String,
    clients: u32,
    stop: Arc<AtomicBool>,
    observed: Arc<Mutex<Observed>>,
) -> tokio::task::JoinSet<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (base, token, stop, observed) = (
            base.clone(),
            token.clone(),
            Arc::clone(&stop),
            Arc::clone(&observed),
        );
        tasks.spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let key = format!("c{c}-{n}");
                let body = deployment(REPO, c * 100_000 + n);
                loop {
                    let sent = Instant::now();
                    let resp = client
                        .post(format!("{base}/api/v1/deployments"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", &key)
                        .json(&body)
                        .send()
                        .await;
                    let Ok(resp) = resp else {
                        // The service is up throughout; a transport error is a defect.
                        observed
                            .lock()
                            .unwrap()
                            .unexpected
                            .push(format!("{resp:?}"));
                        break;
                    };
                    let took = sent.elapsed();
                    let status = resp.status().as_u16();
                    let replayed = resp.headers().contains_key("idempotent-replayed");
                    let retry_after = resp.headers().get("retry-after").cloned();
                    let content_type = resp
                        .headers()
                        .get("content-type")
                        .map(|v| v.to_str().unwrap_or_default().to_owned())
                        .unwrap_or_default();
                    let text = resp.text().await.unwrap_or_default();
                    // `true`: done with this key.
                    let done = {
                        let mut seen = observed.lock().unwrap();
                        match status {
                            201 => {
                                let json: Value = serde_json::from_str(&text).unwrap();
                                let id = json["id"].as_str().unwrap().to_owned();
                                if let Some(earlier) =
                                    seen.acknowledged.insert(key.clone(), id.clone())
                                {
                                    assert_eq!(earlier, id, "a key named two deployments");
                                }
                                seen.replayed += usize::from(replayed);
                                seen.successes.push(Instant::now());
                                true
                            }
                            503 if retry_after.is_some()
                                && content_type.starts_with("application/problem+json") =>
                            {
                                seen.count_503 += 1;
                                seen.slowest_503 = seen.slowest_503.max(took);
                                false
                            }
                            _ => {
                                seen.unexpected
                                    .push(format!("{status} {content_type}: {text}"));
                                true
                            }
                        }
                    };
                    if done {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
    }
    tasks
}

/// Polls `/readyz` until it answers `want`; returns how long each probe took (the slowest)
/// and when it first answered `want`.
async fn readyz_until(base: &str, want: u16, within: Duration) -> (Duration, Instant) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + within;
    let mut slowest = Duration::ZERO;
    while Instant::now() < deadline {
        let sent = Instant::now();
        let status = client
            .get(format!("{base}/readyz"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        slowest = slowest.max(sent.elapsed());
        if status == want {
            return (slowest, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/readyz never answered {want}");
}

/// PostgreSQL stops (`-m immediate`, connections cut mid-statement) and later crashes
/// (`kill -9`) under a load of 4 clients: while it is down, requests fail within 2 s with
/// 503 problem+json and `Retry-After`, `/readyz` answers 503 within 1 s; when it is back,
/// requests succeed again without a restart; every acknowledged write is stored exactly
/// once, and retries with the same key create no duplicate. PostgreSQL only (the fault is
/// a PostgreSQL server going away; it runs in the PostgreSQL pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_outages_fail_fast_and_recover() {
    if !on_postgres() {
        eprintln!("skipped: the outage scenario needs PostgreSQL (DORA_TEST_DATABASE_URL)");
        return;
    }
    let cluster = tokio::task::spawn_blocking(PgCluster::start).await.unwrap();
    let url = cluster.url();
    let app = spawn_app_at(&url, |_| {}).await;
    let token = app.rw_token("acme");
    let stop = Arc::new(AtomicBool::new(false));
    let observed = Arc::new(Mutex::new(Observed::default()));
    let mut tasks = load(
        app.address.clone(),
        token,
        4,
        Arc::clone(&stop),
        Arc::clone(&observed),
    );
    let mut report = Vec::new();
    for (fault, outage) in [
        ("stop -m immediate", Duration::from_secs(3)),
        ("kill -9", Duration::from_secs(3)),
    ] {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = observed.lock().unwrap().acknowledged.len();
        assert!(
            before > 0 || fault == "kill -9",
            "the load runs before the fault"
        );
        let cluster_ref = &cluster;
        let down_at = Instant::now();
        if fault == "kill -9" {
            tokio::task::block_in_place(|| cluster_ref.kill());
        } else {
            tokio::task::block_in_place(|| cluster_ref.stop_immediate());
        }
        let (ready_probe, _) = readyz_until(&app.address, 503, Duration::from_secs(10)).await;
        tokio::time::sleep(outage.saturating_sub(down_at.elapsed())).await;
        tokio::task::block_in_place(|| cluster_ref.restart());
        let up_at = Instant::now();
        readyz_until(&app.address, 200, Duration::from_secs(30)).await;
        // Recovered when a write succeeds again.
        let deadline = Instant::now() + Duration::from_secs(30);
        let recovered = loop {
            let first = observed
                .lock()
                .unwrap()
                .successes
                .iter()
                .copied()
                .find(|t| *t > up_at);
            if let Some(t) = first {
                break t - up_at;
            }
            assert!(Instant::now() < deadline, "writes never succeeded again");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        report.push(format!(
            "{fault} for {outage:?}: /readyz 503 within {ready_probe:?}, first write {recovered:?} after restart"
        ));
        assert!(ready_probe < Duration::from_millis(1500), "{report:?}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}

    // Every client has stopped: take what they saw.
    let seen = std::mem::take(&mut *observed.lock().unwrap());
    assert!(
        seen.unexpected.is_empty(),
        "unexpected answers: {:?}",
        seen.unexpected
    );
    assert!(seen.count_503 > 0, "the outages were seen");
    assert!(
        seen.slowest_503 < Duration::from_secs(3),
        "a 503 took {:?} (the bound is 2 s)",
        seen.slowest_503
    );
    // Nothing acknowledged is lost, nothing is stored twice.
    let stored = count_deployments(&url).await;
    assert_eq!(
        stored,
        seen.acknowledged.len() as u64,
        "rows = acknowledged keys"
    );
    let db = Database::connect(url.as_str()).await.unwrap();
    for id in seen.acknowledged.values() {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM deployments WHERE id = $1",
                [uuid::Uuid::parse_str(id).unwrap().into()],
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1, "{id}");
    }
    eprintln!(
        "RELIABILITY outage: 4 clients; {}; {} writes acknowledged, {} stored, {} lost, 0 duplicates; \
         {} answers 503 (slowest {:?}), {} retries answered by a replay",
        report.join("; "),
        seen.acknowledged.len(),
        stored,
        seen.acknowledged.len() as u64 - stored.min(seen.acknowledged.len() as u64),
        seen.count_503,
        seen.slowest_503,
        seen.replayed
    );
    drop(db);
}

/// `serve` against a PostgreSQL that is not there says why ("Connection refused") within
/// seconds, not a pool timeout after 30 s.
#[tokio::test]
async fn serve_against_an_unreachable_postgresql_says_connection_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        command(&[(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/dora"),
        )])
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.to_lowercase().contains("connection refused"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    eprintln!(
        "RELIABILITY unreachable at start: failed in {took:?}: {}",
        stderr.trim()
    );
}

/// The service is killed (`kill -9`) while requests with idempotency keys are in progress;
/// a new instance on the same database accepts the retry of every one at once: 201 (a
/// replay for the ones that committed before the kill), one row per key. (A key's claim
/// used to outlive its request and answer 409 for five minutes.) On PostgreSQL the
/// requests are held mid-transaction by a table lock the test takes, so the kill always
/// lands after their claims; on SQLite it lands in a burst of 200.
#[tokio::test]
async fn a_killed_service_leaves_no_key_behind() {
    let (url, _database) = test_database().await;
    let mut service = ServiceProcess::start(&[("DATABASE_URL", url.clone())]);
    let token = test_token(&[api::auth::Scope::Ingest, api::auth::Scope::Read]);
    let requests: u32 = if on_postgres() { 8 } else { 200 };
    // PostgreSQL: hold every insert into deployments until after the kill.
    let blocker = if on_postgres() {
        let db = Database::connect(url.as_str()).await.unwrap();
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("LOCK TABLE deployments IN EXCLUSIVE MODE")
            .await
            .unwrap();
        Some((db, txn))
    } else {
        None
    };
    let client = reqwest::Client::new();
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut inflight = tokio::task::JoinSet::new();
    for n in 0..requests {
        let (client, base, token) = (client.clone(), service.base.clone(), token.clone());
        let answered = Arc::clone(&answered);
        inflight.spawn(async move {
            let resp = client
                .post(format!("{base}/api/v1/deployments"))
                .bearer_auth(token)
                .header("Idempotency-Key", format!("k{n}"))
                .json(&deployment(REPO, n))
                .timeout(Duration::from_secs(60))
                .send()
                .await;
            if resp.is_ok_and(|r| r.status() == 201) {
                answered.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    if let Some((db, _)) = &blocker {
        // Wait until the service's transactions are waiting on the lock (past their claims).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND datname = current_database()",
                ))
                .await
                .unwrap()
                .unwrap();
            if row.try_get::<i64>("", "n").unwrap() > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "no request reached the lock");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    } else {
        // Some committed and answered, the rest still queued for the writer.
        let deadline = Instant::now() + Duration::from_secs(30);
        while answered.load(Ordering::Relaxed) < 10 {
            assert!(Instant::now() < deadline, "no request was answered");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    service.kill();
    let answered_before_kill = answered.load(Ordering::Relaxed);
    let killed_at = Instant::now();
    if let Some((db, txn)) = blocker {
        txn.rollback().await.unwrap();
        db.close().await.unwrap();
    }
    inflight.abort_all();

    let again = spawn_app_at(&url, |_| {}).await;
    let mut replayed = 0;
    for n in 0..requests {
        let resp = again
            .client
            .post(again.url("/api/v1/deployments"))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("k{n}"))
            .json(&deployment(REPO, n))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        replayed += usize::from(resp.headers().contains_key("idempotent-replayed"));
        assert_eq!(status, 201, "k{n}: {}", resp.text().await.unwrap());
    }
    let took = killed_at.elapsed();
    assert_eq!(again.deployment_rows().await, u64::from(requests));
    assert!(took < Duration::from_secs(30), "{took:?}");
    eprintln!(
        "RELIABILITY kill -9: {requests} requests sent, {answered_before_kill} answered before the \
         kill; every retry 201 ({replayed} replays) within {took:?} of the kill, {requests} rows"
    );
    assert!(
        replayed >= answered_before_kill,
        "an acknowledged write was lost"
    );
}

/// With `RUST_LOG=debug`, a deploy hook's secret never reaches the log, whatever spelling
/// of its URL arrives; and the service warns once at start that `/metrics` is open.
#[tokio::test]
async fn odd_spellings_of_hook_urls_never_log_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/dora.db?mode=rwc", dir.path().display());
    let mut service =
        ServiceProcess::start(&[("DATABASE_URL", url), ("RUST_LOG", "debug".to_owned())]);
    let admin = test_token(&[api::auth::Scope::Admin]);
    let created: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/deploy-hooks", service.base))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"name": "prod", "repository_url": REPO, "branch": "main"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let encoded: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    let addr = service.base.trim_start_matches("http://").to_owned();
    for path in [
        format!("/hooks/{secret}"),
        format!("//hooks/{secret}"),
        format!("/hooks//{secret}"),
        format!("/./hooks/{secret}"),
        format!("/x/../hooks/{secret}"),
        format!("/%68ooks/{secret}"),
        format!("/hooks%2F{secret}"),
        format!("/hooks/{encoded}"),
        format!("//hooks/{secret}/12/abcdef1"),
        format!("/HOOKS/{secret}?commit=abc"),
    ] {
        for method in ["GET", "POST"] {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: dora\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            raw_exchange(&addr, request.as_bytes(), Duration::from_secs(10)).await;
        }
    }
    service.terminate();
    assert!(
        service.wait_exit(Duration::from_secs(20)).is_some(),
        "SIGTERM stops it"
    );
    let log = service.log();
    assert!(
        log.contains("/hooks/[redacted]"),
        "the access log is captured: {log}"
    );
    assert!(!log.contains(&secret), "the secret was logged:\n{log}");
    assert!(
        !log.contains(&encoded),
        "the encoded secret was logged:\n{log}"
    );
    let warnings = log
        .lines()
        .filter(|l| l.contains("DORA_METRICS_TOKEN") && l.contains("WARN"))
        .count();
    assert_eq!(warnings, 1, "one warning that /metrics is open:\n{log}");
}
