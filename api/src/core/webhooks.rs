//! Webhook deliveries from the integrations' sources (GitHub, GitLab, PagerDuty,
//! Alertmanager): verified before the body is parsed, deduplicated, and recorded through the
//! same paths as the canonical API.
//!
//! - The integration is named by the URL; its secret (sealed, `core::secrets`) is the
//!   credential. An unknown or deleted integration, another kind's URL, a missing or wrong
//!   signature all answer the same 401 and record nothing.
//! - The delivery id is remembered per integration: the same delivery again changes nothing.
//!   The source's own object ids (`store::source_objects`) make the same deployment, status
//!   or issue reached by two events one record, and their versions (a status's time, an issue's
//!   `updated_at`, a run's attempt) keep late deliveries from regressing what is recorded.
//! - Deployments are written by `store::deployments::insert` (as `POST /api/v1/deployments`,
//!   `triggered_by` `github_webhook`/`gitlab_webhook`), statuses by `store::statuses`, incidents
//!   by `core::incidents`; pushes complete the commits of deployments waiting for them
//!   (`store::pushes`).
//! - Alerting sources' incidents (PagerDuty incidents, Alertmanager alerts) are keyed by the
//!   source's id in `store::source_incidents` (no repository needed), with the time and kind
//!   of the change last applied: a redelivered or late change (a resolve before a reopen, a
//!   firing notification after the resolve) changes nothing.
//!
//! One delivery is one transaction.

use chrono::{DateTime, Utc};
use entity::{deployments, repositories, source_objects};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::{
    Core, Error,
    incidents::{SourcedIncident, upsert_sourced, withdraw},
    integrations::{IntegrationRecord, delivery_secrets, record_of},
    now, secrets,
};
use crate::{
    domain::{
        AlertChange, AlertRepository, Attribution, DeploymentChange, GithubState, IntegrationKind,
        IntegrationOptions, NewDeployment, NewStatus, RepositoryRef, SourceAlert, SourceDeployment,
        SourceEvent, SourceIssue, SourcePush, SourceRun, SourceState, SourceStatus, Status,
        TriggeredBy, attribution, clean_text,
    },
    store::{
        self,
        integrations::DeliveryResult,
        source_objects::{ObjectKey, ObjectState},
    },
};

/// What a delivery presents as its credential.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// GitHub's `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`.
    HmacSha256(Option<&'a str>),
    /// GitLab's `X-Gitlab-Token: <the secret>`; Alertmanager's `Authorization: Bearer`.
    Token(Option<&'a str>),
    /// PagerDuty's `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`.
    PagerdutySignature(Option<&'a str>),
}

/// A delivery's envelope (headers), as the adapter read it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The source's id of this delivery (the same on a redelivery), if it sends one.
    pub id: Option<&'a str>,
    /// The event type, as the source names it.
    pub event: &'a str,
}

/// What a delivery did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: DeliveryResult,
    /// Why, in a sentence (answered to the source, shown in its delivery log).
    pub detail: String,
}

impl Outcome {
    fn new(result: DeliveryResult, detail: impl Into<String>) -> Self {
        Self {
            result,
            detail: detail.into(),
        }
    }
}

/// Longest event name and delivery id kept.
const MAX_HEADER_CHARS: usize = 200;

/// The one answer to every delivery that cannot be verified.
pub fn unauthorized() -> Error {
    Error::Unauthorized(
        "unknown integration, or a missing or wrong signature; nothing was recorded".to_owned(),
    )
}

