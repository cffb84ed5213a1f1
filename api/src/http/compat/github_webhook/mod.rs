//! `POST /webhooks/github/{id}`: GitHub webhook deliveries for a `github` integration. The
//! adapter reads the raw body (bounded), hands it with `X-Hub-Signature-256` to
//! `core::webhooks::receive`, which verifies the HMAC in constant time before anything is
//! parsed; only then is the payload read, and mapped here — in one function per event — onto
//! the source-neutral events of `domain::webhook`:
//!
//! | `X-GitHub-Event` | becomes |
//! |---|---|
//! | `deployment` | a deployment (queued), keyed by GitHub's deployment id |
//! | `deployment_status` | a status of that deployment (created from the payload if unseen) |
//! | `workflow_run` (`completed`) | a deployment, for workflows in `deployment_workflows` |
//! | `push` | the pushed commits of the repository |
//! | `issues` | an incident while the issue carries `incident_label` |
//! | `ping` | nothing (200) |
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
        CommitInput, GithubFields, GithubState, IntegrationKind, MAX_TITLE_CHARS, RepositoryRef,
        SourceDeployment, SourceEvent, SourceIssue, SourcePush, SourceRun, SourceState,
        SourceStatus, Status, branch_of_ref, clean_environment, clean_sha, clean_text, clean_url,
        is_zero_sha, payload_time,
    },
    http::{
        ApiTags,
        body::RawBody,
        shapes::webhook::{WebhookError, WebhookResponse, deliver, parse_payload},
        state::AppState,
    },
};
use shapes::{
    Deployment, DeploymentEvent, DeploymentStatusEvent, IssuesEvent, PushEvent, WorkflowRunEvent,
};

/// The event types this adapter reads; any other is counted as `other`.
const EVENTS: [&str; 6] = [
    "ping",
    "deployment",
    "deployment_status",
    "workflow_run",
    "push",
    "issues",
];

fn repository(html_url: &str) -> Result<RepositoryRef, core::Error> {
    RepositoryRef::parse(html_url).map_err(|e| core::Error::BadRequest {
        kind: "malformed-payload",
        detail: format!("repository.html_url: {e}"),
    })
}

fn login(user: Option<&shapes::User>) -> Option<String> {
    user.and_then(|u| u.login.as_deref())
        .map(|l| clean_text(l, 255, false))
        .filter(|l| !l.is_empty())
}

/// A flag of a deployment's `payload` (`{"is_hotfix": true}` or `{"hotfix": true}`).
fn payload_flag(payload: Option<&serde_json::Value>, name: &str) -> bool {
    payload.is_some_and(|p| {
        p.get(format!("is_{name}"))
            .and_then(serde_json::Value::as_bool)
            == Some(true)
            || p.get(name).and_then(serde_json::Value::as_bool) == Some(true)
    })
}

