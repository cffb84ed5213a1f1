//! `/api/v1/streams/last-success`: the latest successful deployment of a stream (one
//! repository and environment), so a CI job can tell which commits it ships
//! (`dora-tracker record` asks it).

use chrono::{DateTime, Utc};
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use crate::{
    core,
    domain::{RepositoryRef, normalize_sha, validate_environment},
    http::{ApiTags, error::ApiError, extract::BearerAuth, state::AppState},
};

/// A stream's latest successful deployment.
#[derive(Debug, Clone, Object)]
pub struct LastSuccess {
    /// The repository's key, e.g. `github.com/acme/web`.
    pub repository: String,
    pub environment: String,
    /// `null` when the stream has no successful deployment yet.
    #[oai(nullable)]
    pub deployment: Option<LastDeployment>,
}

#[derive(Debug, Clone, Object)]
pub struct LastDeployment {
    pub id: Uuid,
    pub number: i64,
    pub commit_id: String,
    pub deployed_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct StreamsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Deployments")]
impl StreamsApi {
    /// The latest successful deployment of a stream
    ///
    /// Needs `read`, or `ingest` for a repository the credential may write for (a CI job
    /// asks which commit its stream last shipped, to send the commits since). With
    /// `except_commit`, the latest of another commit: a job deploying that commit asks so,
    /// and a rerun of the job, after its deployment was recorded, asks the same.
    #[oai(
        path = "/streams/last-success",
        method = "get",
        operation_id = "getLastSuccess"
    )]
    async fn last_success(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// The repository URL, in any spelling.
        #[oai(validator(min_length = 1, max_length = 2048))]
        repository: Query<String>,
        /// Default `production`.
        #[oai(validator(min_length = 1, max_length = 64))]
        environment: Query<Option<String>>,
        /// A commit (7-64 hex digits) whose deployments are passed over.
        #[oai(validator(min_length = 7, max_length = 64))]
        except_commit: Query<Option<String>>,
    ) -> Result<Json<LastSuccess>, ApiError> {
        let except_commit = except_commit
            .0
            .as_deref()
            .map(normalize_sha)
            .transpose()
            .map_err(|e| core::Error::invalid_parameter("except_commit", e))?;
        let repository = RepositoryRef::parse(&repository)
            .map_err(|e| core::Error::invalid_parameter("repository", e))?;
        let environment = environment.0.unwrap_or_else(|| "production".to_owned());
        validate_environment(&environment)
            .map_err(|e| core::Error::invalid_parameter("environment", e))?;
        let found = core::deployments::last_success(
            &state.core,
            &auth.0,
            &repository,
            &environment,
            except_commit.as_deref(),
        )
        .await?;
        Ok(Json(LastSuccess {
            repository: repository.key,
            environment,
            deployment: found.map(|d| LastDeployment {
                id: d.id,
                number: d.number,
                commit_id: d.commit_id,
                deployed_at: d.deployed_at,
            }),
        }))
    }
}
