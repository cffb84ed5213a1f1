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
    Benchmark, IncidentFact, Window,
    exposition::{ScopeSummary, families, single_gauge},
};
use prometheus::{Encoder, TextEncoder, proto::MetricFamily};
use sea_orm::{ConnectionTrait, DbErr};

use super::metrics::{GroupBy, group_rows, summarize};
use crate::store::{
    Db,
    facts::{self, SlotRow},
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

/// A key metric's 30-day tier in one scope, as one refresh computed it (for
/// `dora.tier_changed`, see `core::outbound::tier_changes`).
#[derive(Debug, Clone, PartialEq)]
pub struct TierObservation {
    pub organization_id: uuid::Uuid,
    /// `organization`, or `repository:<name>:<environment>`.
    pub scope: String,
    /// The repository and environment of a repository scope.
    pub repository: Option<(String, String)>,
    pub metric: &'static str,
    pub tier: Option<dora_metrics::Tier>,
}

/// The window whose tiers `dora.tier_changed` follows.
pub const TIER_WINDOW: &str = "30d";

/// Refreshes `snapshot` every `interval` until the task is dropped; tiers that changed since
/// the previous refresh emit `dora.tier_changed`.
pub async fn refresh_forever(
    core: super::Core,
    snapshot: DoraSnapshot,
    windows: Vec<i64>,
    interval: Duration,
) {
    let db = core.db.clone();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = Instant::now();
        match compute_text(&db, &windows).await {
            Ok((text, tiers)) => {
                snapshot.store(text);
                if let Err(e) = super::outbound::tier_changes(&core, &tiers).await {
                    tracing::warn!(error = %e, "cannot compare the DORA tiers with the previous refresh's");
                }
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
async fn compute_text(db: &Db, windows: &[i64]) -> Result<(Vec<u8>, Vec<TierObservation>), DbErr> {
    let (families, tiers) = compute_families(db, windows).await?;
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut text)
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok((text, tiers))
}

/// Every series of one snapshot is computed from one state of the database (a read-only
/// snapshot transaction): the organization-wide gauges and the per-stream ones never disagree
/// because a deployment landed between two of the refresh's reads.
async fn compute_families(
    db: &Db,
    windows: &[i64],
) -> Result<(Vec<MetricFamily>, Vec<TierObservation>), DbErr> {
    let txn = db.begin_snapshot().await?;
    let families = compute_families_in(&txn, windows).await;
    // Read-only: ending it either way discards nothing.
    txn.rollback().await?;
    families
}

async fn compute_families_in<C: ConnectionTrait>(
    conn: &C,
    windows: &[i64],
) -> Result<(Vec<MetricFamily>, Vec<TierObservation>), DbErr> {
    let now = Utc::now();
    let organizations = inventory::organizations(conn).await?;
    let repositories = inventory::repositories(conn).await?;
    let benchmark = Benchmark::default();

    let mut scopes = Vec::new();
    let (mut deployments, mut incidents_by_label) = (Vec::new(), Vec::new());
    for (org_id, slug) in &organizations {
        for &days in windows {
            let Ok(window) = Window::last_days(days, now) else {
                continue;
            };
            let label = format!("{days}d");
            let org = (*org_id, slug.as_str());
            deployments.extend(inventory::deployment_counts(conn, org, &window, &label).await?);
            incidents_by_label
                .extend(inventory::incident_counts(conn, org, &window, &label).await?);
            let row = |repository: &str, environment: &str, team: &str, summary| ScopeSummary {
                organization: slug.clone(),
                repository: repository.to_owned(),
                environment: environment.to_owned(),
                team: team.to_owned(),
                window: label.clone(),
                summary,
            };
            // Every stored outcome of the organization's window, per stream: one range scan,
            // split below into the scopes the snapshot exports.
            let (rows, incidents) = tokio::try_join!(
                facts::slots_of_all(conn, *org_id, &window),
                facts::incidents_of_all(conn, *org_id, &window),
            )?;
            // All production environments, all repositories: what /api/v1/metrics/dora answers.
            let production: Vec<&SlotRow> = rows
                .iter()
                .filter(|r| r.is_production == Some(true))
                .collect();
            let production_incidents: Vec<IncidentFact> = incidents
                .iter()
                .filter(|(_, p)| *p)
                .map(|(i, _)| i.clone())
                .collect();
            scopes.push(row(
                "*",
                "*",
                "*",
                summarize(&window, &production, &production_incidents, benchmark),
            ));
            // Each team across its repositories (`team="…"`, `repository="*"`): what
            // /api/v1/metrics/dora?team=… answers.
            let production_rows: Vec<SlotRow> = production.iter().map(|r| (*r).clone()).collect();
            let production_flagged: Vec<(IncidentFact, bool)> = production_incidents
                .iter()
                .map(|i| (i.clone(), true))
                .collect();
            for ((team, _), (rows, incidents)) in group_rows(
                &production_rows,
                &production_flagged,
                GroupBy::Team,
                &repositories,
            ) {
                if let Some(team) = team {
                    scopes.push(row(
                        "*",
                        "*",
                        &team,
                        summarize(&window, &rows, &incidents, benchmark),
                    ));
                }
            }
            // Each environment with deployments in the window, whole and per repository.
            let mut environments: Vec<&str> = rows
                .iter()
                .filter_map(|r| r.environment.as_deref())
                .collect();
            environments.sort_unstable();
            environments.dedup();
            for environment in environments {
                let of_environment: Vec<SlotRow> = rows
                    .iter()
                    .filter(|r| r.environment.as_deref() == Some(environment))
                    .cloned()
                    .collect();
                let environment_incidents: Vec<(IncidentFact, bool)> = incidents
                    .iter()
                    .filter(|(i, _)| i.environment == environment)
                    .cloned()
                    .collect();
                let all: Vec<&SlotRow> = of_environment.iter().collect();
                let plain: Vec<IncidentFact> = environment_incidents
                    .iter()
                    .map(|(i, _)| i.clone())
                    .collect();
                scopes.push(row(
                    "*",
                    environment,
                    "*",
                    summarize(&window, &all, &plain, benchmark),
                ));
                for ((team, _), (rows, incidents)) in group_rows(
                    &of_environment,
                    &environment_incidents,
                    GroupBy::Team,
                    &repositories,
                ) {
                    if let Some(team) = team {
                        scopes.push(row(
                            "*",
                            environment,
                            &team,
                            summarize(&window, &rows, &incidents, benchmark),
                        ));
                    }
                }
                for ((_, repository_id), (rows, incidents)) in group_rows(
                    &of_environment,
                    &environment_incidents,
                    GroupBy::Repository,
                    &repositories,
                ) {
                    let Some(repo) = repository_id.and_then(|id| repositories.get(&id)) else {
                        continue;
                    };
                    // A repository with incidents but no deployment here exports nothing.
                    if rows.is_empty() {
                        continue;
                    }
                    scopes.push(row(
                        &repo.name,
                        environment,
                        repo.team.as_deref().unwrap_or("*"),
                        summarize(&window, &rows, &incidents, benchmark),
                    ));
                }
            }
        }
    }

    let tiers = tier_observations(&organizations, &scopes);
    let families = families(&scopes, &deployments, &incidents_by_label)
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok((families, tiers))
}

/// The 30-day tiers of the organization-wide scope and of each repository (per environment).
fn tier_observations(
    organizations: &[(uuid::Uuid, String)],
    scopes: &[ScopeSummary],
) -> Vec<TierObservation> {
    let mut out = Vec::new();
    for s in scopes.iter().filter(|s| s.window == TIER_WINDOW) {
        let Some((organization_id, _)) = organizations
            .iter()
            .find(|(_, slug)| *slug == s.organization)
        else {
            continue;
        };
        let (scope, repository) = if s.repository == "*" && s.environment == "*" && s.team == "*" {
            ("organization".to_owned(), None)
        } else if s.repository != "*" {
            (
                format!("repository:{}:{}", s.repository, s.environment),
                Some((s.repository.clone(), s.environment.clone())),
            )
        } else {
            continue;
        };
        let summary = &s.summary;
        for (metric, tier) in [
            (
                "deployment_frequency",
                Some(summary.deployment_frequency.tier),
            ),
            ("change_lead_time", summary.change_lead_time.tier),
            ("change_failure_rate", summary.change_failure_rate.tier),
            (
                "failed_deployment_recovery_time",
                summary.failed_deployment_recovery_time.tier,
            ),
        ] {
            out.push(TierObservation {
                organization_id: *organization_id,
                scope: scope.clone(),
                repository: repository.clone(),
                metric,
                tier,
            });
        }
    }
    out
}
