//! `POST /webhooks/gitlab/{id}`: GitLab webhook deliveries for a `gitlab` integration.
//! `X-Gitlab-Token` is compared with the integration's secret in constant time (in
//! `core::webhooks::receive`) before the body is parsed; the payload is then mapped here onto
//! the source-neutral events of `domain::webhook`:
//!
//! | `X-Gitlab-Event` | becomes |
//! |---|---|
//! | `Deployment Hook` | a deployment keyed by GitLab's deployment id, and its status (`created` → queued, `running` → in progress, `success`, `failed` → failure, `canceled`) at `status_changed_at` |
//! | `Push Hook` | the pushed commits of the project |
//! | `Issue Hook`, `Confidential Issue Hook` | an incident while the issue is of type incident or carries `incident_label` |
//! | anything else | nothing (202, counted) |

mod shapes;

use chrono::Utc;
use poem_openapi::{
    OpenApi,
    param::{Header, Path},
};

use crate::{
    core::{
        self,
        webhooks::{Credential, Delivery},
    },
    domain::{
        CommitInput, GithubState, IntegrationKind, MAX_TITLE_CHARS, RepositoryRef,
        SourceDeployment, SourceEvent, SourceIssue, SourcePush, SourceState, SourceStatus,
        branch_of_ref, clean_environment, clean_sha, clean_text, clean_url, is_zero_sha,
        payload_time,
    },
    http::{
        ApiTags,
        body::RawBody,
        shapes::webhook::{WebhookError, WebhookResponse, deliver, parse_payload},
        state::AppState,
    },
};
use shapes::{DeploymentHook, IssueHook, PushHook};

fn repository(web_url: &str) -> Result<RepositoryRef, core::Error> {
    RepositoryRef::parse(web_url).map_err(|e| core::Error::BadRequest {
        kind: "malformed-payload",
        detail: format!("project.web_url: {e}"),
    })
}

/// GitLab's deployment statuses onto the status vocabulary; `None` for those that say nothing
/// about an outcome (`blocked`, `skipped`).
fn state(status: &str) -> Option<(SourceState, i64)> {
    // The second value orders statuses reported within one second.
    Some(match status {
        "created" => (SourceState::State(GithubState::Queued), 0),
        "running" => (SourceState::State(GithubState::InProgress), 1),
        "success" => (SourceState::State(GithubState::Success), 2),
        "failed" => (SourceState::State(GithubState::Failure), 2),
        "canceled" => (SourceState::Canceled, 2),
        _ => return None,
    })
}

fn on_deployment(bytes: &[u8]) -> Result<SourceEvent, core::Error> {
    let e: DeploymentHook = parse_payload("Deployment Hook", bytes)?;
    let Some((state, order)) = state(&e.status) else {
        return Ok(SourceEvent::Ignored(format!(
            "deployment status `{}` is not one dora-tracker records",
            clean_text(&e.status, 40, false)
        )));
    };
    let repository = repository(&e.project.web_url)?;
    // The full sha: `sha` when sent, else the end of `commit_url`, else the short one.
    let sha = e
        .sha
        .as_deref()
        .and_then(clean_sha)
        .or_else(|| {
            e.commit_url
                .as_deref()
                .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
                .and_then(clean_sha)
        })
        .or_else(|| e.short_sha.as_deref().and_then(clean_sha))
        .unwrap_or_default();
    let branch = e
        .git_ref
        .as_deref()
        .map(|r| branch_of_ref(r).unwrap_or_else(|| clean_text(r, 255, false)))
        .unwrap_or_default();
    let environment = e.environment.as_deref().and_then(clean_environment);
    let title = e
        .commit_title
        .as_deref()
        .map(|t| clean_text(t, MAX_TITLE_CHARS, false))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("GitLab deployment {}", e.deployment_id));
    let creator = e
        .user
        .as_ref()
        .and_then(|u| u.username.as_deref())
        .map(|u| clean_text(u, 255, false))
        .filter(|u| !u.is_empty());
    let status = SourceStatus {
        external_id: format!("{}:{}", e.deployment_id, e.status),
        state,
        at: e.status_changed_at,
        order,
        description: SourceStatus::description(Some(&format!("GitLab: {}", e.status))),
        log_url: clean_url(e.deployable_url.as_deref()),
        environment_url: None,
        environment: environment.clone(),
        creator: creator.clone(),
    };
    Ok(SourceEvent::Deployment {
        deployment: Box::new(SourceDeployment {
            external_id: e.deployment_id.to_string(),
            repository,
            production: e
                .environment_tier
                .as_deref()
                .map(|tier| tier.eq_ignore_ascii_case("production")),
            sha,
            is_hotfix: branch.starts_with("hotfix/"),
            branch,
            title,
            creator,
            url: clean_url(e.deployable_url.as_deref()),
            created_at: e.status_changed_at,
            is_fix: false,
            is_rollback: false,
            run_id: None,
            github: None,
            environment,
        }),
        status: Some(Box::new(status)),
    })
}

