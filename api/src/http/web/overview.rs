//! The overview at `/`: controls, one card per key, trends, the breakdown, recent deployments
//! and open incidents, from one `core::overview` call.

use std::cmp::Ordering;

use dora_metrics::{Benchmark, DoraSummary, Interval, Metric, Tier};
use maud::{Markup, html};

use super::{
    charts::{self, Chart, Point, Scale},
    format,
    layout::{self, Header},
    params::{PageParams, WINDOWS, WindowChoice},
};
use crate::core::{
    metrics::{Group, GroupBy, MetricsQuery, causes},
    overview::{Choices, Overview},
};

/// One of the five keys, as its card shows it.
struct Card {
    metric: Metric,
    title: &'static str,
    /// The summary's JSON field the value is, e.g. `change_failure_rate.rate`.
    field: &'static str,
    value: Option<f64>,
    tier: Option<Tier>,
    detail: String,
    previous: Option<f64>,
    lower_is_better: bool,
    format: fn(f64) -> String,
}

fn rate(value: f64) -> String {
    format::percent(value)
}

fn cards(summary: &DoraSummary, previous: &DoraSummary) -> [Card; 5] {
    let f = &summary.deployment_frequency;
    let l = &summary.change_lead_time;
    let c = &summary.change_failure_rate;
    let r = &summary.failed_deployment_recovery_time;
    let w = &summary.deployment_rework_rate;
    let or_dash = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), format::duration);
    [
        Card {
            metric: Metric::DeploymentFrequency,
            title: "Deployment frequency",
            field: "deployment_frequency.per_day",
            value: Some(f.per_day),
            tier: Some(f.tier),
            detail: format!(
                "{} successful deployments; median {} deploy days a week",
                f.deployments, f.median_deploy_days_per_week
            ),
            previous: Some(previous.deployment_frequency.per_day),
            lower_is_better: false,
            format: format::per_day,
        },
        Card {
            metric: Metric::ChangeLeadTime,
            title: "Change lead time",
            field: "change_lead_time.median_seconds",
            value: l.median_seconds,
            tier: l.tier,
            detail: format!(
                "median of {} commits; p90 {}",
                l.samples,
                or_dash(l.p90_seconds)
            ),
            previous: previous.change_lead_time.median_seconds,
            lower_is_better: true,
            format: format::duration,
        },
        Card {
            metric: Metric::ChangeFailureRate,
            title: "Change failure rate",
            field: "change_failure_rate.rate",
            value: c.rate,
            tier: c.tier,
            detail: format!(
                "{} change failures of {} finished deployments",
                c.failures, c.deployments
            ),
            previous: previous.change_failure_rate.rate,
            lower_is_better: true,
            format: rate,
        },
        Card {
            metric: Metric::FailedDeploymentRecoveryTime,
            title: "Failed deployment recovery time",
            field: "failed_deployment_recovery_time.median_seconds",
            value: r.median_seconds,
            tier: r.tier,
            detail: format!(
                "median of {} recovered; p90 {}; {} not recovered",
                r.samples,
                or_dash(r.p90_seconds),
                r.unrecovered
            ),
            previous: previous.failed_deployment_recovery_time.median_seconds,
            lower_is_better: true,
            format: format::duration,
        },
        Card {
            metric: Metric::DeploymentReworkRate,
            title: "Deployment rework rate",
            field: "deployment_rework_rate.rate",
            value: w.rate,
            tier: None,
            detail: format!(
                "{} hotfixes or rollbacks of {} successful deployments",
                w.rework_deployments, w.deployments
            ),
            previous: previous.deployment_rework_rate.rate,
            lower_is_better: true,
            format: rate,
        },
    ]
}

fn tier_badge(tier: Option<Tier>) -> Markup {
    html! {
        @match tier {
            Some(tier) => span class={ "tier tier-" (tier.as_str()) } data-tier=(tier.as_str()) {
                (format::tier(tier))
            },
            None => span.tier.tier-none { "No tier" },
        }
    }
}

