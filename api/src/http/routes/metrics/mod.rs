//! `/api/v1/metrics/dora…`: the DORA metrics of the token's organization (DESIGN.md §5, §6).
//! Each endpoint resolves its query with `core::metrics` and answers the engine's values in
//! the shapes of [`out`].

pub mod explain;
pub mod out;

use chrono::{DateTime, Utc};
use dora_metrics::Interval;
use poem_openapi::{OpenApi, param::Query, payload::Json};

use crate::{
    core::{
        self,
        metrics::{GroupBy, RawQuery},
    },
    http::{ApiTags, error::ApiError, extract::BearerAuth, pagination, state::AppState},
};
use explain::{DoraExplainOut, ExplainItemOut, MetricName};
use out::{
    BreakdownBy, BreakdownRow, BucketMetricsOut, DoraBreakdownOut, DoraSeriesOut, DoraSummaryOut,
    QueryOut, SeriesBucket, rfc3339,
};

/// The page size of an explain listing when none is asked for, and the largest.
pub const EXPLAIN_DEFAULT_LIMIT: u64 = 100;
pub const EXPLAIN_MAX_LIMIT: u64 = 1000;

#[derive(Default)]
pub struct MetricsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Metrics")]
impl MetricsApi {
    /// DORA metrics summary
    ///
    /// The five DORA metrics and time to restore of the token's organization over `[from, to)`
    /// (default: the 30 days up to now; at most 731 days). Without `environment`, the scope is
    /// the production deployments. Needs the `read` scope.
    #[oai(
        path = "/metrics/dora",
        method = "get",
        operation_id = "getDoraMetrics"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn summary(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// Start of the window, inclusive (RFC 3339).
        from: Query<Option<DateTime<Utc>>>,
        /// End of the window, exclusive (RFC 3339).
        to: Query<Option<DateTime<Utc>>>,
        /// One repository: its URL (any spelling) or id.
        repository: Query<Option<String>>,
        /// One environment (any, production or not).
        environment: Query<Option<String>>,
        /// The repositories of one team.
        team: Query<Option<String>>,
        /// `2023` (default) or `2021`.
        benchmark: Query<Option<String>>,
    ) -> Result<Json<DoraSummaryOut>, ApiError> {
        let raw = RawQuery {
            from: from.0,
            to: to.0,
            repository: repository.0,
            environment: environment.0,
            team: team.0,
            benchmark: benchmark.0,
        };
        let query = core::metrics::resolve(&state.core, &auth.0, raw).await?;
        let summary = core::metrics::summary(&state.core, &query).await?;
        Ok(Json(DoraSummaryOut {
            query: (&query).into(),
            metrics: summary.into(),
        }))
    }

    /// DORA metrics per day, week or month
    ///
    /// The summary's values for each bucket of the window, oldest first. Buckets align to the
    /// calendar in UTC: days from midnight, ISO weeks from Monday, calendar months. A first or
    /// last bucket that the window cuts short says `partial: true` and carries no tier. Each
    /// bucket is computed as if it were the window (its frequency medians use the whole 7- and
    /// 30-day spans inside it).
    #[oai(
        path = "/metrics/dora/series",
        method = "get",
        operation_id = "getDoraMetricsSeries"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn series(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// `day`, `week` (ISO week, the default) or `month` (calendar month).
        interval: Query<Option<String>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        repository: Query<Option<String>>,
        environment: Query<Option<String>>,
        team: Query<Option<String>>,
        benchmark: Query<Option<String>>,
    ) -> Result<Json<DoraSeriesOut>, ApiError> {
        let interval = match interval.0.as_deref() {
            None => Interval::Week,
            Some(word) => word
                .parse::<Interval>()
                .map_err(|e| core::Error::invalid_parameter("interval", e.to_string()))?,
        };
        let raw = RawQuery {
            from: from.0,
            to: to.0,
            repository: repository.0,
            environment: environment.0,
            team: team.0,
            benchmark: benchmark.0,
        };
        let query = core::metrics::resolve(&state.core, &auth.0, raw).await?;
        let buckets = core::metrics::series(&state.core, &query, interval)
            .await?
            .into_iter()
            .map(|(bucket, summary)| SeriesBucket {
                from: rfc3339(bucket.window.from),
                to: rfc3339(bucket.window.to),
                partial: bucket.partial,
                metrics: BucketMetricsOut::new(summary, bucket.partial),
            })
            .collect();
        Ok(Json(DoraSeriesOut {
            query: QueryOut::from(&query),
            interval: interval.to_string(),
            buckets,
        }))
    }

