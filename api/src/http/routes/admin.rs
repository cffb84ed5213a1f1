//! `/api/v1/admin`: repairs for tokens with the `admin` scope, each written to the audit
//! log in the same transaction. Like Vela's admin build endpoint, `PUT` replaces a whole
//! deployment record.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    core,
    domain::{FieldError, NewDeployment, RawDeployment, Status},
    http::{
        ApiTags,
        body::JsonBody,
        error::ApiError,
        extract::BearerAuth,
        pagination, parse_id,
        shapes::deployment::{CommitIn, Deployment, commit_pairs},
        state::AppState,
    },
    store::deployments::DeploymentRecord,
};

/// A whole deployment record: every writable field. Fields that may be null may be
/// left out (null); absent `commits` means none. The read-only fields of the record
/// (`id`, `number`, `organization_id`, `repository_id`, `repository`, `team`, `pusher_id`,
/// `triggered_by`, `deployed_at`, `created_at`, `updated_at`, `external_id`) may be sent too, so that the
/// body of a `GET` can be changed and sent back: each must equal the stored value (else
/// 422 naming every one that differs), and none is written.
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
    #[oai(nullable)]
    pub changelog: Option<String>,
    #[oai(validator(max_length = 2048))]
    #[oai(nullable)]
    pub url: Option<String>,
    #[oai(validator(min_length = 1, max_length = 255))]
    pub branch: String,
    // 7-64 hex digits, checked by `domain::normalize_sha` (a schema `pattern` here would make
    // poem-openapi compile the regex on every request).
    #[oai(validator(min_length = 7, max_length = 64))]
    pub commit_id: String,
    #[oai(validator(max_length = 255))]
    #[oai(nullable)]
    pub node_id: Option<String>,
    #[oai(validator(min_length = 1, max_length = 255))]
    #[oai(nullable)]
    pub member_id: Option<String>,
    #[oai(validator(minimum(value = "0")))]
    #[oai(nullable)]
    pub pull_request_number: Option<i64>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
    pub commits_count: i32,
    /// Duration in seconds (as the record shows it).
    #[oai(validator(minimum(value = "0"), maximum(value = "31536000")))]
    #[oai(nullable)]
    pub deployment_duration: Option<i64>,
    pub is_fix: bool,
    pub is_hotfix: bool,
    pub is_forced: bool,
    pub is_rollback: bool,
    pub status: Status,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    #[oai(validator(max_items = 1000))]
    #[oai(nullable)]
    pub commits: Option<Vec<CommitIn>>,
    /// Read-only: must equal the stored value when given.
    pub id: Option<Uuid>,
    /// Read-only: must equal the stored value when given.
    pub number: Option<i64>,
    /// Read-only: must equal the stored value when given.
    pub organization_id: Option<Uuid>,
    /// Read-only: must equal the stored value when given.
    pub repository_id: Option<Uuid>,
    /// Read-only (the name of the stored repository): must equal the stored value when given.
    #[oai(validator(max_length = 2048))]
    pub repository: Option<String>,
    /// Read-only (the repository's team): must equal the stored value when given.
    #[serde(default)]
    pub team: MaybeUndefined<String>,
    /// Read-only: must equal the stored value when given.
    #[serde(default)]
    pub pusher_id: MaybeUndefined<Uuid>,
    /// Read-only: must equal the stored value when given.
    #[oai(validator(max_length = 64))]
    pub triggered_by: Option<String>,
    /// Read-only (it follows `finished_at`): must equal the stored value when given.
    pub deployed_at: Option<DateTime<Utc>>,
    /// Read-only: must equal the stored value when given.
    pub created_at: Option<DateTime<Utc>>,
    /// Read-only: must equal the stored value when given (a different one means the record
    /// changed since it was read).
    pub updated_at: Option<DateTime<Utc>>,
    /// Read-only (given by a bulk import line): must equal the stored value when given.
    #[serde(default)]
    pub external_id: MaybeUndefined<String>,
}

