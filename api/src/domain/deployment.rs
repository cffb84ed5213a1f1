//! A deployment as the domain sees it: a validated new deployment, and the status and timing
//! transitions a PATCH may make.

use chrono::{DateTime, Utc};

use super::{
    Errors, FieldError, RepositoryRef, Status, check_http_url, check_instant, check_text,
    normalize_sha, truncate_micros, validate_environment,
};

/// Who recorded a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggeredBy {
    /// The canonical or iftrue-shaped API.
    Api,
    /// The GitHub-compatible deployments API.
    Github,
    /// A deploy-hook URL.
    DeployHook,
    /// An admin repair.
    Admin,
    /// A GitHub webhook (`/webhooks/github/{id}`).
    GithubWebhook,
    /// A GitLab webhook (`/webhooks/gitlab/{id}`).
    GitlabWebhook,
}

impl TriggeredBy {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggeredBy::Api => "api",
            TriggeredBy::Github => "github",
            TriggeredBy::DeployHook => "deploy_hook",
            TriggeredBy::Admin => "admin",
            TriggeredBy::GithubWebhook => "github_webhook",
            TriggeredBy::GitlabWebhook => "gitlab_webhook",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInput {
    pub sha: String,
    pub committed_at: DateTime<Utc>,
}

/// A validated deployment to record.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub repository: RepositoryRef,
    pub team: Option<String>,
    pub member_external_id: Option<String>,
    pub environment: String,
    pub is_production: bool,
    pub title: String,
    pub changelog: Option<String>,
    pub url: Option<String>,
    pub branch: String,
    pub commit_id: String,
    pub node_id: Option<String>,
    pub pull_request_number: Option<i64>,
    pub commits_count: i32,
    pub duration_seconds: Option<i64>,
    pub is_fix: bool,
    pub is_hotfix: bool,
    pub is_forced: bool,
    pub is_rollback: bool,
    pub status: Status,
    pub triggered_by: TriggeredBy,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub commits: Vec<CommitInput>,
}

/// Checks the timing fields together: order, not in the future, finished only when final.
pub fn check_timing(
    errors: &mut Errors,
    status: Status,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    for (field, t) in [("started_at", started_at), ("finished_at", finished_at)] {
        if let Some(t) = t {
            errors.check(field, check_instant(t, now));
        }
    }
    if let (Some(s), Some(f)) = (started_at, finished_at)
        && f < s
    {
        errors.push("finished_at", "must not be before started_at");
    }
    if finished_at.is_some() && !status.is_final() {
        errors.push(
            "finished_at",
            format!("a `{}` deployment has not finished", status.as_str()),
        );
    }
}

/// Raw fields of a create request, shared by the canonical and iftrue-shaped endpoints.
pub struct RawDeployment<'a> {
    pub title: &'a str,
    pub changelog: Option<&'a str>,
    pub url: Option<&'a str>,
    pub branch: &'a str,
    pub commit_id: &'a str,
    pub deployment_duration_minutes: Option<f64>,
    pub is_fix: bool,
    pub is_hotfix: bool,
    pub is_forced: bool,
    pub is_rollback: bool,
    pub commits_count: i32,
    pub member_id: Option<&'a str>,
    pub pull_request_number: Option<i64>,
    pub repository_url: &'a str,
    pub node_id: Option<&'a str>,
    pub status: Status,
    pub environment: Option<&'a str>,
    pub is_production: Option<bool>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub commits: Vec<(&'a str, DateTime<Utc>)>,
    pub team: Option<&'a str>,
}

