//! GitHub's JSON shapes: the deployment, status, user and repository objects GitHub
//! clients read, the request bodies they send, and where each object's URLs point.

use chrono::{DateTime, Utc};
use entity::deployment_statuses;
use poem::Request;
use poem_openapi::Object;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{domain::GithubState, http::HttpSettings, http::origin, store::github::GithubRecord};

/// GitHub's `simple-user`, for `creator`. Ids are derived from the login (stable).
#[derive(Debug, Clone, Object, Deserialize)]
pub struct GithubUser {
    pub login: String,
    pub id: i64,
    pub node_id: String,
    pub avatar_url: String,
    #[oai(nullable)]
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
    #[oai(nullable)]
    pub description: Option<String>,
    #[oai(nullable)]
    pub creator: Option<GithubUser>,
    /// `2012-07-20T01:19:13Z`, GitHub's timestamp format.
    pub created_at: String,
    pub updated_at: String,
    pub statuses_url: String,
    pub repository_url: String,
    pub transient_environment: bool,
    pub production_environment: bool,
    #[oai(nullable)]
    pub performed_via_github_app: Option<serde_json::Value>,
}

/// GitHub's deployment status object.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct GithubStatus {
    pub url: String,
    pub id: i64,
    pub node_id: String,
    pub state: String,
    #[oai(nullable)]
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
    #[oai(nullable)]
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
    #[oai(nullable)]
    pub description: Option<String>,
    pub fork: bool,
    pub url: String,
    pub deployments_url: String,
    pub default_branch: String,
}

/// Where this repository's API lives on this server.
pub struct RepoUrls {
    base: String,
    repository_url: String,
}

impl RepoUrls {
    pub fn new(req: &Request, settings: &HttpSettings, owner: &str, repo: &str) -> Self {
        let base = origin::base_url(req, settings).unwrap_or_else(|| "http://localhost".to_owned());
        Self {
            repository_url: format!("{base}/api/v3/repos/{owner}/{repo}"),
            base,
        }
    }

    pub fn repository(&self, owner: &str, repo: &str) -> GithubRepository {
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

    pub fn deployment_url(&self, number: i64) -> String {
        format!("{}/deployments/{number}", self.repository_url)
    }

    pub fn deployment(&self, record: &GithubRecord) -> GithubDeployment {
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

    pub fn status(&self, number: i64, s: &deployment_statuses::Model) -> GithubStatus {
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
pub fn github_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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
    #[oai(nullable)]
    pub task: Option<String>,
    /// Accepted and ignored (there is no branch to merge).
    #[oai(nullable)]
    pub auto_merge: Option<bool>,
    /// Accepted and ignored (no commit status checks).
    #[oai(nullable)]
    pub required_contexts: Option<Vec<String>>,
    /// JSON object or string, given back as sent. `payload.sha` (hex) names the commit
    /// when `ref` is not a SHA.
    #[oai(nullable)]
    pub payload: Option<serde_json::Value>,
    /// Default `production`.
    #[oai(validator(min_length = 1, max_length = 64))]
    #[oai(nullable)]
    pub environment: Option<String>,
    #[oai(validator(max_length = 500))]
    #[oai(nullable)]
    pub description: Option<String>,
    /// Default false.
    #[oai(nullable)]
    pub transient_environment: Option<bool>,
    /// Default: `environment` is `production`.
    #[oai(nullable)]
    pub production_environment: Option<bool>,
}

/// The body of `POST /deployments/{id}/statuses`.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct CreateStatusIn {
    pub state: GithubState,
    /// Legacy name of `log_url`.
    #[oai(validator(max_length = 2048))]
    #[oai(nullable)]
    pub target_url: Option<String>,
    /// Also sets `target_url`.
    #[oai(validator(max_length = 2048))]
    #[oai(nullable)]
    pub log_url: Option<String>,
    /// At most 140 characters.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Default: the previous status's environment, else the deployment's.
    #[oai(validator(max_length = 64))]
    #[oai(nullable)]
    pub environment: Option<String>,
    #[oai(validator(max_length = 2048))]
    #[oai(nullable)]
    pub environment_url: Option<String>,
    /// Default true.
    #[oai(nullable)]
    pub auto_inactive: Option<bool>,
}

/// The body of `POST /repos/{owner}/{repo}/dispatches` (validated by `domain::Dispatch`, so
/// a missing or too long `event_type` is GitHub's 422).
#[derive(Debug, Clone, Object, Deserialize)]
pub struct DispatchIn {
    /// 1-100 characters: the `action` of the `repository_dispatch` event.
    #[oai(nullable)]
    pub event_type: Option<String>,
    /// Any JSON object of at most 10 top-level properties.
    #[oai(nullable)]
    pub client_payload: Option<serde_json::Value>,
}