/// `▲ from 2.1 per day (better)`.
fn change(card: &Card, days: i64) -> Markup {
    html! {
        @match (card.value, card.previous) {
            (Some(now), Some(before)) if now == before => {
                span.change.same { "= same as the previous " (days) " days" }
            }
            (Some(now), Some(before)) => {
                @let up = now > before;
                @let better = up != card.lower_is_better;
                span class={ "change " (if better { "better" } else { "worse" }) } {
                    (if up { "▲" } else { "▼" }) " from " ((card.format)(before))
                    " in the previous " (days) " days (" (if better { "better" } else { "worse" }) ")"
                }
            }
            (None, Some(before)) => {
                span.change { "previous " (days) " days: " ((card.format)(before)) }
            }
            (_, None) => span.change { "no value in the previous " (days) " days" },
        }
    }
}

/// The window's length in whole days (for "the previous N days").
fn window_days(query: &MetricsQuery) -> i64 {
    ((query.window.to - query.window.from).num_seconds() as f64 / 86_400.0).round() as i64
}

fn scope_words(query: &MetricsQuery, choices: &Choices) -> String {
    let mut words = Vec::new();
    match &query.scope.environment {
        Some(environment) => words.push(format!("environment {environment}")),
        None => words.push("production deployments".to_owned()),
    }
    if let Some(id) = query.scope.repository_id {
        let name = choices
            .repositories
            .iter()
            .find(|r| r.id == id)
            .map_or_else(|| id.to_string(), |r| r.name.clone());
        words.push(format!("repository {name}"));
    }
    if let Some(team) = &query.filters.team {
        words.push(format!("team {team}"));
    }
    words.join(", ")
}

/// The controls form: a GET of this page, so every view is a URL.
pub fn controls(params: &PageParams, query: Option<&MetricsQuery>, choices: &Choices) -> Markup {
    let choice = params.window_choice().unwrap_or(WindowChoice::LastDays(30));
    let date_value = |given: Option<&str>, fallback: Option<String>| -> String {
        match given {
            Some(v) if v.len() == 10 => v.to_owned(),
            _ => fallback.unwrap_or_default(),
        }
    };
    let from_value = date_value(
        params.from.as_deref(),
        query.map(|q| format::date(q.window.from)),
    );
    let to_value = date_value(
        params.to.as_deref(),
        query.map(|q| format::date(q.window.to - chrono::TimeDelta::nanoseconds(1))),
    );
    let repository = query.and_then(|q| q.scope.repository_id);
    let benchmark = query.map_or(Benchmark::Y2023, |q| q.benchmark);
    html! {
        form.controls method="get" action="/" aria-label="What to show" {
            div.control {
                label for="window" { "Window" }
                select id="window" name="window" {
                    @for days in WINDOWS {
                        option value={ (days) "d" } selected[choice == WindowChoice::LastDays(days)] {
                            "Last " (days) " days"
                        }
                    }
                    option value="custom" selected[choice == WindowChoice::Custom] { "Custom (from–to)" }
                }
            }
            div.control {
                label for="from" { "From (custom)" }
                input type="date" id="from" name="from" value=(from_value);
            }
            div.control {
                label for="to" { "To, included (custom)" }
                input type="date" id="to" name="to" value=(to_value);
            }
            div.control {
                label for="repository" { "Repository" }
                select id="repository" name="repository" {
                    option value="" { "All repositories" }
                    @for r in &choices.repositories {
                        option value=(r.id) selected[repository == Some(r.id)] { (r.name) }
                    }
                }
            }
            div.control {
                label for="team" { "Team" }
                select id="team" name="team" {
                    option value="" { "All teams" }
                    @for team in &choices.teams {
                        option value=(team) selected[params.team() == Some(team.as_str())] { (team) }
                    }
                }
            }
            div.control {
                label for="environment" { "Environment" }
                select id="environment" name="environment" {
                    option value="" { "Production (all production environments)" }
                    @for environment in &choices.environments {
                        option value=(environment) selected[params.environment() == Some(environment.as_str())] {
                            (environment)
                        }
                    }
                }
            }
            div.control {
                label for="benchmark" { "Benchmark" }
                select id="benchmark" name="benchmark" {
                    option value="2023" selected[benchmark == Benchmark::Y2023] { "2023" }
                    option value="2021" selected[benchmark == Benchmark::Y2021] { "2021" }
                }
            }
            @if let Some(by) = params.by.as_deref().filter(|b| !b.is_empty()) {
                input type="hidden" name="by" value=(by);
            }
            div.control.apply { button type="submit" { "Apply" } }
        }
    }
}

