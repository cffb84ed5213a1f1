//! GitHub's REST deployments API at `/api/v3/repos/{owner}/{repo}/…`, so that GitHub
//! clients (e.g. `@octokit/rest`, PyGithub) can point their base URL at dora-tracker. A thin
//! adapter: requests are translated onto `core` (`core::github`, `core::deployments`,
//! `core::statuses`); the GitHub-only fields live in `github_deployments`.
//!
//! - `owner/repo` is the repository `github.com/{owner}/{repo}`; created on first
//!   deployment, 404 on reads before that.
//! - Integer ids are the deployments' `number` and the statuses' ids.
//! - `sha`: GitHub resolves `ref` to a commit; we have no git. A `ref` of 7-64 hex digits
//!   is taken as the commit; otherwise `payload.sha` (if hex) is; otherwise `sha` is "".
//! - Errors are GitHub's `{message, documentation_url}` (see [`error`]).

pub mod error;
pub mod shapes;

use entity::github_deployments;
use poem::Request;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};

use crate::{
    auth::Scope,
    core::{self, idempotency::Key},
    domain::{
        Dispatch, Errors, NewDeployment, NewStatus, RawStatus, RepositoryRef, Status, TriggeredBy,
        check_text, normalize_sha, validate_environment,
    },
    http::HttpSettings,
    http::{ApiTags, body::JsonBody, extract::GithubAuth, headers, origin, state::AppState},
    store::github::{GithubRecord, ListFilter},
};
pub use error::{GithubError, github_errors};
use shapes::{
    CreateDeploymentIn, CreateStatusIn, GithubDeployment, GithubRepository, GithubStatus, RepoUrls,
};

/// `github.com/{owner}/{repo}`; a name GitHub would refuse is not found.
fn repository_ref(owner: &str, repo: &str) -> Result<RepositoryRef, core::Error> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s != "."
            && s != ".."
    };
    if !ok(owner) || !ok(repo) {
        return Err(core::Error::NotFound("repository"));
    }
    RepositoryRef::parse(&format!("https://github.com/{owner}/{repo}"))
        .map_err(|_| core::Error::NotFound("repository"))
}

fn parse_number(id: &str) -> Result<i64, core::Error> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(core::Error::NotFound("deployment"))
}

/// Deployment `id` of `owner/repo`, for an operation that needs `scope`.
async fn find_deployment(
    state: &AppState,
    auth: &GithubAuth,
    (owner, repo, id): (&str, &str, &str),
    scope: Scope,
) -> Result<GithubRecord, core::Error> {
    let reference = repository_ref(owner, repo)?;
    core::github::deployment(&state.core, &auth.0, &reference, parse_number(id)?, scope).await
}

