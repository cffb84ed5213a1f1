//! DORA metrics queries (DESIGN.md §5, §6): a query's parameters are resolved into a scope and
//! a window. Summaries, series and breakdowns read the scope's stored outcomes added up
//! (DESIGN.md §12) for `dora_metrics::summarize_slots`: per day from the daily rollups where
//! the scope has them (`store::rollups::slots`: the production scope or one environment), else
//! from the outcome rows (`store::facts::slots`: per day for a repository or team, per
//! repository for a breakdown); the explain listing and the web page's overview read a
//! sufficient set of facts (`store::facts::load`) for the engine itself.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use dora_metrics::{
    AttributedBy, Benchmark, Bucket, CommitLeadTime, DeploymentRef, DoraSummary, ExplainItem,
    FailureCause, IncidentFact, Interval, Metric, OutcomeSlot, Recovery, Remediation, Window,
    WindowError,
};
use uuid::Uuid;

use super::{Core, Error};
use crate::{
    auth::{Principal, Scope},
    domain::validate_environment,
    store::{
        self,
        facts::{MetricsScope, ScopeFacts, SlotGroup, SlotRow},
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

/// The summary of `window` from slot rows of its deployments (all deployed in it) and
/// incidents (`summarize_slots` counts the window's only). Shared by the queries and the
/// `/metrics` snapshot.
pub fn summarize(
    window: &Window,
    rows: &[&SlotRow],
    incidents: &[IncidentFact],
    benchmark: Benchmark,
) -> DoraSummary {
    let slots: Vec<OutcomeSlot> = rows.iter().map(|row| row.slot.clone()).collect();
    dora_metrics::summarize_slots(window, &slots, incidents, benchmark)
}

/// The scope's stored outcomes of the window, added up per `group`: from the daily rollups
/// where they serve the scope, else from the outcome rows.
async fn slots(
    core: &Core,
    query: &MetricsQuery,
    group: SlotGroup,
) -> Result<Vec<SlotRow>, sea_orm::DbErr> {
    let conn = core.db.read();
    if store::rollups::covers(&query.scope, group) {
        store::rollups::slots(conn, &query.scope, &query.window, group).await
    } else {
        store::facts::slots(conn, &query.scope, &query.window, group).await
    }
}

/// The query's summary: its stored outcomes added up (DESIGN.md §12).
pub async fn summary(core: &Core, query: &MetricsQuery) -> Result<DoraSummary, Error> {
    let conn = core.db.read();
    let (rows, incidents) = tokio::try_join!(
        slots(core, query, SlotGroup::Scope),
        store::facts::incidents_in(conn, &query.scope, &query.window),
    )?;
    let incidents: Vec<IncidentFact> = incidents.into_iter().map(|(i, _)| i).collect();
    let rows: Vec<&SlotRow> = rows.iter().collect();
    Ok(summarize(&query.window, &rows, &incidents, query.benchmark))
}

/// The summary of each calendar bucket of `interval` of the window (UTC days, ISO weeks,
/// calendar months), oldest first. A partial first or last bucket is flagged; its tiers are
/// the caller's to drop (DESIGN.md §6).
pub async fn series(
    core: &Core,
    query: &MetricsQuery,
    interval: Interval,
) -> Result<Vec<(Bucket, DoraSummary)>, Error> {
    let buckets = query.window.calendar_buckets(interval);
    // Calendar buckets change at UTC midnight, where the stored outcomes' days change too: every
    // day's slot lies in one bucket (the window's partial first day in the first).
    let conn = core.db.read();
    let (rows, incidents) = tokio::try_join!(
        slots(core, query, SlotGroup::Scope),
        store::facts::incidents_in(conn, &query.scope, &query.window),
    )?;
    let incidents: Vec<IncidentFact> = incidents.into_iter().map(|(i, _)| i).collect();
    let mut by_bucket: Vec<Vec<&SlotRow>> = vec![Vec::new(); buckets.len()];
    for row in &rows {
        let Some(day) = row.day_start() else {
            continue;
        };
        let k = buckets.partition_point(|b| b.window.to <= day);
        if let Some(bucket) = by_bucket.get_mut(k) {
            bucket.push(row);
        }
    }
    Ok(buckets
        .into_iter()
        .zip(by_bucket)
        .map(|(bucket, rows)| {
            let summary = summarize(&bucket.window, &rows, &incidents, query.benchmark);
            (bucket, summary)
        })
        .collect())
}

/// The calendar buckets of `window` and their summaries, from facts sufficient for it.
pub fn series_of(
    facts: &ScopeFacts,
    window: &Window,
    interval: Interval,
    benchmark: Benchmark,
) -> Vec<(Bucket, DoraSummary)> {
    let buckets = window.calendar_buckets(interval);
    let windows: Vec<Window> = buckets.iter().map(|bucket| bucket.window).collect();
    let summaries = dora_metrics::compute_each(&facts.as_facts(), &windows, benchmark);
    buckets.into_iter().zip(summaries).collect()
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

/// The facts of each group, ordered by group.
pub type Groups = BTreeMap<Group, ScopeFacts>;

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
        slots(core, query, group),
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

/// The repositories the facts name.
pub fn repository_ids(facts: &ScopeFacts) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = facts
        .deployments
        .iter()
        .map(|d| d.repository)
        .chain(facts.incidents.iter().filter_map(|i| i.repository))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Splits the facts of a scope by group: a group exists when something happened in it in the
/// window. Facts are partitioned by stream and every stream lies in one group, so each group's
/// share is sufficient for that group's scope. Shared by the breakdown and the `/metrics`
/// snapshot.
pub fn group_facts(
    facts: &ScopeFacts,
    by: GroupBy,
    window: &Window,
    repositories: &HashMap<Uuid, RepositoryLabels>,
) -> Groups {
    // The group of a repository/environment; `None` when it belongs to no group.
    let key = |repository: Option<Uuid>, environment: &str| -> Option<Group> {
        match by {
            GroupBy::Environment => Some((Some(environment.to_owned()), None)),
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
    let mut groups = Groups::new();
    for d in &facts.deployments {
        if window.contains(d.deployed_at)
            && let Some(group) = key(Some(d.repository), &d.environment)
        {
            groups.entry(group).or_default();
        }
    }
    for i in &facts.incidents {
        if window.contains(i.started_at)
            && let Some(group) = key(i.repository, &i.environment)
        {
            groups.entry(group).or_default();
        }
    }
    for d in &facts.deployments {
        if let Some(group) = key(Some(d.repository), &d.environment)
            && let Some(g) = groups.get_mut(&group)
        {
            g.deployments.push(d.clone());
        }
    }
    for i in &facts.incidents {
        if let Some(group) = key(i.repository, &i.environment)
            && let Some(g) = groups.get_mut(&group)
        {
            g.incidents.push(i.clone());
        }
    }
    groups
}

/// Where an item stands in an explain listing: the listing is ordered by this key (deployments
/// by deployed-at, number and id, a deployment's commits by their position; incidents by start
/// and id), so a page can resume after the last key it showed even while facts are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExplainKey {
    pub at: DateTime<Utc>,
    pub number: i64,
    pub id: Uuid,
    /// A commit's position among its deployment's commits; 0 for other items.
    pub index: u32,
}

/// One page of an explain listing.
#[derive(Debug, Clone)]
pub struct ExplainPage {
    /// The items after the cursor, in listing order, each with its key.
    pub items: Vec<(ExplainKey, ExplainItem)>,
    /// The key of the last item when more follow.
    pub next: Option<ExplainKey>,
    /// Items in the whole listing.
    pub total: usize,
    /// Items of the listing before this page.
    pub offset: usize,
}

/// The facts `metric` of the query is made of, with the reason for each, from the item after
/// `after`, at most `limit` (DESIGN.md §6, §11). The whole listing adds up to the summary.
pub async fn explain(
    core: &Core,
    query: &MetricsQuery,
    metric: Metric,
    after: Option<ExplainKey>,
    limit: usize,
) -> Result<ExplainPage, Error> {
    let facts = store::facts::load(core.db.read(), &query.scope, &query.window).await?;
    Ok(page_of(
        listing_of(&facts, &query.window, metric),
        after,
        limit,
    ))
}

/// The whole explain listing of `metric` from facts sufficient for `window`. A commit shipped
/// before the window names [`Uuid::nil`] as the deployment that shipped it first: the loader
/// condenses those earlier deployments into one synthetic one, whose id means nothing.
pub fn listing_of(facts: &ScopeFacts, window: &Window, metric: Metric) -> Vec<ExplainItem> {
    let condensed: HashSet<Uuid> = facts
        .deployments
        .iter()
        .filter(|d| store::facts::is_condensed(d))
        .map(|d| d.id)
        .collect();
    let mut listing = dora_metrics::explain(&facts.as_facts(), window, metric);
    for item in &mut listing {
        if let ExplainItem::Commit(commit) = item
            && let CommitLeadTime::ShippedEarlier { by } = &mut commit.lead_time
            && condensed.contains(by)
        {
            *by = Uuid::nil();
        }
    }
    listing
}

/// The page of `listing` after `after`.
pub fn page_of(listing: Vec<ExplainItem>, after: Option<ExplainKey>, limit: usize) -> ExplainPage {
    let total = listing.len();
    let mut previous: Option<Uuid> = None;
    let mut index = 0u32;
    let mut items: Vec<(ExplainKey, ExplainItem)> = Vec::new();
    let mut more = false;
    let mut offset = 0;
    for item in listing {
        let key = match explained_deployment(&item) {
            Some(deployment) => {
                index = if previous == Some(deployment.id) {
                    index.saturating_add(1)
                } else {
                    0
                };
                previous = Some(deployment.id);
                ExplainKey {
                    at: deployment.deployed_at,
                    number: deployment.number,
                    id: deployment.id,
                    index,
                }
            }
            None => match &item {
                ExplainItem::Incident(incident) => ExplainKey {
                    at: incident.started_at,
                    number: 0,
                    id: incident.incident,
                    index: 0,
                },
                // Every other item names its deployment.
                _ => continue,
            },
        };
        if after.is_some_and(|after| key <= after) {
            offset += 1;
            continue;
        }
        if items.len() == limit {
            more = true;
            break;
        }
        items.push((key, item));
    }
    let next = if more {
        items.last().map(|(key, _)| *key)
    } else {
        None
    };
    ExplainPage {
        items,
        next,
        total,
        offset,
    }
}

/// The deployment an item is about (every kind but incidents).
pub fn explained_deployment(item: &ExplainItem) -> Option<&DeploymentRef> {
    match item {
        ExplainItem::Deployment(i) => Some(&i.deployment),
        ExplainItem::Commit(i) => Some(&i.deployment),
        ExplainItem::ChangeFailure(i) => Some(&i.deployment),
        ExplainItem::Recovery(i) => Some(&i.deployment),
        ExplainItem::Rework(i) => Some(&i.deployment),
        ExplainItem::Incident(_) => None,
    }
}

/// Why an item counts as it does, in words (the `reason` of the explain listing and the page).
pub fn reason(item: &ExplainItem) -> String {
    match item {
        ExplainItem::Deployment(i) => format!("successful deployment on {}", i.deploy_date),
        ExplainItem::Commit(i) => match i.lead_time {
            CommitLeadTime::Sample { seconds } => {
                format!("first shipped in this stream here: {seconds} s after the commit")
            }
            CommitLeadTime::ShippedEarlier { by } if by.is_nil() => {
                "shipped earlier in this stream, before the window".to_owned()
            }
            CommitLeadTime::ShippedEarlier { by } => {
                format!("shipped earlier in this stream by deployment {by}")
            }
            CommitLeadTime::CommittedAfterDeployment { .. } => {
                "committed after deployment (dropped)".to_owned()
            }
            CommitLeadTime::ListedTwice => {
                "listed twice in this deployment (counted once)".to_owned()
            }
        },
        ExplainItem::ChangeFailure(i) if i.causes.is_empty() => "not a change failure".to_owned(),
        ExplainItem::ChangeFailure(i) => causes(&i.causes),
        ExplainItem::Recovery(i) => match &i.recovery {
            Recovery::IncidentResolved {
                incident, seconds, ..
            } => format!("recovered when incident {incident} was resolved, after {seconds} s"),
            Recovery::NextSuccess {
                deployment,
                number,
                seconds,
                ..
            } => format!(
                "recovered by the next successful deployment {deployment} (#{number}), after \
                 {seconds} s"
            ),
            Recovery::IncidentsOpen { incidents } => format!(
                "not recovered: incident {} still open",
                incidents
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Recovery::NoLaterSuccess => {
                "not recovered: no successful deployment has followed".to_owned()
            }
        },
        ExplainItem::Rework(i) if i.rework => format!("rework ({})", remediations(&i.flags)),
        ExplainItem::Rework(i) if i.flags.is_empty() => "not rework".to_owned(),
        ExplainItem::Rework(i) => format!(
            "not rework ({} alone is not rework)",
            remediations(&i.flags)
        ),
        ExplainItem::Incident(i) => match i.seconds {
            Some(seconds) => format!("resolved after {seconds} s"),
            None => "open".to_owned(),
        },
    }
}

/// `status failure; remediated by deployment … (#12, hotfix); incident … attributed by id`.
pub fn causes(causes: &[FailureCause]) -> String {
    causes
        .iter()
        .map(|cause| match cause {
            FailureCause::StatusFailure => "status failure".to_owned(),
            FailureCause::RemediatedBy {
                deployment,
                number,
                remediation,
            } => format!(
                "remediated by deployment {deployment} (#{number}, {})",
                remediations(remediation)
            ),
            FailureCause::Incident {
                incident,
                attributed_by,
            } => format!(
                "incident {incident} attributed {}",
                match attributed_by {
                    AttributedBy::Id => "by id",
                    AttributedBy::RepositoryAndTime => "by repository and time",
                }
            ),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `hotfix`, `fix`, `rollback`, joined.
pub fn remediations(flags: &[Remediation]) -> String {
    flags
        .iter()
        .map(|flag| match flag {
            Remediation::Hotfix => "hotfix",
            Remediation::Fix => "fix",
            Remediation::Rollback => "rollback",
        })
        .collect::<Vec<_>>()
        .join(", ")
}
