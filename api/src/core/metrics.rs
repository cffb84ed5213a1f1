//! DORA metrics queries (DESIGN.md §5, §6): a query's parameters are resolved into a scope and
//! a window, the scope's stored outcomes are read added up per day (`store::facts::slots`,
//! DESIGN.md §12) and `dora_metrics::summarize_slots` computes.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use dora_metrics::{
    Benchmark, DoraSummary, IncidentFact, Interval, OutcomeSlot, Window, WindowError,
};
use uuid::Uuid;

use super::{Core, Error};
use crate::{
    auth::{Principal, Scope},
    domain::validate_environment,
    store::{
        self,
        facts::{MetricsScope, SlotGroup, SlotRow},
        inventory::RepositoryLabels,
    },
};

/// The default window: the 30 days up to now.
pub const DEFAULT_WINDOW_DAYS: i64 = 30;

/// The parameters every metrics query takes, as given.
#[derive(Debug, Clone, Default)]
pub struct RawQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// A repository URL in any spelling, or its id.
    pub repository: Option<String>,
    pub environment: Option<String>,
    pub team: Option<String>,
    pub benchmark: Option<String>,
}

/// The filters of a query, as given (for the answer).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub repository: Option<String>,
    pub environment: Option<String>,
    pub team: Option<String>,
}

/// A resolved query: what to read and how to grade it.
#[derive(Debug, Clone)]
pub struct MetricsQuery {
    pub organization: String,
    pub window: Window,
    pub scope: MetricsScope,
    pub benchmark: Benchmark,
    pub filters: Filters,
}

/// The window of `from`/`to`: `to` defaults to now, `from` to 30 days before `to`.
pub fn window(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Window, Error> {
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - TimeDelta::days(DEFAULT_WINDOW_DAYS));
    Window::new(from, to).map_err(|e| match e {
        WindowError::Empty { .. } => {
            Error::invalid_parameter("from", format!("`from` must be before `to`: {e}"))
        }
        WindowError::TooLong => Error::invalid_parameter(
            "to",
            format!(
                "the window is longer than {} days; ask for a shorter one",
                dora_metrics::MAX_WINDOW_DAYS
            ),
        ),
        WindowError::OutOfRange => Error::invalid_parameter("from", e.to_string()),
    })
}

/// Checks the parameters and resolves the repository and team of a query (scope `read`).
pub async fn resolve(
    core: &Core,
    principal: &Principal,
    raw: RawQuery,
) -> Result<MetricsQuery, Error> {
    principal.require(Scope::Read)?;
    let organization_id = principal.organization_id;
    let window = window(raw.from, raw.to, Utc::now())?;
    let benchmark = match raw.benchmark.as_deref() {
        None => Benchmark::default(),
        Some(name) => name
            .parse::<Benchmark>()
            .map_err(|e| Error::invalid_parameter("benchmark", e.to_string()))?,
    };
    if let Some(environment) = raw.environment.as_deref() {
        validate_environment(environment)
            .map_err(|e| Error::invalid_parameter("environment", e))?;
    }
    let conn = core.db.read();
    let repository_id = match raw.repository.as_deref() {
        None => None,
        Some(reference) => {
            let repository =
                store::organizations::resolve_repository(conn, organization_id, reference)
                    .await?
                    .ok_or_else(|| {
                        Error::invalid_parameter(
                            "repository",
                            format!(
                                "no repository `{reference}` has deployments in this organization"
                            ),
                        )
                    })?;
            Some(repository.id)
        }
    };
    let team_repositories = match raw.team.as_deref() {
        None => None,
        Some(team) => {
            let ids = store::organizations::team_repositories(conn, organization_id, team).await?;
            if ids.is_empty() {
                return Err(Error::invalid_parameter(
                    "team",
                    format!("no repository of this organization belongs to team `{team}`"),
                ));
            }
            Some(ids)
        }
    };
    Ok(MetricsQuery {
        organization: principal.organization.clone(),
        window,
        scope: MetricsScope {
            organization_id,
            repository_id,
            team_repositories,
            environment: raw.environment.clone(),
        },
        benchmark,
        filters: Filters {
            repository: raw.repository,
            environment: raw.environment,
            team: raw.team,
        },
    })
}

/// The summary of `window` from slot rows and incidents (each list may hold more than the
/// window: `summarize_slots` counts the window's only).
fn summarize(
    window: &Window,
    rows: &[&SlotRow],
    incidents: &[IncidentFact],
    benchmark: Benchmark,
) -> DoraSummary {
    let slots: Vec<OutcomeSlot> = rows
        .iter()
        .filter(|row| window.contains(row.at))
        .map(|row| row.slot.clone())
        .collect();
    dora_metrics::summarize_slots(window, &slots, incidents, benchmark)
}

