//! The daily outcome rollups (`outcome_days`, migration 000014) never change an answer.
//!
//! Random sequences of every kind of write (the stored-outcomes property test's, spread over
//! several days, with instants at midnight and just before it) go through the HTTP API, and the
//! compactor runs at random points between them, wholly or one day at a time. After each
//! sequence the summaries (production scope and each environment, windows with partial and
//! whole days), the daily series and the breakdowns by repository and by environment the
//! service answers must be the engine's over all the facts: as the compaction left them, with
//! nothing compacted (no rollup, every day dirty), and with everything compacted.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use dora_metrics::{
    Benchmark, DeploymentFact, DeploymentOutcome, Facts, IncidentFact, Interval, Outcome, Window,
};
use entity::{deployment_outcomes, outcome_days};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, EntityTrait, QueryFilter, Statement, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, on_postgres, spawn_app, spawn_app_with};
use crate::metrics::METRIC_KEYS;
use crate::outcomes::{Sequence, base, facts_of, incident_production, organization_id, summary_of};

/// Days the sequences' instants are spread over.
const DAYS: i64 = 4;

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A service whose compactor runs only when the test says.
async fn app_without_compactor() -> TestApp {
    spawn_app_with(|args| args.rollup_interval_seconds = 0.0).await
}

/// Everything stored for one organization, as the engine's facts.
struct Everything {
    deployments: Vec<DeploymentFact>,
    incidents: Vec<IncidentFact>,
    production: BTreeMap<Uuid, bool>,
    incident_production: BTreeMap<Uuid, bool>,
}

impl Everything {
    async fn read(app: &TestApp, organization_id: Uuid) -> Self {
        let (deployments, incidents, production) = facts_of(app, organization_id).await;
        let incident_production = incident_production(app, organization_id).await;
        Everything {
            deployments,
            incidents,
            production,
            incident_production,
        }
    }

    /// The outcomes of the window's finished deployments, judged over all the facts.
    fn outcomes(&self, window: &Window) -> Vec<DeploymentOutcome> {
        dora_metrics::derive(
            &Facts {
                deployments: &self.deployments,
                incidents: &self.incidents,
            },
            window,
        )
    }
}

/// What a check selects: the production scope or one environment, optionally one repository.
#[derive(Debug, Clone, Default)]
struct Selection {
    environment: Option<String>,
    repository: Option<Uuid>,
}

impl Selection {
    fn deployment(&self, all: &Everything, o: &DeploymentOutcome) -> bool {
        let d = &o.deployment;
        let scope = match &self.environment {
            None => all.production[&d.id],
            Some(e) => &d.environment == e,
        };
        scope && self.repository.is_none_or(|r| r == d.repository)
    }

    fn incident(&self, all: &Everything, i: &IncidentFact) -> bool {
        let scope = match &self.environment {
            None => all.incident_production[&i.id],
            Some(e) => &i.environment == e,
        };
        scope && self.repository.is_none_or(|r| i.repository == Some(r))
    }

    /// The engine's summary of what this selects in `window` (every deployment judged in its
    /// whole stream, README "Scope").
    fn expected(&self, all: &Everything, window: &Window) -> Value {
        let outcomes = all.outcomes(window);
        let chosen: Vec<&DeploymentOutcome> = outcomes
            .iter()
            .filter(|o| self.deployment(all, o))
            .collect();
        let incidents: Vec<IncidentFact> = all
            .incidents
            .iter()
            .filter(|i| self.incident(all, i))
            .cloned()
            .collect();
        summary_of(window, &chosen, &incidents)
    }
}

fn assert_metrics(actual: &Value, expected: &Value, context: &str) {
    for key in METRIC_KEYS {
        assert_eq!(actual[key], expected[key], "{context}: {key}");
    }
}

/// Windows with partial days at both ends, whole days only, within one day, and beyond the
/// history.
fn windows() -> Vec<Window> {
    let at = |days: i64, minutes: i64| base() + Duration::days(days) + Duration::minutes(minutes);
    [
        (at(0, 600), at(2, 780)),
        (at(0, 0), at(DAYS, 0)),
        (at(1, 30), at(1, 23 * 60)),
        (at(-1, 0), at(DAYS - 1, 300)),
        (at(1, 0), at(3, 0)),
    ]
    .into_iter()
    .map(|(from, to)| Window::new(from, to).unwrap())
    .collect()
}

