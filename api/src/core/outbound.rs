//! Outbound webhooks: subscriptions (scope `admin`), the events, and [`emit`], which writes
//! an event's deliveries into the outbox in the caller's transaction, so a change and the
//! news of it commit together (a rolled-back change tells nobody; a committed one is
//! delivered at least once, by `core::outbound_delivery`).
//!
//! Every payload has `action` (when the event has one) and `organization` (`id`, `slug`);
//! the event's own fields are documented in README ("Outbound webhooks").

use chrono::{DateTime, SecondsFormat, Utc};
use entity::{deployments, incidents, repositories, webhook_deliveries, webhook_subscriptions};
use sea_orm::{ActiveValue::Set, ConnectionTrait};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{
    Core, Error,
    access::{WriteFor, authorize_write},
    now, secrets,
};
use crate::{
    auth::{Principal, Scope},
    domain::{Dispatch, NewSubscription, OutboundEvent, RepositoryRef, Secret},
    store::{
        self,
        outcomes::{OutcomeChange, Verdict},
    },
};

/// What a delivery sends, before the organization is added.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: OutboundEvent,
    pub action: Option<String>,
    /// The event's fields (an object).
    pub fields: Map<String, Value>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Writes `event`'s deliveries for every active subscription of the organization that takes
/// it, in `txn`.
pub(crate) async fn emit<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    event: Event,
) -> Result<usize, Error> {
    let subscriptions = subscribers(txn, organization_id, event.kind).await?;
    deliver(txn, organization_id, &subscriptions, event).await
}

/// Emits `kind` once per action of `actions`, in `txn`. The fields are built (`fields` runs,
/// with the queries it makes) only when an active subscription of the organization takes
/// `kind`: on the write paths most organizations subscribe to nothing.
async fn emit_lazily<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    kind: OutboundEvent,
    actions: &[&str],
    fields: impl AsyncFnOnce() -> Result<Map<String, Value>, Error>,
) -> Result<(), Error> {
    if actions.is_empty() {
        return Ok(());
    }
    let subscriptions = subscribers(txn, organization_id, kind).await?;
    if subscriptions.is_empty() {
        return Ok(());
    }
    let fields = fields().await?;
    for action in actions {
        let event = Event {
            kind,
            action: Some((*action).to_owned()),
            fields: fields.clone(),
        };
        deliver(txn, organization_id, &subscriptions, event).await?;
    }
    Ok(())
}

/// The active subscriptions of the organization that take `kind`.
async fn subscribers<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    kind: OutboundEvent,
) -> Result<Vec<webhook_subscriptions::Model>, Error> {
    Ok(store::outbox::active_subscriptions(txn, organization_id)
        .await?
        .into_iter()
        .filter(|s| events_of(s).contains(&kind))
        .collect())
}

/// Writes one delivery of `event` per subscription of `subscriptions`, in `txn`.
async fn deliver<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    subscriptions: &[webhook_subscriptions::Model],
    event: Event,
) -> Result<usize, Error> {
    if subscriptions.is_empty() {
        return Ok(0);
    }
    let slug = store::outbox::organization_slug(txn, organization_id).await?;
    let mut body = Map::new();
    if let Some(action) = &event.action {
        body.insert("action".to_owned(), Value::from(action.clone()));
    }
    body.extend(event.fields);
    body.insert(
        "organization".to_owned(),
        json!({"id": organization_id, "slug": slug}),
    );
    let now = now();
    for subscription in subscriptions {
        let mut body = body.clone();
        if event.kind == OutboundEvent::Ping {
            body.insert(
                "hook_id".to_owned(),
                Value::from(subscription.id.to_string()),
            );
            body.insert("hook".to_owned(), hook_json(subscription));
        }
        let payload = serde_json::to_string(&Value::Object(body)).map_err(Error::internal)?;
        let id = Uuid::now_v7();
        store::outbox::insert_delivery(
            txn,
            webhook_deliveries::Model {
                id,
                guid: id,
                organization_id,
                subscription_id: subscription.id,
                event: event.kind.as_str().to_owned(),
                action: event.action.clone(),
                payload,
                redelivery: false,
                state: store::outbox::PENDING.to_owned(),
                attempts: 0,
                next_attempt_at: now,
                claimed_by: None,
                claimed_until: None,
                status_code: None,
                duration_ms: None,
                error: None,
                created_at: now,
                last_attempt_at: None,
                finished_at: None,
            },
        )
        .await?;
    }
    Ok(subscriptions.len())
}