fn on_push(bytes: &[u8]) -> Result<SourceEvent, core::Error> {
    let e: PushHook = parse_payload("Push Hook", bytes)?;
    let Some(branch) = branch_of_ref(&e.git_ref) else {
        return Ok(SourceEvent::Ignored(
            "only pushes to branches are recorded".to_owned(),
        ));
    };
    if is_zero_sha(&e.after) {
        return Ok(SourceEvent::Ignored(
            "a deleted branch brings no commits".to_owned(),
        ));
    }
    let (Some(after), Some(before)) = (
        clean_sha(&e.after),
        clean_sha(&e.before).or_else(|| is_zero_sha(&e.before).then(|| e.before.clone())),
    ) else {
        return Err(core::Error::BadRequest {
            kind: "malformed-payload",
            detail: "before and after must be commit ids".to_owned(),
        });
    };
    let now = Utc::now();
    let mut commits: Vec<CommitInput> = Vec::with_capacity(e.commits.len());
    for c in &e.commits {
        if let Some(sha) = clean_sha(&c.id)
            && !commits.iter().any(|k| k.sha == sha)
        {
            commits.push(CommitInput {
                sha,
                committed_at: payload_time(c.timestamp, now),
            });
        }
    }
    // GitLab lists the commits oldest first, as GitHub does; it reports no forced pushes.
    Ok(SourceEvent::Push(Box::new(SourcePush {
        repository: repository(&e.project.web_url)?,
        branch,
        before,
        after,
        forced: false,
        pushed_at: now,
        commits,
    })))
}

fn on_issue(bytes: &[u8]) -> Result<SourceEvent, core::Error> {
    let e: IssueHook = parse_payload("Issue Hook", bytes)?;
    let a = &e.object_attributes;
    let incident_type = [a.work_item_type.as_deref(), a.issue_type.as_deref()]
        .into_iter()
        .flatten()
        .any(|t| t.eq_ignore_ascii_case("incident"));
    let labels = e
        .labels
        .as_ref()
        .or(a.labels.as_ref())
        .into_iter()
        .flatten()
        .map(|l| clean_text(&l.title, 200, false))
        .collect();
    let title = clean_text(a.title.as_deref().unwrap_or(""), MAX_TITLE_CHARS, false);
    let severity = a
        .severity
        .as_deref()
        .map(|s| clean_text(s, 64, false))
        .filter(|s| !s.is_empty() && s != "unknown");
    Ok(SourceEvent::Issue(Box::new(SourceIssue {
        external_id: a.id.to_string(),
        repository: repository(&e.project.web_url)?,
        number: a.iid,
        title: if title.is_empty() {
            format!("Issue #{}", a.iid)
        } else {
            title
        },
        body: SourceIssue::body(a.description.as_deref()),
        url: clean_url(a.url.as_deref()),
        created_at: a.created_at,
        updated_at: a.updated_at,
        closed_at: a.closed_at,
        open: a.state.as_deref() != Some("closed") && a.action.as_deref() != Some("close"),
        labels,
        incident_type,
        label_added: None,
        label_removed: None,
        deleted: false,
        severity,
    })))
}

fn parse(event: Option<&str>, body: &RawBody) -> Result<SourceEvent, core::Error> {
    let Some(event) = event else {
        return Err(core::Error::BadRequest {
            kind: "missing-event",
            detail: "the X-Gitlab-Event header is required".to_owned(),
        });
    };
    match event {
        "Deployment Hook" => on_deployment(&body.bytes),
        "Push Hook" => on_push(&body.bytes),
        "Issue Hook" | "Confidential Issue Hook" => on_issue(&body.bytes),
        _ => Ok(SourceEvent::Unhandled),
    }
}

/// The bounded label of an event type for the delivery counter.
fn label(event: Option<&str>) -> &'static str {
    match event {
        Some("Deployment Hook") => "deployment",
        Some("Push Hook") => "push",
        Some("Issue Hook" | "Confidential Issue Hook") => "issue",
        _ => "other",
    }
}

#[derive(Default)]
pub struct GitlabWebhookApi;

#[OpenApi(tag = "ApiTags::Webhooks")]
impl GitlabWebhookApi {
    /// Receive a GitLab webhook delivery
    ///
    /// The URL of a `gitlab` integration (`webhook_url`). No token: `X-Gitlab-Token` must be
    /// the integration's secret (compared in constant time, before the body is parsed).
    /// Handled events: `Deployment Hook`, `Push Hook`, `Issue Hook`; others answer 202 and
    /// record nothing. A repeated `Idempotency-Key` (else `X-Gitlab-Event-UUID`) changes
    /// nothing.
    #[oai(
        path = "/webhooks/gitlab/:id",
        method = "post",
        operation_id = "receiveGitlabWebhook"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn receive(
        &self,
        state: poem::web::Data<&AppState>,
        /// The integration's id.
        id: Path<String>,
        /// The event type, e.g. `Deployment Hook`.
        #[oai(name = "X-Gitlab-Event")]
        event: Header<Option<String>>,
        /// The integration's secret.
        #[oai(name = "X-Gitlab-Token")]
        token: Header<Option<String>>,
        /// The delivery's id, the same when GitLab retries it.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        /// The event's id.
        #[oai(name = "X-Gitlab-Event-UUID")]
        event_uuid: Header<Option<String>>,
        body: RawBody,
    ) -> Result<WebhookResponse, WebhookError> {
        let event = event.0.as_deref().map(str::trim);
        deliver(
            &state,
            IntegrationKind::Gitlab,
            &id,
            label(event),
            Credential::Token(token.0.as_deref()),
            &body.bytes,
            Delivery {
                id: idempotency_key.0.as_deref().or(event_uuid.0.as_deref()),
                event: event.unwrap_or(""),
            },
            |_| parse(event, &body),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::shapes::parse_time;

    #[test]
    fn gitlab_times() {
        let expected = "2021-04-28T19:50:00Z".parse().ok();
        assert_eq!(parse_time("2021-04-28T19:50:00Z"), expected);
        assert_eq!(parse_time("2021-04-28 21:50:00 +0200"), expected);
        assert_eq!(parse_time("2021-04-28 19:50:00 UTC"), expected);
        assert_eq!(parse_time("yesterday"), None);
    }
}