/// The query's summary: its stored outcomes added up per day (DESIGN.md §12).
pub async fn summary(core: &Core, query: &MetricsQuery) -> Result<DoraSummary, Error> {
    let conn = core.db.read();
    let (rows, incidents) = tokio::try_join!(
        store::facts::slots(conn, &query.scope, &query.window, None, SlotGroup::Scope),
        store::facts::incidents_in(conn, &query.scope, &query.window),
    )?;
    let incidents: Vec<IncidentFact> = incidents.into_iter().map(|(i, _)| i).collect();
    let rows: Vec<&SlotRow> = rows.iter().collect();
    Ok(summarize(&query.window, &rows, &incidents, query.benchmark))
}

/// The summary of each bucket of `interval` of the window, oldest first.
pub async fn series(
    core: &Core,
    query: &MetricsQuery,
    interval: Interval,
) -> Result<Vec<(Window, DoraSummary)>, Error> {
    let windows = query.window.buckets(interval);
    // The buckets start at `to`'s time of day: days are cut there too, so that every slot lies
    // in one bucket.
    let to = query.window.to;
    let split = to - to.duration_trunc(TimeDelta::days(1)).unwrap_or(to);
    let split = (split > TimeDelta::zero()).then_some(split);
    let conn = core.db.read();
    let (rows, incidents) = tokio::try_join!(
        store::facts::slots(conn, &query.scope, &query.window, split, SlotGroup::Scope),
        store::facts::incidents_in(conn, &query.scope, &query.window),
    )?;
    let incidents: Vec<IncidentFact> = incidents.into_iter().map(|(i, _)| i).collect();
    let mut by_bucket: Vec<Vec<&SlotRow>> = vec![Vec::new(); windows.len()];
    for row in &rows {
        let k = windows.partition_point(|w| w.to <= row.at);
        if let Some(bucket) = by_bucket.get_mut(k) {
            bucket.push(row);
        }
    }
    Ok(windows
        .into_iter()
        .zip(by_bucket)
        .map(|(window, rows)| {
            let summary = summarize(&window, &rows, &incidents, query.benchmark);
            (window, summary)
        })
        .collect())
}

/// What a breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Repository,
    Team,
    Environment,
}

/// One group of a breakdown: the repository name (`acme/web`), the team (None: the
/// repositories without one) or the environment; with the repository's id when by repository.
pub type Group = (Option<String>, Option<Uuid>);

/// The summary of each group of the query's scope that has a finished deployment or an
/// incident in the window, ordered by group.
pub async fn breakdown(
    core: &Core,
    query: &MetricsQuery,
    by: GroupBy,
) -> Result<Vec<(Group, DoraSummary)>, Error> {
    let conn = core.db.read();
    let group = match by {
        GroupBy::Environment => SlotGroup::Environment,
        GroupBy::Repository | GroupBy::Team => SlotGroup::Repository,
    };
    let (rows, incidents) = tokio::try_join!(
        store::facts::slots(conn, &query.scope, &query.window, None, group),
        store::facts::incidents_in(conn, &query.scope, &query.window),
    )?;
    let repositories = if by == GroupBy::Environment {
        HashMap::new()
    } else {
        let mut ids: Vec<Uuid> = rows
            .iter()
            .filter_map(|r| r.repository_id)
            .chain(incidents.iter().filter_map(|(i, _)| i.repository))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        store::organizations::repositories_by_id(conn, &ids).await?
    };
    let groups = group_rows(&rows, &incidents, by, &repositories);
    Ok(groups
        .into_iter()
        .map(|(group, (rows, incidents))| {
            let summary = summarize(&query.window, &rows, &incidents, query.benchmark);
            (group, summary)
        })
        .collect())
}

/// Slot rows and incidents by group: a group exists when something happened in it in the
/// window. Every stream lies in one group, so each group's share is that group's scope.
/// Shared by the breakdown and the `/metrics` snapshot.
pub fn group_rows<'a>(
    rows: &'a [SlotRow],
    incidents: &[(IncidentFact, bool)],
    by: GroupBy,
    repositories: &HashMap<Uuid, RepositoryLabels>,
) -> BTreeMap<Group, (Vec<&'a SlotRow>, Vec<IncidentFact>)> {
    // The group of a repository/environment; `None` when it belongs to no group.
    let key = |repository: Option<Uuid>, environment: Option<&str>| -> Option<Group> {
        match by {
            GroupBy::Environment => Some((Some(environment?.to_owned()), None)),
            GroupBy::Repository => {
                let id = repository?;
                let name = repositories
                    .get(&id)
                    .map_or_else(|| id.to_string(), |r| r.name.clone());
                Some((Some(name), Some(id)))
            }
            GroupBy::Team => {
                let id = repository?;
                Some((repositories.get(&id).and_then(|r| r.team.clone()), None))
            }
        }
    };
    let mut groups: BTreeMap<Group, (Vec<&SlotRow>, Vec<IncidentFact>)> = BTreeMap::new();
    for row in rows {
        if let Some(group) = key(row.repository_id, row.environment.as_deref()) {
            groups.entry(group).or_default().0.push(row);
        }
    }
    for (incident, _) in incidents {
        if let Some(group) = key(incident.repository, Some(&incident.environment)) {
            groups.entry(group).or_default().1.push(incident.clone());
        }
    }
    groups
}