/// The events a stored subscription takes.
pub fn events_of(subscription: &webhook_subscriptions::Model) -> Vec<OutboundEvent> {
    serde_json::from_str::<Vec<String>>(&subscription.events)
        .unwrap_or_default()
        .iter()
        .filter_map(|w| OutboundEvent::parse(w))
        .collect()
}

fn hook_json(s: &webhook_subscriptions::Model) -> Value {
    json!({
        "id": s.id,
        "url": s.url,
        "events": events_of(s).iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "active": s.active,
        "created_at": rfc3339(s.created_at),
    })
}

fn repository_json(r: &repositories::Model) -> Value {
    json!({"id": r.id, "url": r.url, "name": r.name, "team": r.team})
}

fn deployment_json(d: &deployments::Model) -> Value {
    json!({
        "id": d.id,
        "number": d.number,
        "repository_id": d.repository_id,
        "environment": d.environment,
        "is_production": d.is_production,
        "title": d.title,
        "url": d.url,
        "branch": d.branch,
        "commit_id": d.commit_id,
        "status": d.status,
        "triggered_by": d.triggered_by,
        "is_fix": d.is_fix,
        "is_hotfix": d.is_hotfix,
        "is_rollback": d.is_rollback,
        "started_at": d.started_at.map(rfc3339),
        "finished_at": d.finished_at.map(rfc3339),
        "deployed_at": rfc3339(d.deployed_at),
        "created_at": rfc3339(d.created_at),
        "updated_at": rfc3339(d.updated_at),
    })
}

fn incident_json(i: &incidents::Model) -> Value {
    json!({
        "id": i.id,
        "title": i.title,
        "severity": i.severity,
        "repository_id": i.repository_id,
        "environment": i.environment,
        "is_production": i.is_production,
        "deployment_id": i.deployment_id,
        "started_at": rfc3339(i.started_at),
        "resolved_at": i.resolved_at.map(rfc3339),
        "source": i.source,
        "source_url": i.source_url,
        "created_at": rfc3339(i.created_at),
        "updated_at": rfc3339(i.updated_at),
    })
}

async fn repository_of<C: ConnectionTrait>(txn: &C, id: Option<Uuid>) -> Result<Value, Error> {
    Ok(match id {
        Some(id) => store::organizations::find_repository(txn, id)
            .await?
            .as_ref()
            .map_or(Value::Null, repository_json),
        None => Value::Null,
    })
}

/// A `deployment` or `deployment_status` event about `deployment`: `extra` and the
/// deployment and its repository.
async fn deployment_event<C: ConnectionTrait>(
    txn: &C,
    kind: OutboundEvent,
    action: &str,
    deployment: &deployments::Model,
    extra: Value,
) -> Result<(), Error> {
    emit_lazily(
        txn,
        deployment.organization_id,
        kind,
        &[action],
        async || {
            let mut fields = object(extra);
            fields.insert("deployment".to_owned(), deployment_json(deployment));
            fields.insert(
                "repository".to_owned(),
                repository_of(txn, Some(deployment.repository_id)).await?,
            );
            Ok(fields)
        },
    )
    .await
}

/// `deployment` (action `created`): a deployment was recorded.
pub(crate) async fn deployment_created<C: ConnectionTrait>(
    txn: &C,
    deployment: &deployments::Model,
) -> Result<(), Error> {
    deployment_event(
        txn,
        OutboundEvent::Deployment,
        "created",
        deployment,
        json!({}),
    )
    .await
}