/// Verifies a delivery to integration `id` of `kind` against `credential` and the raw `body`
/// (constant time, before anything is parsed), then `parse`s it (with the integration's
/// options) and records what it says.
pub async fn receive(
    core: &Core,
    kind: IntegrationKind,
    id: Uuid,
    credential: Credential<'_>,
    body: &[u8],
    delivery: Delivery<'_>,
    parse: impl FnOnce(&IntegrationOptions) -> Result<SourceEvent, Error>,
) -> Result<Outcome, Error> {
    let now = now();
    let Some(integration) = store::integrations::find_for_delivery(core.db.read(), id).await?
    else {
        return Err(unauthorized());
    };
    if integration.kind != kind.as_str() {
        return Err(unauthorized());
    }
    let secrets = delivery_secrets(core, &integration, now)?;
    let verified = match credential {
        Credential::HmacSha256(Some(header)) => secrets
            .iter()
            .any(|s| secrets::verify_hmac_sha256(s, body, header)),
        Credential::Token(Some(token)) => secrets.iter().any(|s| secrets::token_matches(s, token)),
        Credential::PagerdutySignature(Some(header)) => secrets
            .iter()
            .any(|s| secrets::verify_pagerduty_signature(s, body, header)),
        Credential::HmacSha256(None)
        | Credential::Token(None)
        | Credential::PagerdutySignature(None) => false,
    };
    if !verified {
        tracing::info!(
            integration_id = %id,
            secret_set = !secrets.is_empty(),
            "webhook delivery refused: bad signature"
        );
        return Err(unauthorized());
    }
    let record = record_of(integration)?;
    let event = parse(&record.options)?;
    record_event(core, &record, delivery, event, now).await
}

async fn record_event(
    core: &Core,
    integration: &IntegrationRecord,
    delivery: Delivery<'_>,
    event: SourceEvent,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    let integration_id = integration.integration.id;
    let (event_name, event) = match event {
        SourceEvent::Named { name, event } => (name, *event),
        event => (delivery.event.to_owned(), event),
    };
    let event_name = clean_text(&event_name, MAX_HEADER_CHARS, false);
    let delivery_id = delivery
        .id
        .map(|d| clean_text(d, MAX_HEADER_CHARS, false))
        .filter(|d| !d.is_empty());
    let txn = core.db.begin_write().await?;
    if let Some(delivery_id) = &delivery_id
        && !store::integrations::remember_delivery(
            &txn,
            integration_id,
            delivery_id,
            &event_name,
            now,
        )
        .await?
    {
        store::integrations::count_delivery(
            &txn,
            integration_id,
            &event_name,
            DeliveryResult::Duplicate,
            now,
        )
        .await?;
        txn.commit().await?;
        return Ok(Outcome::new(
            DeliveryResult::Duplicate,
            format!("delivery {delivery_id} was received before; nothing changed"),
        ));
    }
    let outcome = match event.repository() {
        Some(repository) if !integration.options.allows_repository(&repository.name) => {
            Outcome::new(
                DeliveryResult::Ignored,
                format!(
                    "repository {} is not in this integration's `repositories`; ignored",
                    repository.name
                ),
            )
        }
        _ => apply(&txn, core, integration, event, now).await?,
    };
    if let Some(delivery_id) = &delivery_id {
        store::integrations::set_delivery_result(&txn, integration_id, delivery_id, outcome.result)
            .await?;
    }
    store::integrations::count_delivery(&txn, integration_id, &event_name, outcome.result, now)
        .await?;
    txn.commit().await?;
    tracing::info!(
        %integration_id,
        event = %event_name,
        result = outcome.result.as_str(),
        "webhook delivery"
    );
    Ok(outcome)
}