impl DeploymentReplacement {
    /// The read-only fields given that differ from `stored`, as field errors.
    fn read_only_differences(&self, stored: &Deployment) -> Vec<FieldError> {
        fn differs<T: PartialEq + serde::Serialize>(
            errors: &mut Vec<FieldError>,
            field: &str,
            given: Option<&T>,
            stored: &T,
        ) {
            if let Some(given) = given
                && given != stored
            {
                let json = |v: &T| serde_json::to_string(v).unwrap_or_default();
                errors.push(FieldError::new(
                    field,
                    format!(
                        "is read-only: {} differs from the stored {}",
                        json(given),
                        json(stored)
                    ),
                ));
            }
        }
        fn maybe<T>(value: &MaybeUndefined<T>) -> Option<Option<&T>> {
            match value {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            }
        }
        let mut errors = Vec::new();
        differs(&mut errors, "id", self.id.as_ref(), &stored.id);
        differs(&mut errors, "number", self.number.as_ref(), &stored.number);
        let org = self.organization_id.as_ref();
        differs(&mut errors, "organization_id", org, &stored.organization_id);
        let repo = self.repository_id.as_ref();
        differs(&mut errors, "repository_id", repo, &stored.repository_id);
        let name = self.repository.as_ref();
        differs(&mut errors, "repository", name, &stored.repository);
        let team = maybe(&self.team);
        differs(&mut errors, "team", team.as_ref(), &stored.team.as_ref());
        let pusher = maybe(&self.pusher_id);
        differs(
            &mut errors,
            "pusher_id",
            pusher.as_ref(),
            &stored.pusher_id.as_ref(),
        );
        let by = self.triggered_by.as_ref();
        differs(&mut errors, "triggered_by", by, &stored.triggered_by);
        let deployed = self.deployed_at.as_ref();
        differs(&mut errors, "deployed_at", deployed, &stored.deployed_at);
        let created = self.created_at.as_ref();
        differs(&mut errors, "created_at", created, &stored.created_at);
        let updated = self.updated_at.as_ref();
        differs(&mut errors, "updated_at", updated, &stored.updated_at);
        let external = maybe(&self.external_id);
        differs(
            &mut errors,
            "external_id",
            external.as_ref(),
            &stored.external_id.as_ref(),
        );
        errors
    }
}

/// One admin change.
#[derive(Debug, Clone, Object)]
pub struct AuditEntry {
    pub id: i64,
    /// The `sub` of the admin token.
    #[oai(nullable)]
    pub actor: Option<String>,
    /// e.g. `replace`.
    pub action: String,
    /// e.g. `deployment`.
    pub entity: String,
    pub entity_id: String,
    /// The entity before the change.
    #[oai(nullable)]
    pub before: Option<serde_json::Value>,
    /// The entity after the change.
    #[oai(nullable)]
    pub after: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// A page of audit entries, newest first.
#[derive(Debug, Clone, Object)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A deployment as the audit log keeps it: as the API shows it.
fn snapshot(record: &DeploymentRecord) -> serde_json::Value {
    use poem_openapi::types::ToJSON;
    Deployment::from_record(record)
        .to_json()
        .unwrap_or_default()
}

#[derive(Default)]
pub struct AdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// Replace a deployment record (admin)
    ///
    /// Overwrites every writable field of an existing deployment (never creates one:
    /// unknown ids answer 404); the metrics follow. The body of a `GET` of the deployment,
    /// changed, may be sent back as it is: its read-only fields are accepted when they
    /// equal the stored values, and refused (422, naming each) when they differ. The record
    /// before and after is written to the audit log in the same transaction. Needs the
    /// `admin` scope.
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
        let id = parse_id(&id, "deployment")?;
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
                status: b.status,
                environment: Some(&b.environment),
                is_production: Some(b.is_production),
                started_at: b.started_at,
                finished_at: b.finished_at,
                commits: commit_pairs(&b.commits),
                team: None,
            },
            Utc::now(),
        )
        .map_err(core::Error::from)?;
        let read_only =
            |stored: &DeploymentRecord| b.read_only_differences(&Deployment::from_record(stored));
        let after =
            core::admin::replace(&state.core, &auth.0, id, &new, read_only, snapshot).await?;
        Ok(Json(Deployment::from_record(&after)))
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
        let before = pagination::number_cursor(cursor.0.as_deref())?;
        let (rows, more) = core::admin::audit_log(
            &state.core,
            &auth.0,
            entity_id.0.as_deref(),
            before,
            pagination::limit(limit.0),
        )
        .await?;
        let parse = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        };
        let next_cursor = pagination::next_cursor(&rows, more, |r| r.id.to_string());
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
