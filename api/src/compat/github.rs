//! GitHub's REST deployments API at `/api/v3/repos/{owner}/{repo}/…`, so that GitHub
//! clients (e.g. `@octokit/rest`, PyGithub) can point their base URL at dora-tracker.
//! Thin: requests are translated onto the canonical core (`ingest`, `store::statuses`);
//! the GitHub-only fields live in `github_deployments`.
//!
//! - `owner/repo` is the repository `github.com/{owner}/{repo}`; created on first
//!   deployment, 404 on reads before that.
//! - Integer ids are the deployments' `number` and the statuses' ids.
//! - `sha`: GitHub resolves `ref` to a commit; we have no git. A `ref` of 7-64 hex digits
//!   is taken as the commit; otherwise `payload.sha` (if hex) is; otherwise `sha` is "".
//! - Errors are GitHub's `{message, documentation_url}` (see [`github_errors`]).

use chrono::{DateTime, Utc};
use entity::{deployment_statuses, github_deployments};
use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    auth::{GithubAuth, Scope},
    body::JsonBody,
    domain::{
        Errors, NewDeployment, RepositoryRef, Status, TriggeredBy, check_text, normalize_sha,
        validate_environment,
    },
    error::{ApiError, PROBLEM_JSON},
    ingest,
    routes::{
        ApiTags,
        statuses::{RawStatus, parse_status, post_status},
    },
    state::AppState,
    store::{
        self,
        github::{GithubRecord, ListFilter},
    },
};

const DOCS_DEPLOYMENTS: &str = "https://docs.github.com/rest/deployments/deployments";
const DOCS_STATUSES: &str = "https://docs.github.com/rest/deployments/statuses";

/// GitHub's `simple-user`, for `creator`. Ids are derived from the login (stable).
#[derive(Debug, Clone, Object, Deserialize)]
pub struct GithubUser {
    pub login: String,
    pub id: i64,
    pub node_id: String,
    pub avatar_url: String,
    pub gravatar_id: Option<String>,
    pub url: String,
    pub html_url: String,
    pub followers_url: String,
    pub following_url: String,
    pub gists_url: String,
    pub starred_url: String,
    pub subscriptions_url: String,
    pub organizations_url: String,
    pub repos_url: String,
    pub events_url: String,
    pub received_events_url: String,
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub site_admin: bool,
}

impl GithubUser {
    fn new(base: &str, login: &str) -> Self {
        let digest = Sha256::digest(login.as_bytes());
        let mut id_bytes = [0u8; 8];
        id_bytes[2..].copy_from_slice(&digest[..6]);
        let id = i64::from_be_bytes(id_bytes).max(1);
        let url = format!("{base}/api/v3/users/{login}");
        Self {
            login: login.to_owned(),
            id,
            node_id: format!("U_{id}"),
            avatar_url: String::new(),
            gravatar_id: Some(String::new()),
            html_url: String::new(),
            followers_url: format!("{url}/followers"),
            following_url: format!("{url}/following{{/other_user}}"),
            gists_url: format!("{url}/gists{{/gist_id}}"),
            starred_url: format!("{url}/starred{{/owner}}{{/repo}}"),
            subscriptions_url: format!("{url}/subscriptions"),
            organizations_url: format!("{url}/orgs"),
            repos_url: format!("{url}/repos"),
            events_url: format!("{url}/events{{/privacy}}"),
            received_events_url: format!("{url}/received_events"),
            url,
            kind: "User".to_owned(),
            site_admin: false,
        }
    }
}

/// GitHub's deployment object.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct GithubDeployment {
    pub url: String,
    pub id: i64,
    pub node_id: String,
    pub sha: String,
    #[oai(rename = "ref")]
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub task: String,
    /// An object, or the string the client sent.
    pub payload: serde_json::Value,
    pub original_environment: String,
    pub environment: String,
    pub description: Option<String>,
    pub creator: Option<GithubUser>,
    /// `2012-07-20T01:19:13Z`, GitHub's timestamp format.
    pub created_at: String,
    pub updated_at: String,
    pub statuses_url: String,
    pub repository_url: String,
    pub transient_environment: bool,
    pub production_environment: bool,
    pub performed_via_github_app: Option<serde_json::Value>,
}

