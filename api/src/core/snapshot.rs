//! The DORA snapshot behind `/metrics`. A background task recomputes, every refresh
//! interval, the DORA values of every organization from the database (what to export from
//! `store::inventory`, the facts from `store::facts`, the values from the `dora_metrics`
//! engine), so every instance reports the same numbers
//! and a restart loses nothing. The snapshot is encoded to the text format once per refresh;
//! a scrape copies those bytes, so its cost depends neither on how many deployments are stored
//! nor on encoding. A failed refresh keeps the last snapshot; its age shows in
//! `dora_snapshot_age_seconds`.

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chrono::Utc;
use dora_metrics::{
    Benchmark, Window,
    exposition::{ScopeSummary, families, single_gauge},
};
use prometheus::{Encoder, TextEncoder, proto::MetricFamily};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::metrics::{GroupBy, group_facts};
use crate::store::{
    Db,
    facts::{self, MetricsScope, ScopeFacts},
    inventory,
};

/// What is served between refreshes.
#[derive(Clone)]
pub struct DoraSnapshot {
    inner: Arc<RwLock<State>>,
}

struct State {
    /// The snapshot's families, already in the text exposition format.
    text: Arc<[u8]>,
    /// When the last successful refresh finished (or the service started).
    refreshed: Instant,
    failures: u64,
}

impl Default for DoraSnapshot {
    fn default() -> Self {
        Self {
            inner: Arc::new(RwLock::new(State {
                text: Arc::from(Vec::new()),
                refreshed: Instant::now(),
                failures: 0,
            })),
        }
    }
}

impl DoraSnapshot {
    /// For a scrape: the snapshot's age and failure count as families, and the snapshot's
    /// encoded text (shared, not copied).
    pub fn current(&self) -> (Vec<MetricFamily>, Arc<[u8]>) {
        let Ok(state) = self.inner.read() else {
            return (Vec::new(), Arc::from(Vec::new()));
        };
        let mut out = Vec::with_capacity(2);
        if let Ok(age) = single_gauge(
            "dora_snapshot_age_seconds",
            "Seconds since the DORA values were last computed from the database",
            state.refreshed.elapsed().as_secs_f64(),
        ) {
            out.extend(age);
        }
        if let Ok(failures) = single_gauge(
            "dora_snapshot_refresh_failures",
            "Failed refreshes of the DORA values since the service started",
            state.failures as f64,
        ) {
            out.extend(failures);
        }
        (out, Arc::clone(&state.text))
    }

    fn store(&self, text: Vec<u8>) {
        if let Ok(mut state) = self.inner.write() {
            state.text = Arc::from(text);
            state.refreshed = Instant::now();
        }
    }

    fn failed(&self) {
        if let Ok(mut state) = self.inner.write() {
            state.failures += 1;
        }
    }
}

/// Refreshes `snapshot` every `interval` until the task is dropped.
pub async fn refresh_forever(
    db: Db,
    snapshot: DoraSnapshot,
    windows: Vec<i64>,
    interval: Duration,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = Instant::now();
        match compute_text(&db, &windows).await {
            Ok(text) => {
                snapshot.store(text);
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "DORA snapshot refreshed"
                );
            }
            Err(e) => {
                snapshot.failed();
                tracing::warn!(error = %e, "DORA snapshot refresh failed; serving the previous one");
            }
        }
    }
}

/// The snapshot in the text exposition format.
async fn compute_text(db: &Db, windows: &[i64]) -> Result<Vec<u8>, DbErr> {
    let families = compute_families(db, windows).await?;
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut text)
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok(text)
}

/// Every series of one snapshot is computed from one state of the database (a read-only
/// snapshot transaction): the organization-wide gauges and the per-stream ones never disagree
/// because a deployment landed between two of the refresh's reads.
async fn compute_families(db: &Db, windows: &[i64]) -> Result<Vec<MetricFamily>, DbErr> {
    let txn = db.begin_snapshot().await?;
    let families = compute_families_in(&txn, windows).await;
    // Read-only: ending it either way discards nothing.
    txn.rollback().await?;
    families
}

async fn compute_families_in<C: ConnectionTrait>(
    conn: &C,
    windows: &[i64],
) -> Result<Vec<MetricFamily>, DbErr> {
    let now = Utc::now();
    let organizations = inventory::organizations(conn).await?;
    let repositories = inventory::repositories(conn).await?;

    let mut scopes = Vec::new();
    let (mut deployments, mut incidents) = (Vec::new(), Vec::new());
    for (org_id, slug) in &organizations {
        for &days in windows {
            let Ok(window) = Window::last_days(days, now) else {
                continue;
            };
            let label = format!("{days}d");
            let org = (*org_id, slug.as_str());
            deployments.extend(inventory::deployment_counts(conn, org, &window, &label).await?);
            incidents.extend(inventory::incident_counts(conn, org, &window, &label).await?);
            let row = |repository: &str, environment: &str, team: &str, summary| ScopeSummary {
                organization: slug.clone(),
                repository: repository.to_owned(),
                environment: environment.to_owned(),
                team: team.to_owned(),
                window: label.clone(),
                summary,
            };
            // All production environments, all repositories: what /api/v1/metrics/dora answers.
            let production = facts::load(conn, &scope(*org_id, None), &window).await?;
            scopes.push(row("*", "*", "*", compute(&production, &window)));
            // Each team across its repositories (`team="…"`, `repository="*"`): what
            // /api/v1/metrics/dora?team=… answers.
            for ((team, _), facts) in
                group_facts(&production, GroupBy::Team, &window, &repositories)
            {
                if let Some(team) = team {
                    scopes.push(row("*", "*", &team, compute(&facts, &window)));
                }
            }
            // Each environment with deployments in the window, whole and per repository.
            for environment in inventory::environments(conn, *org_id, &window).await? {
                let facts =
                    facts::load(conn, &scope(*org_id, Some(environment.clone())), &window).await?;
                scopes.push(row("*", &environment, "*", compute(&facts, &window)));
                for ((team, _), facts) in group_facts(&facts, GroupBy::Team, &window, &repositories)
                {
                    if let Some(team) = team {
                        scopes.push(row("*", &environment, &team, compute(&facts, &window)));
                    }
                }
                for ((_, repository_id), facts) in
                    group_facts(&facts, GroupBy::Repository, &window, &repositories)
                {
                    let Some(repo) = repository_id.and_then(|id| repositories.get(&id)) else {
                        continue;
                    };
                    scopes.push(row(
                        &repo.name,
                        &environment,
                        repo.team.as_deref().unwrap_or("*"),
                        compute(&facts, &window),
                    ));
                }
            }
        }
    }

    families(&scopes, &deployments, &incidents).map_err(|e| DbErr::Custom(e.to_string()))
}

fn scope(organization_id: Uuid, environment: Option<String>) -> MetricsScope {
    MetricsScope {
        organization_id,
        repository_id: None,
        team_repositories: None,
        environment,
    }
}

fn compute(facts: &ScopeFacts, window: &Window) -> dora_metrics::DoraSummary {
    dora_metrics::compute(&facts.as_facts(), window, Benchmark::default())
}