/// The page when its parameters are refused: the controls and the message.
pub fn refused(
    header: Header<'_>,
    params: &PageParams,
    choices: &Choices,
    message: &str,
) -> Markup {
    let main = html! {
        h1 { "DORA metrics" }
        (controls(params, None, choices))
        p.message role="alert" { (message) }
        p { a href="/" { "Show the last 30 days" } }
    };
    layout::document("DORA metrics", Some(header), main)
}

/// The whole overview.
pub fn page(
    header: Header<'_>,
    params: &PageParams,
    query: &MetricsQuery,
    overview: &Overview,
) -> Markup {
    let days = window_days(query);
    let cards = cards(&overview.summary, &overview.previous);
    let main = html! {
        h1 { "DORA metrics" }
        (controls(params, Some(query), &overview.choices))
        p.window data-from=(format::rfc3339(query.window.from)) data-to=(format::rfc3339(query.window.to)) {
            "From " time datetime=(format::rfc3339(query.window.from)) { (format::time(query.window.from)) }
            " to " time datetime=(format::rfc3339(query.window.to)) { (format::time(query.window.to)) }
            " (" (days) " days, end excluded) · " (scope_words(query, &overview.choices))
            " · benchmark " (query.benchmark.to_string())
        }
        section aria-labelledby="keys-title" {
            h2 id="keys-title" { "The five keys" }
            ul.cards {
                @for card in &cards {
                    li.card data-metric=(card.field) data-value=(format::json_number(card.value)) {
                        h3 { (card.title) }
                        p.value {
                            (card.value.map_or_else(|| "No data".to_owned(), card.format))
                        }
                        p { (tier_badge(card.tier)) }
                        p.detail { (card.detail) }
                        p { (change(card, days)) }
                        p.drill {
                            a href=(params.href("/ui/explain", &[("metric", Some(card.metric.as_str())), ("sort", None), ("dir", None)])) {
                                "Why is it this number?"
                                span.visually-hidden { " (" (card.title) ")" }
                            }
                        }
                    }
                }
            }
        }
        (trends(query, overview))
        (breakdown(params, query, overview))
        (recent(overview))
        (incidents(params, overview))
    };
    layout::document("DORA metrics", Some(header), main)
}

/// A bucket's value and its tier.
type Graded = (Option<f64>, Option<Tier>);