/// `deployment` (action `deleted`): a deployment was deleted (GitHub-compatible `DELETE`);
/// `deployment` is the record as it was.
pub(crate) async fn deployment_deleted<C: ConnectionTrait>(
    txn: &C,
    deployment: &deployments::Model,
) -> Result<(), Error> {
    deployment_event(
        txn,
        OutboundEvent::Deployment,
        "deleted",
        deployment,
        json!({}),
    )
    .await
}

/// `deployment_status` (action `changed`), when `deployment`'s status is not `previous`.
pub(crate) async fn status_changed<C: ConnectionTrait>(
    txn: &C,
    previous: &str,
    deployment: &deployments::Model,
) -> Result<(), Error> {
    if previous == deployment.status {
        return Ok(());
    }
    deployment_event(
        txn,
        OutboundEvent::DeploymentStatus,
        "changed",
        deployment,
        json!({"previous_status": previous, "status": deployment.status}),
    )
    .await
}

/// `deployment_status` for each deployment a status post changed: `changed` for the one
/// posted to and the earlier ones GitHub's `auto_inactive` marked inactive, and
/// `outcome_changed` for the verdicts it changed.
pub(crate) async fn statuses_posted<C: ConnectionTrait>(
    txn: &C,
    previous: &str,
    posted: &store::statuses::Posted,
) -> Result<(), Error> {
    status_changed(txn, previous, &posted.deployment).await?;
    for (previous, deployment) in &posted.inactivated {
        status_changed(txn, previous, deployment).await?;
    }
    let org = posted.deployment.organization_id;
    outcomes_changed(txn, org, &posted.outcome_changes).await
}

/// `deployment_status` (action `outcome_changed`) for each deployment a write changed the
/// verdict of (whether it is a change failure, why, how it recovered) without changing its
/// status: an incident attributed to it, a fix or rollback after it, a success that recovered
/// it. Several changes of one deployment in one write are one event.
pub(crate) async fn outcomes_changed<C: ConnectionTrait>(
    txn: &C,
    organization_id: Uuid,
    changes: &[OutcomeChange],
) -> Result<(), Error> {
    if changes.is_empty() {
        return Ok(());
    }
    let subscriptions = subscribers(txn, organization_id, OutboundEvent::DeploymentStatus).await?;
    if subscriptions.is_empty() {
        return Ok(());
    }
    // The first `before` and the last `after` of each deployment, in the order first changed.
    let mut merged: Vec<OutcomeChange> = Vec::new();
    for change in changes {
        match merged
            .iter_mut()
            .find(|m| m.deployment_id == change.deployment_id)
        {
            Some(m) => m.after = change.after.clone(),
            None => merged.push(change.clone()),
        }
    }
    for change in merged.iter().filter(|c| c.before != c.after) {
        let Some(deployment) =
            store::deployments::find(txn, organization_id, change.deployment_id).await?
        else {
            continue;
        };
        let event = Event {
            kind: OutboundEvent::DeploymentStatus,
            action: Some("outcome_changed".to_owned()),
            fields: object(json!({
                "previous_outcome": verdict_json(&change.before),
                "outcome": verdict_json(&change.after),
                "status": deployment.status,
                "deployment": deployment_json(&deployment),
                "repository": repository_of(txn, Some(deployment.repository_id)).await?,
            })),
        };
        deliver(txn, organization_id, &subscriptions, event).await?;
    }
    Ok(())
}

/// A stored verdict as the payload shows it: `change_failure`, `causes` and `recovery` as
/// `GET /api/v1/metrics/dora/explain` shows them.
fn verdict_json(verdict: &Verdict) -> Value {
    let parsed = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    json!({
        "change_failure": verdict.change_failure,
        "causes": parsed(&verdict.causes),
        "recovery": verdict.recovery.as_deref().map_or(Value::Null, parsed),
    })
}