fn range(window: &Window) -> String {
    format!(
        "from={}&to={}",
        crate::metrics::encode(&rfc(window.from)),
        crate::metrics::encode(&rfc(window.to))
    )
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let resp = app.get(path, token).await;
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Every answer of the service equals the engine's over all the facts (see the module).
async fn assert_reads_match(app: &TestApp, token: &str, organization_id: Uuid, state: &str) {
    let all = Everything::read(app, organization_id).await;
    let environments = [None, Some("production"), Some("staging")];
    for window in windows() {
        let range = range(&window);
        for environment in environments {
            let selection = Selection {
                environment: environment.map(str::to_owned),
                repository: None,
            };
            let mut path = format!("/api/v1/metrics/dora?{range}");
            if let Some(e) = environment {
                path.push_str(&format!("&environment={e}"));
            }
            let actual = get(app, token, &path).await;
            assert_metrics(
                &actual,
                &selection.expected(&all, &window),
                &format!("{state}: {path}"),
            );
        }

        // The daily series: every bucket, partial ones without tiers.
        let path = format!("/api/v1/metrics/dora/series?interval=day&{range}");
        let series = get(app, token, &path).await;
        let buckets = series["buckets"].as_array().unwrap();
        let expected = window.calendar_buckets(Interval::Day);
        assert_eq!(buckets.len(), expected.len(), "{state}: {path}");
        for (bucket, calendar) in buckets.iter().zip(&expected) {
            let mut expected = Selection::default().expected(&all, &calendar.window);
            if calendar.partial {
                for key in &METRIC_KEYS[..4] {
                    expected[key]["tier"] = Value::Null;
                }
            }
            assert_metrics(
                bucket,
                &expected,
                &format!("{state}: {path}: bucket {}", bucket["from"]),
            );
        }

        // Breakdowns: a row per group with a finished deployment or an incident in the window.
        let outcomes = all.outcomes(&window);
        let production = Selection::default();
        let in_window: Vec<&IncidentFact> = all
            .incidents
            .iter()
            .filter(|i| window.contains(i.started_at) && production.incident(&all, i))
            .collect();
        let path = format!("/api/v1/metrics/dora/breakdown?by=repository&{range}");
        let rows = get(app, token, &path).await;
        let mut expected_groups: BTreeSet<Uuid> = outcomes
            .iter()
            .filter(|o| production.deployment(&all, o))
            .map(|o| o.deployment.repository)
            .collect();
        expected_groups.extend(in_window.iter().filter_map(|i| i.repository));
        let rows = rows["rows"].as_array().unwrap();
        let groups: BTreeSet<Uuid> = rows
            .iter()
            .map(|r| r["repository_id"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(groups, expected_groups, "{state}: {path}");
        for row in rows {
            let selection = Selection {
                environment: None,
                repository: Some(row["repository_id"].as_str().unwrap().parse().unwrap()),
            };
            assert_metrics(
                row,
                &selection.expected(&all, &window),
                &format!("{state}: {path}: {}", row["group"]),
            );
        }
        let path = format!("/api/v1/metrics/dora/breakdown?by=environment&{range}");
        let rows = get(app, token, &path).await;
        let mut expected_groups: BTreeSet<String> = outcomes
            .iter()
            .filter(|o| production.deployment(&all, o))
            .map(|o| o.deployment.environment.clone())
            .collect();
        expected_groups.extend(in_window.iter().map(|i| i.environment.clone()));
        let rows = rows["rows"].as_array().unwrap();
        let groups: BTreeSet<String> = rows
            .iter()
            .map(|r| r["group"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(groups, expected_groups, "{state}: {path}");
        for row in rows {
            let environment = row["group"].as_str().unwrap().to_owned();
            // Within the production scope, one environment's deployments and incidents.
            let chosen: Vec<&DeploymentOutcome> = outcomes
                .iter()
                .filter(|o| {
                    production.deployment(&all, o) && o.deployment.environment == environment
                })
                .collect();
            let incidents: Vec<IncidentFact> = all
                .incidents
                .iter()
                .filter(|i| production.incident(&all, i) && i.environment == environment)
                .cloned()
                .collect();
            let expected = summary_of(&window, &chosen, &incidents);
            assert_metrics(row, &expected, &format!("{state}: {path}: {environment}"));
        }
    }
}

/// (rollup rows, marks) of the database.
async fn counts(app: &TestApp) -> (usize, u64) {
    let conn = app.state.core.db.read();
    let rollups = outcome_days::Entity::find().all(conn).await.unwrap().len();
    let marks = api::store::rollups::marks(conn).await.unwrap();
    (rollups, marks)
}

/// Rebuilds one dirty day chosen by `rng`, as one transaction of the compactor does.
async fn compact_one_day(app: &TestApp, rng: &mut StdRng) {
    let core = &app.state.core;
    let dirty = api::store::rollups::dirty(core.db.read(), 100)
        .await
        .unwrap();
    if dirty.is_empty() {
        return;
    }
    let day = &dirty[rng.random_range(0..dirty.len())];
    let txn = core.db.begin_write().await.unwrap();
    assert!(api::store::rollups::compact(&txn, day).await.unwrap());
    txn.commit().await.unwrap();
}

#[tokio::test]
async fn rollup_reads_equal_the_engine_whatever_was_compacted() {
    let app = app_without_compactor().await;
    let core = &app.state.core;
    let (mut mixed, mut compacted) = (0, 0);
    for seed in 0..8u64 {
        let mut sequence = Sequence::new(&app, &format!("org-{seed}"), seed).spread_over(DAYS);
        let mut rng = StdRng::seed_from_u64(1000 + seed);
        for step in 0..40 {
            sequence.step().await;
            match rng.random_range(0..10) {
                0 => {
                    api::core::rollups::compact_round(core).await.unwrap();
                    sequence.log.push("compact every dirty day".to_owned());
                }
                1 => {
                    compact_one_day(&app, &mut rng).await;
                    sequence.log.push("compact one day".to_owned());
                }
                _ => {}
            }
            if step == 19 {
                let id = organization_id(&app, &sequence.org).await;
                assert_reads_match(&app, &sequence.token, id, "halfway").await;
            }
        }
        let id = organization_id(&app, &sequence.org).await;
        let log = sequence.log.join("\n");
        let (rollups, marks) = counts(&app).await;
        if rollups > 0 && marks > 0 {
            mixed += 1;
        }
        assert_reads_match(&app, &sequence.token, id, &format!("as left\n{log}")).await;

        // Nothing compacted: no rollup, every day dirty.
        let conn = core.db.read();
        conn.execute_unprepared("DELETE FROM outcome_days")
            .await
            .unwrap();
        api::store::rollups::mark_all(conn).await.unwrap();
        assert_eq!(counts(&app).await.0, 0);
        assert_reads_match(
            &app,
            &sequence.token,
            id,
            &format!("nothing compacted\n{log}"),
        )
        .await;

        // Everything compacted.
        api::core::rollups::compact_all(core).await.unwrap();
        let (rollups, marks) = counts(&app).await;
        assert_eq!(marks, 0, "compacted, no day is dirty");
        compacted += rollups;
        assert_reads_match(&app, &sequence.token, id, &format!("all compacted\n{log}")).await;
    }
    // The sequences really left rollups and dirty days side by side, and really compacted.
    assert!(mixed >= 3, "only {mixed} sequences ended partly compacted");
    assert!(compacted > 50, "only {compacted} rollups written");
}

/// A running instance compacts by itself (`DORA_ROLLUP_INTERVAL_SECONDS`, 1 s by default).
#[tokio::test]
async fn a_running_instance_compacts_dirty_days() {
    let app = spawn_app().await;
    let mut sequence = Sequence::new(&app, "acme", 3).spread_over(DAYS);
    for _ in 0..20 {
        sequence.step().await;
    }
    let started = std::time::Instant::now();
    loop {
        let (rollups, marks) = counts(&app).await;
        if marks == 0 && rollups > 0 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the compactor left {marks} marks ({rollups} rollups)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let id = organization_id(&app, "acme").await;
    assert_reads_match(&app, &sequence.token, id, "compacted by the instance").await;
}

/// The production summary over `window` from the stored outcome rows themselves (what the
/// reads must answer whatever the rollups say), with the production incidents.
async fn from_rows(app: &TestApp, organization_id: Uuid, window: &Window) -> Value {
    let conn = app.state.core.db.read();
    let rows = deployment_outcomes::Entity::find()
        .filter(deployment_outcomes::Column::OrganizationId.eq(organization_id))
        .filter(deployment_outcomes::Column::IsProduction.eq(true))
        .all(conn)
        .await
        .unwrap();
    let mut outcome_rows = Vec::new();
    let mut samples = Vec::new();
    for row in rows.iter().filter(|r| window.contains(r.deployed_at)) {
        outcome_rows.push(dora_metrics::OutcomeRow {
            deployed_at: row.deployed_at,
            outcome: if row.is_success {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            change_failure: row.change_failure,
            recovery_seconds: row.recovery_seconds,
            rework: row.rework,
        });
        samples.extend(
            row.lead_seconds
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<f64>().unwrap()),
        );
    }
    let all = Everything::read(app, organization_id).await;
    let incidents: Vec<IncidentFact> = all
        .incidents
        .iter()
        .filter(|i| Selection::default().incident(&all, i))
        .cloned()
        .collect();
    serde_json::to_value(dora_metrics::summarize(
        window,
        &outcome_rows,
        &samples,
        &incidents,
        Benchmark::Y2023,
    ))
    .unwrap()
}

/// PostgreSQL: a mark written by a transaction that commits after the compactor read the
/// marks is not lost. The compactor is held after it read the marks and added up the rows
/// (a row lock on the day's rollup, which it then upserts); meanwhile a writer that had changed
/// an outcome row of that day, uncommitted when the compactor read, commits. The compactor's
/// rollup misses that change, so its mark must survive: the day stays dirty, reads stay exact,
/// and the next compaction takes the change in.
#[tokio::test]
async fn a_mark_committed_during_a_compaction_survives_it() {
    if !on_postgres() {
        return;
    }
    let app = app_without_compactor().await;
    let core = app.state.core.clone();
    let token = app.rw_token("acme");
    let at = base() + Duration::hours(10);
    for n in 0..4u32 {
        let mut body = crate::helpers::deployment("https://github.com/acme/web", n + 1);
        body["status"] = json!("success");
        body["finished_at"] = json!(rfc(at + Duration::minutes(i64::from(n))));
        body["environment"] = json!("production");
        app.create_deployment(&token, &body).await;
    }
    let organization = organization_id(&app, "acme").await;
    api::core::rollups::compact_all(&core).await.unwrap();
    let window = Window::new(base(), base() + Duration::days(1)).unwrap();
    let path = format!("/api/v1/metrics/dora?{}", range(&window));
    let ids: Vec<Uuid> = deployment_outcomes::Entity::find()
        .filter(deployment_outcomes::Column::OrganizationId.eq(organization))
        .all(core.db.read())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.deployment_id)
        .collect();
    assert_eq!(ids.len(), 4);
    let flip = |id: Uuid| {
        Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "UPDATE deployment_outcomes SET rework = NOT rework WHERE deployment_id = $1",
            [id.into()],
        )
    };
    let rework = || async {
        outcome_days::Entity::find()
            .all(core.db.read())
            .await
            .unwrap()
            .iter()
            .map(|r| r.rework)
            .sum::<i64>()
    };

    // A committed change: the compactor's work.
    let writer = Database::connect(app.database_url.as_str()).await.unwrap();
    writer.execute_raw(flip(ids[0])).await.unwrap();
    // The rollup's row, locked: the compactor will wait for it after reading.
    let holder = Database::connect(app.database_url.as_str()).await.unwrap();
    let hold = holder.begin().await.unwrap();
    hold.execute_unprepared("SELECT * FROM outcome_days FOR UPDATE")
        .await
        .unwrap();
    // A change whose mark the compactor cannot see yet.
    let late = writer.begin().await.unwrap();
    late.execute_raw(flip(ids[1])).await.unwrap();

    let compactor = {
        let core = core.clone();
        tokio::spawn(async move { api::core::rollups::compact_round(&core).await })
    };
    // Until the compactor waits for the row lock (it has read the marks and the rows).
    let watcher = Database::connect(app.database_url.as_str()).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let row = watcher
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT COUNT(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            ))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "n").unwrap() > 0 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the compactor never waited for the rollup's row"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    late.commit().await.unwrap();
    hold.rollback().await.unwrap();
    assert_eq!(compactor.await.unwrap().unwrap(), 1);

    // The late change's mark survived: the day is dirty and reads it from the rows.
    let dirty = api::store::rollups::dirty(core.db.read(), 10)
        .await
        .unwrap();
    assert_eq!(dirty.len(), 1, "the late writer's mark is kept");
    let expected = from_rows(&app, organization, &window).await;
    let actual = get(&app, &token, &path).await;
    assert_metrics(&actual, &expected, "after the raced compaction");
    let before = rework().await;

    // The next compaction takes the late change in.
    api::core::rollups::compact_all(&core).await.unwrap();
    assert_eq!(counts(&app).await.1, 0);
    assert_eq!(
        (rework().await - before).abs(),
        1,
        "the late change is rolled up"
    );
    let actual = get(&app, &token, &path).await;
    assert_metrics(&actual, &expected, "after the next compaction");
    for conn in [writer, holder, watcher] {
        conn.close().await.unwrap();
    }
}
