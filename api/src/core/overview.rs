//! The web page's overview (DESIGN.md §11) as one use case: for a resolved metrics query, the
//! summary and the previous window's, the trend buckets, a breakdown, the newest deployments
//! with their change-failure verdicts, the open incidents, and what the page's controls offer.
//! The facts are read once, for the window and the previous one together, and every number is
//! computed from them by the same engine as the JSON API.

use std::collections::HashMap;

use dora_metrics::{Bucket, DeploymentOutcome, DoraSummary, Interval, Metric, Window};
use entity::{deployments, incidents};
use uuid::Uuid;

use super::{
    Core, Error,
    metrics::{
        ExplainKey, ExplainPage, Group, GroupBy, Groups, MetricsQuery, group_facts, listing_of,
        page_of, series_of,
    },
};
use crate::store::{
    self, facts::ScopeFacts, inventory::RepositoryLabels, overview::RepositoryEntry,
};

/// How many deployments and open incidents the overview lists.
pub const RECENT_LIMIT: u64 = 50;

/// Windows longer than this many days trend by week, shorter ones by day.
pub const DAILY_UP_TO_DAYS: f64 = 60.0;

/// A deployment of the recent list, with what the metrics decided about it.
#[derive(Debug, Clone)]
pub struct RecentDeployment {
    pub deployment: deployments::Model,
    pub repository: String,
    /// `None` for a deployment that has not finished (or was recorded after the facts were
    /// read).
    pub outcome: Option<DeploymentOutcome>,
}

/// An open incident, with its repository's name.
#[derive(Debug, Clone)]
pub struct OpenIncident {
    pub incident: incidents::Model,
    pub repository: Option<String>,
}

/// What the page's filters can be set to.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    pub repositories: Vec<RepositoryEntry>,
    pub teams: Vec<String>,
    /// Environments with a deployment in the window, plus the one filtered on.
    pub environments: Vec<String>,
}

impl Choices {
    /// Repository id → name.
    pub fn names(&self) -> HashMap<Uuid, String> {
        self.repositories
            .iter()
            .map(|r| (r.id, r.name.clone()))
            .collect()
    }
}

/// Everything the overview shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub summary: DoraSummary,
    /// The window of the same length just before the query's.
    pub previous_window: Window,
    pub previous: DoraSummary,
    pub interval: Interval,
    /// Calendar buckets of the window (UTC), oldest first.
    pub series: Vec<(Bucket, DoraSummary)>,
    pub by: GroupBy,
    /// Each group with something in the window, ordered by group: (name, repository id).
    pub breakdown: Vec<(Group, DoraSummary)>,
    /// Newest first.
    pub recent: Vec<RecentDeployment>,
    pub open_incidents: Vec<OpenIncident>,
    pub choices: Choices,
}

/// The trend interval of a window: daily up to [`DAILY_UP_TO_DAYS`], weekly beyond.
pub fn interval_for(window: &Window) -> Interval {
    if window.days() > DAILY_UP_TO_DAYS {
        Interval::Week
    } else {
        Interval::Day
    }
}

/// What the filters of `query`'s organization can be set to.
pub async fn choices(core: &Core, query: &MetricsQuery) -> Result<Choices, Error> {
    let conn = core.db.read();
    let organization_id = query.scope.organization_id;
    let repositories = store::overview::repositories(conn, organization_id).await?;
    let mut teams: Vec<String> = repositories.iter().filter_map(|r| r.team.clone()).collect();
    teams.sort();
    teams.dedup();
    let mut environments =
        store::inventory::environments(conn, organization_id, &query.window).await?;
    if let Some(environment) = &query.scope.environment
        && !environments.contains(environment)
    {
        environments.push(environment.clone());
        environments.sort();
    }
    Ok(Choices {
        repositories,
        teams,
        environments,
    })
}

