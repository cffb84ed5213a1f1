//! What a CI system tells a job through its environment: the run (for the Idempotency-Key),
//! branch, actor, run URL, pull request, and its identity token (OIDC). GitHub Actions and
//! GitLab CI by their documented variables; other systems by the common ones.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// The CI a job runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GithubActions,
    GitlabCi,
    Other,
}

/// What the environment says about the job.
#[derive(Debug, Clone)]
pub struct Context {
    pub kind: Kind,
    /// Names this run of this job: the same on a retry of the command, another on a re-run.
    pub run: Option<String>,
    pub branch: Option<String>,
    pub member: Option<String>,
    pub run_url: Option<String>,
    pub pull_request: Option<i64>,
    /// The repository's web URL, for when the checkout has no `origin`.
    pub repository_url: Option<String>,
}

/// Reads the context from `var` (the process environment, or a test's map).
pub fn detect(var: &dyn Fn(&str) -> Option<String>) -> Context {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if get("GITHUB_ACTIONS").as_deref() == Some("true") {
        let server = get("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_owned());
        let repository = get("GITHUB_REPOSITORY");
        let run_id = get("GITHUB_RUN_ID");
        let attempt = get("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".to_owned());
        let pull_request = get("GITHUB_REF")
            .and_then(|r| {
                r.strip_prefix("refs/pull/")
                    .and_then(|rest| rest.split('/').next().map(str::to_owned))
            })
            .and_then(|n| n.parse().ok());
        return Context {
            kind: Kind::GithubActions,
            run: run_id.as_ref().map(|id| {
                format!(
                    "github:{}:{id}:{attempt}:{}",
                    repository.as_deref().unwrap_or("-"),
                    get("GITHUB_JOB").unwrap_or_default()
                )
            }),
            // A pull request's run is of its head branch; a push's, of the pushed ref.
            branch: get("GITHUB_HEAD_REF").or_else(|| get("GITHUB_REF_NAME")),
            member: get("GITHUB_ACTOR"),
            run_url: match (&repository, &run_id) {
                (Some(repo), Some(id)) => Some(format!(
                    "{}/{repo}/actions/runs/{id}/attempts/{attempt}",
                    server.trim_end_matches('/')
                )),
                _ => None,
            },
            pull_request,
            repository_url: repository
                .map(|repo| format!("{}/{repo}", server.trim_end_matches('/'))),
        };
    }
    if get("GITLAB_CI").as_deref() == Some("true") {
        return Context {
            kind: Kind::GitlabCi,
            run: get("CI_JOB_ID").map(|job| {
                format!(
                    "gitlab:{}:{job}",
                    get("CI_PROJECT_PATH").unwrap_or_else(|| "-".to_owned())
                )
            }),
            branch: get("CI_COMMIT_BRANCH")
                .or_else(|| get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"))
                .or_else(|| get("CI_COMMIT_REF_NAME")),
            member: get("GITLAB_USER_LOGIN"),
            run_url: get("CI_JOB_URL"),
            pull_request: get("CI_MERGE_REQUEST_IID").and_then(|n| n.parse().ok()),
            repository_url: get("CI_PROJECT_URL"),
        };
    }
    // Jenkins, Buildkite, CircleCI, and anything that sets the common variables.
    let run = get("BUILD_TAG")
        .map(|t| format!("jenkins:{t}"))
        .or_else(|| get("BUILDKITE_JOB_ID").map(|id| format!("buildkite:{id}")))
        .or_else(|| get("CIRCLE_WORKFLOW_JOB_ID").map(|id| format!("circleci:{id}")))
        .or_else(|| get("CI_JOB_ID").map(|id| format!("ci:{id}")));
    Context {
        kind: Kind::Other,
        run,
        branch: get("BRANCH_NAME")
            .or_else(|| get("BUILDKITE_BRANCH"))
            .or_else(|| get("CIRCLE_BRANCH"))
            .or_else(|| {
                get("GIT_BRANCH").map(|b| b.strip_prefix("origin/").unwrap_or(&b).to_owned())
            }),
        member: get("BUILDKITE_BUILD_CREATOR_EMAIL").or_else(|| get("CIRCLE_USERNAME")),
        run_url: get("BUILD_URL")
            .or_else(|| get("BUILDKITE_BUILD_URL"))
            .or_else(|| get("CIRCLE_BUILD_URL")),
        pull_request: None,
        repository_url: None,
    }
}

/// An `Idempotency-Key` (1-255 visible ASCII characters) for this run and environment:
/// readable when it fits, else a hash of it.
pub fn idempotency_key(run: &str, environment: &str) -> String {
    let key = format!("{run}:{environment}");
    if key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic()) {
        key
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
    }
}

/// Where the job's identity token comes from.
#[derive(Debug, Clone)]
pub enum IdToken {
    /// GitHub Actions: asked of the runner for an audience (`permissions: id-token: write`).
    GithubRequest { url: String, bearer: String },
    /// GitLab CI: declared with `id_tokens:`, handed over in a variable.
    Variable(String),
}

/// The job's identity token source, or what the job must declare to have one.
pub fn id_token_source(
    kind: Kind,
    var: &dyn Fn(&str) -> Option<String>,
    variable: &str,
) -> Result<IdToken, String> {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    match kind {
        Kind::GithubActions => match (
            get("ACTIONS_ID_TOKEN_REQUEST_URL"),
            get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ) {
            (Some(url), Some(bearer)) => Ok(IdToken::GithubRequest { url, bearer }),
            _ => Err(
                "--oidc: this GitHub Actions job cannot request an identity token; give the \
                      job `permissions: id-token: write`"
                    .to_owned(),
            ),
        },
        _ => get(variable).map(IdToken::Variable).ok_or_else(|| {
            if kind == Kind::GitlabCi {
                format!(
                    "--oidc: the variable {variable} is not set; declare it in the job: \
                     `id_tokens: {variable}: aud: <audience>`"
                )
            } else {
                format!(
                    "--oidc: outside GitHub Actions the identity token is read from the \
                     variable {variable}, which is not set"
                )
            }
        }),
    }
}

/// Fetches the identity token for `audience` (GitHub Actions asks the runner for it; it is
/// never printed).
pub async fn fetch_id_token(
    client: &reqwest::Client,
    source: &IdToken,
    audience: &str,
) -> Result<String, String> {
    let (url, bearer) = match source {
        IdToken::Variable(token) => return Ok(token.trim().to_owned()),
        IdToken::GithubRequest { url, bearer } => (url, bearer),
    };
    let mut url =
        url::Url::parse(url).map_err(|_| "ACTIONS_ID_TOKEN_REQUEST_URL is not a URL".to_owned())?;
    url.query_pairs_mut().append_pair("audience", audience);
    let mut last = String::new();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        }
        let response = client
            .get(url.clone())
            .bearer_auth(bearer)
            .header("Accept", "application/json; api-version=2.0")
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                let body: serde_json::Value = r
                    .json()
                    .await
                    .map_err(|_| "the runner's identity token answer is not JSON".to_owned())?;
                return body["value"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "the runner's identity token answer has no `value`".to_owned());
            }
            Ok(r) => last = format!("the runner answered {} for an identity token", r.status()),
            Err(e) => last = format!("cannot reach the runner for an identity token: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn github_actions() {
        let ctx = detect(&env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "acme/web"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_JOB", "deploy"),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_REF_NAME", "7/merge"),
            ("GITHUB_HEAD_REF", "feature"),
            ("GITHUB_ACTOR", "alice"),
        ]));
        assert_eq!(ctx.kind, Kind::GithubActions);
        assert_eq!(ctx.run.as_deref(), Some("github:acme/web:42:2:deploy"));
        assert_eq!(ctx.branch.as_deref(), Some("feature"));
        assert_eq!(ctx.pull_request, Some(7));
        assert_eq!(
            ctx.run_url.as_deref(),
            Some("https://github.com/acme/web/actions/runs/42/attempts/2")
        );
    }

    #[test]
    fn gitlab_ci() {
        let ctx = detect(&env(&[
            ("GITLAB_CI", "true"),
            ("CI_JOB_ID", "99"),
            ("CI_PROJECT_PATH", "group/app"),
            ("CI_COMMIT_REF_NAME", "main"),
            ("CI_COMMIT_BRANCH", "main"),
        ]));
        assert_eq!(ctx.kind, Kind::GitlabCi);
        assert_eq!(ctx.run.as_deref(), Some("gitlab:group/app:99"));
        assert_eq!(ctx.branch.as_deref(), Some("main"));
        assert!(id_token_source(Kind::GitlabCi, &env(&[]), "DORA_ID_TOKEN").is_err());
    }

    #[test]
    fn keys_fit_the_header() {
        assert_eq!(
            idempotency_key("gitlab:g/a:1", "production"),
            "gitlab:g/a:1:production"
        );
        let long = idempotency_key(&"x".repeat(300), "production");
        assert!(long.starts_with("sha256:") && long.len() < 255);
        assert!(idempotency_key("jenkins:a b", "p").starts_with("sha256:"));
    }
}