/// `incident`: `opened` (a new incident, or one recorded as already resolved: then
/// `opened` then `resolved`), `resolved`, `reopened`. Nothing when neither the incident's
/// existence nor its resolution changed.
pub(crate) async fn incident_changed<C: ConnectionTrait>(
    txn: &C,
    before: Option<&incidents::Model>,
    after: &incidents::Model,
) -> Result<(), Error> {
    let actions: &[&str] = match (before.map(|b| b.resolved_at.is_some()), after.resolved_at) {
        (None, None) => &["opened"],
        (None, Some(_)) => &["opened", "resolved"],
        (Some(false), Some(_)) => &["resolved"],
        (Some(true), None) => &["reopened"],
        _ => &[],
    };
    incident_event(txn, actions, after).await
}

/// `incident` (action `withdrawn`): its source no longer calls it an incident (a label
/// removed, an issue deleted), so it no longer counts; `incident` is the record as it was.
pub(crate) async fn incident_withdrawn<C: ConnectionTrait>(
    txn: &C,
    incident: &incidents::Model,
) -> Result<(), Error> {
    incident_event(txn, &["withdrawn"], incident).await
}

async fn incident_event<C: ConnectionTrait>(
    txn: &C,
    actions: &[&str],
    incident: &incidents::Model,
) -> Result<(), Error> {
    emit_lazily(
        txn,
        incident.organization_id,
        OutboundEvent::Incident,
        actions,
        async || {
            Ok(object(json!({
                "incident": incident_json(incident),
                "repository": repository_of(txn, incident.repository_id).await?,
            })))
        },
    )
    .await
}

