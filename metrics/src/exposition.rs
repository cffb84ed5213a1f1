//! The Prometheus exposition of computed DORA values: summaries per scope become gauge
//! families, rendered once per snapshot refresh (a scrape only copies them).
//!
//! Names follow Prometheus conventions: `dora_` prefix, base units (`_seconds`), ratios in
//! 0–1, `_total` only on counters. Every family here is a gauge: each is recomputed from the
//! database and can go down (a deployment changes status, a GitHub-style delete removes one,
//! the window moves on), which a counter must never do. A value without samples is left out
//! (never NaN, never 0).
//! Label values are bounded: organization, repository, environment, team, window, quantile,
//! metric, tier, status — never a commit, branch, id, member or PR number.

use prometheus::{
    Gauge, GaugeVec, IntGaugeVec, Opts, Registry, core::Collector, proto::MetricFamily,
};

use crate::{DoraSummary, Tier};

/// One scope's summary with its labels.
#[derive(Debug, Clone)]
pub struct ScopeSummary {
    pub organization: String,
    /// Repository name, or `*` for all repositories.
    pub repository: String,
    /// Environment, or `*` for all production environments.
    pub environment: String,
    /// Team of the repository, or `*`/empty when not one repository.
    pub team: String,
    /// Window label, e.g. `30d`.
    pub window: String,
    pub summary: DoraSummary,
}

/// A count of stored records by labels (for the `dora_deployments` and `dora_incidents`
/// gauges).
#[derive(Debug, Clone)]
pub struct Count {
    pub labels: Vec<String>,
    pub value: u64,
}

/// Numeric tier for colouring: 4 elite, 3 high, 2 medium, 1 low.
pub fn tier_score(tier: Tier) -> f64 {
    match tier {
        Tier::Elite => 4.0,
        Tier::High => 3.0,
        Tier::Medium => 2.0,
        Tier::Low => 1.0,
    }
}

const SCOPE: &[&str] = &[
    "organization",
    "repository",
    "environment",
    "team",
    "window",
];