fn trends(query: &MetricsQuery, overview: &Overview) -> Markup {
    let weekly = overview.interval == Interval::Week;
    let points = |value: &dyn Fn(&DoraSummary) -> Graded| -> Vec<Point> {
        overview
            .series
            .iter()
            .map(|(bucket, summary)| {
                let (v, tier) = value(summary);
                let day = format::date(bucket.window.from);
                Point {
                    label: if weekly {
                        format!("week of {day}")
                    } else {
                        day.clone()
                    },
                    short: day,
                    value: v,
                    tier: if bucket.partial { None } else { tier },
                    partial: bucket.partial,
                }
            })
            .collect()
    };
    let benchmark = query.benchmark;
    let frequency = points(&|s| {
        (
            Some(s.deployment_frequency.per_day),
            Some(s.deployment_frequency.tier),
        )
    });
    let lead = points(&|s| (s.change_lead_time.median_seconds, s.change_lead_time.tier));
    let failure = points(&|s| (s.change_failure_rate.rate, s.change_failure_rate.tier));
    let recovery = points(&|s| {
        (
            s.failed_deployment_recovery_time.median_seconds,
            s.failed_deployment_recovery_time.tier,
        )
    });
    let rework = points(&|s| (s.deployment_rework_rate.rate, None));
    let charts = [
        Chart {
            id: "trend-deployment-frequency",
            title: "Deployment frequency (deployments per day)",
            bands: charts::frequency_bands(f64::INFINITY),
            points: frequency,
            scale: Scale::Linear,
            format: format::per_day,
            tick: |v| format!("{v:.2}/day"),
        },
        Chart {
            id: "trend-change-lead-time",
            title: "Change lead time (median)",
            bands: charts::lead_time_bands(benchmark, f64::INFINITY),
            points: lead,
            scale: Scale::Log { min: 60.0 },
            format: format::duration,
            tick: format::duration,
        },
        Chart {
            id: "trend-change-failure-rate",
            title: "Change failure rate",
            bands: charts::failure_rate_bands(benchmark, f64::INFINITY),
            points: failure,
            scale: Scale::Linear,
            format: rate,
            tick: |v| format!("{:.0} %", v * 100.0),
        },
        Chart {
            id: "trend-recovery-time",
            title: "Failed deployment recovery time (median)",
            bands: charts::recovery_bands(f64::INFINITY),
            points: recovery,
            scale: Scale::Log { min: 60.0 },
            format: format::duration,
            tick: format::duration,
        },
        Chart {
            id: "trend-rework-rate",
            title: "Deployment rework rate (no tier)",
            bands: Vec::new(),
            points: rework,
            scale: Scale::Linear,
            format: rate,
            tick: |v| format!("{:.0} %", v * 100.0),
        },
    ];
    html! {
        section aria-labelledby="trends-title" {
            h2 id="trends-title" { "Trends" }
            p.rule {
                "One bar per calendar " (if weekly { "week (ISO, Monday 00:00 to Monday 00:00 UTC)" } else { "day (00:00 to 00:00 UTC)" })
                ": windows over 60 days trend by week, shorter ones by day. A bucket the window cuts "
                "short is partial (drawn hatched) and has no tier. The bands behind are the tiers of the "
                (benchmark.to_string()) " benchmark; deployment frequency's tiers count deploy days per week "
                "(5 or more: elite, 1: high, 1 per 30 days: medium), drawn as 5/7, 1/7 and 1/30 deployments per day."
            }
            div.charts {
                @for chart in &charts { (chart.render()) }
            }
        }
    }
}

/// The breakdown's sortable columns: (sort key, header, the row's value).
type Column = (&'static str, &'static str, fn(&DoraSummary) -> Option<f64>);

const COLUMNS: [Column; 5] = [
    ("deployment_frequency", "Deployment frequency", |s| {
        Some(s.deployment_frequency.per_day)
    }),
    ("change_lead_time", "Lead time (median)", |s| {
        s.change_lead_time.median_seconds
    }),
    ("change_failure_rate", "Change failure rate", |s| {
        s.change_failure_rate.rate
    }),
    (
        "failed_deployment_recovery_time",
        "Recovery time (median)",
        |s| s.failed_deployment_recovery_time.median_seconds,
    ),
    ("deployment_rework_rate", "Rework rate", |s| {
        s.deployment_rework_rate.rate
    }),
];