/// The overview of a resolved query (whose resolution checked the `read` scope).
pub async fn overview(core: &Core, query: &MetricsQuery, by: GroupBy) -> Result<Overview, Error> {
    let window = query.window;
    let length = window.to - window.from;
    let previous_window = Window {
        from: window.from - length,
        to: window.from,
    };
    // Facts sufficient for both windows together are sufficient for each (and for every
    // bucket and group inside them). Built by hand: together they may pass 731 days.
    let both = Window {
        from: previous_window.from,
        to: window.to,
    };
    let conn = core.db.read();
    let facts = store::facts::load(conn, &query.scope, &both).await?;
    let choices = choices(core, query).await?;

    let interval = interval_for(&window);
    let summary = dora_metrics::compute(&facts.as_facts(), &window, query.benchmark);
    let previous = dora_metrics::compute(&facts.as_facts(), &previous_window, query.benchmark);
    let series = series_of(&facts, &window, interval, query.benchmark);

    let labels: HashMap<Uuid, RepositoryLabels> = choices
        .repositories
        .iter()
        .map(|r| {
            (
                r.id,
                RepositoryLabels {
                    name: r.name.clone(),
                    team: r.team.clone(),
                },
            )
        })
        .collect();
    let groups: Groups = group_facts(&facts, by, &window, &labels);
    let breakdown = groups
        .into_iter()
        .map(|(group, facts)| {
            let summary = dora_metrics::compute(&facts.as_facts(), &window, query.benchmark);
            (group, summary)
        })
        .collect();

    let recent = recent(core, query, &facts, &labels).await?;
    let names = choices.names();
    let open_incidents = store::overview::open_incidents(conn, &query.scope, RECENT_LIMIT)
        .await?
        .into_iter()
        .map(|incident| OpenIncident {
            repository: incident
                .repository_id
                .and_then(|id| names.get(&id).cloned()),
            incident,
        })
        .collect();

    Ok(Overview {
        summary,
        previous_window,
        previous,
        interval,
        series,
        by,
        breakdown,
        recent,
        open_incidents,
        choices,
    })
}

/// The newest deployments of the window and the verdicts the facts give them.
async fn recent(
    core: &Core,
    query: &MetricsQuery,
    facts: &ScopeFacts,
    labels: &HashMap<Uuid, RepositoryLabels>,
) -> Result<Vec<RecentDeployment>, Error> {
    let rows = store::overview::recent_deployments(
        core.db.read(),
        &query.scope,
        query.window.from,
        query.window.to,
        RECENT_LIMIT,
    )
    .await?;
    let mut outcomes: HashMap<Uuid, DeploymentOutcome> =
        dora_metrics::derive(&facts.as_facts(), &query.window)
            .into_iter()
            .map(|outcome| (outcome.deployment.id, outcome))
            .collect();
    Ok(rows
        .into_iter()
        .map(|deployment| RecentDeployment {
            repository: labels
                .get(&deployment.repository_id)
                .map_or_else(|| deployment.repository_id.to_string(), |r| r.name.clone()),
            outcome: outcomes.remove(&deployment.id),
            deployment,
        })
        .collect())
}

/// The drill-down of one metric: the summary and one page of its explain listing, from one
/// read of the facts (so the page's numbers add up), and the repositories' names.
#[derive(Debug, Clone)]
pub struct DrillDown {
    pub summary: DoraSummary,
    pub page: ExplainPage,
    pub names: HashMap<Uuid, String>,
}

/// [`DrillDown`] of `metric` for a resolved query, from the item after `after`.
pub async fn drill_down(
    core: &Core,
    query: &MetricsQuery,
    metric: Metric,
    after: Option<ExplainKey>,
    limit: usize,
) -> Result<DrillDown, Error> {
    let conn = core.db.read();
    let facts = store::facts::load(conn, &query.scope, &query.window).await?;
    let summary = dora_metrics::compute(&facts.as_facts(), &query.window, query.benchmark);
    let page = page_of(listing_of(&facts, &query.window, metric), after, limit);
    let names = store::overview::repositories(conn, query.scope.organization_id)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    Ok(DrillDown {
        summary,
        page,
        names,
    })
}