/// `POST /api/v3/repos/{owner}/{repo}/dispatches` (scope `ingest`): a `repository_dispatch`
/// event in GitHub's shape. The repository need not have deployments; `branch` is the one
/// its latest deployment shipped (else `main`).
pub async fn dispatch(
    core: &Core,
    principal: &Principal,
    repository: &RepositoryRef,
    dispatch: Dispatch,
) -> Result<(), Error> {
    principal.require(Scope::Ingest)?;
    authorize_write(core.db.read(), principal, WriteFor::Key(&repository.key)).await?;
    let org = principal.organization_id;
    let txn = core.db.begin_write().await?;
    let known = store::organizations::find_repository_by_key(&txn, org, &repository.key).await?;
    let branch = match &known {
        Some(r) => store::outbox::latest_branch(&txn, org, r.id).await?,
        None => None,
    }
    .unwrap_or_else(|| "main".to_owned());
    let (owner, name) = repository
        .name
        .split_once('/')
        .unwrap_or(("", repository.name.as_str()));
    let fields = object(json!({
        "branch": branch,
        "client_payload": Value::Object(dispatch.client_payload),
        "repository": {
            "id": known.as_ref().map(|r| r.id),
            "name": name,
            "full_name": repository.name,
            "html_url": repository.url,
            "url": repository.url,
            "owner": {"login": owner},
        },
        "sender": {"login": principal.subject},
    }));
    emit(
        &txn,
        org,
        Event {
            kind: OutboundEvent::RepositoryDispatch,
            action: Some(dispatch.event_type),
            fields,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

// ---- subscriptions ----

/// The associated data a subscription's secret is sealed with.
fn context(id: Uuid) -> String {
    format!("webhook-subscription:{id}")
}

/// The signing secret of `subscription`, in clear.
pub(crate) fn signing_secret(
    core: &Core,
    subscription: &webhook_subscriptions::Model,
) -> Result<Secret, Error> {
    secrets::open(
        &core.secret_key,
        &subscription.secret,
        &context(subscription.id),
    )
    .map_err(|e| {
        Error::internal(format!(
            "cannot open the secret of webhook subscription {}: {e}",
            subscription.id
        ))
    })
}

fn events_json(events: &[OutboundEvent]) -> Result<String, Error> {
    serde_json::to_string(&events.iter().map(|e| e.as_str()).collect::<Vec<_>>())
        .map_err(Error::internal)
}

const ZEN: &str = "Deploy small, deploy often.";

fn ping_event() -> Event {
    Event {
        kind: OutboundEvent::Ping,
        action: None,
        fields: object(json!({"zen": ZEN})),
    }
}

/// Creates a subscription and queues its first `ping`; answers it with its secret (shown
/// this once). The URL's host must resolve to public addresses only (unless
/// `DORA_WEBHOOK_ALLOW_PRIVATE_TARGETS`).
pub async fn create(
    core: &Core,
    principal: &Principal,
    new: NewSubscription,
) -> Result<(webhook_subscriptions::Model, Secret), Error> {
    principal.require(Scope::Admin)?;
    super::outbound_delivery::check_target(&new.url, core.outbound.allow_private_targets).await?;
    let org = principal.organization_id;
    let now = now();
    let id = Uuid::now_v7();
    let secret = secrets::new_token();
    let model = webhook_subscriptions::Model {
        id,
        organization_id: org,
        url: new.url.to_string(),
        events: events_json(&new.events)?,
        description: new.description,
        active: new.active,
        secret: secrets::seal(&core.secret_key, &secret, &context(id)).map_err(Error::internal)?,
        disabled_reason: None,
        failed_in_a_row: 0,
        last_success_at: None,
        last_failure_at: None,
        created_at: now,
        updated_at: now,
    };
    let txn = core.db.begin_write().await?;
    let subscription = store::outbox::insert_subscription(&txn, model).await?;
    if subscription.active {
        deliver(&txn, org, std::slice::from_ref(&subscription), ping_event()).await?;
    }
    txn.commit().await?;
    tracing::info!(subscription_id = %id, "webhook subscription created");
    Ok((subscription, secret))
}

pub async fn list(
    core: &Core,
    principal: &Principal,
) -> Result<Vec<webhook_subscriptions::Model>, Error> {
    principal.require(Scope::Admin)?;
    Ok(store::outbox::list_subscriptions(core.db.read(), principal.organization_id).await?)
}

pub async fn get(
    core: &Core,
    principal: &Principal,
    id: Uuid,
) -> Result<webhook_subscriptions::Model, Error> {
    principal.require(Scope::Admin)?;
    store::outbox::find_subscription(core.db.read(), principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("webhook subscription"))
}

/// Why a subscription that came from `dora-tracker export` is inactive.
pub const EXPORTED_WITHOUT_SECRET: &str = "exported without its signing secret: rotate the \
     secret (POST /api/v1/webhook-subscriptions/{id}/rotate-secret), then PATCH {\"active\": true}";

/// What a PATCH changes (each validated).
#[derive(Debug, Clone, Default)]
pub struct SubscriptionPatch {
    pub url: Option<url::Url>,
    pub events: Option<Vec<OutboundEvent>>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    pub active: Option<bool>,
}

/// Changes a subscription. Making it active again clears the reason it was disabled for
/// and its failure streak.
pub async fn update(
    core: &Core,
    principal: &Principal,
    id: Uuid,
    patch: SubscriptionPatch,
) -> Result<webhook_subscriptions::Model, Error> {
    principal.require(Scope::Admin)?;
    if let Some(url) = &patch.url {
        super::outbound_delivery::check_target(url, core.outbound.allow_private_targets).await?;
    }
    let now = now();
    let txn = core.db.begin_write().await?;
    let current = store::outbox::find_subscription_for_update(&txn, principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("webhook subscription"))?;
    let current_secret_is_empty = current.secret.is_empty();
    let mut active: webhook_subscriptions::ActiveModel = current.into();
    if let Some(url) = patch.url {
        active.url = Set(url.to_string());
    }
    if let Some(events) = &patch.events {
        active.events = Set(events_json(events)?);
    }
    if let Some(description) = patch.description {
        active.description = Set(description);
    }
    if let Some(on) = patch.active {
        if on && current_secret_is_empty {
            return Err(Error::conflict(
                "no-signing-secret",
                "the subscription has no signing secret (it was imported): rotate it first \
                 (POST /api/v1/webhook-subscriptions/{id}/rotate-secret)",
            ));
        }
        active.active = Set(on);
        if on {
            active.disabled_reason = Set(None);
            active.failed_in_a_row = Set(0);
        }
    }
    active.updated_at = Set(now);
    let updated = store::outbox::update_subscription(&txn, active).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a subscription and its deliveries (pending ones are not sent).
pub async fn delete(
    core: &Core,
    principal: &Principal,
    id: Uuid,
) -> Result<webhook_subscriptions::Model, Error> {
    principal.require(Scope::Admin)?;
    let txn = core.db.begin_write().await?;
    let current = store::outbox::find_subscription_for_update(&txn, principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("webhook subscription"))?;
    store::outbox::delete_subscription(&txn, id).await?;
    txn.commit().await?;
    tracing::info!(subscription_id = %id, "webhook subscription deleted");
    Ok(current)
}

/// A new signing secret (shown this once); deliveries not yet sent are signed with it.
pub async fn rotate_secret(
    core: &Core,
    principal: &Principal,
    id: Uuid,
) -> Result<(webhook_subscriptions::Model, Secret), Error> {
    principal.require(Scope::Admin)?;
    let secret = secrets::new_token();
    let sealed = secrets::seal(&core.secret_key, &secret, &context(id)).map_err(Error::internal)?;
    let txn = core.db.begin_write().await?;
    let current = store::outbox::find_subscription_for_update(&txn, principal.organization_id, id)
        .await?
        .ok_or(Error::NotFound("webhook subscription"))?;
    let mut active: webhook_subscriptions::ActiveModel = current.into();
    active.secret = Set(sealed);
    active.updated_at = Set(now());
    let updated = store::outbox::update_subscription(&txn, active).await?;
    txn.commit().await?;
    tracing::info!(subscription_id = %id, "webhook subscription secret rotated");
    Ok((updated, secret))
}

/// Queues a `ping` to the subscription (even an inactive one's ping waits until it is active
/// again); answers the delivery.
pub async fn ping(
    core: &Core,
    principal: &Principal,
    id: Uuid,
) -> Result<webhook_deliveries::Model, Error> {
    principal.require(Scope::Admin)?;
    let org = principal.organization_id;
    let txn = core.db.begin_write().await?;
    let subscription = store::outbox::find_subscription(&txn, org, id)
        .await?
        .ok_or(Error::NotFound("webhook subscription"))?;
    deliver(&txn, org, std::slice::from_ref(&subscription), ping_event()).await?;
    let delivery = store::outbox::list_deliveries(&txn, org, id, None, 1)
        .await?
        .pop()
        .ok_or_else(|| Error::internal("the ping was not queued"))?;
    txn.commit().await?;
    Ok(delivery)
}

/// A subscription's deliveries, newest first, and whether more follow.
pub async fn deliveries(
    core: &Core,
    principal: &Principal,
    id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<(Vec<webhook_deliveries::Model>, bool), Error> {
    principal.require(Scope::Admin)?;
    let org = principal.organization_id;
    let conn = core.db.read();
    store::outbox::find_subscription(conn, org, id)
        .await?
        .ok_or(Error::NotFound("webhook subscription"))?;
    let mut rows = store::outbox::list_deliveries(conn, org, id, before, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows, more))
}

pub async fn delivery(
    core: &Core,
    principal: &Principal,
    id: Uuid,
    delivery_id: Uuid,
) -> Result<webhook_deliveries::Model, Error> {
    principal.require(Scope::Admin)?;
    store::outbox::find_delivery(core.db.read(), principal.organization_id, id, delivery_id)
        .await?
        .ok_or(Error::NotFound("webhook delivery"))
}

/// Sends a delivery again: a new delivery (its own record, `redelivery: true`) with the same
/// body and the same `X-Dora-Delivery` id, so receivers that deduplicate see it as the same.
pub async fn redeliver(
    core: &Core,
    principal: &Principal,
    id: Uuid,
    delivery_id: Uuid,
) -> Result<webhook_deliveries::Model, Error> {
    principal.require(Scope::Admin)?;
    let org = principal.organization_id;
    let now = now();
    let txn = core.db.begin_write().await?;
    let original = store::outbox::find_delivery(&txn, org, id, delivery_id)
        .await?
        .ok_or(Error::NotFound("webhook delivery"))?;
    let copy = store::outbox::insert_delivery(
        &txn,
        webhook_deliveries::Model {
            id: Uuid::now_v7(),
            redelivery: true,
            state: store::outbox::PENDING.to_owned(),
            attempts: 0,
            next_attempt_at: now,
            claimed_by: None,
            claimed_until: None,
            status_code: None,
            duration_ms: None,
            error: None,
            created_at: now,
            last_attempt_at: None,
            finished_at: None,
            ..original
        },
    )
    .await?;
    txn.commit().await?;
    Ok(copy)
}

// ---- dora.tier_changed ----

/// Compares a refresh's 30-day tiers with the previous refresh's (kept in `dora_tiers`) and
/// emits `dora.tier_changed` for each that changed. The swap is conditional, so with several
/// instances refreshing, each change is emitted once. A scope seen for the first time only
/// records its tiers.
pub async fn tier_changes(
    core: &Core,
    observations: &[super::snapshot::TierObservation],
) -> Result<usize, Error> {
    use std::collections::HashMap;
    let known: HashMap<(Uuid, String, String), Option<String>> =
        store::outbox::all_tiers(core.db.read())
            .await?
            .into_iter()
            .collect();
    let changed: Vec<_> = observations
        .iter()
        .filter(|o| {
            let key = (o.organization_id, o.scope.clone(), o.metric.to_owned());
            known.get(&key).is_none_or(|previous| {
                previous.as_deref() != o.tier.map(dora_metrics::Tier::as_str)
            })
        })
        .collect();
    if changed.is_empty() {
        return Ok(0);
    }
    let now = now();
    let mut emitted = 0;
    let txn = core.db.begin_write().await?;
    for o in changed {
        let tier = o.tier.map(dora_metrics::Tier::as_str);
        let Some(previous) =
            store::outbox::tier(&txn, o.organization_id, &o.scope, o.metric).await?
        else {
            store::outbox::insert_tier(&txn, o.organization_id, &o.scope, o.metric, tier, now)
                .await?;
            continue;
        };
        if previous.as_deref() == tier
            || !store::outbox::swap_tier(
                &txn,
                o.organization_id,
                &o.scope,
                o.metric,
                previous.as_deref(),
                tier,
                now,
            )
            .await?
        {
            continue;
        }
        let (repository, environment) = match &o.repository {
            Some((name, environment)) => {
                (Value::from(name.clone()), Value::from(environment.clone()))
            }
            None => (Value::Null, Value::Null),
        };
        let scope = if o.repository.is_some() {
            "repository"
        } else {
            "organization"
        };
        let fields = object(json!({
            "metric": o.metric,
            "window": super::snapshot::TIER_WINDOW,
            "scope": scope,
            "repository": repository,
            "environment": environment,
            "previous_tier": previous,
            "tier": tier,
            "direction": direction(previous.as_deref(), tier),
        }));
        emit(
            &txn,
            o.organization_id,
            Event {
                kind: OutboundEvent::TierChanged,
                action: Some("changed".to_owned()),
                fields,
            },
        )
        .await?;
        emitted += 1;
    }
    txn.commit().await?;
    Ok(emitted)
}

/// `improved`, `declined`, or `changed` (to or from no tier).
fn direction(previous: Option<&str>, tier: Option<&str>) -> &'static str {
    let rank = |t: &str| match t {
        "elite" => 4,
        "high" => 3,
        "medium" => 2,
        _ => 1,
    };
    match (previous, tier) {
        (Some(p), Some(t)) if rank(t) > rank(p) => "improved",
        (Some(p), Some(t)) if rank(t) < rank(p) => "declined",
        _ => "changed",
    }
}