async fn apply<C: ConnectionTrait>(
    txn: &C,
    core: &Core,
    integration: &IntegrationRecord,
    event: SourceEvent,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    let ctx = Context {
        org: integration.integration.organization_id,
        kind: integration.kind,
        options: &integration.options,
        core,
        now,
    };
    match event {
        SourceEvent::Ping => Ok(Outcome::new(DeliveryResult::Ignored, "pong")),
        SourceEvent::Unhandled => Ok(Outcome::new(
            DeliveryResult::Unhandled,
            "this event type is not used; nothing was recorded",
        )),
        SourceEvent::Ignored(why) => Ok(Outcome::new(DeliveryResult::Ignored, why)),
        SourceEvent::Deployment { deployment, status } => {
            ctx.deployment(txn, *deployment, status.map(|s| *s)).await
        }
        SourceEvent::Run(run) => ctx.run(txn, *run).await,
        SourceEvent::Push(push) => ctx.push(txn, *push).await,
        SourceEvent::Issue(issue) => ctx.issue(txn, *issue).await,
        SourceEvent::Alerts { alerts, note } => ctx.alerts(txn, alerts, note).await,
        // `record_event` unwraps the one an adapter returns; adapters nest none.
        SourceEvent::Named { .. } => Err(Error::internal("a named event inside a named event")),
    }
}

/// What every event of one delivery needs.
struct Context<'a> {
    org: Uuid,
    kind: IntegrationKind,
    options: &'a IntegrationOptions,
    core: &'a Core,
    now: DateTime<Utc>,
}

/// Source object kinds.
const DEPLOYMENT: &str = "deployment";
const DEPLOYMENT_STATUS: &str = "deployment_status";
const WORKFLOW_RUN: &str = "workflow_run";
const ISSUE: &str = "issue";

/// `version_id` of a run's row when the run's deployment is a source deployment (its
/// statuses decide its outcome, not the run's conclusion).
const RUN_OF_DEPLOYMENT: i64 = 0;