/// GitHub's deployment status object.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct GithubStatus {
    pub url: String,
    pub id: i64,
    pub node_id: String,
    pub state: String,
    pub creator: Option<GithubUser>,
    pub description: String,
    pub environment: String,
    pub target_url: String,
    /// `2012-07-20T01:19:13Z`, GitHub's timestamp format.
    pub created_at: String,
    pub updated_at: String,
    pub deployment_url: String,
    pub repository_url: String,
    pub environment_url: String,
    pub log_url: String,
    pub performed_via_github_app: Option<serde_json::Value>,
}

/// The parts of GitHub's repository object that clients read (PyGithub's `get_repo`
/// reads `url` to build the deployments URLs).
#[derive(Debug, Clone, Object, Deserialize)]
pub struct GithubRepository {
    pub id: i64,
    pub node_id: String,
    pub name: String,
    pub full_name: String,
    pub owner: GithubUser,
    pub private: bool,
    pub html_url: String,
    pub description: Option<String>,
    pub fork: bool,
    pub url: String,
    pub deployments_url: String,
    pub default_branch: String,
}

/// Where this repository's API lives on this server.
struct RepoUrls {
    base: String,
    repository_url: String,
}

impl RepoUrls {
    fn new(req: &Request, owner: &str, repo: &str) -> Self {
        let base = base_url(req);
        Self {
            repository_url: format!("{base}/api/v3/repos/{owner}/{repo}"),
            base,
        }
    }

    fn repository(&self, owner: &str, repo: &str) -> GithubRepository {
        let full_name = format!("{owner}/{repo}");
        let mut owner_user = GithubUser::new(&self.base, owner);
        owner_user.kind = "Organization".to_owned();
        let id = GithubUser::new(&self.base, &format!("github.com/{full_name}")).id;
        GithubRepository {
            id,
            node_id: format!("R_{id}"),
            name: repo.to_owned(),
            html_url: format!("https://github.com/{full_name}"),
            full_name,
            owner: owner_user,
            private: false,
            description: None,
            fork: false,
            url: self.repository_url.clone(),
            deployments_url: format!("{}/deployments", self.repository_url),
            default_branch: "main".to_owned(),
        }
    }

    fn deployment_url(&self, number: i64) -> String {
        format!("{}/deployments/{number}", self.repository_url)
    }

    fn deployment(&self, record: &GithubRecord) -> GithubDeployment {
        let d = &record.deployment;
        let details = record.details.as_ref();
        let payload = details
            .and_then(|g| serde_json::from_str(&g.payload).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        let creator = details
            .and_then(|g| g.creator.clone())
            .or_else(|| record.member.clone());
        let url = self.deployment_url(d.number);
        GithubDeployment {
            statuses_url: format!("{url}/statuses"),
            url,
            id: d.number,
            node_id: d
                .node_id
                .clone()
                .unwrap_or_else(|| format!("DE_{}", d.number)),
            sha: d.commit_id.clone(),
            git_ref: d.branch.clone(),
            task: details.map_or_else(|| "deploy".to_owned(), |g| g.task.clone()),
            payload,
            original_environment: details
                .map_or_else(|| d.environment.clone(), |g| g.original_environment.clone()),
            environment: d.environment.clone(),
            description: match details {
                Some(g) => g.description.clone(),
                None => Some(d.title.clone()),
            },
            creator: creator.map(|login| GithubUser::new(&self.base, &login)),
            created_at: github_time(d.created_at),
            updated_at: github_time(d.updated_at),
            repository_url: self.repository_url.clone(),
            transient_environment: details.is_some_and(|g| g.transient_environment),
            production_environment: d.is_production,
            performed_via_github_app: None,
        }
    }

    fn status(&self, number: i64, s: &deployment_statuses::Model) -> GithubStatus {
        let deployment_url = self.deployment_url(number);
        let log_url = s.log_url.clone().unwrap_or_default();
        GithubStatus {
            url: format!("{deployment_url}/statuses/{}", s.id),
            id: s.id,
            node_id: format!("DES_{}", s.id),
            state: s.state.clone(),
            creator: s.creator.as_deref().map(|c| GithubUser::new(&self.base, c)),
            description: s.description.clone(),
            environment: s.environment.clone(),
            target_url: log_url.clone(),
            created_at: github_time(s.created_at),
            updated_at: github_time(s.created_at),
            deployment_url,
            repository_url: self.repository_url.clone(),
            environment_url: s.environment_url.clone().unwrap_or_default(),
            log_url,
            performed_via_github_app: None,
        }
    }
}

/// GitHub writes timestamps as `2012-07-20T01:19:13Z` (some clients parse exactly that).
fn github_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `http://<Host>` (or `https` behind a proxy that says so).
fn base_url(req: &Request) -> String {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| "localhost".to_owned(), str::to_owned);
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// `github.com/{owner}/{repo}`.
fn repository_ref(owner: &str, repo: &str) -> Result<RepositoryRef, ApiError> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s != "."
            && s != ".."
    };
    if !ok(owner) || !ok(repo) {
        return Err(ApiError::not_found("repository"));
    }
    RepositoryRef::parse(&format!("https://github.com/{owner}/{repo}"))
        .map_err(|_| ApiError::not_found("repository"))
}

