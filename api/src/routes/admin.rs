//! `/api/v1/admin`: repairs for tokens with the `admin` scope, each written to the audit
//! log in the same transaction. Like Vela's admin build endpoint, `PUT` replaces a whole
//! deployment record.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde::Deserialize;

use crate::{
    auth::{BearerAuth, Scope},
    body::JsonBody,
    domain::{NewDeployment, RawDeployment, Status, truncate_micros},
    error::ApiError,
    routes::{
        ApiTags,
        deployments::{CommitIn, Deployment, parse_id},
    },
    state::AppState,
    store::{self, audit::Change},
};

/// Every canonical status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum AdminStatus {
    Queued,
    InProgress,
    Success,
    Failure,
    Error,
    Canceled,
    Inactive,
}

impl AdminStatus {
    fn canonical(self) -> Status {
        match self {
            AdminStatus::Queued => Status::Queued,
            AdminStatus::InProgress => Status::InProgress,
            AdminStatus::Success => Status::Success,
            AdminStatus::Failure => Status::Failure,
            AdminStatus::Error => Status::Error,
            AdminStatus::Canceled => Status::Canceled,
            AdminStatus::Inactive => Status::Inactive,
        }
    }
}

/// A whole deployment record: every writable field. Fields that may be null may be
/// left out (null); absent `commits` means none. Read-only fields (`id`, `number`,
/// `organization_id`, `repository_id`, `pusher_id`, `triggered_by`, `deployed_at`,
/// `created_at`, `updated_at`…) are not accepted.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct DeploymentReplacement {
    #[oai(validator(min_length = 1, max_length = 2048))]
    pub repository_url: String,
    #[oai(validator(min_length = 1, max_length = 64))]
    pub environment: String,
    pub is_production: bool,
    #[oai(validator(min_length = 1, max_length = 500))]
    pub title: String,
    #[oai(validator(max_length = 20000))]
    pub changelog: Option<String>,
    #[oai(validator(max_length = 2048))]
    pub url: Option<String>,
    #[oai(validator(min_length = 1, max_length = 255))]
    pub branch: String,
    // 7-64 hex digits, checked by `domain::normalize_sha` (a schema `pattern` here would make
    // poem-openapi compile the regex on every request).
    #[oai(validator(min_length = 7, max_length = 64))]
    pub commit_id: String,
    #[oai(validator(max_length = 255))]
    pub node_id: Option<String>,
    #[oai(validator(min_length = 1, max_length = 255))]
    pub member_id: Option<String>,
    #[oai(validator(minimum(value = "0")))]
    pub pull_request_number: Option<i64>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
    pub commits_count: i32,
    /// Duration in seconds (as the record shows it).
    #[oai(validator(minimum(value = "0"), maximum(value = "31536000")))]
    pub deployment_duration: Option<i64>,
    pub is_fix: bool,
    pub is_hotfix: bool,
    pub is_forced: bool,
    pub is_rollback: bool,
    pub status: AdminStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[oai(validator(max_items = 1000))]
    pub commits: Option<Vec<CommitIn>>,
}