fn breakdown(params: &PageParams, query: &MetricsQuery, overview: &Overview) -> Markup {
    let (by, by_word) = match overview.by {
        GroupBy::Repository => ("repository", "Repository"),
        GroupBy::Team => ("team", "Team"),
        GroupBy::Environment => ("environment", "Environment"),
    };
    let sort = params.sort.as_deref().unwrap_or("group");
    let descending = params.dir.as_deref() == Some("desc");
    let mut rows: Vec<&(Group, DoraSummary)> = overview.breakdown.iter().collect();
    if let Some((_, _, value)) = COLUMNS.iter().find(|(key, _, _)| *key == sort) {
        rows.sort_by(|a, b| match (value(&a.1), value(&b.1)) {
            // Rows without a value go last either way.
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) if descending => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
        });
    } else if descending {
        rows.reverse();
    }
    let header_link = |key: &str| -> String {
        let dir = if sort == key && !descending {
            "desc"
        } else {
            "asc"
        };
        params.href("/", &[("sort", Some(key)), ("dir", Some(dir))])
    };
    let aria_sort = |key: &str| -> Option<&'static str> {
        (sort == key).then_some(if descending {
            "descending"
        } else {
            "ascending"
        })
    };
    let _ = query;
    html! {
        section aria-labelledby="breakdown-title" {
            h2 id="breakdown-title" { "Breakdown by " (by) }
            nav.switch aria-label="Group the breakdown by" {
                @for (key, word) in [("repository", "Repository"), ("team", "Team"), ("environment", "Environment")] {
                    a href=(params.href("/", &[("by", Some(key)), ("sort", None), ("dir", None)]))
                        aria-current=[(key == by).then_some("page")] { (word) }
                }
            }
            div.scroll tabindex="0" role="region" aria-label="Breakdown table" {
                table.breakdown data-by=(by) {
                    thead {
                        tr {
                            th scope="col" aria-sort=[aria_sort("group")] {
                                a href=(header_link("group")) { (by_word) }
                            }
                            @for (key, title, _) in COLUMNS {
                                th scope="col" aria-sort=[aria_sort(key)] {
                                    a href=(header_link(key)) { (title) }
                                }
                            }
                        }
                    }
                    tbody {
                        @if rows.is_empty() {
                            tr { td colspan="6" { "Nothing happened in this window." } }
                        }
                        @for ((group, repository_id), summary) in rows {
                            tr data-group=[group.as_deref()] data-no-group[group.is_none()] {
                                th scope="row" {
                                    @match (overview.by, group, repository_id) {
                                        (GroupBy::Repository, _, Some(id)) => {
                                            a href=(params.href("/", &[("repository", Some(&id.to_string())), ("sort", None), ("dir", None)])) {
                                                (group.as_deref().unwrap_or_default())
                                            }
                                        }
                                        (GroupBy::Team, Some(team), _) => {
                                            a href=(params.href("/", &[("team", Some(team)), ("sort", None), ("dir", None)])) { (team) }
                                        }
                                        (GroupBy::Environment, Some(environment), _) => {
                                            a href=(params.href("/", &[("environment", Some(environment)), ("sort", None), ("dir", None)])) { (environment) }
                                        }
                                        (_, Some(name), _) => { (name) }
                                        (_, None, _) => { "(no team)" }
                                    }
                                }
                                (cell("deployment_frequency.per_day", Some(summary.deployment_frequency.per_day), format::per_day, Some(Some(summary.deployment_frequency.tier))))
                                (cell("change_lead_time.median_seconds", summary.change_lead_time.median_seconds, format::duration, Some(summary.change_lead_time.tier)))
                                (cell("change_failure_rate.rate", summary.change_failure_rate.rate, rate, Some(summary.change_failure_rate.tier)))
                                (cell("failed_deployment_recovery_time.median_seconds", summary.failed_deployment_recovery_time.median_seconds, format::duration, Some(summary.failed_deployment_recovery_time.tier)))
                                (cell("deployment_rework_rate.rate", summary.deployment_rework_rate.rate, rate, None))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A breakdown cell: the value, and its tier when the metric has tiers.
fn cell(
    field: &str,
    value: Option<f64>,
    format: fn(f64) -> String,
    tier: Option<Option<Tier>>,
) -> Markup {
    html! {
        td data-metric=(field) data-value=(format::json_number(value)) {
            (value.map_or_else(|| "—".to_owned(), format))
            @if let Some(tier) = tier {
                " " (tier_badge(tier))
            }
        }
    }
}

fn recent(overview: &Overview) -> Markup {
    html! {
        section aria-labelledby="recent-title" {
            h2 id="recent-title" { "Recent deployments" }
            p.rule { "The newest " (overview.recent.len()) " deployments of the window in scope, any status." }
            div.scroll tabindex="0" role="region" aria-label="Recent deployments table" {
                table.recent {
                    thead {
                        tr {
                            th scope="col" { "Deployed" }
                            th scope="col" { "Repository" }
                            th scope="col" { "Environment" }
                            th scope="col" { "Status" }
                            th scope="col" { "Title" }
                            th scope="col" { "Change failure" }
                        }
                    }
                    tbody {
                        @if overview.recent.is_empty() {
                            tr { td colspan="6" { "No deployments in this window." } }
                        }
                        @for r in &overview.recent {
                            tr data-deployment=(r.deployment.id) {
                                td { time datetime=(format::rfc3339(r.deployment.deployed_at)) { (format::time(r.deployment.deployed_at)) } }
                                td { (r.repository) }
                                td { (r.deployment.environment) }
                                td { span class={ "status status-" (r.deployment.status) } { (r.deployment.status) } }
                                td.title {
                                    a href={ "/ui/deployments/" (r.deployment.id) } { (r.deployment.title) }
                                    " " span.number { "#" (r.deployment.number) }
                                }
                                td {
                                    @match &r.outcome {
                                        Some(outcome) if outcome.change_failure => {
                                            span.marker.failure { "✗ Change failure" }
                                            " " span.reason { (causes(&outcome.causes)) }
                                        }
                                        Some(_) => span.marker { "No" },
                                        None => span.marker { "— not finished" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn incidents(params: &PageParams, overview: &Overview) -> Markup {
    let t = &overview.summary.time_to_restore;
    let or_dash = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), format::duration);
    html! {
        section aria-labelledby="incidents-title" {
            h2 id="incidents-title" { "Open incidents" }
            p.rule data-metric="time_to_restore.median_seconds" data-value=(format::json_number(t.median_seconds)) {
                "Time to restore of the incidents started in the window: median " (or_dash(t.median_seconds))
                ", p90 " (or_dash(t.p90_seconds)) ", " (t.samples) " resolved, " (t.open) " open. "
                a href=(params.href("/ui/explain", &[("metric", Some("time_to_restore")), ("sort", None), ("dir", None)])) {
                    "Which incidents?"
                }
            }
            div.scroll tabindex="0" role="region" aria-label="Open incidents table" {
                table.incidents {
                    thead {
                        tr {
                            th scope="col" { "Started" }
                            th scope="col" { "Title" }
                            th scope="col" { "Severity" }
                            th scope="col" { "Repository" }
                            th scope="col" { "Environment" }
                            th scope="col" { "Deployment" }
                        }
                    }
                    tbody {
                        @if overview.open_incidents.is_empty() {
                            tr { td colspan="6" { "No open incidents in scope." } }
                        }
                        @for i in &overview.open_incidents {
                            tr data-incident=(i.incident.id) {
                                td { time datetime=(format::rfc3339(i.incident.started_at)) { (format::time(i.incident.started_at)) } }
                                td { (i.incident.title) }
                                td { (i.incident.severity.as_deref().unwrap_or("—")) }
                                td { (i.repository.as_deref().unwrap_or("—")) }
                                td { (i.incident.environment) }
                                td {
                                    @match i.incident.deployment_id {
                                        Some(id) => a href={ "/ui/deployments/" (id) } { "deployment" },
                                        None => "—",
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
