//! The DORA domain of dora-tracker: pure functions from deployment and incident facts to the
//! DORA metrics and their tiers. No database, no HTTP, no clock: `now` is always a parameter.
//!
//! The definitions are those of DESIGN.md §5. The entry point is [`compute()`] (and
//! [`compute_each()`] for the buckets of a series):
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use dora_metrics::{Benchmark, Facts, Window, compute};
//!
//! let now = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
//! let window = Window::last_days(30, now).unwrap();
//! let summary = compute(&Facts { deployments: &[], incidents: &[] }, &window, Benchmark::Y2023);
//! assert_eq!(summary.deployment_frequency.deployments, 0);
//! assert_eq!(summary.change_lead_time.median_seconds, None);
//! ```
//!
//! The same walk over the facts also answers, per deployment, *why*:
//!
//! - [`derive()`] gives the [`DeploymentOutcome`] of every finished deployment of a window:
//!   change failure and all its [`FailureCause`]s, its [`Recovery`], each commit's
//!   [`CommitLeadTime`] (a sample, or why not), rework, and its stream [`Neighbours`];
//! - [`summarize()`] computes the [`DoraSummary`] of a window from compact per-deployment
//!   [`OutcomeRow`]s plus lead-time samples and incidents, for a store that keeps outcomes
//!   (DESIGN.md §12); `summarize` of what `derive` gives equals `compute`, exactly;
//! - [`summarize_slots()`] does the same from [`OutcomeSlot`]s, the rows of one UTC date added
//!   up (what a store aggregates in SQL, so a query reads a few rows per day);
//! - [`explain()`] lists the facts one [`Metric`] of a window is made of, each with its
//!   reason ([`ExplainItem`]), adding up exactly to the summary (DESIGN.md §6, §11).
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use dora_metrics::{
//!     CommitFact, DeploymentFact, ExplainItem, Facts, Metric, Outcome, Window, explain,
//! };
//! use uuid::Uuid;
//!
//! let now = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
//! let deployed_at = now - TimeDelta::days(1);
//! let deployment = DeploymentFact {
//!     id: Uuid::from_u128(1),
//!     number: 1,
//!     repository: Uuid::from_u128(2),
//!     environment: "production".into(),
//!     deployed_at,
//!     outcome: Outcome::Success,
//!     is_fix: false,
//!     is_hotfix: false,
//!     is_rollback: false,
//!     commits: vec![CommitFact {
//!         sha: "abc".into(),
//!         committed_at: deployed_at - TimeDelta::hours(2),
//!     }],
//! };
//! let facts = Facts { deployments: &[deployment], incidents: &[] };
//! let window = Window::last_days(30, now).unwrap();
//! let items = explain(&facts, &window, Metric::ChangeLeadTime);
//! let [ExplainItem::Commit(commit)] = items.as_slice() else { panic!("{items:?}") };
//! assert_eq!(commit.lead_time.sample(), Some(7200.0));
//! ```
//!
//! Series buckets come from [`Window::calendar_buckets`] (UTC days, ISO weeks, calendar
//! months; partial ends flagged).
//!
//! # Modules
//!
//! - [`facts`]: the inputs ([`DeploymentFact`], [`IncidentFact`], [`Facts`]).
//! - [`window`]: the half-open window `[from, to)` and its buckets (calendar-aligned series
//!   buckets: [`Window::calendar_buckets`]).
//! - [`percentile`](mod@percentile): linear-interpolated percentiles.
//! - [`tiers`]: the benchmark tables ([`Benchmark`], [`Tier`]).
//! - [`summary`]: the outputs ([`DoraSummary`] and one struct per metric).
//! - [`compute`](mod@compute): the engine.
//! - [`outcomes`]: what the engine decides about each deployment, as values ([`derive()`]),
//!   and the summary of stored outcome rows ([`summarize()`]).
//! - [`explain`](mod@explain): the facts each metric is made of, with reasons ([`explain()`]).
//!
//! # Streams and order
//!
//! A *stream* is the deployments of one `(repository, environment)`, ordered by
//! `(deployed_at, number)` (then `id`, which only matters if numbers repeat, which the store
//! never does). "The next successful deployment" of D is the first [`Outcome::Success`]
//! strictly after D in that order. [`Outcome::Pending`] deployments are ignored by every metric.
//!
//! # What the caller must pass: a sufficient set of facts
//!
//! Everything passed is taken to be in scope: filtering by organization, repository, team and
//! environment is the caller's job. Facts outside the window decide what happened to the
//! deployments inside it, so for a window `[from, to)` the caller must pass, **for every stream
//! in scope**:
//!
//! 1. **Window deployments**: every deployment of any outcome with `from ≤ deployed_at < to`,
//!    with all its fields and commits.
//! 2. **The first later success**: the first successful deployment in stream order with
//!    `deployed_at ≥ to`, if there is one. It is needed for its remediation flags (`is_fix`,
//!    `is_hotfix`, `is_rollback`), its `deployed_at` (recovery time) and as a target for
//!    incident attribution. Its commits are not needed (they may be left empty). In SQL: per
//!    stream, the success with the least `(deployed_at, number)` among `deployed_at ≥ to`.
//! 3. **Earlier shipped shas**: the successful deployments with `deployed_at < from`, each with
//!    at least those of its commits whose sha also appears among the commits of a successful
//!    window deployment of the same stream (so a redeployed commit gives no second lead-time
//!    sample). Nothing else about them is used: their flags, `number` and `committed_at` may be
//!    anything, and they may be condensed, e.g. into one synthetic successful deployment per
//!    stream dated before `from` carrying all those shas, with an `id` that no incident names.
//!    Earlier deployments that did not succeed are not needed.
//!
//! and **incidents**: every incident in scope with `started_at ≥ from` (an incident that starts
//! after the window can still be attributed to the window's last deployment), plus every
//! incident whose `deployment` is the id of a window deployment, whatever its `started_at`.
//!
//! Any set of facts between this one and the full history gives the same result (the property
//! tests check both ends, for [`compute()`] and for [`derive()`], which [`explain()`] is built
//! on), except for what sufficient facts cannot know: a [`DeploymentOutcome`]'s
//! `previous`/`next` neighbours just outside the window, and which earlier deployment first
//! shipped a sha ([`CommitLeadTime::ShippedEarlier`] may name a synthetic or a trimmed one).
//! In particular later deployments beyond the first later success, earlier deployments that
//! did not succeed, and incidents that started before `from` and name no window deployment are
//! harmless but unnecessary.
//!
//! Two consequences worth knowing when building queries:
//! - an incident that names a `deployment` id is attributed only to that deployment; if that
//!   deployment is not among the facts it is attributed to nothing (no fallback to repository
//!   and time), which is correct precisely because only window deployments, all present, can
//!   be affected;
//! - incidents are attributed by repository and time only to *successful* deployments of the
//!   stream `(incident.repository, incident.environment)`, deployed strictly before
//!   `started_at`.

pub mod compute;
pub mod explain;
pub mod exposition;
pub mod facts;
pub mod outcomes;
pub mod percentile;
pub mod summary;
pub mod tiers;
pub mod window;

pub use compute::{compute, compute_each};
pub use explain::{
    ChangeFailureItem, CommitItem, ExplainItem, FrequencyItem, IncidentItem, Metric,
    ParseMetricError, RecoveryItem, ReworkItem, explain, explain_outcomes,
};
pub use facts::{CommitFact, DeploymentFact, Facts, IncidentFact, Outcome};
pub use outcomes::{
    AttributedBy, CommitLeadTime, CommitOutcome, DeploymentOutcome, DeploymentRef, FailureCause,
    Neighbours, OutcomeRow, OutcomeSlot, Recovery, Remediation, derive, summarize, summarize_slots,
};
pub use percentile::percentile;
pub use summary::{
    ChangeFailureRate, DeploymentFrequency, DoraSummary, LeadTime, RecoveryTime, ReworkRate,
    TimeToRestore,
};
pub use tiers::{Benchmark, ParseBenchmarkError, Tier};
pub use window::{Bucket, Interval, MAX_WINDOW_DAYS, ParseIntervalError, Window, WindowError};