fn gauge(
    registry: &Registry,
    name: &str,
    help: &str,
    extra: &[&str],
) -> Result<GaugeVec, prometheus::Error> {
    let labels: Vec<&str> = SCOPE.iter().chain(extra).copied().collect();
    let g = GaugeVec::new(Opts::new(name, help), &labels)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

/// Builds the DORA metric families of a snapshot.
///
/// `deployments` counts have labels (organization, repository, environment, status, window):
/// the deployments deployed in the window, by their current status; `incidents` counts
/// (organization, repository, environment, window): the incidents started in the window.
pub fn families(
    scopes: &[ScopeSummary],
    deployments: &[Count],
    incidents: &[Count],
) -> Result<Vec<MetricFamily>, prometheus::Error> {
    let r = Registry::new();
    // Precomputed quantiles are plain gauges with the quantile in the name: promtool
    // reserves the `quantile` label for summaries, which would also need a sum.
    type Value = fn(&DoraSummary) -> Option<f64>;
    let values: [(&str, &str, Value); 15] = [
        (
            "dora_deployment_frequency_per_day",
            "Successful deployments per day in the window",
            |m| Some(m.deployment_frequency.per_day),
        ),
        (
            "dora_window_deployments",
            "Successful deployments in the window",
            |m| Some(m.deployment_frequency.deployments as f64),
        ),
        (
            "dora_weekly_deployment_dates",
            "Median over 7-day buckets of the UTC dates with a successful deployment",
            |m| Some(m.deployment_frequency.median_deploy_days_per_week),
        ),
        (
            "dora_monthly_deployment_dates",
            "Median over 30-day buckets of the UTC dates with a successful deployment",
            |m| Some(m.deployment_frequency.median_deploy_days_per_month),
        ),
        (
            "dora_change_lead_time_median_seconds",
            "Median change lead time, commit to deployment",
            |m| m.change_lead_time.median_seconds,
        ),
        (
            "dora_change_lead_time_p90_seconds",
            "90th percentile change lead time, commit to deployment",
            |m| m.change_lead_time.p90_seconds,
        ),
        (
            "dora_change_failure_rate",
            "Change failures / finished deployments in the window (0-1)",
            |m| m.change_failure_rate.rate,
        ),
        (
            "dora_failed_deployment_recovery_time_median_seconds",
            "Median failed deployment recovery time",
            |m| m.failed_deployment_recovery_time.median_seconds,
        ),
        (
            "dora_failed_deployment_recovery_time_p90_seconds",
            "90th percentile failed deployment recovery time",
            |m| m.failed_deployment_recovery_time.p90_seconds,
        ),
        (
            "dora_unrecovered_failures",
            "Change failures in the window not recovered yet",
            |m| Some(m.failed_deployment_recovery_time.unrecovered as f64),
        ),
        (
            "dora_deployment_rework_rate",
            "Hotfix and rollback deployments / successful deployments (0-1)",
            |m| m.deployment_rework_rate.rate,
        ),
        (
            "dora_time_to_restore_median_seconds",
            "Median time to restore service after an incident",
            |m| m.time_to_restore.median_seconds,
        ),
        (
            "dora_time_to_restore_p90_seconds",
            "90th percentile time to restore service after an incident",
            |m| m.time_to_restore.p90_seconds,
        ),
        (
            "dora_open_incidents",
            "Incidents started in the window and not resolved",
            |m| Some(m.time_to_restore.open as f64),
        ),
        (
            "dora_change_failures",
            "Change failures among the finished deployments of the window",
            |m| Some(m.change_failure_rate.failures as f64),
        ),
    ];
    let gauges = values
        .iter()
        .map(|(name, help, value)| Ok((gauge(&r, name, help, &[])?, *value)))
        .collect::<Result<Vec<_>, prometheus::Error>>()?;
    let tier = gauge(
        &r,
        "dora_tier",
        "DORA performance tier per metric (4 elite, 3 high, 2 medium, 1 low)",
        &["metric", "tier"],
    )?;

    for s in scopes {
        let l = [
            s.organization.as_str(),
            s.repository.as_str(),
            s.environment.as_str(),
            s.team.as_str(),
            s.window.as_str(),
        ];
        let m = &s.summary;
        for (g, value) in &gauges {
            if let Some(v) = value(m) {
                g.with_label_values(&l).set(v);
            }
        }
        let f = &m.deployment_frequency;
        for (metric, t) in [
            ("deployment_frequency", Some(f.tier)),
            ("change_lead_time", m.change_lead_time.tier),
            ("change_failure_rate", m.change_failure_rate.tier),
            (
                "failed_deployment_recovery_time",
                m.failed_deployment_recovery_time.tier,
            ),
        ] {
            if let Some(t) = t {
                let labels: Vec<&str> = l.iter().copied().chain([metric, t.as_str()]).collect();
                tier.with_label_values(&labels).set(tier_score(t));
            }
        }
    }

    let deployments_gauge = IntGaugeVec::new(
        Opts::new(
            "dora_deployments",
            "Deployments deployed in the window, by current status",
        ),
        &[
            "organization",
            "repository",
            "environment",
            "status",
            "window",
        ],
    )?;
    r.register(Box::new(deployments_gauge.clone()))?;
    for c in deployments {
        let labels: Vec<&str> = c.labels.iter().map(String::as_str).collect();
        deployments_gauge
            .with_label_values(&labels)
            .set(i64::try_from(c.value).unwrap_or(i64::MAX));
    }
    let incidents_gauge = IntGaugeVec::new(
        Opts::new("dora_incidents", "Incidents started in the window"),
        &["organization", "repository", "environment", "window"],
    )?;
    r.register(Box::new(incidents_gauge.clone()))?;
    for c in incidents {
        let labels: Vec<&str> = c.labels.iter().map(String::as_str).collect();
        incidents_gauge
            .with_label_values(&labels)
            .set(i64::try_from(c.value).unwrap_or(i64::MAX));
    }
    Ok(r.gather())
}

/// A gauge family computed at scrape time (e.g. the snapshot's age).
pub fn single_gauge(
    name: &str,
    help: &str,
    value: f64,
) -> Result<Vec<MetricFamily>, prometheus::Error> {
    let g = Gauge::new(name, help)?;
    g.set(value);
    Ok(g.collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Benchmark, Facts, Window, compute};
    use chrono::{TimeZone, Utc};
    use prometheus::{Encoder, TextEncoder};

    fn render(families: &[MetricFamily]) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(families, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn empty_metrics_are_left_out_and_labels_escaped() {
        let window = Window::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap(),
        )
        .unwrap();
        let summary = compute(
            &Facts {
                deployments: &[],
                incidents: &[],
            },
            &window,
            Benchmark::Y2023,
        );
        let scope = ScopeSummary {
            organization: "acme".into(),
            repository: "we\"ird\\repo\nname".into(),
            environment: "production".into(),
            team: String::new(),
            window: "30d".into(),
            summary,
        };
        let counts = [Count {
            labels: ["acme", "acme/web", "production", "success", "30d"]
                .map(String::from)
                .to_vec(),
            value: 3,
        }];
        let text = render(&families(&[scope], &counts, &[]).unwrap());
        // Counts that follow current statuses can go down: a gauge, named without `_total`.
        assert!(text.contains("# TYPE dora_deployments gauge"), "{text}");
        assert!(!text.contains("_total"), "{text}");
        assert!(
            text.contains(r#"repository="we\"ird\\repo\nname""#),
            "{text}"
        );
        assert!(text.contains("dora_deployment_frequency_per_day{"));
        assert!(
            !text.contains("dora_change_lead_time_median_seconds{"),
            "no samples, no series"
        );
        assert!(!text.contains("dora_change_failure_rate{"));
        assert!(!text.contains("NaN"));
        let tier_line = text
            .lines()
            .find(|l| l.starts_with("dora_tier{") && l.contains(r#"metric="deployment_frequency""#))
            .unwrap();
        assert!(
            tier_line.contains(r#"tier="low""#) && tier_line.ends_with(" 1"),
            "{tier_line}"
        );
    }
}