/// `Link` header for page `page` of `total` items, `per_page` each (GitHub's format).
fn link_header(
    req: &Request,
    settings: &HttpSettings,
    page: u64,
    per_page: u64,
    total: u64,
) -> Option<String> {
    let last = total.div_ceil(per_page).max(1);
    let base = origin::base_url(req, settings).unwrap_or_else(|| "http://localhost".to_owned());
    let path = req.uri().path();
    // Keep the other query parameters, replace page/per_page.
    let others: Vec<String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page=") && !p.starts_with("per_page="))
        .map(str::to_owned)
        .collect();
    let link = |p: u64, rel: &str| {
        let mut query = others.clone();
        query.push(format!("per_page={per_page}"));
        query.push(format!("page={p}"));
        format!("<{base}{path}?{}>; rel=\"{rel}\"", query.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
    }
    (!links.is_empty()).then(|| links.join(", "))
}

/// `per_page` (default 30, at most 100) and `page` (default 1), as GitHub reads them.
fn paging(per_page: Option<u64>, page: Option<u64>) -> (u64, u64) {
    (
        per_page.unwrap_or(30).clamp(1, 100),
        page.unwrap_or(1).max(1),
    )
}

/// GitHub's "Create a deployment" body as a deployment to record and its GitHub-only fields
/// (public for the fuzz target `github_bodies`).
pub fn new_deployment(
    b: &CreateDeploymentIn,
    repository: RepositoryRef,
    subject: Option<String>,
) -> Result<(NewDeployment, github_deployments::Model), core::Error> {
    let mut errors = Errors::default();
    errors.check("ref", check_text(&b.git_ref, false));
    if b.git_ref.trim().is_empty() {
        errors.push("ref", "must not be blank");
    }
    let task = b.task.clone().unwrap_or_else(|| "deploy".to_owned());
    errors.check("task", check_text(&task, false));
    let environment = b
        .environment
        .clone()
        .unwrap_or_else(|| "production".to_owned());
    errors.check("environment", validate_environment(&environment));
    if let Some(d) = &b.description {
        errors.check("description", check_text(d, true));
    }
    let payload = match &b.payload {
        None | Some(serde_json::Value::Null) => serde_json::json!({}),
        Some(v @ (serde_json::Value::Object(_) | serde_json::Value::String(_))) => v.clone(),
        Some(_) => {
            errors.push("payload", "must be an object or a string");
            serde_json::Value::Null
        }
    };
    let payload_sha = payload.get("sha").and_then(|s| s.as_str());
    let sha = normalize_sha(&b.git_ref)
        .or_else(|_| payload_sha.map_or(Ok(String::new()), normalize_sha))
        .unwrap_or_else(|e| {
            errors.push("payload.sha", e);
            String::new()
        });
    if !errors.is_empty() {
        return Err(core::Error::Validation(errors.0));
    }
    let is_production = b
        .production_environment
        .unwrap_or(environment == "production");
    let description = b.description.clone().filter(|d| !d.trim().is_empty());
    let title: String = description
        .unwrap_or_else(|| format!("{task} {}", b.git_ref))
        .chars()
        .take(500)
        .collect();
    let new = NewDeployment {
        repository,
        team: None,
        member_external_id: subject.clone().filter(|s| !s.trim().is_empty()),
        environment: environment.clone(),
        is_production,
        title: title.trim().to_owned(),
        changelog: None,
        url: None,
        branch: b.git_ref.trim().to_owned(),
        commit_id: sha,
        node_id: None,
        pull_request_number: None,
        commits_count: 0,
        duration_seconds: None,
        is_fix: false,
        is_hotfix: false,
        is_forced: false,
        is_rollback: false,
        status: Status::Queued,
        triggered_by: TriggeredBy::Github,
        started_at: None,
        finished_at: None,
        commits: Vec::new(),
    };
    let details = github_deployments::Model {
        deployment_id: uuid::Uuid::nil(),
        task,
        payload: payload.to_string(),
        description: b.description.clone(),
        transient_environment: b.transient_environment.unwrap_or(false),
        original_environment: environment,
        creator: subject,
    };
    Ok((new, details))
}

#[derive(ApiResponse)]
pub enum CreateDeploymentResponse {
    /// Created.
    #[oai(status = 201)]
    Created(
        Json<GithubDeployment>,
        #[oai(header = "Location")] String,
        #[oai(header = "Idempotent-Replayed")] Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum ListDeploymentsResponse {
    #[oai(status = 200)]
    Ok(
        Json<Vec<GithubDeployment>>,
        #[oai(header = "Link")] Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum DeleteResponse {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum DispatchResponse {
    /// The event was queued for the organization's webhook subscriptions.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum CreateStatusResponse {
    #[oai(status = 201)]
    Created(Json<GithubStatus>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum ListStatusesResponse {
    #[oai(status = 200)]
    Ok(
        Json<Vec<GithubStatus>>,
        #[oai(header = "Link")] Option<String>,
    ),
}

#[derive(Default)]
pub struct GithubApi;

#[OpenApi(prefix_path = "/api/v3/repos", tag = "ApiTags::Github")]
impl GithubApi {
    /// Get a repository (GitHub)
    ///
    /// Every well-formed `owner/repo` answers (GitHub clients such as PyGithub read the
    /// repository before creating its first deployment); only `url` and the names matter.
    #[oai(
        path = "/:owner/:repo",
        method = "get",
        operation_id = "githubGetRepository"
    )]
    async fn get_repository(
        &self,
        req: &Request,
        state: poem::web::Data<&AppState>,
        auth: GithubAuth,
        owner: Path<String>,
        repo: Path<String>,
    ) -> Result<Json<GithubRepository>, GithubError> {
        auth.0.require(Scope::Read).map_err(core::Error::from)?;
        repository_ref(&owner, &repo)?;
        Ok(Json(
            RepoUrls::new(req, &state.http, &owner, &repo).repository(&owner, &repo),
        ))
    }

    /// Create a deployment (GitHub)
    ///
    /// GitHub's "Create a deployment". The deployment starts with no status (pending).
    #[oai(
        path = "/:owner/:repo/deployments",
        method = "post",
        operation_id = "githubCreateDeployment"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn create_deployment(
        &self,
        req: &Request,
        state: poem::web::Data<&AppState>,
        auth: GithubAuth,
        owner: Path<String>,
        repo: Path<String>,
        // Declared for the spec; read raw by `headers::idempotency_key`.
        #[oai(name = "Idempotency-Key")] _idempotency_key: Header<Option<String>>,
        body: JsonBody<CreateDeploymentIn>,
    ) -> Result<CreateDeploymentResponse, GithubError> {
        let repository = repository_ref(&owner, &repo)?;
        let operation = format!(
            "POST /api/v3/repos/{owner}/{repo}/deployments",
            owner = &*owner,
            repo = &*repo
        );
        let key = Key::new(
            headers::idempotency_key(req)?.as_deref(),
            &operation,
            &body.json,
        )?;
        let (new, details) = new_deployment(&body.value, repository, auth.0.subject.clone())?;
        let urls = RepoUrls::new(req, &state.http, &owner, &repo);
        let created = core::deployments::record_with(
            &state.core,
            &auth.0,
            key.as_ref(),
            new,
            Some(details.clone()),
            move |record| {
                let mut details = details.clone();
                details.deployment_id = record.deployment.id;
                urls.deployment(&GithubRecord {
                    deployment: record.deployment.clone(),
                    details: Some(details),
                    member: record.member_external_id.clone(),
                })
            },
        )
        .await?;
        let location = created.body.url.clone();
        Ok(CreateDeploymentResponse::Created(
            Json(created.body),
            location,
            created.replayed.then(|| "true".to_owned()),
        ))
    }

    /// List deployments (GitHub)
    ///
    /// Newest first. Filters `sha`, `ref`, `task`, `environment`; `per_page` (default
    /// 30, at most 100) and `page`; a `Link` header points at the other pages.
    #[oai(
        path = "/:owner/:repo/deployments",
        method = "get",
        operation_id = "githubListDeployments"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_deployments(
        &self,
        req: &Request,
        state: poem::web::Data<&AppState>,
        auth: GithubAuth,
        owner: Path<String>,
        repo: Path<String>,
        sha: Query<Option<String>>,
        #[oai(name = "ref")] git_ref: Query<Option<String>>,
        task: Query<Option<String>>,
        environment: Query<Option<String>>,
        /// Items per page: 1 to 100 (more is read as 100, as GitHub does).
        #[oai(validator(minimum(value = "1")))]
        per_page: Query<Option<u64>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1")))]
        page: Query<Option<u64>>,
    ) -> Result<ListDeploymentsResponse, GithubError> {
        let reference = repository_ref(&owner, &repo)?;
        let (per_page, page) = paging(per_page.0, page.0);
        let filter = ListFilter {
            sha: sha.0.filter(|s| !s.is_empty()),
            git_ref: git_ref.0.filter(|s| !s.is_empty()),
            task: task.0.filter(|s| !s.is_empty()),
            environment: environment.0.filter(|s| !s.is_empty()),
        };
        let offset = (page - 1).saturating_mul(per_page);
        let (records, total) =
            core::github::list(&state.core, &auth.0, &reference, &filter, offset, per_page).await?;
        let urls = RepoUrls::new(req, &state.http, &owner, &repo);
        Ok(ListDeploymentsResponse::Ok(
            Json(records.iter().map(|r| urls.deployment(r)).collect()),
            link_header(req, &state.http, page, per_page, total),
        ))
    }

    /// Get a deployment (GitHub)
    #[oai(
        path = "/:owner/:repo/deployments/:deployment_id",
        method = "get",
        operation_id = "githubGetDeployment"
    )]
    async fn get_deployment(
        &self,
        req: &Request,
        state: poem::web::Data<&AppState>,
        auth: GithubAuth,
        owner: Path<String>,
        repo: Path<String>,
        deployment_id: Path<String>,
    ) -> Result<Json<GithubDeployment>, GithubError> {
        let record =
            find_deployment(&state, &auth, (&owner, &repo, &deployment_id), Scope::Read).await?;
        Ok(Json(
            RepoUrls::new(req, &state.http, &owner, &repo).deployment(&record),
        ))
    }

    /// Delete a deployment (GitHub)
    ///
    /// The only deployment of a repository may always be deleted; otherwise only an
    /// inactive one (its latest status is `inactive`), else 422.
    #[oai(
        path = "/:owner/:repo/deployments/:deployment_id",
        method = "delete",
        operation_id = "githubDeleteDeployment"
    )]
    async fn delete_deployment(
        &self,
        state: poem::web::Data<&AppState>,
        auth: GithubAuth,
        owner: Path<String>,
        repo: Path<String>,
        deployment_id: Path<String>,
    ) -> Result<DeleteResponse, GithubError> {
        let reference = repository_ref(&owner, &repo)?;
        let number = parse_number(&deployment_id)?;
        core::github::delete(&state.core, &auth.0, &reference, number).await?;
        Ok(DeleteResponse::NoContent)
    }

    /// Create a deployment status (GitHub)
    ///
    /// Appends a status; see `POST /api/v1/deployments/{id}/statuses` for what it does to
    /// the deployment and the metrics. `log_url` also sets `target_url`.
    #[oai(
        path = "/:owner/:repo/deployments/:deployment_id/statuses",
        method = "post",
        operation_id = "githubCreateDeploymentStatus"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn create_status(
        &self,
        req: &Request,
        state: poem::web::Data<&AppState>,
        auth: GithubAuth,
        owner: Path<String>,
        repo: Path<String>,
        deployment_id: Path<String>,
        body: JsonBody<CreateStatusIn>,
    ) -> Result<CreateStatusResponse, GithubError> {
        let record = find_deployment(
            &state,
            &auth,
            (&owner, &repo, &deployment_id),
            Scope::Ingest,
        )
        .await?;
        let b = &body.value;
        let new = NewStatus::parse(
            RawStatus {
                state: b.state,
                description: b.description.as_deref(),
                log_url: b
                    .log_url
                    .as_deref()
                    .filter(|u| !u.is_empty())
                    .or(b.target_url.as_deref()),
                environment_url: b.environment_url.as_deref(),
                environment: b.environment.as_deref(),
                auto_inactive: b.auto_inactive,
            },
            auth.0.subject.clone(),
        )
        .map_err(core::Error::from)?;
        let posted = core::statuses::post(&state.core, &auth.0, record.deployment.id, &new).await?;
        let status = RepoUrls::new(req, &state.http, &owner, &repo)
            .status(record.deployment.number, &posted.status);
        let location = status.url.clone();
        Ok(CreateStatusResponse::Created(Json(status), location))
    }

    /// List deployment statuses (GitHub)
    ///
    /// Newest first; `per_page` (default 30, at most 100) and `page`.
    #[oai(
        path = "/:owner/:repo/deployments/:deployment_id/statuses",
        method = "get",
        operation_id = "githubListDeploymentStatuses"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_statuses(
        &self,
        req: &Request,
        state: poem::web::Data<&AppState>,
        auth: GithubAuth,
        owner: Path<String>,
        repo: Path<String>,
        deployment_id: Path<String>,
        /// Items per page: 1 to 100 (more is read as 100, as GitHub does).
        #[oai(validator(minimum(value = "1")))]
        per_page: Query<Option<u64>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1")))]
        page: Query<Option<u64>>,
    ) -> Result<ListStatusesResponse, GithubError> {
        let record =
            find_deployment(&state, &auth, (&owner, &repo, &deployment_id), Scope::Read).await?;
        let (per_page, page) = paging(per_page.0, page.0);
        let offset = (page - 1).saturating_mul(per_page);
        let (rows, total) =
            core::github::statuses(&state.core, &auth.0, &record, offset, per_page).await?;
        let urls = RepoUrls::new(req, &state.http, &owner, &repo);
        Ok(ListStatusesResponse::Ok(
            Json(
                rows.iter()
                    .map(|s| urls.status(record.deployment.number, s))
                    .collect(),
            ),
            link_header(req, &state.http, page, per_page, total),
        ))
    }

    /// Get a deployment status (GitHub)
    #[oai(
        path = "/:owner/:repo/deployments/:deployment_id/statuses/:status_id",
        method = "get",
        operation_id = "githubGetDeploymentStatus"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn get_status(
        &self,
        req: &Request,
        state: poem::web::Data<&AppState>,
        auth: GithubAuth,
        owner: Path<String>,
        repo: Path<String>,
        deployment_id: Path<String>,
        status_id: Path<String>,
    ) -> Result<Json<GithubStatus>, GithubError> {
        let record =
            find_deployment(&state, &auth, (&owner, &repo, &deployment_id), Scope::Read).await?;
        let status_id = status_id
            .parse::<i64>()
            .map_err(|_| core::Error::NotFound("deployment status"))?;
        let status =
            core::statuses::get(&state.core, &auth.0, record.deployment.id, status_id).await?;
        Ok(Json(
            RepoUrls::new(req, &state.http, &owner, &repo)
                .status(record.deployment.number, &status),
        ))
    }

    /// Create a repository dispatch event (GitHub)
    ///
    /// GitHub's "Create a repository dispatch event": `event_type` (1-100 characters) and an
    /// optional `client_payload` object of at most 10 top-level properties. Emits a
    /// `repository_dispatch` event to the organization's webhook subscriptions, with GitHub's
    /// payload shape (`action` = `event_type`, `branch`, `client_payload`, `repository`,
    /// `sender`). Needs the `ingest` scope. 204 with no body.
    #[oai(
        path = "/:owner/:repo/dispatches",
        method = "post",
        operation_id = "githubCreateRepositoryDispatch"
    )]
    async fn create_dispatch(
        &self,
        state: poem::web::Data<&AppState>,
        auth: GithubAuth,
        owner: Path<String>,
        repo: Path<String>,
        body: JsonBody<shapes::DispatchIn>,
    ) -> Result<DispatchResponse, GithubError> {
        let repository = repository_ref(&owner, &repo)?;
        let b = &body.value;
        let dispatch = Dispatch::parse(
            b.event_type.as_deref().unwrap_or(""),
            b.client_payload.as_ref(),
        )
        .map_err(core::Error::Validation)?;
        core::outbound::dispatch(&state.core, &auth.0, &repository, dispatch).await?;
        Ok(DispatchResponse::NoContent)
    }
}