/// GitHub's deployment object as a source deployment. A hotfix, fix or rollback is said by
/// the deployment's `payload` (`is_hotfix`, `is_fix`, `is_rollback`), its task
/// (`deploy:hotfix`, `deploy:fix`, `deploy:rollback`) or, for a hotfix, a `hotfix/` ref.
fn deployment(d: &Deployment, repository: RepositoryRef, run_id: Option<i64>) -> SourceDeployment {
    let task = clean_text(d.task.as_deref().unwrap_or("deploy"), 255, false);
    let task = if task.is_empty() {
        "deploy".to_owned()
    } else {
        task
    };
    let branch = clean_text(&d.git_ref, 255, false);
    let environment = d.environment.as_deref().and_then(clean_environment);
    let description = d
        .description
        .as_deref()
        .map(|t| clean_text(t, MAX_TITLE_CHARS, false))
        .filter(|t| !t.is_empty());
    let title = description.clone().unwrap_or_else(|| {
        clean_text(
            &format!(
                "{task} {branch} to {}",
                environment.as_deref().unwrap_or("the default environment")
            ),
            500,
            false,
        )
    });
    let payload = d.payload.as_ref();
    let task_says = |what: &str| task.eq_ignore_ascii_case(&format!("deploy:{what}"));
    SourceDeployment {
        external_id: d.id.to_string(),
        repository,
        production: d.production_environment,
        sha: clean_sha(&d.sha).unwrap_or_default(),
        title,
        creator: login(d.creator.as_ref()),
        url: clean_url(d.url.as_deref()),
        created_at: d.created_at,
        is_fix: payload_flag(payload, "fix") || task_says("fix"),
        is_hotfix: payload_flag(payload, "hotfix")
            || task_says("hotfix")
            || branch.starts_with("hotfix/"),
        is_rollback: payload_flag(payload, "rollback") || task_says("rollback"),
        run_id: run_id.map(|id| id.to_string()),
        github: Some(GithubFields {
            task,
            payload: payload.map_or_else(|| "{}".to_owned(), serde_json::Value::to_string),
            description,
            transient_environment: d.transient_environment.unwrap_or(false),
            original_environment: d
                .original_environment
                .as_deref()
                .and_then(clean_environment)
                .or_else(|| environment.clone())
                .unwrap_or_default(),
        }),
        environment,
        branch,
    }
}

fn on_deployment(bytes: &[u8]) -> Result<SourceEvent, core::Error> {
    let e: DeploymentEvent = parse_payload("deployment", bytes)?;
    if e.action.as_deref().is_some_and(|a| a != "created") {
        return Ok(SourceEvent::Ignored(
            "only `created` deployment events are recorded".to_owned(),
        ));
    }
    let repository = repository(&e.repository.html_url)?;
    Ok(SourceEvent::Deployment {
        deployment: Box::new(deployment(
            &e.deployment,
            repository,
            e.workflow_run.map(|r| r.id),
        )),
        status: None,
    })
}

fn on_deployment_status(bytes: &[u8]) -> Result<SourceEvent, core::Error> {
    let e: DeploymentStatusEvent = parse_payload("deployment_status", bytes)?;
    if e.action.as_deref().is_some_and(|a| a != "created") {
        return Ok(SourceEvent::Ignored(
            "only `created` deployment statuses are recorded".to_owned(),
        ));
    }
    let s = &e.deployment_status;
    let Ok(state) = s.state.parse::<GithubState>() else {
        return Ok(SourceEvent::Ignored(format!(
            "deployment status state `{}` is not one dora-tracker records",
            clean_text(&s.state, 40, false)
        )));
    };
    let repository = repository(&e.repository.html_url)?;
    let status = SourceStatus {
        external_id: s.id.to_string(),
        state: SourceState::State(state),
        at: s.created_at,
        order: s.id,
        description: SourceStatus::description(s.description.as_deref()),
        log_url: clean_url(s.log_url.as_deref()).or_else(|| clean_url(s.target_url.as_deref())),
        environment_url: clean_url(s.environment_url.as_deref()),
        environment: s.environment.as_deref().and_then(clean_environment),
        creator: login(s.creator.as_ref()),
    };
    Ok(SourceEvent::Deployment {
        deployment: Box::new(deployment(
            &e.deployment,
            repository,
            e.workflow_run.map(|r| r.id),
        )),
        status: Some(Box::new(status)),
    })
}

