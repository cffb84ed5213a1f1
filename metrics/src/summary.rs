//! The outputs: one struct per DORA metric and the summary that holds them. Field names are the
//! JSON names. Durations are `f64` seconds; a metric without samples is `None` (and so is its
//! tier), never 0 and never NaN.

use serde::Serialize;

use crate::tiers::Tier;

/// All metrics of one scope and window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoraSummary {
    pub deployment_frequency: DeploymentFrequency,
    pub change_lead_time: LeadTime,
    pub change_failure_rate: ChangeFailureRate,
    pub failed_deployment_recovery_time: RecoveryTime,
    pub deployment_rework_rate: ReworkRate,
    pub time_to_restore: TimeToRestore,
}

/// Successful deployments deployed in the window. Always present: no deployments is a
/// frequency of 0, tier low.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentFrequency {
    pub deployments: u64,
    /// `deployments` ÷ window length in days.
    pub per_day: f64,
    /// Median, over the whole 7-day buckets, of the distinct UTC dates with a deployment.
    pub median_deploy_days_per_week: f64,
    /// Median, over the whole 30-day buckets, of the distinct UTC dates with a deployment.
    pub median_deploy_days_per_month: f64,
    pub tier: Tier,
}

/// Commit-to-deploy time of the changes first shipped by the window's successful deployments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadTime {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub samples: u64,
    pub tier: Option<Tier>,
}

/// Change failures among the finished (successful or failed) deployments of the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeFailureRate {
    pub failures: u64,
    /// Finished deployments deployed in the window: the denominator.
    pub deployments: u64,
    pub rate: Option<f64>,
    pub tier: Option<Tier>,
}

/// How long the window's change failures took to recover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryTime {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    /// Recovered change failures.
    pub samples: u64,
    /// Change failures not recovered yet.
    pub unrecovered: u64,
    pub tier: Option<Tier>,
}

/// Hotfixes and rollbacks among the window's successful deployments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReworkRate {
    pub rework_deployments: u64,
    /// Successful deployments deployed in the window: the denominator.
    pub deployments: u64,
    pub rate: Option<f64>,
}

/// Incident durations (incidents started in the window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeToRestore {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    /// Resolved incidents.
    pub samples: u64,
    /// Incidents not resolved yet.
    pub open: u64,
}