/// One admin change.
#[derive(Debug, Clone, Object)]
pub struct AuditEntry {
    pub id: i64,
    /// The `sub` of the admin token.
    pub actor: Option<String>,
    /// e.g. `replace`.
    pub action: String,
    /// e.g. `deployment`.
    pub entity: String,
    pub entity_id: String,
    /// The entity before the change.
    pub before: Option<serde_json::Value>,
    /// The entity after the change.
    pub after: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// A page of audit entries, newest first.
#[derive(Debug, Clone, Object)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

fn to_json(deployment: &Deployment) -> Result<serde_json::Value, ApiError> {
    use poem_openapi::types::ToJSON;
    deployment
        .to_json()
        .ok_or_else(|| ApiError::internal("deployment does not serialize"))
}

pub struct AdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// Replace a deployment record (admin)
    ///
    /// Overwrites every writable field of an existing deployment (never creates one:
    /// unknown ids answer 404); the metrics follow. The record before and after is
    /// written to the audit log in the same transaction. Needs the `admin` scope.
    #[oai(
        path = "/deployments/:id",
        method = "put",
        operation_id = "adminReplaceDeployment"
    )]
    async fn replace(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<DeploymentReplacement>,
    ) -> Result<Json<Deployment>, ApiError> {
        auth.0.require(Scope::Admin)?;
        let id = parse_id(&id)?;
        let org = auth.0.organization_id;
        let now = truncate_micros(Utc::now());
        let b = &body.value;
        let new = NewDeployment::parse(
            RawDeployment {
                title: &b.title,
                changelog: b.changelog.as_deref(),
                url: b.url.as_deref(),
                branch: &b.branch,
                commit_id: &b.commit_id,
                deployment_duration_minutes: b.deployment_duration.map(|s| s as f64 / 60.0),
                is_fix: b.is_fix,
                is_hotfix: b.is_hotfix,
                is_forced: b.is_forced,
                is_rollback: b.is_rollback,
                commits_count: b.commits_count,
                member_id: b.member_id.as_deref(),
                pull_request_number: b.pull_request_number,
                repository_url: &b.repository_url,
                node_id: b.node_id.as_deref(),
                status: b.status.canonical(),
                environment: Some(&b.environment),
                is_production: Some(b.is_production),
                started_at: b.started_at,
                finished_at: b.finished_at,
                commits: b
                    .commits
                    .iter()
                    .flatten()
                    .map(|c| (c.sha.as_str(), c.committed_at))
                    .collect(),
                team: None,
            },
            now,
        )
        .map_err(ApiError::validation)?;
        let txn = state.db.begin_write().await?;
        // Locks the row: a status or PATCH of the same deployment waits for the replacement.
        let before = store::deployments::get_for_update(&txn, org, id)
            .await?
            .ok_or_else(|| ApiError::not_found("deployment"))?;
        let replaced =
            store::deployments::replace(&txn, before.deployment.clone(), &new, now).await?;
        store::statuses::record_set_status(
            &txn,
            &before.deployment.status,
            &replaced,
            "Status set by an admin replace",
            auth.0.subject.clone(),
            now,
        )
        .await?;
        let after = store::deployments::get(&txn, org, id)
            .await?
            .ok_or_else(|| ApiError::internal("replaced deployment vanished"))?;
        let after = Deployment::from_record(&after);
        store::audit::record(
            &txn,
            Change {
                organization_id: org,
                actor: auth.0.subject.clone(),
                action: "replace",
                entity: "deployment",
                entity_id: id.to_string(),
                before: Some(to_json(&Deployment::from_record(&before))?),
                after: Some(to_json(&after)?),
            },
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(Json(after))
    }

    /// Read the audit log (admin)
    ///
    /// Admin changes of the token's organization, newest first.
    #[oai(path = "/audit-log", method = "get", operation_id = "adminAuditLog")]
    async fn audit_log(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// Only changes of this entity (e.g. a deployment id).
        entity_id: Query<Option<String>>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        auth.0.require(Scope::Admin)?;
        let before = match cursor.0.as_deref() {
            Some(c) => Some(c.parse::<i64>().map_err(|_| {
                ApiError::invalid_parameter("cursor", "not a cursor returned by this API")
            })?),
            None => None,
        };
        let limit = limit.0.unwrap_or(50).clamp(1, 200);
        let (rows, more) = store::audit::list(
            state.db.read(),
            auth.0.organization_id,
            entity_id.0.as_deref(),
            before,
            limit,
        )
        .await?;
        let parse = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        };
        let next_cursor = if more {
            rows.last().map(|r| r.id.to_string())
        } else {
            None
        };
        Ok(Json(AuditPage {
            items: rows
                .iter()
                .map(|r| AuditEntry {
                    id: r.id,
                    actor: r.actor.clone(),
                    action: r.action.clone(),
                    entity: r.entity.clone(),
                    entity_id: r.entity_id.clone(),
                    before: parse(&r.before),
                    after: parse(&r.after),
                    created_at: r.created_at,
                })
                .collect(),
            next_cursor,
        }))
    }
}