impl NewDeployment {
    pub fn parse(raw: RawDeployment<'_>, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let repository = errors.check("repository_url", RepositoryRef::parse(raw.repository_url));
        let commit_id = errors.check("commit_id", normalize_sha(raw.commit_id));
        errors.check("title", check_text(raw.title, false));
        errors.check("branch", check_text(raw.branch, false));
        if raw.title.trim().is_empty() {
            errors.push("title", "must not be blank");
        }
        if raw.branch.trim().is_empty() {
            errors.push("branch", "must not be blank");
        }
        if let Some(changelog) = raw.changelog {
            errors.check("changelog", check_text(changelog, true));
        }
        let url = raw.url.and_then(|u| errors.check("url", check_http_url(u)));
        if let Some(member) = raw.member_id {
            errors.check("member_id", check_text(member, false));
            if member.trim().is_empty() {
                errors.push("member_id", "must not be blank");
            }
        }
        if let Some(node) = raw.node_id {
            errors.check("deployment_node_id", check_text(node, false));
        }
        let environment = raw.environment.unwrap_or("production").to_owned();
        errors.check("environment", validate_environment(&environment));
        if let Some(team) = raw.team {
            errors.check("team", check_text(team, false));
            if team.trim().is_empty() {
                errors.push("team", "must not be blank");
            }
        }
        let duration_seconds = raw.deployment_duration_minutes.and_then(|m| {
            if m.is_finite() && (0.0..=525_600.0).contains(&m) {
                Some((m * 60.0).round() as i64)
            } else {
                errors.push(
                    "deployment_duration",
                    "must be between 0 and 525600 minutes",
                );
                None
            }
        });
        let started_at = raw.started_at.map(truncate_micros);
        let finished_at = raw.finished_at.map(truncate_micros);
        check_timing(&mut errors, raw.status, started_at, finished_at, now);
        let duration_seconds = duration_seconds.or_else(|| match (started_at, finished_at) {
            (Some(s), Some(f)) => Some((f - s).num_seconds()),
            _ => None,
        });

        let mut commits: Vec<CommitInput> = Vec::with_capacity(raw.commits.len());
        for (i, (sha, committed_at)) in raw.commits.iter().enumerate() {
            let field = format!("commits[{i}].sha");
            let Some(sha) = errors.check(&field, normalize_sha(sha)) else {
                continue;
            };
            errors.check(
                &format!("commits[{i}].committed_at"),
                check_instant(*committed_at, now),
            );
            if commits.iter().any(|c| c.sha == sha) {
                errors.push(&field, "appears twice");
                continue;
            }
            commits.push(CommitInput {
                sha,
                committed_at: truncate_micros(*committed_at),
            });
        }

        let (Some(repository), Some(commit_id)) = (repository, commit_id) else {
            return Err(errors.0);
        };
        let is_production = raw.is_production.unwrap_or(environment == "production");
        errors.finish(|| NewDeployment {
            repository,
            team: raw.team.map(|t| t.trim().to_owned()),
            member_external_id: raw.member_id.map(|m| m.trim().to_owned()),
            environment,
            is_production,
            title: raw.title.trim().to_owned(),
            changelog: raw.changelog.map(str::to_owned),
            url,
            branch: raw.branch.trim().to_owned(),
            commit_id,
            node_id: raw.node_id.map(str::to_owned),
            pull_request_number: raw.pull_request_number,
            commits_count: raw.commits_count,
            duration_seconds,
            is_fix: raw.is_fix,
            is_hotfix: raw.is_hotfix,
            is_forced: raw.is_forced,
            is_rollback: raw.is_rollback,
            status: raw.status,
            triggered_by: TriggeredBy::Api,
            started_at,
            finished_at,
            commits,
        })
    }
}

/// (status, started_at, finished_at) of a deployment.
pub type Timing = (Status, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A status/timing transition of an existing deployment (PATCH).
#[derive(Debug, Clone)]
pub struct DeploymentChange {
    pub status: Option<Status>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl DeploymentChange {
    /// Applies the change to the current state, returning the new
    /// (status, started_at, finished_at) or the reasons it is refused.
    pub fn apply(
        &self,
        current: Status,
        started_at: Option<DateTime<Utc>>,
        finished_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Timing, ChangeError> {
        let status = match self.status {
            Some(next) if next == current => current,
            Some(next) if current.can_become(next) => next,
            Some(next) => {
                return Err(ChangeError::Transition {
                    from: current,
                    to: next,
                });
            }
            None => current,
        };
        if current.is_final() && (self.started_at.is_some() || self.finished_at.is_some()) {
            return Err(ChangeError::Finished(current));
        }
        let started_at = self.started_at.map(truncate_micros).or(started_at);
        let mut finished_at = self.finished_at.map(truncate_micros).or(finished_at);
        // Finishing without saying when means now.
        if status.is_final() && finished_at.is_none() {
            finished_at = Some(truncate_micros(now));
        }
        let mut errors = Errors::default();
        check_timing(&mut errors, status, started_at, finished_at, now);
        if !errors.0.is_empty() {
            return Err(ChangeError::Invalid(errors.0));
        }
        Ok((status, started_at, finished_at))
    }
}

#[derive(Debug)]
pub enum ChangeError {
    Transition { from: Status, to: Status },
    Finished(Status),
    Invalid(Vec<FieldError>),
}

/// The caller's own id of an imported deployment (`external_id` of an import line): one line
/// of 1-255 characters, kept trimmed.
pub fn parse_external_id(value: &str) -> Result<String, String> {
    check_text(value, false)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("must not be blank".to_owned());
    }
    if trimmed.chars().count() > 255 {
        return Err("must be at most 255 characters long".to_owned());
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finishing_defaults_to_now() {
        let now = Utc::now();
        let change = DeploymentChange {
            status: Some(Status::Success),
            started_at: None,
            finished_at: None,
        };
        let (status, _, finished) = change
            .apply(Status::InProgress, None, None, now)
            .expect("in_progress may finish");
        assert_eq!(status, Status::Success);
        assert_eq!(finished, Some(truncate_micros(now)));
    }
}