async fn find_repository(
    state: &AppState,
    org: uuid::Uuid,
    owner: &str,
    repo: &str,
) -> Result<entity::repositories::Model, ApiError> {
    let reference = repository_ref(owner, repo)?;
    store::organizations::find_repository_by_key(state.db.read(), org, &reference.key)
        .await?
        .ok_or_else(|| ApiError::not_found("repository"))
}

fn parse_number(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::not_found("deployment"))
}

async fn find_deployment(
    state: &AppState,
    org: uuid::Uuid,
    owner: &str,
    repo: &str,
    id: &str,
) -> Result<GithubRecord, ApiError> {
    let repository = find_repository(state, org, owner, repo).await?;
    let number = parse_number(id)?;
    store::github::find(state.db.read(), org, repository.id, number)
        .await?
        .ok_or_else(|| ApiError::not_found("deployment"))
}

/// `Link` header for page `page` of `total` items, `per_page` each (GitHub's format).
fn link_header(req: &Request, page: u64, per_page: u64, total: u64) -> Option<String> {
    let last = total.div_ceil(per_page).max(1);
    let base = base_url(req);
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

/// The body of `POST /deployments` (GitHub's fields; unknown ones are ignored, as GitHub
/// does).
#[derive(Debug, Clone, Object, Deserialize)]
pub struct CreateDeploymentIn {
    /// Branch, tag or SHA to deploy. A 7-64 hex digit ref is taken as the commit.
    #[oai(rename = "ref", validator(min_length = 1, max_length = 255))]
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Default `deploy`.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub task: Option<String>,
    /// Accepted and ignored (there is no branch to merge).
    pub auto_merge: Option<bool>,
    /// Accepted and ignored (no commit status checks).
    pub required_contexts: Option<Vec<String>>,
    /// JSON object or string, given back as sent. `payload.sha` (hex) names the commit
    /// when `ref` is not a SHA.
    pub payload: Option<serde_json::Value>,
    /// Default `production`.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub environment: Option<String>,
    #[oai(validator(max_length = 500))]
    pub description: Option<String>,
    /// Default false.
    pub transient_environment: Option<bool>,
    /// Default: `environment` is `production`.
    pub production_environment: Option<bool>,
}

/// GitHub's status states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum GithubState {
    Error,
    Failure,
    Inactive,
    InProgress,
    Queued,
    Pending,
    Success,
}