    /// DORA metrics per repository, team or environment
    ///
    /// One row per group that has a deployment or an incident in the window; each row is the
    /// summary with that group's filter added. With `by=team`, the repositories without a team
    /// form one row whose `group` is null; incidents without a repository belong to no row.
    #[oai(
        path = "/metrics/dora/breakdown",
        method = "get",
        operation_id = "getDoraMetricsBreakdown"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn breakdown(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// `repository`, `team` or `environment`.
        by: Query<BreakdownBy>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        repository: Query<Option<String>>,
        environment: Query<Option<String>>,
        team: Query<Option<String>>,
        benchmark: Query<Option<String>>,
    ) -> Result<Json<DoraBreakdownOut>, ApiError> {
        let raw = RawQuery {
            from: from.0,
            to: to.0,
            repository: repository.0,
            environment: environment.0,
            team: team.0,
            benchmark: benchmark.0,
        };
        let (group_by, name) = match by.0 {
            BreakdownBy::Repository => (GroupBy::Repository, "repository"),
            BreakdownBy::Team => (GroupBy::Team, "team"),
            BreakdownBy::Environment => (GroupBy::Environment, "environment"),
        };
        let query = core::metrics::resolve(&state.core, &auth.0, raw).await?;
        let rows = core::metrics::breakdown(&state.core, &query, group_by)
            .await?
            .into_iter()
            .map(|((group, repository_id), summary)| BreakdownRow {
                group,
                repository_id,
                metrics: summary.into(),
            })
            .collect();
        Ok(Json(DoraBreakdownOut {
            query: QueryOut::from(&query),
            by: name.to_owned(),
            rows,
        }))
    }

    /// The facts a DORA number is made of
    ///
    /// Lists, for one `metric` of the summary with the same filters and window, every fact the
    /// number is made of and the reason it counts (or does not): for `change_failure_rate`
    /// every finished deployment with `change_failure` and its causes; for `change_lead_time`
    /// every commit of the window's successful deployments, the samples and the skipped ones;
    /// for `failed_deployment_recovery_time` every change failure and how it recovered; for
    /// `deployment_frequency` and `deployment_rework_rate` every successful deployment; for
    /// `time_to_restore` every incident that started in the window. The whole listing adds up
    /// exactly to `GET /metrics/dora`. Paginated: `limit` (1–1000, default 100) and `cursor`
    /// (the previous page's `next_cursor`).
    #[oai(
        path = "/metrics/dora/explain",
        method = "get",
        operation_id = "explainDoraMetric"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn explain(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// The metric to explain: a field of the summary.
        metric: Query<MetricName>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        repository: Query<Option<String>>,
        environment: Query<Option<String>>,
        team: Query<Option<String>>,
        benchmark: Query<Option<String>>,
        /// Items per page, 1–1000 (default 100).
        limit: Query<Option<u64>>,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
    ) -> Result<Json<DoraExplainOut>, ApiError> {
        let raw = RawQuery {
            from: from.0,
            to: to.0,
            repository: repository.0,
            environment: environment.0,
            team: team.0,
            benchmark: benchmark.0,
        };
        let after = pagination::explain_cursor(cursor.0.as_deref())?;
        let limit = limit
            .0
            .unwrap_or(EXPLAIN_DEFAULT_LIMIT)
            .clamp(1, EXPLAIN_MAX_LIMIT);
        let query = core::metrics::resolve(&state.core, &auth.0, raw).await?;
        let page = core::metrics::explain(
            &state.core,
            &query,
            metric.0.into(),
            after,
            usize::try_from(limit).unwrap_or(usize::MAX),
        )
        .await?;
        Ok(Json(DoraExplainOut {
            query: QueryOut::from(&query),
            metric: metric.0,
            total: page.total as u64,
            items: page
                .items
                .iter()
                .map(|(_, item)| ExplainItemOut::from(item))
                .collect(),
            next_cursor: page.next.as_ref().map(pagination::encode_explain_cursor),
        }))
    }
}