impl Context<'_> {
    fn triggered_by(&self) -> TriggeredBy {
        match self.kind {
            IntegrationKind::Gitlab => TriggeredBy::GitlabWebhook,
            // Alerting sources record no deployments (their adapters send no such events).
            IntegrationKind::Github
            | IntegrationKind::Pagerduty
            | IntegrationKind::Alertmanager => TriggeredBy::GithubWebhook,
        }
    }

    fn key<'k>(&self, kind: &'k str, repository_id: Uuid, external_id: &'k str) -> ObjectKey<'k> {
        ObjectKey {
            organization_id: self.org,
            source: self.kind.as_str(),
            kind,
            repository_id,
            external_id,
        }
    }

    /// The repository, created on first use with the integration's team.
    async fn repository<C: ConnectionTrait>(
        &self,
        txn: &C,
        reference: &RepositoryRef,
    ) -> Result<repositories::Model, Error> {
        if let Some(existing) =
            store::organizations::find_repository_by_key(txn, self.org, &reference.key).await?
        {
            return Ok(existing);
        }
        Ok(store::organizations::ensure_repository(
            txn,
            self.org,
            reference,
            self.options.team.as_deref(),
            self.now,
        )
        .await?)
    }

    async fn locked_deployment<C: ConnectionTrait>(
        &self,
        txn: &C,
        id: Option<Uuid>,
    ) -> Result<Option<deployments::Model>, Error> {
        match id {
            Some(id) => Ok(store::deployments::find_for_update(txn, self.org, id).await?),
            None => Ok(None),
        }
    }

    /// A deployment event (and the status it reports, if any).
    async fn deployment<C: ConnectionTrait>(
        &self,
        txn: &C,
        source: SourceDeployment,
        status: Option<SourceStatus>,
    ) -> Result<Outcome, Error> {
        let repository = self.repository(txn, &source.repository).await?;
        let key = self.key(DEPLOYMENT, repository.id, &source.external_id);
        let (row, _) = store::source_objects::claim(txn, &key, self.now).await?;
        let mut state = store::source_objects::state_of(&row);
        let mut deployment = self.locked_deployment(txn, row.deployment_id).await?;
        let mut created = false;
        // A GitHub Actions job with an environment: its run and this deployment are one.
        let run_row = match &source.run_id {
            Some(run_id) => {
                let run_key = self.key(WORKFLOW_RUN, repository.id, run_id);
                let (run_row, _) = store::source_objects::claim(txn, &run_key, self.now).await?;
                if deployment.is_none()
                    && let Some(found) = self.locked_deployment(txn, run_row.deployment_id).await?
                {
                    // The run reported an outcome first (delivered out of order): statuses
                    // older than it only join the history.
                    if run_row.version_id != Some(RUN_OF_DEPLOYMENT) {
                        state.version_at = run_row.version_at;
                        state.version_id = Some(i64::MAX);
                    }
                    deployment = Some(found);
                }
                Some(run_row)
            }
            None => None,
        };
        let deployment = match deployment {
            Some(d) => d,
            None => {
                created = true;
                self.insert_deployment(txn, &source).await?
            }
        };
        state.deployment_id = Some(deployment.id);
        if let Some(run_row) = run_row
            && run_row.deployment_id.is_none()
        {
            let run_state = ObjectState {
                deployment_id: Some(deployment.id),
                version_id: Some(RUN_OF_DEPLOYMENT),
                ..ObjectState::default()
            };
            store::source_objects::set(txn, run_row, run_state, self.now).await?;
        }
        let mut changed = created;
        if let Some(status) = status {
            changed |= self
                .status(txn, &repository, deployment, &mut state, status)
                .await?;
        }
        store::source_objects::set(txn, row, state, self.now).await?;
        Ok(if changed {
            Outcome::new(DeliveryResult::Recorded, "recorded")
        } else {
            Outcome::new(
                DeliveryResult::Duplicate,
                "this deployment and status were recorded before; nothing changed",
            )
        })
    }

    async fn insert_deployment<C: ConnectionTrait>(
        &self,
        txn: &C,
        source: &SourceDeployment,
    ) -> Result<deployments::Model, Error> {
        let environment = source
            .environment
            .clone()
            .unwrap_or_else(|| self.options.default_environment().to_owned());
        let new = NewDeployment {
            repository: source.repository.clone(),
            team: None,
            member_external_id: source.creator.clone(),
            is_production: self.options.is_production(&environment, source.production),
            environment,
            title: source.title.clone(),
            changelog: None,
            url: source.url.clone(),
            branch: source.branch.clone(),
            commit_id: source.sha.clone(),
            node_id: None,
            pull_request_number: None,
            commits_count: 0,
            duration_seconds: None,
            is_fix: source.is_fix,
            is_hotfix: source.is_hotfix,
            is_forced: false,
            is_rollback: source.is_rollback,
            status: Status::Queued,
            triggered_by: self.triggered_by(),
            started_at: None,
            finished_at: None,
            commits: Vec::new(),
        };
        let created_at = crate::domain::payload_time(source.created_at, self.now);
        let (record, changes) =
            store::deployments::insert(txn, self.org, &new, created_at, &self.core.known, None)
                .await?;
        super::outbound::deployment_created(txn, &record.deployment).await?;
        super::outbound::outcomes_changed(txn, self.org, &changes).await?;
        if let Some(github) = &source.github {
            store::github::insert_details(
                txn,
                entity::github_deployments::Model {
                    deployment_id: record.deployment.id,
                    task: github.task.clone(),
                    payload: github.payload.clone(),
                    description: github.description.clone(),
                    transient_environment: github.transient_environment,
                    original_environment: github.original_environment.clone(),
                    creator: source.creator.clone(),
                },
            )
            .await?;
        }
        Ok(record.deployment)
    }

    /// Applies a status to `deployment` unless it was applied before; one older than the
    /// latest applied only joins the history. True when something changed.
    async fn status<C: ConnectionTrait>(
        &self,
        txn: &C,
        repository: &repositories::Model,
        deployment: deployments::Model,
        deployment_state: &mut ObjectState,
        status: SourceStatus,
    ) -> Result<bool, Error> {
        let key = self.key(DEPLOYMENT_STATUS, repository.id, &status.external_id);
        let (row, _) = store::source_objects::claim(txn, &key, self.now).await?;
        if row.deployment_id.is_some() {
            return Ok(false);
        }
        let at = crate::domain::payload_time(status.at, self.now);
        let version = (Some(at), Some(status.order));
        let latest = (deployment_state.version_at, deployment_state.version_id);
        let is_older = latest.0.is_some() && version < latest;
        let new = NewStatus {
            state: match status.state {
                SourceState::State(state) => state,
                SourceState::Canceled => GithubState::Inactive,
            },
            description: status.description.clone(),
            log_url: status.log_url.clone(),
            environment_url: status.environment_url.clone(),
            environment: status.environment.clone(),
            // The source itself marks earlier deployments inactive, with events of their own.
            auto_inactive: false,
            creator: status.creator.clone(),
        };
        let deployment_id = deployment.id;
        match (status.state, is_older) {
            (SourceState::State(_), true) => {
                store::statuses::append_only(txn, &deployment, &new, at).await?;
            }
            (SourceState::State(_), false) => {
                let previous = deployment.status.clone();
                let posted = store::statuses::post_at(txn, deployment, &new, at, self.now).await?;
                super::outbound::statuses_posted(txn, &previous, &posted).await?;
            }
            (SourceState::Canceled, true) => {}
            (SourceState::Canceled, false) => {
                cancel(txn, deployment, at, self.now).await?;
            }
        }
        if !is_older {
            deployment_state.version_at = version.0;
            deployment_state.version_id = version.1;
        }
        let state = ObjectState {
            deployment_id: Some(deployment_id),
            ..ObjectState::default()
        };
        store::source_objects::set(txn, row, state, self.now).await?;
        Ok(true)
    }

    /// A completed workflow run of a deployment workflow: one deployment per run, a re-run
    /// replacing the outcome of the attempt before.
    async fn run<C: ConnectionTrait>(&self, txn: &C, run: SourceRun) -> Result<Outcome, Error> {
        if !self
            .options
            .is_deployment_workflow(run.workflow_names.iter().map(String::as_str))
        {
            return Ok(Outcome::new(
                DeliveryResult::Ignored,
                "this workflow is not in the integration's `deployment_workflows`; ignored",
            ));
        }
        let repository = self.repository(txn, &run.repository).await?;
        let key = self.key(WORKFLOW_RUN, repository.id, &run.external_id);
        let (row, _) = store::source_objects::claim(txn, &key, self.now).await?;
        let existing = self.locked_deployment(txn, row.deployment_id).await?;
        if existing.is_some() && row.version_id == Some(RUN_OF_DEPLOYMENT) {
            return Ok(Outcome::new(
                DeliveryResult::Ignored,
                "this run's deployment is recorded from its deployment statuses",
            ));
        }
        if existing.is_some() && row.version_id.is_some_and(|attempt| attempt > run.attempt) {
            return Ok(Outcome::new(
                DeliveryResult::Ignored,
                "a later attempt of this run was recorded; this one changes nothing",
            ));
        }
        let started_at = crate::domain::payload_time(run.started_at, self.now);
        let finished_at = crate::domain::payload_time(run.finished_at, self.now).max(started_at);
        let deployment_id = match existing {
            Some(current) => {
                if row.version_id == Some(run.attempt)
                    && current.status == run.status.as_str()
                    && current.finished_at == Some(finished_at)
                {
                    return Ok(Outcome::new(
                        DeliveryResult::Duplicate,
                        "this attempt was recorded before; nothing changed",
                    ));
                }
                let previous = current.status.clone();
                let mut current = current;
                // The new attempt's own duration.
                current.duration_seconds = None;
                let (updated, changes) = store::deployments::update_timing(
                    txn,
                    current,
                    run.status,
                    Some(started_at),
                    Some(finished_at),
                    self.now,
                )
                .await?;
                super::outbound::status_changed(txn, &previous, &updated).await?;
                super::outbound::outcomes_changed(txn, self.org, &changes).await?;
                store::statuses::record_set_status(
                    txn,
                    &previous,
                    &updated,
                    &format!("Workflow run attempt {}", run.attempt),
                    None,
                    self.now,
                )
                .await?;
                updated.id
            }
            None => {
                let environment = self.options.default_environment().to_owned();
                let new = NewDeployment {
                    repository: run.repository.clone(),
                    team: None,
                    member_external_id: run.creator.clone(),
                    is_production: self.options.is_production(&environment, None),
                    environment,
                    title: run.title.clone(),
                    changelog: None,
                    url: run.url.clone(),
                    is_hotfix: run.branch.starts_with("hotfix/"),
                    branch: run.branch.clone(),
                    commit_id: run.sha.clone(),
                    node_id: None,
                    pull_request_number: None,
                    commits_count: 0,
                    duration_seconds: None,
                    is_fix: false,
                    is_forced: false,
                    is_rollback: false,
                    status: run.status,
                    triggered_by: self.triggered_by(),
                    started_at: Some(started_at),
                    finished_at: Some(finished_at),
                    commits: Vec::new(),
                };
                let (record, changes) = store::deployments::insert(
                    txn,
                    self.org,
                    &new,
                    started_at,
                    &self.core.known,
                    None,
                )
                .await?;
                super::outbound::deployment_created(txn, &record.deployment).await?;
                super::outbound::outcomes_changed(txn, self.org, &changes).await?;
                record.deployment.id
            }
        };
        let state = ObjectState {
            deployment_id: Some(deployment_id),
            version_at: Some(finished_at),
            version_id: Some(run.attempt),
            incident_id: None,
        };
        store::source_objects::set(txn, row, state, self.now).await?;
        Ok(Outcome::new(DeliveryResult::Recorded, "recorded"))
    }

    /// A push: its commits are kept for the repository, and deployments that waited for them
    /// get their commits.
    async fn push<C: ConnectionTrait>(&self, txn: &C, push: SourcePush) -> Result<Outcome, Error> {
        let repository = self.repository(txn, &push.repository).await?;
        if !store::pushes::record(txn, self.org, repository.id, &push, self.now).await? {
            return Ok(Outcome::new(
                DeliveryResult::Duplicate,
                "this push was recorded before; nothing changed",
            ));
        }
        let mut shas: Vec<String> = push.commits.iter().map(|c| c.sha.clone()).collect();
        shas.push(push.after.clone());
        let waiting = store::pushes::waiting_for(txn, repository.id, &shas).await?;
        for id in &waiting {
            if let Some(deployment) =
                store::deployments::find_for_update(txn, self.org, *id).await?
            {
                let (_, changes) =
                    store::deployments::attach_inferred(txn, &deployment, true, self.now).await?;
                super::outbound::outcomes_changed(txn, self.org, &changes).await?;
            }
        }
        Ok(Outcome::new(
            DeliveryResult::Recorded,
            format!(
                "recorded {} commits; {} deployments got commits",
                push.commits.len(),
                waiting.len()
            ),
        ))
    }

    /// An issue event: an incident while the issue is one (labelled, or of the source's
    /// incident type), resolved while it is closed, withdrawn when it stops being one.
    async fn issue<C: ConnectionTrait>(
        &self,
        txn: &C,
        issue: SourceIssue,
    ) -> Result<Outcome, Error> {
        let repository = self.repository(txn, &issue.repository).await?;
        let key = self.key(ISSUE, repository.id, &issue.external_id);
        let (row, _) = store::source_objects::claim(txn, &key, self.now).await?;
        let updated_at = crate::domain::payload_time(issue.updated_at, self.now);
        if row.version_at.is_some_and(|seen| seen > updated_at) {
            return Ok(Outcome::new(
                DeliveryResult::Ignored,
                "a later version of this issue was recorded; this one changes nothing",
            ));
        }
        let mut labelled = issue
            .labels
            .iter()
            .any(|l| self.options.is_incident_label(l));
        if issue
            .label_removed
            .as_deref()
            .is_some_and(|l| self.options.is_incident_label(l))
        {
            labelled = false;
        }
        if issue
            .label_added
            .as_deref()
            .is_some_and(|l| self.options.is_incident_label(l))
        {
            labelled = true;
        }
        let is_incident = !issue.deleted && (issue.incident_type || labelled);
        let current = match row.incident_id {
            Some(id) => store::incidents::find_for_update(txn, self.org, id).await?,
            None => None,
        };
        let mut state = store::source_objects::state_of(&row);
        state.version_at = Some(updated_at);
        let outcome = if !is_incident {
            match current {
                Some(current) => {
                    withdraw(txn, self.org, current.id).await?;
                    state.incident_id = None;
                    Outcome::new(DeliveryResult::Recorded, "the incident was withdrawn")
                }
                None => Outcome::new(
                    DeliveryResult::Ignored,
                    format!(
                        "not an incident (no `{}` label); ignored",
                        self.options.incident_label
                    ),
                ),
            }
        } else {
            let deployment = match attribution(&issue.body) {
                Some(named) => self.attributed(txn, &repository, named).await?,
                None => None,
            };
            let started_at = crate::domain::payload_time(issue.created_at, self.now);
            let resolved_at = (!issue.open).then(|| {
                crate::domain::payload_time(issue.closed_at.unwrap_or(issue.updated_at), self.now)
            });
            let incident = upsert_sourced(
                txn,
                self.org,
                current,
                SourcedIncident {
                    source: self.kind.incident_source(),
                    source_id: format!("{}#{}", issue.repository.name, issue.number),
                    source_url: issue.url.clone(),
                    title: issue.title.clone(),
                    severity: issue.severity.clone(),
                    repository_id: Some(repository.id),
                    deployment,
                    environment: self.options.default_environment().to_owned(),
                    started_at,
                    resolved_at,
                },
                self.now,
            )
            .await?;
            state.incident_id = Some(incident.id);
            Outcome::new(
                DeliveryResult::Recorded,
                if incident.resolved_at.is_some() {
                    "the incident is recorded as resolved"
                } else {
                    "the incident is recorded as open"
                },
            )
        };
        store::source_objects::set(txn, row, state, self.now).await?;
        Ok(outcome)
    }

    /// The incidents of an alerting source: each opened, reopened or resolved unless a change
    /// as late or later was applied before.
    async fn alerts<C: ConnectionTrait>(
        &self,
        txn: &C,
        alerts: Vec<SourceAlert>,
        note: Option<String>,
    ) -> Result<Outcome, Error> {
        let source = self.kind.incident_source();
        let (mut opened, mut resolved, mut unchanged, mut unmatched) = (0, 0, 0, 0);
        let mut notes: Vec<String> = note.into_iter().collect();
        for alert in alerts {
            if !alert.matched
                && store::source_incidents::find(txn, self.org, source.as_str(), &alert.source_id)
                    .await?
                    .is_none_or(|row| row.incident_id.is_none())
            {
                unmatched += 1;
                continue;
            }
            let row = store::source_incidents::claim(
                txn,
                self.org,
                source.as_str(),
                &alert.source_id,
                self.now,
            )
            .await?;
            let at = crate::domain::payload_time(alert.at, self.now);
            let version = (at, alert.change.rank());
            let current = match row.incident_id {
                Some(id) => store::incidents::find_for_update(txn, self.org, id).await?,
                None => None,
            };
            if let (Some(_), Some(seen_at), Some(seen_rank)) =
                (&current, row.version_at, row.version_rank)
                && (seen_at, seen_rank) >= version
            {
                unchanged += 1;
                continue;
            }
            let repository_id = match &alert.repository {
                None => None,
                Some(AlertRepository::Ref(reference)) => {
                    Some(self.repository(txn, reference).await?.id)
                }
                Some(AlertRepository::Id(id)) => {
                    let found =
                        store::organizations::resolve_repository(txn, self.org, &id.to_string())
                            .await?;
                    if found.is_none() {
                        notes.push(format!("repository {id} is not one of this organization's; recorded unattributed"));
                    }
                    found.map(|r| r.id)
                }
            };
            let started_at = crate::domain::payload_time(alert.started_at, self.now);
            let resolved_at = (alert.change == AlertChange::Resolve).then_some(at);
            let incident = upsert_sourced(
                txn,
                self.org,
                current,
                SourcedIncident {
                    source,
                    source_id: alert.source_id.clone(),
                    source_url: alert.url.clone(),
                    title: alert.title.clone(),
                    severity: alert.severity.clone(),
                    repository_id,
                    deployment: None,
                    environment: alert.environment.clone(),
                    started_at,
                    resolved_at,
                },
                self.now,
            )
            .await?;
            store::source_incidents::set(txn, row, Some(incident.id), version, self.now).await?;
            if incident.resolved_at.is_some() {
                resolved += 1;
            } else {
                opened += 1;
            }
        }
        let changed = opened + resolved;
        let mut detail = match (changed, unchanged, unmatched) {
            (0, 0, 0) => "no incident in this delivery".to_owned(),
            _ => format!(
                "{opened} incidents recorded as open, {resolved} as resolved; {unchanged} unchanged (recorded before, or older than what was); {unmatched} not matching this integration's filters"
            ),
        };
        for n in &notes {
            detail.push_str("; ");
            detail.push_str(n);
        }
        let result = if changed > 0 {
            DeliveryResult::Recorded
        } else if unchanged > 0 {
            DeliveryResult::Duplicate
        } else {
            DeliveryResult::Ignored
        };
        Ok(Outcome::new(result, detail))
    }

    /// The deployment of `repository` an issue's attribution line names, if there is one.
    async fn attributed<C: ConnectionTrait>(
        &self,
        txn: &C,
        repository: &repositories::Model,
        named: Attribution,
    ) -> Result<Option<deployments::Model>, Error> {
        match named {
            Attribution::RootCause(sha) => {
                Ok(store::deployments::first_shipping(txn, self.org, repository.id, &sha).await?)
            }
            Attribution::Deployment(value) => {
                if let Ok(id) = Uuid::parse_str(&value) {
                    return Ok(store::deployments::find(txn, self.org, id)
                        .await?
                        .filter(|d| d.repository_id == repository.id));
                }
                if let Ok(number) = value.parse::<i64>()
                    && let Some(found) =
                        store::github::find(txn, self.org, repository.id, number).await?
                {
                    return Ok(Some(found.deployment));
                }
                // The source's own deployment id.
                let key = self.key(DEPLOYMENT, repository.id, &value);
                match store::source_objects::find(txn, &key).await? {
                    Some(source_objects::Model {
                        deployment_id: Some(id),
                        ..
                    }) => Ok(store::deployments::find(txn, self.org, id).await?),
                    _ => Ok(None),
                }
            }
        }
    }
}

/// Cancels an unfinished deployment at `at` (a finished one stays as it is).
async fn cancel<C: ConnectionTrait>(
    txn: &C,
    deployment: deployments::Model,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let current = super::deployments::stored_status(&deployment.status)?;
    let change = DeploymentChange {
        status: Some(Status::Canceled),
        started_at: None,
        finished_at: Some(at),
    };
    if let Ok((status, started_at, finished_at)) =
        change.apply(current, deployment.started_at, deployment.finished_at, now)
    {
        let previous = deployment.status.clone();
        let (updated, changes) = store::deployments::update_timing(
            txn,
            deployment,
            status,
            started_at,
            finished_at,
            now,
        )
        .await?;
        super::outbound::status_changed(txn, &previous, &updated).await?;
        super::outbound::outcomes_changed(txn, updated.organization_id, &changes).await?;
    }
    Ok(())
}