/// The body of `POST /deployments/{id}/statuses`.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct CreateStatusIn {
    pub state: GithubState,
    /// Legacy name of `log_url`.
    #[oai(validator(max_length = 2048))]
    pub target_url: Option<String>,
    /// Also sets `target_url`.
    #[oai(validator(max_length = 2048))]
    pub log_url: Option<String>,
    /// At most 140 characters.
    pub description: Option<String>,
    /// Default: the previous status's environment, else the deployment's.
    #[oai(validator(max_length = 64))]
    pub environment: Option<String>,
    #[oai(validator(max_length = 2048))]
    pub environment_url: Option<String>,
    /// Default true.
    pub auto_inactive: Option<bool>,
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
        auth: GithubAuth,
        owner: Path<String>,
        repo: Path<String>,
    ) -> Result<Json<GithubRepository>, GithubError> {
        auth.0.require(Scope::Read)?;
        repository_ref(&owner, &repo)?;
        Ok(Json(
            RepoUrls::new(req, &owner, &repo).repository(&owner, &repo),
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
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: JsonBody<CreateDeploymentIn>,
    ) -> Result<CreateDeploymentResponse, GithubError> {
        auth.0.require(Scope::Ingest)?;
        let repository = repository_ref(&owner, &repo)?;
        let b = &body.value;
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
        if !errors.0.is_empty() {
            return Err(ApiError::validation(errors.0).into());
        }
        let is_production = b
            .production_environment
            .unwrap_or(environment == "production");
        let description = b.description.clone().filter(|d| !d.trim().is_empty());
        let title: String = description
            .clone()
            .unwrap_or_else(|| format!("{task} {}", b.git_ref))
            .chars()
            .take(500)
            .collect();
        let new = NewDeployment {
            repository,
            team: None,
            member_external_id: auth.0.subject.clone().filter(|s| !s.trim().is_empty()),
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
            creator: auth.0.subject.clone(),
        };
        let urls = RepoUrls::new(req, &owner, &repo);
        let created = ingest::record_github_deployment(
            &state,
            &auth.0,
            idempotency_key.as_deref(),
            &format!(
                "POST /api/v3/repos/{owner}/{repo}/deployments",
                owner = &*owner,
                repo = &*repo
            ),
            &body.json,
            new,
            details.clone(),
            |record| {
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
            created.replayed,
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
        per_page: Query<Option<u64>>,
        page: Query<Option<u64>>,
    ) -> Result<ListDeploymentsResponse, GithubError> {
        auth.0.require(Scope::Read)?;
        let org = auth.0.organization_id;
        let repository = find_repository(&state, org, &owner, &repo).await?;
        let (per_page, page) = paging(per_page.0, page.0);
        let filter = ListFilter {
            sha: sha.0.filter(|s| !s.is_empty()),
            git_ref: git_ref.0.filter(|s| !s.is_empty()),
            task: task.0.filter(|s| !s.is_empty()),
            environment: environment.0.filter(|s| !s.is_empty()),
        };
        let offset = (page - 1).saturating_mul(per_page);
        let (records, total) = store::github::list(
            state.db.read(),
            org,
            repository.id,
            &filter,
            offset,
            per_page,
        )
        .await?;
        let urls = RepoUrls::new(req, &owner, &repo);
        Ok(ListDeploymentsResponse::Ok(
            Json(records.iter().map(|r| urls.deployment(r)).collect()),
            link_header(req, page, per_page, total),
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
        auth.0.require(Scope::Read)?;
        let record = find_deployment(
            &state,
            auth.0.organization_id,
            &owner,
            &repo,
            &deployment_id,
        )
        .await?;
        Ok(Json(RepoUrls::new(req, &owner, &repo).deployment(&record)))
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
        auth.0.require(Scope::Ingest)?;
        let org = auth.0.organization_id;
        let repository = find_repository(&state, org, &owner, &repo).await?;
        let number = parse_number(&deployment_id)?;
        let txn = state.db.begin_write().await?;
        let record = store::github::find(&txn, org, repository.id, number)
            .await?
            .ok_or_else(|| ApiError::not_found("deployment"))?;
        let only_one = store::github::count_in_repository(&txn, org, repository.id).await? == 1;
        let inactive = match store::statuses::latest_state(&txn, record.deployment.id).await? {
            Some(state) => state == "inactive",
            None => record.deployment.status == Status::Inactive.as_str(),
        };
        if !only_one && !inactive {
            return Err(ApiError::unprocessable(
                "active-deployment",
                "We cannot delete an active deployment unless it is the only deployment in this \
                 repository. Mark it inactive first (a status with state `inactive`).",
            )
            .into());
        }
        store::github::delete(&txn, record.deployment.id).await?;
        txn.commit().await?;
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
        auth.0.require(Scope::Ingest)?;
        let record = find_deployment(
            &state,
            auth.0.organization_id,
            &owner,
            &repo,
            &deployment_id,
        )
        .await?;
        let b = &body.value;
        let new = parse_status(
            RawStatus {
                state: crate::domain::StatusState::parse(state_word(b.state))
                    .ok_or_else(|| ApiError::internal("unmapped state"))?,
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
        )?;
        let posted = post_status(&state, &auth.0, record.deployment.id, &new).await?;
        let status =
            RepoUrls::new(req, &owner, &repo).status(record.deployment.number, &posted.status);
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
        per_page: Query<Option<u64>>,
        page: Query<Option<u64>>,
    ) -> Result<ListStatusesResponse, GithubError> {
        auth.0.require(Scope::Read)?;
        let record = find_deployment(
            &state,
            auth.0.organization_id,
            &owner,
            &repo,
            &deployment_id,
        )
        .await?;
        let (per_page, page) = paging(per_page.0, page.0);
        let offset = (page - 1).saturating_mul(per_page);
        let id = record.deployment.id;
        let total = store::statuses::count(state.db.read(), id).await?;
        let rows = store::statuses::list(state.db.read(), id, None, offset, per_page).await?;
        let urls = RepoUrls::new(req, &owner, &repo);
        Ok(ListStatusesResponse::Ok(
            Json(
                rows.iter()
                    .map(|s| urls.status(record.deployment.number, s))
                    .collect(),
            ),
            link_header(req, page, per_page, total),
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
        auth.0.require(Scope::Read)?;
        let record = find_deployment(
            &state,
            auth.0.organization_id,
            &owner,
            &repo,
            &deployment_id,
        )
        .await?;
        let status_id = status_id
            .parse::<i64>()
            .map_err(|_| ApiError::not_found("deployment status"))?;
        let status = store::statuses::get(state.db.read(), record.deployment.id, status_id)
            .await?
            .ok_or_else(|| ApiError::not_found("deployment status"))?;
        Ok(Json(
            RepoUrls::new(req, &owner, &repo).status(record.deployment.number, &status),
        ))
    }
}

fn state_word(state: GithubState) -> &'static str {
    match state {
        GithubState::Error => "error",
        GithubState::Failure => "failure",
        GithubState::Inactive => "inactive",
        GithubState::InProgress => "in_progress",
        GithubState::Queued => "queued",
        GithubState::Pending => "pending",
        GithubState::Success => "success",
    }
}

/// GitHub's error body: `{message, documentation_url}`, with `errors` for validation.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct GithubErrorBody {
    pub message: String,
    pub documentation_url: String,
    #[oai(skip_serializing_if_is_empty)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<GithubFieldError>,
    /// The HTTP status code, as a string (as GitHub sends it).
    pub status: String,
}

/// One invalid field, as GitHub reports it.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct GithubFieldError {
    pub resource: String,
    pub field: String,
    /// `missing_field` or `invalid`.
    pub code: String,
    pub message: String,
}

/// Errors of the GitHub-compatible API, in GitHub's shape.
#[derive(Debug, ApiResponse)]
pub enum GithubError {
    /// Problems parsing JSON, or a bad parameter.
    #[oai(status = 400)]
    BadRequest(Json<GithubErrorBody>),
    /// Requires authentication / bad credentials.
    #[oai(status = 401)]
    Unauthorized(Json<GithubErrorBody>),
    /// The token lacks the scope.
    #[oai(status = 403)]
    Forbidden(Json<GithubErrorBody>),
    /// Not Found (also: another organization's deployment or repository).
    #[oai(status = 404)]
    NotFound(Json<GithubErrorBody>),
    /// An `Idempotency-Key` still in flight.
    #[oai(status = 409)]
    Conflict(Json<GithubErrorBody>),
    /// Validation Failed, or the delete rule.
    #[oai(status = 422)]
    Unprocessable(Json<GithubErrorBody>),
    /// The body is too large.
    #[oai(status = 413)]
    PayloadTooLarge(Json<GithubErrorBody>),
    /// The body is not JSON.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<GithubErrorBody>),
    /// Something failed on our side; the cause is logged.
    #[oai(status = 500)]
    Internal(Json<GithubErrorBody>),
    /// The database is unreachable.
    #[oai(status = 503)]
    Unavailable(Json<GithubErrorBody>),
}

/// Builds GitHub's error body from our problem details.
fn github_body(
    status: StatusCode,
    kind: &str,
    detail: &str,
    errors: Vec<(String, String)>,
    statuses: bool,
) -> GithubErrorBody {
    let (resource, documentation_url) = if statuses {
        ("DeploymentStatus", DOCS_STATUSES)
    } else {
        ("Deployment", DOCS_DEPLOYMENTS)
    };
    let message = match status {
        StatusCode::NOT_FOUND => "Not Found".to_owned(),
        StatusCode::UNAUTHORIZED if detail.starts_with("invalid token") => {
            "Bad credentials".to_owned()
        }
        StatusCode::UNAUTHORIZED => "Requires authentication".to_owned(),
        StatusCode::BAD_REQUEST if kind == "malformed-json" => "Problems parsing JSON".to_owned(),
        StatusCode::UNPROCESSABLE_ENTITY if !errors.is_empty() => "Validation Failed".to_owned(),
        _ => detail.to_owned(),
    };
    GithubErrorBody {
        message,
        documentation_url: documentation_url.to_owned(),
        errors: errors
            .into_iter()
            .map(|(field, message)| GithubFieldError {
                resource: resource.to_owned(),
                code: if message == "is required" {
                    "missing_field"
                } else {
                    "invalid"
                }
                .to_owned(),
                message: format!("{field} {message}"),
                field,
            })
            .collect(),
        status: status.as_u16().to_string(),
    }
}

impl From<sea_orm::DbErr> for GithubError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::from(err).into()
    }
}

impl From<ApiError> for GithubError {
    fn from(err: ApiError) -> Self {
        let status = err.status();
        let body = match &err {
            ApiError::BadRequest(p)
            | ApiError::Unauthorized(p, _)
            | ApiError::Forbidden(p)
            | ApiError::NotFound(p)
            | ApiError::Conflict(p)
            | ApiError::PayloadTooLarge(p)
            | ApiError::UnsupportedMediaType(p)
            | ApiError::Unprocessable(p)
            | ApiError::Internal(p)
            | ApiError::Unavailable(p) => github_body(
                status,
                &p.kind,
                &p.detail,
                p.errors
                    .iter()
                    .map(|e| (e.field.clone(), e.message.clone()))
                    .collect(),
                false,
            ),
        };
        let body = Json(body);
        match status {
            StatusCode::BAD_REQUEST => GithubError::BadRequest(body),
            StatusCode::UNAUTHORIZED => GithubError::Unauthorized(body),
            StatusCode::FORBIDDEN => GithubError::Forbidden(body),
            StatusCode::NOT_FOUND => GithubError::NotFound(body),
            StatusCode::CONFLICT => GithubError::Conflict(body),
            StatusCode::UNPROCESSABLE_ENTITY => GithubError::Unprocessable(body),
            StatusCode::PAYLOAD_TOO_LARGE => GithubError::PayloadTooLarge(body),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => GithubError::UnsupportedMediaType(body),
            StatusCode::SERVICE_UNAVAILABLE => GithubError::Unavailable(body),
            _ => GithubError::Internal(body),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ProblemIn {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    errors: Vec<FieldIn>,
}

#[derive(Debug, Deserialize)]
struct FieldIn {
    field: String,
    message: String,
}

/// Middleware: on `/api/v3/`, every error (ours or the framework's, already rendered as
/// problem+json) is sent in GitHub's shape `{message, documentation_url, errors?}`.
pub async fn github_errors<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let resp = ep.call(req).await?.into_response();
    if !path.starts_with("/api/v3/") {
        return Ok(resp);
    }
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON));
    if !is_problem {
        return Ok(resp);
    }
    let status = resp.status();
    let (parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    let problem: ProblemIn = serde_json::from_slice(&bytes).unwrap_or(ProblemIn {
        kind: String::new(),
        detail: String::new(),
        errors: Vec::new(),
    });
    let body = github_body(
        status,
        &problem.kind,
        &problem.detail,
        problem
            .errors
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect(),
        path.contains("/statuses"),
    );
    let mut out = Response::from_parts(parts, serde_json::to_vec(&body).unwrap_or_default().into());
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    out.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(out)
}