fn on_workflow_run(bytes: &[u8]) -> Result<SourceEvent, core::Error> {
    let e: WorkflowRunEvent = parse_payload("workflow_run", bytes)?;
    if e.action != "completed" {
        return Ok(SourceEvent::Ignored(
            "only completed workflow runs are recorded".to_owned(),
        ));
    }
    let run = &e.workflow_run;
    let status = match run.conclusion.as_deref() {
        Some("success") => Status::Success,
        Some("failure" | "timed_out" | "startup_failure") => Status::Failure,
        Some("cancelled") => Status::Canceled,
        other => {
            return Ok(SourceEvent::Ignored(format!(
                "a run concluding `{}` is not a deployment outcome",
                clean_text(other.unwrap_or("null"), 40, false)
            )));
        }
    };
    let repository = repository(&e.repository.html_url)?;
    let mut names: Vec<String> = [
        run.name.as_deref(),
        run.path.as_deref(),
        e.workflow.as_ref().and_then(|w| w.name.as_deref()),
        e.workflow.as_ref().and_then(|w| w.path.as_deref()),
    ]
    .into_iter()
    .flatten()
    .map(|n| clean_text(n, MAX_TITLE_CHARS, false))
    .filter(|n| !n.is_empty())
    .collect();
    names.dedup();
    let title = run
        .display_title
        .as_deref()
        .or(run.name.as_deref())
        .map(|t| clean_text(t, MAX_TITLE_CHARS, false))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("Workflow run {}", run.id));
    Ok(SourceEvent::Run(Box::new(SourceRun {
        external_id: run.id.to_string(),
        attempt: run.run_attempt.unwrap_or(1).max(1),
        repository,
        workflow_names: names,
        sha: clean_sha(&run.head_sha).unwrap_or_default(),
        branch: run
            .head_branch
            .as_deref()
            .map(|b| clean_text(b, 255, false))
            .unwrap_or_default(),
        title,
        creator: login(run.triggering_actor.as_ref().or(run.actor.as_ref())),
        url: clean_url(run.html_url.as_deref()),
        started_at: run.run_started_at.unwrap_or(run.created_at),
        finished_at: run.updated_at,
        status,
    })))
}

fn on_push(bytes: &[u8]) -> Result<SourceEvent, core::Error> {
    let e: PushEvent = parse_payload("push", bytes)?;
    let Some(branch) = branch_of_ref(&e.git_ref) else {
        return Ok(SourceEvent::Ignored(
            "only pushes to branches are recorded".to_owned(),
        ));
    };
    if e.deleted || is_zero_sha(&e.after) {
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
    for c in e.commits.iter().chain(e.head_commit.iter()) {
        if let Some(sha) = clean_sha(&c.id)
            && !commits.iter().any(|k| k.sha == sha)
        {
            commits.push(CommitInput {
                sha,
                committed_at: payload_time(c.timestamp, now),
            });
        }
    }
    Ok(SourceEvent::Push(Box::new(SourcePush {
        repository: repository(&e.repository.html_url)?,
        branch,
        before,
        after,
        forced: e.forced,
        pushed_at: now,
        commits,
    })))
}

fn on_issues(bytes: &[u8]) -> Result<SourceEvent, core::Error> {
    let e: IssuesEvent = parse_payload("issues", bytes)?;
    let deleted = matches!(e.action.as_str(), "deleted" | "transferred");
    let handled = deleted
        || matches!(
            e.action.as_str(),
            "opened" | "edited" | "closed" | "reopened" | "labeled" | "unlabeled"
        );
    if !handled || e.issue.pull_request.is_some() {
        return Ok(SourceEvent::Ignored(format!(
            "issue action `{}` changes no incident",
            clean_text(&e.action, 40, false)
        )));
    }
    let issue = &e.issue;
    let (Some(created_at), Some(updated_at)) = (issue.created_at, issue.updated_at) else {
        return Err(core::Error::BadRequest {
            kind: "malformed-payload",
            detail: "issue.created_at and issue.updated_at are required".to_owned(),
        });
    };
    let label = e.label.as_ref().map(|l| clean_text(&l.name, 200, false));
    let title = clean_text(issue.title.as_deref().unwrap_or(""), MAX_TITLE_CHARS, false);
    Ok(SourceEvent::Issue(Box::new(SourceIssue {
        external_id: issue.id.to_string(),
        repository: repository(&e.repository.html_url)?,
        number: issue.number,
        title: if title.is_empty() {
            format!("Issue #{}", issue.number)
        } else {
            title
        },
        body: SourceIssue::body(issue.body.as_deref()),
        url: clean_url(issue.html_url.as_deref()),
        created_at,
        updated_at,
        closed_at: issue.closed_at,
        open: issue.state.as_deref() != Some("closed"),
        labels: issue
            .labels
            .iter()
            .flatten()
            .map(|l| clean_text(&l.name, 200, false))
            .collect(),
        incident_type: false,
        label_added: label.clone().filter(|_| e.action == "labeled"),
        label_removed: label.filter(|_| e.action == "unlabeled"),
        deleted,
        severity: None,
    })))
}

/// The payload of a delivery: the body, or the `payload` field of a form-encoded one (the
/// other content type GitHub offers).
fn json_of(body: &RawBody) -> Result<Vec<u8>, core::Error> {
    let form = body.content_type.as_deref().is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !form {
        return Ok(body.bytes.clone());
    }
    url::form_urlencoded::parse(&body.bytes)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned().into_bytes())
        .ok_or_else(|| core::Error::BadRequest {
            kind: "malformed-payload",
            detail: "a form-encoded delivery must carry `payload`".to_owned(),
        })
}

