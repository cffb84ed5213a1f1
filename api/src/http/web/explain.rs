//! The drill-down at `/ui/explain?metric=…`: what a card's number is made of, one row per
//! fact with its reason (the same listing as `GET /api/v1/metrics/dora/explain`), a page at a
//! time, each deployment linking to its record.

use std::collections::HashMap;

use dora_metrics::{CommitLeadTime, DoraSummary, ExplainItem, Metric, Recovery, Tier};
use maud::{Markup, html};
use uuid::Uuid;

use super::{
    format,
    layout::{self, Header},
    params::PageParams,
};
use crate::core::{
    metrics::{MetricsQuery, explained_deployment, reason},
    overview::DrillDown,
};

/// Rows per page of the drill-down.
pub const PAGE_ROWS: usize = 100;

fn title(metric: Metric) -> &'static str {
    match metric {
        Metric::DeploymentFrequency => "Deployment frequency",
        Metric::ChangeLeadTime => "Change lead time",
        Metric::ChangeFailureRate => "Change failure rate",
        Metric::FailedDeploymentRecoveryTime => "Failed deployment recovery time",
        Metric::DeploymentReworkRate => "Deployment rework rate",
        Metric::TimeToRestore => "Time to restore (incidents)",
    }
}

fn or_dash(value: Option<f64>, format: fn(f64) -> String) -> String {
    value.map_or_else(|| "—".to_owned(), format)
}

/// The number and how the listing adds up to it.
fn headline(metric: Metric, s: &DoraSummary) -> (String, Option<Tier>, String) {
    match metric {
        Metric::DeploymentFrequency => {
            let f = &s.deployment_frequency;
            (
                format::per_day(f.per_day),
                Some(f.tier),
                format!(
                    "{} successful deployments listed below, over the window's length. The tier \
                     counts deploy days: median {} a week (over the whole 7-day spans counted \
                     back from the end of the window), {} a 30-day span.",
                    f.deployments, f.median_deploy_days_per_week, f.median_deploy_days_per_month
                ),
            )
        }
        Metric::ChangeLeadTime => {
            let l = &s.change_lead_time;
            (
                or_dash(l.median_seconds, format::duration),
                l.tier,
                format!(
                    "The median of the {} commits marked “sample” below (p90 {}): each commit \
                     a successful deployment of the window shipped for the first time in its \
                     stream, from commit to deployment.",
                    l.samples,
                    or_dash(l.p90_seconds, format::duration)
                ),
            )
        }
        Metric::ChangeFailureRate => {
            let c = &s.change_failure_rate;
            (
                or_dash(c.rate, format::percent),
                c.tier,
                format!(
                    "{} change failures among the {} finished deployments listed below.",
                    c.failures, c.deployments
                ),
            )
        }
        Metric::FailedDeploymentRecoveryTime => {
            let r = &s.failed_deployment_recovery_time;
            (
                or_dash(r.median_seconds, format::duration),
                r.tier,
                format!(
                    "The median time to recover of the {} recovered change failures below (p90 \
                     {}); {} are not recovered yet.",
                    r.samples,
                    or_dash(r.p90_seconds, format::duration),
                    r.unrecovered
                ),
            )
        }
        Metric::DeploymentReworkRate => {
            let w = &s.deployment_rework_rate;
            (
                or_dash(w.rate, format::percent),
                None,
                format!(
                    "{} hotfixes or rollbacks among the {} successful deployments below.",
                    w.rework_deployments, w.deployments
                ),
            )
        }
        Metric::TimeToRestore => {
            let t = &s.time_to_restore;
            (
                or_dash(t.median_seconds, format::duration),
                None,
                format!(
                    "The median duration of the {} resolved incidents below (p90 {}); {} are \
                     open.",
                    t.samples,
                    or_dash(t.p90_seconds, format::duration),
                    t.open
                ),
            )
        }
    }
}

/// The drill-down page.
pub fn page(
    header: Header<'_>,
    params: &PageParams,
    query: &MetricsQuery,
    metric: Metric,
    drill: &DrillDown,
    cursor: Option<&str>,
    next: Option<String>,
) -> Markup {
    let (value, tier, how) = headline(metric, &drill.summary);
    let names = &drill.names;
    let first = drill.page.items.first().map(|_| drill.page.offset);
    let main = html! {
        p { a href=(params.href("/", &[])) { "← Back to the overview" } }
        h1 { "Why is " (title(metric).to_lowercase()) " " (value) "?" }
        p.window data-from=(format::rfc3339(query.window.from)) data-to=(format::rfc3339(query.window.to)) {
            "From " (format::time(query.window.from)) " to " (format::time(query.window.to))
            @if let Some(tier) = tier { " · tier " strong { (format::tier(tier)) } }
        }
        p.how { (how) }
        p.count data-total=(drill.page.total) {
            (drill.page.total) " facts"
            @if let Some(first) = first {
                "; rows " (first + 1) "–" (first + drill.page.items.len()) " below"
            }
            "."
        }
        div.scroll tabindex="0" role="region" aria-label="Facts" {
            table.explain data-metric=(metric.as_str()) {
                (head(metric))
                tbody {
                    @if drill.page.items.is_empty() {
                        tr { td colspan="6" { "Nothing in this window." } }
                    }
                    @for (_, item) in &drill.page.items {
                        (row(item, names))
                    }
                }
            }
        }
        nav.pages aria-label="Pages" {
            @if cursor.is_some() {
                a href=(params.href("/ui/explain", &[("metric", Some(metric.as_str()))])) { "First page" }
            }
            @if let Some(next) = next {
                " "
                a rel="next" href=(params.href("/ui/explain", &[("metric", Some(metric.as_str())), ("cursor", Some(&next))])) {
                    "Next page"
                }
            }
        }
    };
    layout::document(title(metric), Some(header), main)
}

fn head(metric: Metric) -> Markup {
    let columns: &[&str] = match metric {
        Metric::DeploymentFrequency => &[
            "Deployment",
            "Repository",
            "Environment",
            "Deployed",
            "Deploy day (7-day span, 30-day span)",
        ],
        Metric::ChangeLeadTime => &[
            "Deployment",
            "Repository",
            "Commit",
            "Committed",
            "Deployed",
            "Lead time",
        ],
        Metric::ChangeFailureRate => &[
            "Deployment",
            "Repository",
            "Environment",
            "Deployed",
            "Outcome",
            "Change failure",
        ],
        Metric::FailedDeploymentRecoveryTime => &[
            "Deployment",
            "Repository",
            "Environment",
            "Deployed",
            "Recovered",
            "Time",
        ],
        Metric::DeploymentReworkRate => &[
            "Deployment",
            "Repository",
            "Environment",
            "Deployed",
            "Flags",
            "Rework",
        ],
        Metric::TimeToRestore => &[
            "Incident",
            "Repository",
            "Environment",
            "Started",
            "Resolved",
            "Duration",
        ],
    };
    html! {
        thead {
            tr {
                @for column in columns { th scope="col" { (column) } }
                th scope="col" { "Why" }
            }
        }
    }
}

fn deployment_link(id: Uuid, number: i64) -> Markup {
    html! { a href={ "/ui/deployments/" (id) } { "#" (number) } }
}

fn repository(names: &HashMap<Uuid, String>, id: Option<Uuid>) -> String {
    id.map_or_else(
        || "—".to_owned(),
        |id| names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
    )
}

fn when(t: chrono::DateTime<chrono::Utc>) -> Markup {
    html! { time datetime=(format::rfc3339(t)) { (format::time(t)) } }
}

fn yes_no(yes: bool) -> &'static str {
    if yes { "Yes" } else { "No" }
}

fn row(item: &ExplainItem, names: &HashMap<Uuid, String>) -> Markup {
    let why = reason(item);
    let deployment = explained_deployment(item);
    html! {
        tr data-deployment=[deployment.map(|d| d.id)] {
            @if let Some(d) = deployment {
                td { (deployment_link(d.id, d.number)) }
                td { (repository(names, Some(d.repository))) }
            }
            @match item {
                ExplainItem::Deployment(i) => {
                    td { (i.deployment.environment) }
                    td { (when(i.deployment.deployed_at)) }
                    td {
                        (i.deploy_date.to_string()) " ("
                        (i.week_bucket.map_or_else(|| "—".to_owned(), |b| b.to_string())) ", "
                        (i.month_bucket.map_or_else(|| "—".to_owned(), |b| b.to_string())) ")"
                    }
                }
                ExplainItem::Commit(i) => {
                    td { code title=(i.sha) { (i.sha.chars().take(12).collect::<String>()) } }
                    td { (when(i.committed_at)) }
                    td { (when(i.deployment.deployed_at)) }
                    td data-sample=[i.lead_time.sample()] {
                        @match i.lead_time {
                            CommitLeadTime::Sample { seconds } => { (format::duration(seconds)) }
                            _ => { "not a sample" }
                        }
                    }
                }
                ExplainItem::ChangeFailure(i) => {
                    td { (i.deployment.environment) }
                    td { (when(i.deployment.deployed_at)) }
                    td { (if i.outcome == dora_metrics::Outcome::Failure { "failure" } else { "success" }) }
                    td data-change-failure=(i.change_failure) {
                        @if i.change_failure { span.marker.failure { "✗ Yes" } } @else { "No" }
                    }
                }
                ExplainItem::Recovery(i) => {
                    td { (i.deployment.environment) }
                    td { (when(i.deployment.deployed_at)) }
                    @match &i.recovery {
                        Recovery::IncidentResolved { recovered_at, seconds, .. }
                        | Recovery::NextSuccess { recovered_at, seconds, .. } => {
                            td { (when(*recovered_at)) }
                            td { (format::duration(*seconds)) }
                        }
                        _ => { td { "not yet" } td { "—" } }
                    }
                }
                ExplainItem::Rework(i) => {
                    td { (i.deployment.environment) }
                    td { (when(i.deployment.deployed_at)) }
                    td { (crate::core::metrics::remediations(&i.flags)) }
                    td { (yes_no(i.rework)) }
                }
                ExplainItem::Incident(i) => {
                    td { code { (i.incident.to_string()) } }
                    td { (repository(names, i.repository)) }
                    td { (i.environment) }
                    td { (when(i.started_at)) }
                    td { @match i.resolved_at { Some(t) => (when(t)), None => "open" } }
                    td { (or_dash(i.seconds, format::duration)) }
                }
            }
            td.reason { (why) }
        }
    }
}