fn parse(event: Option<&str>, body: &RawBody) -> Result<SourceEvent, core::Error> {
    let Some(event) = event else {
        return Err(core::Error::BadRequest {
            kind: "missing-event",
            detail: "the X-GitHub-Event header is required".to_owned(),
        });
    };
    let bytes = json_of(body)?;
    match event {
        "ping" => {
            parse_payload::<serde_json::Map<String, serde_json::Value>>("ping", &bytes)?;
            Ok(SourceEvent::Ping)
        }
        "deployment" => on_deployment(&bytes),
        "deployment_status" => on_deployment_status(&bytes),
        "workflow_run" => on_workflow_run(&bytes),
        "push" => on_push(&bytes),
        "issues" => on_issues(&bytes),
        _ => Ok(SourceEvent::Unhandled),
    }
}

#[derive(Default)]
pub struct GithubWebhookApi;

#[OpenApi(tag = "ApiTags::Webhooks")]
impl GithubWebhookApi {
    /// Receive a GitHub webhook delivery
    ///
    /// The URL of a `github` integration (`webhook_url`). No token: the delivery is verified
    /// with `X-Hub-Signature-256` (HMAC-SHA256 of the raw body under the integration's
    /// secret, compared in constant time) before the body is parsed. Handled events:
    /// `deployment`, `deployment_status`, `workflow_run`, `push`, `issues`, `ping`; others
    /// answer 202 and record nothing. A repeated `X-GitHub-Delivery` changes nothing.
    #[oai(
        path = "/webhooks/github/:id",
        method = "post",
        operation_id = "receiveGithubWebhook"
    )]
    async fn receive(
        &self,
        state: poem::web::Data<&AppState>,
        /// The integration's id.
        id: Path<String>,
        /// The event type, e.g. `deployment_status`.
        #[oai(name = "X-GitHub-Event")]
        event: Header<Option<String>>,
        /// The delivery's id (the same on a redelivery).
        #[oai(name = "X-GitHub-Delivery")]
        delivery: Header<Option<String>>,
        /// `sha256=<hex HMAC-SHA256 of the body>`.
        #[oai(name = "X-Hub-Signature-256")]
        signature: Header<Option<String>>,
        body: RawBody,
    ) -> Result<WebhookResponse, WebhookError> {
        let event = event.0.as_deref().map(str::trim);
        let label = event
            .and_then(|e| EVENTS.iter().find(|known| **known == e).copied())
            .unwrap_or("other");
        deliver(
            &state,
            IntegrationKind::Github,
            &id,
            label,
            Credential::HmacSha256(signature.0.as_deref()),
            &body.bytes,
            Delivery {
                id: delivery.0.as_deref(),
                event: event.unwrap_or(""),
            },
            |_| parse(event, &body),
        )
        .await
    }
}
